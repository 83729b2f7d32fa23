"""Label sources → the six classes of Ribeiro et al. (2020).

A :class:`LabelSet` holds one rater's (or one file's) labels for a set of exams: an
``(N, 6)`` int8 matrix in the order of :data:`ecgviewer.classes.CLASSES` with 1 (present),
0 (absent) and -1 (unknown), optional exam identifiers, and per exam the findings that are
not one of the six classes (kept and shown by name).

Sources understood:

* annotator CSVs in the paper's layout (``1dAVb,RBBB,LBBB,SB,AF,ST`` as 0/1, row *i* = exam *i*,
  optionally an ``exam_id`` column or a leading unnamed index column as in ``dnn.csv``);
* WFDB ``#Dx:`` SNOMED CT codes of the PhysioNet/CinC Challenge 2020/21 (``exam.raw_labels["dx"]``);
* the SPH database's ``metadata.csv`` (``SNOMEDCTCode``, or ``AHA_Code`` when no SNOMED column);
* a generic CSV: an exam id and one column per class, or a column of class names / codes
  (``labels``, ``diagnosis``, ``dx``, ...), separated by ``;``, ``,``, ``|`` or spaces.

Matching a label row to an exam (:meth:`LabelSet.row_of`): by exam id when both sides have one,
else by position; the CODE single-exam files ``pacient_<i>.hdf5`` map to row *i* - 1.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ecgviewer.classes import CLASS_NAMES, CLASSES
from ecgviewer.errors import LabelError

__all__ = [
    "AHA_NAMES",
    "AHA_TO_CLASS",
    "SNOMED_NAMES",
    "SNOMED_TO_CLASS",
    "ExamComparison",
    "LabelSet",
    "compare_exam",
    "discover_labels",
    "finding_name",
    "labels_from_codes",
    "labels_from_exam",
    "labels_from_exams",
    "load_label_file",
    "map_findings",
    "read_class_table",
    "reference_of",
    "short_name",
    "source_name",
]

K = len(CLASSES)
UNKNOWN = -1

# --------------------------------------------------------------------------- code tables

SNOMED_TO_CLASS: dict[str, str] = {
    "270492004": "1dAVb",  # first degree atrioventricular block
    "59118001": "RBBB",  # right bundle branch block
    "713427006": "RBBB",  # complete right bundle branch block
    "164909002": "LBBB",  # left bundle branch block
    "733534002": "LBBB",  # complete left bundle branch block
    "426177001": "SB",  # sinus bradycardia
    "164889003": "AF",  # atrial fibrillation
    "427084000": "ST",  # sinus tachycardia
}
"""SNOMED CT codes of the PhysioNet/CinC Challenge 2020/21 that are one of the six classes.

