"""``ecgviewer evaluate --reader``: readers' files from the viewer scored like annotators (headless)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ecgviewer.classes import CLASSES
from ecgviewer.cli import main
from ecgviewer.reads import Read, ReaderFile

HEADER = "exam_id," + ",".join(CLASSES) + "\n"


def _row(exam_id: int, positive: set[str]) -> str:
    return f"{exam_id}," + ",".join("1" if c in positive else "0" for c in CLASSES) + "\n"


def test_evaluate_two_readers_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truth = {1: {"RBBB"}, 2: {"RBBB"}, 3: {"AF"}, 4: set(), 5: {"AF"}, 6: set()}
    gold = tmp_path / "gold_standard.csv"
    gold.write_text(HEADER + "".join(_row(i, p) for i, p in truth.items()))
    pred = tmp_path / "dnn.csv"
    pred.write_text(HEADER + "".join(_row(i, p) for i, p in truth.items()))  # a perfect network
    ann = tmp_path / "exams" / "annotations"
    a, b = ReaderFile.open(ann, "Ana Souza"), ReaderFile.open(ann, "Bruno Lima")
    for i, p in truth.items():
        calls = tuple(1 if c in p else 0 for c in CLASSES)
        blind = tuple(0 if (c == "RBBB" and i == 2) else v for c, v in zip(CLASSES, calls, strict=True))
        a.commit(Read(str(i), "Ana Souza", blind, blinded=True))  # misses RBBB in exam 2
        b.commit(Read(str(i), "Bruno Lima", calls, blinded=False))
    a.commit(Read("2", "Ana Souza", (0, 1, 0, 0, 0, 0), "RBBB, seen with the network", blinded=False))
    a.commit(Read("6", "Ana Souza", (0, 0, 0, 0, 2, 0), "AF? uncertain", blinded=False))  # uncertain

    out = tmp_path / "out"
    args = ["evaluate", "--predictions", str(pred), "--gold", str(gold), "--bootstrap", "0", "--no-figures"]
    assert main([*args, "--reader", str(ann), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Ana Souza" in printed and "Bruno Lima" in printed
    # Table 2 scores each reader as an annotator, under the reader's name
    table = list(csv.DictReader((out / "table2.csv").open()))
    raters = {r["rater"] for r in table}
    assert {"Ana Souza", "Bruno Lima"} <= raters
    rows = {(r["table"], r["rater"]): r for r in csv.DictReader((out / "readers.csv").open())}
    assert float(rows[("f1", "Ana Souza")]["RBBB"]) == pytest.approx(1.0)  # current (revised) reads
    assert float(rows[("f1_blinded", "Ana Souza")]["RBBB"]) == pytest.approx(2 / 3, abs=1e-4)  # tp 1, fn 1
    assert float(rows[("f1_change", "Ana Souza")]["RBBB"]) == pytest.approx(1 / 3, abs=1e-4)
    assert ("f1_blinded", "Bruno Lima") not in rows  # Bruno never read blinded
    assert float(rows[("kappa_readers", "Ana Souza vs Bruno Lima")]["RBBB"]) == pytest.approx(1.0)
    assert float(rows[("kappa_network", "Bruno Lima")]["AF"]) == pytest.approx(1.0)
    # the uncertain AF call of exam 6 is left out, not counted as a negative: AF stays perfect
    assert float(rows[("f1", "Ana Souza")]["AF"]) == pytest.approx(1.0)
    md = (out / "readers.md").read_text()
    assert "Kappa between readers" in md and "F1 change made by DNN" in md and "Ana Souza change" in md
    # a folder without reader files is a clear message
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([*args, "--reader", str(empty), "--out", str(out)]) == 2
    assert "no reader file" in capsys.readouterr().err
