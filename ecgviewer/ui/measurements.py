"""Measurements and display filters in the viewer: one feature part of the main window.

:class:`MeasurementsFeature` (``window.measurements``) adds

- the cart's measurements line above the findings ("HR 72 bpm · PR 164 ms · QRS 92 ms · QT/QTc
  380/402 ms · axes P 45° QRS 30° T 40°"; "—" where a value was not measured, the reason in the
  tooltip) and, under each rate- or interval-defined finding the model has (SB, ST, 1dAVb, AF),
  the measured value beside the paper's criterion with a plain flag when they disagree (the
  network's output is never changed);
- View → Fiducials (P onset, QRS onset/offset, T offset of each beat on the lead grid) and
  View → Display Filter (baseline, mains notch, low-pass; the cart default 0.05–150 Hz), both
  kept in ``window.viewer.view`` and remembered in the settings;
- measuring off the UI thread: the exam on screen when it is shown, and the rows of Analyse all
  as they are analysed, into ``workspace.measurements`` (the exam table's HR, PR, QRS, QT and
  QTc columns and filter words). NeuroKit2 is imported in the background at start.

The display filters change what is drawn, never the network input (View → Network Input shows
it unfiltered).
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QLabel, QMenu

from ecgviewer.display_filters import (
    BASELINE_CHOICES,
    CART_DEFAULT,
    LOWPASS_CHOICES,
    NOTCH_CHOICES,
    DisplayFilterSettings,
)
from ecgviewer.errors import EcgViewerError
from ecgviewer.measure import measurement_items
from ecgviewer.ui import settings as S  # noqa: N812
from ecgviewer.ui.workers import Task
from ecgviewer.viewer.measurements import PAPER_CRITERIA, prediction_checks

FIDUCIALS_ON = "view/fiducials"
FILTER_BASELINE = "view/filter_baseline_hz"
FILTER_NOTCH = "view/filter_notch_hz"
FILTER_LOWPASS = "view/filter_lowpass_hz"
FLAG_STYLE = "color:#b71c1c; font-weight:bold;"
CHECK_STYLE = "color:#455a64; font-size:small; margin-left:14px;"


def load_display_filters(s: Any) -> DisplayFilterSettings:
    """The display filters stored in QSettings ``s`` (the cart default when absent or unreadable)."""
    return DisplayFilterSettings.from_dict(
        {
            "baseline_hz": s.value(FILTER_BASELINE, CART_DEFAULT.baseline_hz),
            "notch_hz": s.value(FILTER_NOTCH, "off"),
            "lowpass_hz": s.value(FILTER_LOWPASS, CART_DEFAULT.lowpass_hz),
        }
    )


def save_display_filters(s: Any, f: DisplayFilterSettings) -> None:
    """Store the display filters in QSettings ``s`` ("off" for a filter that is off)."""
    for key, value in (
        (FILTER_BASELINE, f.baseline_hz),
        (FILTER_NOTCH, f.notch_hz),
        (FILTER_LOWPASS, f.lowpass_hz),
    ):
        s.setValue(key, "off" if value is None else f"{value:g}")


def _hz(v: float | None) -> str:
    return "Off" if v is None else f"{v:g} Hz"


class MeasurementsFeature(QObject):
    """Measurements line, findings cross-check, fiducials, display filters of one window."""

    measured = Signal(object)  # Measurements of the exam on screen
    rows_measured = Signal(object)  # (rows,) workspace rows measured by a batch

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.w = window
        self.view = window.viewer.view
        self._generation = 0  # bumped when the exam on screen changes: late results are dropped
        self._sets_generation = 0  # bumped on Close All: batch results of closed rows are dropped
        self._tasks: set[Task] = set()
        s = window.settings
        if window.interactive:  # --screenshot: the cart default, fiducials off, settings untouched
            self.view.display_filters = load_display_filters(s)
            self.view.show_fiducials = S.get_bool(s, FIDUCIALS_ON, False)

        # -- the measurements line above the findings, a cross-check line under SB, ST, 1dAVb, AF
        f = window.findings
        self.line = QLabel("")
        self.line.setObjectName("measurementsLine")
        self.line.setWordWrap(True)
        self.line.setTextFormat(Qt.TextFormat.RichText)
        self.line.setStyleSheet("font-weight:bold;")
        self.line.hide()
        f.layout().insertWidget(0, self.line)
        self.checks: dict[str, QLabel] = {}
        for bar in f.bars:
            if bar.cls not in PAPER_CRITERIA:
                continue
            label = QLabel("")
            label.setObjectName(f"crossCheck_{bar.cls}")
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setStyleSheet(CHECK_STYLE)
            label.hide()
            f.layout().insertWidget(f.layout().indexOf(bar) + 1, label)
            self.checks[bar.cls] = label

        # -- actions
        self.act_fiducials = window.make_action(
            "&Fiducials",
            self.set_show_fiducials,
            "M",
            checkable=True,
            tip="Mark each beat's P onset, QRS onset and offset and T offset on the leads (M)",
        )
        self.act_fiducials.setChecked(self.view.show_fiducials)
        window.register_action(self.act_fiducials, "view")
        self.filter_menu = QMenu("Display &Filter", window)
        self.filter_menu.setToolTipsVisible(True)
        self.act_cart_default = QAction("Cart Default (0.05–150 Hz, notch off)", window)
        self.act_cart_default.triggered.connect(lambda: self.set_display_filters(CART_DEFAULT))
        self.filter_menu.addAction(self.act_cart_default)
        self.filter_actions: dict[tuple[str, float | None], QAction] = {}
        for title, key, choices in (
            ("Baseline (high-pass)", "baseline_hz", BASELINE_CHOICES),
            ("Mains notch", "notch_hz", NOTCH_CHOICES),
            ("Low-pass", "lowpass_hz", LOWPASS_CHOICES),
        ):
            self.filter_menu.addSection(title)
            group = QActionGroup(window)
            for value in choices:
                act = QAction(_hz(value), window, checkable=True)
                act.triggered.connect(lambda _=False, k=key, v=value: self.set_filter(k, v))
                group.addAction(act)
                self.filter_menu.addAction(act)
                self.filter_actions[(key, value)] = act
        self.act_filter_menu = self.filter_menu.menuAction()
        self.act_filter_menu.setToolTip("Filters of the drawn and printed traces; never of the network input")
        window.register_action(self.act_filter_menu, "view")
        window.register_action(self.act_filter_menu, "toolbar")

        # -- observe the window and the view settings
        window.exam_shown.connect(self._on_exam_shown)
        window.prediction_shown.connect(lambda _p: self._show_checks())
        window.rows_analysed.connect(lambda rows, _own: self.measure_rows(rows))
        window.exams_closed.connect(self._on_closed)
        self.view.events.display_filters.connect(self._apply_filters)
        self.view.events.show_fiducials.connect(self._apply_fiducials)
        self._apply_filters(self.view.display_filters)
        if window.interactive:
            self._start(Task(lambda _t: _warm_up(), "Preparing measurements"))

    # ------------------------------------------------------------------ settings
    def set_display_filters(self, settings: DisplayFilterSettings) -> None:
        """Filter the drawn traces (viewer and report); remembered in the settings."""
        self.view.display_filters = settings

    def set_filter(self, key: str, value: float | None) -> None:
        """Change one filter ("baseline_hz", "notch_hz" or "lowpass_hz") and keep the others."""
        d = self.view.display_filters.to_dict()
        d[key] = value
        self.set_display_filters(DisplayFilterSettings(**d))

    def set_show_fiducials(self, on: bool) -> None:
        self.view.show_fiducials = bool(on)

    def _apply_filters(self, settings: DisplayFilterSettings) -> None:
        self.w.grid.set_display_filters(settings)
        for (key, value), act in self.filter_actions.items():
            act.setChecked(getattr(settings, key) == value)
        self.act_filter_menu.setText(f"Filter: {settings.describe()}")
        if self.w.interactive:
            save_display_filters(self.w.settings, settings)

    def _apply_fiducials(self, on: bool) -> None:
        if self.act_fiducials.isChecked() != bool(on):
            self.act_fiducials.setChecked(bool(on))
        m = self.current()
        self.w.grid.set_fiducials(m.beats if on and m is not None else None)
        if self.w.interactive:
            self.w.settings.setValue(FIDUCIALS_ON, bool(on))

    # ------------------------------------------------------------------ measuring
    def current(self) -> Any | None:
        """The cached measurements of the exam on screen, or None (not measured yet)."""
        return self.w.viewer.measurements()

    def pending(self) -> bool:
        """True while a measurement task is queued or running."""
        return any(t.state in ("queued", "running") for t in self._tasks)

    def _start(self, task: Task) -> Task:
        self._tasks.add(task)
        task.signals.at_end.append(lambda t=task: self._tasks.discard(t))
        # the window's runner: closing the window cancels and waits for these tasks too
        return self.w.runner.start(task, receiver=self)

    def _on_exam_shown(self, exam: Any) -> None:
        self._generation += 1
        gen = self._generation
        viewer = self.w.viewer
        row = viewer.row
        cached = viewer.measurements()
        if cached is not None:
            self._show(cached)
            return
        self._show(None, "Measuring…")
        cache = viewer.workspace.measurements

        def work(task: Task):
            return cache.measure(exam, row)

        task = Task(work, "Measuring")
        task.signals.done.connect(lambda m, g=gen: self._on_measured(g, m))
        task.signals.failed.connect(lambda err, g=gen: self._on_failed(g, err))
        self._start(task)

    def _on_measured(self, gen: int, m: Any) -> None:
        if gen != self._generation:
            return
        self._show(m)
        if self.w.viewer.row is not None:
            self.w.browser.measurements_changed(np.array([self.w.viewer.row]))
        self.w.viewer.events.measurements_changed.emit(m)
        self.measured.emit(m)

    def _on_failed(self, gen: int, err: BaseException) -> None:
        if gen == self._generation:
            self._show(None, f"Measurements failed: {err}")

    def measure_rows(self, rows: Any) -> Task | None:
        """Measure these workspace rows in the background (those not cached yet), for the table."""
        ws = self.w.ws
        todo = [int(r) for r in np.asarray(rows, dtype=np.int64) if ws.measurements.get(int(r)) is None]
        if not todo:
            return None
        gen = self._sets_generation

        def work(task: Task):
            done = []
            for r in todo:
                if task.cancelled() or gen != self._sets_generation:
                    break
                try:
                    ws.measurements.measure(ws.read(r), r)
                    done.append(r)
                except EcgViewerError:
                    continue  # the batch analysis names the unreadable rows
            return np.array(done, dtype=np.int64)

        task = Task(work, f"Measuring {len(todo)} exams")
        task.signals.done.connect(lambda done, g=gen: self._on_rows_measured(g, done))
        return self._start(task)

    def _on_rows_measured(self, gen: int, rows: np.ndarray) -> None:
        if gen != self._sets_generation:
            return
        self.w.browser.measurements_changed(rows)
        self.rows_measured.emit(rows)

    def _on_closed(self) -> None:
        self._sets_generation += 1
        self._generation += 1
        for task in list(self._tasks):
            task.cancel()
        self._show(None, "")

    # ------------------------------------------------------------------ presenting
    def _show(self, m: Any | None, status: str = "") -> None:
        if m is None:
            self.line.setText(f"<span style='color:#607d8b; font-weight:normal'>{html.escape(status)}</span>")
            self.line.setToolTip("")
            self.line.setVisible(bool(status))
            self.w.grid.set_fiducials(None)
            for label in self.checks.values():
                label.hide()
            return
        parts, reasons = [], []
        for item in measurement_items(m):
            text = html.escape(item.text).replace(" ", "&nbsp;").replace("/", "/\u2060")  # no break
            if item.reason:
                parts.append(f"<span style='white-space:nowrap; color:#78909c'>{text}</span>")
                reasons.append(f"{item.label}: {item.reason}")
            else:  # wrap between items only
                parts.append(f"<span style='white-space:nowrap'>{text}</span>")
        self.line.setText(" · ".join(parts))
        tip = [f"Measured on {m.n_beats} beats (QTc by Bazett)."]
        if reasons:
            tip.append("Not measured — " + "; ".join(reasons))
        elif m.notes:
            tip.append("; ".join(m.notes))
        self.line.setToolTip("<br>".join(html.escape(t) for t in tip))
        self.line.show()
        self.w.grid.set_fiducials(m.beats if self.view.show_fiducials else None)
        self._show_checks()

    def _show_checks(self) -> None:
        checks = prediction_checks(self.current(), self.w.viewer.prediction)
        for cls, label in self.checks.items():
            check = checks.get(cls)
            if check is None:  # not measured yet, no prediction, or a class the model lacks
                label.hide()
                continue
            text = html.escape(check.text)
            if check.flagged:
                text += f" <span style='{FLAG_STYLE}'>⚠ disagrees</span>"
                label.setToolTip(html.escape(check.message) + "<br><i>The network's output is unchanged.</i>")
            else:
                label.setToolTip("The measured value beside the paper's definition of the finding.")
            label.setText(text)
            label.show()

    def flagged(self) -> list[str]:
        """The findings whose cross-check disagrees on screen (for tests and the status bar)."""
        return [
            cls for cls, c in prediction_checks(self.current(), self.w.viewer.prediction).items() if c.flagged
        ]


def _warm_up() -> None:
    """Import NeuroKit2 (about 2 s the first time), so that the first exam is measured quickly."""
    import neurokit2  # noqa: F401
