"""Shared fixtures. Tests that read ../shared/data are skipped where it is absent."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (public ECG records); skips the test if absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside the checkout")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own user folder: imported models, caches and settings never leak."""
    monkeypatch.setenv("ECGVIEWER_HOME", str(tmp_path / "ecgviewer-home"))


@pytest.fixture(scope="session", autouse=True)
def _one_qapplication(qapp):  # qapp: pytest-qt's fixture
    """One QApplication for the whole session, made before any test runs.

    The headless report code creates a bare QGuiApplication when none exists; if such a
    test ran first, a later widget test would find no QApplication and Qt would abort.
    """
    return qapp


# --------------------------------------------------------------------------- main-window tests

WINDOW_WAIT_MS = 120_000  # generous: CI machines are slow and shared


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """Record message boxes as (kind, title, text) instead of blocking on them."""
    from PySide6.QtWidgets import QMessageBox

    calls: list[tuple[str, str, str]] = []

    def recorder(kind):
        def show(parent, title, text, *args, **kwargs):
            calls.append((kind, title, text))
            return QMessageBox.StandardButton.Ok

        return staticmethod(show)

    for kind in ("critical", "warning", "information"):
        monkeypatch.setattr(QMessageBox, kind, recorder(kind))
    return calls


def new_main_window(qtbot, size: tuple[int, int] = (1400, 900)):
    """A shown MainWindow (closed by qtbot after the test) once its model has loaded."""
    from ecgviewer.ui.mainwindow import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    qtbot.waitUntil(lambda: w.model is not None, timeout=WINDOW_WAIT_MS)
    return w


# --------------------------------------------------------------------------- Qt leak guards
# As napari's test suite does: a test that leaves a running thread pool or QThread, an active
# QTimer or a top-level widget behind fails, because whatever it left would run during (and
# disturb) a later test. Opt out with @pytest.mark.qt_leak_ok("why") only for a good reason.

_GRACE_MS = 10_000  # time for a finishing worker to return after its last signal (not a speed check)


def _leak_guard_enabled(request: pytest.FixtureRequest) -> bool:
    return request.node.get_closest_marker("qt_leak_ok") is None and "PySide6.QtWidgets" in sys.modules


@pytest.fixture(autouse=True)
def _no_dangling_qt(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """Fail the test if it leaves QThreadPool work, a QThread, a QTimer or a top-level widget."""
    if not _leak_guard_enabled(request):
        yield
        return
    import shiboken6
    from PySide6.QtCore import QCoreApplication, QEvent, QThread, QThreadPool, QTimer
    from PySide6.QtWidgets import QApplication

    pools: list[QThreadPool] = []
    threads: list[QThread] = []
    timers: list[QTimer] = []

    def recorder(cls, name, store):
        original = getattr(cls, name)

        def record(self, *args, **kwargs):
            store.append(self)
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, record)

    recorder(QThreadPool, "start", pools)
    recorder(QThread, "start", threads)
    recorder(QTimer, "start", timers)
    before = {id(w) for w in QApplication.topLevelWidgets()}
    yield
    monkeypatch.undo()
    problems: list[str] = []
    for pool in {id(p): p for p in pools}.values():
        if shiboken6.isValid(pool) and not pool.waitForDone(_GRACE_MS):
            problems.append(f"a thread pool still runs {pool.activeThreadCount()} task(s)")
    for thread in {id(t): t for t in threads}.values():
        if shiboken6.isValid(thread) and not thread.wait(_GRACE_MS):
            problems.append(f"QThread {thread!r} still runs")
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
    for timer in {id(t): t for t in timers}.values():
        if shiboken6.isValid(timer) and timer.isActive() and not timer.isSingleShot():
            problems.append(f"a repeating QTimer ({timer.interval()} ms) is still active")
    left = [w for w in QApplication.topLevelWidgets() if id(w) not in before and shiboken6.isValid(w)]
    left = [w for w in left if not w.inherits("QMenu")]  # menus are made lazily by Qt
    if left:
        problems.append("top-level widgets left: " + ", ".join(type(w).__name__ for w in left))
        for w in left:  # do not let them disturb the next test
            w.close()
            w.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    if problems:
        pytest.fail("Qt objects left behind by the test: " + "; ".join(problems), pytrace=False)
