"""Readers on small files written by the tests: every layout and option of issue 3."""

from __future__ import annotations

import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import wfdb

from ecgviewer.errors import Cancelled
from ecgviewer.io import FILE_DIALOG_FILTER, SUPPORTED_SUFFIXES, ExamSet, open_exams, read_exam
from ecgviewer.leads import INDEPENDENT_LEADS, LEADS


def ecg_like(fs: float, seconds: float, n_leads: int = 12, amp_mv: float = 1.0, seed: int = 0) -> np.ndarray:
    """(samples, leads) float64 mV: a distinct sine per lead plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(fs * seconds)) / fs
    cols = [amp_mv * np.sin(2 * np.pi * (1 + 0.25 * k) * t + k) for k in range(n_leads)]
    return np.stack(cols, axis=1) + 0.01 * rng.standard_normal((t.size, n_leads))


def write_wfdb(
    folder: Path,
    name: str,
    signal_mv: np.ndarray,
    fs: float,
    *,
    units: str = "mV",
    names: tuple[str, ...] = LEADS,
    comments: list[str] | None = None,
    fmt: str = "16",
    gain: float = 1000.0,
) -> Path:
    n = signal_mv.shape[1]
    wfdb.wrsamp(
        name,
        fs=fs,
        units=[units] * n,
        sig_name=list(names),
        p_signal=signal_mv,
        fmt=[fmt] * n,
        adc_gain=[gain] * n,
        baseline=[0] * n,
        comments=comments or [],
        write_dir=str(folder),
    )
    return folder / f"{name}.hea"


# --- WFDB ---------------------------------------------------------------------------------


def test_wfdb_physical_units_comments_and_labels(tmp_path: Path) -> None:
    sig = ecg_like(500, 10)
    hea = write_wfdb(
        tmp_path,
        "rec1",
        sig,
        500,
        comments=["Age: 63", "Sex: Female", "Dx: 164889003,59118001", "Rx: Unknown"],
    )
    exam = read_exam(hea)
    assert exam.format == "wfdb" and exam.fs == 500 and exam.leads == LEADS
    assert exam.signal_mv.shape == (5000, 12) and exam.signal_mv.dtype == np.float32
    np.testing.assert_allclose(exam.signal_mv, sig, atol=0.6e-3)  # 1 µV quantisation
    assert exam.age == 63 and exam.sex == "F"
    assert exam.raw_labels == {"dx": ["164889003", "59118001"]}
    assert exam.meta["rx"] == "Unknown"
    # the signal file names the same record
    assert read_exam(tmp_path / "rec1.dat").exam_id == "rec1"


def test_wfdb_microvolts_become_millivolts(tmp_path: Path) -> None:
    sig = ecg_like(250, 4)
    hea = write_wfdb(tmp_path, "uv", sig * 1000, 250, units="uV", gain=1.0)
    exam = read_exam(hea)
    np.testing.assert_allclose(exam.signal_mv, sig, atol=1e-3)


def test_wfdb_8_leads_and_extra_channels(tmp_path: Path) -> None:
    sig = ecg_like(500, 2, n_leads=9)
    hea = write_wfdb(tmp_path, "eight", sig, 500, names=(*INDEPENDENT_LEADS, "RESP"))
    exam = read_exam(hea)
    assert exam.leads == INDEPENDENT_LEADS
    assert any("RESP" in n for n in exam.notes)


def test_wfdb_record_date_challenge_and_standard(tmp_path: Path) -> None:
    hea = write_wfdb(tmp_path, "d", ecg_like(500, 1), 500)
    lines = hea.read_text().splitlines()
    lines[0] = lines[0].split()[0] + " 12 500 500 12-May-2020 12:33:59"
    hea.write_text("\n".join(lines) + "\n")
    assert read_exam(hea).recorded.isoformat() == "2020-05-12T12:33:59"
    lines[0] = lines[0].split()[0] + " 12 500 500 08:15:00 24/12/2019"
    hea.write_text("\n".join(lines) + "\n")
    assert read_exam(hea).recorded.isoformat() == "2019-12-24T08:15:00"


# --- CSV ------------------------------------------------------------------------------------


def _write_csv(
    path: Path,
    data: np.ndarray,
    header: list[str] | None = None,
    delim: str = ",",
    decimal_comma: bool = False,
) -> Path:
    rows = []
    if header is not None:
        rows.append(delim.join(header))
    for r in data:
        cells = [f"{v:.6f}" for v in r]
        if decimal_comma:
            cells = [c.replace(".", ",") for c in cells]
        rows.append(delim.join(cells))
    path.write_text("\n".join(rows) + "\n")
    return path


def test_csv_without_header_defaults_are_recorded(tmp_path: Path) -> None:
    sig = ecg_like(500, 3)
    exam = read_exam(_write_csv(tmp_path / "a.csv", sig))
    assert exam.fs == 500 and exam.leads == LEADS
    np.testing.assert_allclose(exam.signal_mv, sig, atol=1e-6)
    assert any("500 Hz assumed" in n for n in exam.notes)
    assert any("inferred mV" in n for n in exam.notes)


def test_csv_microvolts_inferred_from_amplitude(tmp_path: Path) -> None:
    sig = ecg_like(500, 3)
    exam = read_exam(_write_csv(tmp_path / "uv.csv", sig * 1000), fs=250)
    assert exam.fs == 250  # given by the caller
    np.testing.assert_allclose(exam.signal_mv, sig, atol=1e-5)
    assert any("inferred µV" in n for n in exam.notes)
    # the caller's units win over the inference
    exam = read_exam(tmp_path / "uv.csv", units="uV")
    assert not any("inferred" in n for n in exam.notes)


def test_csv_header_aliases_time_column_and_units(tmp_path: Path) -> None:
    sig = ecg_like(360, 2)
    aliases = ["DI", "DII", "DIII", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    order = list(range(12))[::-1]  # columns in reverse order
    header = ["time (s)"] + [f"{aliases[k]} (uV)" for k in order]
    t = np.arange(sig.shape[0]) / 360
    data = np.column_stack([t, sig[:, order] * 1000])
    exam = read_exam(_write_csv(tmp_path / "named.csv", data, header, delim=";"))
    assert exam.fs == 360
    assert set(exam.leads) == set(LEADS)
    for k in range(12):
        np.testing.assert_allclose(exam.lead(LEADS[k]), sig[:, k], atol=1e-5)
    assert not any("assumed" in n or "inferred" in n for n in exam.notes)


def test_csv_time_in_ms_tab_delimited_and_8_leads(tmp_path: Path) -> None:
    sig = ecg_like(1000, 1, n_leads=8)
    header = ["time_ms", "I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
    data = np.column_stack([np.arange(sig.shape[0]) * 1.0, sig])
    exam = read_exam(_write_csv(tmp_path / "ms.tsv", data, header, delim="\t"), units="mV")
    assert exam.fs == 1000 and exam.leads == INDEPENDENT_LEADS


def test_csv_decimal_comma_and_unnamed_time_column(tmp_path: Path) -> None:
    sig = ecg_like(500, 1)
    data = np.column_stack([np.arange(sig.shape[0]) / 500, sig])
    exam = read_exam(_write_csv(tmp_path / "eu.csv", data, None, delim=";", decimal_comma=True))
    assert exam.fs == 500
    np.testing.assert_allclose(exam.signal_mv, sig, atol=1e-6)


def test_csv_comment_lines_state_rate_and_units(tmp_path: Path) -> None:
    sig = ecg_like(250, 2)
    path = _write_csv(tmp_path / "c.csv", sig * 1000)
    path.write_text("# exported by some device\n# sampling rate: 250 Hz, units: uV\n" + path.read_text())
    exam = read_exam(path)
    assert exam.fs == 250 and exam.n_samples == 500
    np.testing.assert_allclose(exam.signal_mv, sig, atol=1e-5)
    assert open_exams(path).header(0).n_samples == 500


# --- HDF5 -----------------------------------------------------------------------------------


def test_hdf5_code_layout_multi_exam_with_ids(tmp_path: Path) -> None:
    x = np.stack([ecg_like(400, 10.24, seed=i) for i in range(3)]).astype(np.float32)  # mV
    path = tmp_path / "code.hdf5"
    with h5py.File(path, "w") as h:
        h["tracings"] = x
        h["exam_id"] = np.array([1001, 1002, 1003])
    with open_exams(path) as exams:
        assert len(exams) == 3
        assert exams.header(1).exam_id == "1002" and exams.header(1).fs == 400
        assert exams.index_of("1003") == 2
        exam = exams[2]
        assert exam.format == "hdf5-code"
        np.testing.assert_allclose(exam.signal_mv, x[2], rtol=1e-6, atol=1e-6)
        assert any("read as mV" in note for note in exam.notes)
        assert [e.exam_id for e in exams[0:2]] == ["1001", "1002"]


@pytest.mark.parametrize("shape_kind", ["LxC", "CxL", "NxLxC", "NxCxL"])
def test_hdf5_generic_orientations_with_attributes(tmp_path: Path, shape_kind: str) -> None:
    sig = ecg_like(250, 4)
    counts = np.round(sig * 200).astype(np.int16)
    data = {"LxC": counts, "CxL": counts.T, "NxLxC": counts[None], "NxCxL": counts.T[None]}[shape_kind]
    path = tmp_path / "g.h5"
    with h5py.File(path, "w") as h:
        ds = h.create_dataset("waves", data=data)
        ds.attrs["sampling_rate"] = 250
        ds.attrs["adc_gain"] = 200.0
        h.attrs["lead_names"] = np.array([n.upper() for n in LEADS], dtype="S")
    exam = read_exam(path)
    assert exam.fs == 250 and exam.leads == LEADS and exam.format == "hdf5-generic"
    np.testing.assert_allclose(exam.signal_mv, counts / 200.0, atol=1e-6)


def test_hdf5_generic_without_attributes_uses_caller_or_assumptions(tmp_path: Path) -> None:
    path = tmp_path / "bare.h5"
    with h5py.File(path, "w") as h:
        h["signal"] = (ecg_like(500, 2) * 1000).astype(np.float32)  # µV, no attributes
    exam = read_exam(path)
    assert exam.fs == 500 and any("500 Hz assumed" in n for n in exam.notes)
    assert any("inferred µV" in n for n in exam.notes)
    exam = read_exam(path, fs=1000, units="uV")
    assert exam.fs == 1000 and not [n for n in exam.notes if not n.startswith("signal quality")]


def test_hdf5_sph_layout(tmp_path: Path) -> None:
    path = tmp_path / "SPH99999.h5"
    sig = ecg_like(500, 2)
    with h5py.File(path, "w") as h:
        h["ecg"] = sig.T.astype(np.float16)
    exam = read_exam(path)
    assert exam.format == "hdf5-ecg" and exam.fs == 500 and exam.signal_mv.shape == (1000, 12)
    assert any("500 Hz assumed" in n for n in exam.notes)


def test_lazy_open_of_20000_exams(tmp_path: Path) -> None:
    """A 20,000-exam CODE file opens in well under a second and reads one exam when asked.

    The tracings are chunked and never written (HDF5 stores nothing for them), so the file is
    small while its layout is the real one.
    """
    path = tmp_path / "big.hdf5"
    with h5py.File(path, "w") as h:
        ds = h.create_dataset("tracings", shape=(20_000, 4096, 12), dtype=np.float32, chunks=(1, 4096, 12))
        ds[12_345] = np.ones((4096, 12), np.float32)
        h["exam_id"] = np.arange(20_000) + 500_000
    start = time.perf_counter()
    exams = open_exams(path)
    opened = time.perf_counter() - start
    assert len(exams) == 20_000
    assert opened < 1.0, opened
    assert exams.index_of("512345") == 12_345
    assert np.allclose(exams[12_345].signal_mv, 1.0)  # CODE tracings are mV
    exams.close()


def test_folder_open_collects_errors_progress_and_cancel(tmp_path: Path) -> None:
    write_wfdb(tmp_path, "good", ecg_like(500, 1), 500)
    (tmp_path / "sub").mkdir()
    _write_csv(tmp_path / "sub" / "x.csv", ecg_like(500, 1))
    (tmp_path / "bad.h5").write_bytes(b"not hdf5 at all")
    (tmp_path / "notes.md").write_text("ignored")
    seen: list[tuple[int, int]] = []
    exams = open_exams(tmp_path, progress=lambda d, t: seen.append((d, t)))
    assert isinstance(exams, ExamSet)
    assert len(exams) == 2 and len(exams.errors) == 1
    assert "bad.h5" in str(exams.errors[0])
    assert seen[-1] == (3, 3)
    with pytest.raises(Cancelled):
        open_exams(tmp_path, cancel=lambda: True)


def test_suffixes_and_dialog_filter() -> None:
    for s in (".hea", ".dat", ".mat", ".h5", ".hdf5", ".csv"):
        assert s in SUPPORTED_SUFFIXES
        assert f"*{s}" in FILE_DIALOG_FILTER
    assert FILE_DIALOG_FILTER.startswith("ECG files (")


@pytest.mark.parametrize("fmt", ["80", "32", "212", "24"])
def test_wfdb_other_formats_match_the_wfdb_package(tmp_path: Path, fmt: str) -> None:
    sig = ecg_like(500, 1) * 0.5
    gain = 100.0 if fmt == "80" else 1000.0
    hea = write_wfdb(tmp_path, f"f{fmt}", sig, 500, fmt=fmt, gain=gain)
    exam = read_exam(hea)
    ref = wfdb.rdrecord(str(hea.with_suffix(""))).p_signal.astype(np.float32)
    np.testing.assert_array_equal(exam.signal_mv, ref)
    np.testing.assert_allclose(exam.signal_mv, sig, atol=0.6 / gain)
