"""The exam browser: a 20,000-exam HDF5 file, lazy headers, keyboard navigation, filter, sort and
background analysis of the whole set (pytest-qt, offscreen)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from conftest import new_main_window
from PySide6.QtCore import Qt

from ecgviewer.classes import CLASSES
from ecgviewer.display_filters import DisplayFilterSettings
from ecgviewer.synth import synth_exam
from ecgviewer.ui.browser import BASE_COLUMNS, COL_FS, ExamBrowser
from ecgviewer.viewer.workspace import Workspace

pytestmark = pytest.mark.gui
WAIT_MS = 120_000
N_EXAMS = 20_000
FIRST_ID = 500_000
WRITTEN = (0, 1, 2, 12_345, 12_346, N_EXAMS - 1)


@pytest.fixture(scope="module")
def big_hdf5(tmp_path_factory) -> Path:
    """A 20,000-exam file in the paper's layout; a few exams hold distinct synthetic ECGs, the rest
    are unwritten HDF5 chunks (zeros), so the file is small and quick to make."""
    import h5py

    path = tmp_path_factory.mktemp("big") / "code20k.hdf5"
    with h5py.File(path, "w") as h5:
        ds = h5.create_dataset("tracings", shape=(N_EXAMS, 4096, 12), dtype="float32", chunks=(1, 4096, 12))
        for k, i in enumerate(WRITTEN):
            exam = synth_exam([CLASSES[k % 6]], fs=400.0, duration_s=10.0, seed=100 + k)
            block = np.zeros((4096, 12), np.float32)
            block[48:4048] = exam.signal_mv * 10.0
            ds[i] = block
        h5.create_dataset("exam_id", data=np.arange(FIRST_ID, FIRST_ID + N_EXAMS, dtype=np.int64))
    return path


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, dialogs):
    monkeypatch.setenv("ECGVIEWER_HOME", str(tmp_path / "home"))
    w = new_main_window(qtbot)
    yield w
    w.close()


def test_twenty_thousand_exams_browse_lazily(qtbot, window, big_hdf5):
    with qtbot.waitSignal(window.analysis_finished, timeout=WAIT_MS):
        window.open_paths([big_hdf5])
    model = window.browser.model
    table = window.browser.table
    assert model.rowCount() == N_EXAMS
    assert window.current_exam.exam_id == str(FIRST_ID)
    qtbot.wait(50)  # let the table paint
    visible = table.rowAt(table.viewport().height() - 1) - table.rowAt(0) + 1
    assert 1 <= visible < 200
    # only the rows on screen had their headers read, not 20,000
    assert model.header_fetches <= visible + 5
    assert window.ws.analysed().sum() == 1  # the exam on screen; the set is too big to analyse unasked

    # jump far, then walk with the arrow keys: each row shows its own exam
    with qtbot.waitSignal(window.exam_shown, timeout=WAIT_MS) as blocker:
        window.browser.select_ws_row(12_345)
    assert blocker.args[0].exam_id == str(FIRST_ID + 12_345)
    table.setFocus()
    with qtbot.waitSignal(window.analysis_finished, timeout=WAIT_MS):
        qtbot.keyClick(table, Qt.Key.Key_Down)
    assert window.current_exam.exam_id == str(FIRST_ID + 12_346)
    assert window.current_row == 12_346
    assert window.ws.analysed()[12_346]
    with qtbot.waitSignal(window.exam_shown, timeout=WAIT_MS) as blocker:
        qtbot.keyClick(table, Qt.Key.Key_Up)
    assert blocker.args[0].exam_id == str(FIRST_ID + 12_345)
    # the distinct exams really are distinct: what is drawn is that exam's lead II (unfiltered)
    window.measurements.set_display_filters(DisplayFilterSettings(None, None, None))
    drawn = window.grid.cell("II", rhythm=True).curve.getData()[1]
    assert np.abs(drawn).max() > 0.1
    np.testing.assert_allclose(drawn, window.current_exam.lead("II"), atol=1e-6)
    # scrolling did not read every header either
    assert model.header_fetches <= 4 * visible + 10
    # fast key repeat is coalesced: only the last of many rows is read and drawn
    shown: list[str] = []
    window.exam_shown.connect(lambda e: shown.append(e.exam_id))
    with qtbot.waitSignal(window.exam_shown, timeout=WAIT_MS):
        for _ in range(15):
            qtbot.keyClick(table, Qt.Key.Key_Down)
    qtbot.wait(200)
    assert shown[-1] == str(FIRST_ID + 12_345 + 15)
    assert len(shown) < 15


def test_analyse_all_streams_and_cancels(qtbot, window, big_hdf5):
    with qtbot.waitSignal(window.analysis_finished, timeout=WAIT_MS):
        window.open_paths([big_hdf5])
    with qtbot.waitSignal(window.batch_finished, timeout=WAIT_MS) as blocker:
        task = window.analyse_all()
        assert task is not None
        qtbot.waitUntil(lambda: window.ws.analysed().sum() > 1, timeout=WAIT_MS)  # the first batch arrived
        assert window.progress.isVisible() and window.cancel_button.isVisible()
        window.cancel_button.click()
    assert blocker.args == ["cancelled"]
    done = int(window.ws.analysed().sum())
    assert 1 < done < N_EXAMS
    assert not window.progress.isVisible()
    # the streamed probabilities are the model's for those exams
    first = window.ws.probabilities[:3]
    from ecgviewer.model.runtime import load_model

    model = load_model()
    xs = np.stack([model.prepare(window.ws.read(i))[0] for i in range(3)])
    np.testing.assert_allclose(first, model.predict(xs), atol=1e-5)
    assert window.browser.model.data(window.browser.model.index(0, len(BASE_COLUMNS))) == f"{first[0, 0]:.3f}"


def _workspace_with(probs: np.ndarray) -> Workspace:
    """A workspace of generated WFDB-like exams in memory (headers only matter here)."""
    from ecgviewer.exam import ExamHeader

    class FakeSet:
        def __init__(self, n: int) -> None:
            self.n = n
            self.errors = []
            self.sources = []

        def __len__(self) -> int:
            return self.n

        def header(self, i: int) -> ExamHeader:
            return ExamHeader(
                exam_id=f"E{i:03d}",
                source=Path(f"f{i % 2}.h5"),
                format="hdf5",
                index=i,
                fs=(500.0 if i % 2 else 400.0),
                n_samples=5000 if i % 2 else 4096,
            )

        def close(self) -> None:
            pass

    ws = Workspace()
    ws.add(FakeSet(len(probs)))
    ws.set_model("fake 1", np.array([0.124, 0.07, 0.05, 0.278, 0.390, 0.174], np.float32))
    ws.set_probabilities(np.arange(len(probs)), probs)
    return ws


def test_filter_and_sort_in_the_table(qtbot):
    rng = np.random.default_rng(0)
    probs = rng.uniform(0, 1, (50, 6)).astype(np.float32)
    probs[7] = np.nan
    ws = _workspace_with(probs)
    browser = ExamBrowser(ws)
    qtbot.addWidget(browser)
    browser.refresh()
    assert browser.model.rowCount() == 50
    browser.filter_edit.setText("AF > 0.5")
    assert browser.apply_filter()
    expected = [i for i in range(50) if probs[i, 4] > 0.5]
    assert [browser.model.ws_row(r) for r in range(browser.model.rowCount())] == expected
    assert "of 50" in browser.count_label.text()
    browser.filter_edit.setText("AF > 0.5 and fs >= 500")
    assert browser.apply_filter()
    shown = [browser.model.ws_row(r) for r in range(browser.model.rowCount())]
    assert shown == [i for i in expected if i % 2]
    browser.filter_edit.setText("AF >")
    assert not browser.apply_filter()  # a bad filter says why and keeps the previous one
    assert browser.model.rowCount() == len([i for i in expected if i % 2])
    browser.filter_edit.setText("")
    assert browser.model.rowCount() == 50
    # sort by the AF probability, descending; the unknown row stays last
    af_col = len(BASE_COLUMNS) + CLASSES.index("AF")
    browser._on_header_clicked(af_col)
    browser._on_header_clicked(af_col)
    order = [browser.model.ws_row(r) for r in range(50)]
    assert order[-1] == 7
    assert order[:-1] == list(np.argsort(-probs[:, 4], kind="stable")[:49]) or np.all(
        np.diff(probs[order[:-1], 4]) <= 0
    )
    browser._on_header_clicked(COL_FS)
    fs = [browser.model.data(browser.model.index(r, COL_FS)) for r in range(50)]
    assert fs == sorted(fs, key=float)
    # selecting follows workspace rows through sorting
    with qtbot.waitSignal(browser.row_activated) as blocker:
        browser.select_ws_row(13)
    assert blocker.args == [13]
