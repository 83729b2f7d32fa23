"""Measurements line, findings cross-check, fiducials, table columns and display filters in the
main window (pytest-qt, offscreen)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from conftest import open_and_wait
from PySide6.QtCore import QSettings

from ecgviewer.display_filters import CART_DEFAULT, DisplayFilterSettings
from ecgviewer.synth import synth_exam, write_wfdb
from ecgviewer.ui.measurements import FIDUCIALS_ON, load_display_filters, save_display_filters

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def exams(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("measure_wfdb")
    return {
        "normal70": write_wfdb(synth_exam([], seed=1, heart_rate=70.0, noise=0.0), root, "normal70"),
        "sb": write_wfdb(synth_exam(["SB"], seed=2, noise=0.3), root, "sb45"),
    }


def open_and_measure(qtbot, w, paths) -> None:
    open_and_wait(qtbot, w, paths)
    # the worker fills the cache before its result reaches the UI thread: wait for what is shown
    qtbot.waitUntil(
        lambda: w.measurements.current() is not None and "Measuring" not in w.measurements.line.text(),
        timeout=60_000,
    )


def test_measurements_line_and_the_cross_check_flag(qtbot, window, exams):
    w = window
    open_and_measure(qtbot, w, [exams["normal70"]])
    line = w.measurements.line
    text = re.sub("<[^>]+>", "", line.text()).replace("&nbsp;", " ").replace("\u2060", "")
    assert line.isVisibleTo(w.findings) and text.startswith("HR 70 bpm · PR ")
    assert "QT/QTc " in text and "axes P " in text
    assert "beats" in line.toolTip()
    sb = w.measurements.checks["SB"]
    assert sb.isVisibleTo(w.findings) and "SB: HR 70 bpm — paper: sinus &lt; 50 bpm" in sb.text()
    assert "disagrees" not in sb.text() or w.current_prediction.decisions[w.model.classes.index("SB")]

    # a stub prediction calls SB positive at 70 bpm: flagged, and the network's output unchanged
    pred = w.current_prediction
    k = pred.classes.index("SB")
    decisions = np.zeros(len(pred.classes), dtype=bool)
    decisions[k] = True
    stub = dataclasses.replace(pred, decisions=decisions)
    w.current_prediction = stub
    w.prediction_shown.emit(stub)
    qtbot.waitUntil(lambda: "disagrees" in sb.text(), timeout=60_000)
    assert w.measurements.flagged() == ["SB"]
    assert "SB positive but measured HR 70 bpm" in sb.toolTip()
    assert w.current_prediction.decisions.tolist() == decisions.tolist()
    assert np.array_equal(w.current_prediction.probabilities, pred.probabilities)
    # the other rate and interval findings have their lines, unflagged
    assert "disagrees" not in w.measurements.checks["ST"].text()


def test_fiducials_toggle_on_the_grid_and_are_remembered(qtbot, window, exams):
    w = window
    open_and_measure(qtbot, w, [exams["normal70"]])
    assert all(not c.fiducials for c in w.grid.cells)
    w.measurements.act_fiducials.trigger()
    assert w.viewer.view.show_fiducials is True
    beats = w.measurements.current().beats
    cell = w.grid.cell("II", rhythm=True)  # the whole recording: every beat
    names = {item.toolTip() for item in cell.fiducials}
    assert names == {"P onset", "QRS onset", "QRS offset", "T offset"}
    qrs_on = next(item for item in cell.fiducials if item.toolTip() == "QRS onset")
    x, _y = qrs_on.getData()
    assert len(x) == 2 * int(np.isfinite(beats.qrs_onset_s).sum())
    assert np.allclose(x[::2], cell.spec.x0 + beats.qrs_onset_s - cell.spec.t0)
    assert w.settings.value(FIDUCIALS_ON) in (True, "true")
    w.grid.set_layout("6x2")  # a rebuilt grid keeps them
    assert all(c.fiducials for c in w.grid.cells)
    w.measurements.act_fiducials.trigger()
    assert all(not c.fiducials for c in w.grid.cells)


def test_measurement_columns_and_filter_words_after_analyse_all(qtbot, window, exams):
    w = window
    open_and_measure(qtbot, w, [exams["sb"], exams["normal70"]])
    w.analyse_all()
    qtbot.waitUntil(lambda: len(w.ws.measurements) == 2, timeout=60_000)
    qtbot.waitUntil(lambda: not w.measurements.pending(), timeout=60_000)
    table = w.browser.model
    hr_col = table.columns.index("HR")
    assert {table.columns[hr_col + i] for i in range(5)} == {"HR", "PR", "QRS", "QT", "QTc"}
    hrs = {table.ws_row(r): table.data(table.index(r, hr_col)) for r in range(table.rowCount())}
    assert all(v for v in hrs.values()), hrs
    w.browser.filter_edit.setText("HR < 50")
    assert w.browser.apply_filter()
    shown = [table.data(table.index(r, table.columns.index("ID"))) for r in range(table.rowCount())]
    assert shown == ["sb45"]
    w.browser.filter_edit.setText("HR >= 50 and QTc > 100")
    assert w.browser.apply_filter()
    assert table.rowCount() == 1


def test_display_filters_footer_settings_and_network_input(qtbot, window, exams, tmp_path):
    w = window
    open_and_measure(qtbot, w, [exams["normal70"]])
    assert w.viewer.view.display_filters == CART_DEFAULT
    assert "filter 0.05–150 Hz" in w.grid.header.text()
    pred = w.current_prediction
    input_before = pred.input.copy()
    before = w.grid.traces()["II"].getData()[1].copy()
    w.measurements.set_filter("notch_hz", 50.0)
    assert "filter 0.05–150 Hz, 50 Hz notch" in w.grid.header.text()
    after = w.grid.traces()["II"].getData()[1]
    assert before.shape == after.shape and not np.allclose(before, after, atol=1e-4)
    assert np.array_equal(w.current_prediction.input, input_before)  # the network input is untouched
    assert w.measurements.filter_actions[("notch_hz", 50.0)].isChecked()
    assert load_display_filters(w.settings) == DisplayFilterSettings(notch_hz=50.0)
    # the network-input view shows the unfiltered network input
    w.grid_show_input(True)
    shown = w.grid.traces()["II rhythm"].getData()[1]  # the rhythm strip: all 4096 samples
    col = list(w.model.contract.leads).index("II")
    assert np.allclose(shown, input_before[:, col], atol=1e-6)
    assert "unfiltered" in w.grid.header.text()
    w.grid_show_input(False)


@pytest.mark.parametrize(
    "f",
    [CART_DEFAULT, DisplayFilterSettings(None, 60.0, 40.0), DisplayFilterSettings(0.5, None, None)],
)
def test_display_filter_settings_round_trip_through_qsettings(tmp_path, f):
    path = str(tmp_path / "settings.ini")
    s = QSettings(path, QSettings.Format.IniFormat)
    save_display_filters(s, f)
    s.sync()
    assert load_display_filters(QSettings(path, QSettings.Format.IniFormat)) == f
    assert (
        load_display_filters(QSettings(str(tmp_path / "empty.ini"), QSettings.Format.IniFormat))
        == CART_DEFAULT
    )
