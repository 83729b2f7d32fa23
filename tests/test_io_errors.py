"""Every bad-input case of issue 3 raises ExamReadError naming the file and the problem."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from ecgviewer.cli import main
from ecgviewer.errors import ExamReadError
from ecgviewer.io import NotAnExamError, open_exams, read_exam
from tests.test_io_formats import ecg_like, write_wfdb


def assert_read_error(path: Path, pattern: str, **kw: object) -> ExamReadError:
    with pytest.raises(ExamReadError) as info:
        read_exam(path, **kw)
    err = info.value
    assert str(path.name) in str(err), str(err)
    assert re.search(pattern, str(err)), str(err)
    return err


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _hdf5(path: Path, **datasets: np.ndarray) -> Path:
    with h5py.File(path, "w") as h:
        for name, value in datasets.items():
            h[name] = value
    return path


def _rows(n: int = 20, cols: int = 12) -> str:
    return "".join(",".join("0.1" for _ in range(cols)) + "\n" for _ in range(n))


# --- WFDB ---------------------------------------------------------------------------------


def test_header_without_signal_file(tmp_path: Path) -> None:
    hea = write_wfdb(tmp_path, "lonely", ecg_like(500, 1), 500)
    (tmp_path / "lonely.dat").unlink()
    assert_read_error(hea, r"names signal file lonely\.dat, which is missing")


def test_signal_file_without_header(tmp_path: Path) -> None:
    write_wfdb(tmp_path, "nohea", ecg_like(500, 1), 500)
    (tmp_path / "nohea.hea").unlink()
    assert_read_error(tmp_path / "nohea.dat", r"without its header: nohea\.hea is missing")


def test_truncated_wfdb_signal_file(tmp_path: Path) -> None:
    hea = write_wfdb(tmp_path, "short", ecg_like(500, 2), 500)
    dat = tmp_path / "short.dat"
    dat.write_bytes(dat.read_bytes()[:5000])
    assert_read_error(hea, r"truncated signal file: 5000 bytes, the header short\.hea needs 24000")


def test_truncated_hdf5_file(tmp_path: Path) -> None:
    path = _hdf5(tmp_path / "cut.hdf5", tracings=np.ones((4, 4096, 12), np.float32))
    path.write_bytes(path.read_bytes()[:100_000])
    assert_read_error(path, r"truncated or damaged")


def test_wrong_shape_hdf5(tmp_path: Path) -> None:
    path = _hdf5(tmp_path / "seven.hdf5", tracings=np.ones((2, 4096, 7), np.float32))
    assert_read_error(path, r"dataset '/tracings' has shape \(2, 4096, 7\): expected \(exams, samples, 12\)")


def test_wrong_shape_csv_columns(tmp_path: Path) -> None:
    path = _csv(tmp_path / "five.csv", _rows(cols=5))
    assert_read_error(path, r"5 columns without a header row: expected 12 leads")


def test_csv_ragged_rows(tmp_path: Path) -> None:
    path = _csv(tmp_path / "ragged.csv", _rows(10) + "0.1,0.2,0.3\n" + _rows(10))
    assert_read_error(path, r"line 11 has 3 values, expected 12 \(wrong number of columns\)")


def test_csv_non_numeric_cell(tmp_path: Path) -> None:
    path = _csv(tmp_path / "text.csv", "I,II,V1,V2,V3,V4,V5,V6\n" + _rows(5, 8) + "0.1,abc,0,0,0,0,0,0\n")
    assert_read_error(path, r"line 7, column 2: 'abc' is not a number")


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_nan_or_inf_samples_csv(tmp_path: Path, bad: str) -> None:
    path = _csv(tmp_path / f"{bad}.csv", _rows(5) + ",".join(["0.1"] * 3 + [bad] + ["0.1"] * 8) + "\n")
    assert_read_error(path, r"1 samples are NaN or infinite \(first: .* in lead aVR at sample 5\)")


def test_nan_samples_hdf5_multi_exam(tmp_path: Path) -> None:
    x = np.zeros((3, 4096, 12), np.float32)
    x[1, 100, 0] = np.nan
    path = _hdf5(tmp_path / "nan.hdf5", tracings=x)
    exams = open_exams(path)  # opening is lazy: the bad exam is found when read
    assert exams[0].n_samples == 4096
    pattern = r"nan\.hdf5: exam 1: 1 samples are NaN or infinite .* lead I at sample 100"
    with pytest.raises(ExamReadError, match=pattern):
        exams[1]


@pytest.mark.parametrize("name", ["empty.csv", "empty.h5", "empty.hea"])
def test_empty_files(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    assert_read_error(path, r"empty file \(0 bytes\)")


def test_hdf5_without_ecg_dataset(tmp_path: Path) -> None:
    path = _hdf5(tmp_path / "other.h5", weights=np.ones((16, 12, 64)), labels=np.ones(10))
    err = assert_read_error(
        path,
        r"holds no ECG-like dataset .*datasets: /labels \(10,\), "
        r"/weights \(16, 12, 64\)",
    )
    assert isinstance(err, NotAnExamError)


def test_unknown_units_wfdb(tmp_path: Path) -> None:
    hea = write_wfdb(tmp_path, "units", ecg_like(500, 1), 500)
    hea.write_text(hea.read_text().replace("/mV", "/furlong"))
    assert_read_error(hea, r"unknown units 'furlong' of channel I")


def test_unknown_units_csv_header_and_caller(tmp_path: Path) -> None:
    names = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
    path = _csv(tmp_path / "u.csv", ",".join(f"{n} (bananas)" for n in names) + "\n" + _rows(5, 8))
    assert_read_error(path, r"unknown units 'bananas' \(column I\)")
    plain = _csv(tmp_path / "p.csv", _rows(5))
    assert_read_error(plain, r"unknown units 'parsecs' \(given\)", units="parsecs")


def test_sampling_rate_out_of_range(tmp_path: Path) -> None:
    hea = write_wfdb(tmp_path, "slow", ecg_like(20, 5), 20)
    assert_read_error(hea, r"sampling rate 20 Hz \(header\) is outside 50 Hz–10000 Hz")
    path = tmp_path / "fast.csv"
    t = np.arange(50) / 20_000
    path.write_text("t,I,II,V1,V2,V3,V4,V5,V6\n" + "".join(f"{v}," + ",".join(["0.1"] * 8) + "\n" for v in t))
    assert_read_error(path, r"sampling rate 20000 Hz \(from the time column\) is outside")
    h5 = tmp_path / "attr.h5"
    with h5py.File(h5, "w") as h:
        h.create_dataset("signal", data=np.zeros((1000, 12))).attrs["fs"] = 5
    assert_read_error(h5, r"sampling rate 5 Hz is outside")
    assert_read_error(_csv(tmp_path / "given.csv", _rows(5)), r"sampling rate 20000 Hz \(given\)", fs=20_000)


def test_zero_length_records(tmp_path: Path) -> None:
    hea = tmp_path / "zero.hea"
    hea.write_text(
        "zero 12 500 0\n"
        + "".join(
            f"zero.dat 16 1000/mV 16 0 0 0 0 {n}\n"
            for n in ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
        )
    )
    (tmp_path / "zero.dat").write_bytes(b"\0" * 24)
    (tmp_path / "zero.dat").write_bytes(b"")
    assert_read_error(hea, r"empty file|zero-length")
    assert_read_error(
        _hdf5(tmp_path / "zero.hdf5", tracings=np.zeros((1, 0, 12), np.float32)), r"zero-length record"
    )
    assert_read_error(_csv(tmp_path / "head.csv", "I,II,V1,V2,V3,V4,V5,V6\n"), r"zero-length record")


def test_unsupported_and_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "x.docx").write_bytes(b"PK\x03\x04")
    assert_read_error(tmp_path / "x.docx", r"unsupported file type \.docx")
    with pytest.raises(ExamReadError, match="no such file or folder"):
        open_exams(tmp_path / "missing.hea")


def test_info_reports_bad_files_and_carries_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_wfdb(tmp_path, "good", ecg_like(500, 2), 500, comments=["Dx: 164889003"])
    hea = write_wfdb(tmp_path, "broken", ecg_like(500, 2), 500)
    (tmp_path / "broken.dat").write_bytes(b"\0" * 10)
    _csv(tmp_path / "labels.csv", "id,AF\n1,0\n")
    (tmp_path / "inf.csv").write_text(_rows(3) + ",".join(["inf"] * 12) + "\n")
    rc = main(["info", str(tmp_path), str(tmp_path / "nothing.csv")])
    out, err = capsys.readouterr()
    assert rc == 1
    assert re.search(r"good\.hea\s+good\s+wfdb\s+500 Hz\s+2\.00 s\s+12 leads .*dx=164889003", out)
    assert f"error: {hea.with_suffix('.dat')}: truncated signal file: 10 bytes, the header broken.hea" in err
    assert "inf.csv: 1" not in out and "inf.csv" in err and "NaN or infinite" in err
    assert "no ECG:" in err and "labels.csv" in err
    assert "nothing.csv: no such file or folder" in err
    assert "1 exam in 2 files; 1 file holds no ECG; 3 files could not be read" in err
