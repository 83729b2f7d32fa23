"""WFDB records (PhysioNet): a ``.hea`` header with its ``.dat`` or ``.mat`` signal file(s).

Samples are read with the ``wfdb`` package in physical units (the header's gains and
baselines) and converted to mV from each channel's units. Header comments ``#Age``, ``#Sex``
and ``#Dx`` (PhysioNet/CinC Challenge) are kept: ``exam.raw_labels = {"dx": [...]}`` holds
the Dx codes as strings, exactly as written; other comments go to ``exam.meta``.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import wfdb

from ecgviewer.errors import ExamReadError
from ecgviewer.exam import Exam, ExamHeader
from ecgviewer.io.base import (
    check_fs,
    check_nonempty_file,
    check_signal,
    default_leads,
    leads_from_names,
    unit_to_mv,
)
from ecgviewer.leads import canonical_lead_name

WFDB_SUFFIXES: tuple[str, ...] = (".hea", ".dat", ".mat")

# Bytes per sample of the WFDB formats whose file size is predictable.
_BYTES_PER_SAMPLE: dict[str, float] = {
    "8": 1, "16": 2, "61": 2, "80": 1, "160": 2, "24": 3, "32": 4, "212": 1.5, "310": 4 / 3, "311": 4 / 3,
}

_DATE_FORMATS = ("%d-%b-%Y %H:%M:%S", "%H:%M:%S %d/%m/%Y", "%H:%M:%S.%f %d/%m/%Y", "%d/%m/%Y %H:%M:%S",
                 "%d-%b-%Y", "%d/%m/%Y")


def header_path_for(path: Path) -> Path:
    """The ``.hea`` of a record given its header or signal file."""
    return path if path.suffix.lower() == ".hea" else path.with_suffix(".hea")


def looks_like_header(head: bytes) -> bool:
    """True when ``head`` starts like a WFDB record line (``name nsig [fs [len ...]]``)."""
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        return re.match(r"^\S+(/\d+)?\s+\d+(\s+[\d.eE+]+(/[\d.eE+]+)?(\(\S+\))?)?(\s|$)", line) is not None
    return False


def _record_date(hea: Path) -> datetime | None:
    """Date and time of the record line, in the WFDB (``HH:MM:SS DD/MM/YYYY``) or the
    Challenge 2020/2021 (``DD-Mon-YYYY HH:MM:SS``) spelling."""
    try:
        with open(hea, encoding="latin-1") as fh:
            for line in fh:
                if line.strip() and not line.lstrip().startswith("#"):
                    tokens = line.split()
                    break
            else:
                return None
    except OSError:
        return None
    rest = " ".join(tokens[4:])
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(rest, fmt)
        except ValueError:
            continue
    return None


def _comments(comments: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for c in comments:
        m = re.match(r"^\s*<?([A-Za-z][\w ]*?)>?\s*:\s*(.*)$", c)
        if m:
            out[m.group(1).strip().lower()] = m.group(2).strip()
    return out


def _age(text: str | None) -> float | None:
    if not text:
        return None
    try:
        age = float(text.split()[0])
    except ValueError:
        return None
    return age if math.isfinite(age) and 0 <= age < 150 else None


def _sex(text: str | None) -> str | None:
    t = (text or "").strip().upper()
    if t in ("M", "MALE"):
        return "M"
    if t in ("F", "FEMALE"):
        return "F"
    return None


class WfdbSource:
    """One WFDB record (one exam)."""

    format = "wfdb"
    n_exams = 1

    def __init__(self, path: Path, *, fs: float | None = None, units: str | None = None) -> None:
        del units  # the header states them
        self.path = header_path_for(Path(path))
        if not self.path.exists():
            raise ExamReadError(path, f"WFDB signal file without its header: {self.path.name} "
                                      "is missing beside it")
        check_nonempty_file(self.path)
        self.record_name = str(self.path.with_suffix(""))
        try:
            h = wfdb.rdheader(self.record_name)
        except Exception as err:  # wfdb raises many types for bad headers
            raise ExamReadError(self.path, f"not a valid WFDB header: {err}") from None
        self.notes: list[str] = []
        if h.fs is None:
            raise ExamReadError(self.path, "the header gives no sampling rate")
        self.fs = check_fs(self.path, h.fs, " (header)")
        if fs is not None and abs(float(fs) - self.fs) > 1e-9:
            self.notes.append(f"the header states {self.fs:g} Hz; the {float(fs):g} Hz given was not used")
        names = list(h.sig_name or [])
        if not names or h.n_sig == 0:
            raise ExamReadError(self.path, "the header lists no signals")
        if all(canonical_lead_name(n) is None for n in names) and len(names) in (12, 8):
            self.leads, notes = default_leads(self.path, len(names))
            self.columns = list(range(len(names)))
            self.notes.append(f"channel names {', '.join(names)} not recognised; taken in standard order")
            self.notes += notes
        else:
            self.columns, self.leads, notes = leads_from_names(self.path, names, "channels")
            self.notes += notes
        units = list(h.units or [None] * len(names))
        self.to_mv: list[float] = []
        for i in self.columns:
            unit = units[i] if i < len(units) else None
            if not unit:
                self.to_mv.append(1.0)
                continue
            factor = unit_to_mv(unit)
            if factor is None:
                raise ExamReadError(self.path, f"unknown units {unit!r} of channel {names[i]}: "
                                               "expected mV, µV (uV) or V")
            self.to_mv.append(factor)
        if any(not units[i] for i in self.columns if i < len(units)) or len(units) < len(names):
            self.notes.append("units missing in the header: mV assumed (the WFDB default)")
        self.multi_segment = isinstance(h, wfdb.MultiRecord) or getattr(h, "n_seg", None) is not None
        self.n_samples = int(h.sig_len or 0)
        if not self.multi_segment:
            self._check_files(h)
        if self.n_samples == 0:
            raise ExamReadError(self.path, "zero-length record (the header gives 0 samples)")
        info = _comments(list(h.comments or []))
        self.age = _age(info.get("age"))
        self.sex = _sex(info.get("sex"))
        self.dx = [c.strip() for c in re.split(r"[,;\s]+", info.get("dx", "")) if c.strip()]
        self.comments = info
        self.recorded = _record_date(self.path)

    def _check_files(self, h: Any) -> None:
        files: dict[str, list[int]] = {}
        for i, name in enumerate(h.file_name or []):
            files.setdefault(name, []).append(i)
        for name, sigs in files.items():
            f = self.path.parent / name
            if not f.exists():
                raise ExamReadError(self.path, f"the header names signal file {name}, "
                                               "which is missing beside it")
            size = f.stat().st_size
            if size == 0:
                raise ExamReadError(f, "empty file (0 bytes): the signal file of " + self.path.name)
            fmt = str(h.fmt[sigs[0]])
            bps = _BYTES_PER_SAMPLE.get(fmt)
            if bps is None:
                continue
            offset = int((h.byte_offset or [0] * len(h.fmt))[sigs[0]] or 0)
            spf = sum(int((h.samps_per_frame or [1] * len(h.fmt))[i] or 1) for i in sigs)
            if not h.sig_len:  # length from the file, as WFDB does
                self.n_samples = int((size - offset) // (spf * bps))
                continue
            needed = offset + math.ceil(h.sig_len * spf * bps)
            if size < needed:
                raise ExamReadError(
                    f, f"truncated signal file: {size} bytes, the header {self.path.name} needs {needed} "
                       f"({h.sig_len} samples × {len(sigs)} signals, format {fmt})")

    def exam_id(self, index: int = 0) -> str:
        return self.path.stem

    def header(self, index: int = 0) -> ExamHeader:
        if index != 0:
            raise IndexError(f"{self.path}: exam {index} out of range (0–0)")
        return ExamHeader(exam_id=self.path.stem, source=self.path, format=self.format, index=0, fs=self.fs,
                          n_samples=self.n_samples, leads=self.leads, age=self.age, sex=self.sex)

    def read(self, index: int = 0) -> Exam:
        if index != 0:
            raise IndexError(f"{self.path}: exam {index} out of range (0–0)")
        try:
            rec = wfdb.rdrecord(self.record_name, channels=self.columns, physical=True)
        except FileNotFoundError as err:
            raise ExamReadError(self.path, f"signal file missing: {err.filename or err}") from None
        except Exception as err:
            raise ExamReadError(self.path, f"cannot read the samples (truncated or damaged signal file?): "
                                           f"{err}") from None
        samples = rec.p_signal
        if samples is None:
            raise ExamReadError(self.path, "no samples read")
        if self.n_samples and samples.shape[0] != self.n_samples:
            raise ExamReadError(self.path, f"truncated record: {samples.shape[0]} samples read, the header "
                                           f"says {self.n_samples}")
        signal = check_signal(self.path, samples * np.asarray(self.to_mv), self.leads)
        raw_labels: dict[str, Any] = {"dx": list(self.dx)} if self.dx else {}
        meta = {k: v for k, v in self.comments.items() if k not in ("age", "sex", "dx")}
        return Exam(signal_mv=signal, fs=self.fs, leads=self.leads, exam_id=self.path.stem, source=self.path,
                    format=self.format, index=0, age=self.age, sex=self.sex, recorded=self.recorded,
                    raw_labels=raw_labels, notes=list(self.notes), meta=meta)

    def close(self) -> None:
        pass
