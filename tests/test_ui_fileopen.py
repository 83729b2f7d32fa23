"""Files the desktop hands over while the viewer runs (macOS sends QFileOpenEvent) are opened."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QFileOpenEvent

from ecgviewer.ui.app import install_file_open_handler


class _Window:
    def __init__(self) -> None:
        self.opened: list[list[str]] = []

    def open_paths(self, paths: list[str]) -> None:
        self.opened.append(list(paths))


def test_file_open_event_opens_the_file(qapp, tmp_path) -> None:
    window = _Window()
    handler = install_file_open_handler(qapp, window)
    try:
        exam = tmp_path / "exam.hea"
        QCoreApplication.sendEvent(qapp, QFileOpenEvent(str(exam)))
        assert window.opened == [[str(exam)]]
    finally:
        qapp.removeEventFilter(handler)
