"""The viewer's measurements (no Qt): a per-exam cache, the cart-style line and the cross-check.

:class:`MeasurementCache` keeps :class:`~ecgviewer.measure.Measurements` per workspace row (and
for the one in-memory exam shown without a row), so an exam is measured once; its
:meth:`~MeasurementCache.column` feeds the browser's filter words ``HR``, ``PR``, ``QRS``, ``QT``
and ``QTc`` (NaN until a row is measured, so ``HR < 50`` never keeps an unmeasured row).

:func:`measurement_items` gives the cart-style line as (label, value, reason) items, e.g.
``HR 72 bpm · PR 164 ms · QRS 92 ms · QT/QTc 380/402 ms · axes P 45° QRS 30° T 40°`` with "—"
where a value was not measured and the reason beside it; :func:`finding_checks` the text next
to each rate- or interval-defined finding ("HR 72 bpm — paper: sinus < 50 bpm") and whether it
disagrees with the network's decision (which is never changed).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecgviewer.exam import Exam
from ecgviewer.measure import (
    EMPTY,
    MeasurementItem,
    Measurements,
    cross_check,
    finding_measurement,
    measure,
    measurement_items,
    measurement_line,
)

__all__ = [
    "MEASURE_COLUMNS",
    "MEASURE_FIELDS",
    "FindingCheck",
    "MeasurementCache",
    "MeasurementItem",
    "finding_checks",
    "measurement_items",
    "measurement_line",
    "prediction_checks",
]

MEASURE_FIELDS: dict[str, str] = {
    "hr": "hr_bpm",
    "pr": "pr_ms",
    "qrs": "qrs_ms",
    "qt": "qt_ms",
    "qtc": "qtc_bazett_ms",
}
"""Filter word → :class:`Measurements` attribute (QTc is Bazett's, as carts print it)."""
MEASURE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("HR", "hr"),
    ("PR", "pr"),
    ("QRS", "qrs"),
    ("QT", "qt"),
    ("QTc", "qtc"),
)
"""The browser's measurement columns: (header, filter word)."""

PAPER_CRITERIA: dict[str, str] = {
    "SB": "sinus < 50 bpm",
    "ST": "sinus > 100 bpm",
    "1dAVb": "PR > 200 ms",
    "AF": "irregular RR, no P waves",
}
"""The paper's definition of each rate- or interval-defined finding, short."""


class MeasurementCache:
    """Measurements per workspace row, plus the one exam shown without a row (thread-safe)."""

    def __init__(self) -> None:
        self._rows: dict[int, Measurements] = {}
        self._loose: tuple[int, Measurements] | None = None  # (id(exam), measurements)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, row: int | None, exam: Exam | None = None) -> Measurements | None:
        """The cached measurements of a row (or, without a row, of this very exam object)."""
        with self._lock:
            if row is not None:
                return self._rows.get(int(row))
            if exam is not None and self._loose is not None and self._loose[0] == id(exam):
                return self._loose[1]
            return None

    def put(self, row: int | None, m: Measurements, exam: Exam | None = None) -> None:
        with self._lock:
            if row is not None:
                self._rows[int(row)] = m
            elif exam is not None:
                self._loose = (id(exam), m)

    def measure(self, exam: Exam, row: int | None = None) -> Measurements:
        """Cached measurements of ``exam`` (measured now when not cached; may take ~2 s the first
        time in a process while NeuroKit2 is imported). Call off the UI thread."""
        m = self.get(row, exam)
        if m is None:
            m = measure(exam)
            self.put(row, m, exam)
        return m

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()
            self._loose = None

    def column(self, word: str, n: int) -> np.ndarray:
        """(n,) float64 values of a filter word ("hr", "pr", "qrs", "qt", "qtc"); NaN where unknown."""
        attr = MEASURE_FIELDS[word.lower()]
        out = np.full(n, np.nan, dtype=np.float64)
        with self._lock:
            items = list(self._rows.items())
        for r, m in items:
            v = getattr(m, attr)
            if r < n and v is not None:
                out[r] = float(v)
        return out

    def value_text(self, row: int, word: str) -> str:
        """A table cell: the value rounded to 1 bpm or ms, "" when not measured."""
        m = self.get(row)
        v = None if m is None else getattr(m, MEASURE_FIELDS[word.lower()])
        return "" if v is None else f"{v:.0f}"


@dataclass(frozen=True)
class FindingCheck:
    """What goes next to one finding: ``text`` "SB: HR 72 bpm — paper: sinus < 50 bpm",
    ``flagged`` when the measurement disagrees with the network's decision, ``message`` why."""

    finding: str
    text: str
    flagged: bool = False
    message: str = ""


def finding_checks(
    m: Measurements, decisions: Sequence[bool] | np.ndarray, classes: Sequence[str]
) -> dict[str, FindingCheck]:
    """The cross-check of the network's ``decisions`` (one bool per class of ``classes``) against
    ``m``, for the rate- and interval-defined findings among ``classes`` (SB, ST, 1dAVb, AF)."""
    dec = {c: bool(d) for c, d in zip(classes, np.asarray(decisions, dtype=bool), strict=True)}
    flags = {f.finding: f for f in cross_check(m, dec)}
    out: dict[str, FindingCheck] = {}
    for cls in classes:
        if cls not in PAPER_CRITERIA:
            continue
        measured = finding_measurement(m, cls) or f"{_measured_name(cls)} {EMPTY}"
        text = f"{cls}: {measured} — paper: {PAPER_CRITERIA[cls]}"
        flag = flags.get(cls)
        out[cls] = FindingCheck(cls, text, flag is not None, "" if flag is None else flag.message)
    return out


def _measured_name(cls: str) -> str:
    return {"SB": "HR", "ST": "HR", "1dAVb": "PR", "AF": "RR"}.get(cls, cls)


def prediction_checks(m: Measurements | None, prediction: Any) -> dict[str, FindingCheck]:
    """:func:`finding_checks` for a :class:`~ecgviewer.model.runtime.Prediction` (empty without one)."""
    if m is None or prediction is None:
        return {}
    return finding_checks(m, prediction.decisions, tuple(prediction.classes))
