"""The workers' lifecycle rule: a task whose receiver is gone is dropped, and destroying the
receiver cancels the task (a late ``done`` or ``failed`` never reaches a deleted widget)."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QWidget

from ecgviewer.errors import ModelError
from ecgviewer.ui.saliency_panel import SaliencyPanel
from ecgviewer.ui.workers import Task, TaskRunner


def _delete_now(widget: QWidget) -> None:
    widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def test_results_reach_a_live_receiver(qtbot) -> None:
    owner = QWidget()
    qtbot.addWidget(owner)
    runner = TaskRunner(1, owner)
    task = Task(lambda t: 41 + 1)
    with qtbot.waitSignal(task.signals.done, timeout=10_000) as blocker:
        runner.start(task)
    assert blocker.args == [42]
    qtbot.waitUntil(lambda: not runner.active(), timeout=10_000)


def test_destroying_the_receiver_cancels_the_task_and_drops_its_signals(qtbot) -> None:
    runner_owner = QWidget()  # lives on; the receiver below is the one that goes
    qtbot.addWidget(runner_owner)
    runner = TaskRunner(1, runner_owner)
    receiver = QWidget()
    started, release = threading.Event(), threading.Event()

    def work(task: Task) -> str:
        started.set()
        release.wait(10)
        if task.cancelled():
            raise ModelError("cancelled work should not be reported")
        return "late result"

    task = Task(work)
    got: list[str] = []
    task.signals.done.connect(got.append)
    task.signals.failed.connect(lambda err: got.append(f"failed: {err}"))
    task.signals.cancelled.connect(lambda: got.append("cancelled"))
    runner.start(task, receiver)
    assert started.wait(10)
    _delete_now(receiver)
    assert task.cancelled()
    release.set()
    assert runner.wait(10_000)
    qtbot.waitUntil(lambda: not runner.active() and task not in runner._active, timeout=10_000)
    assert got == []  # nothing delivered after the receiver went


def test_a_failure_after_the_saliency_panel_is_deleted_is_dropped(qtbot) -> None:
    """The old flaky test: a worker's ``failed`` reached a deleted SaliencyPanel's progress bar."""
    import numpy as np

    from ecgviewer.preprocess import to_model_input
    from ecgviewer.synth import synth_exam

    x, report = to_model_input(synth_exam(seed=3))
    gate = threading.Event()

    def broken(*args, **kwargs):
        gate.wait(10)
        raise ModelError("model.onnx: inference failed")

    outside = TaskRunner(1)  # a runner that outlives the panel, as the window's does
    panel = SaliencyPanel(runner=outside, explain_fn=broken)
    panel.set_context(object(), np.asarray(x), report)
    errors: list[str] = []
    panel.error.connect(errors.append)
    task = panel.explain()
    assert task is not None
    _delete_now(panel)
    gate.set()
    assert outside.wait(10_000)
    qtbot.waitUntil(lambda: task not in outside._active, timeout=10_000)
    assert task.state == "cancelled" or task.state == "failed"
    assert errors == []
