"""The main window end to end (pytest-qt, offscreen): opening every format, drag and drop, the
findings bars against the runtime, error dialogs, layouts, settings and ``--screenshot``."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from conftest import new_main_window
from PySide6.QtCore import QPoint

from ecgviewer.classes import CLASS_NAMES, CLASSES
from ecgviewer.leads import LEADS
from ecgviewer.synth import synth_exam, write_hdf5_code, write_wfdb
from ecgviewer.ui import settings as ui_settings
from ecgviewer.ui.mainwindow import MainWindow
from tests.file_drops import FileDrag

pytestmark = pytest.mark.gui
WAIT_MS = 120_000  # generous: CI machines are slow and shared


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("ECGVIEWER_HOME", str(path))
    return path


def _new_window(qtbot) -> MainWindow:
    return new_main_window(qtbot)


@pytest.fixture
def window(qtbot, home, dialogs) -> MainWindow:
    w = _new_window(qtbot)
    yield w
    w.close()


def open_and_wait(qtbot, window: MainWindow, paths) -> None:
    with qtbot.waitSignal(window.analysis_finished, timeout=WAIT_MS):
        window.open_paths([str(p) for p in paths])


def assert_twelve_traces(window: MainWindow) -> None:
    cells = [c for c in window.grid.cells if not c.spec.rhythm]
    assert sorted(c.lead for c in cells) == sorted(LEADS)
    for c in cells:
        _, y = c.curve.getData()
        assert y is not None and len(y) > 50 and np.isfinite(y).all(), c.lead


# ----------------------------------------------------------------------------- files


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, Path]:
    """Small files of each format written by the project's own tools."""
    root = tmp_path_factory.mktemp("formats")
    files: dict[str, Path] = {}
    a = synth_exam(["AF"], fs=500.0, duration_s=10.0, seed=11)
    files["wfdb"] = write_wfdb(a, root / "wfdb", "synth_af")
    b = synth_exam(["SB"], fs=500.0, duration_s=10.0, seed=12)
    csv = root / "synth_sb.csv"
    np.savetxt(csv, b.signal_mv, delimiter=",", header=",".join(LEADS), comments="", fmt="%.5f")
    files["csv"] = csv
    files["hdf5"] = write_hdf5_code(root / "code.hdf5", 3, seed=2, n_distinct=3)
    for k in range(3):
        write_wfdb(synth_exam([], fs=500.0, duration_s=10.0, seed=20 + k), root / "folder", f"rec{k}")
    files["folder"] = root / "folder"
    bad = root / "broken.hea"
    bad.write_text("this is not a WFDB header\n")
    files["bad"] = bad
    return files


@pytest.mark.parametrize("fmt", ["wfdb", "csv", "hdf5"])
def test_generated_files_of_each_format_open_with_twelve_traces(qtbot, window, generated, fmt):
    open_and_wait(qtbot, window, [generated[fmt]])
    assert window.current_exam is not None
    assert_twelve_traces(window)
    assert window.current_prediction is not None
    assert window.windowTitle().startswith(window.current_exam.display_name())


REAL_FILES = [
    "wfdb/challenge2021/CPSC_CPSC-Extra/A0001.hea",  # WFDB with .mat samples, 500 Hz
    "ptbxl/records500/00008_hr.hea",  # WFDB format 16 .dat, 500 Hz
    "csv/cpsc/A0002.csv",  # CSV in mV, no header
    "hdf5/sph/SPH00001.h5",  # HDF5 (12, N) float16 in mV
    "code-test/exams/pacient_1.hdf5",  # the paper's HDF5 layout, 400 Hz, mV
]


@pytest.mark.parametrize("relpath", REAL_FILES)
def test_real_files_of_each_format_open_with_twelve_traces(qtbot, window, shared_data, relpath):
    path = shared_data / relpath
    open_and_wait(qtbot, window, [path])
    assert window.current_exam is not None, window.errors
    assert window.current_exam.source is not None
    assert_twelve_traces(window)
    assert window.current_prediction is not None
    assert window.errors == []


