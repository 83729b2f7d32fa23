"""Label files: annotator CSVs in the paper's layout, SPH ``metadata.csv``, generic tables of
class columns or of codes/names; and finding the label files beside an opened exam.

:func:`load_label_file` reads one file (cached by path, mtime and size); :func:`discover_labels`
finds the ones that belong to an exam file or folder; :func:`read_class_table` is the shared
reader of class-column tables, and :func:`class_values` its loop over the class cells (also used
for model probabilities by ``ecgviewer evaluate``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ecgviewer.classes import CLASSES
from ecgviewer.errors import LabelError
from ecgviewer.labels.codes import (
    _CLASS_LOOKUP,
    _norm_word,
    _split_tokens,
    map_findings,
)
from ecgviewer.labels.labelset import UNKNOWN, LabelSet, _source_rank, source_name

K = len(CLASSES)

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


def class_values(
    path: Path,
    header: Sequence[str],
    body: Sequence[Sequence[str]],
    columns: dict[int, int],
    value_of: Callable[[str], float | None],
    expected: str,
) -> np.ndarray:
    """(N, 6) float64 of a table's class ``columns`` ({column index: class index}), NaN where unknown.

    ``value_of`` turns one cell, stripped, into its value, or None where it says "unknown"; a
    ValueError from it is raised as a LabelError naming the row, the column and ``expected``.
    """
    values = np.full((len(body), K), np.nan)
    for i, r in enumerate(body):
        for j, k in columns.items():
            cell = r[j].strip() if j < len(r) else ""
            try:
                value = value_of(cell)
            except ValueError:
                raise LabelError(
                    f"{path}: row {i + 2}, column '{header[j]}': '{cell}' is not {expected}"
                ) from None
            if value is not None:
                values[i, k] = value
    return values


def _label_value(cell: str) -> float | None:
    """A label cell: 1.0 or 0.0 by its word, None when unknown, else its number (checked to be 0/1 later)."""
    word = cell.lower()
    if word in _TRUE:
        return 1.0
    if word in _FALSE:
        return 0.0
    if word in _MISSING:
        return None
    return float(word)


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
    values = class_values(path, header, body, cols, _label_value, "0/1")
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
