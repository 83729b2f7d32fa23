"""The saliency (SHAP) panel: which stretches of which leads moved the selected finding.

Pieces:

* :func:`heatmap_strips`: a :class:`~ecgviewer.explain.Saliency` and the exam's
  :class:`~ecgviewer.preprocess.PreprocessReport` → one :class:`HeatStrip` per lead, in
  *original exam time* (``report.offset_s`` + input sample / 400 Hz), with symmetric colour
  limits. Because the strips are in exam seconds, the lead grid places them in every cell
  that shows the lead (3×4, 6×2, 12×1, the rhythm strip, the network-input view) and they
  follow every zoom and pan (:func:`apply_heatmap` → ``LeadGrid.set_overlay``: an
  ``ImageItem`` behind the trace, above the paper).
* :class:`ColorLegend`: the diverging colour map centred at zero with its limits.
* :class:`LeadImportanceBars`: per lead, Σ|SHAP| over time for the class, split into the
  part that raised (red) and lowered (blue) the probability.
* :class:`SaliencyPanel`: class picker (follows the findings panel), on/off, opacity,
  resolution, "Explain" with progress and cancel (off the UI thread), legend and bars.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from ecgviewer.classes import CLASSES
from ecgviewer.errors import EcgViewerError
from ecgviewer.leads import LEADS
from ecgviewer.ui.widgets import compact_combo
from ecgviewer.ui.workers import Task, TaskRunner
from ecgviewer.viewer.model_classes import class_name

if TYPE_CHECKING:  # for annotations only: this module draws on a grid, it never builds one
    from ecgviewer.ui.leadgrid import LeadGrid

SEGMENT_CHOICES: tuple[int, ...] = (16, 32, 64, 128)
"""Time resolutions offered (segments over the 4096-sample, 10.24 s input)."""
DEFAULT_SEGMENTS = 32
DEFAULT_OPACITY = 0.65
RAISE_COLOR = QColor(198, 40, 40)
LOWER_COLOR = QColor(33, 102, 172)
PAPER = QColor("#fff8f6")


def budget_for(segments: int) -> int:
    """Network evaluations allowed for a resolution: 512 at 32 segments, 16 per segment above."""
    from ecgviewer.explain import DEFAULT_MAX_EVALS

    return int(max(DEFAULT_MAX_EVALS, 16 * segments))


def segment_text(segments: int, fs: float = 400.0, n_samples: int = 4096) -> str:
    """ "32 segments (320 ms)"."""
    ms = n_samples / segments / fs * 1000.0
    return f"{segments} segments ({ms:.0f} ms)"


# --------------------------------------------------------------------------- heat strips (no widgets)


@dataclass(frozen=True)
class HeatStrip:
    """One lead's saliency as a strip of samples in exam time.

    ``values[i]`` (probability units per segment, the segment's SHAP value repeated over its
    samples) sits at exam time ``t0 + i * dt`` seconds; ``levels`` are the symmetric colour
    limits (-m, +m). Samples in the zero padding are 0 (drawn transparent).
    """

    lead: str
    values: np.ndarray
    t0: float
    dt: float
    levels: tuple[float, float]

    @property
    def t1(self) -> float:
        """Exam time just after the last sample (s)."""
        return self.t0 + len(self.values) * self.dt


def class_index(saliency: Any, cls: str | int) -> int:
    """Index of ``cls`` (name or index) among the saliency's classes."""
    if isinstance(cls, str):
        if cls not in saliency.classes:
            raise ValueError(f"class {cls!r} is not explained; classes: {', '.join(saliency.classes)}")
        return list(saliency.classes).index(cls)
    return int(cls)


