"""Local files dragged onto a widget, as a file manager does it: the drag-enter and the drop event
(for the window tests and benchmarks/ui_bench.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent


class FileDrag:
    """A copy-drag of ``paths`` with the left button at ``pos``.

    Qt's events only point at their QMimeData: this object owns it, so keep it alive while its
    events are delivered."""

    def __init__(self, paths: Sequence[Path], pos: QPoint) -> None:
        self.pos = pos
        self.mime = QMimeData()
        self.mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])

    def enter_event(self) -> QDragEnterEvent:
        return QDragEnterEvent(
            self.pos,
            Qt.DropAction.CopyAction,
            self.mime,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )

    def drop_event(self) -> QDropEvent:
        return QDropEvent(
            self.pos.toPointF(),
            Qt.DropAction.CopyAction,
            self.mime,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
