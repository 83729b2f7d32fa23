"""The 12 leads on ECG paper, at the physical scale of an electrocardiograph.

One pyqtgraph view holds the whole sheet, in physical units: x in seconds of paper, y in
millivolts. Its aspect is locked to ``speed / gain`` and its scale to the screen's logical
DPI, so 1 s is ``speed`` mm and 1 mV is ``gain`` mm on screen at "actual size", the 1 mm
squares stay square when zooming, and zoom and pan act on every lead at once. The grid is
drawn at 1 mm (minor) and 5 mm (major): every ``1/speed`` s and ``1/gain`` mV.

Each lead cell is a :class:`LeadCell`: an ``ItemGroup`` translated to its row's baseline,
holding the trace, the lead label, the zero-padding shading and an optional overlay image
(:meth:`LeadGrid.set_overlay`, e.g. a SHAP saliency map) drawn behind the trace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QLabel, QVBoxLayout, QWidget

from ecgviewer.display_filters import DisplayFilterSettings, apply_display_filters
from ecgviewer.errors import PreprocessError
from ecgviewer.exam import Exam
from ecgviewer.leads import LEADS
from ecgviewer.preprocess import PreprocessReport, complete_leads
from ecgviewer.viewer.view import GAINS, LAYOUT_NAMES, LAYOUTS, SPEEDS  # noqa: F401 - re-exported

PAGE_SECONDS = 10.0
"""Seconds of signal on a 3×4 or 6×2 page (the rhythm strip and 12×1 show the whole recording)."""
ROW_PITCH_MV: dict[str, float] = {"3x4": 3.0, "6x2": 2.5, "12x1": 2.0}
"""Distance between the baselines of two rows, in mV (30, 25 and 20 mm at 10 mm/mV)."""
CAL_WIDTH_S = 0.4
"""Paper reserved at the start of each row for the 1 mV calibration pulse (0.2 s wide)."""
RIGHT_MARGIN_S = 0.2
BASELINE_FRACTION = 0.55
"""Baseline position from the top of a row (QRS complexes are mostly upright)."""

COLUMNS: dict[str, tuple[tuple[str, ...], ...]] = {
    "3x4": (("I", "II", "III"), ("aVR", "aVL", "aVF"), ("V1", "V2", "V3"), ("V4", "V5", "V6")),
    "6x2": (("I", "II", "III", "aVR", "aVL", "aVF"), ("V1", "V2", "V3", "V4", "V5", "V6")),
    "12x1": (LEADS,),
}

PAPER_BACKGROUND = QColor("#fff8f6")
MINOR_LINE = QColor("#f6c9c4")
MAJOR_LINE = QColor("#e4867c")
TRACE = QColor("#000000")
DESK = QColor("#d9d9d9")
CALIPER = QColor("#1151c4")
PADDING = QColor(110, 110, 120, 60)
FIDUCIAL_COLORS: dict[str, QColor] = {
    "p_onset_s": QColor("#2e7d32"),
    "qrs_onset_s": QColor("#1565c0"),
    "qrs_offset_s": QColor("#1565c0"),
    "t_offset_s": QColor("#8e24aa"),
}
"""Marker colour of each fiducial (P onset green, QRS onset/offset blue, T offset purple)."""
FIDUCIAL_NAMES: dict[str, str] = {
    "p_onset_s": "P onset",
    "qrs_onset_s": "QRS onset",
    "qrs_offset_s": "QRS offset",
    "t_offset_s": "T offset",
}


# --------------------------------------------------------------------------- layout (no Qt)


@dataclass(frozen=True)
class CellSpec:
    """Where one lead sits on the paper.

    Exam time ``t`` (s) of this cell is drawn at paper x ``x0 + t - t0``; the row's zero
    line is at paper y ``baseline`` (mV); the row is ``height`` mV tall.
    """

    lead: str
    row: int
    col: int
    t0: float
    t1: float
    x0: float
    baseline: float
    height: float
    rhythm: bool = False

    @property
    def x1(self) -> float:
        return self.x0 + (self.t1 - self.t0)

    @property
    def top(self) -> float:
        return self.baseline + self.height * BASELINE_FRACTION

    @property
    def bottom(self) -> float:
        return self.baseline - self.height * (1 - BASELINE_FRACTION)

    def contains(self, x: float, y: float) -> bool:
        return self.x0 <= x <= self.x1 and self.bottom <= y <= self.top


@dataclass(frozen=True)
class PaperLayout:
    """All cells of a layout and the paper's extent (x in s from 0, y in mV from 0 downwards)."""

    name: str
    cells: tuple[CellSpec, ...]
    rows: int
    cols: int
    width_s: float
    height_mv: float

    @property
    def rect(self) -> QRectF:
        return QRectF(0.0, -self.height_mv, self.width_s, self.height_mv)

    def cell(self, lead: str, rhythm: bool = False) -> CellSpec | None:
        for c in self.cells:
            if c.lead == lead and c.rhythm == rhythm:
                return c
        return None


