"""Background jobs in the status bar: what runs, its progress, and Cancel (Esc).

:class:`JobStatus` (``window.jobs``) owns the status bar's job label, progress bar and Cancel
button and the Exam → Cancel Job action. A part shows a job with ``window.track_task(task,
label)``: the last tracked job is the one shown and cancelled; a finished job drops out by
itself. Esc cancels the shown job, or clears the calipers when nothing runs.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QLabel, QProgressBar, QToolButton

from ecgviewer.ui.workers import Task


class JobStatus(QObject):
    """The running jobs of one main window, shown in its status bar."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.w = window
        self.tracked: list[tuple[Task, str]] = []
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop the running job (Esc)")
        self.cancel_button.clicked.connect(self.cancel_job)
        self.cancel_button.hide()
        self.job_label = QLabel("")
        sb = window.statusBar()
        sb.addPermanentWidget(self.job_label)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        self.act_cancel = window.make_action(
            "&Cancel Job", self.cancel_job_or_calipers, QKeySequence(Qt.Key.Key_Escape)
        )

    def track(self, task: Task, label: str) -> None:
        """Show ``task`` (its label, progress, Cancel) until it finishes."""
        self.tracked.append((task, label))
        task.signals.progress.connect(lambda d, t, tk=task: self._on_progress(tk, d, t))
        task.signals.finished.connect(lambda tk=task: self.untrack(tk))
        self._show()

    def untrack(self, task: Task) -> None:
        self.tracked = [(t, lbl) for t, lbl in self.tracked if t is not task]
        self._show()

    def _show(self) -> None:
        if not self.tracked:
            self.progress.hide()
            self.cancel_button.hide()
            self.job_label.setText("")
            return
        _, label = self.tracked[-1]
        self.job_label.setText(label + ("" if len(self.tracked) == 1 else f" (+{len(self.tracked) - 1})"))
        self.progress.setRange(0, 0)  # busy until the job reports a total
        self.progress.show()
        self.cancel_button.show()

    def _on_progress(self, task: Task, done: int, total: int) -> None:
        if self.tracked and self.tracked[-1][0] is task and total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.progress.setFormat(f"{done:,} / {total:,}")

    def cancel_job(self) -> None:
        """Cancel the job shown in the status bar."""
        if self.tracked:
            task, label = self.tracked[-1]
            task.cancel()
            self.job_label.setText(f"{label}: cancelling…")

    def cancel_job_or_calipers(self) -> None:
        if self.tracked:
            self.cancel_job()
        else:
            self.w.grid.clear_calipers()

    def cancel_all(self, wait: bool = False) -> None:
        """Cancel every task of the window's runners (``wait``: until they have stopped)."""
        w = self.w
        w.runner.cancel_all()
        w.batch_runner.cancel_all()
        if wait:
            w.runner.wait(10_000)
            w.batch_runner.wait(10_000)
