"""The exams open in the viewer, as one list of rows, and what the model said about each (no Qt)."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ecgviewer.classes import CLASSES
from ecgviewer.exam import Exam, ExamHeader
from ecgviewer.io import ExamSet
from ecgviewer.viewer.measurements import MeasurementCache


class Workspace:
    """Every open :class:`~ecgviewer.io.ExamSet` concatenated into rows 0..N-1.

    Attributes:
        probabilities: (N, 6) float32, NaN where the exam has not been analysed (yet).
        thresholds: (6,) float32 of the model that produced ``probabilities``.
        model_label: "name version" of that model ("" when none).
        row_errors: row → message for exams that could not be read or analysed.
        agreement: row → text for the label-agreement column (filled by label comparison).
        agreement_details: row → tooltip of that column (per class: model vs reference).
        label_disagrees: (N,) bool, the model differs from the exam's reference labels.
        labelled: (N,) bool, some label source has the exam.
        measurements: the measured rows (:class:`~ecgviewer.viewer.measurements.MeasurementCache`).
    """

    def __init__(self) -> None:
        self.sets: list[ExamSet] = []
        self._starts: list[int] = []
        self._n = 0
        self.classes: tuple[str, ...] = CLASSES
        self.probabilities = np.full((0, len(CLASSES)), np.nan, dtype=np.float32)
        self.thresholds = np.full(len(CLASSES), np.nan, dtype=np.float32)
        self.model_label = ""
        self.row_errors: dict[int, str] = {}
        self.agreement: dict[int, str] = {}
        self.agreement_details: dict[int, str] = {}
        self.label_disagrees = np.zeros(0, dtype=bool)
        self.labelled = np.zeros(0, dtype=bool)
        self.measurements = MeasurementCache()
        self._lock = threading.Lock()

    # -- rows ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    def add(self, exam_set: ExamSet) -> range:
        """Append a set; returns its rows."""
        with self._lock:
            start = self._n
            self.sets.append(exam_set)
            self._starts.append(start)
            self._n += len(exam_set)
            extra = np.full((len(exam_set), len(self.classes)), np.nan, dtype=np.float32)
            self.probabilities = np.concatenate([self.probabilities, extra])
            self.label_disagrees = np.concatenate([self.label_disagrees, np.zeros(len(exam_set), dtype=bool)])
            self.labelled = np.concatenate([self.labelled, np.zeros(len(exam_set), dtype=bool)])
        return range(start, start + len(exam_set))

    def locate(self, row: int) -> tuple[ExamSet, int]:
        """(set, index in the set) of a row."""
        if not 0 <= row < self._n:
            raise IndexError(f"row {row} out of range: {self._n} exams open")
        k = bisect.bisect_right(self._starts, row) - 1
        return self.sets[k], row - self._starts[k]

    def header(self, row: int) -> ExamHeader:
        """Cheap facts of a row's exam (no samples read)."""
        s, i = self.locate(row)
        return s.header(i)

    def read(self, row: int) -> Exam:
        """The exam of a row, samples in mV (raises ExamReadError)."""
        s, i = self.locate(row)
        return s[i]

    def source_files(self) -> dict[Path, int]:
        """Resolved path of every open file → its first row."""
        out: dict[Path, int] = {}
        for s, start in zip(self.sets, self._starts, strict=True):
            offset = 0
            for src in s.sources:
                try:
                    key = Path(src.path).resolve()
                except OSError:
                    key = Path(src.path)
                out.setdefault(key, start + offset)
                offset += src.n_exams
        return out

    def row_of_file(self, path: str | Path) -> int | None:
        """First row of an already open file (WFDB: .hea, .dat or .mat), or None."""
        path = Path(path)
        files = self.source_files()
        candidates = {path.resolve()}
        if path.suffix.lower() in (".hea", ".dat", ".mat"):
            candidates |= {path.with_suffix(s).resolve() for s in (".hea", ".dat", ".mat")}
        for c in candidates:
            if c in files:
                return files[c]
        return None

    def clear(self) -> None:
        """Close every set and forget all rows."""
        with self._lock:
            for s in self.sets:
                s.close()
            self.sets.clear()
            self._starts.clear()
            self._n = 0
            self.probabilities = np.full((0, len(self.classes)), np.nan, dtype=np.float32)
            self.row_errors.clear()
            self.agreement.clear()
            self.agreement_details.clear()
            self.label_disagrees = np.zeros(0, dtype=bool)
            self.labelled = np.zeros(0, dtype=bool)
            self.measurements.clear()

    # -- predictions -----------------------------------------------------------------------
    def set_model(self, label: str, thresholds: np.ndarray, classes: Iterable[str] = CLASSES) -> None:
        """Forget every probability (a new model is active)."""
        with self._lock:
            self.model_label = label
            self.classes = tuple(classes)
            self.thresholds = np.asarray(thresholds, dtype=np.float32)
            self.probabilities = np.full((self._n, len(self.classes)), np.nan, dtype=np.float32)
            self.row_errors = {r: m for r, m in self.row_errors.items() if not m.startswith("analysis:")}

    def set_probabilities(self, rows: np.ndarray | Iterable[int], probs: np.ndarray) -> None:
        """Store (len(rows), 6) probabilities for these rows."""
        rows = np.asarray(list(rows) if not isinstance(rows, np.ndarray) else rows, dtype=np.int64)
        with self._lock:
            if rows.size and rows.max() < len(self.probabilities):
                self.probabilities[rows] = probs

    def analysed(self) -> np.ndarray:
        """(N,) bool: rows with probabilities."""
        return ~np.isnan(self.probabilities).any(axis=1) if self._n else np.zeros(0, dtype=bool)

    def decisions(self) -> np.ndarray:
        """(N, 6) bool: probability > threshold, strictly, as the paper (False where unknown)."""
        with np.errstate(invalid="ignore"):
            return self.probabilities > self.thresholds

    def positive_text(self, row: int) -> str:
        """ "RBBB, 1dAVb" / "none" / "" (not analysed) for the browser."""
        p = self.probabilities[row]
        if np.isnan(p).any():
            return ""
        with np.errstate(invalid="ignore"):
            names = [c for c, v, t in zip(self.classes, p, self.thresholds, strict=True) if v > t]
        return ", ".join(names) if names else "none"
