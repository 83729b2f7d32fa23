"""HDF5 exams: the CODE layout of the paper, SPH per-record files and generic arrays.

Layouts recognised (first match wins):

* ``tracings`` (N, 4096, 12) or (4096, 12): Ribeiro et al. / CODE, 400 Hz, mV (the paper's
  README says 1e-4 V, a known misstatement: its code feeds these tracings to the network
  unscaled and their amplitudes are those of mV), optional ``exam_id`` (N,).
* ``ecg`` (12, samples): Shandong Provincial Hospital (SPH) records, mV, 500 Hz unless the
  file or a ``metadata.csv`` beside it says otherwise.
* any other numeric dataset shaped (N, samples, leads), (N, leads, samples), (samples, leads)
  or (leads, samples) with 12 or 8 leads, e.g. the PTB-XL pack (``signal`` int16 with
  attributes ``fs`` and ``gain_per_mV``). Rate and scale come from attributes (``fs``,
  ``sampling_rate``; ``gain_per_mV``, ``adc_gain``, ``units``), else from the caller, else an
  assumption recorded on the exam.

Multi-exam files stay open read-only and read one exam per request (h5py slicing).
"""

from __future__ import annotations

import csv
import re
import threading
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ecgviewer.errors import ExamReadError
from ecgviewer.exam import Exam, ExamHeader
from ecgviewer.io.base import (
    DEFAULT_FS,
    MAX_FS,
    MIN_FS,
    NotAnExamError,
    check_fs,
    check_nonempty_file,
    check_signal,
    contained_file,
    decode,
    default_leads,
    infer_unit_from_amplitude,
    leads_from_names,
    require_unit,
    samples_to_read,
)

HDF5_SUFFIXES: tuple[str, ...] = (".h5", ".hdf5", ".hdf", ".he5")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

CODE_FS = 400.0
CODE_TO_MV = 1.0  # CODE tracings are mV (see the module docstring)
SPH_FS = 500.0

_PREFERRED = ("tracings", "ecg", "signal", "signals", "ecgs", "data", "waveform", "waveforms", "x")
_FS_KEYS = ("fs", "sampling_rate", "sampling_frequency", "sample_rate", "samplerate", "frequency", "freq")
_GAIN_KEYS = ("gain_per_mV", "gain_per_mv", "adc_gain", "gain")
_UNIT_KEYS = ("units", "unit")
_LEAD_KEYS = ("leads", "lead_names", "sig_name", "channels", "channel_names")
_ID_NAMES = ("exam_id", "exam_ids", "ecg_id", "ecg_ids", "record_id", "record_name", "id", "ids")
_MIN_GENERIC_SAMPLES = 100


def is_hdf5(head: bytes) -> bool:
    """True when the first bytes carry the HDF5 signature (at 0 or a user-block offset)."""
    return any(head[off : off + 8] == HDF5_MAGIC for off in (0, 512, 1024, 2048))


def _attr(objs: list[Any], keys: tuple[str, ...]) -> tuple[Any, str] | None:
    for obj in objs:
        for key in keys:
            for k in obj.attrs:
                if k.lower() == key.lower():
                    return obj.attrs[k], k
    return None


def _scalar(value: Any) -> float | None:
    try:
        arr = np.asarray(value)
        if arr.dtype.kind in "SUO":
            return float(decode(arr.reshape(-1)[0]).strip().split()[0])
        return float(arr.reshape(-1)[0])
    except (TypeError, ValueError, IndexError):
        return None


def _lead_names(value: Any, n: int) -> list[str] | None:
    if isinstance(value, np.ndarray) and value.ndim == 1:
        names = [decode(v).strip() for v in value]
    else:
        text = decode(value)
        names = [t for t in re.split(r"[^\w]+", text) if t and t != "b"]
    return names if len(names) == n else None


