"""One exam side by side: the model's decisions beside every label source
(:func:`compare_exam` → :class:`ExamComparison`), and labels in a model's own class order
(:func:`align_to_classes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ecgviewer.classes import CLASSES
from ecgviewer.labels.labelset import LabelSet, reference_of

K = len(CLASSES)


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
