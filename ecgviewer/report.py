"""PDF reports of one exam (a 12-lead printout on ECG paper) and of a set of exams.

Drawn with Qt's :class:`~PySide6.QtGui.QPdfWriter` and :class:`~PySide6.QtGui.QPainter`
only (no widgets), so it runs headless (``QT_QPA_PLATFORM=offscreen``) from the CLI and
from a worker thread of the viewer. The output is vector graphics with selectable text
and embedded fonts.

Exam report (:func:`write_exam_report`):

* page 1 — header (exam id, source, age/sex, acquisition, the preprocessing applied), the
  six findings with probability, threshold and decision, the labels of each attached
  :class:`~ecgviewer.labels.LabelSet`, and the 12-lead printout on ECG paper at true
  physical scale (1 mm minor and 5 mm major squares; 3×4 leads plus a rhythm strip; a
  1 mV calibration pulse per row);
* page 2 (and on) — SHAP saliency of one class per page: the network's input with a
  diverging heatmap (red pushes the probability up, blue down, white is zero) and the
  lead importance bars.

Set report (:func:`write_set_report`): a summary (counts per finding, statistics against
the reference labels when there are any) and one table row per exam; optionally the
12-lead page of every exam.

Every page carries a footer with the model (name, version, provenance), the software
version, the date of the report and the model's notice ("Not a medical device").

Files are written atomically: into a temporary file in the destination folder, then
renamed over the destination with :func:`os.replace`; a failure leaves no partial file.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgviewer import __version__
from ecgviewer.classes import CLASS_NAMES, CLASSES
from ecgviewer.errors import Cancelled, EcgViewerError, PreprocessError, ReportError
from ecgviewer.exam import Exam, ExamHeader
from ecgviewer.labels import reference_of
from ecgviewer.leads import LEADS, canonical_lead_name
from ecgviewer.metrics import binary_scores, cohen_kappa
from ecgviewer.model.contract import ModelContract
from ecgviewer.preprocess import MODEL_SAMPLES, complete_leads

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from ecgviewer.labels import LabelSet
    from ecgviewer.model.runtime import EcgModel, Prediction

__all__ = [
    "LAYOUT_3X4",
    "PAPERS",
    "ExamPageGeometry",
    "exam_page_geometry",
    "format_probability",
    "shap_color",
    "write_exam_report",
    "write_set_report",
]

# --------------------------------------------------------------------------- constants

PAPERS: dict[str, tuple[float, float]] = {"a4": (297.0, 210.0), "letter": (279.4, 215.9)}
"""Landscape page sizes in mm (width, height)."""

MINOR_MM = 1.0
MAJOR_MM = 5.0
CAL_PULSE_S = 0.2
"""Width of the 1 mV calibration pulse in seconds (5 mm at 25 mm/s)."""

LAYOUT_3X4: tuple[tuple[str, ...], ...] = (
    ("I", "aVR", "V1", "V4"),
    ("II", "aVL", "V2", "V5"),
    ("III", "aVF", "V3", "V6"),
)
"""The standard 3×4 arrangement: rows of the printout, columns are consecutive quarters of the strip."""

_MARGIN_MM = 8.0
_TOP_MM = 7.0
_HEADER_MM = 45.0
_FACTS_MM = 4.5  # the line of strip facts under the paper
_FOOTER_MM = 11.0
_BOTTOM_MM = 4.0
_RES_DPI = 1200
_MM = _RES_DPI / 25.4  # device units per millimetre

_FONT_FAMILIES = ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica", "Noto Sans", "Sans Serif"]
_MONO_FAMILIES = ["DejaVu Sans Mono", "Liberation Mono", "Consolas", "Menlo", "Courier New", "Monospace"]

# ECG paper colours: classic pink-red grid, dark trace.
_GRID_MINOR = (246, 196, 196)
_GRID_MAJOR = (226, 120, 120)
_TRACE = (10, 10, 10)
_TEXT = (20, 20, 20)
_MUTED = (95, 95, 95)
_POSITIVE = (180, 20, 30)
_AGREE = (222, 240, 222)
_DISAGREE = (255, 220, 170)
_RULE = (150, 150, 150)


def format_probability(p: float) -> str:
    """A probability as the viewer and the report show it: three decimals (``0.873``)."""
    return "n/a" if p is None or not np.isfinite(p) else f"{float(p):.3f}"


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


def _paper_key(paper: str) -> str:
    key = str(paper).strip().lower().replace(" ", "").replace("us", "")
    if key not in PAPERS:
        raise ReportError(f"unknown paper size {paper!r}: use A4 or Letter")
    return key


def exam_page_geometry(
    paper: str = "A4", speed_mm_s: float = 25.0, gain_mm_mv: float = 10.0
) -> ExamPageGeometry:
    """Geometry of page 1 of an exam report for a paper size (A4 or Letter, landscape).

    The strip shows 10 s, or what fits at the chosen speed (5 s at 50 mm/s).
    """
    key = _paper_key(paper)
    if not (0 < speed_mm_s <= 200 and 0 < gain_mm_mv <= 100):
        raise ReportError(
            f"speed {speed_mm_s:g} mm/s and gain {gain_mm_mv:g} mm/mV: expected "
            "a positive speed (25 or 50 mm/s) and gain (5, 10 or 20 mm/mV)"
        )
    page_w, page_h = PAPERS[key]
    cal_w = MAJOR_MM * math.ceil((CAL_PULSE_S * speed_mm_s + 4.0) / MAJOR_MM)
    available = page_w - 2 * _MARGIN_MM - cal_w
    window_s = min(10.0, 0.5 * math.floor(available / speed_mm_s / 0.5))  # whole half seconds
    if window_s <= 0:
        raise ReportError(f"{speed_mm_s:g} mm/s does not fit on {key} paper; use 25 or 50 mm/s")
    trace_w = window_s * speed_mm_s
    grid_w = MAJOR_MM * math.ceil((cal_w + trace_w) / MAJOR_MM - 1e-9)
    grid_x = round((page_w - grid_w) / 2, 1)
    grid_y = _TOP_MM + _HEADER_MM
    free_h = page_h - grid_y - _FACTS_MM - _FOOTER_MM - _BOTTOM_MM
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
        header_y=_TOP_MM,
        footer_y=page_h - _BOTTOM_MM - _FOOTER_MM + 2.0,
    )


# --------------------------------------------------------------------------- colour map

# ColorBrewer RdBu (diverging), blue for negative, white at zero, red for positive.
_RDBU = np.array(
    [
        (33, 102, 172),
        (67, 147, 195),
        (146, 197, 222),
        (209, 229, 240),
        (247, 247, 247),
        (253, 219, 199),
        (244, 165, 130),
        (214, 96, 77),
        (178, 24, 43),
    ],
    dtype=np.float64,
)


def shap_color(value: float, vmax: float) -> tuple[int, int, int]:
    """RGB of a SHAP value on the diverging map centred at zero (``±vmax`` saturate)."""
    if not vmax or not np.isfinite(value):
        return (247, 247, 247)
    u = float(np.clip(value / vmax, -1.0, 1.0))
    pos = (u + 1) / 2 * (len(_RDBU) - 1)
    i = min(int(pos), len(_RDBU) - 2)
    f = pos - i
    c = _RDBU[i] * (1 - f) + _RDBU[i + 1] * f
    r, g, b = (int(v + 0.5) for v in c)
    return (r, g, b)


# --------------------------------------------------------------------------- Qt plumbing

_QT_LOCK = threading.Lock()


def _ensure_gui_app() -> None:
    """Create a QGuiApplication (offscreen where there is no display) if none exists."""
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtGui import QGuiApplication

    with _QT_LOCK:
        app = QCoreApplication.instance()
        if app is None:
            if (
                sys.platform.startswith("linux")
                and not os.environ.get("QT_QPA_PLATFORM")
                and not os.environ.get("DISPLAY")
                and not os.environ.get("WAYLAND_DISPLAY")
            ):
                os.environ["QT_QPA_PLATFORM"] = "offscreen"
            global _APP
            _APP = QGuiApplication(["ecgviewer-report"])
        elif not isinstance(app, QGuiApplication):
            raise ReportError(
                "a Qt QCoreApplication without GUI support is running; PDF reports need "
                "QGuiApplication (fonts) — create QGuiApplication/QApplication instead"
            )


_APP: Any = None


# PySide6 6.12.0 on CPython < 3.12 (its cp310-abi3 wheel) drops one reference to None on every
# call of a C++ method returning void (QPainter.setPen, fillRect, drawLine, QPen.setWidthF, ...):
# after a few thousand calls CPython aborts with "Fatal Python error: none_dealloc", and a report
# makes tens of thousands of such calls. pyproject.toml excludes that release; where it is
# installed anyway (detected by a probe, once), the reference counts of None, True and False
# (never freed) are raised far beyond what a session can consume — what Python 3.12 achieves by
# making them immortal. The viewer does the same in ecgviewer/ui/_compat.py.
_SINGLETONS_GUARDED: bool | None = None


def _guard_singletons() -> bool:
    """Probe for the leak and apply the guard; True when applied (idempotent)."""
    global _SINGLETONS_GUARDED
    if _SINGLETONS_GUARDED is None:
        _SINGLETONS_GUARDED = False
        if (
            sys.version_info < (3, 12)
            and sys.implementation.name == "cpython"
            and not hasattr(sys, "gettotalrefcount")
        ):
            import ctypes

            from PySide6.QtGui import QColor

            colour = QColor(0, 0, 0)
            before = sys.getrefcount(None)
            for _ in range(64):
                colour.setRgb(0, 0, 0)
            lost = before - sys.getrefcount(None)
            if lost >= 32:
                for obj in (None, True, False):
                    ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40
                _SINGLETONS_GUARDED = True
    return _SINGLETONS_GUARDED


_VOIDPTR: Any = None


def _polygon(xs: np.ndarray, ys: np.ndarray, QPolygonF: Any, QPointF: Any) -> Any:
    """A QPolygonF of the points (xs, ys), filled through its memory (as pyqtgraph does) when the
    bindings allow it: about 1000× faster than a list of QPointF for the 5,000-point traces."""
    global _VOIDPTR
    n = int(xs.shape[0])
    try:
        if _VOIDPTR is None:
            import shiboken6

            _VOIDPTR = shiboken6.VoidPtr
        poly = QPolygonF()
        poly.resize(n)
        buf = np.frombuffer(_VOIDPTR(poly.data(), n * 16, True), dtype=np.float64).reshape(n, 2)
        buf[:, 0] = xs
        buf[:, 1] = ys
        return poly
    except Exception:  # other bindings: the slow, portable way
        return QPolygonF([QPointF(x, y) for x, y in zip(xs.tolist(), ys.tolist(), strict=True)])


class _Canvas:
    """A QPainter on a QPdfWriter, addressed in millimetres (floats) from the paper corner."""

    def __init__(self, writer: Any, painter: Any) -> None:
        # imported once here: a PySide6 import inside a method costs ~1 ms (shiboken's import hook)
        from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
        from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPen, QPolygonF

        self._QColor, self._QFont, self._QFontMetricsF, self._QPen = QColor, QFont, QFontMetricsF, QPen
        self._QLineF, self._QPointF, self._QRectF, self._QPolygonF = QLineF, QPointF, QRectF, QPolygonF
        self._flat_cap, self._round_join = Qt.PenCapStyle.FlatCap, Qt.PenJoinStyle.RoundJoin
        self._dash, self._no_brush = Qt.PenStyle.DashLine, Qt.BrushStyle.NoBrush
        self._elide_modes = {
            "right": Qt.TextElideMode.ElideRight,
            "middle": Qt.TextElideMode.ElideMiddle,
            "left": Qt.TextElideMode.ElideLeft,
        }
        self.writer = writer
        self.p = painter
        self._fonts: dict[tuple, Any] = {}

    # -- style
    def pen(self, rgb: tuple[int, int, int] = _TEXT, width_mm: float = 0.2, *, dash: bool = False) -> None:
        pen = self._QPen(self._QColor(*rgb))
        pen.setWidthF(max(width_mm, 0.01) * _MM)
        pen.setCapStyle(self._flat_cap)
        pen.setJoinStyle(self._round_join)
        if dash:
            pen.setStyle(self._dash)
        self.p.setPen(pen)

    def font(
        self, size_pt: float = 7.5, *, bold: bool = False, mono: bool = False, italic: bool = False
    ) -> Any:
        key = (size_pt, bold, mono, italic)
        font = self._fonts.get(key)
        if font is None:
            font = self._QFont()
            font.setFamilies(_MONO_FAMILIES if mono else _FONT_FAMILIES)
            font.setPointSizeF(size_pt)
            font.setBold(bold)
            font.setItalic(italic)
            font.setKerning(True)
            if hasattr(font, "setFeature"):  # Qt ≥ 6.7: no "ﬁ" ligatures, so copied text reads "fi"
                font.setFeature(self._QFont.Tag("liga"), 0)
            self._fonts[key] = font
        self.p.setFont(font)
        return font

    def text_width(self, text: str) -> float:
        """Width in mm of ``text`` in the current font."""
        return self._QFontMetricsF(self.p.font(), self.writer).horizontalAdvance(text) / _MM

    def line_height(self) -> float:
        return self._QFontMetricsF(self.p.font(), self.writer).lineSpacing() / _MM

    def elide(self, text: str, width_mm: float, mode: str = "right") -> str:
        return self._QFontMetricsF(self.p.font(), self.writer).elidedText(
            text, self._elide_modes[mode], width_mm * _MM
        )

    # -- drawing
    def line(self, x1: float, y1: float, x2: float, y2: float) -> None:
        self.p.drawLine(self._QLineF(x1 * _MM, y1 * _MM, x2 * _MM, y2 * _MM))

    def lines(self, segments: Sequence[tuple[float, float, float, float]]) -> None:
        self.p.drawLines([self._QLineF(a * _MM, b * _MM, c * _MM, d * _MM) for a, b, c, d in segments])

    def fill(self, x: float, y: float, w: float, h: float, rgb: tuple[int, int, int]) -> None:
        self.p.fillRect(self._QRectF(x * _MM, y * _MM, w * _MM, h * _MM), self._QColor(*rgb))

    def rect(self, x: float, y: float, w: float, h: float) -> None:
        self.p.setBrush(self._no_brush)
        self.p.drawRect(self._QRectF(x * _MM, y * _MM, w * _MM, h * _MM))

    def polyline(self, xs: np.ndarray, ys: np.ndarray) -> None:
        """Draw a polyline through (xs, ys) mm, broken where values are not finite."""
        xs = np.asarray(xs, dtype=np.float64) * _MM
        ys = np.asarray(ys, dtype=np.float64) * _MM
        ok = np.isfinite(xs) & np.isfinite(ys)
        if not ok.any():
            return
        # split into runs of finite points
        edges = np.flatnonzero(np.diff(np.concatenate(([0], ok.astype(np.int8), [0]))))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            if stop - start < 2:
                continue
            self.p.drawPolyline(_polygon(xs[start:stop], ys[start:stop], self._QPolygonF, self._QPointF))

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        size: float = 7.5,
        bold: bool = False,
        rgb: tuple[int, int, int] = _TEXT,
        align: str = "left",
        mono: bool = False,
        italic: bool = False,
        max_w: float | None = None,
        elide: str = "right",
    ) -> float:
        """Draw one line with its baseline at ``y`` mm; returns the drawn width in mm."""
        self.font(size, bold=bold, mono=mono, italic=italic)
        if max_w is not None:
            text = self.elide(text, max_w, elide)
        w = self.text_width(text)
        if align == "right":
            x -= w
        elif align == "center":
            x -= w / 2
        self.pen(rgb)
        self.p.drawText(self._QPointF(x * _MM, y * _MM), text)
        return w

    def wrap(
        self,
        x: float,
        y: float,
        w: float,
        text: str,
        *,
        size: float = 7.0,
        bold: bool = False,
        rgb: tuple[int, int, int] = _TEXT,
        max_lines: int | None = None,
        indent: float = 0.0,
    ) -> float:
        """Word-wrap ``text`` into width ``w`` mm from baseline ``y``; returns the next baseline."""
        self.font(size, bold=bold)
        lh = self.line_height()
        words = text.split(" ")
        lines: list[str] = []
        current = ""
        for word in words:
            trial = f"{current} {word}" if current else word
            width = w - (indent if lines else 0.0)
            if self.text_width(trial) <= width or not current:
                current = trial
            else:
                lines.append(current)
                current = word
        if current:
            lines.append(current)
        if max_lines is not None and len(lines) > max_lines:
            lines = lines[:max_lines]
            lines[-1] = self.elide(lines[-1] + " …", w)
        for i, line in enumerate(lines):
            self.text(x + (indent if i else 0.0), y, line, size=size, bold=bold, rgb=rgb)
            y += lh
        return y

    def _push_clip(self, x: float, y: float, w: float, h: float) -> None:
        self.p.save()
        self.p.setClipRect(self._QRectF(x * _MM, y * _MM, w * _MM, h * _MM))

    def _pop_clip(self) -> None:
        self.p.restore()

    def new_page(self) -> None:
        self.writer.newPage()

    @contextmanager
    def clip(self, x: float, y: float, w: float, h: float) -> Iterator[None]:
        self._push_clip(x, y, w, h)
        try:
            yield
        finally:
            self._pop_clip()


# --------------------------------------------------------------------------- writing


@contextmanager
def _pdf(out: Path, paper: str, title: str) -> Iterator[_Canvas]:
    """Open a PDF for painting, atomically: a temp file beside ``out``, renamed on success."""
    from PySide6.QtCore import QMarginsF
    from PySide6.QtGui import QPageLayout, QPageSize, QPainter, QPdfWriter

    key = _paper_key(paper)
    out = Path(out)
    folder = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise ReportError(f"{out}: is a folder; give a file name ending in .pdf")
    if not folder.is_dir():
        raise ReportError(f"{out}: the folder {folder} does not exist; create it first")
    _ensure_gui_app()
    _guard_singletons()
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".pdf.tmp", dir=folder)
    except OSError as err:
        raise ReportError(
            f"{out}: cannot write in {folder} ({err.strerror or err}); choose a folder you can write to"
        ) from None
    os.close(fd)
    tmp = Path(tmp_name)
    painter = None

    def start() -> tuple[Any, Any]:
        writer = QPdfWriter(str(tmp))
        writer.setResolution(_RES_DPI)
        size = QPageSize(QPageSize.PageSizeId.A4 if key == "a4" else QPageSize.PageSizeId.Letter)
        writer.setPageLayout(
            QPageLayout(
                size, QPageLayout.Orientation.Landscape, QMarginsF(0, 0, 0, 0), QPageLayout.Unit.Millimeter
            )
        )
        writer.setTitle(title)
        writer.setCreator(f"ecgviewer {__version__}")
        painter = QPainter()
        if not painter.begin(writer):
            return writer, None
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        return writer, painter

    try:
        writer, painter = start()
        if painter is None:
            raise ReportError(f"{out}: Qt could not start the PDF in {folder} (disk full or not writable?)")
        canvas = _Canvas(writer, painter)
        yield canvas
        ok = painter.end()
        painter = None
        if not ok or tmp.stat().st_size < 100:
            raise ReportError(f"{out}: Qt could not finish the PDF (disk full?)")
        with tmp.open("rb") as fh:
            if fh.read(5) != b"%PDF-":
                raise ReportError(f"{out}: the written file is not a PDF")
        try:
            os.replace(tmp, out)
        except OSError as err:
            raise ReportError(
                f"{out}: cannot replace the file ({err.strerror or err}); is it open in "
                "another program or read-only?"
            ) from None
    except BaseException as err:
        if painter is not None and painter.isActive():
            painter.end()
        with suppress(OSError):
            tmp.unlink()
        if isinstance(err, (EcgViewerError, KeyboardInterrupt, SystemExit)):
            raise
        raise ReportError(f"{out}: the report could not be written ({type(err).__name__}: {err})") from err


# --------------------------------------------------------------------------- model facts


_BUNDLED: list[ModelContract | None] = []


def _bundled_contract() -> ModelContract | None:
    """The bundled model's contract (read once), or None when it cannot be read."""
    if not _BUNDLED:
        try:
            from ecgviewer.model.runtime import bundled_model_path, read_contract

            _BUNDLED.append(read_contract(bundled_model_path())[0])
        except Exception:  # the footer falls back to what the prediction says
            _BUNDLED.append(None)
    return _BUNDLED[0]


