"""The cart's median beats: one representative beat per lead, as the file stores them.

:class:`MedianBeatsDock` is a feature part of the main window (``window.median_beats``): a dock
(View → Median Beats, hidden by default) with the 12 median beats of a clinical file on ECG paper
in a 3×4 layout (I II III · aVR aVL aVF · V1–V3 · V4–V6) at 25 mm/s and 10 mm/mV, 1 mm squares
square. Files that store only I, II and V1–V6 (GE MUSE) get III, aVR, aVL and aVF derived, as for
the rhythm strip. For files without median beats the dock says so. The state is
``window.viewer.view.show_median_beats``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ecgviewer.clinical import MedianBeats, clinical_info
from ecgviewer.errors import PreprocessError
from ecgviewer.leads import LEADS
from ecgviewer.preprocess import complete_leads
from ecgviewer.ui.leadgrid import COLUMNS, TRACE, EcgPaper

SPEED_MM_S = 25.0
GAIN_MM_MV = 10.0
ROW_MV = 3.0
"""Height of one row of beats in mV (30 mm)."""
BASELINE_FROM_TOP_MV = 1.8
GAP_S = 0.2
"""Paper between two columns of beats."""


def beats_layout(beats: MedianBeats) -> tuple[np.ndarray, tuple[str, ...], dict[str, tuple[float, float]]]:
    """The beats as 12 leads and where each is drawn.

    Returns:
        signal: (samples, 12) mV in :data:`~ecgviewer.leads.LEADS` order (missing limb leads derived).
        derived: the names of derived leads.
        origin: lead → (x0 s, baseline mV) of its cell on the paper (y up, rows going down from 0).
    """
    signal, derived = complete_leads(np.asarray(beats.signal_mv, dtype=np.float32), tuple(beats.leads))
    cell_s = GAP_S * math.ceil((beats.duration_s + GAP_S) / GAP_S - 1e-9)  # whole 5-mm squares
    origin = {}
    for col, leads in enumerate(COLUMNS["3x4"]):
        for row, lead in enumerate(leads):
            origin[lead] = (col * cell_s, -row * ROW_MV - BASELINE_FROM_TOP_MV)
    return signal, derived, origin


class MedianBeatsPanel(QWidget):
    """The median beats of one exam on ECG paper (or a line saying the file has none)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.caption = QLabel("No exam open.")
        self.caption.setWordWrap(True)
        self.plot = pg.PlotWidget(background="#d9d9d9")
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.setMinimumHeight(160)
        vb = self.plot.getViewBox()
        vb.setAspectLocked(True, ratio=SPEED_MM_S / GAIN_MM_MV)  # 1 mm squares stay square
        self.paper = EcgPaper()
        self.plot.addItem(self.paper)
        layout.addWidget(self.caption)
        layout.addWidget(self.plot, 1)
        self.traces: dict[str, pg.PlotDataItem] = {}
        self._items: list[Any] = []
        self.beats: MedianBeats | None = None

    def set_exam(self, exam: Any) -> None:
        """Draw the median beats of ``exam`` (``exam.clinical.median_beats``), or say there are none."""
        for item in self._items:
            self.plot.removeItem(item)
        self._items, self.traces = [], {}
        info = clinical_info(exam) if exam is not None else None
        beats = info.median_beats if info is not None else None
        self.beats = beats
        if beats is None:
            self.caption.setText(
                "No exam open." if exam is None else "This file holds no median beats from the cart."
            )
            self.paper.hide()
            return
        try:
            signal, derived, origin = beats_layout(beats)
        except PreprocessError as err:
            self.caption.setText(f"The median beats cannot be drawn: {err}")
            self.paper.hide()
            return
        t = np.arange(signal.shape[0]) / beats.fs
        pen = pg.mkPen(TRACE, width=1.2)
        for k, lead in enumerate(LEADS):
            x0, base = origin[lead]
            trace = pg.PlotDataItem(x0 + GAP_S / 2 + t, base + signal[:, k], pen=pen, antialias=True)
            label = pg.TextItem(lead + ("*" if lead in derived else ""), color=TRACE, anchor=(0, 0))
            label.setPos(x0 + 0.02, base + BASELINE_FROM_TOP_MV - 0.05)
            for item in (trace, label):
                self.plot.addItem(item)
                self._items.append(item)
            self.traces[lead] = trace
        width = max(x for x, _ in origin.values()) + (origin["V4"][0] - origin["V1"][0])
        rect = QRectF(0.0, -3 * ROW_MV - 0.5, width, 3 * ROW_MV + 0.5)  # room for deep S waves
        self.paper.set_paper(rect, 1.0 / SPEED_MM_S, 1.0 / GAIN_MM_MV)
        self.paper.show()
        self.plot.getViewBox().setRange(rect=rect, padding=0.02)
        info_device = f" ({info.device})" if info.device else ""
        note = f"; * derived from I and II ({', '.join(derived)})" if derived else ""
        self.caption.setText(
            f"Median beats stored by the cart{info_device}: {beats.signal_mv.shape[0]} samples at "
            f"{beats.fs:g} Hz ({beats.duration_s * 1000:.0f} ms per lead), 25 mm/s, 10 mm/mV{note}."
        )


class MedianBeatsDock(QObject):
    """View → Median Beats: the dock with :class:`MedianBeatsPanel` (hidden by default)."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.w = window
        self.view = window.viewer.view
        self.panel = MedianBeatsPanel()
        self.dock = window.add_panel("Median beats", self.panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.dock.hide()
        self.act_median = self.dock.toggleViewAction()
        self.act_median.setText("&Median Beats")
        self.act_median.setToolTip("The cart's median beat of every lead, where the file has them")
        self.act_median.toggled.connect(self._on_toggled)
        window.register_action(self.act_median, "view")
        self.view.events.show_median_beats.connect(self._on_view_changed)
        window.exam_shown.connect(self.panel.set_exam)
        window.exams_closed.connect(lambda: self.panel.set_exam(None))

    def set_visible(self, on: bool) -> None:
        """Show or hide the median beats (``view.show_median_beats``)."""
        self.view.show_median_beats = bool(on)

    def _on_toggled(self, on: bool) -> None:
        if self.view.show_median_beats != bool(on):
            self.view.show_median_beats = bool(on)

    def _on_view_changed(self, on: bool) -> None:
        if self.dock.isHidden() == bool(on):
            self.dock.setVisible(bool(on))
            if on:
                self.dock.raise_()
