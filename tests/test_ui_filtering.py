"""The exam browser's filter language (pure Python, no Qt)."""

from __future__ import annotations

import numpy as np
import pytest

from ecgviewer.classes import CLASSES
from ecgviewer.viewer.filtering import FilterError, evaluate, fields_used, parse_filter

N = 6
PROBS = np.array(
    [
        [0.9, 0.0, 0.0, 0.0, 0.80, 0.0],
        [0.0, 0.5, 0.0, 0.0, 0.20, 0.0],
        [0.0, 0.0, 0.6, 0.0, 0.50, 0.9],
        [np.nan] * 6,
        [0.0, 0.1, 0.0, 0.4, 0.95, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.00, 0.0],
    ],
    dtype=np.float32,
)
THRESHOLDS = np.array([0.124, 0.07, 0.05, 0.278, 0.390, 0.174], dtype=np.float32)
COLUMNS = {
    "fs": np.array([500, 500, 400, 1000, 100, 500], dtype=float),
    "duration": np.array([10, 10, 10.24, 120, 10, 15], dtype=float),
    "age": np.array([70, np.nan, 55, 40, 81, 33], dtype=float),
    "index": np.arange(1, N + 1, dtype=float),
    "id": np.array(["A0001", "A0002", "1234", "S0001", "HR00008", "x"], dtype=object),
    "source": np.array(
        ["A0001.hea", "A0002.hea", "code.hdf5", "S0001.hea", "ptbxl.h5", "x.csv"], dtype=object
    ),
    "sex": np.array(["M", "F", "", "M", "F", "F"], dtype=object),
    "format": np.array(["wfdb", "wfdb", "hdf5-code", "wfdb", "hdf5-generic", "csv"], dtype=object),
}


def column(name: str) -> np.ndarray:
    if name in CLASSES:
        return PROBS[:, CLASSES.index(name)]
    if name.startswith("positive:"):
        with np.errstate(invalid="ignore"):
            return (PROBS >= THRESHOLDS)[:, CLASSES.index(name.split(":")[1])]
    return COLUMNS[name]


def rows(text: str) -> list[int]:
    return np.flatnonzero(evaluate(parse_filter(text), column, N)).tolist()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [0, 1, 2, 3, 4, 5]),
        ("AF > 0.5", [0, 4]),
        ("af >= 0.5", [0, 2, 4]),
        ("AF > 50%", [0, 4]),
        ("AF<0.3", [1, 5]),  # unknown probabilities (row 3) never match
        ("RBBB", [1, 4]),  # positive: probability ≥ threshold
        ("not AF", [1, 3, 5]),
        ("!AF", [1, 3, 5]),
        ("AF > 0.5 and fs >= 500", [0]),
        ("AF > 0.5, fs >= 500", [0]),
        ("AF > 0.5 fs >= 500", [0]),  # adjacent conditions: and
        ("SB or ST", [2, 4]),
        ("SB | ST & fs = 400", [2, 4]),  # and binds tighter than or
        ("(SB | ST) & fs = 400", [2]),
        ("duration > 10.1", [2, 3, 5]),
        ("age >= 70", [0, 4]),
        ("index <= 2", [0, 1]),
        ("id ~ a000", [0, 1]),
        ("source = x.csv", [5]),
        ("sex != F", [0, 2, 3]),
        ("format ~ hdf5", [2, 4]),
        ("A0002", [1]),  # free text: id or file name
        ("ptbxl", [4]),
        ('"A0001.hea"', [0]),
    ],
)
def test_filters_select_the_expected_rows(text, expected):
    assert rows(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("AF >", "value is missing"),
        ("AF > lots", "needs a number"),
        ("AF > 2", "probability"),
        ("fs ~ 5", "text fields"),
        ("id > 3", "is text"),
        ("colour = red", "unknown field"),
        ("(AF > 0.5", r"missing '\)'"),
        ("AF > 0.5)", "unexpected"),
        ("AF and", "ends too early"),
    ],
)
def test_bad_filters_say_what_is_wrong(text, message):
    with pytest.raises(FilterError, match=message):
        parse_filter(text)


def test_fields_used_tells_which_columns_are_needed():
    assert fields_used(parse_filter("AF > 0.5 and not RBBB or fs > 400")) == {"AF", "positive:RBBB", "fs"}
    assert fields_used(parse_filter("A0001")) == {"id", "source"}
    assert fields_used(None) == set()


def test_pyside_refcount_guard_only_for_the_broken_release():
    from ecgviewer.ui._compat import needs_singleton_guard

    assert needs_singleton_guard("6.12.0", (3, 11))
    assert not needs_singleton_guard("6.12.0", (3, 12))  # None/True/False are immortal there
    assert not needs_singleton_guard("6.11.3", (3, 11))
