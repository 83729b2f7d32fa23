"""Shared fixtures. Tests that read ../shared/data are skipped where it is absent."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
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


def shared_folder(shared_data: Path, name: str) -> Path:
    """The folder ``name`` of ``../shared/data``; skips the test if it is absent."""
    folder = shared_data / name
    if not folder.is_dir():
        pytest.skip(f"../shared/data/{name} is not beside the checkout")
    return folder


@pytest.fixture(scope="session")
def keras_fixture_dir(shared_data: Path) -> Path:
    """``../shared/data/keras-fixture``: the paper's network with random weights, inputs, outputs."""
    return shared_folder(shared_data, "keras-fixture")


@pytest.fixture(scope="session")
def keras_fixture_onnx(keras_fixture_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Keras fixture converted to ONNX once for the session (tests only read it)."""
    from ecgviewer.model.keras_import import convert_keras, save_onnx

    out = tmp_path_factory.mktemp("keras") / "fixture.onnx"
    return save_onnx(convert_keras(keras_fixture_dir / "ribeiro_random_keras224.hdf5"), out)


def run_evaluate(predictions: Path, gold: Path, out: Path, *options: str) -> int:
    """``ecgviewer evaluate --predictions P --gold G --out O [options]``; returns its exit status."""
    from ecgviewer.cli import main

    return main(
        ["evaluate", "--predictions", str(predictions), "--gold", str(gold), "--out", str(out), *options]
    )


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


def write_cart_muse_file(path: Path, statements: Sequence[str], seed: int) -> Path:
    """A GE MUSE XML file of a synthetic AF exam (500 Hz, 10 s) as a MAC 5500 cart writes it: the
    cart's ``statements`` and the patient Jane Doe (id SELFTEST). Returns ``path``."""
    from ecgviewer.io.clinical_samples import write_muse_xml
    from ecgviewer.synth import synth_exam

    exam = synth_exam(["AF"], fs=500.0, duration_s=10.0, seed=seed)
    return write_muse_xml(
        exam, path, statements=statements, last_name="Doe", first_name="Jane", device="MAC 5500"
    )


def write_exams_with_gold(folder: Path, finding_of_exam: Sequence[int]) -> Path:
    """``folder/exams.hdf5`` in the CODE layout (mV, 400 Hz, 10 s centred in 4096 samples, ids 101..):
    exam i has the one finding ``CLASSES[finding_of_exam[i]]`` (synthetic, seed i), which
    ``folder/annotations/gold_standard.csv`` states. Returns the HDF5 path."""
    import h5py
    import numpy as np

    from ecgviewer.classes import CLASSES
    from ecgviewer.synth import synth_exam

    n = len(finding_of_exam)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "exams.hdf5"
    with h5py.File(path, "w") as h5:
        ds = h5.create_dataset("tracings", shape=(n, 4096, 12), dtype="float32")
        for i, k in enumerate(finding_of_exam):
            block = np.zeros((4096, 12), np.float32)
            block[48:4048] = synth_exam([CLASSES[k]], fs=400.0, duration_s=10.0, seed=i).signal_mv
            ds[i] = block
        h5.create_dataset("exam_id", data=np.arange(101, 101 + n, dtype=np.int64))
    (folder / "annotations").mkdir(exist_ok=True)
    rows = ["exam_id," + ",".join(CLASSES)]
    rows += [
        f"{101 + i}," + ",".join("1" if c == k else "0" for c in range(len(CLASSES)))
        for i, k in enumerate(finding_of_exam)
    ]
    (folder / "annotations" / "gold_standard.csv").write_text("\n".join(rows) + "\n")
    return path


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


@pytest.fixture
def window(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dialogs):
    """A shown 1500×950 MainWindow with its own user folder and dialogs recorded, closed after the
    test (the test files whose window differs define their own ``window``)."""
    monkeypatch.setenv("ECGVIEWER_HOME", str(tmp_path / "home"))
    w = new_main_window(qtbot, (1500, 950))
    yield w
    w.close()


def open_and_wait(qtbot, w, paths) -> None:
    """Open ``paths`` in the window ``w`` and wait until the exam on screen has its prediction."""
    with qtbot.waitSignal(w.analysis_finished, timeout=WINDOW_WAIT_MS):
        w.open_paths([str(p) for p in paths])
    assert w.current_prediction is not None, w.errors


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
