"""``ecgviewer evaluate``: reproduce the paper's Table 2 and kappa table from its own files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from conftest import run_evaluate

PAPER_THRESHOLDS = "0.124,0.07,0.05,0.278,0.390,0.174"


def _paper(shared_data: Path) -> tuple[Path, Path]:
    return shared_data / "code-test" / "annotations", shared_data / "code-test" / "published"


def _annotators(ann: Path) -> list[str]:
    return [
        "--annotator",
        f"cardio.={ann / 'cardiology_residents.csv'}",
        "--annotator",
        f"emerg.={ann / 'emergency_residents.csv'}",
        "--annotator",
        f"stud.={ann / 'medical_students.csv'}",
    ]


def _numbers(path: Path, skip: int) -> np.ndarray:
    return np.genfromtxt(path, delimiter=",", skip_header=skip)[:, 1:]


@pytest.mark.slow  # ~3 s idle (matplotlib import and the figure), more on a loaded machine
def test_reproduces_published_scores_and_kappa_from_dnn_csv(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ann, pub = _paper(shared_data)
    out = tmp_path / "out"
    assert run_evaluate(ann / "dnn.csv", ann / "gold_standard.csv", out, *_annotators(ann)) == 0
    # the same numbers to the third decimal ...
    np.testing.assert_array_equal(_numbers(out / "scores.csv", 2), _numbers(pub / "scores.csv", 2))
    np.testing.assert_array_equal(_numbers(out / "kappa.csv", 1), _numbers(pub / "kappa.csv", 1))
    # ... and, with the paper's rater names, the very same files
    assert (out / "scores.csv").read_text() == (pub / "scores.csv").read_text()
    assert (out / "kappa.csv").read_text() == (pub / "kappa.csv").read_text()
    printed = capsys.readouterr().out
    assert "827 exams" in printed and "0.870" in printed  # DNN's F1 for AF
    for name in (
        "table2.csv",
        "table2.md",
        "mcnemar.csv",
        "mcnemar.md",
        "kappa.md",
        "confusion.csv",
        "evaluation.md",
        "pr_curves.png",
    ):
        assert (out / name).stat().st_size > 0, name
    assert not list(out.glob(".*.tmp"))
    md = (out / "table2.md").read_text()
    assert "| AF | 1.000 (1.000–1.000) |" in md
    rows = list(csv.DictReader((out / "table2.csv").open()))
    dnn_af = next(r for r in rows if r["rater"] == "DNN" and r["class"] == "AF")
    assert dnn_af["f1"] == "0.870" and (dnn_af["tp"], dnn_af["fp"], dnn_af["fn"]) == ("10", "0", "3")
    assert float(dnn_af["f1_low"]) < 0.870 < float(dnn_af["f1_high"])
    assert (out / "pr_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    mc = list(csv.DictReader((out / "mcnemar.csv").open()))
    assert {r["pair"] for r in mc} >= {"DNN vs cardio.", "DNN vs emerg.", "DNN vs stud."}


def test_model_1_probabilities_give_exactly_dnn_csv(shared_data: Path, tmp_path: Path) -> None:
    ann, pub = _paper(shared_data)
    out = tmp_path / "seed1"
    seed1 = pub / "other_seeds" / "model_1.npy"
    options = ("--thresholds", PAPER_THRESHOLDS, *_annotators(ann), "--no-figures")
    assert run_evaluate(seed1, ann / "gold_standard.csv", out, *options) == 0
    assert not (out / "pr_curves.png").exists()
    ours = np.loadtxt(out / "decisions.csv", delimiter=",", skiprows=1)
    dnn = np.loadtxt(ann / "dnn.csv", delimiter=",", skiprows=1)[:, 1:]
    assert np.array_equal(ours, dnn)
    assert (out / "scores.csv").read_text() == (pub / "scores.csv").read_text()
    md = (out / "evaluation.md").read_text()
    assert "AF AUPRC 0.905" in md and "decisions = probability > threshold" in md


def test_predict_style_csv_matched_by_pacient_names(shared_data: Path, tmp_path: Path) -> None:
    """A CSV as `ecgviewer predict` writes for the 10 single-exam CODE files, in shuffled order."""
    ann, pub = _paper(shared_data)
    prob = np.load(pub / "other_seeds" / "model_1.npy")[:10]
    order = [9, 3, 0, 7, 1, 5, 2, 8, 4, 6]
    classes = ("1dAVb", "RBBB", "LBBB", "SB", "AF", "ST")
    pred = tmp_path / "pred.csv"
    with pred.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["exam_id", "source", "index", *[f"prob_{c}" for c in classes], *classes, "error"])
        for i in order:
            w.writerow(
                [f"pacient_{i + 1}", f"pacient_{i + 1}.hdf5", 0, *[f"{p:.6f}" for p in prob[i]], *[0] * 6, ""]
            )
    out = tmp_path / "out"
    assert run_evaluate(pred, ann / "gold_standard.csv", out, "--bootstrap", "50", "--no-figures") == 0
    dec = list(csv.reader((out / "decisions.csv").open()))[1:]
    dnn = np.loadtxt(ann / "dnn.csv", delimiter=",", skiprows=1)[:10, 1:]
    assert np.array_equal(np.array(dec[:10], dtype=int), dnn)  # matched by name, not by row order
    assert all(r == [""] * 6 for r in dec[10:])  # the other 817 exams: unknown
    md = (out / "evaluation.md").read_text()
    assert "817 of 827 reference exams have no row" in md


def test_undefined_scores_are_stated(tmp_path: Path) -> None:
    header = "1dAVb,RBBB,LBBB,SB,AF,ST\n"
    gold = tmp_path / "gold_standard.csv"
    gold.write_text(header + "1,0,0,0,0,0\n0,0,0,0,0,0\n1,0,0,0,0,0\n0,0,0,0,0,0\n")
    pred = tmp_path / "p.csv"
    pred.write_text(header + "1,0,0,0,0,0\n0,0,0,0,0,0\n0,0,0,0,0,0\n0,0,0,0,0,1\n")
    out = tmp_path / "out"
    assert run_evaluate(pred, gold, out, "--bootstrap", "20", "--model-name", "M") == 0
    md = (out / "table2.md").read_text()
    assert "undefined [" in md and "no positive cases in the reference (TP + FN = 0)" in md
    rows = list(csv.DictReader((out / "table2.csv").open()))
    st = next(r for r in rows if r["class"] == "ST")
    assert st["recall"] == "" and "TP + FN = 0" in st["recall_note"] and st["precision"] == "0.000"


def test_errors_reach_the_user_as_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    header = "1dAVb,RBBB,LBBB,SB,AF,ST\n"
    gold = tmp_path / "gold.csv"
    gold.write_text(header + "1,0,0,0,0,0\n0,0,0,0,0,0\n")
    short = tmp_path / "short.npy"
    np.save(short, np.zeros((3, 6), dtype=np.float32))
    o = tmp_path / "o"
    assert run_evaluate(short, gold, o) == 2
    err = capsys.readouterr().err
    assert "3 rows but the reference has 2" in err and "Traceback" not in err
    bad = tmp_path / "bad.npy"
    np.save(bad, np.full((2, 6), 3.0))
    assert run_evaluate(bad, gold, o) == 2
    assert "outside [0, 1]" in capsys.readouterr().err
    ok = tmp_path / "ok.npy"
    np.save(ok, np.zeros((2, 6)))
    assert run_evaluate(ok, gold, o, "--thresholds", "0.5,0.5") == 2
    assert "give 6 values" in capsys.readouterr().err
    assert run_evaluate(tmp_path / "none.npy", gold, o) == 2
    assert "no such file" in capsys.readouterr().err
