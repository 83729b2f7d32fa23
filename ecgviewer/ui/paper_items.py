"""The lead grid's graphics items: the ECG paper, the view box that pans, zooms and takes
caliper drags, and one lead's cell; with the paper's colours.

:class:`EcgPaper` draws the background and the 1 mm / 5 mm lines only where visible (every
``1/speed`` s and ``1/gain`` mV); :class:`PaperViewBox` scrolls on the wheel, zooms on Ctrl+wheel
and turns a left drag into a caliper in caliper mode (or with Shift); :class:`LeadCell` holds a
lead's trace, label, padding shading, fiducials and overlay image (geometry:
:class:`~ecgviewer.viewer.paper_layout.CellSpec`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsRectItem

from ecgviewer.viewer.paper_layout import CellSpec

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

    def __init__(self, grid: Any) -> None:  # the LeadGrid
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
