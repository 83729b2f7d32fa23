"""The :class:`LabelSet`: one rater's (or one file's) labels for a set of exams, and how a label
row is matched to an exam.

Values are an ``(N, 6)`` int8 matrix in the order of :data:`ecgviewer.classes.CLASSES` with 1
(present), 0 (absent) and -1 (unknown); rows are matched to exams by id when both sides have
one, else by position (the CODE single-exam files ``pacient_<i>.hdf5`` map to row *i* - 1).
Display names of the usual sources ("Gold standard", "Cardiologist 1", ...) live here too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecgviewer.classes import CLASSES

K = len(CLASSES)
UNKNOWN = -1

# --------------------------------------------------------------------------- source names

_SOURCE_NAMES: dict[str, str] = {
    "gold_standard": "Gold standard",
    "goldstandard": "Gold standard",
    "gold": "Gold standard",
    "cardiologist1": "Cardiologist 1",
    "cardiologist2": "Cardiologist 2",
    "cardiology_residents": "Cardiology residents",
    "emergency_residents": "Emergency residents",
    "medical_students": "Medical students",
    "dnn": "DNN",
}
_SOURCE_ORDER: tuple[str, ...] = (
    "Gold standard",
    "Cardiologist 1",
    "Cardiologist 2",
    "Cardiology residents",
    "Emergency residents",
    "Medical students",
    "DNN",
)
GOLD_NAME = "Gold standard"
DX_NAME = "Dx (header)"


SHORT_NAMES: dict[str, str] = {
    "gold standard": "Gold std.",
    "cardiologist 1": "Cardiol. 1",
    "cardiologist 2": "Cardiol. 2",
    "cardiology residents": "Cardiol. resid.",
    "emergency residents": "Emerg. resid.",
    "medical students": "Med. students",
    "dx (header)": "Dx header",
    "dx (metadata)": "Dx metadata",
    "synthetic (generator)": "Generator",
}
"""Short titles of the usual label sources, for narrow table columns (panel and report)."""


def short_name(name: str) -> str:
    """A column title that fits a narrow column ("Cardiology residents" → "Cardiol. resid.")."""
    return SHORT_NAMES.get(name.lower(), name)


def source_name(path: str | Path) -> str:
    """A label file's display name from its stem: ``gold_standard.csv`` → "Gold standard",
    ``cardiologist1.csv`` → "Cardiologist 1", ``dnn.csv`` → "DNN", ``my_reads.csv`` → "My reads"."""
    stem = Path(path).stem
    key = stem.lower()
    if key in _SOURCE_NAMES:
        return _SOURCE_NAMES[key]
    if Path(path).name.lower() == "metadata.csv":
        return f"Metadata ({Path(path).parent.name})" if Path(path).parent.name else "Metadata"
    text = re.sub(r"[_\-]+", " ", stem).strip()
    text = re.sub(r"([A-Za-z])(\d+)$", r"\1 \2", text)
    return text[:1].upper() + text[1:] if text else stem


def _source_rank(name: str) -> tuple[int, str]:
    return (_SOURCE_ORDER.index(name) if name in _SOURCE_ORDER else len(_SOURCE_ORDER), name.lower())


# --------------------------------------------------------------------------- exam ids

_ID_SUFFIXES = (".hdf5", ".h5", ".hea", ".mat", ".dat", ".csv", ".xml", ".npy", ".edf", ".json", ".txt")
_PACIENT = re.compile(r"^(?:pacient|patient|paciente)[_\-]?(\d+)$", re.IGNORECASE)


def _norm_id(exam_id: Any) -> str:
    """Canonical form of an exam id for matching: basename, no known extension, lower case,
    no leading zeros for all-digit ids."""
    text = str(exam_id).strip().replace("\\", "/").rsplit("/", 1)[-1]
    low = text.lower()
    for suffix in _ID_SUFFIXES:
        if low.endswith(suffix) and len(low) > len(suffix):
            low = low[: -len(suffix)]
            break
    if low.endswith(".0") and low[:-2].isdigit():  # ids read back from float columns
        low = low[:-2]
    if low.isdigit():
        low = str(int(low))
    return low


# --------------------------------------------------------------------------- LabelSet


@dataclass
class LabelSet:
    """One rater's labels for a set of exams.

    Attributes:
        name: display name ("Gold standard", "Cardiologist 1", "Dx (header)", ...).
        values: (N, 6) int8 in the order of :data:`~ecgviewer.classes.CLASSES`:
            1 present, 0 absent, -1 unknown.
        exam_ids: one id per row, or None when rows are matched to exams by position.
        source: the file the labels were read from (None for labels from an exam header).
        other_findings: per row, findings outside the six classes, by name where known
            (e.g. ``"sinus rhythm (426783006)"``); empty lists when the source has none.
        kind: "annotator" (0/1 per class), "dx" (SNOMED codes), "metadata" (SPH metadata),
            "list" (a column of class names) or "synthetic".
        notes: what was assumed while reading (shown to the user).
    """

    name: str
    values: np.ndarray
    exam_ids: list[str] | None = None
    source: Path | None = None
    other_findings: list[list[str]] = field(default_factory=list)
    kind: str = "annotator"
    notes: list[str] = field(default_factory=list)
    alias_ids: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        values = np.asarray(self.values)
        if values.ndim != 2 or values.shape[1] != K:
            raise ValueError(f"LabelSet values must be (N, {K}), got {values.shape}")
        self.values = values.astype(np.int8, copy=False)
        if self.exam_ids is not None:
            self.exam_ids = [str(i) for i in self.exam_ids]
            if len(self.exam_ids) != len(self.values):
                raise ValueError("LabelSet: exam_ids and values differ in length")
        if not self.other_findings:
            self.other_findings = [[] for _ in range(len(self.values))]
        self._index: dict[str, int] | None = None

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def is_gold(self) -> bool:
        """True for the gold standard (the reference others are scored against)."""
        return self.name.lower().startswith("gold")

    def _id_index(self) -> dict[str, int]:
        if self._index is None:
            index: dict[str, int] = {}
            for key, row in self.alias_ids.items():
                index.setdefault(_norm_id(key), row)
            for row, exam_id in enumerate(self.exam_ids or ()):
                index[_norm_id(exam_id)] = row
            self._index = index
        return self._index

    def row_of(self, exam_id: str | None, index: int) -> int | None:
        """Row of the exam ``exam_id`` at position ``index`` of its file, or None.

        By id when both sides have one; else the CODE single-exam name ``pacient_<i>``
        → row i - 1; else by position.
        """
        if exam_id and (self.exam_ids is not None or self.alias_ids):
            return self._id_index().get(_norm_id(exam_id))
        if exam_id and index == 0:
            match = _PACIENT.match(_norm_id(exam_id))
            if match:
                row = int(match.group(1)) - 1
                return row if 0 <= row < len(self) else None
        return index if 0 <= index < len(self) else None

    def for_exam(self, exam_id: str | None, index: int = 0) -> np.ndarray | None:
        """(6,) int8 labels of one exam (1/0/-1), or None when the set has no row for it."""
        row = self.row_of(exam_id, index)
        return None if row is None else self.values[row]

    def findings_for_exam(self, exam_id: str | None, index: int = 0) -> list[str]:
        """Names of this exam's findings: the six classes present, then the other findings."""
        row = self.row_of(exam_id, index)
        if row is None:
            return []
        present = [c for c, v in zip(CLASSES, self.values[row], strict=True) if v == 1]
        return present + list(self.other_findings[row])

    def align(self, keys: Sequence[tuple[str | None, int]]) -> np.ndarray:
        """(M, 6) int8 labels for M exams given as ``(exam_id, index)``; -1 where no row matches."""
        out = np.full((len(keys), K), UNKNOWN, dtype=np.int8)
        for i, (exam_id, index) in enumerate(keys):
            row = self.row_of(exam_id, index)
            if row is not None:
                out[i] = self.values[row]
        return out

    def counts(self) -> dict[str, int]:
        """Number of exams labelled present per class."""
        return {c: int((self.values[:, k] == 1).sum()) for k, c in enumerate(CLASSES)}

    def describe(self) -> str:
        """One line for listings: name, source, size and class counts."""
        src = f" from {self.source.name}" if self.source is not None else ""
        counts = ", ".join(f"{c} {n}" for c, n in self.counts().items())
        ids = "matched by exam id" if self.exam_ids is not None else "matched by position"
        return f"{self.name}{src}: {len(self)} exams ({ids}); {counts}"


def reference_of(labelsets: Sequence[LabelSet]) -> LabelSet | None:
    """The source others are compared against: the gold standard if present, else the first."""
    for ls in labelsets:
        if ls.is_gold:
            return ls
    return labelsets[0] if labelsets else None
