"""Readers and preprocessing on the real public records of ../shared/data."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest

from ecgviewer.cli import main
from ecgviewer.io import NotAnExamError, open_exams, read_exam
from ecgviewer.leads import LEADS
from ecgviewer.preprocess import to_model_input

# The folders of ../shared/data these counts are about; ludb/ and clinical/ have tests of their own
# (below and in test_io_clinical.py), so that a new folder there does not change these counts.
FOLDERS = ("code-test", "csv", "hdf5", "keras-fixture", "ptbxl", "wfdb")


@pytest.fixture(scope="module")
def all_exams(shared_data: Path):
    exams = open_exams([shared_data / f for f in FOLDERS])
    yield exams
    exams.close()


def test_every_ecg_file_opens(all_exams) -> None:
    formats = Counter(src.format for src in all_exams.sources)
    assert formats == {"wfdb": 192, "hdf5-code": 10, "hdf5-ecg": 10, "csv": 7, "hdf5-generic": 1}
    # what fails to open holds no ECG: label tables, the MUSE measurements spreadsheet and the
    # Keras model, nothing else
    assert all(isinstance(err, NotAnExamError) for err in all_exams.errors), all_exams.errors
    assert {Path(str(e.path)).suffix for e in all_exams.errors} == {".csv", ".hdf5", ".xlsx"}
    xlsx = [e for e in all_exams.errors if Path(str(e.path)).suffix == ".xlsx"]
    assert len(xlsx) == 1 and "it is a spreadsheet" in str(xlsx[0])
    keras = [e for e in all_exams.errors if "keras" in str(e.path)]
    assert len(keras) == 1 and "Keras model" in str(keras[0])
    assert len(all_exams) == 192 + 10 + 10 + 7 + 11_320
    rates = {}
    for src in all_exams.sources:
        picks = range(src.n_exams) if src.n_exams < 50 else (0, src.n_exams // 2, src.n_exams - 1)
        for j in picks:
            exam = src.read(j)
            assert exam.leads == LEADS
            assert np.isfinite(exam.signal_mv).all()
            assert 0.05 < np.abs(exam.signal_mv).max() < 40, (exam.exam_id, np.abs(exam.signal_mv).max())
            x, _report = to_model_input(exam)
            assert x.shape == (4096, 12) and x.dtype == np.float32
            rates.setdefault(src.format, set()).add(exam.fs)
    assert rates == {
        "wfdb": {100.0, 500.0, 1000.0},
        "hdf5-code": {400.0},
        "hdf5-ecg": {500.0},
        "csv": {500.0},
        "hdf5-generic": {100.0},
    }


def test_wfdb_metadata_and_labels(shared_data: Path) -> None:
    exam = read_exam(shared_data / "wfdb/challenge2021/CPSC_CPSC-Extra/A0001.hea")
    assert (exam.age, exam.sex, exam.raw_labels) == (74, "M", {"dx": ["59118001"]})
    assert exam.recorded is not None and exam.recorded.isoformat() == "2020-05-12T12:33:59"
    assert exam.n_samples == 7500 and exam.fs == 500
    sph = read_exam(shared_data / "hdf5/sph/SPH00001.h5")  # metadata.csv beside it
    assert (sph.age, sph.sex, sph.raw_labels["dx"]) == (55, "M", ["426177001", "427393009"])


@pytest.mark.parametrize("record", ["A0001", "A0003"])
def test_cpsc_csv_and_wfdb_agree_within_1_uv(shared_data: Path, record: str) -> None:
    csv = read_exam(shared_data / f"csv/cpsc/{record}.csv")
    mat = read_exam(shared_data / f"wfdb/challenge2021/CPSC_CPSC-Extra/{record}.hea")
    assert csv.fs == mat.fs == 500 and csv.leads == mat.leads
    assert csv.signal_mv.shape == mat.signal_mv.shape
    assert np.abs(csv.signal_mv - mat.signal_mv).max() <= 1e-3  # 1 µV


def test_ptbxl_pack_holds_the_500hz_records_at_100hz(shared_data: Path) -> None:
    from scipy.signal import resample_poly

    with open_exams(shared_data / "ptbxl/ptbxl100_train.h5") as pack:
        assert len(pack) == 11_320 and pack.header(0).fs == 100
        exam = pack[pack.index_of("204")]
    assert exam.n_samples == 1000 and exam.exam_id == "204"
    full = read_exam(shared_data / "ptbxl/records500/00204_hr.hea")
    down = resample_poly(full.signal_mv.astype(np.float64), 1, 5, axis=0)
    for k in range(12):
        r = np.corrcoef(down[50:-50, k], exam.signal_mv[50:-50, k])[0, 1]
        assert r > 0.95, (LEADS[k], r)


def test_ptbxl_100hz_record_to_model_input(shared_data: Path) -> None:
    exam = read_exam(shared_data / "wfdb/ptbxl/00001_lr.hea")
    x, report = to_model_input(exam)
    assert x.shape == (4096, 12) and x.dtype == np.float32
    assert (report.resample_up, report.resample_down, report.resampled_samples) == (4, 1, 4000)
    assert (report.pad_left, report.pad_right, report.crop_left) == (48, 48, 0)
    text = "\n".join(report.describe())
    assert "Resampled 100 Hz → 400 Hz" in text and "48 before, 48 after" in text
    assert np.all(x[:48] == 0) and np.all(x[-48:] == 0)


def test_1000hz_record_to_model_input(shared_data: Path) -> None:
    exam = read_exam(shared_data / "wfdb/challenge2021/PTB_PTBXL/S0001.hea")
    assert exam.fs == 1000 and exam.n_samples == 38_400
    x, report = to_model_input(exam)
    assert x.shape == (4096, 12)
    assert (report.resample_up, report.resample_down, report.resampled_samples) == (2, 5, 15_360)
    assert (report.crop_left, report.crop_right, report.pad_left) == (5632, 5632, 0)
    assert "Cropped to 4096 samples (10.24 s): 5632 dropped before" in "\n".join(report.describe())
    x2, report2 = to_model_input(exam, start_s=0.0)
    assert report2.crop_left == 0 and report2.offset_s == 0.0
    assert not np.array_equal(x, x2)


def test_code_exam_round_trips_through_convert(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = shared_data / "code-test/exams/pacient_3.hdf5"
    out = tmp_path / "converted.hdf5"
    other = shared_data / "code-test/exams/pacient_1.hdf5"
    assert main(["convert", str(src), str(other), "--out", str(out)]) == 0
    assert "wrote 2 exams" in capsys.readouterr().out
    with h5py.File(src, "r") as h:
        original = h["tracings"][0]
    with h5py.File(out, "r") as h:
        assert h["tracings"].shape == (2, 4096, 12) and h["tracings"].dtype == np.float32
        np.testing.assert_allclose(h["tracings"][0], original, rtol=1e-6, atol=1e-6)
        assert [v.decode() for v in h["exam_id"][()]] == ["pacient_3", "pacient_1"]
    # and our reader reads it back
    back = read_exam(out)
    assert back.fs == 400 and back.exam_id == "pacient_3"
    np.testing.assert_allclose(back.signal_mv, original, rtol=1e-5, atol=1e-5)
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_info_on_all_shared_data(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--quick", *(str(shared_data / f) for f in FOLDERS)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 192 + 10 + 10 + 7 + 11_320
    expected = [  # paths are shown relative to the folder named on the command line
        r"challenge2021/PTB_PTBXL/S0001\.hea\s+S0001\s+wfdb\s+1000 Hz\s+38\.40 s\s+12 leads "
        r"I,II,III,aVR,aVL,aVF,V1–V6\s+81 y F$",
        r"ptbxl100_train\.h5\s+\d+\s+hdf5-generic\s+100 Hz\s+10\.00 s",
        r"sph/SPH00001\.h5\s+SPH00001\s+hdf5-ecg\s+500 Hz\s+10\.00 s\s+12 leads .*55 y M",
        r"chapman/MUSE_20180111_155249_70000\.csv\s+MUSE_20180111_155249_70000\s+csv\s+500 Hz\s+10\.00 s",
        r"exams/pacient_10\.hdf5\s+pacient_10\s+hdf5-code\s+400 Hz\s+10\.24 s",
    ]
    for pattern in expected:
        assert any(re.match(pattern, line) for line in lines), pattern
    assert re.search(r"no ECG: .*ribeiro_random_keras224\.hdf5: holds no ECG: it is a Keras model", err)
    assert re.search(r"no ECG: .*Diagnostics\.xlsx: holds no ECG: it is a spreadsheet", err)
    assert "11539 exams in 220 files; 15 files hold no ECG" in err
    assert "could not be read" not in err


def test_info_on_ludb(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--quick", str(shared_data / "ludb")]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 120
    assert all(
        re.match(r"data/\d+\.hea\s+\d+\s+wfdb\s+500 Hz\s+10\.00 s\s+12 leads I,II,III,aVR", ln)
        for ln in lines
    )
    assert "120 exams in 120 files; 1 file holds no ECG" in err and "could not be read" not in err
    assert re.search(r"no ECG: .*ludb\.csv: holds no ECG: a table with columns .ID., .Sex., .Age.", err)
    exam = read_exam(shared_data / "ludb/data/1.hea")
    assert exam.leads == LEADS and exam.n_samples == 5000


def test_info_lists_labels_and_report(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--report", str(shared_data / "wfdb/challenge2021/PTB_PTBXL/S0001.hea")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"S0001\s+wfdb\s+1000 Hz\s+38\.40 s\s+12 leads .*81 y F\s+dx=251146004,426783006", out)
    assert "Resampled 1000 Hz → 400 Hz (polyphase, ×2/5)" in out and "Cropped to 4096 samples" in out


def test_fast_wfdb_reader_matches_the_wfdb_package(shared_data: Path) -> None:
    import wfdb

    every_7th = sorted((shared_data / "wfdb").rglob("*.hea"))[::7]
    heas = [*every_7th, shared_data / "ptbxl/records500/00204_hr.hea"]
    for hea in heas:
        exam = read_exam(hea)
        ref = wfdb.rdrecord(str(hea.with_suffix(""))).p_signal.astype(np.float32)
        assert np.array_equal(exam.signal_mv, ref), hea
