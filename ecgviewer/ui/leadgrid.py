"""The 12 leads on ECG paper, at the physical scale of an electrocardiograph.

One pyqtgraph view holds the whole sheet, in physical units: x in seconds of paper, y in
millivolts. Its aspect is locked to ``speed / gain`` and its scale to the screen's logical
DPI, so 1 s is ``speed`` mm and 1 mV is ``gain`` mm on screen at "actual size", the 1 mm
squares stay square when zooming, and zoom and pan act on every lead at once. The grid is
drawn at 1 mm (minor) and 5 mm (major): every ``1/speed`` s and ``1/gain`` mV.

Each lead cell is a :class:`~ecgviewer.ui.paper_items.LeadCell`: an ``ItemGroup`` translated
to its row's baseline, holding the trace, the lead label, the zero-padding shading and an
optional overlay image (:meth:`LeadGrid.set_overlay`, e.g. a SHAP saliency map) drawn behind
the trace. Where each cell sits is computed without Qt (:mod:`ecgviewer.viewer.paper_layout`);
the paper, the view box and the cell are in :mod:`ecgviewer.ui.paper_items`.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QFont, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QLabel, QVBoxLayout, QWidget

from ecgviewer.display_filters import DisplayFilterSettings, apply_display_filters
from ecgviewer.errors import PreprocessError
from ecgviewer.exam import Exam
from ecgviewer.leads import LEADS
from ecgviewer.preprocess import PreprocessReport, complete_leads
from ecgviewer.ui.paper_items import (  # noqa: F401 - colours and items re-exported
    CALIPER,
    DESK,
    FIDUCIAL_COLORS,
    FIDUCIAL_NAMES,
    MAJOR_LINE,
    MINOR_LINE,
    PADDING,
    PAPER_BACKGROUND,
    TRACE,
    EcgPaper,
    LeadCell,
    PaperViewBox,
    diverging_lut,
)
from ecgviewer.viewer.paper_layout import (  # noqa: F401 - re-exported
    BASELINE_FRACTION,
    CAL_WIDTH_S,
    COLUMNS,
    PAGE_SECONDS,
    RIGHT_MARGIN_S,
    ROW_PITCH_MV,
    CellSpec,
    Measurement,
    PaperLayout,
    compute_layout,
)
from ecgviewer.viewer.view import GAINS, LAYOUT_NAMES, LAYOUTS, SPEEDS  # noqa: F401 - re-exported


def paper_rect(layout: PaperLayout) -> QRectF:
    """The sheet of ``layout`` as a QRectF in (s, mV)."""
    return QRectF(*layout.extent)


# --------------------------------------------------------------------------- the widget


class LeadGrid(QWidget):
    """Twelve leads on ECG paper with layouts, gain, speed, calipers and per-lead overlays.

    Signals:
        measured(Measurement): a caliper was drawn.
        view_changed(): layout, gain, speed, rhythm lead, input view or zoom changed.
    """

    measured = Signal(object)
    view_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.header = QLabel(self)
        self.header.setObjectName("leadGridHeader")
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setContentsMargins(6, 2, 6, 2)
        self.view = pg.GraphicsView(self, background=DESK)
        self.view.setAcceptDrops(False)
        self.view.viewport().setAcceptDrops(False)
        self.vb = PaperViewBox(self)
        self.vb.setMouseEnabled(x=True, y=True)
        self.vb.disableAutoRange()
        self.view.setCentralItem(self.vb)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.header)
        layout.addWidget(self.view, 1)

        self.paper = EcgPaper()
        self.vb.addItem(self.paper, ignoreBounds=True)
        self._layout_name = "3x4"
        self._gain = 10.0
        self._speed = 25.0
        self._rhythm_lead = "II"
        self._show_input = False
        self._px_per_mm_override: float | None = None
        self.caliper_mode = False

        self.exam: Exam | None = None
        self._signal: np.ndarray | None = None  # (samples, 12) mV in LEADS order
        self._derived: tuple[str, ...] = ()
        self._input: np.ndarray | None = None  # (4096, 12) in mV
        self._report: PreprocessReport | None = None
        self._filters: DisplayFilterSettings | None = None  # display filters of the drawn signal
        self._filtered: np.ndarray | None = None  # _signal through _filters (computed once)
        self._beats = None  # BeatFiducials of the exam, drawn when set (seconds of exam time)
        self.paper_layout: PaperLayout = compute_layout("3x4", 0, PAGE_SECONDS)
        self.cells: list[LeadCell] = []
        self._static_items: list[object] = []
        self._overlays: dict[
            str, tuple[np.ndarray, float, float, tuple[float, float] | None, np.ndarray | None]
        ] = {}
        self._caliper_items: list[object] = []
        self.measurement: Measurement | None = None
        self._zoom = 1.0
        self._origin = QPointF(0, 0)
        self._at_home = True
        self._applying = False
        self.vb.sigResized.connect(self._on_resized)
        self.vb.sigRangeChangedManually.connect(self._on_user_range)
        self._rebuild()

    # ------------------------------------------------------------------ properties
    @property
    def layout_name(self) -> str:
        return self._layout_name

    @property
    def gain(self) -> float:
        """mm per mV."""
        return self._gain

    @property
    def speed(self) -> float:
        """mm per s."""
        return self._speed

    @property
    def rhythm_lead(self) -> str:
        return self._rhythm_lead

    @property
    def show_input(self) -> bool:
        return self._show_input

    @property
    def zoom(self) -> float:
        """1.0 = actual size (physical scale)."""
        return self._zoom

    @property
    def px_per_mm(self) -> float:
        """Logical pixels per millimetre: the screen's logical DPI / 25.4, unless calibrated."""
        if self._px_per_mm_override:
            return self._px_per_mm_override
        dpi = self.view.logicalDpiX() or 96
        return dpi / 25.4

    def set_px_per_mm(self, value: float | None) -> None:
        """Calibrate the screen (None: use the logical DPI)."""
        self._px_per_mm_override = float(value) if value else None
        self._apply_view()

    def pixels_per_second(self) -> float:
        """Measured on the rendered view: logical pixels between paper x and x + 1 s."""
        a = self.vb.mapViewToDevice(QPointF(0.0, 0.0))
        b = self.vb.mapViewToDevice(QPointF(1.0, 0.0))
        return abs(b.x() - a.x())

    def pixels_per_mv(self) -> float:
        """Measured on the rendered view: logical pixels between paper y and y + 1 mV."""
        a = self.vb.mapViewToDevice(QPointF(0.0, 0.0))
        b = self.vb.mapViewToDevice(QPointF(0.0, 1.0))
        return abs(b.y() - a.y())

    def traces(self) -> dict[str, pg.PlotDataItem]:
        """Lead name → its trace ("II rhythm" for the rhythm strip)."""
        return {(c.lead + " rhythm" if c.spec.rhythm else c.lead): c.curve for c in self.cells}

    def cell(self, lead: str, rhythm: bool = False) -> LeadCell | None:
        for c in self.cells:
            if c.lead == lead and c.spec.rhythm == rhythm:
                return c
        return None

    # ------------------------------------------------------------------ setters
    def set_exam(
        self, exam: Exam | None, model_input: tuple[np.ndarray, PreprocessReport] | None = None
    ) -> None:
        """Show an exam (None clears). ``model_input`` = (x (4096, 12) in mV, report)."""
        self.exam = exam
        self._overlays.clear()
        self._input, self._report = (None, None) if model_input is None else model_input
        if exam is not None:
            try:
                self._signal, self._derived = complete_leads(exam.signal_mv, exam.leads)
            except PreprocessError:
                # fewer than 8 independent leads: show what there is, missing leads stay empty
                sig = np.full((exam.n_samples, len(LEADS)), np.nan, dtype=np.float32)
                for i, name in enumerate(exam.leads):
                    if name in LEADS:
                        sig[:, LEADS.index(name)] = exam.signal_mv[:, i]
                self._signal, self._derived = sig, ()
        else:
            self._signal, self._derived = None, ()
        self._filtered = None
        self._beats = None
        self._at_home = True
        self._rebuild()

    @property
    def display_filters(self) -> DisplayFilterSettings | None:
        """The filters of the drawn recording (None: as recorded); never of the network input."""
        return self._filters

    def set_display_filters(self, settings: DisplayFilterSettings | None) -> None:
        """Filter the drawn recording (baseline, notch, low-pass; zero-phase). The network-input
        view stays unfiltered: it shows exactly what the model reads."""
        if settings == self._filters:
            return
        self._filters = settings
        self._filtered = None
        self._rebuild(keep_view=True)

    def shown_signal(self) -> np.ndarray | None:
        """(samples, 12) mV in LEADS order of the recording as drawn (display filters applied)."""
        if self._signal is None or self.exam is None:
            return None
        if self._filters is None or self._filters.is_off:
            return self._signal
        if self._filtered is None:
            sig = self._signal
            missing = np.isnan(sig)
            out = apply_display_filters(np.where(missing, 0.0, sig), self.exam.fs, self._filters)
            out[missing] = np.nan
            self._filtered = out
        return self._filtered

    @property
    def fiducials(self):
        """The :class:`~ecgviewer.measure.BeatFiducials` drawn on the leads, or None."""
        return self._beats

    def set_fiducials(self, beats) -> None:
        """Mark each beat's P onset, QRS onset and offset and T offset on every lead
        (:class:`~ecgviewer.measure.BeatFiducials`, seconds of exam time); None removes them."""
        self._beats = beats
        for cell in self.cells:
            self._draw_fiducials(cell)
        self._update_header()

    def set_model_input(self, x: np.ndarray | None, report: PreprocessReport | None) -> None:
        """The network's input for the current exam ((4096, 12) in mV) and its report."""
        self._input, self._report = x, report
        if self._show_input:
            self._rebuild()

    def set_layout(self, name: str) -> None:
        if name not in LAYOUTS:
            raise ValueError(f"unknown layout {name!r}; one of {', '.join(LAYOUTS)}")
        if name != self._layout_name:
            self._layout_name = name
            self._at_home = True
            self._rebuild()

    def set_gain(self, mm_per_mv: float) -> None:
        if mm_per_mv <= 0:
            raise ValueError("gain must be positive (mm/mV)")
        if mm_per_mv != self._gain:
            self._gain = float(mm_per_mv)
            self._rescale()

    def set_speed(self, mm_per_s: float) -> None:
        if mm_per_s <= 0:
            raise ValueError("speed must be positive (mm/s)")
        if mm_per_s != self._speed:
            self._speed = float(mm_per_s)
            self._rescale()

    def set_rhythm_lead(self, lead: str) -> None:
        if lead not in LEADS:
            raise ValueError(f"unknown lead {lead!r}")
        if lead != self._rhythm_lead:
            self._rhythm_lead = lead
            self._rebuild(keep_view=True)

    def set_show_input(self, on: bool) -> None:
        """Show the network's input (400 Hz, 4096 samples, padding shaded) instead of the original."""
        if bool(on) != self._show_input:
            self._show_input = bool(on)
            self._at_home = True
            self._rebuild()

    def set_caliper_mode(self, on: bool) -> None:
        self.caliper_mode = bool(on)
        self.view.setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor)

    # ------------------------------------------------------------------ overlays (e.g. SHAP)
    def set_overlay(
        self,
        lead: str,
        values: np.ndarray,
        *,
        t0: float,
        dt: float,
        levels: tuple[float, float] | None = None,
        lut: np.ndarray | None = None,
    ) -> None:
        """Draw a heat strip behind one lead's trace in every cell showing it.

        Args:
            lead: canonical lead name.
            values: (n,) values at exam times ``t0 + i * dt`` seconds (e.g. a column of
                ``Saliency.sample_map(k)`` with ``t0 = report.offset_s``, ``dt = 1 / 400``).
            levels: (low, high) mapped to the ends of the colour table (default ±max|values|).
            lut: (256, 4) uint8 RGBA colour table (default :func:`diverging_lut`).
        """
        if lead not in LEADS:
            raise ValueError(f"unknown lead {lead!r}")
        values = np.asarray(values, dtype=np.float32).ravel()
        self._overlays[lead] = (values, float(t0), float(dt), levels, lut)
        for cell in self.cells:
            if cell.lead == lead:
                self._draw_overlay(cell)

    def clear_overlays(self) -> None:
        self._overlays.clear()
        for cell in self.cells:
            if cell.overlay is not None:
                if cell.overlay.scene() is not None:
                    cell.overlay.scene().removeItem(cell.overlay)
                cell.overlay = None

    def _draw_overlay(self, cell: LeadCell) -> None:
        if cell.overlay is not None and cell.overlay.scene() is not None:
            cell.overlay.scene().removeItem(cell.overlay)
        cell.overlay = None
        entry = self._overlays.get(cell.lead)
        if entry is None:
            return
        values, t0, dt, levels, lut = entry
        s = cell.spec
        i0 = max(0, math.ceil((s.t0 - t0) / dt - 1e-9))
        i1 = min(len(values), math.floor((s.t1 - t0) / dt + 1e-9) + 1)
        if i1 <= i0:
            return
        part = values[i0:i1]
        if levels is None:
            m = float(np.max(np.abs(values))) or 1.0
            levels = (-m, m)
        img = pg.ImageItem(part[:, None], axisOrder="col-major")
        img.setLookupTable(diverging_lut() if lut is None else lut)
        img.setLevels(levels)
        x_left = s.x0 + (t0 + i0 * dt - s.t0) - dt / 2
        img.setRect(QRectF(x_left, s.bottom - s.baseline, (i1 - i0) * dt, s.height))
        img.setZValue(-10)
        img.setParentItem(cell.group)
        cell.overlay = img

    # ------------------------------------------------------------------ view
    def actual_size(self) -> None:
        """Physical scale (zoom 1) with the page at home position."""
        self._zoom = 1.0
        self._at_home = True
        self._apply_view()
        self.view_changed.emit()

    def fit(self) -> None:
        """Zoom so the whole sheet fits the view."""
        w, h = self.vb.width(), self.vb.height()
        rect = paper_rect(self.paper_layout)
        if w <= 0 or h <= 0:
            return
        sx = w / (rect.width() * self._speed * self.px_per_mm)
        sy = h / (rect.height() * self._gain * self.px_per_mm)
        self._zoom = max(0.05, min(sx, sy) * 0.98)
        self._at_home = True
        self._apply_view()
        self.view_changed.emit()

    def zoom_by(self, factor: float) -> None:
        """Zoom about the view's centre (1.25 = 25 % larger)."""
        rect = self.vb.viewRect()
        centre = rect.center()
        self._zoom = min(40.0, max(0.05, self._zoom * factor))
        w, h = self.vb.width(), self.vb.height()
        sx, sy = self._scales()
        self._origin = QPointF(centre.x() - w / sx / 2, centre.y() + h / sy / 2)
        self._at_home = False
        self._apply_view()
        self.view_changed.emit()

    def _scales(self) -> tuple[float, float]:
        """Logical pixels per paper second and per paper mV at the current zoom."""
        return (self._speed * self.px_per_mm * self._zoom, self._gain * self.px_per_mm * self._zoom)

    def _home_origin(self) -> QPointF:
        rect = paper_rect(self.paper_layout)
        sx, sy = self._scales()
        view_w, view_h = self.vb.width() / sx, self.vb.height() / sy
        margin_x, margin_y = 4 / sx, 4 / sy
        if rect.width() + 2 * margin_x <= view_w:
            x = rect.center().x() - view_w / 2
        else:
            x = rect.left() - margin_x
        if rect.height() + 2 * margin_y <= view_h:
            y = rect.center().y() + view_h / 2
        else:
            y = rect.bottom() + margin_y  # QRectF bottom = larger y = the paper's top edge
        return QPointF(x, y)

    def _apply_view(self) -> None:
        w, h = self.vb.width(), self.vb.height()
        if w <= 1 or h <= 1:
            return
        sx, sy = self._scales()
        self.vb.setAspectLocked(True, ratio=self._speed / self._gain)
        if self._at_home:
            self._origin = self._home_origin()
        x0, top = self._origin.x(), self._origin.y()
        self._applying = True
        try:
            self.vb.setRange(xRange=(x0, x0 + w / sx), yRange=(top - h / sy, top), padding=0.0)
        finally:
            self._applying = False
        self.paper.update()
        self._update_header()

    def _on_resized(self, *_: object) -> None:
        self._apply_view()

    def _on_user_range(self, *_: object) -> None:
        if self._applying:
            return
        (x0, x1), (_, y1) = self.vb.viewRange()
        w = self.vb.width()
        if w <= 0 or x1 <= x0:
            return
        self._zoom = (w / (x1 - x0)) / (self._speed * self.px_per_mm)
        self._origin = QPointF(x0, y1)
        self._at_home = False
        self.paper.update()
        self._update_header()
        self.view_changed.emit()

    def _rescale(self) -> None:
        self.paper.set_paper(paper_rect(self.paper_layout), 1.0 / self._speed, 1.0 / self._gain)
        self._at_home = True
        self._apply_view()
        self.view_changed.emit()

    # ------------------------------------------------------------------ building
    def _data(self) -> tuple[np.ndarray, float, float] | None:
        """(samples (n, 12) mV, first sample time s, sample interval s) of what is shown."""
        if self._show_input and self._input is not None and self._report is not None:
            return (
                self._input,
                self._report.offset_s,
                1.0 / self._report.output_fs,
            )
        shown = self.shown_signal()
        if shown is not None and self.exam is not None:
            return shown, 0.0, 1.0 / self.exam.fs
        return None

    def _clear_items(self) -> None:
        for cell in self.cells:
            self.vb.removeItem(cell.group)
        for item in self._static_items:
            self.vb.removeItem(item)
        self.cells = []
        self._static_items = []
        self.clear_calipers()

    def _rebuild(self, keep_view: bool = False) -> None:
        self._clear_items()
        data = self._data()
        if data is None:
            span = (0.0, PAGE_SECONDS)
        else:
            sig, start, dt = data
            span = (start, start + sig.shape[0] * dt)
        # 3×4 and 6×2 pages show 10 s: the whole recording when it is that short, else the window
        # the network read (what the findings and explanations are about); the rhythm strip and
        # 12×1 show everything; the network-input view shows all 10.24 s of the input
        page_start, page_seconds = None, PAGE_SECONDS
        if self._show_input and data is not None:
            page_seconds = None
        elif data is not None and self._report is not None and span[1] - span[0] > PAGE_SECONDS + 0.3:
            page_start = max(0.0, self._report.offset_s)
        self.paper_layout = compute_layout(
            self._layout_name,
            span[0],
            span[1],
            rhythm_lead=self._rhythm_lead,
            page_start=page_start,
            page_seconds=page_seconds,
        )
        self.paper.set_paper(paper_rect(self.paper_layout), 1.0 / self._speed, 1.0 / self._gain)
        label_font = QFont()
        label_font.setBold(True)
        label_font.setPointSizeF(max(label_font.pointSizeF(), 9.0))
        for spec in self.paper_layout.cells:
            self.cells.append(self._make_cell(spec, data, label_font))
        self._make_row_furniture()
        if not keep_view:
            self._at_home = True
        self._apply_view()
        self.view_changed.emit()

    def _make_cell(
        self, spec: CellSpec, data: tuple[np.ndarray, float, float] | None, font: QFont
    ) -> LeadCell:
        group = pg.ItemGroup()
        group.setPos(0.0, spec.baseline)
        self.vb.addItem(group, ignoreBounds=True)
        curve = pg.PlotDataItem(
            pen=pg.mkPen(TRACE, width=1.25),
            antialias=True,
            skipFiniteCheck=False,
            autoDownsample=True,
            downsampleMethod="peak",
            clipToView=True,
        )
        curve.setZValue(10)
        curve.setParentItem(group)
        if data is not None:
            sig, start, dt = data
            col = LEADS.index(spec.lead)
            i0 = max(0, math.ceil((spec.t0 - start) / dt - 1e-9))
            i1 = min(sig.shape[0], math.ceil((spec.t1 - start) / dt - 1e-9))
            if i1 > i0:
                t = start + np.arange(i0, i1) * dt
                curve.setData(spec.x0 + (t - spec.t0), sig[i0:i1, col])
        name = spec.lead + ("  rhythm" if spec.rhythm else "")
        if spec.lead in self._derived:
            name += " (derived)"
        label = pg.TextItem(name, color=TRACE, anchor=(0, 0), fill=pg.mkBrush(255, 248, 246, 190))
        label.setFont(font)
        label.setParentItem(group)
        label.setPos(spec.x0 + 0.03, spec.top - spec.baseline)
        label.setZValue(20)
        cell = LeadCell(spec, group, curve, label)
        if self._show_input and self._report is not None:
            self._shade_padding(cell)
        if spec.lead in self._overlays:
            self._draw_overlay(cell)
        if self._beats is not None:
            self._draw_fiducials(cell)
        return cell

    def _draw_fiducials(self, cell: LeadCell) -> None:
        """Short vertical ticks at the fiducials of the beats within the cell (one item per kind)."""
        for item in cell.fiducials:
            item.setParentItem(None)
            if item.scene() is not None:
                item.scene().removeItem(item)
        cell.fiducials = []
        beats = self._beats
        if beats is None:
            return
        s = cell.spec
        lo, hi = s.bottom - s.baseline + 0.15 * s.height, s.top - s.baseline - 0.2 * s.height
        for name, color in FIDUCIAL_COLORS.items():
            t = np.asarray(getattr(beats, name), dtype=np.float64)
            t = t[np.isfinite(t) & (t >= s.t0) & (t <= s.t1)]
            if not t.size:
                continue
            x = np.repeat(s.x0 + (t - s.t0), 2)
            y = np.tile([lo, hi], t.size)
            item = pg.PlotCurveItem(
                x, y, connect="pairs", pen=pg.mkPen(color, width=1.3, style=Qt.PenStyle.DashLine)
            )
            item.setZValue(8)
            item.setToolTip(FIDUCIAL_NAMES[name])
            item.setParentItem(cell.group)
            cell.fiducials.append(item)

    def _shade_padding(self, cell: LeadCell) -> None:
        r = self._report
        assert r is not None
        s = cell.spec
        sig0 = r.offset_s + r.pad_left / r.output_fs
        sig1 = r.offset_s + (r.output_samples - r.pad_right) / r.output_fs
        for a, b in ((s.t0, min(s.t1, sig0)), (max(s.t0, sig1), s.t1)):
            if b - a <= 1e-6:
                continue
            item = QGraphicsRectItem(s.x0 + a - s.t0, s.bottom - s.baseline, b - a, s.height)
            item.setBrush(QBrush(PADDING))
            item.setPen(QPen(Qt.PenStyle.NoPen))
            item.setZValue(-5)
            item.setToolTip("zero padding added by the preprocessing (not signal)")
            item.setParentItem(cell.group)
            cell.shading.append(item)

    def _make_row_furniture(self) -> None:
        """Calibration pulses (1 mV, 0.2 s) at each row start, and ticks where leads change."""
        pen = pg.mkPen(TRACE, width=1.25)
        rows: dict[int, CellSpec] = {}
        for spec in self.paper_layout.cells:
            rows.setdefault(spec.row, spec)
        for spec in rows.values():
            b = spec.baseline
            x = np.array([0.0, 0.1, 0.1, 0.3, 0.3, CAL_WIDTH_S - 0.02])
            y = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 0.0]) + b
            pulse = pg.PlotCurveItem(x, y, pen=pen, antialias=True)
            pulse.setZValue(10)
            self.vb.addItem(pulse, ignoreBounds=True)
            self._static_items.append(pulse)
        for spec in self.paper_layout.cells:
            if spec.col > 0 and not spec.rhythm:
                tick = pg.PlotCurveItem(
                    np.array([spec.x0, spec.x0]),
                    np.array([spec.baseline - 0.3, spec.baseline + 0.3]),
                    pen=pen,
                )
                tick.setZValue(10)
                self.vb.addItem(tick, ignoreBounds=True)
                self._static_items.append(tick)

    # ------------------------------------------------------------------ calipers
    def cell_at(self, x: float, y: float) -> LeadCell | None:
        for cell in self.cells:
            if cell.spec.contains(x, y):
                return cell
        return None

    def drag_caliper(self, start: QPointF, end: QPointF, *, finished: bool = False) -> Measurement | None:
        """Measure between two paper points on the lead under ``start`` (view coordinates)."""
        cell = self.cell_at(start.x(), start.y())
        if cell is None:
            return None
        s = cell.spec
        xa, xb = start.x(), min(max(end.x(), s.x0), s.x1)
        ya, yb = start.y(), end.y()
        m = Measurement(s.lead, s.t0 + xa - s.x0, s.t0 + xb - s.x0, ya - s.baseline, yb - s.baseline)
        self._draw_caliper(cell, xa, xb, ya, yb, m)
        self.measurement = m
        if finished:
            self.measured.emit(m)
        return m

    def clear_calipers(self) -> None:
        for item in self._caliper_items:
            self.vb.removeItem(item)
        self._caliper_items = []
        self.measurement = None

    def _draw_caliper(
        self, cell: LeadCell, xa: float, xb: float, ya: float, yb: float, m: Measurement
    ) -> None:
        for item in self._caliper_items:
            self.vb.removeItem(item)
        self._caliper_items = []
        s = cell.spec
        pen = pg.mkPen(CALIPER, width=1.5)
        dash = pg.mkPen(CALIPER, width=1.0, style=Qt.PenStyle.DashLine)
        span = np.array([min(xa, xb) - 0.05, max(xa, xb) + 0.05])
        items = [
            pg.PlotCurveItem(np.array([xa, xa]), np.array([s.bottom, s.top]), pen=pen),
            pg.PlotCurveItem(np.array([xb, xb]), np.array([s.bottom, s.top]), pen=pen),
            pg.PlotCurveItem(span, np.array([ya, ya]), pen=dash),
            pg.PlotCurveItem(span, np.array([yb, yb]), pen=dash),
        ]
        label = pg.TextItem(
            m.text(),
            color=CALIPER,
            anchor=(0, 1),
            fill=pg.mkBrush(255, 255, 255, 215),
            border=pg.mkPen(CALIPER),
        )
        label.setPos(max(xa, xb) + 0.05, s.top)
        items.append(label)
        for item in items:
            item.setZValue(50)
            self.vb.addItem(item, ignoreBounds=True)
        self._caliper_items = items

    # ------------------------------------------------------------------ header text
    def _update_header(self) -> None:
        rhythm = f" ({self._rhythm_lead})" if self._layout_name == "3x4" else ""
        parts = [
            f"<b>{self._speed:g} mm/s</b>",
            f"<b>{self._gain:g} mm/mV</b>",
            LAYOUT_NAMES[self._layout_name] + rhythm,
        ]
        if self.exam is not None:
            if self._show_input and self._input is not None and self._report is not None:
                r = self._report
                parts.append(
                    f"<span style='color:#7a3b00'><b>network input</b>: {r.output_fs:g} Hz × "
                    f"{r.output_samples} samples ({r.output_samples / r.output_fs:.2f} s), "
                    f"zero padding shaded, unfiltered</span>"
                )
            else:
                parts.append(f"original signal: {self.exam.fs:g} Hz, {self.exam.duration_s:.2f} s")
                if self._layout_name != "12x1" and self.exam.duration_s > PAGE_SECONDS + 1e-6:
                    first = min(c.t0 for c in self.paper_layout.cells if not c.rhythm)
                    last = max(c.t1 for c in self.paper_layout.cells if not c.rhythm)
                    where = " (the network's window)" if first > 0 else ""
                    strip = ", rhythm strip: all" if self._layout_name == "3x4" else ""
                    parts.append(f"leads {first:.2f}–{last:.2f} s{where}{strip}")
                if self._show_input:
                    parts.append("(network input not available yet)")
                elif self._filters is not None:
                    parts.append(f"filter {self._filters.describe()}")
        if self._beats is not None:
            legend = (
                f"<span style='color:{FIDUCIAL_COLORS[key].name()}'>{FIDUCIAL_NAMES[key]}</span>"
                for key in ("p_onset_s", "qrs_onset_s", "t_offset_s")
            )
            parts.append("fiducials: " + ", ".join(legend).replace("QRS onset", "QRS onset/offset"))
        zoom = "actual size" if abs(self._zoom - 1.0) < 1e-3 else f"zoom {self._zoom * 100:.0f} %"
        parts.append(zoom)
        self.header.setText(" · ".join(parts))
