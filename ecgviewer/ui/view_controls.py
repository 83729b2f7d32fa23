"""How the exam is drawn, as the user controls it: layout, gain, speed, rhythm lead, zoom.

:class:`ViewControls` (``window.view_controls``) owns the View menu's layout, rhythm-lead, gain
and speed choices, Network Input (N), Preprocessing Report (R), Calipers (C), the zoom actions
and the toolbar's combo boxes, and keeps them in the settings. The state is
``window.viewer.view`` (:class:`~ecgviewer.viewer.view.ViewSettings`): an action or a combo sets
it, and this part observes it to redraw the grid, check the actions and store the choice, so
``window.viewer.view.gain = 20`` from a notebook or a test does all of that too.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QComboBox, QLabel, QMenu, QToolBar

from ecgviewer.leads import LEADS
from ecgviewer.ui import settings as S  # noqa: N812 - short for settings keys
from ecgviewer.viewer.view import GAINS, LAYOUT_NAMES, LAYOUTS, SPEEDS

DEFAULTS: dict[str, Any] = {"layout": "3x4", "gain": 10.0, "speed": 25.0, "rhythm_lead": "II"}


class ViewControls(QObject):
    """The view actions and combos of one main window, bound to ``window.viewer.view``."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.w = window
        self.grid = window.grid
        self.view = window.viewer.view
        self._save = True  # store changes in the settings (off while restoring them)
        a = window.make_action
        self.act_input = a(
            "Show &Network Input",
            self.show_input,
            "N",
            checkable=True,
            tip="Show what the network sees: 400 Hz, 4096 samples, zero padding shaded (N)",
        )
        self.act_report = a(
            "&Preprocessing Report",
            self.toggle_report,
            "R",
            checkable=True,
            tip="The exam's facts and what preprocessing did to it (R)",
        )
        self.act_calipers = a(
            "&Calipers",
            self.calipers,
            "C",
            checkable=True,
            tip="Drag on a lead to measure Δt (ms, bpm) and ΔmV; Shift+drag works in any mode (C)",
        )
        g = self.grid
        self.act_zoom_in = a("Zoom &In", lambda: g.zoom_by(1.25), QKeySequence.StandardKey.ZoomIn)
        self.act_zoom_out = a("Zoom &Out", lambda: g.zoom_by(0.8), QKeySequence.StandardKey.ZoomOut)
        self.act_actual = a(
            "&Actual Size",
            g.actual_size,
            "Ctrl+0",
            tip="Physical scale: speed mm per second and gain mm per mV on screen",
        )
        self.act_fit = a("&Fit Page", g.fit, "F", tip="Zoom so the whole sheet fits (F)")
        self.act_gain_cycle = a("Next Gain", self.view.next_gain, "G")
        self.act_speed_cycle = a("Next Speed", self.view.next_speed, "S")

        def choices(values, text: Callable[[Any], str], field: str, keys=None) -> dict[Any, QAction]:
            group = QActionGroup(self)
            acts = {}
            for i, v in enumerate(values):
                act = a(
                    text(v),
                    lambda _=False, v=v: setattr(self.view, field, v),
                    keys and keys[i],
                    checkable=True,
                )
                group.addAction(act)
                acts[v] = act
            return acts

        self.layout_actions = choices(
            LAYOUTS, lambda n: f"Layout {LAYOUT_NAMES[n]}", "layout", [f"Ctrl+{i + 1}" for i in range(3)]
        )
        self.gain_actions = choices(GAINS, lambda v: f"{v:g} mm/mV", "gain")
        self.speed_actions = choices(SPEEDS, lambda v: f"{v:g} mm/s", "speed")
        self.rhythm_group = QActionGroup(self)
        self.rhythm_actions: dict[str, QAction] = {}
        for lead in LEADS:
            act = QAction(lead, self, checkable=True)
            act.triggered.connect(lambda _=False, ld=lead: self.set_rhythm_lead(ld))
            self.rhythm_group.addAction(act)
            self.rhythm_actions[lead] = act

        def combo(items: list[tuple[str, Any]], field: str, tip: str) -> QComboBox:
            box = QComboBox()
            for text, value in items:
                box.addItem(text, value)
            box.setToolTip(tip)
            box.activated.connect(lambda i: setattr(self.view, field, box.itemData(i)))
            return box

        self.layout_combo = combo(
            [(LAYOUT_NAMES[n], n) for n in LAYOUTS], "layout", "Lead layout (Ctrl+1, Ctrl+2, Ctrl+3)"
        )
        self.rhythm_combo = combo(
            [(ld, ld) for ld in LEADS], "rhythm_lead", "Lead of the full-length rhythm strip (3×4 layout)"
        )
        self.gain_combo = combo([(f"{g:g} mm/mV", g) for g in GAINS], "gain", "Amplitude scale (G cycles)")
        self.speed_combo = combo([(f"{v:g} mm/s", v) for v in SPEEDS], "speed", "Paper speed (S cycles)")
        self.menu_rhythm: QMenu | None = None

        ev = self.view.events
        for name in DEFAULTS:  # psygnal passes (new, old): partial ignores them
            getattr(ev, name).connect(partial(self._on_changed, name))
        self.grid.view_changed.connect(self.save)
        self.grid.measured.connect(lambda m: window.statusBar().showMessage(m.text().replace("\n", "  ·  ")))

    # -- placing the actions (the window lays out its menus and toolbar) -------------------
    def fill_menu(self, menu: QMenu) -> None:
        """The View menu's part: layouts, rhythm lead, gains, speeds, N/R/C, zoom."""
        for act in self.layout_actions.values():
            menu.addAction(act)
        self.menu_rhythm = menu.addMenu("&Rhythm Strip Lead")
        for act in self.rhythm_actions.values():
            self.menu_rhythm.addAction(act)
        groups = (
            self.gain_actions.values(),
            self.speed_actions.values(),
            (self.act_input, self.act_report, self.act_calipers),
            (self.act_zoom_in, self.act_zoom_out, self.act_actual, self.act_fit),
        )
        for acts in groups:
            menu.addSeparator()
            for act in acts:
                menu.addAction(act)

    def fill_toolbar(self, tb: QToolBar) -> None:
        """The toolbar's part: the four combos, N/R/C, actual size and fit."""
        for label, box in (
            (" Layout ", self.layout_combo),
            (" Rhythm ", self.rhythm_combo),
            (" Gain ", self.gain_combo),
            (" Speed ", self.speed_combo),
        ):
            tb.addWidget(QLabel(label))
            tb.addWidget(box)
        for acts in ((self.act_input, self.act_report, self.act_calipers), (self.act_actual, self.act_fit)):
            tb.addSeparator()
            for act in acts:
                tb.addAction(act)

    # -- the view settings -----------------------------------------------------------------
    def set_layout(self, name: str, save: bool = True) -> None:
        self._set("layout", name, save)

    def set_gain(self, gain: float, save: bool = True) -> None:
        self._set("gain", float(gain), save)

    def set_speed(self, speed: float, save: bool = True) -> None:
        self._set("speed", float(speed), save)

    def set_rhythm_lead(self, lead: str, save: bool = True) -> None:
        self._set("rhythm_lead", lead, save)

    def _set(self, field: str, value: Any, save: bool) -> None:
        self._save = save
        try:
            setattr(self.view, field, value)  # the observer (_apply) draws it, unless unchanged
        finally:
            self._save = True

    def _on_changed(self, field: str, *_: Any) -> None:
        self._apply(field)

    def _apply(self, field: str) -> None:
        """Show ``view.<field>`` on the grid, the actions and the combos (and store it)."""
        self.view.check()  # a value the viewer does not offer: ValueError naming it
        value = getattr(self.view, field)
        if field == "layout":
            self.grid.set_layout(value)
            self.rhythm_combo.setEnabled(value == "3x4")
            if self.menu_rhythm is not None:
                self.menu_rhythm.setEnabled(value == "3x4")
            acts, box, values = self.layout_actions, self.layout_combo, LAYOUTS
        elif field == "rhythm_lead":
            self.grid.set_rhythm_lead(value)
            acts, box, values = self.rhythm_actions, self.rhythm_combo, LEADS
        elif field == "gain":
            self.grid.set_gain(float(value))
            acts, box, values = self.gain_actions, self.gain_combo, GAINS
        else:
            self.grid.set_speed(float(value))
            acts, box, values = self.speed_actions, self.speed_combo, SPEEDS
        acts[value].setChecked(True)
        box.setCurrentIndex(values.index(value))
        if self._save:
            self.save()

    def show_input(self, on: bool) -> None:
        """Draw the network input (N) instead of the recording."""
        self.grid.set_show_input(bool(on))
        self.view.show_input = bool(on)
        if self.act_input.isChecked() != bool(on):
            self.act_input.setChecked(bool(on))

    def calipers(self, on: bool) -> None:
        self.grid.set_caliper_mode(bool(on))
        msg = "Calipers: drag on a lead to measure (Esc clears)" if on else ""
        self.w.statusBar().showMessage(msg, 4000)

    def toggle_report(self, on: bool) -> None:
        dock = self.w.info_dock
        dock.setVisible(bool(on))
        if on:
            dock.raise_()

    # -- settings --------------------------------------------------------------------------
    def restore(self) -> None:
        """The stored layout, gain, speed, rhythm lead and screen scale (with ``interactive=False``
        the defaults, whatever the user chose)."""
        w = self.w
        values = dict(DEFAULTS)
        if w.interactive:
            s = w.settings
            stored = {
                "layout": S.get_str(s, S.LAYOUT, "3x4"),
                "gain": S.get_float(s, S.GAIN, 10.0),
                "speed": S.get_float(s, S.SPEED, 25.0),
                "rhythm_lead": S.get_str(s, S.RHYTHM_LEAD, "II"),
            }
            offered = {"layout": LAYOUTS, "gain": GAINS, "speed": SPEEDS, "rhythm_lead": LEADS}
            values.update({k: v for k, v in stored.items() if v in offered[k]})
            px_per_mm = S.get_float(s, S.PX_PER_MM, 0.0)
            if px_per_mm > 0:
                self.grid.set_px_per_mm(px_per_mm)
        self._save = False
        try:
            with self.view.events.blocked():
                for field, value in values.items():
                    setattr(self.view, field, value)
            for field in values:  # drawn also where the value was already the view's
                self._apply(field)
        finally:
            self._save = True

    def save(self) -> None:
        """Store the grid's layout, gain, speed and rhythm lead (not with ``interactive=False``)."""
        w = self.w
        if not w.interactive:  # --screenshot leaves the user's settings alone
            return
        g, s = self.grid, w.settings
        s.setValue(S.LAYOUT, g.layout_name)
        s.setValue(S.GAIN, g.gain)
        s.setValue(S.SPEED, g.speed)
        s.setValue(S.RHYTHM_LEAD, g.rhythm_lead)
