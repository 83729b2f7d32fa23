"""The Read dock: a blinded read whose findings stay hidden until it is committed, then revealed;
a revision keeps both; the worklist and the filter words (pytest-qt, offscreen)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import new_main_window, write_exams_with_gold

from ecgviewer.classes import CLASSES
from ecgviewer.reads import ReaderFile
from ecgviewer.ui.browser import BASE_COLUMNS, COL_FINDINGS

pytestmark = pytest.mark.gui
WAIT_MS = 120_000


def _exams(folder: Path, n: int = 3) -> Path:
    """n exams, exam i with finding 1 + i (RBBB, LBBB, SB, ...), and their gold standard."""
    return write_exams_with_gold(folder, [1 + i for i in range(n)])


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, dialogs):
    monkeypatch.setenv("ECGVIEWER_HOME", str(tmp_path / "home"))
    w = new_main_window(qtbot, (1500, 950))
    yield w
    w.cancel_all_jobs(wait=True)
    w.close()


def _open(qtbot, w, path: Path) -> None:
    with (
        qtbot.waitSignal(w.batch_finished, timeout=WAIT_MS),
        qtbot.waitSignal(w.analysis_finished, timeout=WAIT_MS),
    ):
        w.open_paths([str(path)])
    qtbot.waitUntil(lambda: "Gold standard" in w.label_sources.store.names(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: w.current_prediction is not None, timeout=WAIT_MS)


def _open_blinded(qtbot, w, tmp_path: Path):
    """Ana Souza reads blinded: three exams written and opened; returns their file and the Read dock."""
    path = _exams(tmp_path / "exams")
    rd = w.reading
    rd.set_reader("Ana Souza")
    rd.set_blinded(True)
    _open(qtbot, w, path)
    return path, rd


def test_blinded_read_hidden_until_committed_then_revised(qtbot, window, tmp_path):
    path, rd = _open_blinded(qtbot, window, tmp_path)
    assert window.current_row == 0 and window.current_prediction is not None
    # hidden: findings, explanation, labels and the table's probability columns
    assert rd.hidden()
    covers = rd._covers
    assert not any(c.isHidden() for c in covers.values()) and len(covers) == 4  # a tab may be behind
    inner = window.findings_dock.widget()
    qtbot.waitUntil(lambda: covers["Findings"].geometry() == inner.rect(), timeout=5000)
    assert "hidden" in window.findings_dock.windowTitle()
    assert not window.explanation.act_explain.isEnabled() and not rd.act_agree.isEnabled()
    table = window.browser.table
    assert table.isColumnHidden(COL_FINDINGS) and table.isColumnHidden(len(BASE_COLUMNS))
    assert all(m.text() == "" for m in rd.panel.network_marks)
    assert not window.set_statistics.act_setstats.isEnabled()

    # the reader calls RBBB present and AF uncertain, with the keyboard, and commits
    rd.panel.cycle(CLASSES.index("RBBB"))
    rd.panel.cycle(CLASSES.index("AF"))
    rd.panel.cycle(CLASSES.index("AF"))
    rd.panel.statement.setPlainText("RBBB; AF?")
    read = rd.commit()
    assert read is not None and read.blinded and read.calls == (0, 1, 0, 0, 2, 0)
    # revealed for this exam
    assert not rd.hidden() and all(c.isHidden() for c in covers.values())
    assert window.findings_dock.windowTitle() == "Findings"
    assert rd.act_agree.isEnabled() and any(m.text() for m in rd.panel.network_marks)
    # the reader's file is a label source beside the gold standard at once
    qtbot.waitUntil(lambda: "Ana Souza" in window.label_sources.store.names(), timeout=WAIT_MS)

    # revise after seeing the network: both reads are kept
    rd.panel.set_calls((0, 1, 0, 0, 0, 0))
    revised = rd.commit()
    assert revised is not None and not revised.blinded and revised.revised_from.calls == (0, 1, 0, 0, 2, 0)
    back = ReaderFile.load(path.parent / "annotations" / "ana_souza.csv").get("101")
    assert back.calls == (0, 1, 0, 0, 0, 0) and back.first.blinded and back.first.statement == "RBBB; AF?"

    # the worklist: the next unread exam is blinded again
    assert rd.panel.count_label.text() == "1 read · 2 unread"
    with qtbot.waitSignal(window.exam_shown, timeout=WAIT_MS):
        assert rd.step_unread(1)
    assert window.current_row == 1
    qtbot.waitUntil(lambda: window.current_prediction is not None, timeout=WAIT_MS)
    assert rd.hidden() and not covers["Findings"].isHidden()
    # filter words
    window.browser.filter_edit.setText("unread")
    assert window.browser.apply_filter() and window.browser.model.rowCount() == 2
    window.browser.filter_edit.setText("by souza")
    assert window.browser.apply_filter() and window.browser.model.rowCount() == 1
    # blinded reading off: everything shows
    rd.set_blinded(False)
    assert not rd.hidden() and covers["Findings"].isHidden() and not table.isColumnHidden(COL_FINDINGS)


def test_set_statistics_reading_study_tab(qtbot, window, tmp_path):
    """Readers' files in Set Statistics: scored as annotators, plus the reading-study tab."""
    _, rd = _open_blinded(qtbot, window, tmp_path)
    for row in range(3):
        with qtbot.waitSignal(window.exam_shown, timeout=WAIT_MS):
            window.browser.select_ws_row(row) if row else window.show_row(0)
        qtbot.waitUntil(lambda r=row: window.current_row == r, timeout=WAIT_MS)
        calls = [0] * 6
        calls[1 + row] = 1 if row < 2 else 0  # misses the third exam's finding when blinded
        assert rd.commit(tuple(calls)).blinded
    rd.commit((0, 0, 0, 1, 0, 0))  # revised after the reveal: the third exam's SB found
    rd.set_blinded(False)
    assert window.set_statistics.act_setstats.isEnabled()
    dlg = window.set_statistics.show_setstats()
    with qtbot.waitSignal(dlg.computed, timeout=WAIT_MS) as blocker:
        pass
    assert "Ana Souza" in blocker.args[0].evaluation.raters
    text = window.set_statistics.reading_view.toPlainText()
    assert "F1 change made by" in text and "Ana Souza change" in text
    study = window.set_statistics.reading_study("Gold standard")
    k = CLASSES.index("SB")
    assert study.blinded_f1["Ana Souza"][k] == pytest.approx(0.0)  # the SB missed when blinded
    assert study.revised_f1["Ana Souza"][k] == pytest.approx(1.0)
    dlg.close()