def compute_layout(
    name: str,
    t_start: float,
    t_end: float,
    *,
    rhythm_lead: str = "II",
    page_start: float | None = None,
    page_seconds: float | None = PAGE_SECONDS,
) -> PaperLayout:
    """Place the 12 leads for a layout.

    Args:
        name: "3x4" (plus a full-length rhythm strip of ``rhythm_lead``), "6x2" or "12x1".
        t_start, t_end: the exam time span that holds samples (s).
        page_start: first second of a 3×4 / 6×2 page (default ``t_start``).
        page_seconds: length of a 3×4 / 6×2 page (None: the whole span).
    """
    if name not in COLUMNS:
        raise ValueError(f"unknown layout {name!r}; one of {', '.join(LAYOUTS)}")
    span = max(t_end - t_start, 1e-3)
    columns = COLUMNS[name]
    pitch = ROW_PITCH_MV[name]
    n_rows = len(columns[0])
    cells: list[CellSpec] = []
    if name == "12x1":
        page0, page_len = t_start, span
    else:
        page0 = t_start if page_start is None else min(max(page_start, t_start), t_end)
        page_len = min(span, t_end - page0) if page_seconds is None else min(page_seconds, t_end - page0)
        page_len = max(page_len, 1e-3)
    col_w = page_len / len(columns)
    for c, leads in enumerate(columns):
        for r, lead in enumerate(leads):
            cells.append(
                CellSpec(
                    lead,
                    r,
                    c,
                    page0 + c * col_w,
                    page0 + (c + 1) * col_w,
                    CAL_WIDTH_S + c * col_w,
                    -(r + BASELINE_FRACTION) * pitch,
                    pitch,
                )
            )
    content = page_len
    rows = n_rows
    if name == "3x4":
        lead = rhythm_lead if rhythm_lead in LEADS else "II"
        cells.append(
            CellSpec(
                lead,
                n_rows,
                0,
                t_start,
                t_start + span,
                CAL_WIDTH_S,
                -(n_rows + BASELINE_FRACTION) * pitch,
                pitch,
                rhythm=True,
            )
        )
        content = max(content, span)
        rows += 1
    width = CAL_WIDTH_S + content + RIGHT_MARGIN_S
    return PaperLayout(name, tuple(cells), rows, len(columns), width, rows * pitch)


@dataclass(frozen=True)
class Measurement:
    """A caliper reading on one lead: times in exam seconds, amplitudes in mV."""

    lead: str
    t_a: float
    t_b: float
    mv_a: float
    mv_b: float

    @property
    def dt_ms(self) -> float:
        return abs(self.t_b - self.t_a) * 1000.0

    @property
    def dmv(self) -> float:
        return self.mv_b - self.mv_a

    @property
    def bpm(self) -> float | None:
        return 60_000.0 / self.dt_ms if self.dt_ms > 0 else None

    def text(self) -> str:
        rate = f"  ({self.bpm:.0f} bpm)" if self.bpm is not None and self.dt_ms >= 150 else ""
        return f"{self.lead}: Δt {self.dt_ms:.0f} ms{rate}\nΔ {self.dmv:+.2f} mV"


# --------------------------------------------------------------------------- graphics items


