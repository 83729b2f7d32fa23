"""Background work for the viewer: QRunnable tasks whose results arrive on the UI thread.

A :class:`Task` runs ``fn(task)`` on a QThreadPool thread. ``fn`` reports with
``task.progress(done, total)`` and ``task.partial(obj)``, polls ``task.cancelled()`` (or
passes ``task.cancelled`` as the core's ``cancel=`` callback, which raises
:class:`~ecgviewer.errors.Cancelled`), and returns its result. The signals (``done``,
``failed``, ``cancelled``, ``finished``) are queued to the thread that created the task.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from ecgviewer.errors import Cancelled, EcgViewerError

log = logging.getLogger(__name__)


class TaskSignals(QObject):
    """Signals of one task (emitted from the worker thread, delivered on the UI thread)."""

    progress = Signal(int, int)
    partial = Signal(object)
    done = Signal(object)
    failed = Signal(object)  # the exception
    cancelled = Signal()
    finished = Signal()  # after done, failed or cancelled


class Task(QRunnable):
    """A cancellable unit of background work.

    Args:
        fn: called as ``fn(task)`` on a worker thread; its return value is emitted by ``done``.
        name: what the task does, for the status bar ("Opening A0001.hea").
    """

    def __init__(self, fn: Callable[[Task], Any], name: str = "") -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.fn = fn
        self.name = name
        self.signals = TaskSignals()
        self._cancel = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.state = "queued"  # queued, running, done, failed, cancelled

    # -- API for fn ------------------------------------------------------------------------
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called (pass as the core's ``cancel=`` callback)."""
        return self._cancel.is_set()

    def progress(self, done: int, total: int) -> None:
        self.signals.progress.emit(int(done), int(total))

    def partial(self, obj: Any) -> None:
        self.signals.partial.emit(obj)

    # -- API for the UI --------------------------------------------------------------------
    def cancel(self) -> None:
        self._cancel.set()

    def run(self) -> None:  # worker thread
        if self._cancel.is_set():
            self.state = "cancelled"
            self.signals.cancelled.emit()
            self.signals.finished.emit()
            return
        self.state = "running"
        try:
            self.result = self.fn(self)
        except Cancelled:
            self.state = "cancelled"
            self.signals.cancelled.emit()
        except EcgViewerError as err:
            self.state, self.error = "failed", err
            self.signals.failed.emit(err)
        except Exception as err:  # an unexpected bug: log it, show a message, keep the app alive
            log.error("task %r failed:\n%s", self.name, traceback.format_exc())
            self.state, self.error = "failed", err
            self.signals.failed.emit(err)
        else:
            if self._cancel.is_set():
                self.state = "cancelled"
                self.signals.cancelled.emit()
            else:
                self.state = "done"
                self.signals.done.emit(self.result)
        self.signals.finished.emit()


class TaskRunner(QObject):
    """Starts tasks on its own thread pool and keeps them alive until they finish."""

    def __init__(self, max_threads: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._active: set[Task] = set()

    def start(self, task: Task) -> Task:
        self._active.add(task)
        task.signals.finished.connect(lambda t=task: self._active.discard(t))
        self.pool.start(task)
        return task

    def active(self) -> list[Task]:
        return [t for t in self._active if t.state in ("queued", "running")]

    def cancel_all(self) -> None:
        for task in list(self._active):
            task.cancel()

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until every task has finished (for shutdown and tests)."""
        return self.pool.waitForDone(msecs)