def heatmap_strips(
    saliency: Any, cls: str | int, report: Any | None = None, *, limit: float | None = None
) -> dict[str, HeatStrip]:
    """Per-lead heat strips of one class, placed in original exam time.

    Args:
        saliency: a :class:`~ecgviewer.explain.Saliency` (values (C, 12, S), segment edges in
            samples of the 400 Hz input).
        cls: class name ("RBBB") or index.
        report: the exam's :class:`~ecgviewer.preprocess.PreprocessReport`; its ``offset_s``
            (original time of input sample 0, negative when zero-padded) and output rate place
            the strips. Default: the values stored in the saliency.
        limit: colour limit m (levels ±m); default max |value| of this class (never 0).

    Returns:
        {lead: HeatStrip} for the saliency's leads.
    """
    k = class_index(saliency, cls)
    smap = np.array(saliency.sample_map(k), dtype=np.float32)  # (n_samples, L)
    fs = float(report.output_fs) if report is not None else float(saliency.fs)
    t0 = float(report.offset_s) if report is not None else float(saliency.offset_s)
    if report is not None:
        start, stop = int(report.signal_slice.start), int(report.signal_slice.stop)
    else:
        start, stop = int(saliency.signal_start), int(saliency.signal_stop)
    if stop > start:  # zero padding carries no signal: no colour there
        smap[:start] = 0.0
        smap[stop:] = 0.0
    m = float(limit) if limit else float(saliency.color_limit(k))
    m = m if m > 0 else 1e-6
    return {
        lead: HeatStrip(lead, np.ascontiguousarray(smap[:, j]), t0, 1.0 / fs, (-m, m))
        for j, lead in enumerate(saliency.leads)
    }


def diverging_lut(n: int = 256, opacity: float = DEFAULT_OPACITY) -> np.ndarray:
    """(n, 4) uint8 RGBA: blue (lowers) → transparent (0) → red (raises); alpha ∝ |v|^0.8 × opacity."""
    v = np.linspace(-1.0, 1.0, n)
    lut = np.zeros((n, 4), dtype=np.uint8)
    lut[:, :3] = np.where(
        v[:, None] < 0, np.array(LOWER_COLOR.getRgb()[:3]), np.array(RAISE_COLOR.getRgb()[:3])
    )
    lut[:, 3] = np.clip(np.abs(v) ** 0.8 * 255.0 * float(np.clip(opacity, 0.0, 1.0)), 0, 255).astype(np.uint8)
    return lut


def apply_heatmap(
    target: LeadGrid,
    saliency: Any | None,
    cls: str | int | None,
    report: Any | None = None,
    *,
    opacity: float = DEFAULT_OPACITY,
    limit: float | None = None,
) -> dict[str, HeatStrip]:
    """Draw one class's heatmap behind every lead of ``target`` (None/off: clear it).

    Returns the strips drawn (empty when cleared).
    """
    target.clear_overlays()
    if saliency is None or cls is None:
        return {}
    strips = heatmap_strips(saliency, cls, report, limit=limit)
    lut = diverging_lut(opacity=opacity)
    for lead, s in strips.items():
        if lead in LEADS:
            target.set_overlay(lead, s.values, t0=s.t0, dt=s.dt, levels=s.levels, lut=lut)
    return strips


# --------------------------------------------------------------------------- legend and bars


def _composite(lut: np.ndarray, background: QColor) -> np.ndarray:
    """(n, 3) uint8: the LUT drawn over a background colour (what the eye sees on paper)."""
    a = lut[:, 3:4].astype(np.float64) / 255.0
    bg = np.array(background.getRgb()[:3], dtype=np.float64)
    return np.clip(lut[:, :3] * a + bg * (1 - a), 0, 255).astype(np.uint8)


