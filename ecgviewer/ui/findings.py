"""The findings panel: six probability bars with thresholds, the active model, the model selector."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ecgviewer.classes import CLASS_DEFINITIONS, CLASS_NAMES, CLASSES
from ecgviewer.viewer.quality_view import QUALITY_COLOR, quality_of

POSITIVE = QColor("#c62828")
NEGATIVE = QColor("#78909c")
TRACK = QColor("#eceff1")
THRESHOLD = QColor("#212121")
UNRELIABLE = QColor("#b0bec5")  # bars of a recording of poor quality: greyed, never red
NOTICE_STYLE = "color:#8a1c1c; font-weight:bold;"


class ProbabilityBar(QWidget):
    """One class: short name, a bar of the probability, the threshold mark and the decision.

    ``value`` and ``threshold`` hold exactly what is drawn (probability in [0, 1]).
    Clicking selects the class (``clicked`` signal), e.g. for a saliency overlay.
    """

    clicked = Signal(str)

    def __init__(self, cls: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cls = cls
        self.value: float | None = None
        self.threshold: float | None = None
        self.positive: bool | None = None
        self.unreliable = False  # poor signal quality: greyed bar, "unreliable" beside a positive
        self.withheld = False  # not a usable ECG: no decision shown
        self.selected = False
        self.setMinimumHeight(30)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAccessibleName(CLASS_NAMES.get(cls, cls))
        self._update_tooltip()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(260, 30)

    def set_value(
        self,
        value: float | None,
        threshold: float | None,
        positive: bool | None,
        *,
        unreliable: bool = False,
        withheld: bool = False,
    ) -> None:
        self.value = None if value is None else float(value)
        self.threshold = None if threshold is None else float(threshold)
        self.positive = positive
        self.unreliable = bool(unreliable or withheld)
        self.withheld = bool(withheld)
        self._update_tooltip()
        self.update()

    def state_text(self) -> str:
        if self.value is None:
            return "—"
        if self.withheld:
            return "withheld"
        if self.unreliable:
            return "positive?" if self.positive else "negative?"
        return "POSITIVE" if self.positive else "negative"

    def _color(self) -> QColor:
        if self.unreliable:
            return UNRELIABLE
        return POSITIVE if self.positive else NEGATIVE

    def value_text(self) -> str:
        return "" if self.value is None else f"{self.value:.3f}"

    def _update_tooltip(self) -> None:
        name = CLASS_NAMES.get(self.cls, self.cls)
        lines = [f"<b>{html.escape(name)}</b> ({html.escape(self.cls)})"]
        if self.cls in CLASS_DEFINITIONS:
            lines.append(html.escape(CLASS_DEFINITIONS[self.cls]))
        if self.value is not None and self.threshold is not None:
            verdict = "positive" if self.positive else "negative"
            if self.withheld:
                verdict = "no decision (not a usable ECG)"
            elif self.unreliable:
                verdict += " (unreliable: poor signal quality)"
            lines.append(f"probability {self.value:.3f}, threshold {self.threshold:.3f} → {verdict}")
        lines.append("<i>Click to choose this class for explanations.</i>")
        self.setToolTip("<br>".join(lines))

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.cls)
        super().mousePressEvent(event)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        fm = QFontMetrics(self.font())
        w, h = self.width(), self.height()
        if self.selected:
            p.fillRect(self.rect(), pal.highlight().color().lighter(185))
        bold = QFont(self.font())
        bold.setBold(True)
        name_w = QFontMetrics(bold).horizontalAdvance("1dAVb") + 12
        state_w = max(QFontMetrics(bold).horizontalAdvance(t) for t in ("POSITIVE", "negative?")) + 8
        value_w = fm.horizontalAdvance("0.000") + 10
        p.setFont(bold)
        p.setPen(pal.windowText().color())
        left = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
        right = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight
        p.drawText(QRectF(4, 0, name_w, h), left, self.cls)
        bar = QRectF(name_w + 4, h * 0.25, max(20.0, w - name_w - value_w - state_w - 16), h * 0.5)
        path = QPainterPath()
        path.addRoundedRect(bar, 3, 3)
        p.fillPath(path, TRACK)
        if self.value is not None:
            color = self._color()
            fill = QRectF(bar.left(), bar.top(), bar.width() * float(np.clip(self.value, 0, 1)), bar.height())
            clip = QPainterPath()
            clip.addRoundedRect(bar, 3, 3)
            p.save()
            p.setClipPath(clip)
            p.fillRect(fill, color)
            p.restore()
        if self.threshold is not None:
            x = bar.left() + bar.width() * float(np.clip(self.threshold, 0, 1))
            pen = QPen(THRESHOLD)
            pen.setWidthF(2.0)
            p.setPen(pen)
            p.drawLine(round(x), int(bar.top() - 4), round(x), int(bar.bottom() + 4))
            tri = QPainterPath()
            tri.moveTo(x - 4, bar.top() - 6)
            tri.lineTo(x + 4, bar.top() - 6)
            tri.lineTo(x, bar.top() - 1)
            tri.closeSubpath()
            p.fillPath(tri, THRESHOLD)
        p.setPen(QPen(pal.windowText().color()))
        p.setFont(self.font())
        p.drawText(QRectF(bar.right() + 6, 0, value_w, h), right, self.value_text())
        p.setFont(bold)
        if self.value is not None:
            p.setPen(QColor(QUALITY_COLOR) if self.unreliable else self._color())
        p.drawText(QRectF(w - state_w - 2, 0, state_w, h), right, self.state_text())
        p.end()


class FindingsPanel(QWidget):
    """Probabilities of the six classes and everything needed to read them.

    Signals:
        model_selected(Path): the user picked another model in the selector.
        class_selected(str): a bar was clicked (the class to explain).
    """

    model_selected = Signal(object)
    class_selected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(300)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(4)

        self.summary = QLabel("No exam analysed yet.")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        # the signal-quality note (ecgviewer.quality), above the bars; hidden when the signal is fine
        self.quality_label = QLabel("")
        self.quality_label.setWordWrap(True)
        self.quality_label.setStyleSheet(f"color:{QUALITY_COLOR}; font-weight:bold;")
        self.quality_label.setAccessibleName("Signal quality")
        self.quality_label.setVisible(False)
        layout.addWidget(self.quality_label)
        self.bars: list[ProbabilityBar] = []
        for c in CLASSES:
            bar = ProbabilityBar(c, self)
            bar.clicked.connect(self._on_bar_clicked)
            layout.addWidget(bar)
            self.bars.append(bar)
        legend = QLabel(
            "Bar: probability · black mark: the model's threshold · hover a finding for its full name"
        )
        legend.setWordWrap(True)
        legend.setStyleSheet("color:#607d8b; font-size:small;")
        layout.addWidget(legend)

        box = QGroupBox("Model")
        box_layout = QVBoxLayout(box)
        box_layout.setSpacing(3)
        self.selector = QComboBox()
        self.selector.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.selector.setMinimumContentsLength(16)
        self.selector.setToolTip("The bundled model and the models imported with 'ecgviewer import-keras'")
        self.selector.activated.connect(self._on_selector)
        self.model_info = QLabel("Loading the model…")
        self.model_info.setWordWrap(True)
        self.model_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.provider = QLabel("")
        self.provider.setWordWrap(True)
        self.timing = QLabel("")
        self.notice = QLabel("")
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet(NOTICE_STYLE)
        for w in (self.selector, self.model_info, self.provider, self.timing, self.notice):
            box_layout.addWidget(w)
        layout.addWidget(box)
        self.model_box = box
        layout.addStretch(1)
        self.selected_class: str | None = None
        self._entries: list = []
        self.prediction = None

    def add_section(self, widget: QWidget) -> None:
        """Add a feature's section under the findings, above the Model box (e.g. the device's reading)."""
        layout = self.layout()
        layout.insertWidget(layout.indexOf(self.model_box), widget)

    # ------------------------------------------------------------------ predictions
    def set_prediction(self, prediction) -> None:
        """Show a :class:`~ecgviewer.model.runtime.Prediction` (None: clear the bars)."""
        self.prediction = prediction
        if prediction is None:
            for bar in self.bars:
                bar.set_value(None, None, None)
            self.set_quality(None)
            return
        quality = quality_of(prediction)
        self.set_quality(quality.line)
        probs = np.asarray(prediction.probabilities)
        for bar in self.bars:
            if bar.cls in prediction.classes:
                k = prediction.classes.index(bar.cls)
                bar.set_value(
                    float(probs[k]),
                    float(prediction.thresholds[k]),
                    bool(prediction.decisions[k]) and not quality.withheld,
                    unreliable=quality.unreliable,
                    withheld=quality.withheld,
                )
            else:
                bar.set_value(None, None, None)
        positive = [] if quality.withheld else prediction.positive()
        if quality.withheld:
            self.summary.setText("No decision: the recording is not a usable ECG.")
        elif positive and quality.unreliable:
            names = ", ".join(f"{CLASS_NAMES.get(c, c)} ({c})" for c in positive)
            self.summary.setText(
                f"<b style='color:{QUALITY_COLOR}'>Above threshold (unreliable):</b> {html.escape(names)}"
            )
        elif positive:
            names = ", ".join(f"{CLASS_NAMES.get(c, c)} ({c})" for c in positive)
            self.summary.setText(f"<b style='color:#c62828'>Positive:</b> {html.escape(names)}")
        else:
            self.summary.setText("No finding above its threshold.")
        self.timing.setText(f"Inference {prediction.seconds * 1000:.0f} ms on {prediction.provider}")

    def set_quality(self, line: str | None) -> None:
        """Show the signal-quality line above the bars ("" or None: hide it)."""
        self.quality_label.setText(html.escape(line or ""))
        self.quality_label.setToolTip(line or "")
        self.quality_label.setVisible(bool(line))

    def set_status(self, text: str) -> None:
        """A line in place of the summary (e.g. "Analysing…", "Analysis failed: …")."""
        self.summary.setText(text)

    def clear(self, text: str = "No exam analysed yet.") -> None:
        self.set_prediction(None)
        self.summary.setText(text)
        self.timing.setText("")

    # ------------------------------------------------------------------ models
    def set_model(self, model) -> None:
        """Describe the active :class:`~ecgviewer.model.runtime.EcgModel` (None: none loaded)."""
        if model is None:
            self.model_info.setText("No model loaded.")
            self.provider.setText("")
            self.notice.setText("")
            return
        c = model.contract
        lines = [f"<b>{html.escape(c.name)}</b> version {html.escape(str(c.version))}"]
        if c.provenance:
            lines.append(f"<span style='color:#455a64'>{html.escape(c.provenance)}</span>")
        lines.append(
            f"<span style='color:#455a64'>Input {c.input_shape[1]} samples × {len(c.leads)} leads "
            f"at {c.fs:g} Hz in {html.escape(c.units)}"
            + ("" if c.input_scale_per_mv == 1 else f" (mV × {c.input_scale_per_mv:g})")
            + f"; {model.path.name}</span>"
        )
        for w in getattr(model, "warnings", []) or []:
            lines.append(f"<span style='color:#b26a00'>⚠ {html.escape(w)}</span>")
        self.model_info.setText("<br>".join(lines))
        self.model_info.setToolTip(str(model.path))
        self.provider.setText(f"Runs on: {html.escape(model.provider_note)}")
        notice = c.notice or ""
        if not c.medical_device and "medical device" not in notice.lower():
            notice = (notice + " " if notice else "") + "Not a medical device."
        self.notice.setText(notice)

    def set_models(self, entries: Sequence, current: Path | None) -> None:
        """Fill the selector with :class:`~ecgviewer.model.runtime.ModelEntry` items."""
        self._entries = list(entries)
        self.selector.blockSignals(True)
        self.selector.clear()
        current_index = 0
        for i, e in enumerate(self._entries):
            label = f"{e.name} {e.version}".strip() + (" (bundled)" if e.bundled else "")
            if getattr(e, "problem", None):
                label += " — unusable"
            self.selector.addItem(label, str(e.path))
            tip = str(e.path) + (f"\n{e.problem}" if getattr(e, "problem", None) else "")
            self.selector.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
            if current is not None and Path(e.path).resolve() == Path(current).resolve():
                current_index = i
        if current is not None and not any(
            Path(e.path).resolve() == Path(current).resolve() for e in self._entries
        ):
            self.selector.addItem(f"{Path(current).name} (from the command line)", str(current))
            current_index = self.selector.count() - 1
        self.selector.setCurrentIndex(current_index)
        self.selector.blockSignals(False)

    def _on_selector(self, index: int) -> None:
        path = self.selector.itemData(index)
        if path:
            self.model_selected.emit(Path(path))

    def _on_bar_clicked(self, cls: str) -> None:
        self.selected_class = cls
        for bar in self.bars:
            bar.selected = bar.cls == cls
            bar.update()
        self.class_selected.emit(cls)
