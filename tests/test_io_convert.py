"""``ecgviewer convert`` and :func:`ecgviewer.io.export.write_code_hdf5`."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from ecgviewer.cli import main
from ecgviewer.errors import Cancelled, ExamReadError
from ecgviewer.io import open_exams
from ecgviewer.io.export import write_code_hdf5
from ecgviewer.leads import INDEPENDENT_LEADS
from ecgviewer.preprocess import to_model_input
from tests.test_io_formats import ecg_like, write_wfdb


def test_convert_folder_of_mixed_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    src.mkdir()
    write_wfdb(src, "a500", ecg_like(500, 10), 500)
    write_wfdb(src, "b8", ecg_like(250, 7, n_leads=8), 250, names=INDEPENDENT_LEADS)
    np.savetxt(src / "c.csv", ecg_like(500, 12), delimiter=",")
    np.savetxt(src / "bad.csv", np.full((10, 12), np.nan), delimiter=",")
    out = tmp_path / "out.hdf5"
    rc = main(["convert", str(src), "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 1  # one exam skipped
    assert "wrote 3 exams" in captured.out
    assert "skipped:" in captured.err and "bad.csv" in captured.err
    with h5py.File(out, "r") as h:
        assert h["tracings"].shape == (3, 4096, 12) and h["tracings"].dtype == np.float32
        assert [v.decode() for v in h["exam_id"][()]] == ["a500", "b8", "c"]
        assert list(h["original_fs"][()]) == [500, 250, 500]
        assert h.attrs["units"] == "mV" and h.attrs["fs"] == 400
        with open_exams(src / "b8.hea") as exams:
            expected, report = to_model_input(exams[0])
        np.testing.assert_array_equal(h["tracings"][1], expected)
        assert report.pad_left == 648


def test_integer_ids_stay_integers_and_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "code.hdf5"
    with h5py.File(path, "w") as h:
        h["tracings"] = np.ones((5, 4096, 12), np.float32)
        h["exam_id"] = np.array([7, 8, 9, 10, 11])
    out = tmp_path / "copy.hdf5"
    with open_exams(path) as exams:
        result = write_code_hdf5(exams, out)
    assert result.written == 5 and not result.failures
    with h5py.File(out, "r") as h:
        assert h["exam_id"].dtype == np.int64 and list(h["exam_id"][()]) == [7, 8, 9, 10, 11]
        np.testing.assert_array_equal(h["tracings"][()], np.ones((5, 4096, 12), np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["code.hdf5", "copy.hdf5"]


def test_refuses_to_overwrite_input_and_cancel_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "code.hdf5"
    with h5py.File(path, "w") as h:
        h["tracings"] = np.ones((3, 4096, 12), np.float32)
    with open_exams(path) as exams:
        with pytest.raises(ExamReadError, match="would overwrite an input file"):
            write_code_hdf5(exams, path)
        with pytest.raises(Cancelled):
            write_code_hdf5(exams, tmp_path / "never.hdf5", cancel=lambda: True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["code.hdf5"]


def test_convert_nothing_readable_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "labels.csv").write_text("id,AF\n1,0\n")
    assert main(["convert", str(tmp_path), "--out", str(tmp_path / "x.hdf5")]) == 2
    assert "no ECG exams found" in capsys.readouterr().err
    assert not (tmp_path / "x.hdf5").exists()
