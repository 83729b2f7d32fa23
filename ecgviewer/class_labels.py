"""Labels for any set of classes (a model's own): exam id → 0/1 per class, NaN = not available.

Used by ``finetune`` (training labels) and ``evaluate --classes`` (scoring a model whose classes
are not the paper's six). A class is named ``NAME`` (the CSV column of that name),
``NAME=COLUMN`` or ``NAME=!COLUMN`` (1 where COLUMN is 0: e.g. abnormal=!NORM). A class whose
column a label file lacks, or an empty cell, is *not available* (NaN), never negative.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgviewer.errors import LabelError

ID_COLUMNS = ("exam_id", "ecg_id", "id", "record", "filename")


class ClassLabelError(LabelError):
    """Bad labels or class names (the message names the file, row and column)."""


def parse_classes(specs: Sequence[str]) -> list[tuple[str, str, bool]]:
    """``["normal=NORM", "abnormal=!NORM", "AF"]`` → [(name, column, negated)]."""
    out: list[tuple[str, str, bool]] = []
    for spec in [s.strip() for part in specs for s in part.split(",") if s.strip()]:
        name, _, column = spec.partition("=")
        column = column or name
        negated = column.startswith("!")
        out.append((name.strip(), column.lstrip("!").strip(), negated))
    if not out:
        raise ClassLabelError("--classes: give at least one class")
    names = [n for n, _, _ in out]
    if len(set(names)) != len(names):
        raise ClassLabelError(f"--classes: a class name is given twice ({', '.join(names)})")
    return out


def matches_values(value: str, spec: str) -> bool:
    """``spec`` like ``1-8``, ``9`` or ``1,2,3``."""
    for part in spec.split(","):
        part = part.strip()
        if "-" in part[1:]:
            lo, hi = part.split("-", 1)
            try:
                if float(lo) <= float(value) <= float(hi):
                    return True
            except ValueError:
                continue
        elif value.strip() == part:
            return True
    return False


@dataclass
class LabelTable:
    """exam id → (C,) float32 labels (NaN = not available), and per-id patient and selection columns."""

    values: dict[str, np.ndarray]
    patient: dict[str, str]
    rows: dict[str, dict[str, str]]
    classes: tuple[str, ...]
    missing_columns: tuple[str, ...]


def read_labels(path: str | Path, classes: Sequence[tuple[str, str, bool]]) -> LabelTable:
    """A CSV of exam id → 0/1 per class column; a missing column or empty cell is NaN (not available)."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as err:
        raise ClassLabelError(f"{path}: cannot read the labels ({err.strerror or err})") from None
    if not rows:
        raise ClassLabelError(f"{path}: no label rows")
    header = list(rows[0])
    id_col = next((c for c in header if c.strip().lower() in ID_COLUMNS), None)
    if id_col is None:
        raise ClassLabelError(f"{path}: no exam id column (one of {', '.join(ID_COLUMNS)})")
    missing = tuple(col for _, col, _ in classes if col not in header)
    if len(missing) == len(classes):
        raise ClassLabelError(
            f"{path}: none of the class columns {', '.join(c for _, c, _ in classes)} is in the header"
        )
    values: dict[str, np.ndarray] = {}
    patient: dict[str, str] = {}
    by_id: dict[str, dict[str, str]] = {}
    pid_col = next((c for c in header if c.strip().lower() in ("patient_id", "patient")), None)
    for i, row in enumerate(rows):
        exam_id = str(row[id_col]).strip()
        v = np.full(len(classes), np.nan, np.float32)
        for k, (_, col, neg) in enumerate(classes):
            cell = (row.get(col) or "").strip()
            if not cell or cell.lower() in ("nan", "na"):
                continue
            try:
                x = float(cell)
            except ValueError:
                raise ClassLabelError(
                    f"{path}: row {i + 2}, column {col!r}: {cell!r} is not 0 or 1"
                ) from None
            if x not in (0.0, 1.0):
                raise ClassLabelError(f"{path}: row {i + 2}, column {col!r}: {cell!r} is not 0 or 1")
            v[k] = 1.0 - x if neg else x
        values[exam_id] = v
        by_id[exam_id] = row
        if pid_col and (row.get(pid_col) or "").strip():
            patient[exam_id] = str(row[pid_col]).strip().removesuffix(".0")
    return LabelTable(values, patient, by_id, tuple(n for n, _, _ in classes), missing)


def where_spec(spec: str | None) -> tuple[str, str] | None:
    if not spec:
        return None
    col, sep, values = spec.partition("=")
    if not sep:
        raise ClassLabelError(f"{spec}: expected COLUMN=VALUES (e.g. strat_fold=9 or strat_fold=1-8)")
    return col.strip(), values.strip()
