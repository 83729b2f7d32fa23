"""WFDB records (PhysioNet): a ``.hea`` header with its ``.dat`` or ``.mat`` signal file(s).

Headers and the byte-aligned formats (16, 61, 32, 80, 160: nearly every ECG database) are
read directly with numpy, bit-identical to the ``wfdb`` package and much faster; other formats
and multi-segment records go through ``wfdb``. Samples are in physical units (the header's gains and
baselines) and converted to mV from each channel's units. Header comments ``#Age``, ``#Sex``
and ``#Dx`` (PhysioNet/CinC Challenge) are kept: ``exam.raw_labels = {"dx": [...]}`` holds
the Dx codes as strings, exactly as written; other comments go to ``exam.meta``.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from ecgviewer.errors import ExamReadError
from ecgviewer.exam import Exam
from ecgviewer.io.base import (
    SingleExamFile,
    check_fs,
    check_nonempty_file,
    check_signal,
    contained_file,
    default_leads,
    leads_from_names,
    samples_to_read,
    unit_to_mv,
)
from ecgviewer.leads import canonical_lead_name

WFDB_SUFFIXES: tuple[str, ...] = (".hea", ".dat", ".mat")

# Bytes per sample of the WFDB formats whose file size is predictable.
_BYTES_PER_SAMPLE: dict[str, float] = {
    "8": 1,
    "16": 2,
    "61": 2,
    "80": 1,
    "160": 2,
    "24": 3,
    "32": 4,
    "212": 1.5,
    "310": 4 / 3,
    "311": 4 / 3,
}

_DATE_FORMATS = (
    "%d-%b-%Y %H:%M:%S",
    "%H:%M:%S %d/%m/%Y",
    "%H:%M:%S.%f %d/%m/%Y",
    "%d/%m/%Y %H:%M:%S",
    "%d-%b-%Y",
    "%d/%m/%Y",
)


def header_path_for(path: Path) -> Path:
    """The ``.hea`` of a record given its header or signal file."""
    return path if path.suffix.lower() == ".hea" else path.with_suffix(".hea")


def looks_like_header(head: bytes) -> bool:
    """True when ``head`` starts like a WFDB record line (``name nsig [fs [len ...]]``)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 4:  # not merely a character cut at the end of the head
            return False
        text = head[: err.start].decode("utf-8")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        return re.match(r"^\S+(/\d+)?\s+\d+(\s+[\d.eE+]+(/[\d.eE+]+)?(\(\S+\))?)?(\s|$)", line) is not None
    return False