class ColorLegend(QWidget):
    """The diverging colour bar: −m (lowers the probability) … 0 … +m (raises it)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.limit: float | None = None
        self.opacity = DEFAULT_OPACITY
        self.cls: str | None = None
        self.setMinimumHeight(46)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(260, 46)

    def set_scale(self, limit: float | None, opacity: float, cls: str | None = None) -> None:
        self.limit, self.opacity, self.cls = limit, opacity, cls
        if limit:
            self.setToolTip(
                f"SHAP value of a segment for {cls or 'the class'}: red raised the probability, "
                f"blue lowered it; colour limits ±{limit:.3g} (the largest |value| of this class)"
            )
        self.update()

    def tick_labels(self) -> tuple[str, str, str]:
        if not self.limit:
            return ("", "0", "")
        return (f"−{_fmt(self.limit)}", "0", f"+{_fmt(self.limit)}")

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        pal = self.palette()
        fm = QFontMetrics(self.font())
        w = self.width()
        bar = QRectF(8, 4, max(20.0, w - 16), 14)
        rgb = _composite(diverging_lut(256, self.opacity if self.limit else 0.25), PAPER)
        img = QImage(256, 1, QImage.Format.Format_RGB32)
        for i in range(256):
            r, g, b = (int(c) for c in rgb[i])
            img.setPixel(i, 0, QColor(r, g, b).rgb())
        p.drawImage(bar, img)
        p.setPen(QPen(pal.mid().color()))
        p.drawRect(bar)
        p.drawLine(int(bar.center().x()), int(bar.bottom()), int(bar.center().x()), int(bar.bottom() + 4))
        p.setPen(QPen(pal.windowText().color()))
        lo, mid, hi = self.tick_labels()
        y = int(bar.bottom() + 4 + fm.ascent())
        p.drawText(int(bar.left()), y, lo)
        p.drawText(int(bar.center().x() - fm.horizontalAdvance(mid) / 2), y, mid)
        p.drawText(int(bar.right() - fm.horizontalAdvance(hi)), y, hi)
        small = QFont(self.font())
        small.setPointSizeF(max(6.5, small.pointSizeF() * 0.85))
        p.setFont(small)
        fs = QFontMetrics(small)
        y2 = y + fs.height()
        p.setPen(QPen(LOWER_COLOR))
        p.drawText(int(bar.left()), y2, "lowers probability")
        p.setPen(QPen(RAISE_COLOR))
        text = "raises probability"
        p.drawText(int(bar.right() - fs.horizontalAdvance(text)), y2, text)
        p.end()


def _fmt(v: float) -> str:
    if v == 0 or not math.isfinite(v):
        return "0"
    return f"{v:.3f}" if abs(v) >= 0.001 else f"{v:.1e}"


class LeadImportanceBars(QWidget):
    """Twelve horizontal bars: Σ|SHAP| over time per lead for one class (red raised, blue lowered)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.leads: tuple[str, ...] = LEADS
        self.raised = np.zeros(len(LEADS))
        self.lowered = np.zeros(len(LEADS))
        self.cls: str | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(self._row_h() * 12 + 8)
        self.setMouseTracking(True)

    def _row_h(self) -> int:
        return max(14, self.fontMetrics().height() + 2)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(260, self._row_h() * len(self.leads) + 8)

    def set_values(self, saliency: Any | None, cls: str | int | None) -> None:
        """Show one class of a saliency (None: empty bars)."""
        if saliency is None or cls is None:
            self.raised = np.zeros(len(self.leads))
            self.lowered = np.zeros(len(self.leads))
            self.cls = None
        else:
            k = class_index(saliency, cls)
            v = np.asarray(saliency.values[k], dtype=np.float64)  # (L, S)
            self.leads = tuple(saliency.leads)
            self.raised = np.clip(v, 0, None).sum(axis=1)
            self.lowered = -np.clip(v, None, 0).sum(axis=1)
            self.cls = saliency.classes[k]
        self.setMinimumHeight(self._row_h() * len(self.leads) + 8)
        self._update_tooltip()
        self.update()

    def importance(self) -> np.ndarray:
        """(L,) Σ|values| over time per lead (= ``Saliency.lead_importance()[k]``)."""
        return self.raised + self.lowered

    def _update_tooltip(self) -> None:
        if self.cls is None:
            self.setToolTip("Lead importance appears once the exam is explained.")
            return
        rows = [f"<b>Lead importance for {html.escape(self.cls)}</b>: Σ|SHAP| over time"]
        order = np.argsort(-self.importance())
        for j in order[:12]:
            rows.append(
                f"{self.leads[j]}: {self.importance()[j]:.3f} "
                f"(raised +{self.raised[j]:.3f}, lowered −{self.lowered[j]:.3f})"
            )
        self.setToolTip("<br>".join(rows))

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        pal = self.palette()
        fm = QFontMetrics(self.font())
        rh = self._row_h()
        name_w = fm.horizontalAdvance("aVR") + 10
        val_w = fm.horizontalAdvance("0.000") + 8
        x0 = 4 + name_w
        bar_w = max(20, self.width() - x0 - val_w - 6)
        total = self.importance()
        top = float(total.max()) if total.size and total.max() > 0 else 0.0
        for j, lead in enumerate(self.leads):
            y = 4 + j * rh
            p.setPen(QPen(pal.windowText().color()))
            p.drawText(
                QRectF(4, y, name_w - 4, rh), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, lead
            )
            track = QRectF(x0, y + rh * 0.2, bar_w, rh * 0.6)
            p.fillRect(track, QColor("#eceff1"))
            if top > 0:
                wr = bar_w * self.raised[j] / top
                wl = bar_w * self.lowered[j] / top
                p.fillRect(QRectF(x0, track.top(), wr, track.height()), RAISE_COLOR)
                p.fillRect(QRectF(x0 + wr, track.top(), wl, track.height()), LOWER_COLOR)
                p.setPen(QPen(pal.windowText().color()))
                p.drawText(
                    QRectF(x0 + bar_w + 4, y, val_w, rh),
                    Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                    f"{total[j]:.3f}",
                )
        p.end()


