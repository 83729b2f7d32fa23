"""A model's own classes in the viewer (no Qt): names, and label sources put beside them.

A model's classes come from its contract (``model.classes``): the paper's six for the bundled
and imported models, anything for a fine-tuned one ("normal", "abnormal"). Label sources
(:class:`~ecgviewer.labels.LabelSet`) only know the paper's six; where a model class is not one
of them, a source's value is *not available* ("n/a"), never negative
(:func:`ecgviewer.labels.align_to_classes`).

>>> comp = compare_for_classes(exam_id, index, sources, ("normal", "AF"), decisions=d, probabilities=p)
>>> comp.values.shape            # (2, 1 + sources): the model's two classes, -1 where n/a
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ecgviewer.classes import CLASS_DEFINITIONS, CLASS_NAMES, CLASSES
from ecgviewer.labels import ExamComparison, LabelSet, align_to_classes, compare_exam

_PAPER_LOWER = {c.lower() for c in CLASSES}


def is_paper_class(cls: str) -> bool:
    """True for one of the paper's six classes (the only ones label sources know)."""
    return str(cls).lower() in _PAPER_LOWER


def class_name(cls: str) -> str:
    """The full name of a class ("Right bundle branch block"), else the class itself ("abnormal")."""
    return CLASS_NAMES.get(cls, cls)


def class_definition(cls: str) -> str:
    """The paper's definition of one of its classes, "" for a model's own class."""
    return CLASS_DEFINITIONS.get(cls, "")


def none_of_text(classes: Sequence[str]) -> str:
    """ "none of the six" for the paper's classes, else "none of normal, abnormal"."""
    classes = tuple(classes)
    return "none of the six" if classes == CLASSES else "none of " + ", ".join(classes)


def compare_for_classes(
    exam_id: str | None,
    index: int,
    labelsets: Sequence[LabelSet],
    classes: Sequence[str] = CLASSES,
    *,
    decisions: np.ndarray | None = None,
    probabilities: np.ndarray | None = None,
    model_name: str = "Model",
) -> ExamComparison:
    """:func:`~ecgviewer.labels.compare_exam` for a model's ``classes`` (rows in that order).

    ``decisions`` / ``probabilities``: (C,) for those classes. Each label source's six values
    are aligned by class name; a class a source does not know is -1 (shown "n/a") and never
    counts as a disagreement. The paper's six give exactly :func:`compare_exam`'s result.
    """
    classes = tuple(classes)
    if classes == CLASSES:
        return compare_exam(
            exam_id,
            index,
            labelsets,
            decisions=decisions,
            probabilities=probabilities,
            model_name=model_name,
        )
    sources = compare_exam(exam_id, index, labelsets)  # the sources' six, no model column
    cols: list[str] = []
    vals: list[np.ndarray] = []
    if decisions is not None:
        cols.append(model_name)
        vals.append(np.asarray(decisions, dtype=np.int8).reshape(len(classes)))
    for j, name in enumerate(sources.columns):
        cols.append(name)
        vals.append(align_to_classes(sources.values[:, j], classes))
    values = np.stack(vals, axis=1) if vals else np.zeros((len(classes), 0), dtype=np.int8)
    disagrees = np.zeros(values.shape, dtype=bool)
    ref = sources.reference
    if ref is not None:
        r = values[:, cols.index(ref)][:, None]
        disagrees = (values >= 0) & (r >= 0) & (values != r)
    return ExamComparison(
        tuple(cols),
        values,
        None if probabilities is None else np.asarray(probabilities),
        ref,
        disagrees,
        sources.other_findings,
    )


def align_raters(raters: dict[str, np.ndarray], classes: Sequence[str]) -> dict[str, np.ndarray]:
    """{name: (M, 6) labels} → {name: (M, C)} for a model's classes (-1 = not available)."""
    classes = tuple(classes)
    if classes == CLASSES:
        return dict(raters)
    return {name: align_to_classes(a, classes) for name, a in raters.items()}


__all__ = [
    "align_raters",
    "class_definition",
    "class_name",
    "compare_for_classes",
    "is_paper_class",
    "none_of_text",
]
