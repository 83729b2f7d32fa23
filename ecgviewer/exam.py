"""The :class:`Exam`: one ECG recording in physical units, as every reader returns it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgviewer.leads import LEADS

if TYPE_CHECKING:
    from ecgviewer.clinical import ClinicalInfo
    from ecgviewer.quality import Quality


@dataclass
class Exam:
    """One ECG recording.

    Attributes:
        signal_mv: (samples, leads) float32, in millivolts.
        fs: sampling rate in Hz.
        leads: canonical lead names, one per column of ``signal_mv``
            (usually :data:`ecgviewer.leads.LEADS`; may be the 8 independent leads).
        exam_id: identifier shown to the user (file stem, HDF5 ``exam_id``, ...).
        source: the file the exam was read from.
        format: short name of the reader ("hdf5-code", "hdf5-ecg", "hdf5-generic", "wfdb", "csv",
            "synthetic").
        index: position of the exam in a multi-exam file (0 for single-exam files).
        age: years, when known.
        sex: "M" or "F", when known.
        recorded: acquisition date and time, when known.
        raw_labels: labels exactly as the file carries them, e.g. ``{"dx": ["59118001"]}``
            for a WFDB ``#Dx`` line; mapped to the six classes by :mod:`ecgviewer.labels`.
        notes: assumptions made while reading (e.g. "units inferred as µV from amplitude");
            shown to the user, never hidden.
        meta: any other header fields worth showing (never patient identifiers).
        clinical: for clinical formats (GE MUSE, Philips, HL7 aECG, DICOM, SCP-ECG, EDF), the
            patient and acquisition fields, the device's measurements and statements and its
            median beats (:class:`ecgviewer.clinical.ClinicalInfo`); None for other files.
        quality: the signal-quality verdict (:class:`ecgviewer.quality.Quality`) attached by
            the readers' common validation; None when not assessed (e.g. an exam built in memory).
    """

    signal_mv: np.ndarray
    fs: float
    leads: tuple[str, ...] = LEADS
    exam_id: str = ""
    source: Path | None = None
    format: str = ""
    index: int = 0
    age: float | None = None
    sex: str | None = None
    recorded: datetime | None = None
    raw_labels: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    clinical: ClinicalInfo | None = None
    quality: Quality | None = None

    def __post_init__(self) -> None:
        self.signal_mv = np.asarray(self.signal_mv, dtype=np.float32)
        if self.signal_mv.ndim != 2 or self.signal_mv.shape[1] != len(self.leads):
            raise ValueError(f"signal_mv must be (samples, {len(self.leads)}), got {self.signal_mv.shape}")
        self.leads = tuple(self.leads)
        self.fs = float(self.fs)

    @property
    def n_samples(self) -> int:
        return int(self.signal_mv.shape[0])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs

    def lead(self, name: str) -> np.ndarray:
        """The samples of one lead in mV, by canonical name."""
        return self.signal_mv[:, self.leads.index(name)]

    def time_s(self) -> np.ndarray:
        """Time axis in seconds, (samples,) float64."""
        return np.arange(self.n_samples) / self.fs

    def display_name(self) -> str:
        src = self.source.name if self.source is not None else "memory"
        return f"{self.exam_id} ({src})" if self.exam_id else src


@dataclass(frozen=True)
class ExamHeader:
    """What is known of an exam without reading its samples (for browsers and listings)."""

    exam_id: str
    source: Path | None
    format: str
    index: int
    fs: float
    n_samples: int
    leads: tuple[str, ...] = LEADS
    age: float | None = None
    sex: str | None = None

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs if self.fs else 0.0