# --------------------------------------------------------------------------- the panel


def _default_preview() -> int | None:
    try:
        from ecgviewer.explain import PREVIEW_MAX_EVALS
    except ImportError:  # an explain module without a preview budget
        return None
    return int(PREVIEW_MAX_EVALS)


def _cached(model: Any, x: np.ndarray, segments: int, budget: int) -> bool:
    """True when the full explanation is already in the on-disk cache (no preview needed)."""
    try:
        from ecgviewer.explain import cache_dir, cache_key

        return (
            cache_dir(create=False) / f"{cache_key(model, x, segments=segments, max_evals=budget)}.npz"
        ).is_file()
    except Exception:  # a cache that cannot be checked: compute the preview
        return False


ExplainFn = Callable[..., Any]


class SaliencyPanel(QWidget):
    """Controls and summaries of the SHAP explanation of the current exam.

    Feed it with :meth:`set_context` (model, network input, report) whenever the exam or
    the model changes; it keeps its :class:`~ecgviewer.explain.Saliency` for that exam only.
    With :meth:`attach_grid` it keeps the lead grid's heatmap in step with the selected
    class, the on/off switch and the opacity.

    Signals:
        saliency_changed(object): a new Saliency (or None when cleared).
        overlay_changed(): class, on/off or opacity changed (the heatmap was redrawn).
        class_changed(str): the class picked here.
        error(str): an explanation failed (message for the status bar / a dialog).
    """

    saliency_changed = Signal(object)
    overlay_changed = Signal()
    class_changed = Signal(str)
    error = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        runner: TaskRunner | None = None,
        explain_fn: ExplainFn | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner or TaskRunner(max_threads=1, parent=self)
        self._explain_fn = explain_fn
        self.model: Any = None
        self.x: np.ndarray | None = None
        self.report: Any = None
        self.probabilities: np.ndarray | None = None
        self.thresholds: np.ndarray | None = None
        self.classes: tuple[str, ...] = CLASSES  # the model's classes (its contract)
        self.saliency: Any = None
        self.task: Task | None = None
        self._grid: LeadGrid | None = None
        self._context_id = 0
        self.preview_evals: int | None = None
        """Evaluations of a quick first map before the full budget (default with the real explainer:
        ``ecgviewer.explain.PREVIEW_MAX_EVALS``; None with an injected ``explain_fn``)."""
        self._user_class: str | None = None  # until the user picks one, each exam shows its top finding

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(5)
        layout.addWidget(QLabel("<b>Explanation (SHAP)</b>"))

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.class_combo = compact_combo(
            12,
            "The finding whose explanation is drawn on the traces "
            "(click a bar in the findings panel to choose it)",
        )
        for c in CLASSES:
            self.class_combo.addItem(c, c)
        form.addRow("Class", self.class_combo)

        self.show_check = QCheckBox("Heatmap on the traces")
        self.show_check.setChecked(True)
        self.show_check.setToolTip("Show or hide the colour behind the traces (Ctrl+H in the viewer)")
        self.show_check.toggled.connect(self._redraw)
        form.addRow("", self.show_check)

        op_row = QHBoxLayout()
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(5, 100)
        self.opacity_slider.setValue(int(DEFAULT_OPACITY * 100))
        self.opacity_slider.setToolTip("Opacity of the heatmap")
        self.opacity_label = QLabel(f"{int(DEFAULT_OPACITY * 100)} %")
        self.opacity_label.setMinimumWidth(QFontMetrics(self.font()).horizontalAdvance("100 %") + 4)
        self.opacity_slider.valueChanged.connect(self._on_opacity)
        op_row.addWidget(self.opacity_slider, 1)
        op_row.addWidget(self.opacity_label)
        form.addRow("Opacity", op_row)

        self.segments_combo = compact_combo(
            12,
            "Time resolution of the explanation: finer segments need more "
            "network evaluations (longer to compute)",
        )
        for s in SEGMENT_CHOICES:
            self.segments_combo.addItem(segment_text(s), s)
        self.segments_combo.setCurrentIndex(SEGMENT_CHOICES.index(DEFAULT_SEGMENTS))
        form.addRow("Resolution", self.segments_combo)
        layout.addLayout(form)

        run_row = QHBoxLayout()
        self.explain_button = QPushButton("Explain")
        self.explain_button.setToolTip(
            "Compute the SHAP values of this exam for every class of the model "
            "(in the background; cached per exam, model and resolution)"
        )
        self.explain_button.clicked.connect(self.explain)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.auto_check = QCheckBox("every exam")
        self.auto_check.setToolTip("Explain each exam as soon as it is analysed")
        run_row.addWidget(self.explain_button)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.auto_check)
        run_row.addStretch(1)
        layout.addLayout(run_row)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setVisible(False)
        layout.addWidget(self.progress)
        self.status = QLabel("No exam.")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color:#455a64;")
        layout.addWidget(self.status)

        self.legend = ColorLegend()
        layout.addWidget(self.legend)
        self.bars_title = QLabel("")
        self.bars_title.setWordWrap(True)
        layout.addWidget(self.bars_title)
        self.bars = LeadImportanceBars()
        layout.addWidget(self.bars)
        note = QLabel(
            "SHAP values are in units of probability, relative to a flat (0 mV) baseline: how much "
            "showing a stretch of a lead instead of a flat line moved the model's output. They "
            "describe the model, not the patient."
        )
        note.setWordWrap(True)
        note.setStyleSheet("color:#607d8b; font-size:small;")
        layout.addWidget(note)
        layout.addStretch(1)
        self.class_combo.currentIndexChanged.connect(self._on_class_combo)
        self._update_enabled()
        self._refresh_views()

    # ------------------------------------------------------------------ state
    @property
    def selected_class(self) -> str:
        return str(self.class_combo.currentData())

    @property
    def heatmap_on(self) -> bool:
        return self.show_check.isChecked()

    @property
    def opacity(self) -> float:
        return self.opacity_slider.value() / 100.0

    @property
    def segments(self) -> int:
        return int(self.segments_combo.currentData())

    def set_heatmap_on(self, on: bool) -> None:
        self.show_check.setChecked(bool(on))

    def set_opacity(self, value: float) -> None:
        self.opacity_slider.setValue(round(float(np.clip(value, 0.05, 1.0)) * 100))

    def set_segments(self, segments: int) -> None:
        if segments in SEGMENT_CHOICES:
            self.segments_combo.setCurrentIndex(SEGMENT_CHOICES.index(segments))

    def set_selected_class(self, cls: str) -> None:
        """Pick a class (e.g. from the findings panel's ``class_selected``)."""
        i = self.class_combo.findData(cls)
        if i >= 0 and i != self.class_combo.currentIndex():
            self.class_combo.setCurrentIndex(i)

    def default_class(self) -> str:
        """The most probable positive class, else the most probable class, else the first."""
        classes = self.classes
        if self.probabilities is None or len(self.probabilities) != len(classes):
            return classes[0]
        p = np.asarray(self.probabilities, dtype=np.float64)
        if self.thresholds is not None and len(self.thresholds) == len(p):
            pos = np.flatnonzero(p > self.thresholds)
            if pos.size:
                return classes[int(pos[np.argmax(p[pos])])]
        return classes[int(np.nanargmax(p))] if np.isfinite(p).any() else classes[0]

    # ------------------------------------------------------------------ context
    def set_context(
        self,
        model: Any,
        x: np.ndarray | None,
        report: Any = None,
        *,
        probabilities: np.ndarray | None = None,
        thresholds: np.ndarray | None = None,
        selected_class: str | None = None,
    ) -> None:
        """A new exam (or model): forget the explanation, cancel one running, update the class list.

        Args:
            model: the :class:`~ecgviewer.model.runtime.EcgModel` or an ensemble (its mean is
                explained); None: nothing to explain. Its ``classes`` fill the class list.
            x: (4096, 12) float32 network input of the exam (``Prediction.input``).
            report: its :class:`~ecgviewer.preprocess.PreprocessReport`.
            probabilities, thresholds: (C,) for the class list and the default class.
            selected_class: class to select (default: the findings panel's choice if already
                set via :meth:`set_selected_class`, else :meth:`default_class`).
        """
        self.cancel()
        self._context_id += 1
        self.model, self.x, self.report = model, x, report
        classes = tuple(getattr(model, "classes", None) or CLASSES)
        if classes != self.classes:
            self.classes = classes
            if self._user_class not in classes:
                self._user_class = None
        self.probabilities = None if probabilities is None else np.asarray(probabilities)
        self.thresholds = None if thresholds is None else np.asarray(thresholds)
        self._fill_class_combo(selected_class)
        self._set_saliency(None)
        if self.x is None or self.model is None:
            self.status.setText("Open and analyse an exam to explain it.")
        else:
            self.status.setText("Not explained yet: press Explain.")
            if self.auto_check.isChecked():
                self.explain()
        self._update_enabled()

    def clear(self) -> None:
        self.set_context(None, None, None)

    def _fill_class_combo(self, selected: str | None) -> None:
        current = selected or self._user_class or self.default_class()
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        if current not in self.classes:
            current = self.default_class()
        for k, c in enumerate(self.classes):
            label = c
            if self.probabilities is not None and k < len(self.probabilities):
                p = float(self.probabilities[k])
                pos = (
                    self.thresholds is not None and k < len(self.thresholds) and p > float(self.thresholds[k])
                )
                label = f"{c}  {p:.3f}" + ("  positive" if pos else "")
            self.class_combo.addItem(label, c)
            self.class_combo.setItemData(k, class_name(c), Qt.ItemDataRole.ToolTipRole)
        i = self.class_combo.findData(current) if current else 0
        self.class_combo.setCurrentIndex(max(0, i))
        self.class_combo.blockSignals(False)

    # ------------------------------------------------------------------ explaining
    def explain(self) -> Task | None:
        """Start the explanation of the current exam in the background (None if nothing to do)."""
        if self.model is None or self.x is None:
            return None
        if self.task is not None and self.task.state in ("queued", "running"):
            return self.task
        fn = self._explain_fn
        preview = self.preview_evals
        if fn is None:
            from ecgviewer.explain import explain_cached

            fn = explain_cached
            if preview is None:
                preview = _default_preview()
        model, x, report, segments = self.model, self.x, self.report, self.segments
        budget = budget_for(segments)
        context = self._context_id
        if preview is not None and (
            preview >= budget or (self._explain_fn is None and _cached(model, x, segments, budget))
        ):
            preview = None  # nothing to gain: the full result is as quick

        def work(task: Task) -> Any:
            if preview is not None:  # a coarse map within about a second, refined with the same evaluations
                quick = fn(
                    model,
                    x,
                    segments=segments,
                    max_evals=preview,
                    report=report,
                    progress=lambda d, t: task.progress(d, budget),
                    cancel=task.cancelled,
                )
                task.partial(quick)
            return fn(
                model,
                x,
                segments=segments,
                max_evals=budget,
                report=report,
                progress=task.progress,
                cancel=task.cancelled,
            )

        task = Task(work, name=f"Explaining ({segment_text(segments)})")
        task.signals.progress.connect(self._on_progress)
        task.signals.partial.connect(lambda sal, c=context: self._on_preview(sal, c))
        task.signals.done.connect(lambda sal, c=context: self._on_done(sal, c))
        task.signals.failed.connect(lambda err, c=context: self._on_failed(err, c))
        task.signals.cancelled.connect(lambda c=context: self._on_cancelled(c))
        task.signals.finished.connect(self._update_enabled)
        self.task = task
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        what = "all six classes" if self.classes == CLASSES else f"{len(self.classes)} classes"
        if getattr(model, "members", None):
            what += f" (the mean of {len(model.members)} members)"
        self.status.setText(
            f"Explaining {what} at {segment_text(segments)}, up to {budget} network evaluations…"
        )
        self.runner.start(task, self)
        self._update_enabled()
        return task

    def cancel(self) -> None:
        """Stop a running explanation (its result, if any, is dropped)."""
        if self.task is not None and self.task.state in ("queued", "running"):
            self.task.cancel()
        self.task = None
        self.progress.setVisible(False)
        self._update_enabled()

    def is_running(self) -> bool:
        return self.task is not None and self.task.state in ("queued", "running")

    def _on_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
            self.progress.setFormat("%v of %m evaluations")

    def _on_preview(self, saliency: Any, context: int) -> None:
        if context != self._context_id or self.task is None:
            return
        self._set_saliency(saliency)
        self.status.setText(f"Preview from {saliency.n_evaluations} evaluations; refining…")

    def _on_done(self, saliency: Any, context: int) -> None:
        if context != self._context_id:
            return  # a result for an exam no longer shown
        self.task = None
        self.progress.setVisible(False)
        self._set_saliency(saliency)

    def _on_failed(self, err: BaseException, context: int) -> None:
        if context != self._context_id:
            return
        self.task = None
        self.progress.setVisible(False)
        text = str(err) if isinstance(err, EcgViewerError) else f"{type(err).__name__}: {err}"
        self.status.setText(f"<span style='color:#b71c1c'>Explanation failed: {html.escape(text)}</span>")
        self.error.emit(text)

    def _on_cancelled(self, context: int) -> None:
        if context != self._context_id:
            return
        self.task = None
        self.progress.setVisible(False)
        self.status.setText("Explanation cancelled.")

    def set_saliency(self, saliency: Any | None) -> None:
        """Show a ready explanation (e.g. loaded from a cache) for the current exam."""
        self._set_saliency(saliency)

    def _set_saliency(self, saliency: Any | None) -> None:
        self.saliency = saliency
        if saliency is not None:
            self.status.setText(html.escape(saliency.describe()))
        self._refresh_views()
        self._update_enabled()
        self.saliency_changed.emit(saliency)

    # ------------------------------------------------------------------ drawing
    def attach_grid(self, grid: LeadGrid | None) -> None:
        """Keep this grid's heatmap in step with the panel (None: detach)."""
        self._grid = grid
        self._redraw()

    def strips(self) -> dict[str, HeatStrip]:
        """The heat strips of the selected class (empty when there is no explanation)."""
        if self.saliency is None or self.selected_class not in self.saliency.classes:
            return {}
        return heatmap_strips(self.saliency, self.selected_class, self.report)

    def _on_class_combo(self, _index: int) -> None:
        self._user_class = self.selected_class
        self._refresh_views()
        self.class_changed.emit(self.selected_class)

    def _on_opacity(self, value: int) -> None:
        self.opacity_label.setText(f"{value} %")
        self._redraw()

    def _refresh_views(self) -> None:
        sal, cls = self.saliency, self.selected_class
        if sal is not None and cls in sal.classes:
            k = sal.classes.index(cls)
            self.legend.set_scale(sal.color_limit(k), self.opacity, cls)
            self.bars.set_values(sal, cls)
            p = float(sal.probabilities[k])
            base = float(sal.base_values[k])
            self.bars_title.setText(
                f"Lead importance for <b>{html.escape(cls)}</b> "
                f"(probability {p:.3f}; baseline {base:.3f}; Σ SHAP {p - base:+.3f})"
            )
        else:
            self.legend.set_scale(None, self.opacity, cls)
            self.bars.set_values(None, None)
            self.bars_title.setText("Lead importance (Σ|SHAP| over time)")
        self._redraw()

    def _redraw(self, *_: Any) -> None:
        self.legend.set_scale(self.legend.limit, self.opacity, self.legend.cls)
        if self._grid is not None:
            if self.heatmap_on and self.saliency is not None and self.selected_class in self.saliency.classes:
                apply_heatmap(
                    self._grid, self.saliency, self.selected_class, self.report, opacity=self.opacity
                )
            else:
                self._grid.clear_overlays()
        self.overlay_changed.emit()

    def _update_enabled(self, *_: Any) -> None:
        running = self.is_running()
        can = self.model is not None and self.x is not None
        self.explain_button.setEnabled(can and not running)
        self.cancel_button.setEnabled(running)
        self.segments_combo.setEnabled(not running)
