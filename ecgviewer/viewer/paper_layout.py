"""Where each lead sits on the ECG sheet, and caliper readings, in paper units (no Qt).

The sheet is laid out in physical units: x in seconds of paper, y in millivolts (0 at the top,
negative downwards). :func:`compute_layout` places the 12 leads for the 3×4 (+ rhythm strip),
6×2 and 12×1 layouts as :class:`CellSpec` s: exam time ``t`` of a cell is drawn at paper
``x0 + t - t0`` and its zero line at ``baseline``. Each row starts with room for the 1 mV
calibration pulse. :class:`Measurement` is what a caliper reads (Δt, ΔmV, rate).

The Qt lead grid (:mod:`ecgviewer.ui.leadgrid`) draws these cells; nothing here needs Qt.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecgviewer.leads import LEADS
from ecgviewer.viewer.view import LAYOUTS

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
    def extent(self) -> tuple[float, float, float, float]:
        """(left, top, width, height) of the sheet in (s, mV), top = -height_mv (a QRectF's args)."""
        return (0.0, -self.height_mv, self.width_s, self.height_mv)

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