Incomplete bundle branch blocks (713426002, 251120003), "bradycardia" (426627000) and
"prolonged PR interval" (164947007) are deliberately *not* mapped: the paper's classes are
complete blocks, *sinus* bradycardia and first-degree AV block as labelled by cardiologists."""

SNOMED_NAMES: dict[str, str] = {
    # the six classes
    "270492004": "1st degree AV block",
    "59118001": "right bundle branch block",
    "713427006": "complete right bundle branch block",
    "164909002": "left bundle branch block",
    "733534002": "complete left bundle branch block",
    "426177001": "sinus bradycardia",
    "164889003": "atrial fibrillation",
    "427084000": "sinus tachycardia",
    # scored in the Challenge 2021
    "164890007": "atrial flutter",
    "6374002": "bundle branch block",
    "426627000": "bradycardia",
    "713426002": "incomplete right bundle branch block",
    "39732003": "left axis deviation",
    "445118002": "left anterior fascicular block",
    "251146004": "low QRS voltages",
    "698252002": "nonspecific intraventricular conduction disorder",
    "426783006": "sinus rhythm",
    "284470004": "premature atrial contraction",
    "10370003": "pacing rhythm",
    "365413008": "poor R wave progression",
    "427172004": "premature ventricular contractions",
    "164947007": "prolonged PR interval",
    "111975006": "prolonged QT interval",
    "164917005": "Q wave abnormal",
    "47665007": "right axis deviation",
    "427393009": "sinus arrhythmia",
    "63593006": "supraventricular premature beats",
    "164934002": "T wave abnormal",
    "59931005": "T wave inversion",
    "17338001": "ventricular premature beats",
    # unscored codes that occur in the shared Challenge records, and other common ones
    "106068003": "atrial rhythm",
    "13640000": "fusion beats",
    "164861001": "myocardial ischemia",
    "164865005": "myocardial infarction",
    "164867002": "old myocardial infarction",
    "164873001": "left ventricular hypertrophy",
    "164884008": "ventricular ectopics",
    "164930006": "ST interval abnormal",
    "164931005": "ST elevation",
    "164951009": "abnormal QRS",
    "195042002": "2nd degree AV block",
    "195080001": "atrial fibrillation and flutter",
    "233897008": "atrioventricular reentrant tachycardia",
    "233917008": "AV block",
    "251120003": "incomplete left bundle branch block",
    "251170000": "blocked premature atrial contraction",
    "251187003": "atrial escape beat",
    "251199005": "counterclockwise rotation",
    "251198002": "clockwise rotation",
    "253352002": "left atrial abnormality",
    "27885002": "complete heart block",
    "413844008": "chronic myocardial ischemia",
    "425419005": "inferior ischaemia",
    "425623009": "lateral ischaemia",
    "425856008": "paroxysmal ventricular tachycardia",
    "426434006": "anterior ischemia",
    "426761007": "supraventricular tachycardia",
    "428417006": "early repolarization",
    "428750005": "nonspecific ST-T abnormality",
    "429622005": "ST depression",
    "445211001": "left posterior fascicular block",
    "446358003": "right atrial hypertrophy",
    "54329005": "anterior myocardial infarction",
    "55827005": "left ventricular high voltage",
    "55930002": "ST changes",
    "67741000119109": "left atrial enlargement",
    "713422000": "atrial tachycardia",
    "74390002": "Wolff-Parkinson-White pattern",
    "89792004": "right ventricular hypertrophy",
    "11157007": "ventricular bigeminy",
    "164896001": "ventricular fibrillation",
    "164895002": "ventricular tachycardia",
}
"""Names of common Challenge 2020/21 SNOMED CT codes (its scored and unscored mapping tables)."""

AHA_TO_CLASS: dict[str, str] = {
    "21": "ST",  # sinus tachycardia
    "22": "SB",  # sinus bradycardia
    "50": "AF",  # atrial fibrillation
    "82": "1dAVb",  # prolonged PR interval (first-degree AV block)
    "104": "LBBB",  # left bundle-branch block
    "106": "RBBB",  # right bundle-branch block
}
"""AHA/ACC/HRS 2007 statement codes (the SPH database's ``AHA_Code``) that are one of the six classes."""

AHA_NAMES: dict[str, str] = {
    "1": "normal ECG",
    "20": "sinus rhythm",
    "21": "sinus tachycardia",
    "22": "sinus bradycardia",
    "23": "sinus arrhythmia",
    "30": "atrial premature complex(es)",
    "50": "atrial fibrillation",
    "51": "atrial flutter",
    "82": "prolonged PR interval",
    "101": "left anterior fascicular block",
    "104": "left bundle-branch block",
    "105": "incomplete right bundle-branch block",
    "106": "right bundle-branch block",
    "145": "ST-T change",
    "146": "ST deviation",
    "147": "ST deviation with T-wave change",
}

# Words that name one of the six classes (compared after _norm_word: lower case, no spaces,
# dashes, underscores or dots).
_CLASS_WORDS: dict[str, str] = {}
for _c in CLASSES:
    _CLASS_WORDS[_c] = _c
    _CLASS_WORDS[CLASS_NAMES[_c]] = _c
for _word, _c in {
    # Challenge abbreviations and PTB-XL SCP codes
    "IAVB": "1dAVb",
    "1AVB": "1dAVb",
    "AVB1": "1dAVb",
    "1st degree AV block": "1dAVb",
    "first degree AV block": "1dAVb",
    "first-degree atrioventricular block": "1dAVb",
    "CRBBB": "RBBB",
    "complete right bundle branch block": "RBBB",
    "CLBBB": "LBBB",
    "complete left bundle branch block": "LBBB",
    "SBRAD": "SB",
    "sinus bradycardia": "SB",
    "AFIB": "AF",
    "atrial fibrillation": "AF",
    "STach": "ST",
    "STACH": "ST",
    "sinus tachycardia": "ST",
}.items():
    _CLASS_WORDS[_word] = _c


def _norm_word(text: str) -> str:
    return re.sub(r"[\s_\-.′']+", "", text).lower()


_CLASS_LOOKUP: dict[str, str] = {_norm_word(w): c for w, c in _CLASS_WORDS.items()}

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


# --------------------------------------------------------------------------- codes → classes


def finding_name(code: str) -> str:
    """Display text of a finding code: ``"sinus rhythm (426783006)"``; unknown codes as given."""
    code = str(code).strip()
    name = SNOMED_NAMES.get(code)
    return f"{name} ({code})" if name else (f"SNOMED {code}" if code.isdigit() else code)


def map_findings(tokens: Iterable[str], *, scheme: str = "auto") -> tuple[np.ndarray, list[str]]:
    """Map finding codes or names to the six classes.

    Args:
        tokens: SNOMED CT codes ("59118001"), AHA codes (with ``scheme="aha"``), class names
            ("RBBB", "atrial fibrillation", "AFIB", ...) or other findings.
        scheme: "auto" (digits are SNOMED codes), "snomed", "aha".

    Returns:
        ((6,) int8 with 1 for the classes present and 0 for the others, the other findings by name).
    """
    row = np.zeros(K, dtype=np.int8)
    others: list[str] = []
    for raw in tokens:
        tok = str(raw).strip().strip("\"'{}[]")
        if not tok:
            continue
        if scheme == "aha":
            code = tok.split("+", 1)[0].strip()
            cls = AHA_TO_CLASS.get(code)
            if cls is None:
                name = AHA_NAMES.get(code)
                others.append(f"{name} (AHA {code})" if name else f"AHA {tok}")
        elif tok.isdigit():
            cls = SNOMED_TO_CLASS.get(tok)
            if cls is None:
                others.append(finding_name(tok))
        else:
            cls = _CLASS_LOOKUP.get(_norm_word(tok))
            if cls is None:
                others.append(tok)
        if cls is not None:
            row[CLASSES.index(cls)] = 1
    return row, others


_SPLIT = re.compile(r"[;,|/\s]+")
_SPLIT_NAMES = re.compile(r"[;,|/]+")


def _split_tokens(cell: str) -> list[str]:
    """Split a cell of codes or names: by ``;,|/`` when present, else by spaces only for codes."""
    cell = cell.strip()
    if not cell:
        return []
    if _SPLIT_NAMES.search(cell):
        return [t.strip() for t in _SPLIT_NAMES.split(cell) if t.strip()]
    parts = cell.split()
    return parts if all(p.isdigit() for p in parts) else [cell]


def labels_from_codes(
    codes_per_exam: Sequence[Sequence[str] | None],
    *,
    exam_ids: Sequence[str] | None = None,
    name: str = DX_NAME,
    source: Path | None = None,
    kind: str = "dx",
) -> LabelSet:
    """A LabelSet from per-exam lists of SNOMED codes or class names (None or [] → unknown row)."""
    values = np.full((len(codes_per_exam), K), UNKNOWN, dtype=np.int8)
    others: list[list[str]] = []
    for i, codes in enumerate(codes_per_exam):
        codes = [c for c in (codes or []) if str(c).strip() and str(c).strip().lower() != "unknown"]
        if codes:
            values[i], other = map_findings(codes)
        else:
            other = []
        others.append(other)
    return LabelSet(
        name=name,
        values=values,
        exam_ids=None if exam_ids is None else list(exam_ids),
        source=source,
        other_findings=others,
        kind=kind,
    )


def _exam_codes(exam: Any) -> tuple[list[str] | None, str, str]:
    raw = getattr(exam, "raw_labels", None) or {}
    for key, name, kind in (
        ("dx", DX_NAME, "dx"),
        ("synthetic", "Synthetic (generator)", "synthetic"),
        ("labels", "Labels (file)", "list"),
    ):
        value = raw.get(key)
        if value:
            if isinstance(value, str):
                value = _split_tokens(value)
            return [str(v) for v in value], name, kind
    return None, DX_NAME, "dx"


def labels_from_exam(exam: Any) -> LabelSet | None:
    """The labels an exam file carries itself, as a one-row LabelSet, or None.

    WFDB ``#Dx:`` SNOMED codes (``exam.raw_labels["dx"]``) → "Dx (header)" ("Dx (metadata)" for
    other formats whose reader fills ``dx`` from a metadata file, e.g. SPH); the synthetic
    generator's findings (``raw_labels["synthetic"]``) → "Synthetic (generator)".
    """
    codes, name, kind = _exam_codes(exam)
    if not codes:
        return None
    if name == DX_NAME and getattr(exam, "format", "wfdb") not in ("wfdb", ""):
        name = "Dx (metadata)"  # e.g. the SPH reader fills raw_labels["dx"] from metadata.csv
    return labels_from_codes(
        [codes],
        exam_ids=[getattr(exam, "exam_id", "") or "exam"],
        name=name,
        source=getattr(exam, "source", None),
        kind=kind,
    )


def labels_from_exams(exams: Iterable[Any], *, name: str | None = None) -> LabelSet | None:
    """One LabelSet over many exams from the labels each carries (None if none carries any).

    Exams without labels get an unknown (-1) row; rows are keyed by ``exam.exam_id``.
    """
    codes: list[list[str] | None] = []
    ids: list[str] = []
    found_name, found_kind = DX_NAME, "dx"
    any_found = False
    for exam in exams:
        c, n, k = _exam_codes(exam)
        if c:
            any_found, found_name, found_kind = True, n, k
        codes.append(c)
        ids.append(getattr(exam, "exam_id", "") or f"#{len(ids)}")
    if not any_found:
        return None
    return labels_from_codes(codes, exam_ids=ids, name=name or found_name, kind=found_kind)


# --------------------------------------------------------------------------- CSV files

_ID_COLUMNS = (
    "exam_id",
    "ecg_id",
    "examid",
    "id",
    "record",
    "record_name",
    "recording",
    "filename",
    "file",
    "name",
    "exam",
)
_ALIAS_COLUMNS = ("filename_hr", "filename_lr", "filename", "file", "record", "path")
_LIST_COLUMNS = (
    "labels",
    "label",
    "classes",
    "class",
    "diagnosis",
    "diagnoses",
    "dx",
    "findings",
    "snomed",
    "snomedctcode",
    "snomed_ct",
    "snomed_codes",
    "codes",
)
_MISSING = {"", "na", "nan", "none", "null", "?", "-", "unknown", "-1"}
_TRUE = {"1", "1.0", "true", "yes", "y", "t", "x", "present"}
_FALSE = {"0", "0.0", "false", "no", "n", "f", "absent"}


def _read_rows(path: Path) -> list[list[str]]:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise LabelError(f"{path}: cannot read ({err.strerror or err})") from err
    if b"\x00" in raw[:65536]:
        raise LabelError(f"{path}: a binary file, not a CSV table (it holds NUL bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = [r for r in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in r)]
    except csv.Error as err:
        raise LabelError(f"{path}: not a readable CSV table ({err})") from None
    if not rows:
        raise LabelError(f"{path}: the file is empty")
    return rows


def check_table_header(path: Path, header: Sequence[str], columns: dict[int, int]) -> None:
    """Refuse a table whose columns cannot be matched by name: a repeated column name, or a
    class named by two columns (e.g. ``RBBB`` and ``RBBB.1``). Raises LabelError naming them."""
    seen: dict[str, int] = {}
    for j, cell in enumerate(header):
        key = cell.strip().lower()
        if key and key in seen:
            raise LabelError(
                f"{path}: column '{cell.strip()}' appears twice (columns {seen[key] + 1} and {j + 1}); "
                "columns are matched by name, so each name must be unique"
            )
        seen.setdefault(key, j)
    named: dict[str, list[str]] = {}
    for cell in header:
        base = re.sub(r"[._ ]\d+$", "", cell.strip())
        cls = _CLASS_LOOKUP.get(_norm_word(base)) or _CLASS_LOOKUP.get(_norm_word(cell))
        if cls is None and cell.lower().startswith("prob_"):
            continue
        if cls is not None:
            named.setdefault(cls, []).append(cell.strip())
    doubled = {c: cells for c, cells in named.items() if len(cells) > 1}
    if doubled:
        c, cells = next(iter(doubled.items()))
        raise LabelError(
            f"{path}: class {c} is named by {len(cells)} columns ({', '.join(cells)}); "
            "columns are matched by name, so each class needs exactly one"
        )
    del columns


def check_row_lengths(path: Path, header: Sequence[str], body: Sequence[Sequence[str]]) -> None:
    """Refuse a ragged table: every row must have as many cells as the header."""
    for i, r in enumerate(body):
        if len(r) != len(header):
            raise LabelError(
                f"{path}: row {i + 2} has {len(r)} cells but the header has {len(header)} columns "
                "(a ragged or damaged table)"
            )


def _class_columns(header: Sequence[str]) -> dict[int, int]:
    """{column index: class index} for header cells naming one of the six classes."""
    found: dict[int, int] = {}
    for j, cell in enumerate(header):
        cls = _CLASS_LOOKUP.get(_norm_word(cell))
        if cls is not None and CLASSES.index(cls) not in found.values():
            found[j] = CLASSES.index(cls)
    return found


def _find_column(header: Sequence[str], names: Sequence[str]) -> int | None:
    low = [h.strip().lower() for h in header]
    for name in names:
        if name in low:
            return low.index(name)
    return None


def _is_row_index(cells: Sequence[str]) -> bool:
    try:
        nums = [int(float(c)) for c in cells]
    except ValueError:
        return False
    return nums == list(range(len(nums))) or nums == list(range(1, len(nums) + 1))


def read_class_table(
    path: str | Path, *, allow_probabilities: bool = False
) -> tuple[list[str] | None, np.ndarray, dict[str, int], list[str]]:
    """Read a CSV with one column per class.

    Returns:
        (exam ids or None, values (N, 6) float64 with NaN for unknown and for classes without
        a column, alias ids {other id: row} (e.g. PTB-XL file names), notes).

    Raises:
        LabelError: no class column, a non-numeric value, or probabilities where 0/1 labels
            are expected (``allow_probabilities=False``).
    """
    path = Path(path)
    rows = _read_rows(path)
    header, body = rows[0], rows[1:]
    cols = _class_columns(header)
    if cols:
        check_table_header(path, header, cols)
        check_row_lengths(path, header, body)
    if not cols:
        raise LabelError(
            f"{path}: no column named after a class ({', '.join(CLASSES)}) in the header "
            f"{','.join(header[:12])}"
        )
    notes: list[str] = []
    id_col = _find_column(header, _ID_COLUMNS)
    ids: list[str] | None = None
    if id_col is None and header and header[0].strip() == "" and 0 not in cols:
        first = [r[0] if r else "" for r in body]
        if _is_row_index(first):
            notes.append("leading unnamed column is a row index: rows matched by position")
        else:
            id_col = 0
    if id_col is not None:
        ids = [r[id_col].strip() if id_col < len(r) else "" for r in body]
        if not all(ids):
            raise LabelError(f"{path}: empty exam id in column '{header[id_col]}' (row {ids.index('') + 2})")
    aliases: dict[str, int] = {}
    for name in _ALIAS_COLUMNS:
        j = _find_column(header, (name,))
        if j is not None and j != id_col:
            for i, r in enumerate(body):
                if j < len(r) and r[j].strip():
                    aliases.setdefault(r[j].strip(), i)
    values = np.full((len(body), K), np.nan)
    for i, r in enumerate(body):
        for j, k in cols.items():
            cell = r[j].strip().lower() if j < len(r) else ""
            if cell in _TRUE:
                values[i, k] = 1.0
            elif cell in _FALSE:
                values[i, k] = 0.0
            elif cell in _MISSING:
                continue
            else:
                try:
                    values[i, k] = float(cell)
                except ValueError:
                    raise LabelError(
                        f"{path}: row {i + 2}, column '{header[j]}': '{r[j]}' is not 0/1"
                    ) from None
    finite = values[np.isfinite(values)]
    if not allow_probabilities and finite.size and not np.isin(finite, (0.0, 1.0)).all():
        raise LabelError(
            f"{path}: values other than 0/1 (e.g. {finite[~np.isin(finite, (0.0, 1.0))][0]:g}); "
            "this looks like model probabilities: pass it to 'ecgviewer evaluate --predictions'"
        )
    missing = [c for k, c in enumerate(CLASSES) if k not in cols.values()]
    if missing:
        notes.append(f"no column for {', '.join(missing)}: unknown")
    return ids, values, aliases, notes


def _to_int8(values: np.ndarray) -> np.ndarray:
    out = np.full(values.shape, UNKNOWN, dtype=np.int8)
    ok = np.isfinite(values)
    out[ok] = values[ok].astype(np.int8)
    return out


def _load_metadata(path: Path, header: list[str], body: list[list[str]], name: str) -> LabelSet:
    id_col = _find_column(header, ("ecg_id", "exam_id", "id", "record", "filename"))
    sn_col = _find_column(header, ("snomedctcode", "snomed", "snomed_codes", "snomed_ct"))
    aha_col = _find_column(header, ("aha_code", "aha"))
    list_col = sn_col if sn_col is not None else aha_col
    if list_col is None:
        list_col = _find_column(header, _LIST_COLUMNS)
    if list_col is None:
        raise LabelError(
            f"{path}: neither class columns nor a column of codes or class names ({', '.join(_LIST_COLUMNS)})"
        )
    scheme = "aha" if list_col == aha_col else "auto"
    values = np.full((len(body), K), UNKNOWN, dtype=np.int8)
    others: list[list[str]] = []
    for i, r in enumerate(body):
        cell = r[list_col] if list_col < len(r) else ""
        tokens = (
            [t.split("+", 1)[0] for t in re.split(r"[;,|\s]+", cell) if t]
            if scheme == "aha"
            else _split_tokens(cell)
        )
        tokens = [t for t in tokens if t.lower() not in _MISSING]
        if tokens:
            values[i], other = map_findings(tokens, scheme=scheme)
        else:
            other = []
        others.append(other)
    ids = [r[id_col].strip() if id_col < len(r) else "" for r in body] if id_col is not None else None
    is_sph = aha_col is not None or sn_col is not None
    notes = [f"classes from column '{header[list_col]}'"]
    return LabelSet(
        name=name,
        values=values,
        exam_ids=ids,
        source=path,
        other_findings=others,
        kind="metadata" if is_sph else "list",
        notes=notes,
    )


def _reader_name(header: Sequence[str], body: Sequence[Sequence[str]]) -> str | None:
    """A reader file's (:mod:`ecgviewer.reads`) display name: its ``reader`` column."""
    j = _find_column(header, ("reader",))
    if j is None or not body or j >= len(body[0]):
        return None
    return body[0][j].strip() or None


@lru_cache(maxsize=64)
def _load_cached(path: Path, mtime_ns: int, size: int, name: str | None) -> LabelSet:
    rows = _read_rows(path)
    header, body = rows[0], rows[1:]
    display = name or _reader_name(header, body) or source_name(path)
    if _class_columns(header):
        ids, values, aliases, notes = read_class_table(path)
        ls = LabelSet(
            name=display,
            values=_to_int8(values),
            exam_ids=ids,
            source=path,
            kind="annotator",
            notes=notes,
            alias_ids=aliases,
        )
    else:
        ls = _load_metadata(path, header, body, display)
    ls.values.setflags(write=False)
    return ls


def load_label_file(path: str | Path, *, name: str | None = None) -> LabelSet:
    """Read one label file (annotator CSV, SPH ``metadata.csv`` or a generic CSV).

    Args:
        path: the CSV file (opened read-only).
        name: display name; default from the file name (:func:`source_name`).

    Raises:
        LabelError: the file is missing, unreadable or not a label file (message says why).
    """
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"{path}: no such file")
    st = path.stat()
    return _load_cached(path.resolve(), st.st_mtime_ns, st.st_size, name)


def _looks_like_label_file(path: Path) -> bool:
    """Cheap check of a CSV's first line: a header naming classes, codes or diagnoses."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4096).decode("utf-8-sig", errors="replace")
    except OSError:
        return False
    first = head.splitlines()[0] if head else ""
    cells = [c.strip().strip('"') for c in re.split(r"[,;\t]", first)]
    if _class_columns(cells):
        return True
    low = {c.lower() for c in cells}
    has_id = bool(low & {"ecg_id", "exam_id", "id", "record", "filename"})
    return has_id and bool(low & (set(_LIST_COLUMNS) | {"aha_code"}))


def discover_labels(path: str | Path, *, errors: list[LabelError] | None = None) -> list[LabelSet]:
    """Label files that belong to an opened exam file or folder.

    Looks at the CSV files in the same folder, in an ``annotations/`` (or ``labels/``) folder
    beside it or one level up (the CODE test set keeps ``exams/`` and ``annotations/`` side by
    side), and the SPH ``metadata.csv``. Files that are not label files (e.g. CSV tracings) are
    skipped silently; label files that fail to read are skipped and appended to ``errors``.

    Returns:
        The label sets, the gold standard first, then cardiologists, residents, students, the
        DNN and the others by name.
    """
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    candidates: list[Path] = []
    for d in (
        folder,
        folder / "annotations",
        folder / "labels",
        folder.parent / "annotations",
        folder.parent / "labels",
    ):
        if d.is_dir():
            candidates.extend(sorted(x for x in d.iterdir() if x.suffix.lower() == ".csv" and x.is_file()))
    found: list[LabelSet] = []
    seen: set[Path] = set()
    for c in candidates:
        resolved = c.resolve()
        if resolved in seen or (p.is_file() and resolved == p.resolve()):
            continue
        seen.add(resolved)
        if not _looks_like_label_file(c):
            continue
        try:
            found.append(load_label_file(c))
        except LabelError as err:
            if errors is not None:
                errors.append(err)
    found.sort(key=lambda ls: _source_rank(ls.name))
    return found


# --------------------------------------------------------------------------- per-exam comparison


@dataclass(frozen=True)
class ExamComparison:
    """One exam's six classes side by side: the model and every label source (for a table view).

    Attributes:
        columns: column names, the model first (when given), then the label sources.
        values: (6, C) int8 decisions/labels (1/0, -1 unknown or no row for this exam).
        probabilities: (6,) the model's probabilities, or None.
        reference: name of the column others are compared with (gold standard, else the first
            label source), or None when there is no label source for this exam.
        disagrees: (6, C) bool, True where a known value differs from the reference's known value.
        other_findings: {source name: findings outside the six classes}.
    """

    columns: tuple[str, ...]
    values: np.ndarray
    probabilities: np.ndarray | None
    reference: str | None
    disagrees: np.ndarray
    other_findings: dict[str, list[str]]

    @property
    def model_agrees(self) -> bool | None:
        """Whether the model (first column) agrees with the reference on all six classes
        known to both; None when there is no model column or no reference."""
        if self.reference is None or self.probabilities is None or self.columns[0] == self.reference:
            return None
        return not bool(self.disagrees[:, 0].any())


def align_to_classes(values: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """(..., 6) labels in the paper's class order → (..., C) for a model's ``classes``.

    A class that is not one of the paper's six is -1 (not available), never 0 (negative):
    label sources here only know the six. Class names match case-insensitively.
    """
    values = np.asarray(values)
    lookup = {c.lower(): k for k, c in enumerate(CLASSES)}
    out = np.full((*values.shape[:-1], len(classes)), -1, dtype=np.int8)
    for j, c in enumerate(classes):
        k = lookup.get(str(c).lower())
        if k is not None:
            out[..., j] = values[..., k]
    return out


def compare_exam(
    exam_id: str | None,
    index: int,
    labelsets: Sequence[LabelSet],
    *,
    decisions: np.ndarray | None = None,
    probabilities: np.ndarray | None = None,
    model_name: str = "Model",
) -> ExamComparison:
    """Side-by-side table of one exam: the model's (6,) decisions/probabilities and each
    LabelSet's row for ``(exam_id, index)`` (sources without a row for it are left out)."""
    cols: list[str] = []
    vals: list[np.ndarray] = []
    if decisions is not None:
        cols.append(model_name)
        vals.append(np.asarray(decisions, dtype=np.int8).reshape(K))
    others: dict[str, list[str]] = {}
    present: list[LabelSet] = []
    for ls in labelsets:
        row = ls.row_of(exam_id, index)
        if row is None:
            continue
        present.append(ls)
        cols.append(ls.name)
        vals.append(ls.values[row])
        if ls.other_findings[row]:
            others[ls.name] = list(ls.other_findings[row])
    ref = reference_of(present)
    values = np.stack(vals, axis=1) if vals else np.zeros((K, 0), dtype=np.int8)
    disagrees = np.zeros(values.shape, dtype=bool)
    if ref is not None:
        r = values[:, cols.index(ref.name)][:, None]
        disagrees = (values >= 0) & (r >= 0) & (values != r)
    return ExamComparison(
        tuple(cols),
        values,
        None if probabilities is None else np.asarray(probabilities),
        None if ref is None else ref.name,
        disagrees,
        others,
    )