@lru_cache(maxsize=64)
def _sph_metadata(folder: Path, mtime: float) -> dict[str, dict[str, str]]:
    """Rows of an SPH ``metadata.csv`` by file name ({"SPH00001.h5": {...}}).

    Only text keys and values are kept (a truncated or ragged row has None or lists there)."""
    rows: dict[str, dict[str, str]] = {}
    with open(folder / "metadata.csv", newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            clean = {k: v for k, v in row.items() if isinstance(k, str) and isinstance(v, str)}
            if None in row or any(v is None for v in row.values()):  # ragged: its cells may be shifted
                clean = {"ECG_ID": clean.get("ECG_ID", ""), _RAGGED: "1"}
            rows.setdefault(clean.get("ECG_ID", ""), clean)
    return rows


_RAGGED = "__ragged__"


def _metadata_row(path: Path) -> tuple[dict[str, str] | None, str | None]:
    """(the SPH metadata row of ``path`` or None, a note when the metadata file is damaged)."""
    meta = path.parent / "metadata.csv"
    try:
        mtime = meta.stat().st_mtime
    except OSError:
        return None, None
    try:
        row = _sph_metadata(path.parent, mtime).get(path.name)
        if row is not None and _RAGGED in row:
            return None, f"{meta}: the row of {path.name} has the wrong number of cells; opened without it"
        return row, None
    except (OSError, csv.Error, UnicodeDecodeError, ValueError) as err:
        return None, f"{meta} could not be read ({type(err).__name__}: {err}); opened without its metadata"


class Hdf5Source:
    """One HDF5 file; see the module docstring for the layouts."""

    def __init__(self, path: Path, *, fs: float | None = None, units: str | None = None) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._file: h5py.File | None = None
        self.notes: list[str] = []
        self._ids: np.ndarray | None = None
        self._age_ds: str | None = None
        self._sex_ds: str | None = None
        self.meta_row: dict[str, str] | None = None
        self.n_exams = 0
        h = self._open()
        try:
            self._probe(h, fs, units)
        except BaseException:
            self.close()
            raise
        if self.n_exams <= 1:
            self.close()

    # --- opening -------------------------------------------------------------------------

    def _open(self) -> h5py.File:
        if self._file is not None:
            return self._file
        check_nonempty_file(self.path)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as err:
            raise ExamReadError(
                self.path, f"not a readable HDF5 file (truncated or damaged?): {err}"
            ) from None
        return self._file

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                try:
                    self._file.close()
                finally:
                    self._file = None

    def _probe(self, h: h5py.File, fs: float | None, units: str | None) -> None:
        if "model_weights" in h or "keras_version" in h.attrs or "model_config" in h.attrs:
            raise NotAnExamError(
                self.path,
                "holds no ECG: it is a Keras model file (model_weights), "
                "not an exam; import it with `ecgviewer import-keras`",
            )
        datasets: list[h5py.Dataset] = []

        def visit(_name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                datasets.append(obj)

        try:
            h.visititems(visit)
        except (OSError, RuntimeError, KeyError) as err:
            raise ExamReadError(self.path, f"damaged HDF5 file: {err}") from None
        ds, layout = self._choose(datasets)
        self.dataset_name = ds.name
        self.dtype = ds.dtype
        self._check_references(ds)
        self._layout_axes(ds, layout)
        objs = [ds, h]
        self.format = {"code": "hdf5-code", "ecg": "hdf5-ecg"}.get(layout, "hdf5-generic")
        if self.n_samples == 0 or self.n_exams == 0:
            raise ExamReadError(
                self.path, f"dataset {ds.name!r} {ds.shape} is a zero-length record (no samples)"
            )

        # leads
        names_attr = _attr(objs, _LEAD_KEYS)
        names = _lead_names(names_attr[0], self.n_leads) if names_attr else None
        if names:
            self.columns, self.leads, notes = leads_from_names(self.path, names, "leads")
            self.notes += notes
        else:
            self.leads, notes = default_leads(self.path, self.n_leads, f"dataset {ds.name!r}: ")
            self.columns = list(range(self.n_leads))
            self.notes += notes

        # sampling rate
        if layout == "ecg":
            self.meta_row, note = _metadata_row(self.path)
            if note:
                self.notes.append(note)
        fs_attr = _attr(objs, _FS_KEYS)
        file_fs = _scalar(fs_attr[0]) if fs_attr else None
        if fs_attr and file_fs is None:
            raise ExamReadError(
                self.path, f"attribute {fs_attr[1]!r} = {decode(fs_attr[0])!r} is not a sampling rate"
            )
        if file_fs is None and self.meta_row and self.meta_row.get("fs"):
            file_fs = _scalar(self.meta_row["fs"])
            if file_fs is None or not MIN_FS <= file_fs <= MAX_FS:
                self.notes.append(
                    f"metadata.csv gives fs {self.meta_row['fs']!r}, not a sampling rate: ignored"
                )
                file_fs = None
        if file_fs is not None:
            self.fs = check_fs(self.path, file_fs)
            if fs is not None and abs(float(fs) - self.fs) > 1e-9:
                self.notes.append(f"the file states {self.fs:g} Hz; the {float(fs):g} Hz given was not used")
        elif layout == "code":
            self.fs = CODE_FS
            self.notes.append("400 Hz, as in the CODE `tracings` layout (the file does not state it)")
        elif fs is not None:
            self.fs = check_fs(self.path, fs, " (given)")
        elif layout == "ecg":
            self.fs = SPH_FS
            self.notes.append("sampling rate not stated: 500 Hz assumed (SPH `ecg` layout)")
        else:
            self.fs = CODE_FS if self.n_samples == 4096 else DEFAULT_FS
            self.notes.append(f"sampling rate not stated: {self.fs:g} Hz assumed; give the rate if wrong")

        # scale to mV
        self.to_mv: float | None
        gain = _attr(objs, _GAIN_KEYS)
        unit = _attr(objs, _UNIT_KEYS)
        if gain is not None:
            g = _scalar(gain[0])
            if g is None or not np.isfinite(g) or g == 0:
                raise ExamReadError(
                    self.path, f"attribute {gain[1]!r} = {decode(gain[0])!r} is not a usable gain"
                )
            self.to_mv = 1.0 / g
        elif unit is not None:
            self.to_mv = require_unit(self.path, decode(unit[0]).strip(), f" (attribute {unit[1]!r})")
        elif units is not None:
            self.to_mv = require_unit(self.path, units, " (given)")
        elif layout == "code":
            self.to_mv = CODE_TO_MV
            self.notes.append(
                "CODE `tracings` read as mV: the paper's code feeds them to its network unscaled "
                "(its README's '1e-4 V' is a known misstatement); give units to override"
            )
        elif layout == "ecg":
            self.to_mv = 1.0
        else:
            self.to_mv = None  # inferred per exam from the amplitude

        # ids and demographics
        if self.n_exams > 1 or self.exam_axis is not None:
            for name in _ID_NAMES:
                cand = h.get(name)
                if isinstance(cand, h5py.Dataset) and cand.shape == (self.n_exams,) and cand.size < 10**7:
                    self._ids = cand[()]
                    break
            for name in ("age", "ages"):
                if isinstance(h.get(name), h5py.Dataset) and h[name].shape == (self.n_exams,):
                    self._age_ds = name
            for name in ("sex", "is_male"):
                if isinstance(h.get(name), h5py.Dataset) and h[name].shape == (self.n_exams,):
                    self._sex_ds = name

    def _check_references(self, ds: h5py.Dataset) -> None:
        """Virtual and external datasets name other files: they must sit beside this one."""
        try:
            if ds.is_virtual:
                for source in ds.virtual_sources():
                    if source.file_name not in (".", ""):
                        contained_file(self.path, source.file_name, "virtual dataset source file")
            for name, *_ in ds.external or ():
                contained_file(self.path, decode(name), "external data file")
        except ExamReadError:
            raise
        except (OSError, RuntimeError, ValueError, TypeError) as err:
            raise ExamReadError(self.path, f"dataset {ds.name!r}: unreadable layout ({err})") from None

    def _choose(self, datasets: list[h5py.Dataset]) -> tuple[h5py.Dataset, str]:
        numeric = [d for d in datasets if d.dtype.kind in "iuf"]
        by_name = {d.name.rsplit("/", 1)[-1].lower(): d for d in numeric}
        for name in _PREFERRED:
            d = by_name.get(name)
            if d is None:
                continue
            layout = {"tracings": "code", "ecg": "ecg"}.get(name, "generic")
            if self._axes(d.shape, 0) is None:
                raise ExamReadError(
                    self.path,
                    f"dataset {d.name!r} has shape {d.shape}: expected (exams, samples, 12), "
                    "(samples, 12) or (12, samples) (8 independent leads also accepted)",
                )
            return d, layout
        for d in sorted(numeric, key=lambda d: -d.size):
            if self._axes(d.shape, _MIN_GENERIC_SAMPLES) is not None:
                return d, "generic"
        listing = ", ".join(f"{d.name} {d.shape}" for d in datasets[:8]) or "none"
        raise NotAnExamError(
            self.path,
            "holds no ECG-like dataset (looked for (exams, samples, 12), (samples, 12) or "
            f"(12, samples)); datasets: {listing}",
        )

    @staticmethod
    def _axes(shape: tuple[int, ...], min_samples: int) -> tuple[int | None, int, int] | None:
        """(exam axis, sample axis, lead axis) for an ECG-like shape, else None."""
        leads = (12, 8)
        if len(shape) == 3:
            if shape[2] in leads and shape[1] >= min_samples:
                return 0, 1, 2
            if shape[1] in leads and shape[2] >= min_samples and shape[2] > shape[1]:
                return 0, 2, 1
        if len(shape) == 2:
            if shape[1] in leads and shape[0] >= min_samples:
                return None, 0, 1
            if shape[0] in leads and shape[1] >= min_samples:
                return None, 1, 0
        return None

    def _layout_axes(self, ds: h5py.Dataset, layout: str) -> None:
        axes = self._axes(ds.shape, 0)
        assert axes is not None
        self.exam_axis, self.sample_axis, self.lead_axis = axes
        self.n_exams = int(ds.shape[0]) if self.exam_axis is not None else 1
        self.n_samples = int(ds.shape[self.sample_axis])
        self.n_leads = int(ds.shape[self.lead_axis])
        self.n_read, notes = samples_to_read(self.path, self.n_samples, self.n_leads, CODE_FS)
        self.notes += notes

    # --- per exam ------------------------------------------------------------------------

    def _check_index(self, index: int) -> int:
        if not 0 <= index < self.n_exams:
            raise IndexError(f"{self.path}: exam {index} out of range (0–{self.n_exams - 1})")
        return index

    def exam_id(self, index: int) -> str:
        if self._ids is not None:
            return decode(self._ids[index]).strip()
        if self.n_exams == 1:
            return self.path.stem
        return f"{self.path.stem}[{index}]"

    def _demographics(self, index: int) -> tuple[float | None, str | None]:
        age: float | None = None
        sex: str | None = None
        if self.meta_row:
            age = _scalar(self.meta_row.get("Age", ""))
            sex = _sex(self.meta_row.get("Sex", ""))
        if self._age_ds or self._sex_ds:
            with self._lock:
                h = self._open()
                if self._age_ds:
                    age = _scalar(h[self._age_ds][index])
                if self._sex_ds:
                    v = h[self._sex_ds][index]
                    sex = ("M" if bool(v) else "F") if self._sex_ds == "is_male" else _sex(decode(v))
        if age is not None and not np.isfinite(age):
            age = None
        return age, sex

    def header(self, index: int) -> ExamHeader:
        index = self._check_index(index)
        known = self.meta_row or self._age_ds or self._sex_ds
        age, sex = self._demographics(index) if known else (None, None)
        return ExamHeader(
            exam_id=self.exam_id(index),
            source=self.path,
            format=self.format,
            index=index,
            fs=self.fs,
            n_samples=self.n_samples,
            leads=self.leads,
            age=age,
            sex=sex,
        )

    def read(self, index: int) -> Exam:
        index = self._check_index(index)
        with self._lock:
            h = self._open()
            try:
                ds = h[self.dataset_name]
                # only the samples within the memory budget (a file may declare 10⁹ samples)
                window: list[Any] = [slice(None)] * ds.ndim
                window[self.sample_axis] = slice(0, self.n_read)
                if self.exam_axis is not None:
                    window[self.exam_axis] = index
                raw = ds[tuple(window)]
            except (OSError, RuntimeError, ValueError) as err:
                raise ExamReadError(
                    self.path,
                    f"exam {index}: cannot read {self.dataset_name!r} (truncated or damaged file?): {err}",
                ) from None
            finally:
                if self.n_exams <= 1:
                    self.close()
        lead_axis = self.lead_axis - (1 if self.exam_axis is not None else 0)
        samples = np.asarray(raw, dtype=np.float64)
        if lead_axis == 0:
            samples = samples.T
        samples = samples[:, self.columns]
        notes = list(self.notes)
        what = f"exam {index}" if self.n_exams > 1 else ""
        to_mv = self.to_mv
        if to_mv is None:
            finite = samples[np.isfinite(samples).all(axis=1)]
            to_mv, note = infer_unit_from_amplitude(finite)
            notes.append(note)
        signal = check_signal(self.path, samples * to_mv, self.leads, what)
        age, sex = self._demographics(index)
        raw_labels: dict[str, Any] = {}
        recorded = None
        meta: dict[str, Any] = {"dataset": self.dataset_name}
        if self.meta_row:
            codes = [c.strip() for c in self.meta_row.get("SNOMEDCTCode", "").split(",") if c.strip()]
            if codes:
                raw_labels["dx"] = codes
            aha = [c.strip() for c in self.meta_row.get("AHA_Code", "").split(";") if c.strip()]
            if aha:
                raw_labels["aha"] = aha
            try:
                recorded = datetime.strptime(self.meta_row.get("Date", ""), "%Y-%m-%d")
            except ValueError:
                recorded = None
            if self.meta_row.get("Patient_ID"):
                meta["patient_id"] = self.meta_row["Patient_ID"]
        return Exam(
            signal_mv=signal,
            fs=self.fs,
            leads=self.leads,
            exam_id=self.exam_id(index),
            source=self.path,
            format=self.format,
            index=index,
            age=age,
            sex=sex,
            recorded=recorded,
            raw_labels=raw_labels,
            notes=notes,
            meta=meta,
        )


def _sex(value: str) -> str | None:
    v = str(value).strip().upper()
    if v in ("M", "MALE", "MAN"):
        return "M"
    if v in ("F", "FEMALE", "WOMAN"):
        return "F"
    return None