def test_folder_opens_every_exam_and_pages_through_them(qtbot, window, generated):
    with qtbot.waitSignal(window.batch_finished, timeout=WAIT_MS):  # ≤ 200 exams: analysed at once
        open_and_wait(qtbot, window, [generated["folder"]])
    assert len(window.ws) == 3 and window.ws.analysed().all()
    assert window.current_exam.exam_id == "rec0"
    with qtbot.waitSignal(window.exam_shown, timeout=WAIT_MS) as blocker:
        window.act_next.trigger()
    assert blocker.args[0].exam_id == "rec1"
    with qtbot.waitSignal(window.exam_shown, timeout=WAIT_MS) as blocker:
        window.act_prev.trigger()
    assert blocker.args[0].exam_id == "rec0"


# ----------------------------------------------------------------------------- findings


def test_bars_show_exactly_the_runtime_probabilities(qtbot, window, generated):
    from ecgviewer.io import read_exam
    from ecgviewer.model.runtime import load_model

    open_and_wait(qtbot, window, [generated["wfdb"]])
    expected = load_model().predict_exam(read_exam(generated["wfdb"]))
    bars = window.findings.bars
    assert [b.cls for b in bars] == list(CLASSES)
    for k, bar in enumerate(bars):
        assert bar.value == float(expected.probabilities[k])
        assert bar.threshold == float(expected.thresholds[k])
        assert bar.positive == bool(expected.decisions[k])
        assert bar.value_text() == f"{expected.probabilities[k]:.3f}"
        assert CLASS_NAMES[bar.cls] in bar.toolTip()
    # the browser row shows the same numbers
    row = window.current_row
    np.testing.assert_array_equal(window.ws.probabilities[row], expected.probabilities)
    # which model, and that it is not a medical device, is on screen
    model = load_model()
    assert model.contract.name in window.model_banner.text()
    assert "not a medical device" in window.model_banner.text().lower()
    assert "not a medical device" in window.findings.notice.text().lower()
    assert model.provider in window.findings.provider.text()
    assert "Inference" in window.findings.timing.text()


def test_model_selector_lists_the_bundled_model(window):
    from ecgviewer.model.runtime import bundled_model_path

    items = [window.findings.selector.itemData(i) for i in range(window.findings.selector.count())]
    assert str(bundled_model_path()) in items


# ----------------------------------------------------------------------------- opening


def test_drop_of_a_file_opens_it(qtbot, window, generated):
    drag = FileDrag([generated["csv"]], QPoint(200, 200))
    event = drag.drop_event()
    with qtbot.waitSignal(window.analysis_finished, timeout=WAIT_MS):
        window.dropEvent(event)
    assert event.isAccepted()
    assert window.current_exam is not None and window.current_exam.source == generated["csv"]
    assert_twelve_traces(window)


def test_bad_file_shows_an_error_dialog_and_keeps_the_exam(qtbot, window, dialogs, generated):
    open_and_wait(qtbot, window, [generated["wfdb"]])
    before = window.current_exam
    drawn = window.grid.cell("II").curve.getData()[1].copy()
    with qtbot.waitSignal(window.open_finished, timeout=WAIT_MS) as blocker:
        window.open_paths([generated["bad"]])
    assert blocker.args == [False]
    critical = [d for d in dialogs if d[0] == "critical"]
    assert len(critical) == 1
    assert str(generated["bad"]) in critical[0][2]  # the dialog names the file ...
    assert len(critical[0][2].split(":", 1)[1].strip()) > 10  # ... and the problem
    assert window.current_exam is before
    np.testing.assert_array_equal(window.grid.cell("II").curve.getData()[1], drawn)
    assert window.current_prediction is not None


def test_missing_path_is_reported(qtbot, window, dialogs, tmp_path):
    with qtbot.waitSignal(window.open_finished, timeout=WAIT_MS):
        window.open_paths([tmp_path / "nope.hea"])
    assert dialogs and "nope.hea" in dialogs[-1][2]


