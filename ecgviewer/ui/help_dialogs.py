"""Help → Keyboard Shortcuts and About ecgviewer.

:class:`HelpDialogs` (``window.help``) owns both actions and fills the Help menu. The About box
names the active model, its citation, and says that the bundled model is not a medical device.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMenu, QMessageBox

SHORTCUTS_HELP = [
    ("Ctrl+O", "Open files…"),
    ("Ctrl+Shift+O", "Open a folder…"),
    ("Ctrl+W", "Close all exams"),
    ("Down / Up (in the table), Page Down / Page Up", "Next / previous exam"),
    ("Ctrl+1, Ctrl+2, Ctrl+3", "Layout 3×4 + rhythm, 6×2, 12×1"),
    ("G", "Next gain (5, 10, 20 mm/mV)"),
    ("S", "Next speed (25, 50 mm/s)"),
    ("N", "Original signal / network input"),
    ("R", "Exam and preprocessing report"),
    ("C", "Calipers (or Shift+drag); Esc clears"),
    ("Ctrl++ / Ctrl+- / Ctrl+0 / F", "Zoom in / out / actual size / fit (Ctrl+wheel zooms, wheel scrolls)"),
    ("Ctrl+Shift+A", "Analyse all open exams"),
    ("Esc", "Cancel the running job, clear calipers"),
    ("Ctrl+F", "Filter the exam table"),
    ("E", "Explain the exam (SHAP, all six classes)"),
    ("H", "SHAP heatmap on/off"),
    ("M", "Fiducials (P onset, QRS onset/offset, T offset) on/off"),
    ("Ctrl+L", "Load labels…"),
    ("Ctrl+T", "Set statistics…"),
    ("Ctrl+P", "Export report…"),
    ("Ctrl+Q", "Quit"),
]


class HelpDialogs(QObject):
    """The Help menu of one main window."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.w = window
        self.act_shortcuts = window.make_action(
            "&Keyboard Shortcuts", self.show_shortcuts, QKeySequence.StandardKey.HelpContents
        )
        self.act_about = window.make_action("&About ecgviewer", self.show_about)

    def fill_menu(self, menu: QMenu) -> None:
        menu.addAction(self.act_shortcuts)
        menu.addAction(self.act_about)

    def show_shortcuts(self) -> None:
        rows = "".join(
            f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>" for k, v in SHORTCUTS_HELP
        )
        QMessageBox.information(self.w, "Keyboard shortcuts", f"<table cellpadding='3'>{rows}</table>")

    def show_about(self) -> None:
        from ecgviewer import __version__

        m = self.w.viewer.model
        model = (
            f"<p>Active model: {html.escape(m.describe())}.<br>{html.escape(m.contract.citation)}</p>"
            if m is not None
            else ""
        )
        QMessageBox.about(
            self.w,
            "About ecgviewer",
            f"<h3>ecgviewer {html.escape(__version__)}</h3><p>12-lead ECG viewer with the "
            "network of Ribeiro et al. (2020).</p>"
            + model
            + "<p><b>The bundled model is not a medical device.</b> "
            "Do not use it for diagnosis.</p>",
        )
