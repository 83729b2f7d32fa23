"""The PDF writer: a QPainter on a QPdfWriter addressed in millimetres, written atomically.

Qt's QtGui and QtCore are imported lazily, never QtWidgets (pyqtgraph's polygon helper loads
that module but makes no widget); a bare QGuiApplication is made when none exists (offscreen
without a display). :func:`open_pdf` writes into a temporary file beside the destination and
renames it over the destination with :func:`os.replace`; a failure leaves no partial file.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

from ecgviewer import __version__
from ecgviewer.errors import EcgViewerError, ReportError
from ecgviewer.report.style import FONT_FAMILIES, MM, MONO_FAMILIES, RES_DPI, TEXT, paper_key

# --------------------------------------------------------------------------- Qt plumbing

_QT_LOCK = threading.Lock()


def ensure_gui_app() -> None:
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


def _polygon(xs: np.ndarray, ys: np.ndarray) -> Any:
    """A QPolygonF of the points (xs, ys) mm × device units, filled through its memory by pyqtgraph
    (about 1000× faster than a list of QPointF for the 5,000-point traces). pyqtgraph is imported
    on the first trace only: it loads the QtWidgets module but makes no widget or QApplication."""
    from pyqtgraph.functions import arrayToQPolygonF

    return arrayToQPolygonF(np.ascontiguousarray(xs), np.ascontiguousarray(ys))


class Canvas:
    """A QPainter on a QPdfWriter, addressed in millimetres (floats) from the paper corner."""

    def __init__(self, writer: Any, painter: Any) -> None:
        # imported once here: a PySide6 import inside a method costs ~1 ms (shiboken's import hook)
        from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
        from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPen

        self._QColor, self._QFont, self._QFontMetricsF, self._QPen = QColor, QFont, QFontMetricsF, QPen
        self._QLineF, self._QPointF, self._QRectF = QLineF, QPointF, QRectF
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
    def pen(self, rgb: tuple[int, int, int] = TEXT, width_mm: float = 0.2, *, dash: bool = False) -> None:
        pen = self._QPen(self._QColor(*rgb))
        pen.setWidthF(max(width_mm, 0.01) * MM)
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
            font.setFamilies(MONO_FAMILIES if mono else FONT_FAMILIES)
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
        return self._QFontMetricsF(self.p.font(), self.writer).horizontalAdvance(text) / MM

    def line_height(self) -> float:
        return self._QFontMetricsF(self.p.font(), self.writer).lineSpacing() / MM

    def elide(self, text: str, width_mm: float, mode: str = "right") -> str:
        return self._QFontMetricsF(self.p.font(), self.writer).elidedText(
            text, self._elide_modes[mode], width_mm * MM
        )

    # -- drawing
    def line(self, x1: float, y1: float, x2: float, y2: float) -> None:
        self.p.drawLine(self._QLineF(x1 * MM, y1 * MM, x2 * MM, y2 * MM))

    def lines(self, segments: Sequence[tuple[float, float, float, float]]) -> None:
        self.p.drawLines([self._QLineF(a * MM, b * MM, c * MM, d * MM) for a, b, c, d in segments])

    def fill(self, x: float, y: float, w: float, h: float, rgb: tuple[int, int, int]) -> None:
        self.p.fillRect(self._QRectF(x * MM, y * MM, w * MM, h * MM), self._QColor(*rgb))

    def rect(self, x: float, y: float, w: float, h: float) -> None:
        self.p.setBrush(self._no_brush)
        self.p.drawRect(self._QRectF(x * MM, y * MM, w * MM, h * MM))

    def polyline(self, xs: np.ndarray, ys: np.ndarray) -> None:
        """Draw a polyline through (xs, ys) mm, broken where values are not finite."""
        xs = np.asarray(xs, dtype=np.float64) * MM
        ys = np.asarray(ys, dtype=np.float64) * MM
        ok = np.isfinite(xs) & np.isfinite(ys)
        if not ok.any():
            return
        # split into runs of finite points
        edges = np.flatnonzero(np.diff(np.concatenate(([0], ok.astype(np.int8), [0]))))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            if stop - start < 2:
                continue
            self.p.drawPolyline(_polygon(xs[start:stop], ys[start:stop]))

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        size: float = 7.5,
        bold: bool = False,
        rgb: tuple[int, int, int] = TEXT,
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
        self.p.drawText(self._QPointF(x * MM, y * MM), text)
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
        rgb: tuple[int, int, int] = TEXT,
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
        self.p.setClipRect(self._QRectF(x * MM, y * MM, w * MM, h * MM))

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
def open_pdf(out: Path, paper: str, title: str) -> Iterator[Canvas]:
    """Open a PDF for painting, atomically: a temp file beside ``out``, renamed on success."""
    from PySide6.QtCore import QMarginsF
    from PySide6.QtGui import QPageLayout, QPageSize, QPainter, QPdfWriter

    key = paper_key(paper)
    out = Path(out)
    folder = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise ReportError(f"{out}: is a folder; give a file name ending in .pdf")
    if not folder.is_dir():
        raise ReportError(f"{out}: the folder {folder} does not exist; create it first")
    ensure_gui_app()
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
        writer.setResolution(RES_DPI)
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
        canvas = Canvas(writer, painter)
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
