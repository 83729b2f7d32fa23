"""ECG paper and traces: the exam page's geometry at true physical scale (gain mm/mV, speed
mm/s), the 1 mm/5 mm grid, calibration pulses and the 3×4 + rhythm-strip printout.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgviewer.display_filters import DisplayFilterSettings, apply_display_filters
from ecgviewer.errors import PreprocessError, ReportError
from ecgviewer.exam import Exam
from ecgviewer.leads import LEADS
from ecgviewer.preprocess import MODEL_SAMPLES, complete_leads
from ecgviewer.report.style import (
    BOTTOM_MM,
    CAL_PULSE_S,
    FACTS_MM,
    FOOTER_MM,
    GRID_MAJOR,
    GRID_MINOR,
    HEADER_MM,
    LAYOUT_3X4,
    MAJOR_MM,
    MARGIN_MM,
    MINOR_MM,
    MUTED,
    PAPERS,
    TOP_MM,
    TRACE,
    paper_key,
)
from ecgviewer.report.writer import Canvas

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    pass

# --------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class ExamPageGeometry:
    """Where page 1 of an exam report puts things, in mm from the top-left paper corner.

    The ECG paper (``grid_*``) spans a whole number of 5 mm squares. Traces start at
    ``trace_x0`` (after the calibration pulses) and run at ``speed_mm_s``; a trace sample
    ``v`` mV at time ``t`` s of the shown window lies at
    ``(trace_x0 + t * speed_mm_s, baselines[row] - v * gain_mm_mv)``.
    """

    paper: str
    page_w: float
    page_h: float
    grid_x: float
    grid_y: float
    grid_w: float
    grid_h: float
    trace_x0: float
    trace_w: float
    baselines: tuple[float, float, float, float]
    speed_mm_s: float
    gain_mm_mv: float
    window_s: float
    header_y: float
    footer_y: float

    @property
    def column_s(self) -> float:
        """Seconds per column of the 3×4 layout."""
        return self.window_s / 4

    def x_of(self, t_s: float) -> float:
        """mm of time ``t_s`` (s from the start of the shown window)."""
        return self.trace_x0 + t_s * self.speed_mm_s

    def y_of(self, row: int, v_mv: float) -> float:
        """mm of amplitude ``v_mv`` on printout row ``row`` (0–2 the 3×4 rows, 3 the rhythm strip)."""
        return self.baselines[row] - v_mv * self.gain_mm_mv


def exam_page_geometry(
    paper: str = "A4", speed_mm_s: float = 25.0, gain_mm_mv: float = 10.0, *, extra_header_mm: float = 0.0
) -> ExamPageGeometry:
    """Geometry of page 1 of an exam report for a paper size (A4 or Letter, landscape).

    The strip shows 10 s, or what fits at the chosen speed (5 s at 50 mm/s). ``extra_header_mm``
    makes the header taller (and the printout's rows shorter), e.g. for a cart's own statements.
    """
    key = paper_key(paper)
    if not (0 < speed_mm_s <= 200 and 0 < gain_mm_mv <= 100):
        raise ReportError(
            f"speed {speed_mm_s:g} mm/s and gain {gain_mm_mv:g} mm/mV: expected "
            "a positive speed (25 or 50 mm/s) and gain (5, 10 or 20 mm/mV)"
        )
    page_w, page_h = PAPERS[key]
    cal_w = MAJOR_MM * math.ceil((CAL_PULSE_S * speed_mm_s + 4.0) / MAJOR_MM)
    available = page_w - 2 * MARGIN_MM - cal_w
    window_s = min(10.0, 0.5 * math.floor(available / speed_mm_s / 0.5))  # whole half seconds
    if window_s <= 0:
        raise ReportError(f"{speed_mm_s:g} mm/s does not fit on {key} paper; use 25 or 50 mm/s")
    trace_w = window_s * speed_mm_s
    grid_w = MAJOR_MM * math.ceil((cal_w + trace_w) / MAJOR_MM - 1e-9)
    grid_x = round((page_w - grid_w) / 2, 1)
    grid_y = TOP_MM + HEADER_MM + max(0.0, float(extra_header_mm))
    free_h = page_h - grid_y - FACTS_MM - FOOTER_MM - BOTTOM_MM
    grid_h = MAJOR_MM * math.floor(free_h / MAJOR_MM)
    row_h = grid_h / 4
    baselines = tuple(grid_y + row_h * (i + 0.58) for i in range(4))
    return ExamPageGeometry(
        paper=key,
        page_w=page_w,
        page_h=page_h,
        grid_x=grid_x,
        grid_y=grid_y,
        grid_w=grid_w,
        grid_h=grid_h,
        trace_x0=grid_x + cal_w,
        trace_w=trace_w,
        baselines=baselines,  # type: ignore[arg-type]
        speed_mm_s=float(speed_mm_s),
        gain_mm_mv=float(gain_mm_mv),
        window_s=window_s,
        header_y=TOP_MM,
        footer_y=page_h - BOTTOM_MM - FOOTER_MM + 2.0,
    )


# --------------------------------------------------------------------------- exam helpers


def _twelve_leads(exam: Exam) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """(samples,) mV per canonical lead (derived limb leads included) and the names derived."""
    try:
        signal, derived = complete_leads(exam.signal_mv, exam.leads)
        return {name: signal[:, i] for i, name in enumerate(LEADS)}, derived
    except PreprocessError:
        return {name: exam.signal_mv[:, i] for i, name in enumerate(exam.leads)}, ()


def _file_padding(signal: np.ndarray, fs: float) -> tuple[int, int]:
    """(start, stop): the samples between runs of exact zeros in every lead at the ends of the
    record, for records of the network's fixed length (4096 samples, as the CODE tracings, which
    are zero-padded to it). Runs < 0.1 s, and other records, are kept whole."""
    n = signal.shape[0]
    if n != MODEL_SAMPLES:
        return 0, n
    active = np.flatnonzero(np.any(signal != 0, axis=1))
    if active.size == 0:
        return 0, n
    start, stop = int(active[0]), int(active[-1]) + 1
    min_run = int(0.1 * fs)
    return (start if start >= min_run else 0), (stop if n - stop >= min_run else n)


def display_window(exam: Exam, prediction: Any | None, window_s: float) -> float:
    """Start (s) of the shown window: the centre of what the network saw, within the record."""
    duration = exam.duration_s
    if duration <= window_s + 1e-9:
        return 0.0
    report = getattr(prediction, "report", None)
    if report is not None:
        seen_start = max(0.0, report.offset_s)
        seen_end = min(duration, report.offset_s + report.output_samples / report.output_fs)
        centre = (seen_start + seen_end) / 2
    else:
        centre = duration / 2
    return float(np.clip(centre - window_s / 2, 0.0, duration - window_s))


# --------------------------------------------------------------------------- page 1


def _draw_paper(c: Canvas, g: ExamPageGeometry) -> None:
    """ECG paper: 1 mm minor and 5 mm major lines over the grid rectangle."""
    nx = round(g.grid_w / MINOR_MM)
    ny = round(g.grid_h / MINOR_MM)
    minor: list[tuple[float, float, float, float]] = []
    major: list[tuple[float, float, float, float]] = []
    for i in range(nx + 1):
        x = g.grid_x + i * MINOR_MM
        (major if i % 5 == 0 else minor).append((x, g.grid_y, x, g.grid_y + g.grid_h))
    for j in range(ny + 1):
        y = g.grid_y + j * MINOR_MM
        (major if j % 5 == 0 else minor).append((g.grid_x, y, g.grid_x + g.grid_w, y))
    c.pen(GRID_MINOR, 0.08)
    c.lines(minor)
    c.pen(GRID_MAJOR, 0.2)
    c.lines(major)


def _draw_cal_pulse(c: Canvas, g: ExamPageGeometry, row: int) -> None:
    base = g.baselines[row]
    x0 = g.grid_x + 1.0
    pw = CAL_PULSE_S * g.speed_mm_s
    top = base - g.gain_mm_mv  # 1 mV
    xs = np.array([x0, x0 + 1.5, x0 + 1.5, x0 + 1.5 + pw, x0 + 1.5 + pw, g.trace_x0 - 0.6])
    ys = np.array([base, base, top, top, base, base])
    c.pen(TRACE, 0.25)
    c.polyline(xs, ys)


def _draw_trace(
    c: Canvas,
    g: ExamPageGeometry,
    row: int,
    values: np.ndarray,
    fs: float,
    t0_s: float,
    x_from_s: float,
    x_to_s: float,
) -> None:
    """Draw ``values`` (mV) between window times ``x_from_s``..``x_to_s`` on ``row``."""
    n = values.shape[0]
    i0 = max(0, math.floor((t0_s + x_from_s) * fs))
    i1 = min(n, math.ceil((t0_s + x_to_s) * fs) + 1)
    if i1 - i0 < 2:
        return
    t = np.arange(i0, i1) / fs - t0_s
    keep = (t >= x_from_s - 1e-9) & (t <= x_to_s + 1e-9)
    t, v = t[keep], values[i0:i1][keep]
    c.polyline(g.trace_x0 + t * g.speed_mm_s, g.baselines[row] - v.astype(np.float64) * g.gain_mm_mv)


def _filter_text(display_filters: DisplayFilterSettings | None) -> str:
    if display_filters is None or display_filters.is_off:
        return "signal as recorded (no display filter)"
    return f"display filter {display_filters.describe()}"


def draw_printout(
    c: Canvas,
    g: ExamPageGeometry,
    exam: Exam,
    t0_s: float,
    rhythm_lead: str,
    display_filters: DisplayFilterSettings | None = None,
) -> None:
    """The 3×4 + rhythm printout of ``exam`` from ``t0_s``; ``display_filters`` (None: as recorded)
    filters the drawn traces only, and is named under the paper ("0.05–150 Hz, 50 Hz notch")."""
    pad_start, pad_stop = _file_padding(exam.signal_mv, exam.fs)
    if display_filters is not None and not display_filters.is_off and pad_stop - pad_start > 16:
        # filter the recorded stretch only: a filter run into a file's zero padding rings at the edge
        filtered = exam.signal_mv.copy()
        filtered[pad_start:pad_stop] = apply_display_filters(
            exam.signal_mv[pad_start:pad_stop], exam.fs, display_filters
        )
        exam = dataclasses.replace(exam, signal_mv=filtered)
    leads, derived = _twelve_leads(exam)
    if pad_start or pad_stop < exam.n_samples:  # zero padding is not a flat line: leave it blank
        for name in leads:
            v = leads[name].astype(np.float32, copy=True)
            v[:pad_start] = np.nan
            v[pad_stop:] = np.nan
            leads[name] = v
    _draw_paper(c, g)
    for row in range(4):
        _draw_cal_pulse(c, g, row)
    col_s = g.column_s
    label_font = 9.0
    with c.clip(g.grid_x, g.grid_y, g.grid_w, g.grid_h):
        c.pen(TRACE, 0.22)
        for row, names in enumerate(LAYOUT_3X4):
            for col, name in enumerate(names):
                if name in leads:
                    c.pen(TRACE, 0.22)
                    _draw_trace(c, g, row, leads[name], exam.fs, t0_s, col * col_s, (col + 1) * col_s)
        if rhythm_lead in leads:
            c.pen(TRACE, 0.22)
            _draw_trace(c, g, 3, leads[rhythm_lead], exam.fs, t0_s, 0.0, g.window_s)
    # lead change markers and labels
    c.pen(TRACE, 0.3)
    for row, names in enumerate(LAYOUT_3X4):
        base = g.baselines[row]
        for col, name in enumerate(names):
            x = g.trace_x0 + col * col_s * g.speed_mm_s
            if col:
                c.line(x, base - 2.5, x, base + 2.5)
            label = name + ("*" if name in derived else "")
            if name not in leads:
                label += " (missing)"
            c.text(
                x + 1.2,
                base - 0.55 * g.gain_mm_mv - 3.0 if g.gain_mm_mv < 12 else base - 9.0,
                label,
                size=label_font,
                bold=True,
            )
    base = g.baselines[3]
    rl = rhythm_lead + ("*" if rhythm_lead in derived else "")
    if rhythm_lead not in leads:
        rl += " (missing)"
    c.text(
        g.trace_x0 + 1.2,
        base - 0.55 * g.gain_mm_mv - 3.0 if g.gain_mm_mv < 12 else base - 9.0,
        rl,
        size=label_font,
        bold=True,
    )
    # strip facts under the paper
    y = g.grid_y + g.grid_h + 3.4
    shown_end = min(t0_s + g.window_s, exam.duration_s)
    facts = (
        f"{g.speed_mm_s:g} mm/s   {g.gain_mm_mv:g} mm/mV   calibration 1 mV   "
        f"{_filter_text(display_filters)}   shown {t0_s:.2f}–{shown_end:.2f} s of "
        f"{exam.duration_s:.2f} s at {exam.fs:g} Hz"
    )
    if derived:
        facts += "   * derived from I and II"
    if pad_start or pad_stop < exam.n_samples:
        facts += (
            f"   zero padding of the file not drawn ({pad_start / exam.fs:.2f} s before, "
            f"{(exam.n_samples - pad_stop) / exam.fs:.2f} s after)"
        )
    c.text(g.grid_x, y, facts, size=6.8, rgb=MUTED, max_w=g.grid_w)
