"""The findings panel: one probability bar per class of the active model, its thresholds, the
active model (or ensemble) and the model selector.

The bars follow the model's classes (``model.classes``: the paper's six by default, two for a
fine-tuned normal/abnormal model). For an :class:`~ecgviewer.model.ensemble.EnsemblePrediction`
each bar is the members' mean with their min–max drawn as an interval on the bar and the member
agreement under it ("7 of 10 positive"). The selector lists the bundled and installed models,
the saved ensembles (``<models folder>/ensembles``) and *Choose ensemble…*, which opens a
checkable list of the installed models (:class:`EnsembleDialog`).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ecgviewer.classes import CLASSES
from ecgviewer.ui.widgets import compact_combo
from ecgviewer.viewer.model_classes import class_definition, class_name
from ecgviewer.viewer.quality_view import QUALITY_COLOR, quality_of

POSITIVE = QColor("#c62828")
NEGATIVE = QColor("#78909c")
TRACK = QColor("#eceff1")
THRESHOLD = QColor("#212121")
SPREAD = QColor("#37474f")  # the members' min–max interval of an ensemble
UNRELIABLE = QColor("#b0bec5")  # bars of a recording of poor quality: greyed, never red
NOTICE_STYLE = "color:#8a1c1c; font-weight:bold;"
KIND_ROLE = int(Qt.ItemDataRole.UserRole) + 1
"""Selector item role: "model", "ensemble" (a saved one), "current" (an unsaved ensemble) or "choose"."""
CHOOSE_ENSEMBLE = "Choose ensemble…"


class ProbabilityBar(QWidget):
    """One class: short name, a bar of the probability, the threshold mark and the decision.

    ``value`` and ``threshold`` hold exactly what is drawn (probability in [0, 1]); for an
    ensemble ``spread`` is the members' (min, max) drawn as an interval across the bar and
    ``agreement`` the text under it ("7 of 10 positive").
    Clicking selects the class (``clicked`` signal), e.g. for a saliency overlay.
    """

    clicked = Signal(str)

    def __init__(self, cls: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cls = cls
        self.value: float | None = None
        self.threshold: float | None = None
        self.positive: bool | None = None
        self.spread: tuple[float, float] | None = None
        self.agreement = ""
        self.unreliable = False  # poor signal quality: greyed bar, "unreliable" beside a positive
        self.withheld = False  # not a usable ECG: no decision shown
        self.selected = False
        self.name_text = "1dAVb"  # the widest class name of the panel: the bars line up
        self.setMinimumHeight(30)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAccessibleName(class_name(cls))
        self._update_tooltip()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(260, 44 if self.agreement else 30)

    def set_value(
        self,
        value: float | None,
        threshold: float | None,
        positive: bool | None,
        *,
        unreliable: bool = False,
        withheld: bool = False,
        spread: tuple[float, float] | None = None,
        agreement: str = "",
    ) -> None:
        self.value = None if value is None else float(value)
        self.threshold = None if threshold is None else float(threshold)
        self.positive = positive
        self.unreliable = bool(unreliable or withheld)
        self.withheld = bool(withheld)
        self.spread = None if spread is None else (float(spread[0]), float(spread[1]))
        grew = bool(agreement) != bool(self.agreement)
        self.agreement = agreement
        if grew:
            self.setMinimumHeight(self.sizeHint().height())
            self.updateGeometry()
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
        name = class_name(self.cls)
        lines = [
            f"<b>{html.escape(name)}</b> ({html.escape(self.cls)})"
            if name != self.cls
            else f"<b>{html.escape(name)}</b>"
        ]
        if class_definition(self.cls):
            lines.append(html.escape(class_definition(self.cls)))
        if self.value is not None and self.threshold is not None:
            verdict = "positive" if self.positive else "negative"
            if self.withheld:
                verdict = "no decision (not a usable ECG)"
            elif self.unreliable:
                verdict += " (unreliable: poor signal quality)"
            what = "mean probability" if self.spread is not None else "probability"
            lines.append(f"{what} {self.value:.3f}, threshold {self.threshold:.3f} → {verdict}")
        if self.spread is not None:
            lines.append(f"members: {self.spread[0]:.3f}–{self.spread[1]:.3f} (min–max, the interval)")
        if self.agreement:
            lines.append(html.escape(self.agreement))
        lines.append("<i>Click to choose this class for explanations.</i>")
        self.setToolTip("<br>".join(lines))

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.cls)
        super().mousePressEvent(event)

    def bar_rect(self) -> QRectF:
        """Where the bar is drawn (widget coordinates): the probability p is at left + p × width."""
        fm = QFontMetrics(self.font())
        bold = QFont(self.font())
        bold.setBold(True)
        bfm = QFontMetrics(bold)
        name_w = max(bfm.horizontalAdvance("1dAVb"), bfm.horizontalAdvance(self.name_text)) + 12
        state_w = max(bfm.horizontalAdvance(t) for t in ("POSITIVE", "negative?")) + 8
        value_w = fm.horizontalAdvance("0.000") + 10
        h = 30.0  # the bar row; an ensemble's agreement line goes under it
        return QRectF(
            name_w + 4, h * 0.25, max(20.0, self.width() - name_w - value_w - state_w - 16), h * 0.5
        )

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        fm = QFontMetrics(self.font())
        w = self.width()
        h = 30.0
        if self.selected:
            p.fillRect(self.rect(), pal.highlight().color().lighter(185))
        bold = QFont(self.font())
        bold.setBold(True)
        bar = self.bar_rect()
        name_w = bar.left() - 4
        state_w = max(QFontMetrics(bold).horizontalAdvance(t) for t in ("POSITIVE", "negative?")) + 8
        value_w = fm.horizontalAdvance("0.000") + 10
        p.setFont(bold)
        p.setPen(pal.windowText().color())
        left = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
        right = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight
        p.drawText(
            QRectF(4, 0, name_w, h),
            left,
            QFontMetrics(bold).elidedText(self.cls, Qt.TextElideMode.ElideRight, int(name_w)),
        )
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
        if self.spread is not None:  # the members' min–max: a whisker across the bar
            lo, hi = (bar.left() + bar.width() * float(np.clip(v, 0, 1)) for v in self.spread)
            mid = bar.center().y()
            pen = QPen(SPREAD)
            pen.setWidthF(1.4)
            p.setPen(pen)
            p.drawLine(round(lo), round(mid), round(hi), round(mid))
            cap = bar.height() * 0.32
            for x in (lo, hi):
                p.drawLine(round(x), round(mid - cap), round(x), round(mid + cap))
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
        if self.agreement:
            small = QFont(self.font())
            small.setPointSizeF(max(6.5, small.pointSizeF() * 0.88))
            p.setFont(small)
            p.setPen(QColor("#455a64"))
            text = self.agreement
            if self.spread is not None:
                text += f" · members {self.spread[0]:.3f}–{self.spread[1]:.3f}"
            p.drawText(QRectF(bar.left(), h - 3, w - bar.left() - 4, self.height() - h + 3), left, text)
        p.end()


@dataclass(frozen=True)
class EnsembleChoice:
    """Models picked as one ensemble: ``name``, the member files, and whether to save it."""

    name: str
    members: tuple[Path, ...]
    save: bool = False


class EnsembleDialog(QDialog):
    """*Choose ensemble…*: a checkable list of the installed models, a name, "save it"."""

    chosen = Signal(object)  # EnsembleChoice

    def __init__(
        self, entries: Sequence, checked: Sequence[Path] = (), parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose an ensemble")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        lay = QVBoxLayout(self)
        intro = QLabel(
            "Tick two or more models to run as one: the findings show their mean probability, "
            "the members' min–max and how many members are positive. Members must share the input "
            "and the classes."
        )
        intro.setWordWrap(True)
        lay.addWidget(intro)
        self.list = QListWidget()
        marked = {Path(p).resolve() for p in checked}
        for e in entries:
            if getattr(e, "problem", None):
                continue
            label = f"{e.name} {e.version}".strip() + (" (bundled)" if e.bundled else "")
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, str(e.path))
            item.setToolTip(str(e.path))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(
                Qt.CheckState.Checked if Path(e.path).resolve() in marked else Qt.CheckState.Unchecked
            )
            self.list.addItem(item)
        lay.addWidget(self.list, 1)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("Name (default: Ensemble of N models)")
        lay.addWidget(self.name_edit)
        self.save_check = QCheckBox("Save as a named ensemble (listed in the model selector)")
        lay.addWidget(self.save_check)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.list.itemChanged.connect(self._update_ok)
        self._update_ok()
        self.resize(460, 380)

    def checked_paths(self) -> list[Path]:
        return [
            Path(self.list.item(i).data(Qt.ItemDataRole.UserRole))
            for i in range(self.list.count())
            if self.list.item(i).checkState() == Qt.CheckState.Checked
        ]

    def set_checked(self, paths: Sequence[str | Path]) -> None:
        """Tick exactly these models (for tests and scripts)."""
        want = {Path(p).resolve() for p in paths}
        for i in range(self.list.count()):
            item = self.list.item(i)
            on = Path(item.data(Qt.ItemDataRole.UserRole)).resolve() in want
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def _update_ok(self, *_: object) -> None:
        n = len(self.checked_paths())
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(n >= 2)
        ok.setText(f"Use {n} models" if n >= 2 else "Tick two or more")

    def accept(self) -> None:
        members = tuple(self.checked_paths())
        if len(members) < 2:
            return
        name = self.name_edit.text().strip() or f"Ensemble of {len(members)} models"
        super().accept()
        self.chosen.emit(EnsembleChoice(name, members, self.save_check.isChecked()))


class FindingsPanel(QWidget):
    """Probabilities of the active model's classes and everything needed to read them.

    Signals:
        model_selected(Path): the user picked another model (an ``.onnx``) or a saved
            ensemble (its ``.json``) in the selector.
        ensemble_selected(EnsembleChoice): the user ticked models in *Choose ensemble…*.
        class_selected(str): a bar was clicked (the class to explain).
    """

    model_selected = Signal(object)
    ensemble_selected = Signal(object)
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
        self._bars: dict[str, ProbabilityBar] = {}
        self.classes: tuple[str, ...] = ()
        self.selected_class: str | None = None
        self.legend = QLabel("")
        self.legend.setWordWrap(True)
        self.legend.setStyleSheet("color:#607d8b; font-size:small;")
        layout.addWidget(self.legend)
        self.set_classes(CLASSES)

        box = QGroupBox("Model")
        box_layout = QVBoxLayout(box)
        box_layout.setSpacing(3)
        self.selector = compact_combo(
            16,
            "The bundled model, the models imported with File → Import Model… (or "
            "'ecgviewer import-keras'), saved ensembles, and Choose ensemble… to run several as one",
        )
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
        self._entries: list = []
        self._current_index = 0
        self.ensemble_dialog: EnsembleDialog | None = None
        self.prediction = None

    @property
    def bars(self) -> list[ProbabilityBar]:
        """The bars of the active model's classes, in its output order."""
        return [self._bars[c] for c in self.classes]

    def add_section(self, widget: QWidget) -> None:
        """Add a feature's section under the findings, above the Model box (e.g. the device's reading)."""
        layout = self.layout()
        layout.insertWidget(layout.indexOf(self.model_box), widget)

    # ------------------------------------------------------------------ classes
    def set_classes(self, classes: Sequence[str]) -> None:
        """One bar per class, in this order (the model's ``classes``). Bars of classes the model
        lacks are hidden with what features put under them (e.g. a measured cross-check)."""
        classes = tuple(classes)
        if classes == self.classes:
            return
        layout = self.layout()
        # each bar with the widgets a feature inserted right under it (they move with it)
        groups: dict[str, list[QWidget]] = {}
        at = layout.indexOf(self.legend)
        if self._bars:
            first = min(layout.indexOf(b) for b in self._bars.values())
            current: str | None = None
            for i in range(first, layout.indexOf(self.legend)):
                w = layout.itemAt(i).widget()
                if isinstance(w, ProbabilityBar):
                    current = w.cls
                    groups[current] = [w]
                elif current is not None and w is not None:
                    groups[current].append(w)
            for ws in groups.values():
                for w in ws:
                    layout.removeWidget(w)
            at = first
        for c in classes:
            if c not in self._bars:
                bar = ProbabilityBar(c, self)
                bar.clicked.connect(self._on_bar_clicked)
                self._bars[c] = bar
                groups[c] = [bar]
        order = list(classes) + [c for c in groups if c not in classes]
        for c in order:
            for w in groups[c]:
                layout.insertWidget(at, w)
                at += 1
        for c, bar in self._bars.items():
            bar.setVisible(c in classes)
            if c not in classes:
                for w in groups.get(c, [])[1:]:
                    w.hide()
        widest = max(classes, key=lambda c: QFontMetrics(self.font()).horizontalAdvance(c), default="")
        for bar in self._bars.values():
            bar.name_text = widest
            bar.set_value(None, None, None)
        self.classes = classes
        if self.selected_class not in classes:
            self.selected_class = None
        self._set_legend(ensemble=False)

    def _set_legend(self, ensemble: bool) -> None:
        text = "Bar: probability · black mark: the model's threshold · hover a finding for its full name"
        if ensemble:
            text = (
                "Bar: the members' mean probability · dark interval: the members' min–max · black "
                "mark: the ensemble's threshold · under the bar: members above their own threshold"
            )
        self.legend.setText(text)

    # ------------------------------------------------------------------ predictions
    def set_prediction(self, prediction) -> None:
        """Show a :class:`~ecgviewer.model.runtime.Prediction` (None: clear the bars); an
        :class:`~ecgviewer.model.ensemble.EnsemblePrediction` adds the members' spread and agreement."""
        self.prediction = prediction
        if prediction is None:
            for bar in self.bars:
                bar.set_value(None, None, None)
            self.set_quality(None)
            return
        self.set_classes(prediction.classes)
        quality = quality_of(prediction)
        self.set_quality(quality.line)
        probs = np.asarray(prediction.probabilities)
        members = int(getattr(prediction, "n_members", 0) or 0)
        lo = getattr(prediction, "spread_min", None)
        hi = getattr(prediction, "spread_max", None)
        n_pos = getattr(prediction, "n_positive", None)
        ensemble = members > 0 and lo is not None and len(lo) == len(probs)
        self._set_legend(ensemble)
        for k, bar in enumerate(self.bars):
            bar.set_value(
                float(probs[k]),
                float(prediction.thresholds[k]),
                bool(prediction.decisions[k]) and not quality.withheld,
                unreliable=quality.unreliable,
                withheld=quality.withheld,
                spread=(float(lo[k]), float(hi[k])) if ensemble else None,
                agreement=f"{int(n_pos[k])} of {members} positive" if ensemble else "",
            )
        positive = [] if quality.withheld else prediction.positive()
        names = ", ".join(f"{class_name(c)} ({c})" if class_name(c) != c else c for c in positive)
        if quality.withheld:
            self.summary.setText("No decision: the recording is not a usable ECG.")
        elif positive and quality.unreliable:
            self.summary.setText(
                f"<b style='color:{QUALITY_COLOR}'>Above threshold (unreliable):</b> {html.escape(names)}"
            )
        elif positive:
            self.summary.setText(f"<b style='color:#c62828'>Positive:</b> {html.escape(names)}")
        else:
            self.summary.setText("No finding above its threshold.")
        if ensemble:
            self.summary.setText(
                self.summary.text() + f"<br><span style='color:#455a64'>Mean of {members} members.</span>"
            )
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
        """Describe the active :class:`~ecgviewer.model.runtime.EcgModel` or
        :class:`~ecgviewer.model.ensemble.EnsembleModel` (None: none loaded); one bar per class."""
        if model is None:
            self.model_info.setText("No model loaded.")
            self.provider.setText("")
            self.notice.setText("")
            return
        self.set_classes(model.classes)
        c = model.contract
        members = list(getattr(model, "members", []) or [])
        if members:
            lines = [f"<b>{html.escape(c.name)}</b>: the mean of {len(members)} members"]
            lines += [
                f"<span style='color:#455a64'>· {html.escape(m.contract.name)} "
                f"{html.escape(str(m.contract.version))} ({html.escape(m.path.name)})</span>"
                for m in members
            ]
            note = str(model.threshold_note)
            lines.append(f"<span style='color:#455a64'>{html.escape(note[:1].upper() + note[1:])}</span>")
        else:
            lines = [f"<b>{html.escape(c.name)}</b> version {html.escape(str(c.version))}"]
            if c.provenance:
                lines.append(f"<span style='color:#455a64'>{html.escape(c.provenance)}</span>")
        lines.append(
            f"<span style='color:#455a64'>Classes: {html.escape(', '.join(c.classes))}</span>"
            if tuple(c.classes) != CLASSES
            else ""
        )
        lines.append(
            f"<span style='color:#455a64'>Input {c.input_shape[1]} samples × {len(c.leads)} leads "
            f"at {c.fs:g} Hz in {html.escape(c.units)}"
            + ("" if c.input_scale_per_mv == 1 else f" (mV × {c.input_scale_per_mv:g})")
            + ("" if members else f"; {model.path.name}")
            + "</span>"
        )
        for w in dict.fromkeys(getattr(model, "warnings", []) or []):
            lines.append(f"<span style='color:#b26a00'>⚠ {html.escape(w)}</span>")
        self.model_info.setText("<br>".join(x for x in lines if x))
        self.model_info.setToolTip("\n".join(str(m.path) for m in members) or str(model.path))
        self.provider.setText(f"Runs on: {html.escape(model.provider_note)}")
        contracts = [m.contract for m in members] or [c]
        notices = list(dict.fromkeys((k.notice or "").strip() for k in contracts if (k.notice or "").strip()))
        notice = " ".join(notices)
        if not all(k.medical_device for k in contracts) and "medical device" not in notice.lower():
            notice = (notice + " " if notice else "") + "Not a medical device."
        self.notice.setText(notice)

    def set_models(
        self,
        entries: Sequence,
        current: Path | None,
        ensembles: Sequence = (),
        *,
        current_name: str | None = None,
    ) -> None:
        """Fill the selector: :class:`~ecgviewer.model.runtime.ModelEntry` items, the saved
        :class:`~ecgviewer.model.ensemble.EnsembleEntry` items and *Choose ensemble…*.

        ``current``: the active model's file (a saved ensemble's ``.json``); ``current_name``:
        an unsaved ensemble's name, listed as the current item."""
        self._entries = list(entries)
        self.selector.blockSignals(True)
        self.selector.clear()
        current_index = 0
        cur = Path(current).resolve() if current is not None else None

        def add(label: str, data: str | None, kind: str, tip: str) -> int:
            self.selector.addItem(label, data)
            i = self.selector.count() - 1
            self.selector.setItemData(i, kind, KIND_ROLE)
            self.selector.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
            return i

        for e in self._entries:
            label = f"{e.name} {e.version}".strip() + (" (bundled)" if e.bundled else "")
            if getattr(e, "problem", None):
                label += " — unusable"
            tip = str(e.path) + (f"\n{e.problem}" if getattr(e, "problem", None) else "")
            i = add(label, str(e.path), "model", tip)
            if current_name is None and cur is not None and Path(e.path).resolve() == cur:
                current_index = i
        listed = any(Path(e.path).resolve() == cur for e in self._entries)
        if current_name is None and cur is not None and cur.suffix.lower() != ".json" and not listed:
            current_index = add(
                f"{Path(current).name} (from the command line)", str(current), "model", str(current)
            )
        if ensembles or current_name is not None or (cur is not None and cur.suffix.lower() == ".json"):
            self.selector.insertSeparator(self.selector.count())
        for e in ensembles:
            label = f"{e.name} (ensemble of {len(e.members)})" + (" — unusable" if e.problem else "")
            i = add(label, str(e.path), "ensemble", e.problem or "\n".join(e.members))
            if current_name is None and cur is not None and Path(e.path).resolve() == cur:
                current_index = i
        if current_name is not None:
            current_index = add(
                f"{current_name} (ensemble)", None, "current", "The ensemble in use (not saved)"
            )
        self.selector.insertSeparator(self.selector.count())
        add(CHOOSE_ENSEMBLE, None, "choose", "Tick several installed models to run as one ensemble")
        self.selector.setCurrentIndex(current_index)
        self._current_index = current_index
        self.selector.blockSignals(False)

    def choose_ensemble(self, checked: Sequence[Path] = ()) -> EnsembleDialog:
        """Open *Choose ensemble…* (non-blocking); its choice is emitted as ``ensemble_selected``."""
        if self.ensemble_dialog is not None:
            self.ensemble_dialog.close()
        dlg = EnsembleDialog(self._entries, checked, self)
        dlg.chosen.connect(self.ensemble_selected)
        dlg.destroyed.connect(lambda *_: setattr(self, "ensemble_dialog", None))
        self.ensemble_dialog = dlg
        dlg.open()
        return dlg

    def _on_selector(self, index: int) -> None:
        kind = self.selector.itemData(index, KIND_ROLE)
        path = self.selector.itemData(index)
        if kind == "choose":
            self.selector.setCurrentIndex(self._current_index)  # until the models are chosen
            self.choose_ensemble()
        elif kind in ("model", "ensemble") and path:
            self._current_index = index
            self.model_selected.emit(Path(path))

    def _on_bar_clicked(self, cls: str) -> None:
        self.selected_class = cls
        for bar in self.bars:
            bar.selected = bar.cls == cls
            bar.update()
        self.class_selected.emit(cls)
