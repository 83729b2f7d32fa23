"""The "Set statistics" view: inputs gathered from the store, the paper's numbers, the dialog, export."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from ecgviewer.classes import CLASSES, PAPER_THRESHOLDS
from ecgviewer.errors import LabelError
from ecgviewer.labels import LabelSet, load_label_file
from ecgviewer.metrics import evaluate
from ecgviewer.ui.labels_panel import LabelStore
from ecgviewer.ui.setstats import (
    SetStatsDialog,
    SetStatsInput,
    collect_raters,
    compute_set_statistics,
    score_cell,
)

K = len(CLASSES)


def _synthetic(tmp_path: Path, n: int = 40, seed: int = 0) -> tuple[SetStatsInput, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gold = (rng.random((n, K)) < 0.3).astype(np.int8)
    ann = np.where(rng.random((n, K)) < 0.85, gold, 1 - gold).astype(np.int8)
    probs = np.clip(gold * 0.6 + rng.random((n, K)) * 0.5, 0, 1)
    store = LabelStore()
    store.add(LabelSet("Gold standard", gold, source=tmp_path / "gold_standard.csv"), [tmp_path])
    store.add(LabelSet("Cardiologist 1", ann, source=tmp_path / "cardiologist1.csv"), [tmp_path])
    dec = (probs >= np.array(PAPER_THRESHOLDS)).astype(np.int8)
    inp = SetStatsInput(
        keys=[(None, i) for i in range(n)],
        sources=[tmp_path / "set.hdf5"] * n,
        decisions=dec,
        probabilities=probs,
        store=store,
        model_name="Model",
        thresholds=np.array(PAPER_THRESHOLDS),
    )
    return inp, gold, ann


def test_collect_and_compute_match_metrics(tmp_path):
    inp, gold, ann = _synthetic(tmp_path)
    raters = collect_raters(inp)
    assert list(raters) == ["Gold standard", "Cardiologist 1"]
    np.testing.assert_array_equal(raters["Cardiologist 1"], ann)
    stats = compute_set_statistics(inp, n_resamples=50)
    ev = stats.evaluation
    direct = evaluate(gold, {"Model": inp.decisions, "Cardiologist 1": ann}, n_resamples=50)
    assert ev.raters == ["Model", "Cardiologist 1"] and ev.reference == "Gold standard"
    for r in ev.raters:
        for m in ("precision", "recall", "specificity", "f1"):
            np.testing.assert_allclose(ev.scores[r][m], direct.scores[r][m], equal_nan=True)
            np.testing.assert_allclose(ev.ci[r][m], direct.ci[r][m], equal_nan=True)
    assert len(ev.curves["Model"]) == K and stats.n_compared == 40 and stats.n_analysed == 40
    # another reference
    ev2 = compute_set_statistics(inp, reference="Cardiologist 1", n_resamples=0).evaluation
    assert ev2.reference == "Cardiologist 1" and "Gold standard" in ev2.raters and not ev2.ci


def test_unanalysed_and_unlabelled_exams_are_left_out(tmp_path):
    inp, _gold, _ = _synthetic(tmp_path, n=20)
    inp.decisions[:5] = -1
    inp.probabilities[:5] = np.nan
    inp.keys += [(None, 100)]  # no label row
    inp.sources += [tmp_path / "set.hdf5"]
    inp.decisions = np.vstack([inp.decisions, np.ones((1, K), np.int8)])
    inp.probabilities = np.vstack([inp.probabilities, np.ones((1, K))])
    stats = compute_set_statistics(inp, n_resamples=0)
    assert stats.n_open == 21 and stats.n_compared == 20 and stats.n_analysed == 15
    assert int(stats.evaluation.counts["Model"]["n"][0]) == 15
    assert int(stats.evaluation.counts["Cardiologist 1"]["n"][0]) == 20
    assert any("1 of 21 open exams have no Gold standard" in n for n in stats.evaluation.notes)
    assert any("5 of 20 compared exams are not analysed" in n for n in stats.evaluation.notes)


def test_nothing_to_compare_says_why(tmp_path):
    inp, _, _ = _synthetic(tmp_path, n=5)
    inp.store = LabelStore()
    with pytest.raises(LabelError, match="Load labels"):
        compute_set_statistics(inp)


def test_reproduces_the_paper_scores(shared_data):
    ann = shared_data / "code-test" / "annotations"
    store = LabelStore()
    for name in ("gold_standard", "cardiology_residents", "emergency_residents", "medical_students"):
        store.add(load_label_file(ann / f"{name}.csv"), None)
    dnn = load_label_file(ann / "dnn.csv").values
    n = len(dnn)
    probs = np.load(shared_data / "code-test" / "published" / "other_seeds" / "model_1.npy")
    inp = SetStatsInput(
        keys=[(None, i) for i in range(n)],
        sources=[None] * n,
        decisions=dnn,
        probabilities=probs,
        store=store,
        model_name="DNN",
    )
    ev = compute_set_statistics(inp, n_resamples=0).evaluation
    with open(shared_data / "code-test" / "published" / "scores.csv") as fh:
        rows = list(csv.reader(fh))
    published = {r[0]: [float(v) for v in r[1:]] for r in rows[2:]}
    order = ["DNN", "Cardiology residents", "Emergency residents", "Medical students"]
    for k, cls in enumerate(CLASSES):
        for j, m in enumerate(("precision", "recall", "specificity", "f1")):
            for i, r in enumerate(order):
                assert round(float(ev.scores[r][m][k]), 3) == pytest.approx(
                    published[cls][4 * j + i], abs=1e-9
                )


def test_dialog_computes_shows_and_exports(qtbot, tmp_path, monkeypatch):
    inp, _, _ = _synthetic(tmp_path, n=30)
    dialog = SetStatsDialog(provider=lambda: inp)
    qtbot.addWidget(dialog)
    dialog.bootstrap_spin.setValue(100)
    with qtbot.waitSignal(dialog.computed, timeout=20000):
        dialog.compute()
    assert dialog.reference_combo.currentText() == "Gold standard"
    assert dialog.table2.rowCount() == K * 2
    assert dialog.table2.item(0, 1).text() == "Model"
    ev = dialog.stats.evaluation
    f1 = ev.scores["Model"]["f1"][0]
    assert dialog.table2.item(0, 5).text().startswith(f"{f1:.3f} (")
    assert dialog.kappa.rowCount() == 1 and dialog.mcnemar.rowCount() == 1
    assert len(dialog.curves.plots) == K
    assert dialog.curves.points["Cardiologist 1"][0] is not None
    assert "Table 2" in dialog.markdown()
    # export: asks before replacing files, then writes in the background
    out = tmp_path / "out"
    out.mkdir()
    (out / "table2.csv").write_text("old")
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(out)))
    asked = []
    monkeypatch.setattr(
        QMessageBox,
        "question",
        staticmethod(lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No),
    )
    dialog.export_dialog()
    assert asked and (out / "table2.csv").read_text() == "old"
    task = dialog.export(out, figures=False)
    qtbot.waitUntil(
        lambda: (task.state == "done" and "Wrote" in dialog.status.text()) or task.state == "failed",
        timeout=20000,
    )
    assert task.state == "done", task.error
    assert (out / "table2.csv").read_text().startswith("class,rater,precision")
    assert (out / "kappa.csv").exists() and (out / "evaluation.md").exists()


def test_dialog_reports_missing_labels(qtbot, tmp_path):
    inp, _, _ = _synthetic(tmp_path, n=5)
    inp.store = LabelStore()
    dialog = SetStatsDialog()
    qtbot.addWidget(dialog)
    dialog.set_input(inp)
    dialog.compute()
    qtbot.waitUntil(lambda: "Load labels" in dialog.status.text(), timeout=10000)
    assert dialog.stats is None and not dialog.export_button.isEnabled()


def test_score_cell():
    assert score_cell(0.91234, 0.8, 0.95) == "0.912 (0.800–0.950)"
    assert score_cell(float("nan"), 0.1, 0.2) == "undefined"
    assert score_cell(0.5, float("nan"), float("nan")) == "0.500"