def _read_header_text(path: Path) -> str:
    """A header's text: UTF-8 (record and file names may be Unicode), else Latin-1."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _record_date(hea: Path) -> datetime | None:
    """Date and time of the record line, in the WFDB (``HH:MM:SS DD/MM/YYYY``) or the
    Challenge 2020/2021 (``DD-Mon-YYYY HH:MM:SS``) spelling."""
    try:
        with open(hea, encoding="utf-8", errors="replace") as fh:
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


_FAST_DTYPES: dict[str, tuple[str, int]] = {  # format: (numpy dtype, value added), invalid → NaN
    "16": ("<i2", 0),
    "61": (">i2", 0),
    "32": ("<i4", 0),
    "80": ("u1", -128),
    "160": ("<u2", -32768),
}
_INVALID: dict[str, int] = {"16": -32768, "61": -32768, "32": -(2**31), "80": -128, "160": -32768}
_FMT_RE = re.compile(r"^(\d+)(?:x(\d+))?(?::(\d+))?(?:\+(\d+))?$")
_GAIN_RE = re.compile(r"^([-+\d.eE]+)(?:\(([-+\d]+)\))?(?:/(\S+))?$")


def _fast_header(path: Path) -> SimpleNamespace | None:
    """Parse a single-segment WFDB header without the ``wfdb`` package (which is slow at it).

    Returns None when the header is unusual (multi-segment, odd fields): the caller then
    falls back to :func:`wfdb.rdheader`. Raises ExamReadError when the record line's
    rate or length is not a number (``wfdb`` would take 250 Hz silently).
    """
    try:
        text = _read_header_text(path)
    except OSError:
        return None
    comments: list[str] = []
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            comments.append(line[1:].strip())
        elif line:
            lines.append(line.split("#", 1)[0].strip())
    if not lines:
        return None
    rec = lines[0].split()
    if len(rec) < 2 or "/" in rec[0] or not rec[1].isdigit():
        return None
    n_sig = int(rec[1])
    fs_text = rec[2].split("/")[0].split("(")[0] if len(rec) > 2 else "250"
    try:
        fs = float(fs_text)
    except ValueError:
        raise ExamReadError(
            path, f"the sampling rate {rec[2]!r} in the record line is not a number"
        ) from None
    try:
        sig_len = int(rec[3]) if len(rec) > 3 else None
    except ValueError:
        raise ExamReadError(
            path, f"the record length {rec[3]!r} in the record line is not a whole number of samples"
        ) from None
    if sig_len is not None and sig_len < 0:
        raise ExamReadError(path, f"the record length {sig_len} in the record line is negative")
    sig_lines = lines[1 : 1 + n_sig]
    if len(sig_lines) != n_sig:
        return None
    h = SimpleNamespace(
        fs=fs,
        n_sig=n_sig,
        sig_len=sig_len,
        comments=comments,
        n_seg=None,
        file_name=[],
        fmt=[],
        samps_per_frame=[],
        skew=[],
        byte_offset=[],
        adc_gain=[],
        baseline=[],
        units=[],
        sig_name=[],
    )
    for line in sig_lines:
        t = line.split()
        m = _FMT_RE.match(t[1]) if len(t) > 1 else None
        if m is None:
            return None
        g = _GAIN_RE.match(t[2]) if len(t) > 2 else None
        if len(t) > 2 and g is None:
            gain_text = re.split(r"[(/]", t[2])[0]
            try:
                bad = not math.isfinite(float(gain_text))
            except ValueError:
                bad = True
            if bad:  # wfdb would take the whole field as units ("unknown units 'nan/mV'")
                raise ExamReadError(
                    path,
                    f"signal {len(h.sig_name) + 1}: the gain {gain_text!r} (field {t[2]!r}) is not a number",
                )
            return None
        try:
            gain = float(g.group(1)) if g else 0.0
            adc_zero = int(t[4]) if len(t) > 4 else 0
        except ValueError:
            return None
        if not math.isfinite(gain):
            raise ExamReadError(
                path, f"signal {len(h.sig_name) + 1}: the gain {t[2]!r} is not a finite number"
            )
        h.file_name.append(t[0])
        h.fmt.append(m.group(1))
        h.samps_per_frame.append(int(m.group(2) or 1))
        h.skew.append(int(m.group(3) or 0))
        h.byte_offset.append(int(m.group(4) or 0))
        h.adc_gain.append(gain or 200.0)
        h.baseline.append(int(g.group(2)) if g and g.group(2) is not None else adc_zero)
        h.units.append(g.group(3) if g and g.group(3) else None)
        h.sig_name.append(" ".join(t[8:]) if len(t) > 8 else f"ch{len(h.sig_name) + 1}")
    return h


class WfdbSource(SingleExamFile):
    """One WFDB record (one exam)."""

    format = "wfdb"

    def __init__(self, path: Path, *, fs: float | None = None, units: str | None = None) -> None:
        del units  # the header states them
        self.path = header_path_for(Path(path))
        if not self.path.exists():
            raise ExamReadError(
                path, f"WFDB signal file without its header: {self.path.name} is missing beside it"
            )
        check_nonempty_file(self.path)
        self.record_name = str(self.path.with_suffix(""))
        h = _fast_header(self.path)
        if h is None:
            try:
                import wfdb  # imported only when needed: it is slow to import

                h = wfdb.rdheader(self.record_name)
            except Exception as err:  # wfdb raises many types for bad headers
                raise ExamReadError(self.path, f"not a valid WFDB header: {err}") from None
        self._h = h
        self.notes: list[str] = []
        self._check_references(h)
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
                raise ExamReadError(
                    self.path, f"unknown units {unit!r} of channel {names[i]}: expected mV, µV (uV) or V"
                )
            self.to_mv.append(factor)
        if any(not units[i] for i in self.columns if i < len(units)) or len(units) < len(names):
            self.notes.append("units missing in the header: mV assumed (the WFDB default)")
        self.multi_segment = getattr(h, "n_seg", None) is not None
        self.n_samples = int(h.sig_len or 0)
        if not self.multi_segment:
            self._check_files(h)
        if self.n_samples == 0:
            raise ExamReadError(self.path, "zero-length record (the header gives 0 samples)")
        self.n_read, notes = samples_to_read(self.path, self.n_samples, len(names), self.fs)
        self.notes += notes
        info = _comments(list(h.comments or []))
        self.age = _age(info.get("age"))
        self.sex = _sex(info.get("sex"))
        self.dx = [c.strip() for c in re.split(r"[,;\s]+", info.get("dx", "")) if c.strip()]
        self.comments = info
        self.recorded = _record_date(self.path)

    def _check_references(self, h: Any) -> None:
        """Every file the header names (signal files, segment headers) must sit in its folder."""
        for name in list(getattr(h, "file_name", None) or []):
            contained_file(self.path, name)
        for seg in list(getattr(h, "seg_name", None) or []):
            if seg and seg != "~":
                contained_file(self.path, f"{seg}.hea", "segment header")

    def _check_files(self, h: Any) -> None:
        files: dict[str, list[int]] = {}
        for i, name in enumerate(h.file_name or []):
            files.setdefault(name, []).append(i)
        for name, sigs in files.items():
            f = contained_file(self.path, name)
            if not f.exists():
                raise ExamReadError(
                    self.path, f"the header names signal file {name}, which is missing beside it"
                )
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
                    f,
                    f"truncated signal file: {size} bytes, the header {self.path.name} needs {needed} "
                    f"({h.sig_len} samples × {len(sigs)} signals, format {fmt})",
                )

    def declared_samples(self) -> int:
        return self.n_samples

    def read(self, index: int = 0) -> Exam:
        self.check_index(index)
        samples = self._read_fast()
        if samples is None:
            try:
                import wfdb

                rec = wfdb.rdrecord(
                    self.record_name, channels=self.columns, physical=True, sampto=self.n_read or None
                )
            except FileNotFoundError as err:
                raise ExamReadError(self.path, f"signal file missing: {err.filename or err}") from None
            except Exception as err:
                raise ExamReadError(
                    self.path, f"cannot read the samples (truncated or damaged signal file?): {err}"
                ) from None
            samples = rec.p_signal
        if samples is None:
            raise ExamReadError(self.path, "no samples read")
        if self.n_read and samples.shape[0] != self.n_read:
            raise ExamReadError(
                self.path,
                f"truncated record: {samples.shape[0]} samples read, the header says {self.n_samples}",
            )
        signal = check_signal(self.path, samples * np.asarray(self.to_mv), self.leads)
        raw_labels: dict[str, Any] = {"dx": list(self.dx)} if self.dx else {}
        meta = {k: v for k, v in self.comments.items() if k not in ("age", "sex", "dx")}
        return self.exam(
            signal,
            age=self.age,
            sex=self.sex,
            recorded=self.recorded,
            raw_labels=raw_labels,
            notes=list(self.notes),
            meta=meta,
        )

    def _read_fast(self) -> np.ndarray | None:
        """Physical samples (samples, kept channels) for the common case of one interleaved file in
        a byte-aligned format (16, 61, 32, 80, 160), no skew, one sample per frame; else None."""
        h = self._h
        if self.multi_segment or not isinstance(h, SimpleNamespace) or len(set(h.file_name)) != 1:
            return None
        fmts = set(h.fmt)
        if (
            len(fmts) != 1
            or (fmt := fmts.pop()) not in _FAST_DTYPES
            or set(h.samps_per_frame) != {1}
            or any(h.skew)
            or len(set(h.byte_offset)) != 1
        ):
            return None
        dtype, shift = _FAST_DTYPES[fmt]
        n = self.n_read * h.n_sig
        try:
            raw = np.fromfile(
                contained_file(self.path, h.file_name[0]), dtype=dtype, count=n, offset=h.byte_offset[0]
            )
        except OSError as err:
            raise ExamReadError(self.path, f"cannot read the signal file: {err}") from None
        if raw.size != n:
            raise ExamReadError(
                self.path,
                f"truncated record: {raw.size // h.n_sig} samples read, the header says {self.n_samples}",
            )
        digital = raw.reshape(self.n_read, h.n_sig)[:, self.columns].astype(np.int64) + shift
        gain = np.asarray(h.adc_gain, dtype=np.float64)[self.columns]
        base = np.asarray(h.baseline, dtype=np.float64)[self.columns]
        physical = (digital - base) / gain
        physical[digital == _INVALID[fmt]] = np.nan
        return physical
