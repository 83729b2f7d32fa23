"""Labels in the viewer: the store (scopes, own labels), the comparison table, the agreement column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from ecgviewer.classes import CLASSES, PAPER_THRESHOLDS
from ecgviewer.labels import LabelSet, discover_labels, labels_from_exam
from ecgviewer.ui.labels_panel import (
    ComparisonTable,
    LabelsPanel,
    LabelStore,
    scope_for,
    wrap_header,
)


def _row(*present: str) -> list[int]:
    return [1 if c in present else 0 for c in CLASSES]


def _store(tmp_path: Path) -> tuple[LabelStore, Path]:
    folder = tmp_path / "exams"
    folder.mkdir()
    gold = LabelSet(
        "Gold standard",
        np.array([_row("RBBB"), _row(), _row("AF", "1dAVb")]),
        source=tmp_path / "gold_standard.csv",
    )
    card = LabelSet(
        "Cardiologist 1",
        np.array([_row("RBBB", "1dAVb"), _row(), _row("AF")]),
        source=tmp_path / "cardiologist1.csv",
        other_findings=[["left axis deviation"], [], []],
    )
    store = LabelStore()
    store.add(gold, [folder])
    store.add(card, [folder])
    return store, folder


def test_store_scope_and_names(tmp_path):
    store, folder = _store(tmp_path)
    assert store.names() == ["Gold standard", "Cardiologist 1"]
    inside = folder / "sub" / "a.hdf5"
    elsewhere = tmp_path / "other" / "A0001.hea"
    assert len(store.sources_for(inside)) == 2
    assert store.sources_for(elsewhere) == []  # positional labels never leak onto unrelated files
    # a second gold standard from another folder keeps a distinct name; the same file replaces itself
    other = LabelSet("Gold standard", np.array([_row()]), source=tmp_path / "x" / "gold_standard.csv")
    added = store.add(other, [tmp_path / "x"])
    assert added.labels.name == "Gold standard (x)"
    store.add(
        LabelSet("Gold standard", np.array([_row("SB")] * 3), source=tmp_path / "gold_standard.csv"), [folder]
    )
    assert store.names().count("Gold standard") == 1
    assert store.sources_for(inside)[0].values[0, CLASSES.index("SB")] == 1
    assert store.remove("Cardiologist 1") and "Cardiologist 1" not in store.names()


def test_comparison_table_highlights_disagreements(qtbot, tmp_path):
    store, folder = _store(tmp_path)
    probs = np.array([0.9, 0.02, 0.01, 0.5, 0.1, 0.0])  # 1dAVb yes (gold: no), RBBB no (gold: yes), SB yes
    dec = (probs >= np.array(PAPER_THRESHOLDS)).astype(np.int8)
    comp = store.compare(folder / "a.hdf5", None, 0, decisions=dec, probabilities=probs, model_name="Model")
    assert comp.columns == ("Model", "Gold standard", "Cardiologist 1") and comp.reference == "Gold standard"
    panel = LabelsPanel()
    qtbot.addWidget(panel)
    panel.set_comparison(
        comp, thresholds=np.array(PAPER_THRESHOLDS), sources=store.sources_for(folder / "a.hdf5")
    )
    t = panel.table
    assert t.isVisibleTo(panel)
    assert t.cell_text("1dAVb", "Model") == "0.900  yes"
    assert t.cell_text("RBBB", "Gold standard") == "yes"
    assert (
        t.is_highlighted("1dAVb", "Model")
        and t.is_highlighted("RBBB", "Model")
        and t.is_highlighted("SB", "Model")
    )
    assert not t.is_highlighted("AF", "Model")
    assert t.is_highlighted("1dAVb", "Cardiologist 1") and not t.is_highlighted("RBBB", "Cardiologist 1")
    assert not any(t.is_highlighted(c, "Gold standard") for c in CLASSES)
    # the highlight is drawn, and the reference column is marked
    item = t.item(CLASSES.index("RBBB"), 0)
    assert item.background().color().name() == "#ffcdd2"
    assert "reference" in t.horizontalHeaderItem(1).text()
    text = panel.summary.text()
    assert "differs from the Gold standard" in text and "1dAVb, RBBB, SB" in text
    assert "Cardiologist 1 (1)" in text
    assert "left axis deviation" in panel.others.text()
    assert "gold_standard.csv" in panel.sources.text()


def test_no_labels_hides_the_table(qtbot, tmp_path):
    store, _ = _store(tmp_path)
    comp = store.compare(
        tmp_path / "elsewhere" / "x.hea", "x", 0, decisions=np.zeros(6, np.int8), probabilities=np.zeros(6)
    )
    panel = LabelsPanel()
    qtbot.addWidget(panel)
    panel.set_comparison(comp)
    assert not panel.table.isVisibleTo(panel)
    assert "No label source" in panel.summary.text()
    with qtbot.waitSignal(panel.load_requested, timeout=1000):
        panel.load_button.click()


def test_agreement_column_for_the_browser(tmp_path):
    store, folder = _store(tmp_path)
    keys = [
        (folder / "a.hdf5", None, 0),
        (folder / "a.hdf5", None, 1),
        (folder / "a.hdf5", None, 2),
        (tmp_path / "elsewhere.hea", "elsewhere", 0),
    ]
    decisions = np.array([_row("RBBB"), _row("AF"), _row(), _row()], dtype=bool)
    analysed = np.array([True, True, False, True])
    col = store.agreement(4, lambda r: keys[r], decisions, analysed)
    assert col.labelled.tolist() == [True, True, True, False]
    assert col.disagrees.tolist() == [False, True, False, False]
    assert col.texts[0] == "agrees"
    assert col.texts[1] == "differs: AF"
    assert "AF: model yes, Gold standard no" in col.details[1]
    assert col.texts[2] == "Gold standard: 1dAVb, AF"  # not analysed: what the reference says
    assert 3 not in col.texts
    assert LabelStore().agreement(2, lambda r: keys[r], decisions[:2], analysed[:2]).texts == {}


def test_wrap_header():
    assert wrap_header("Cardiology residents") == "Cardiology\nresidents"
    assert wrap_header("DNN") == "DNN"


def test_code_exam_with_the_paper_annotators(qtbot, shared_data):
    exam_path = shared_data / "code-test" / "exams" / "pacient_3.hdf5"
    store = LabelStore()
    for ls in discover_labels(exam_path):
        store.add(ls, scope_for(exam_path))
    assert store.names()[0] == "Gold standard" and len(store) == 7
    gold = np.loadtxt(
        shared_data / "code-test" / "annotations" / "gold_standard.csv", delimiter=",", skiprows=1
    )
    dnn = np.loadtxt(shared_data / "code-test" / "annotations" / "dnn.csv", delimiter=",", skiprows=1)[:, -6:]
    comp = store.compare(
        exam_path, "pacient_3", 0, decisions=dnn[2].astype(np.int8), probabilities=dnn[2], model_name="Model"
    )
    np.testing.assert_array_equal(comp.values[:, comp.columns.index("Gold standard")], gold[2])
    table = ComparisonTable()
    qtbot.addWidget(table)
    table.set_comparison(comp)
    assert table.columnCount() == 8  # the model and seven sources


def test_wfdb_header_labels_are_the_reference(shared_data):
    from ecgviewer.io import read_exam

    exam = read_exam(shared_data / "wfdb" / "challenge2021" / "CPSC_CPSC-Extra" / "A0001.hea")
    store = LabelStore()
    own = labels_from_exam(exam)
    store.set_exam_labels(5, own)
    comp = store.compare(
        exam.source,
        exam.exam_id,
        exam.index,
        row=5,
        decisions=np.zeros(6, np.int8),
        probabilities=np.zeros(6),
    )
    assert comp.reference == "Dx (header)"
    assert comp.values[CLASSES.index("RBBB"), 1] == 1  # A0001 is RBBB (59118001)
    assert comp.disagrees[CLASSES.index("RBBB"), 0]


def test_filter_words_for_the_label_agreement():
    from ecgviewer.viewer.filtering import FilterError, evaluate, fields_used, parse_filter

    cols = {
        "flag:disagrees": np.array([True, False, False]),
        "flag:agrees": np.array([False, True, False]),
        "flag:labelled": np.array([True, True, False]),
        "AF": np.array([0.9, 0.9, 0.1]),
    }
    node = parse_filter("disagrees and AF > 0.5")
    assert fields_used(node) == {"flag:disagrees", "AF"}
    assert evaluate(node, cols.__getitem__, 3).tolist() == [True, False, False]
    assert evaluate(parse_filter("not labelled or agrees"), cols.__getitem__, 3).tolist() == [
        False,
        True,
        True,
    ]
    with pytest.raises(FilterError, match="takes no value"):
        parse_filter("disagrees = 1")