def test_reopening_an_open_file_selects_it(qtbot, window, generated):
    open_and_wait(qtbot, window, [generated["wfdb"]])
    n = len(window.ws)
    window.open_paths([generated["wfdb"]])
    assert len(window.ws) == n


# ----------------------------------------------------------------------------- view


def test_layout_actions_rearrange_the_grid(qtbot, window, generated):
    open_and_wait(qtbot, window, [generated["wfdb"]])
    window.layout_actions["12x1"].trigger()
    assert window.grid.layout_name == "12x1"
    assert {c.spec.col for c in window.grid.cells} == {0}
    window.layout_actions["6x2"].trigger()
    assert {(c.lead, c.spec.col) for c in window.grid.cells} >= {("aVF", 0), ("V1", 1)}
    window.layout_actions["3x4"].trigger()
    assert window.grid.cell("II", rhythm=True) is not None
    assert window.layout_combo.currentData() == "3x4"
    assert_twelve_traces(window)


def test_network_input_toggle_and_preprocessing_report(qtbot, window, generated):
    open_and_wait(qtbot, window, [generated["wfdb"]])
    window.act_input.trigger()
    assert window.grid.show_input
    assert len(window.grid.cell("I").curve.getData()[1]) == 1024  # 4096 / 4 columns
    assert any(c.shading for c in window.grid.cells)
    window.act_report.trigger()
    assert window.info_dock.isVisible()
    text = window.info.text()
    assert "Resampled 500 Hz → 400 Hz" in text and "Zero-padded to 4096 samples" in text


def test_settings_persist_between_sessions(qtbot, home, dialogs, generated):
    w = _new_window(qtbot)
    w.set_layout("12x1")
    w.set_gain(20.0)
    w.set_speed(50.0)
    w.set_rhythm_lead("V1")
    open_and_wait(qtbot, w, [generated["wfdb"]])
    w.close()
    s = ui_settings.open_settings()
    assert Path(ui_settings.settings_path()).is_file()
    assert ui_settings.get_list(s, ui_settings.RECENT)[0] == str(generated["wfdb"].resolve())
    assert ui_settings.get_str(s, ui_settings.LAST_FOLDER) == str(generated["wfdb"].parent.resolve())
    w2 = _new_window(qtbot)
    view = (w2.grid.layout_name, w2.grid.gain, w2.grid.speed, w2.grid.rhythm_lead)
    assert view == ("12x1", 20.0, 50.0, "V1")
    assert w2.model is not None and ui_settings.get_str(s, ui_settings.MODEL) == str(w2.model.path)
    w2.close()


# ----------------------------------------------------------------------------- command line


def test_screenshot_renders_the_analysed_exam(qtbot, home, generated, tmp_path):
    from ecgviewer.ui.app import run_app

    out = tmp_path / "shot.png"
    args = argparse.Namespace(paths=[str(generated["wfdb"])], model=None, screenshot=str(out), layout="6x2")
    assert run_app(args) == 0
    from PySide6.QtGui import QImage

    image = QImage(str(out))
    assert image.width() >= 1000 and image.height() >= 600
    # a screenshot leaves the user's settings alone (layout, recent files)
    s = ui_settings.open_settings()
    assert ui_settings.get_str(s, ui_settings.LAYOUT) == ""
    assert ui_settings.get_list(s, ui_settings.RECENT) == []


def test_no_path_opens_the_bundled_example_exam(qtbot, window):
    from ecgviewer.ui.app import _open_initial, example_exam_path

    if example_exam_path() is None:
        pytest.skip("resources/example is not there")
    with qtbot.waitSignal(window.analysis_finished, timeout=WAIT_MS):
        assert _open_initial(window, [])
    assert window.current_exam.exam_id == "example_exam"
    assert window.current_prediction is not None
    assert_twelve_traces(window)
