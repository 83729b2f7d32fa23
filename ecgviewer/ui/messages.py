"""How errors reach the user of the window: one line, never a traceback, never a crash.

- :func:`guarded` wraps every action's slot: an exception it raises becomes a one-line message
  (:func:`report_unexpected`) and the app carries on (``ECGVIEWER_DEBUG=1`` logs the traceback,
  see :func:`ecgviewer.viewer.quality_view.error_line`);
- :func:`show_error` / :func:`show_warning`: a dialog naming the file and the problem (and which
  exam is still on screen).

With ``window.interactive`` False (``--screenshot``) nothing is shown: the text goes to stderr.
Every message is also appended to ``window.errors`` (what tests and ``--screenshot`` read).
"""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

log = logging.getLogger(__name__)


def guarded(window: Any, slot: Callable, what: str = "") -> Callable:
    """``slot`` behind the window's one top-level guard (QAction.triggered's ``checked`` flag is
    passed on when the slot takes an argument)."""
    try:
        n_params = len(inspect.signature(slot).parameters)
    except (TypeError, ValueError):
        n_params = 1

    def run(checked: bool = False):
        try:
            return slot(*(checked,)[:n_params])
        except Exception as err:  # the last resort: one line, never a crash
            report_unexpected(window, err, what=what)
            return None

    return run


def report_unexpected(window: Any, err: BaseException, files: Iterable = (), what: str = "") -> str:
    """Show an error met by an action, an open or a worker as one line (status bar and a
    non-modal message box; stderr when not interactive); returns the line."""
    from ecgviewer.viewer.quality_view import error_line

    line = error_line(err, files)
    title = f"{what} failed" if what else "Unexpected error"
    window.errors.append(line)
    window.statusBar().showMessage(f"{title}: {line}", 15000)
    if window.interactive:
        box = QMessageBox(QMessageBox.Icon.Warning, title, line, QMessageBox.StandardButton.Ok, window)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setModal(False)
        box.show()
        window._last_error_box = box
    else:
        print(f"ecgviewer: {title}: {line}", file=sys.stderr)
    return line


def show_error(window: Any, title: str, text: str, keep_note: str | None = None) -> None:
    """An error dialog; ``keep_note`` names the exam still on screen."""
    if keep_note:
        text += f"\n\nStill showing {keep_note}."
    window.errors.append(text)
    window.statusBar().showMessage(f"{title}: {text.splitlines()[0]}", 10000)
    if window.interactive:
        log.info("%s: %s", title, text)
        QMessageBox.critical(window, title, text)
    else:
        print(f"ecgviewer: {title}: {text}", file=sys.stderr)


def show_warning(window: Any, title: str, text: str) -> None:
    """A warning dialog (the work went on, e.g. some files of a folder were skipped)."""
    window.errors.append(text)
    if window.interactive:
        QMessageBox.warning(window, title, text)
    else:
        print(f"ecgviewer: {title}: {text}", file=sys.stderr)
