"""Finding codes and names → the six classes: SNOMED CT (WFDB ``#Dx:``, PhysioNet/CinC Challenge
2020/21), AHA statement codes (the SPH database's ``AHA_Code``) and class words ("RBBB",
"atrial fibrillation", "AFIB", ...), and the labels an exam file carries itself.

:func:`map_findings` maps one exam's tokens to a (6,) 0/1 row plus the other findings by name;
:func:`labels_from_exam` / :func:`labels_from_exams` turn ``exam.raw_labels`` into a
:class:`~ecgviewer.labels.labelset.LabelSet`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecgviewer.classes import CLASS_NAMES, CLASSES
from ecgviewer.labels.labelset import DX_NAME, UNKNOWN, LabelSet

K = len(CLASSES)

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