class EcgPaper(pg.GraphicsObject):
    """ECG paper: background and 1 mm / 5 mm lines, drawn only where visible."""

    def __init__(self) -> None:
        super().__init__()
        self._rect = QRectF(0, -1, 1, 1)
        self.minor_dx = 0.04
        self.minor_dy = 0.1
        self.setZValue(-100)

    def set_paper(self, rect: QRectF, minor_dx: float, minor_dy: float) -> None:
        self.prepareGeometryChange()
        self._rect = QRectF(rect)
        self.minor_dx, self.minor_dy = minor_dx, minor_dy
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return QRectF(self._rect)

    def paint(self, painter: QPainter, *args: object) -> None:
        vb = self.getViewBox()
        if vb is None or vb.width() <= 0:
            return
        visible = self._rect.intersected(vb.viewRect())
        if visible.isEmpty():
            return
        painter.fillRect(visible, PAPER_BACKGROUND)
        px_x = vb.width() / max(vb.viewRect().width(), 1e-12)
        px_y = vb.height() / max(vb.viewRect().height(), 1e-12)
        for minor, scale, vertical in ((self.minor_dx, px_x, True), (self.minor_dy, px_y, False)):
            step_px = minor * scale
            if step_px * 5 < 3:
                continue
            lo, hi = (visible.left(), visible.right()) if vertical else (visible.top(), visible.bottom())
            k0, k1 = math.ceil(lo / minor - 1e-9), math.floor(hi / minor + 1e-9)
            lines_minor, lines_major = [], []
            for k in range(k0, k1 + 1):
                v = k * minor
                if vertical:
                    line = (QPointF(v, visible.top()), QPointF(v, visible.bottom()))
                else:
                    line = (QPointF(visible.left(), v), QPointF(visible.right(), v))
                if k % 5 == 0:
                    lines_major.append(line)
                elif step_px >= 3:
                    lines_minor.append(line)
            for lines, color, width in ((lines_minor, MINOR_LINE, 1.0), (lines_major, MAJOR_LINE, 1.0)):
                if not lines:
                    continue
                pen = QPen(color)
                pen.setCosmetic(True)
                pen.setWidthF(width)
                painter.setPen(pen)
                for a, b in lines:
                    painter.drawLine(a, b)
        # the paper's edge
        pen = QPen(MAJOR_LINE)
        pen.setCosmetic(True)
        pen.setWidthF(1.5)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(self._rect)


class PaperViewBox(pg.ViewBox):
    """A ViewBox whose left drag draws a caliper in caliper mode (or with Shift), else pans."""

    def __init__(self, grid: LeadGrid) -> None:
        super().__init__(enableMenu=False, defaultPadding=0.0)
        self._grid = grid

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 - Qt API
        shift = bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if ev.button() == Qt.MouseButton.LeftButton and (self._grid.caliper_mode or shift):
            ev.accept()
            start = self.mapToView(ev.buttonDownPos())
            end = self.mapToView(ev.pos())
            self._grid.drag_caliper(start, end, finished=ev.isFinish())
            return
        super().mouseDragEvent(ev, axis)

    def wheelEvent(self, ev, axis=None) -> None:  # noqa: N802 - Qt API
        """Wheel scrolls the sheet (Shift: sideways); Ctrl+wheel zooms about the pointer."""
        mods = ev.modifiers()
        if mods & Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(ev, axis)
            return
        rect = self.viewRect()
        if rect.width() <= 0 or rect.height() <= 0:
            return
        px = 48.0 * ev.delta() / 120.0
        sideways = (
            bool(mods & Qt.KeyboardModifier.ShiftModifier) or ev.orientation() == Qt.Orientation.Horizontal
        )
        if sideways:
            self.translateBy(x=-px * rect.width() / self.width())
        else:
            self.translateBy(y=px * rect.height() / self.height())
        ev.accept()
        self.sigRangeChangedManually.emit([sideways, not sideways])


@dataclass
class LeadCell:
    """The graphics of one lead on the paper (see :class:`CellSpec` for the geometry)."""

    spec: CellSpec
    group: pg.ItemGroup
    curve: pg.PlotDataItem
    label: pg.TextItem
    overlay: pg.ImageItem | None = None
    shading: list[QGraphicsRectItem] = field(default_factory=list)
    fiducials: list[pg.PlotCurveItem] = field(default_factory=list)

    @property
    def lead(self) -> str:
        return self.spec.lead


def diverging_lut(n: int = 256, max_alpha: int = 170) -> np.ndarray:
    """(n, 4) uint8 RGBA: blue (negative) → transparent (0) → red (positive)."""
    v = np.linspace(-1.0, 1.0, n)
    lut = np.zeros((n, 4), dtype=np.uint8)
    neg, pos = np.array([33, 102, 172]), np.array([198, 40, 40])
    lut[:, :3] = np.where(v[:, None] < 0, neg, pos)
    lut[:, 3] = (np.abs(v) ** 0.8 * max_alpha).astype(np.uint8)
    return lut


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
        rect = self.paper_layout.rect
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
        rect = self.paper_layout.rect
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
        self.paper.set_paper(self.paper_layout.rect, 1.0 / self._speed, 1.0 / self._gain)
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
        self.paper.set_paper(self.paper_layout.rect, 1.0 / self._speed, 1.0 / self._gain)
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
