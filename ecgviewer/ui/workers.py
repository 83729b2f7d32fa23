"""Background work for the viewer: QRunnable tasks whose results arrive on the UI thread.

A :class:`Task` runs ``fn(task)`` on a QThreadPool thread. ``fn`` reports with
``task.progress(done, total)`` and ``task.partial(obj)``, polls ``task.cancelled()`` (or
passes ``task.cancelled`` as the core's ``cancel=`` callback, which raises
:class:`~ecgviewer.errors.Cancelled`), and returns its result. The signals (``progress``,
``partial``, ``done``, ``failed``, ``cancelled``, ``finished``) are queued to the thread that
created the task.

One lifecycle rule: every task has a receiver, the QObject whose slots it feeds (given to
:meth:`TaskRunner.start`, by default the runner's parent). When the receiver is destroyed (a
panel or window closed) the task is cancelled and everything it still emits is dropped, so
a late ``done`` or ``failed`` never reaches a deleted widget.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from ecgviewer.errors import Cancelled, EcgViewerError

log = logging.getLogger(__name__)


class TaskSignals(QObject):
    """Signals of one task (emitted from the worker thread, delivered on the UI thread).

    The worker emits ``_post`` (queued to the thread that made this object); the relay there
    re-emits the public signal unless the task was dropped or its receiver is gone.
    """

    progress = Signal(int, int)
    partial = Signal(object)
    done = Signal(object)
    failed = Signal(object)  # the exception
    cancelled = Signal()
    finished = Signal()  # after done, failed or cancelled
    _post = Signal(str, object)  # (signal name, args tuple), from the worker thread

    def __init__(self) -> None:
        super().__init__()
        self.dropped = False
        self.receiver: QObject | None = None
        self.at_end: list[Callable[[], None]] = []  # bookkeeping run after finished, always
        self._post.connect(self._relay)

    def _receiver_alive(self) -> bool:
        return self.receiver is None or shiboken6.isValid(self.receiver)

    @Slot(str, object)
    def _relay(self, name: str, args: tuple) -> None:  # UI thread
        if not self.dropped and self._receiver_alive():
            getattr(self, name).emit(*args)
        if name == "finished":
            hooks, self.at_end = self.at_end, []
            for hook in hooks:
                hook()


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
        self._emit("progress", int(done), int(total))

    def partial(self, obj: Any) -> None:
        self._emit("partial", obj)

    def _emit(self, name: str, *args: Any) -> None:
        try:
            self.signals._post.emit(name, args)
        except RuntimeError:  # the signals object went with its owner: nobody is listening
            self._cancel.set()

    # -- API for the UI --------------------------------------------------------------------
    def cancel(self) -> None:
        self._cancel.set()

    def drop(self, *_: Any) -> None:
        """Cancel and deliver nothing more but ``finished`` (the receiver is gone)."""
        self._cancel.set()
        self.signals.dropped = True

    def bind(self, receiver: QObject | None) -> None:
        """Tie the task to ``receiver``: destroying it cancels the task and drops its signals."""
        if receiver is None:
            return
        self.signals.receiver = receiver
        receiver.destroyed.connect(self.drop)

        def unbind() -> None:  # the receiver must not keep every finished task alive
            if shiboken6.isValid(receiver):
                receiver.destroyed.disconnect(self.drop)

        self.signals.at_end.append(unbind)

    def run(self) -> None:  # worker thread
        if self._cancel.is_set():
            self.state = "cancelled"
            self._emit("cancelled")
            self._emit("finished")
            return
        self.state = "running"
        try:
            self.result = self.fn(self)
        except Cancelled:
            self.state = "cancelled"
            self._emit("cancelled")
        except EcgViewerError as err:
            self.state, self.error = "failed", err
            self._emit("failed", err)
        except Exception as err:  # an unexpected bug: log it, show a message, keep the app alive
            log.error("task %r failed:\n%s", self.name, traceback.format_exc())
            self.state, self.error = "failed", err
            self._emit("failed", err)
        else:
            if self._cancel.is_set():
                self.state = "cancelled"
                self._emit("cancelled")
            else:
                self.state = "done"
                self._emit("done", self.result)
        self._emit("finished")


class TaskRunner(QObject):
    """Starts tasks on its own thread pool and keeps them alive until they finish."""

    def __init__(self, max_threads: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._active: set[Task] = set()

    def start(self, task: Task, receiver: QObject | None = None) -> Task:
        """Run ``task``; ``receiver`` (default: this runner's parent) is what its signals feed,
        and destroying it cancels the task and drops what it still emits."""
        task.bind(receiver if receiver is not None else self.parent())
        self._active.add(task)
        task.signals.at_end.append(lambda t=task: self._active.discard(t))
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
