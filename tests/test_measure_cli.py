"""``ecgviewer measure``: exactly the documented columns, empty cells, bad exams get a row and exit 1."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ecgviewer.cli import main
from ecgviewer.exam import Exam
from ecgviewer.measure import CSV_COLUMNS
from ecgviewer.synth import synth_exam, write_wfdb

README = Path(__file__).resolve().parents[1] / "README.md"


def _documented_columns() -> list[str]:
    """The columns the README's command table lists for ``ecgviewer measure``."""
    row = next(
        line for line in README.read_text(encoding="utf-8").splitlines() if "`ecgviewer measure " in line
    )
    return [c.strip() for c in row.split("one row per exam: `", 1)[1].split("`", 1)[0].split(",")]


def _rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        return header, [dict(zip(header, r, strict=True)) for r in reader]


def test_measure_writes_one_row_per_exam_with_the_columns(tmp_path):
    write_wfdb(synth_exam(("1dAVb",), fs=500, duration_s=10, seed=3, noise=0.3), tmp_path / "in", "avb")
    write_wfdb(synth_exam(("AF",), fs=500, duration_s=10, seed=1, noise=0.3), tmp_path / "in", "af")
    out = tmp_path / "m.csv"
    assert main(["measure", str(tmp_path / "in"), "--out", str(out), "--quiet"]) == 0
    header, rows = _rows(out)
    assert header == _documented_columns() == list(CSV_COLUMNS)
    by = {r["exam_id"]: r for r in rows}
    assert set(by) == {"avb", "af"}
    assert float(by["avb"]["pr_ms"]) > 200 and by["avb"]["rr_irregular"] == "0"
    assert by["af"]["pr_ms"] == "" and by["af"]["p_ms"] == "" and by["af"]["rr_irregular"] == "1"
    assert "irregular" in by["af"]["note"]
    assert int(by["avb"]["n_beats"]) >= 5
    assert not list(tmp_path.glob(".m.csv.*"))  # no temporary file left


def test_bad_exam_gets_a_row_and_exit_status_1(tmp_path):
    folder = tmp_path / "in"
    write_wfdb(synth_exam((), fs=500, duration_s=10, seed=2, noise=0.3), folder, "good")
    write_wfdb(Exam(signal_mv=np.zeros((5000, 12), np.float32), fs=500, exam_id="flat"), folder, "flat")
    (folder / "broken.hea").write_text("broken 12 500 5000\nnot a signal line\n")
    out = tmp_path / "m.csv"
    assert main(["measure", str(folder), "--out", str(out), "--quiet"]) == 1
    _, rows = _rows(out)
    by = {r["exam_id"] or r["source"]: r for r in rows}
    assert by["good"]["qrs_ms"] != ""
    assert "flat" in by["flat"]["note"] and by["flat"]["hr_bpm"] == ""
    assert any("broken" in r["source"] or "broken" in r["note"] for r in rows)


def test_measure_refuses_a_non_csv_output(tmp_path, capsys):
    assert main(["measure", str(tmp_path), "--out", str(tmp_path / "x.txt")]) == 2
    assert "must end in .csv" in capsys.readouterr().err
