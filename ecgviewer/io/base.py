"""What every reader shares: the source protocol, the error for non-ECG files, unit and
rate checks, and amplitude-based unit inference."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from ecgviewer.errors import ExamReadError
from ecgviewer.exam import Exam, ExamHeader
from ecgviewer.leads import INDEPENDENT_LEADS, LEADS, canonical_lead_name

MIN_FS: float = 50.0
MAX_FS: float = 10_000.0
DEFAULT_FS: float = 500.0
"""Sampling rate assumed (and said so) when a CSV or HDF5 file states none."""


class NotAnExamError(ExamReadError):
    """The file is readable but holds no ECG (a model, a label table, ...).

    Listings report these apart from broken ECG files.
    """


class ExamSource(Protocol):
    """One file opened by a reader: a fixed number of exams, read on demand."""

    path: Path
    format: str
    n_exams: int

    def exam_id(self, index: int) -> str:
        """The id of exam ``index`` (no samples read)."""

    def header(self, index: int) -> ExamHeader:
        """Cheap facts of exam ``index`` (no samples read where the format allows)."""

    def read(self, index: int) -> Exam:
        """Exam ``index`` in mV; raises ExamReadError."""

    def close(self) -> None:
        """Release open handles (the source may reopen on the next read)."""


# --- units -----------------------------------------------------------------------------

_UNIT_TO_MV: dict[str, float] = {
    "MV": 1.0,
    "MILLIVOLT": 1.0,
    "MILLIVOLTS": 1.0,
    "UV": 1e-3,
    "MICROVOLT": 1e-3,
    "MICROVOLTS": 1e-3,
    "NV": 1e-6,
    "V": 1e3,
    "VOLT": 1e3,
    "VOLTS": 1e3,
    "1E-4V": 0.1,
    "0.1MV": 0.1,
    "100UV": 0.1,
}


class SingleExamFile:
    """What the readers of one-exam files (WFDB, CSV, the clinical formats) share: index 0 only,
    the file's stem as exam id, the header from what opening the file found, and the Exam of
    the file. A subclass sets ``path``, ``format``, ``fs`` and ``leads`` (``age``, ``sex`` when
    the header states them) and says how many samples it holds (:meth:`declared_samples`)."""

    path: Path
    format: str
    fs: float
    leads: tuple[str, ...]
    age: float | None = None
    sex: str | None = None
    n_exams = 1

    def check_index(self, index: int) -> None:
        if index != 0:
            raise IndexError(f"{self.path}: exam {index} out of range (0–0)")

    def exam_id(self, index: int = 0) -> str:
        return self.path.stem

    def declared_samples(self) -> int:
        raise NotImplementedError

    def header(self, index: int = 0) -> ExamHeader:
        self.check_index(index)
        return ExamHeader(
            exam_id=self.exam_id(),
            source=self.path,
            format=self.format,
            index=0,
            fs=self.fs,
            n_samples=self.declared_samples(),
            leads=self.leads,
            age=self.age,
            sex=self.sex,
        )

    def exam(self, signal_mv: np.ndarray, **fields: object) -> Exam:
        """The file's Exam from its (samples, leads) mV signal; ``fields``: the rest of Exam's."""
        return Exam(
            signal_mv=signal_mv,
            fs=self.fs,
            leads=self.leads,
            exam_id=self.exam_id(),
            source=self.path,
            format=self.format,
            index=0,
            **fields,  # type: ignore[arg-type]
        )

    def close(self) -> None:
        pass


def unit_to_mv(unit: str) -> float | None:
    """Factor turning values in ``unit`` into mV ("uV" → 1e-3, "1e-4 V" → 0.1), None if unknown."""
    key = re.sub(r"\s", "", str(unit)).replace("\u00b5", "u").replace("\u03bc", "u").upper()
    return _UNIT_TO_MV.get(key)


def require_unit(path: Path, unit: str, what: str = "") -> float:
    factor = unit_to_mv(unit)
    if factor is None:
        raise ExamReadError(path, f"unknown units {unit!r}{what}: expected mV, µV (uV), V or 1e-4 V")
    return factor


def infer_unit_from_amplitude(values: np.ndarray) -> tuple[float, str]:
    """Guess the unit of an ECG from its amplitude; returns (factor to mV, note).

    A 12-lead ECG in mV rarely exceeds ±10 mV; in µV its deflections are hundreds to
    thousands. The robust amplitude is the 99.9th percentile of |x − median| over all leads.
    """
    finite = np.asarray(values, dtype=np.float64)
    if finite.size == 0:
        return 1.0, "units assumed mV (no samples)"
    centred = np.abs(finite - np.median(finite, axis=0))
    amp = float(np.percentile(centred, 99.9)) if centred.size else 0.0
    if amp > 50.0:
        return 1e-3, (
            f"units not stated: inferred µV from the amplitude (99.9th percentile "
            f"{amp:.0f}); give the units if this is wrong"
        )
    if 0.0 < amp < 0.02:
        return 1e3, (
            f"units not stated: inferred V from the amplitude (99.9th percentile "
            f"{amp:.2g}); give the units if this is wrong"
        )
    return 1.0, (
        f"units not stated: inferred mV from the amplitude (99.9th percentile "
        f"{amp:.2f}); give the units if this is wrong"
    )


# --- checks ------------------------------------------------------------------------------


def check_fs(path: Path, fs: float, where: str = "") -> float:
    try:
        fs = float(fs)
    except (TypeError, ValueError):
        raise ExamReadError(path, f"sampling rate {fs!r}{where} is not a number") from None
    if not np.isfinite(fs) or not MIN_FS <= fs <= MAX_FS:
        raise ExamReadError(path, f"sampling rate {fs:g} Hz{where} is outside {MIN_FS:g} Hz–{MAX_FS:g} Hz")
    return fs


def check_signal(path: Path, signal: np.ndarray, leads: Sequence[str], what: str = "") -> np.ndarray:
    """Validate (samples, leads) samples: non-empty, finite. Returns float32."""
    prefix = f"{what}: " if what else ""
    if signal.ndim != 2 or signal.shape[1] != len(leads):
        raise ExamReadError(
            path, f"{prefix}samples have shape {signal.shape}, expected (samples, {len(leads)})"
        )
    if signal.shape[0] == 0:
        raise ExamReadError(path, f"{prefix}zero-length record (no samples)")
    signal = np.asarray(signal, dtype=np.float32)
    check_finite(path, signal, leads, prefix)
    return signal


def check_finite(path: Path | None, signal: np.ndarray, leads: Sequence[str], prefix: str = "") -> None:
    """Raise ExamReadError naming the first NaN or infinite sample of (samples, leads) ``signal``."""
    bad = ~np.isfinite(signal)
    if bad.any():
        rows, cols = np.nonzero(bad)
        kind = "NaN" if np.isnan(signal[rows[0], cols[0]]) else "infinite"
        raise ExamReadError(
            path,
            f"{prefix}{int(bad.sum())} samples are NaN or infinite (first: {kind} in lead "
            f"{leads[cols[0]]} at sample {int(rows[0])}); repair or drop the record",
        )


def check_nonempty_file(path: Path) -> None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ExamReadError(path, "no such file") from None
    except OSError as err:
        raise ExamReadError(path, f"cannot read: {err.strerror or err}") from None
    if size == 0:
        raise ExamReadError(path, "empty file (0 bytes)")


def leads_from_names(
    path: Path, names: Sequence[str], what: str = "channels"
) -> tuple[list[int], tuple[str, ...], list[str]]:
    """Map raw channel names to canonical leads.

    Returns (column indices kept, canonical names, notes). Unknown or duplicate channels are
    dropped with a note; fewer than the 8 independent leads (or I and II missing) is an error.
    """
    keep: list[int] = []
    canon: list[str] = []
    ignored: list[str] = []
    for i, name in enumerate(names):
        c = canonical_lead_name(name)
        if c is None or c in canon:
            ignored.append(str(name))
            continue
        keep.append(i)
        canon.append(c)
    notes = []
    if ignored and canon:
        notes.append(f"ignored {what} that are not 12-lead ECG leads: " + ", ".join(ignored))
    if not canon:
        shown = ", ".join(str(n) for n in list(names)[:12]) + (" ..." if len(names) > 12 else "")
        raise ExamReadError(path, f"no ECG lead names among the {what} ({shown})")
    have = set(canon)
    if not (set(LEADS) <= have or set(INDEPENDENT_LEADS) <= have):
        missing = [n for n in INDEPENDENT_LEADS if n not in have]
        raise ExamReadError(
            path,
            f"only leads {', '.join(canon)}: need all 12 or the 8 independent ones "
            f"(I, II, V1–V6); missing {', '.join(missing)}",
        )
    return keep, tuple(canon), notes


def default_leads(path: Path, n: int, what: str = "") -> tuple[tuple[str, ...], list[str]]:
    """Lead names for unnamed columns: 12 in standard order, or 8 as I, II, V1–V6 (with a note)."""
    if n == 12:
        return LEADS, []
    if n == 8:
        return INDEPENDENT_LEADS, ["8 unnamed leads taken as I, II, V1–V6 (III, aVR, aVL, aVF derived)"]
    raise ExamReadError(
        path,
        f"{what}{n} leads without names: expected 12 in standard order "
        f"(I, II, III, aVR, aVL, aVF, V1–V6) or the 8 independent ones",
    )


def decode(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return decode(value.item())
    return str(value)


# --- containment, size and the one validation of every exam ------------------------------


def contained_file(header: Path, name: str, what: str = "signal file") -> Path:
    """The file ``name`` that ``header`` references, refused unless it lies in the header's folder.

    ``name`` is resolved (after symlinks, ``..`` and absolute paths) and must stay inside the
    folder of ``header`` (also resolved), so that no header can make the app read another file
    of the disk. When the header is itself a symbolic link, the folder of the file it points to
    counts as well (a folder of links to a record's header and signal files opens). Raises
    ExamReadError naming both.
    """
    text = str(name)
    if not text or "\x00" in text:
        raise ExamReadError(header, f"the header names an invalid {what} {text!r}")
    folder = Path(header).parent
    try:
        roots = {folder.resolve(), Path(header).resolve().parent}
        target = (folder / text).resolve()
    except (OSError, RuntimeError) as err:  # symlink loops, unreadable components
        raise ExamReadError(header, f"the {what} {text!r} cannot be resolved: {err}") from None
    if not any(target.is_relative_to(root) for root in roots):
        raise ExamReadError(
            header,
            f"the header names {what} {text!r}, which lies outside the header's folder ({target}); "
            f"refused: referenced files must sit beside the header",
        )
    return target


def _budget_mb() -> float:
    try:
        return max(16.0, float(os.environ.get("ECGVIEWER_MAX_EXAM_MB", "64")))
    except ValueError:
        return 64.0


def max_samples(n_leads: int) -> int:
    """Most samples per lead read into one exam (float32) within the memory budget.

    The budget is 64 MB per exam (``ECGVIEWER_MAX_EXAM_MB`` changes it): about 45 min of a
    12-lead recording at 500 Hz. Longer recordings are read up to this length, with a note
    (the network reads 10.24 s).
    """
    return int(_budget_mb() * 2**20 // (4 * max(1, int(n_leads))))


def samples_to_read(path: Path, declared: int, n_leads: int, fs: float) -> tuple[int, list[str]]:
    """How many of ``declared`` samples per lead to read; (count, notes).

    Declared lengths beyond :func:`max_samples` are cut to it with a note naming the sizes;
    a negative or absurd (≥ 2**40) declaration is refused.
    """
    declared = int(declared)
    if declared < 0 or declared >= 2**40 or n_leads <= 0 or n_leads > 4096:
        raise ExamReadError(
            path, f"declares {declared:,} samples × {n_leads} leads, which is not a recording"
        )
    cap = max_samples(n_leads)
    if declared <= cap:
        return declared, []
    gib = declared * n_leads * 4 / 2**30
    return cap, [
        f"the file declares {declared:,} samples × {n_leads} leads ({declared / fs / 3600:.3g} h, "
        f"{gib:.3g} GiB as float32); the first {cap:,} samples ({cap / fs / 60:.3g} min) were read "
        f"(memory budget {_budget_mb():g} MB, ECGVIEWER_MAX_EXAM_MB)"
    ]


ABSURD_SAMPLE_MV: float = 1e5
"""A sample beyond ±this (mV, i.e. 100 V) is damage, not a recording: the exam is refused."""


def validate_exam(exam: Exam, path: Path | None = None) -> Exam:
    """The one check every reader's output passes (called by :func:`ecgviewer.io.registry.open_source`).

    Refuses (ExamReadError naming the file and the exam) samples that are NaN, infinite or
    beyond ±:data:`ABSURD_SAMPLE_MV`, a non-positive rate and an empty record; attaches the
    signal-quality verdict (:func:`ecgviewer.quality.assess_quality`) as ``exam.quality`` and,
    when something is wrong, a note.
    """
    from ecgviewer.quality import assess_quality

    where = path if path is not None else exam.source
    label = f"exam {exam.exam_id or exam.index}: " if exam.exam_id or exam.index else ""
    signal = exam.signal_mv
    if signal.ndim != 2 or signal.shape[0] == 0:
        raise ExamReadError(where, f"{label}zero-length record (no samples)")
    if not np.isfinite(exam.fs) or exam.fs <= 0:
        raise ExamReadError(where, f"{label}sampling rate {exam.fs!r} Hz is not usable")
    check_finite(where, signal, exam.leads, label)
    peak = float(np.max(np.abs(signal)))
    if peak > ABSURD_SAMPLE_MV:
        r, c = np.unravel_index(int(np.argmax(np.abs(signal))), signal.shape)
        raise ExamReadError(
            where,
            f"{label}sample value {float(signal[r, c]):.3g} mV in lead {exam.leads[c]} at sample {int(r)} "
            f"is not an ECG amplitude (limit ±{ABSURD_SAMPLE_MV:g} mV): damaged file, or wrong gain or units",
        )
    quality = assess_quality(signal, exam.fs, exam.leads)
    exam.quality = quality
    if quality.unreliable:
        exam.notes.append("signal quality: " + quality.note())
    return exam
