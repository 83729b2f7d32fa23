"""Explanation, labels, set statistics and report export inside the main window (pytest-qt, offscreen)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from conftest import open_and_wait
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from ecgviewer.classes import CLASSES
from ecgviewer.leads import LEADS
from ecgviewer.synth import synth_exam, write_wfdb

pytestmark = pytest.mark.gui
WAIT_MS = 120_000


@pytest.fixture(scope="module")
def wfdb_exam(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wfdb")
    return write_wfdb(synth_exam(["RBBB"], fs=500.0, duration_s=10.0, seed=5), root, "synth_rbbb")


def test_docks_and_actions_are_installed(window):
    assert (
        window.explanation.dock.widget().widget() is window.explanation.saliency
        and window.label_sources.dock.widget().widget() is window.label_sources.labels
    )
    file_menu = [a.text() for a in window.menu_file.actions()]
    assert "Load &Labels…" in file_menu and "&Export Report…" in file_menu
    exam_menu = window.menu_exam.actions()
    assert window.set_statistics.act_setstats in exam_menu and window.explanation.act_explain in exam_menu
    # each feature part registered its own actions, in the order of the menus
    assert file_menu.index("Load &Labels…") < file_menu.index("&Export Report…")
    explain, setstats = window.explanation.act_explain, window.set_statistics.act_setstats
    assert exam_menu.index(explain) < exam_menu.index(setstats)
    assert window.explanation.act_heatmap in window.toolbar.actions()


def test_heatmap_of_the_selected_class_on_the_grid(qtbot, window, wfdb_exam):
    from ecgviewer.explain import explain_cached

    open_and_wait(qtbot, window, [wfdb_exam])
    panel = window.explanation.saliency
    assert panel.model is window.model and panel.x is window.current_prediction.input
    # a real explanation, at a small budget to keep the test quick
    panel._explain_fn = lambda m, x, **kw: explain_cached(m, x, **{**kw, "segments": 8, "max_evals": 24})
    with qtbot.waitSignal(panel.saliency_changed, timeout=WAIT_MS) as blocker:
        window.explanation.act_explain.trigger()
    sal = blocker.args[0]
    assert sal is not None and sal.values.shape == (6, 12, 8)
    np.testing.assert_allclose(sal.additivity_error(), 0, atol=1e-4)
    # the class picked in the findings panel is drawn
    window.findings._on_bar_clicked("LBBB")
    assert panel.selected_class == "LBBB"
    k = CLASSES.index("LBBB")
    cells = [c for c in window.grid.cells if c.overlay is not None]
    assert len(cells) == len(window.grid.cells)
    v1 = window.grid.cell("V1").overlay.image[:, 0]  # the segment values of V1 within its cell
    assert v1.any() and np.isin(v1, np.append(sal.values[k, LEADS.index("V1")], 0)).all()
    # H toggles it; a new layout keeps it; another exam clears it
    window.explanation.act_heatmap.trigger()
    assert all(c.overlay is None for c in window.grid.cells) and not panel.heatmap_on
    window.explanation.act_heatmap.trigger()
    window.set_layout("12x1")
    assert all(c.overlay is not None for c in window.grid.cells)
    with qtbot.waitSignal(window.exam_shown, timeout=WAIT_MS):
        window.open_exam(synth_exam([], seed=9))
    assert panel.saliency is None and all(c.overlay is None for c in window.grid.cells)


def test_code_exam_labels_found_and_compared(qtbot, window, shared_data):
    exam = shared_data / "code-test" / "exams" / "pacient_2.hdf5"
    open_and_wait(qtbot, window, [exam])
    qtbot.waitUntil(lambda: len(window.label_sources.store) == 7, timeout=WAIT_MS)
    qtbot.waitUntil(
        lambda: (comp := window.label_sources.labels.comparison) is not None and comp.reference is not None,
        timeout=WAIT_MS,
    )
    comp = window.label_sources.labels.comparison
    assert comp.columns[0] == window.model.contract.name and comp.reference == "Gold standard"
    assert comp.values[CLASSES.index("LBBB"), comp.columns.index("Gold standard")] == 1  # exam 2 is LBBB
    assert window.label_sources.labels.table.isVisibleTo(window.label_sources.labels)
    # the browser's label column and the "model disagrees" data
    assert window.ws.agreement[0].startswith(("agrees", "differs"))
    assert window.ws.label_disagrees[0] == comp.disagrees[:, 0].any()


def test_load_labels_names_the_source(qtbot, window, wfdb_exam, tmp_path, monkeypatch):
    open_and_wait(qtbot, window, [wfdb_exam])
    csv = tmp_path / "reads.csv"
    csv.write_text("exam_id,1dAVb,RBBB,LBBB,SB,AF,ST\nsynth_rbbb,0,1,0,0,0,0\nother,0,0,0,0,1,0\n")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(csv), "")))
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("Dr. House", True)))
    with qtbot.waitSignal(window.label_sources.labels_changed, timeout=WAIT_MS):
        window.label_sources.act_load_labels.trigger()
    assert "Dr. House" in window.label_sources.store.names()
    comp = window.label_sources.labels.comparison
    assert "Dr. House" in comp.columns
    assert comp.values[CLASSES.index("RBBB"), comp.columns.index("Dr. House")] == 1
    # the WFDB header's own #Dx labels are a source too, and the reference when there is no gold standard
    assert comp.columns[1] == "Dx (header)" and comp.reference == "Dx (header)"
    assert window.ws.agreement.get(0, "") != ""


def test_bad_label_file_gives_an_error_dialog(qtbot, window, wfdb_exam, tmp_path, dialogs):
    open_and_wait(qtbot, window, [wfdb_exam])
    bad = tmp_path / "notes.csv"
    bad.write_text("a,b\n1,2\n")
    window.label_sources.load_labels(bad, "Notes")
    qtbot.waitUntil(lambda: bool(dialogs), timeout=WAIT_MS)
    assert dialogs and dialogs[-1][1] == "Cannot load labels" and "notes.csv" in dialogs[-1][2]
    assert "Notes" not in window.label_sources.store.names()


def test_set_statistics_over_the_code_exams(qtbot, window, shared_data):
    with qtbot.waitSignal(window.batch_finished, timeout=WAIT_MS):
        open_and_wait(qtbot, window, [shared_data / "code-test" / "exams"])
    assert len(window.ws) == 10 and window.ws.analysed().all()
    qtbot.waitUntil(lambda: len(window.label_sources.store) == 7, timeout=WAIT_MS)
    inp = window.set_statistics.setstats_input()
    assert [k[0] for k in inp.keys][:2] == ["pacient_1", "pacient_10"] or inp.keys[0][0] == "pacient_1"
    dlg = window.set_statistics.show_setstats()
    with qtbot.waitSignal(dlg.computed, timeout=WAIT_MS) as blocker:
        pass
    ev = blocker.args[0].evaluation
    assert ev.reference == "Gold standard" and ev.n_exams == 10
    assert ev.raters[0] == window.ws.model_label and len(ev.raters) == 7
    assert dlg.table2.rowCount() == 6 * 7
    dlg.close()


def test_export_report_asks_before_replacing(qtbot, window, wfdb_exam, tmp_path, monkeypatch):
    import ecgviewer.report as report

    open_and_wait(qtbot, window, [wfdb_exam])
    window.set_gain(20.0)
    window.set_speed(50.0)
    window.set_rhythm_lead("V1")
    out = tmp_path / "r.pdf"
    monkeypatch.setattr(
        QFileDialog,
        "getSaveFileName",
        staticmethod(lambda *a, **k: (str(tmp_path / "r"), "PDF on US Letter paper (*.pdf)")),
    )
    seen = {}
    real = report.write_exam_report

    def spy(path, exam, pred, **kw):
        seen.update(kw)
        return real(path, exam, pred, **kw)

    monkeypatch.setattr(report, "write_exam_report", spy)
    with qtbot.waitSignal(window.report_export.report_written, timeout=WAIT_MS):
        window.report_export.act_export_report.trigger()
    assert out.read_bytes().startswith(b"%PDF")
    assert seen["paper"] == "Letter" and seen["gain_mm_mv"] == 20.0 and seen["speed_mm_s"] == 50.0
    assert seen["rhythm_lead"] == "V1" and seen["model"] is window.model
    # exists: "No" keeps the file, "Yes" replaces it
    out.write_bytes(b"%PDF keep")
    asked = []
    monkeypatch.setattr(
        QMessageBox,
        "question",
        staticmethod(lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No),
    )
    assert window.report_export.export_report_dialog() is None
    assert asked and "r.pdf" in asked[0] and out.read_bytes() == b"%PDF keep"
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes))
    with qtbot.waitSignal(window.report_export.report_written, timeout=WAIT_MS):
        window.report_export.export_report_dialog()
    assert out.read_bytes() != b"%PDF keep" and out.read_bytes().startswith(b"%PDF")


def test_export_report_without_an_exam_says_so(window, dialogs):
    assert window.report_export.export_report_dialog() is None
    assert dialogs and dialogs[-1][1] == "Nothing to report"


def test_label_column_and_disagree_filter_after_a_batch(qtbot, window, tmp_path):
    folder = tmp_path / "set"
    for k, findings in enumerate((["RBBB"], ["AF"], [], ["SB"])):
        write_wfdb(synth_exam(findings, fs=500.0, duration_s=10.0, seed=30 + k), folder, f"rec{k}")
    with qtbot.waitSignal(window.batch_finished, timeout=WAIT_MS):
        open_and_wait(qtbot, window, [folder])
    ws, browser = window.ws, window.browser
    assert ws.analysed().all()
    qtbot.waitUntil(lambda: ws.labelled.all(), timeout=WAIT_MS)  # every exam's #Dx read during the batch
    from ecgviewer.labels import labels_from_exam

    expected = []
    for r in range(len(ws)):
        dx = labels_from_exam(ws.read(r)).values[0]
        dec = ws.decisions()[r]
        expected.append(bool(((dx >= 0) & (dec != (dx == 1))).any()))
    assert ws.label_disagrees.tolist() == expected
    for r in range(len(ws)):
        assert ws.agreement[r].startswith("differs" if expected[r] else "agrees")
    # the switch and the filter word show the same exams
    browser.disagree_check.setChecked(True)
    shown = sorted(browser.model.ws_row(i) for i in range(browser.model.rowCount()))
    assert shown == [r for r in range(len(ws)) if expected[r]]
    browser.disagree_check.setChecked(False)
    browser.filter_edit.setText("disagrees")
    assert browser.apply_filter()
    assert browser.model.rowCount() == sum(expected)
    browser.filter_edit.setText("agrees")
    assert browser.apply_filter()
    assert browser.model.rowCount() == len(ws) - sum(expected)
    browser.filter_edit.setText("")
    browser.apply_filter()
    # the tooltip of the label column explains a disagreement
    if any(expected):
        r = expected.index(True)
        assert "model" in ws.agreement_details[r] and "Dx (header)" in ws.agreement_details[r]
    # Close All forgets the labels
    window.close_all()
    assert len(window.label_sources.store) == 0 and not window.label_sources.store.exam_labels