def _contract_for(model: Any, prediction: Any | None) -> ModelContract:
    """The contract of the model that made the prediction (for the footer)."""
    if isinstance(model, ModelContract):
        return model
    contract = getattr(model, "contract", None)
    if isinstance(contract, ModelContract):
        return contract
    name = getattr(prediction, "model_name", None) or "unknown model"
    version = getattr(prediction, "model_version", None) or "unknown"
    bundled = _bundled_contract()
    if bundled is not None and bundled.name == name and bundled.version == version:
        return bundled
    return ModelContract(
        name=name,
        version=version,
        provenance="provenance not given to the report",
        notice="Not a medical device.",
    )


def _notice(contract: ModelContract) -> str:
    notice = (contract.notice or "").strip()
    if not contract.medical_device and "not a medical device" not in notice.lower():
        notice = ("Not a medical device. " + notice).strip()
    return notice


def _now() -> datetime:
    return datetime.now().astimezone()


def _date_text(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M %Z").strip()


@dataclass
class _Footer:
    contract: ModelContract
    when: datetime
    provider: str = ""

    def draw(self, c: _Canvas, page_w: float, page_h: float, page: int, pages: int) -> None:
        y = page_h - _BOTTOM_MM - _FOOTER_MM + 2.0
        c.pen(_RULE, 0.15)
        c.line(_MARGIN_MM, y, page_w - _MARGIN_MM, y)
        k = self.contract
        w = page_w - 2 * _MARGIN_MM - 22
        model = f"Model: {k.name} {k.version}"
        if self.provider:
            model += f" ({self.provider})"
        model += f" · Provenance: {k.provenance or 'not stated'}"
        c.text(_MARGIN_MM, y + 3.3, model, size=6.5, rgb=_MUTED, max_w=w)
        meta = f"ecgviewer {__version__} · Report {_date_text(self.when)}"
        notice = _notice(k)
        c.text(_MARGIN_MM, y + 6.6, meta + " · ", size=6.5, rgb=_MUTED)
        nx = _MARGIN_MM + c.text_width(meta + " · ")
        c.text(
            nx,
            y + 6.6,
            notice,
            size=6.5,
            bold=True,
            rgb=_POSITIVE if not k.medical_device else _MUTED,
            max_w=page_w - _MARGIN_MM - 22 - nx,
        )
        c.text(page_w - _MARGIN_MM, y + 3.3, f"Page {page} of {pages}", size=6.5, rgb=_MUTED, align="right")


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


def _display_window(exam: Exam, prediction: Any | None, window_s: float) -> float:
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


def _sex_text(sex: str | None) -> str:
    return {"M": "male", "F": "female"}.get(sex or "", sex or "")


def _age_sex(age: float | None, sex: str | None) -> str:
    parts = []
    if age is not None and np.isfinite(age):
        parts.append(f"{age:g} y")
    if sex:
        parts.append(_sex_text(sex))
    return ", ".join(parts) if parts else "not recorded"


def _label_cell(v: int | None) -> str:
    return {1: "yes", 0: "no"}.get(v if v is None else int(v), "?")


def _labels_for(
    labels: Sequence[LabelSet], exam_id: str | None, index: int
) -> list[tuple[LabelSet, np.ndarray]]:
    found = []
    for ls in labels:
        try:
            row = ls.for_exam(exam_id, index)
        except Exception:  # a label set that cannot match this exam is left out
            row = None
        if row is not None:
            found.append((ls, np.asarray(row)))
    return found


_ABBREVIATIONS = {
    "gold standard": "Gold std.",
    "cardiologist 1": "Cardiol. 1",
    "cardiologist 2": "Cardiol. 2",
    "cardiology residents": "Cardiol. resid.",
    "emergency residents": "Emerg. resid.",
    "medical students": "Med. students",
    "dx (header)": "Dx header",
    "dx (metadata)": "Dx metadata",
    "synthetic (generator)": "Generator",
}


def _header_lines(c: _Canvas, name: str, width: float, size: float) -> list[str]:
    """A column header in at most two lines of ``width`` mm (abbreviated when needed)."""
    c.font(size, bold=True)
    for text in (name, _ABBREVIATIONS.get(name.lower(), name)):
        if c.text_width(text) <= width:
            return [text]
        words = text.split()
        for cut in range(1, len(words)):
            a, b = " ".join(words[:cut]), " ".join(words[cut:])
            if c.text_width(a) <= width and c.text_width(b) <= width:
                return [a, b]
    return [c.elide(_ABBREVIATIONS.get(name.lower(), name), width)]


# --------------------------------------------------------------------------- page 1


def _draw_paper(c: _Canvas, g: ExamPageGeometry) -> None:
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
    c.pen(_GRID_MINOR, 0.08)
    c.lines(minor)
    c.pen(_GRID_MAJOR, 0.2)
    c.lines(major)


def _draw_cal_pulse(c: _Canvas, g: ExamPageGeometry, row: int) -> None:
    base = g.baselines[row]
    x0 = g.grid_x + 1.0
    pw = CAL_PULSE_S * g.speed_mm_s
    top = base - g.gain_mm_mv  # 1 mV
    xs = np.array([x0, x0 + 1.5, x0 + 1.5, x0 + 1.5 + pw, x0 + 1.5 + pw, g.trace_x0 - 0.6])
    ys = np.array([base, base, top, top, base, base])
    c.pen(_TRACE, 0.25)
    c.polyline(xs, ys)


def _draw_trace(
    c: _Canvas,
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


def _draw_printout(c: _Canvas, g: ExamPageGeometry, exam: Exam, t0_s: float, rhythm_lead: str) -> None:
    leads, derived = _twelve_leads(exam)
    pad_start, pad_stop = _file_padding(exam.signal_mv, exam.fs)
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
        c.pen(_TRACE, 0.22)
        for row, names in enumerate(LAYOUT_3X4):
            for col, name in enumerate(names):
                if name in leads:
                    c.pen(_TRACE, 0.22)
                    _draw_trace(c, g, row, leads[name], exam.fs, t0_s, col * col_s, (col + 1) * col_s)
        if rhythm_lead in leads:
            c.pen(_TRACE, 0.22)
            _draw_trace(c, g, 3, leads[rhythm_lead], exam.fs, t0_s, 0.0, g.window_s)
    # lead change markers and labels
    c.pen(_TRACE, 0.3)
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
        f"signal as recorded (no display filter)   shown {t0_s:.2f}–{shown_end:.2f} s of "
        f"{exam.duration_s:.2f} s at {exam.fs:g} Hz"
    )
    if derived:
        facts += "   * derived from I and II"
    if pad_start or pad_stop < exam.n_samples:
        facts += (
            f"   zero padding of the file not drawn ({pad_start / exam.fs:.2f} s before, "
            f"{(exam.n_samples - pad_stop) / exam.fs:.2f} s after)"
        )
    c.text(g.grid_x, y, facts, size=6.8, rgb=_MUTED, max_w=g.grid_w)


def _draw_exam_header(
    c: _Canvas,
    g: ExamPageGeometry,
    exam: Exam,
    prediction: Any,
    labels: Sequence[LabelSet],
    saliency: Any | None,
    t0_s: float,
    title: str | None,
) -> None:
    x0 = _MARGIN_MM
    y = g.header_y + 4.2
    left_w = 104.0
    heading = title or f"12-lead ECG — {exam.exam_id or (exam.source.name if exam.source else 'exam')}"
    c.text(x0, y, heading, size=12.0, bold=True, max_w=left_w)
    y += 5.0

    def field(name: str, value: str, *, elide: str = "right") -> None:
        nonlocal y
        c.text(x0, y, name, size=7.0, bold=True, rgb=_MUTED)
        c.text(x0 + 22, y, value, size=7.0, max_w=left_w - 22, elide=elide)
        y += 3.25

    where = f"   (exam {exam.index + 1} of its file)" if exam.index else ""
    field("Exam id", f"{exam.exam_id or '—'}{where}")
    field("Source", str(exam.source) if exam.source is not None else "in memory", elide="middle")
    field("Patient", _age_sex(exam.age, exam.sex))
    acq = f"{exam.fs:g} Hz, {exam.duration_s:.2f} s, {len(exam.leads)} leads"
    if exam.format:
        acq += f" ({exam.format})"
    if exam.recorded is not None:
        acq += f", recorded {exam.recorded:%Y-%m-%d %H:%M}"
    field("Acquisition", acq)
    report = getattr(prediction, "report", None)
    c.text(x0, y, "Network input", size=7.0, bold=True, rgb=_MUTED)
    lines = report.describe() if report is not None else ["not available"]
    yy = y
    for line in lines:
        yy = c.wrap(x0 + 22, yy, left_w - 22, line, size=6.3, rgb=_TEXT, indent=2.0)
        if yy > g.grid_y - 1.2:
            break
    # -- findings table
    _draw_findings(c, g, x0 + left_w + 4, exam, prediction, labels, saliency)


def _draw_findings(
    c: _Canvas,
    g: ExamPageGeometry,
    x0: float,
    exam: Exam,
    prediction: Any,
    labels: Sequence[LabelSet],
    saliency: Any | None,
) -> None:
    right = g.page_w - _MARGIN_MM
    y_top = g.header_y + 4.2
    classes = tuple(getattr(prediction, "classes", CLASSES))
    probs = np.asarray(prediction.probabilities, dtype=np.float64)
    thr = np.asarray(prediction.thresholds, dtype=np.float64)
    dec = np.asarray(prediction.decisions, dtype=bool)
    rows = _labels_for(labels, exam.exam_id, exam.index)
    positives = [cl for cl, d in zip(classes, dec, strict=True) if d]
    summary = (
        ("Findings of the network: " + ", ".join(positives))
        if positives
        else "Findings of the network: none of the six above threshold"
    )
    c.text(x0, y_top, summary, size=9.0, bold=True, rgb=_POSITIVE if positives else _TEXT, max_w=right - x0)
    # columns: fixed part, then one column per label source; the probability bar and then the
    # full names give way when many label sources are attached
    label_w = 11.0
    c.font(7.2)
    name_w = max(c.text_width(CLASS_NAMES.get(cl, cl)) for cl in classes) + 2.0
    with_bar = right - x0 - (93.0 + name_w) >= label_w * len(rows)
    with_name = with_bar or right - x0 - (66.0 + name_w) >= label_w * len(rows)
    col_x: dict[str, float] = {"class": x0}
    x = x0 + 12.0
    if with_name:
        col_x["name"] = x
        x += name_w
    col_x["prob"] = x
    x += 18.0
    if with_bar:
        col_x["bar"] = x
        x += 27.0
    col_x["thr"] = x
    x += 16.0
    col_x["dec"] = x
    x += 18.0
    lx0 = x
    max_label_cols = int(max(0.0, right - lx0 + 0.01) // label_w)
    shown_rows = rows[:max_label_cols]
    y = y_top + 6.0
    c.text(col_x["class"], y, "Class", size=6.8, bold=True, rgb=_MUTED)
    if with_name:
        c.text(col_x["name"], y, "Finding", size=6.8, bold=True, rgb=_MUTED)
    c.text(col_x["prob"] + 14, y, "Probability", size=6.8, bold=True, rgb=_MUTED, align="right")
    c.text(col_x["thr"] + 13, y, "Threshold", size=6.8, bold=True, rgb=_MUTED, align="right")
    c.text(col_x["dec"] + 1, y, "Decision", size=6.8, bold=True, rgb=_MUTED)
    for j, (ls, _) in enumerate(shown_rows):
        parts = _header_lines(c, ls.name, label_w - 0.8, 5.8)
        for k, part in enumerate(parts):
            c.text(
                lx0 + j * label_w + label_w / 2,
                y - 2.5 * (len(parts) - 1 - k),
                part,
                size=5.8,
                bold=True,
                rgb=_MUTED,
                align="center",
            )
    c.pen(_RULE, 0.15)
    c.line(x0, y + 1.2, right, y + 1.2)
    row_h = 4.25
    for i, cl in enumerate(classes):
        yb = y + 1.2 + row_h * (i + 1) - 1.2
        pos = bool(dec[i])
        rgb = _POSITIVE if pos else _TEXT
        c.text(col_x["class"], yb, cl, size=7.5, bold=True, rgb=rgb)
        if with_name:
            c.text(col_x["name"], yb, CLASS_NAMES.get(cl, cl), size=7.2, rgb=rgb)
        c.text(
            col_x["prob"] + 14, yb, format_probability(probs[i]), size=7.5, bold=pos, rgb=rgb, align="right"
        )
        if with_bar:  # probability bar with a tick at the threshold
            bx, bw, bh = col_x["bar"] + 1.5, 23.0, 2.2
            c.fill(bx, yb - bh, bw, bh, (236, 236, 236))
            if np.isfinite(probs[i]):
                c.fill(
                    bx,
                    yb - bh,
                    bw * float(np.clip(probs[i], 0, 1)),
                    bh,
                    (196, 60, 60) if pos else (120, 120, 120),
                )
            if np.isfinite(thr[i]):
                tx = bx + bw * float(np.clip(thr[i], 0, 1))
                c.pen(_TEXT, 0.25)
                c.line(tx, yb - bh - 0.7, tx, yb + 0.5)
        c.text(col_x["thr"] + 13, yb, format_probability(thr[i]), size=7.5, rgb=_MUTED, align="right")
        c.text(col_x["dec"] + 1, yb, "POSITIVE" if pos else "negative", size=7.2, bold=pos, rgb=rgb)
        for j, (_ls, vals) in enumerate(shown_rows):
            v = int(vals[i]) if i < len(vals) else -1
            cx = lx0 + j * label_w
            if v in (0, 1):
                c.fill(cx + 0.5, yb - 3.0, label_w - 1.0, 3.9, _AGREE if bool(v) == pos else _DISAGREE)
            c.text(
                cx + label_w / 2,
                yb,
                _label_cell(v if v in (0, 1) else None),
                size=7.0,
                bold=v == 1,
                rgb=_POSITIVE if v == 1 else _TEXT,
                align="center",
            )
    y_end = y + 1.2 + row_h * len(classes) + 0.6
    c.pen(_RULE, 0.15)
    c.line(x0, y_end - 1.0, right, y_end - 1.0)
    y = y_end + 2.4
    notes: list[str] = []
    if rows:
        agree = []
        for ls, vals in shown_rows:
            known = (vals == 0) | (vals == 1)
            n_ok = int(((vals == 1) == dec)[known].sum())
            agree.append(f"{ls.name} {n_ok}/{int(known.sum())}")
        notes.append(
            "Agreement of the network with the labels (classes): "
            + "; ".join(agree)
            + ". Green: same as the network; amber: different."
        )
        if len(rows) > len(shown_rows):
            notes.append(
                f"{len(rows) - len(shown_rows)} more label source(s) not shown: "
                + ", ".join(ls.name for ls, _ in rows[len(shown_rows) :])
                + "."
            )
        for ls, _ in rows:
            other = []
            try:
                row = ls.row_of(exam.exam_id, exam.index)
                if row is not None and ls.other_findings:
                    other = list(ls.other_findings[row])
            except Exception:
                other = []
            if other:
                notes.append(f"{ls.name}, other findings: " + ", ".join(other) + ".")
    elif labels:
        notes.append("No attached label source has a row for this exam.")
    else:
        notes.append("No labels attached.")
    seconds = getattr(prediction, "seconds", None)
    prov = getattr(prediction, "provider", "")
    decision_rule = "Decision: POSITIVE when probability > threshold."
    if seconds:
        decision_rule += f" Inference {seconds * 1000:.0f} ms on {prov or 'CPU'}."
    if saliency is None:
        decision_rule += " SHAP saliency not computed for this report."
    notes.append(decision_rule)
    for note in notes:
        y = c.wrap(x0, y, right - x0, note, size=6.3, rgb=_MUTED, max_lines=2)
        if y > g.grid_y - 1.0:
            break


def _draw_exam_page(
    c: _Canvas,
    exam: Exam,
    prediction: Any,
    labels: Sequence[LabelSet],
    saliency: Any | None,
    g: ExamPageGeometry,
    rhythm_lead: str,
    title: str | None,
) -> None:
    t0 = _display_window(exam, prediction, g.window_s)
    _draw_exam_header(c, g, exam, prediction, labels, saliency, t0, title)
    _draw_printout(c, g, exam, t0, rhythm_lead)


# --------------------------------------------------------------------------- SHAP pages


def _shap_classes(prediction: Any, saliency: Any, chosen: Sequence[str] | None) -> list[tuple[int, str]]:
    classes = list(getattr(saliency, "classes", None) or getattr(prediction, "classes", CLASSES))
    if chosen:
        out = []
        for name in chosen:
            if name not in classes:
                raise ReportError(
                    f"unknown class {name!r} for the SHAP page: choose from " + ", ".join(classes)
                )
            out.append((classes.index(name), ""))
        return out
    dec = np.asarray(prediction.decisions, dtype=bool)
    positive = [(i, "") for i in range(len(classes)) if dec[i]]
    if positive:
        return positive
    top = int(np.nanargmax(np.asarray(prediction.probabilities, dtype=np.float64)))
    return [(top, "no finding above its threshold: the class with the highest probability is shown")]


def _draw_shap_page(c: _Canvas, paper: str, prediction: Any, saliency: Any, k: int, why: str) -> None:
    page_w, page_h = PAPERS[_paper_key(paper)]
    classes = tuple(getattr(saliency, "classes", None) or prediction.classes)
    cls = classes[k]
    probs = np.asarray(prediction.probabilities, dtype=np.float64)
    thr = np.asarray(prediction.thresholds, dtype=np.float64)
    pos = bool(np.asarray(prediction.decisions)[k])
    values = np.asarray(saliency.values, dtype=np.float64)[k]  # (12, S)
    edges = np.asarray(saliency.segment_edges, dtype=np.int64)
    x_in = np.asarray(prediction.input, dtype=np.float64)  # (4096, 12) in mV
    n = x_in.shape[0]
    fs = float(getattr(prediction.report, "output_fs", 400.0)) if prediction.report is not None else 400.0
    y = _TOP_MM + 4.5
    c.text(_MARGIN_MM, y, f"SHAP saliency — {cls} ({CLASS_NAMES.get(cls, cls)})", size=12.0, bold=True)
    verdict = f"probability {format_probability(probs[k])}, threshold {format_probability(thr[k])}: " + (
        "POSITIVE" if pos else "negative"
    )
    c.text(
        page_w - _MARGIN_MM, y, verdict, size=9.0, bold=True, rgb=_POSITIVE if pos else _TEXT, align="right"
    )
    y += 4.6
    base = getattr(saliency, "base_values", None)
    total = float(np.nansum(values))
    method = getattr(saliency, "method", "")
    seg_ms = 1000.0 * n / values.shape[1] / fs
    expl = (
        f"SHAP attribution{f' ({method} explainer)' if method else ''} of the probability of {cls} to "
        f"{values.shape[1]} time segments (≈{seg_ms:.0f} ms) × 12 leads of the network's input "
        f"({n} samples at {fs:g} Hz). Red segments raise the probability, blue ones lower it, "
        "white ones do not matter."
    )
    if base is not None:
        expl += (
            f" Base value {float(np.asarray(base)[k]):.3f} + sum of attributions {total:+.3f}"
            f" ≈ {float(np.asarray(base)[k]) + total:.3f}."
        )
    nev = getattr(saliency, "n_evaluations", None)
    if nev:
        expl += f" {int(nev)} model evaluations."
    if why:
        expl += f" Shown: {why}."
    y = c.wrap(_MARGIN_MM, y, page_w - 2 * _MARGIN_MM, expl, size=7.0, rgb=_MUTED, max_lines=3)
    # geometry of the panel
    top = y + 1.5
    bars_w = 46.0
    label_w = 9.0
    px0 = _MARGIN_MM + label_w
    pw = page_w - 2 * _MARGIN_MM - label_w - bars_w - 6.0
    legend_h = 16.0
    ph = page_h - top - _FOOTER_MM - _BOTTOM_MM - legend_h
    row_h = ph / 12

    def x_of(j: Any) -> Any:  # input sample → mm
        return px0 + pw * j / n

    vmax = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.0
    report = prediction.report
    sl = report.signal_slice if report is not None else slice(0, n)
    # zeros in every lead at the ends of the input: padding (added here, or already in the file)
    active = np.flatnonzero(np.any(x_in != 0, axis=1))
    min_run = int(0.1 * fs)
    if active.size:
        lo = int(active[0]) if active[0] >= min_run else 0
        hi = int(active[-1]) + 1 if n - 1 - active[-1] >= min_run else n
        sl = slice(max(sl.start, lo), min(sl.stop, hi))
    for lead in range(12):
        ry = top + lead * row_h
        for s in range(values.shape[1]):
            a, b = int(edges[s]), int(edges[s + 1])
            c.fill(x_of(a), ry, x_of(b) - x_of(a) + 0.02, row_h, shap_color(values[lead, s], vmax))
        # padding hatch
        if sl.start > 0:
            c.fill(x_of(0), ry, x_of(sl.start) - x_of(0), row_h, (225, 225, 225))
        if sl.stop < n:
            c.fill(x_of(sl.stop), ry, x_of(n) - x_of(sl.stop), row_h, (225, 225, 225))
        c.pen((200, 200, 200), 0.1)
        c.line(px0, ry, px0 + pw, ry)
        c.text(_MARGIN_MM, ry + row_h / 2 + 1.2, LEADS[lead], size=8.0, bold=True)
        # trace in mV; gain fits the row
        mv = x_in[:, lead]
        mv = np.where((np.arange(n) >= sl.start) & (np.arange(n) < sl.stop), mv, np.nan)
        gain = min(5.0, row_h * 0.42)
        with c.clip(px0, ry, pw, row_h):
            c.pen(_TRACE, 0.16)
            c.polyline(x_of(np.arange(n)), ry + row_h * 0.55 - mv * gain)
    c.pen((120, 120, 120), 0.15)
    c.rect(px0, top, pw, ph)
    # time axis (seconds of the network input, original time)
    offset = report.offset_s if report is not None else 0.0
    ty = top + ph
    c.pen(_MUTED, 0.15)
    for sec in range(math.ceil(offset), math.floor(offset + n / fs) + 1):
        j = (sec - offset) * fs
        if 0 <= j <= n:
            c.line(x_of(j), ty, x_of(j), ty + 1.2)
            c.text(x_of(j), ty + 4.0, f"{sec} s", size=6.3, rgb=_MUTED, align="center")
    note = f"Traces at {min(5.0, row_h * 0.42):.1f} mm/mV; time in seconds of the recording."
    if sl.start > 0 or sl.stop < n:
        note += " Grey: zero padding (no signal), as the network saw it."
    c.text(px0 + pw, ty + 4.0 + 3.0, note, size=6.3, rgb=_MUTED, align="right")
    # lead importance bars, aligned with the rows
    imp = (
        saliency.lead_importance()[k] if hasattr(saliency, "lead_importance") else np.abs(values).sum(axis=1)
    )
    imp = np.asarray(imp, dtype=np.float64)
    net = values.sum(axis=1)
    bx = px0 + pw + 6.0
    bw = bars_w - 14.0
    c.text(bx, top - 1.2, "Lead importance Σ|SHAP|", size=6.8, bold=True, rgb=_MUTED)
    imax = float(np.nanmax(imp)) if np.isfinite(imp).any() and np.nanmax(imp) > 0 else 1.0
    order = np.argsort(-imp)
    rank = {int(lead): r for r, lead in enumerate(order)}
    for lead in range(12):
        ry = top + lead * row_h
        h = min(row_h * 0.5, 4.0)
        w = bw * float(imp[lead]) / imax if np.isfinite(imp[lead]) else 0.0
        col = shap_color(np.sign(net[lead]) * 0.75 * vmax, vmax) if vmax else (150, 150, 150)
        c.fill(bx, ry + (row_h - h) / 2, w, h, col)
        c.pen((90, 90, 90), 0.1)
        c.rect(bx, ry + (row_h - h) / 2, max(w, 0.05), h)
        c.text(
            bx + w + 1.0,
            ry + row_h / 2 + 1.1,
            f"{imp[lead]:.2g}",
            size=6.3,
            bold=rank[lead] < 3,
            rgb=_TEXT if rank[lead] < 3 else _MUTED,
        )
    c.text(bx, ty + 4.0, "Bar colour: net effect of the lead", size=6.0, rgb=_MUTED)
    c.text(bx, ty + 6.6, "(red raises, blue lowers).", size=6.0, rgb=_MUTED)
    # colour legend
    ly = ty + 9.5
    lw = 70.0
    lx = px0
    steps = 60
    for i in range(steps):
        v = (-1 + 2 * (i + 0.5) / steps) * vmax
        c.fill(lx + lw * i / steps, ly, lw / steps + 0.02, 3.0, shap_color(v, vmax))
    c.pen((90, 90, 90), 0.1)
    c.rect(lx, ly, lw, 3.0)
    c.text(lx, ly + 5.8, f"{-vmax:+.2g}", size=6.3, rgb=_MUTED)
    c.text(lx + lw / 2, ly + 5.8, "0", size=6.3, rgb=_MUTED, align="center")
    c.text(lx + lw, ly + 5.8, f"{vmax:+.2g}", size=6.3, rgb=_MUTED, align="right")
    c.text(
        lx + lw + 3.0,
        ly + 2.6,
        f"SHAP value per segment (probability units): lowers ← 0 → raises the probability of {cls}",
        size=6.5,
        rgb=_MUTED,
    )


# --------------------------------------------------------------------------- public: exam


def _check_prediction(prediction: Any, where: str) -> None:
    for attr in ("probabilities", "thresholds", "decisions", "classes"):
        if not hasattr(prediction, attr):
            raise ReportError(f"{where}: the prediction has no {attr!r}; pass an ecgviewer Prediction")
    if len(np.asarray(prediction.probabilities)) != len(prediction.classes):
        raise ReportError(
            f"{where}: {len(np.asarray(prediction.probabilities))} probabilities for "
            f"{len(prediction.classes)} classes"
        )


def _check_rhythm_lead(rhythm_lead: str) -> str:
    name = canonical_lead_name(rhythm_lead)
    if name is None:
        raise ReportError(f"unknown rhythm lead {rhythm_lead!r}: use one of {', '.join(LEADS)}")
    return name


def write_exam_report(
    out: str | Path,
    exam: Exam,
    prediction: Prediction,
    *,
    saliency: Any | None = None,
    labels: Sequence[LabelSet] = (),
    paper: str = "A4",
    gain_mm_mv: float = 10,
    speed_mm_s: float = 25,
    rhythm_lead: str = "II",
    model: EcgModel | ModelContract | None = None,
    shap_classes: Sequence[str] | None = None,
    title: str | None = None,
    when: datetime | None = None,
) -> Path:
    """Write the PDF report of one exam.

    Args:
        out: destination ``.pdf``; replaced atomically (a failure leaves the old file, or none).
        exam: the exam as read (signal in mV at its own rate).
        prediction: the network's output for it (``model.predict_exam(exam)``); its
            ``input`` (4096, 12) in mV and ``report`` are used for the SHAP page and header.
        saliency: SHAP values (:class:`ecgviewer.explain.Saliency`); adds one page per shown class.
        labels: label sources; each with a row for the exam becomes a column of the findings table.
        paper: "A4" or "Letter" (landscape).
        gain_mm_mv, speed_mm_s: printout scale (10 mm/mV and 25 mm/s by default).
        rhythm_lead: lead of the rhythm strip.
        model: the model (or its contract) for the footer's provenance and notice; by
            default the bundled model's when the prediction names it.
        shap_classes: classes to explain (default: the positive ones, else the most probable).
        title: heading of page 1 (default "12-lead ECG — <exam id>").
        when: the report date (default now).

    Returns:
        ``out`` as a Path.

    Raises:
        ReportError: bad arguments, or the file could not be written (message names it).
    """
    out = Path(out)
    _check_prediction(prediction, str(out))
    rhythm = _check_rhythm_lead(rhythm_lead)
    g = exam_page_geometry(paper, speed_mm_s, gain_mm_mv)
    if saliency is not None:
        sp = np.asarray(getattr(saliency, "probabilities", prediction.probabilities), dtype=np.float64)
        pp = np.asarray(prediction.probabilities, dtype=np.float64)
        if sp.shape != pp.shape or not np.allclose(sp, pp, atol=2e-3, equal_nan=True):
            raise ReportError(
                f"{out}: the SHAP values were computed for other probabilities "
                f"({', '.join(f'{v:.3f}' for v in sp)}) than the prediction's "
                f"({', '.join(f'{v:.3f}' for v in pp)}): another exam or model; recompute them"
            )
    shap = _shap_classes(prediction, saliency, shap_classes) if saliency is not None else []
    footer = _Footer(_contract_for(model, prediction), when or _now(), getattr(prediction, "provider", ""))
    pages = 1 + len(shap)
    doc_title = f"ECG report {exam.exam_id}".strip()
    with _pdf(out, paper, doc_title) as c:
        _draw_exam_page(c, exam, prediction, labels, saliency, g, rhythm, title)
        footer.draw(c, g.page_w, g.page_h, 1, pages)
        for i, (k, why) in enumerate(shap, start=2):
            c.new_page()
            _draw_shap_page(c, paper, prediction, saliency, k, why)
            footer.draw(c, g.page_w, g.page_h, i, pages)
    return out


# --------------------------------------------------------------------------- public: set


def _scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Precision, recall, specificity, F1 and counts (reference -1 = unknown, left out)."""
    scores = dict(binary_scores(np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)))
    scores["kappa"] = float(cohen_kappa(np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)))
    return scores


def _fmt_score(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "—"
    return "undef." if not np.isfinite(f) else f"{f:.3f}"


@dataclass
class _SetRow:
    number: int
    exam_id: str
    source: str
    age: str
    sex: str
    fs: str
    duration: str
    probs: np.ndarray
    decisions: np.ndarray
    reference: np.ndarray | None


def _draw_set_summary(
    c: _Canvas,
    paper: str,
    items: Sequence[Any],
    predictions: Sequence[Any],
    labels: Sequence[LabelSet],
    errors: Sequence[Any],
    source_text: str,
    title: str | None,
    contract: ModelContract,
) -> None:
    page_w = PAPERS[_paper_key(paper)][0]
    n = len(items)
    right = page_w - _MARGIN_MM
    x0 = _MARGIN_MM
    y = _TOP_MM + 5.0
    c.text(x0, y, title or f"ECG set report — {n} exam{'s' if n != 1 else ''}", size=13.0, bold=True)
    y += 5.5
    c.text(x0, y, f"Source: {source_text}", size=7.5, max_w=right - x0, elide="middle")
    y += 3.6
    prov = contract.provenance or "provenance not stated"
    c.text(x0, y, f"Model: {contract.name} {contract.version} — {prov}", size=7.5, max_w=right - x0)
    y += 3.6
    if errors:
        msgs = "; ".join(str(e) for e in list(errors)[:3]) + (" …" if len(errors) > 3 else "")
        y = c.wrap(
            x0,
            y,
            right - x0,
            f"{len(errors)} file(s) could not be read and are not in this report: {msgs}",
            size=7.0,
            rgb=_POSITIVE,
            max_lines=3,
        )
    y += 2.0
    probs = np.array([np.asarray(p.probabilities, dtype=np.float64) for p in predictions]).reshape(n, -1)
    dec = np.array([np.asarray(p.decisions, dtype=bool) for p in predictions]).reshape(n, -1)
    classes = tuple(predictions[0].classes) if predictions else CLASSES
    thr = (
        np.asarray(predictions[0].thresholds, dtype=np.float64)
        if predictions
        else np.full(len(classes), np.nan)
    )
    keys = [(getattr(it, "exam_id", None), int(getattr(it, "index", i) or 0)) for i, it in enumerate(items)]
    aligned = [(ls, ls.align(keys)) for ls in labels]
    aligned = [(ls, a) for ls, a in aligned if (a >= 0).any()]
    ref = reference_of([ls for ls, _ in aligned]) if aligned else None
    ref_vals = next((a for ls, a in aligned if ls is ref), None)
    # -- counts per finding
    facts_y = y
    c.text(x0, y, "Findings of the network", size=9.5, bold=True)
    y += 5.0
    cols = [x0, x0 + 14, x0 + 62, x0 + 80, x0 + 102, x0 + 124]
    heads = ["Class", "Finding", "Threshold", "Positive", "Share", "Mean probability"]
    for cx, h in zip(cols, heads, strict=True):
        c.text(cx, y, h, size=6.8, bold=True, rgb=_MUTED)
    ref_x = x0 + 150
    if ref is not None:
        c.text(ref_x, y, f"Positive in {ref.name}", size=6.8, bold=True, rgb=_MUTED)
    c.pen(_RULE, 0.15)
    c.line(x0, y + 1.2, x0 + 190, y + 1.2)
    for k, cl in enumerate(classes):
        y += 4.2
        npos = int(dec[:, k].sum()) if n else 0
        c.text(cols[0], y, cl, size=7.5, bold=True, rgb=_POSITIVE if npos else _TEXT)
        c.text(cols[1], y, CLASS_NAMES.get(cl, cl), size=7.2, max_w=46)
        c.text(cols[2], y, format_probability(thr[k]), size=7.2, rgb=_MUTED)
        c.text(cols[3], y, f"{npos}", size=7.5, bold=bool(npos))
        c.text(cols[4], y, f"{100 * npos / n:.1f} %" if n else "—", size=7.2)
        c.text(cols[5], y, format_probability(float(np.nanmean(probs[:, k]))) if n else "—", size=7.2)
        if ref is not None and ref_vals is not None:
            known = ref_vals[:, k] >= 0
            c.text(ref_x, y, f"{int((ref_vals[:, k] == 1).sum())} of {int(known.sum())} labelled", size=7.2)
    y += 2.0
    _draw_set_facts(c, x0 + 205, facts_y, right, items, errors, aligned)
    anyp = int(dec.any(axis=1).sum()) if n else 0
    c.text(x0, y + 3.0, f"Exams with at least one finding: {anyp} of {n}; with none: {n - anyp}.", size=7.2)
    y += 8.5
    # -- statistics against the reference
    if ref is not None and ref_vals is not None:
        c.text(x0, y, f"Network vs {ref.name}", size=9.5, bold=True)
        c.text(
            x0 + 62,
            y,
            f"(exams with a {ref.name} label for the class; source "
            f"{ref.source.name if ref.source is not None else 'exam headers'})",
            size=7.0,
            rgb=_MUTED,
        )
        y += 5.0
        heads = ["Class", "n", "TP", "FP", "FN", "TN", "Precision", "Recall", "Specificity", "F1", "κ"]
        xs = [x0, x0 + 14, x0 + 25, x0 + 35, x0 + 45, x0 + 55, x0 + 68, x0 + 86, x0 + 102, x0 + 121, x0 + 136]
        for cx, h in zip(xs, heads, strict=True):
            c.text(cx, y, h, size=6.8, bold=True, rgb=_MUTED)
        others = [(ls, a) for ls, a in aligned if ls is not ref]
        ox = x0 + 156
        if others:
            c.text(
                ox, y - 4.0, f"F1 of the other label sources vs {ref.name}", size=6.8, bold=True, rgb=_MUTED
            )
        ow = 20.0
        max_others = int((right - ox) // ow)
        for j, (ls, _) in enumerate(others[:max_others]):
            parts = _header_lines(c, ls.name, ow - 1.0, 6.2)
            for q, part in enumerate(parts):
                c.text(ox + j * ow, y - 2.7 * (len(parts) - 1 - q), part, size=6.2, bold=True, rgb=_MUTED)
        c.pen(_RULE, 0.15)
        c.line(x0, y + 1.2, right, y + 1.2)
        for k, cl in enumerate(classes):
            y += 4.2
            known = ref_vals[:, k] >= 0
            s = _scores(ref_vals[known, k] == 1, dec[known, k]) if known.any() else {}
            counts = [str(int(s[q])) if q in s else "—" for q in ("tp", "fp", "fn", "tn")]
            cells = [
                cl,
                str(int(known.sum())),
                *counts,
                *[_fmt_score(s.get(q)) for q in ("precision", "recall", "specificity", "f1", "kappa")],
            ]
            for cx, text in zip(xs, cells, strict=True):
                c.text(cx, y, text, size=7.2, bold=cx == x0)
            for j, (_ls, a) in enumerate(others[:max_others]):
                both = known & (a[:, k] >= 0)
                so = _scores(ref_vals[both, k] == 1, a[both, k] == 1) if both.any() else {}
                c.text(ox + j * ow, y, _fmt_score(so.get("f1")), size=7.2)
        y += 3.5
        y = c.wrap(
            x0,
            y + 1.0,
            right - x0,
            "“undef.”: the statistic has a zero denominator (e.g. no positive exam for the class). "
            "Small sets give wide uncertainty: read these figures with their counts.",
            size=6.3,
            rgb=_MUTED,
        )
    elif labels:
        c.text(x0, y, "The attached labels match none of these exams: no statistics.", size=7.2, rgb=_MUTED)
    else:
        c.text(x0, y, "No labels attached: no statistics against a reference.", size=7.2, rgb=_MUTED)


def _range_text(values: Sequence[float], unit: str, fmt: str = "g") -> str:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return "not recorded"
    lo, med, hi = np.min(v), np.median(v), np.max(v)
    if lo == hi:
        return f"{lo:{fmt}} {unit}".strip()
    return f"{lo:{fmt}}–{hi:{fmt}} {unit} (median {med:{fmt}})".strip()


def _draw_set_facts(
    c: _Canvas,
    x: float,
    y: float,
    right: float,
    items: Sequence[Any],
    errors: Sequence[Any],
    aligned: Sequence[tuple[Any, np.ndarray]],
) -> None:
    """The set at a glance: files, formats, rates, durations, age, sex, label sources."""
    c.text(x, y, "The set", size=9.5, bold=True)
    n = len(items)
    files = {str(getattr(it, "source", "")) for it in items}
    formats = Counter(str(getattr(it, "format", "") or "?") for it in items)
    rates = Counter(float(getattr(it, "fs", 0.0) or 0.0) for it in items)
    sexes = Counter(str(getattr(it, "sex", None) or "unknown") for it in items)
    ages = [getattr(it, "age", None) for it in items]
    n_age = sum(a is not None and np.isfinite(a) for a in ages)
    rows = [
        (
            "Exams",
            f"{n} in {len(files)} file{'s' if len(files) != 1 else ''}"
            + (f"; {len(errors)} unreadable" if errors else ""),
        ),
        ("Formats", ", ".join(f"{k} {v}" for k, v in formats.most_common())),
        ("Rates", ", ".join(f"{k:g} Hz ({v})" for k, v in sorted(rates.items()))),
        ("Durations", _range_text([getattr(it, "duration_s", None) for it in items], "s", ".1f")),
        ("Age", _range_text(ages, "y") + (f"; {n - n_age} unknown" if n_age and n_age < n else "")),
        ("Sex", ", ".join(f"{ {'M': 'male', 'F': 'female'}.get(k, k) } {v}" for k, v in sexes.most_common())),
    ]
    for ls, a in aligned:
        rows.append(("Labels", f"{ls.name}: {int((a >= 0).any(axis=1).sum())} of {n} exams"))
    if not aligned:
        rows.append(("Labels", "none attached"))
    y += 5.0
    for key, value in rows:
        c.text(x, y, key, size=7.0, bold=True, rgb=_MUTED)
        c.text(x + 17, y, value, size=7.0, max_w=right - x - 17)
        y += 3.6


_TABLE_COLS = (
    ("#", 8.0),
    ("Exam id", 34.0),
    ("File", 30.0),
    ("Age", 9.0),
    ("Sex", 7.0),
    ("Rate", 12.0),
    ("Dur.", 12.0),
)


def _set_rows(
    items: Sequence[Any], predictions: Sequence[Any], labels: Sequence[LabelSet]
) -> tuple[list[_SetRow], str | None]:
    keys = [(getattr(it, "exam_id", None), int(getattr(it, "index", i) or 0)) for i, it in enumerate(items)]
    aligned = [(ls, ls.align(keys)) for ls in labels]
    aligned = [(ls, a) for ls, a in aligned if (a >= 0).any()]
    ref = reference_of([ls for ls, _ in aligned]) if aligned else None
    ref_vals = next((a for ls, a in aligned if ls is ref), None)
    rows = []
    for i, (it, p) in enumerate(zip(items, predictions, strict=True)):
        src = getattr(it, "source", None)
        age = getattr(it, "age", None)
        fs = float(getattr(it, "fs", 0.0) or 0.0)
        dur = getattr(it, "duration_s", None)
        rows.append(
            _SetRow(
                number=i + 1,
                exam_id=str(getattr(it, "exam_id", "") or ""),
                source=Path(src).name if src is not None else "",
                age=f"{age:g}" if age is not None and np.isfinite(age) else "",
                sex=str(getattr(it, "sex", "") or ""),
                fs=f"{fs:g}" if fs else "",
                duration=f"{dur:.1f} s" if dur else "",
                probs=np.asarray(p.probabilities, dtype=np.float64),
                decisions=np.asarray(p.decisions, dtype=bool),
                reference=None if ref_vals is None else ref_vals[i],
            )
        )
    return rows, (ref.name if ref is not None else None)


def _draw_set_table(
    c: _Canvas,
    paper: str,
    rows: Sequence[_SetRow],
    start: int,
    classes: Sequence[str],
    ref_name: str | None,
    first_y: float,
) -> int:
    """Draw table rows from ``start`` until the page is full; returns the next row index."""
    page_w, page_h = PAPERS[_paper_key(paper)]
    right = page_w - _MARGIN_MM
    x = _MARGIN_MM
    y = first_y
    xs = []
    for _name, w in _TABLE_COLS:
        xs.append(x)
        x += w
    prob_x = x
    prob_w = 14.0
    find_x = prob_x + prob_w * len(classes) + 2.0
    ref_x = find_x + (right - find_x) / 2 if ref_name else right
    for (name, _w), cx in zip(_TABLE_COLS, xs, strict=True):
        c.text(cx, y, name, size=6.8, bold=True, rgb=_MUTED)
    for k, cl in enumerate(classes):
        c.text(prob_x + prob_w * (k + 1) - 1.0, y, cl, size=6.8, bold=True, rgb=_MUTED, align="right")
    c.text(find_x, y, "Network findings", size=6.8, bold=True, rgb=_MUTED)
    if ref_name:
        c.text(ref_x, y, ref_name, size=6.8, bold=True, rgb=_MUTED, max_w=right - ref_x)
    c.pen(_RULE, 0.2)
    c.line(_MARGIN_MM, y + 1.3, right, y + 1.3)
    row_h = 4.3
    bottom = page_h - _FOOTER_MM - _BOTTOM_MM - 1.0
    i = start
    while i < len(rows) and y + row_h <= bottom:
        r = rows[i]
        y += row_h
        if (i - start) % 2 == 1:
            c.fill(_MARGIN_MM, y - 3.1, right - _MARGIN_MM, row_h, (246, 246, 246))
        cells = [str(r.number), r.exam_id, r.source, r.age, r.sex, f"{r.fs} Hz" if r.fs else "", r.duration]
        for (_name, w), cx, text in zip(_TABLE_COLS, xs, cells, strict=True):
            c.text(cx, y, text, size=7.0, max_w=w - 1.2, elide="middle" if w > 20 else "right")
        for k in range(len(classes)):
            pos = bool(r.decisions[k])
            cx = prob_x + prob_w * k
            if pos:
                c.fill(cx + 0.8, y - 3.0, prob_w - 1.0, 3.9, (250, 214, 214))
            c.text(
                cx + prob_w - 1.0,
                y,
                format_probability(r.probs[k]),
                size=7.0,
                bold=pos,
                rgb=_POSITIVE if pos else _TEXT,
                align="right",
            )
        found = [cl for cl, d in zip(classes, r.decisions, strict=True) if d]
        c.text(
            find_x,
            y,
            ", ".join(found) if found else "—",
            size=7.0,
            bold=bool(found),
            rgb=_POSITIVE if found else _MUTED,
            max_w=ref_x - find_x - 1.5,
        )
        if ref_name:
            if r.reference is None or not (r.reference >= 0).any():
                text, rgb = "no label", _MUTED
            else:
                ref_pos = [cl for cl, v in zip(classes, r.reference, strict=True) if v == 1]
                agree = all(
                    bool(v == 1) == bool(d) for v, d in zip(r.reference, r.decisions, strict=True) if v >= 0
                )
                text = (", ".join(ref_pos) if ref_pos else "none") + ("" if agree else "  ≠")
                rgb = _TEXT if agree else (170, 90, 0)
            c.text(ref_x, y, text, size=7.0, rgb=rgb, max_w=right - ref_x)
        i += 1
    return i


def write_set_report(
    out: str | Path,
    exams: Sequence[Exam | ExamHeader | Any],
    predictions: Sequence[Prediction],
    *,
    labels: Sequence[LabelSet] = (),
    paper: str = "A4",
    model: EcgModel | ModelContract | None = None,
    exam_pages: bool = False,
    gain_mm_mv: float = 10,
    speed_mm_s: float = 25,
    rhythm_lead: str = "II",
    errors: Sequence[Any] = (),
    source: str | Path | Sequence[str | Path] | None = None,
    title: str | None = None,
    when: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Path:
    """Write the PDF report of a set of exams: a summary page and one table row per exam.

    Args:
        out: destination ``.pdf`` (replaced atomically).
        exams: the exams in order; :class:`~ecgviewer.exam.ExamHeader` objects are enough for the
            table (id, file, age, sex, rate, duration); ``exam_pages`` needs full :class:`Exam` objects.
        predictions: one Prediction per exam, same order.
        labels: label sources; the reference (the gold standard, else the first that matches)
            gives the set statistics, the others their F1 against it.
        paper: "A4" or "Letter" (landscape).
        model: model or contract for the footer (default: the bundled model's when it made them).
        exam_pages: also add the 12-lead page of every exam (as in the exam report).
        errors: files that could not be read (listed on the summary page).
        source: the opened path(s), shown on the summary page.
        progress: called with (pages done, pages total); cancel: return True to stop
            (raises :class:`~ecgviewer.errors.Cancelled`, nothing is written).

    Returns:
        ``out`` as a Path.
    """
    out = Path(out)
    if len(exams) != len(predictions):
        raise ReportError(f"{out}: {len(exams)} exams but {len(predictions)} predictions")
    if not len(exams):
        raise ReportError(f"{out}: no exams to report (the set is empty or none could be read)")
    for p in predictions:
        _check_prediction(p, str(out))
    rhythm = _check_rhythm_lead(rhythm_lead)
    if exam_pages and not all(isinstance(e, Exam) for e in exams):
        raise ReportError(
            f"{out}: one page per exam needs the exams' signals (Exam objects), not headers only"
        )
    key = _paper_key(paper)
    page_w, page_h = PAPERS[key]
    contract = _contract_for(model, predictions[0])
    footer = _Footer(contract, when or _now(), getattr(predictions[0], "provider", ""))
    classes = tuple(predictions[0].classes)
    rows, ref_name = _set_rows(exams, predictions, labels)
    if source is None:
        srcs = sorted(
            {
                str(Path(e.source).parent if Path(e.source).is_file() and len(exams) > 1 else e.source)
                for e in exams
                if getattr(e, "source", None) is not None
            }
        )
        more = f" and {len(srcs) - 3} more" if len(srcs) > 3 else ""
        source_text = (", ".join(srcs[:3]) + more) or "in memory"
    elif isinstance(source, (str, Path)):
        source_text = str(source)
    else:
        source_text = ", ".join(str(s) for s in source)
    # paginate the table (dry run to count pages)
    first_y_cont = _TOP_MM + 8.0
    row_h = 4.3
    bottom = page_h - _FOOTER_MM - _BOTTOM_MM - 1.0
    per_page = int((bottom - first_y_cont) // row_h)
    table_pages = max(1, math.ceil(len(rows) / per_page))
    g = exam_page_geometry(key, speed_mm_s, gain_mm_mv) if exam_pages else None
    pages = 1 + table_pages + (len(exams) if exam_pages else 0)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, pages)
        if cancel is not None and cancel():
            raise Cancelled("report cancelled; no file written")

    with _pdf(out, key, title or f"ECG set report ({len(exams)} exams)") as c:
        _draw_set_summary(c, key, exams, predictions, labels, errors, source_text, title, contract)
        footer.draw(c, page_w, page_h, 1, pages)
        tick()
        i = 0
        page = 1
        while i < len(rows):
            c.new_page()
            page += 1
            c.text(
                _MARGIN_MM,
                _TOP_MM + 3.0,
                f"Exams {i + 1}–{min(len(rows), i + per_page)} of {len(rows)}",
                size=9.5,
                bold=True,
            )
            c.text(
                page_w - _MARGIN_MM,
                _TOP_MM + 3.0,
                "Probabilities; shaded bold = above the class threshold",
                size=6.8,
                rgb=_MUTED,
                align="right",
            )
            i = _draw_set_table(c, key, rows, i, classes, ref_name, first_y_cont)
            footer.draw(c, page_w, page_h, page, pages)
            tick()
        if exam_pages and g is not None:
            for exam, p in zip(exams, predictions, strict=True):
                c.new_page()
                page += 1
                _draw_exam_page(c, exam, p, labels, None, g, rhythm, None)  # type: ignore[arg-type]
                footer.draw(c, page_w, page_h, page, pages)
                tick()
    return out
