"""Delimited text exams: one row per sample, one column per lead.

* The delimiter is sniffed (comma, semicolon, tab, pipe, spaces); a semicolon file with
  decimal commas (``0,12;0,34``) is read as such.
* A first row holding any non-number is a header: columns are matched to leads by name and
  alias (I/DI/D1, aVR/AVR, V1 or C1 ...), unknown columns are dropped with a note, a time
  column (``time``, ``t``, ``time_ms`` ...) gives the sampling rate, an index column is dropped,
  and units may be written in the names (``I (uV)``, ``V1_mV``).
* Without a header: 12 columns in the standard order (or 8: I, II, V1–V6), optionally after
  an evenly increasing time column.
* ``#`` comment lines at the top may state ``fs = 500`` / ``sampling rate: 500 Hz`` and
  ``units: uV``.
* Otherwise the rate comes from the caller (default 500 Hz, recorded as an assumption) and
  the units from the caller or the amplitude (µV vs mV, recorded as an assumption).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np

from ecgviewer.errors import ExamReadError
from ecgviewer.exam import Exam
from ecgviewer.io.base import (
    DEFAULT_FS,
    NotAnExamError,
    SingleExamFile,
    check_fs,
    check_nonempty_file,
    check_signal,
    default_leads,
    infer_unit_from_amplitude,
    leads_from_names,
    require_unit,
    unit_to_mv,
)
from ecgviewer.leads import canonical_lead_name

CSV_SUFFIXES: tuple[str, ...] = (".csv", ".tsv", ".txt")

_TIME_NAMES = {
    "time",
    "t",
    "times",
    "timestamp",
    "sec",
    "secs",
    "seconds",
    "elapsed",
    "elapsedtime",
    "ms",
    "msec",
    "milliseconds",
    "timesec",
    "timems",
    "times(s)",
}
_INDEX_NAMES = {
    "",
    "index",
    "idx",
    "sample",
    "samples",
    "sampleno",
    "samplenumber",
    "n",
    "#",
    "unnamed0",
    "no",
}
_UNIT_RE = re.compile(
    r"^(?P<name>.*?)[\s_\-]*(?:[\(\[]\s*(?P<u1>[^\)\]]+?)\s*[\)\]]|[_\s](?P<u2>mV|uV|µV|μV|V|ms|s))$",
    re.IGNORECASE,
)
_HEAD_BYTES = 65536


def _split_unit(cell: str) -> tuple[str, str | None]:
    cell = cell.strip().strip('"').strip("'")
    m = _UNIT_RE.match(cell)
    if m and m.group("name"):
        return m.group("name").strip(), (m.group("u1") or m.group("u2"))
    return cell, None


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _read_text(path: Path, limit: int | None = None) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read() if limit is None else fh.read(limit)
    except OSError as err:
        raise ExamReadError(path, f"cannot read: {err.strerror or err}") from None
    if b"\x00" in data[:4096]:
        raise ExamReadError(path, "not a text file (binary content); expected a CSV of samples")
    for enc in ("utf-8-sig", "latin-1"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise ExamReadError(path, "not a text file")  # pragma: no cover - latin-1 decodes anything


def _split(line: str, delim: str | None) -> list[str]:
    if delim is None:
        return line.split()
    return next(csv.reader([line], delimiter=delim))


def _numeric_cell(cell: str, decimal_comma: bool) -> bool:
    cell = cell.strip().strip('"')
    if decimal_comma:
        cell = cell.replace(",", ".")
    return _is_number(cell)


def looks_like_csv(head: bytes) -> bool:
    """True when ``head`` (the first bytes of a file) is a delimited table of numbers.

    Text (no NUL bytes, not markup), and after ``#`` comments and an optional header row, rows
    of at least two numbers with one delimiter (comma, semicolon, tab, pipe or spaces) and the
    same number of fields. Used to pick the reader by content; a ``.csv`` that fails this still
    goes to this reader, which then says what is wrong with it.
    """
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = head.decode("latin-1")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if len(head) >= 4096 and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    if not lines or lines[0].startswith("<"):
        return False
    rows = lines[1:] if len(lines) > 1 else lines
    rows = rows[:20]
    for delim in (",", ";", "\t", "|", None):
        if delim is not None and delim not in rows[0]:
            continue
        decimal_comma = delim in (";", "\t", "|", " ")
        try:
            split = [_split(r, delim) for r in rows]
        except csv.Error:
            continue
        widths = {len(f) for f in split}
        if len(widths) != 1 or widths.pop() < 2:
            continue
        if all(_numeric_cell(c, decimal_comma) for f in split for c in f if c.strip()):
            return True
    return False


class CsvSource(SingleExamFile):
    """One CSV file holding one exam."""

    format = "csv"

    def __init__(self, path: Path, *, fs: float | None = None, units: str | None = None) -> None:
        self.path = Path(path)
        check_nonempty_file(self.path)
        self._given_fs = fs
        self._given_units = units
        self._n_samples: int | None = None
        head = _read_text(self.path, _HEAD_BYTES)
        lines = head.splitlines()
        if len(head) >= _HEAD_BYTES and lines:
            lines = lines[:-1]  # the last line may be cut
        self.comment_lines = 0
        self.comment_fs: float | None = None
        self.comment_units: str | None = None
        body: list[str] = []
        for line in lines:
            s = line.strip()
            if not body and (s.startswith("#") or not s):
                self.comment_lines += 1
                self._parse_comment(s)
                continue
            if s:
                body.append(line)
            if len(body) >= 20:
                break
        if not body:
            raise ExamReadError(self.path, "no rows of samples (only blank or comment lines)")
        self.delim, self.decimal_comma = self._sniff(body)
        first = [c.strip() for c in _split(body[0], self.delim)]
        self.has_header = not all(_is_number(c.replace(",", ".") if self.decimal_comma else c) for c in first)
        self.n_columns = len(first)
        self.notes: list[str] = []
        self.time_col: int | None = None
        self.time_unit_ms: bool | None = None
        self.drop: list[int] = []
        self.col_units: list[str | None] = []
        if self.has_header:
            self._from_header(first)
        else:
            self._from_shape(body)
        self.fs, fs_note = self._rate(body)
        if fs_note:
            self.notes.append(fs_note)

    # --- probing --------------------------------------------------------------------------

    def _parse_comment(self, line: str) -> None:
        m = re.search(r"(?:\bfs\b|sampling\s*(?:rate|frequency))\s*[:=]\s*([\d.]+)", line, re.IGNORECASE)
        if m:
            self.comment_fs = float(m.group(1))
        m = re.search(r"\bunits?\s*[:=]\s*([^\s,;]+)", line, re.IGNORECASE)
        if m:
            self.comment_units = m.group(1)

    def _sniff(self, body: list[str]) -> tuple[str | None, bool]:
        sample = body[: min(len(body), 10)]
        for delim in ("\t", ";", ",", "|"):
            counts = {len(_split(line, delim)) for line in sample}
            if len(counts) == 1 and counts.pop() > 1:
                decimal_comma = delim in (";", "\t", "|", " ") and any(
                    re.search(r"\d,\d", line) for line in sample
                )
                return delim, decimal_comma
        counts = {len(line.split()) for line in sample}
        if len(counts) == 1 and next(iter(counts)) > 1:
            return None, False
        widths = sorted(counts)
        for delim in ("\t", ";", ","):  # a table of text (labels, quoted multi-line cells): no ECG
            first = [c.strip().strip('"') for c in _split(body[0], delim)] if body else []
            if len(first) >= 3 and not any(_is_number(c) or canonical_lead_name(c) for c in first):
                shown = ", ".join(repr(c) for c in first[:10]) + (" ..." if len(first) > 10 else "")
                raise NotAnExamError(
                    self.path, f"holds no ECG: a table with columns {shown} and no lead names (I, II, V1 ...)"
                )
        raise ExamReadError(
            self.path,
            f"cannot find the delimiter: the first rows have {widths} fields "
            "(expected one column per lead, separated by , ; tab | or spaces)",
        )

    def _from_header(self, first: list[str]) -> None:
        names: list[str] = []
        lead_cols: list[int] = []
        for i, cell in enumerate(first):
            name, unit = _split_unit(cell)
            key = re.sub(r"[\s_\-.:]", "", name).lower()
            if key in _TIME_NAMES or key.startswith("time"):
                if self.time_col is None:
                    self.time_col = i
                    u = (unit or "").lower()
                    self.time_unit_ms = (
                        True
                        if (u == "ms" or "ms" in key or "milli" in key)
                        else (
                            False
                            if u == "s" or key in ("sec", "secs", "seconds", "times", "timesec")
                            else None
                        )
                    )
                continue
            if key in _INDEX_NAMES or re.fullmatch(r"unnamed\d*", key):
                continue
            names.append(name)
            lead_cols.append(i)
            self.col_units.append(unit)
        if not any(canonical_lead_name(n) for n in names):
            shown = ", ".join(repr(c) for c in first[:10]) + (" ..." if len(first) > 10 else "")
            raise NotAnExamError(
                self.path, f"holds no ECG: a table with columns {shown} and no lead names (I, II, V1 ...)"
            )
        keep, self.leads, notes = leads_from_names(self.path, names, "columns")
        self.notes += notes
        self.columns = [lead_cols[k] for k in keep]
        self.col_units = [self.col_units[k] for k in keep]

    def _from_shape(self, body: list[str]) -> None:
        n = self.n_columns
        self.col_units = []
        if n in (13, 9):
            t = self._column(body, 0)
            if t is not None and len(t) > 2 and np.all(np.diff(t) > 0):
                self.time_col = 0
                self.leads, notes = default_leads(self.path, n - 1)
                self.columns = list(range(1, n))
                self.notes += notes
                self.col_units = [None] * len(self.columns)
                return
        if n not in (12, 8):
            raise ExamReadError(
                self.path,
                f"{n} columns without a header row: expected 12 leads in the "
                "standard order (I, II, III, aVR, aVL, aVF, V1–V6), 8 (I, II, "
                "V1–V6), either after a time column, or a header naming the leads",
            )
        self.leads, notes = default_leads(self.path, n)
        self.notes += notes
        self.columns = list(range(n))
        self.col_units = [None] * n

    def _column(self, body: list[str], col: int) -> np.ndarray | None:
        values = []
        for line in body:
            cells = _split(line, self.delim)
            try:
                cell = cells[col].strip()
                values.append(float(cell.replace(",", ".") if self.decimal_comma else cell))
            except (IndexError, ValueError):
                return None
        return np.asarray(values)

    def _rate(self, body: list[str]) -> tuple[float, str | None]:
        if self.time_col is not None:
            rows = body[1:] if self.has_header else body
            t = self._column(rows, self.time_col)
            if t is not None and len(t) >= 3:
                step = float(np.median(np.diff(t)))
                if step <= 0:
                    raise ExamReadError(self.path, "the time column does not increase")
                ms = self.time_unit_ms
                if ms is None:
                    ms = step >= 0.1  # 10 kHz in ms vs 10 Hz in s: see the module docstring
                fs = (1000.0 if ms else 1.0) / step
                if abs(fs - round(fs)) < 1e-3 * fs:
                    fs = float(round(fs))
                fs = check_fs(self.path, fs, " (from the time column)")
                return fs, None
        if self.comment_fs is not None:
            return check_fs(self.path, self.comment_fs, " (comment line)"), None
        if self._given_fs is not None:
            return check_fs(self.path, self._given_fs, " (given)"), None
        return DEFAULT_FS, f"sampling rate not in the file: {DEFAULT_FS:g} Hz assumed; give the rate if wrong"

    # --- reading ---------------------------------------------------------------------------

    def _count_rows(self) -> int:
        if self._n_samples is None:
            text = _read_text(self.path)
            n = sum(1 for line in text.splitlines() if line.strip())
            self._n_samples = n - self.comment_lines_nonblank(text) - (1 if self.has_header else 0)
        return self._n_samples

    def comment_lines_nonblank(self, text: str) -> int:
        n = 0
        for line in text.splitlines():
            s = line.strip()
            if not s:
                continue
            if s.startswith("#"):
                n += 1
            else:
                break
        return n

    def declared_samples(self) -> int:
        return self._count_rows()

    def _table(self) -> np.ndarray:
        text = _read_text(self.path)
        lines = [line for line in text.splitlines()]
        # drop leading comments/blank lines and the header row
        start = 0
        while start < len(lines) and (not lines[start].strip() or lines[start].lstrip().startswith("#")):
            start += 1
        if self.has_header:
            start += 1
        rows = lines[start:]
        data = "\n".join(rows)
        if not data.strip():
            raise ExamReadError(self.path, "zero-length record (a header but no rows of samples)")
        if self.decimal_comma:
            data = data.replace(",", ".")
        try:
            table = np.loadtxt(
                io.StringIO(data), delimiter=self.delim, dtype=np.float64, ndmin=2, comments=None
            )
        except ValueError:
            self._locate_bad_cell(rows, start)
            raise
        if table.shape[0] == 0:
            raise ExamReadError(self.path, "zero-length record (a header but no rows of samples)")
        if table.shape[1] != self.n_columns:
            raise ExamReadError(
                self.path, f"rows have {table.shape[1]} values, the first row {self.n_columns}"
            )
        return table

    def _locate_bad_cell(self, rows: list[str], start: int) -> None:
        for k, line in enumerate(rows):
            if not line.strip():
                continue
            cells = _split(line, self.delim)
            if len(cells) != self.n_columns:
                raise ExamReadError(
                    self.path,
                    f"line {start + k + 1} has {len(cells)} values, expected "
                    f"{self.n_columns} (wrong number of columns)",
                )
            for j, cell in enumerate(cells):
                c = cell.strip()
                if self.decimal_comma:
                    c = c.replace(",", ".")
                if not _is_number(c):
                    what = "an empty cell" if not c else f"{cell.strip()!r} is not a number"
                    raise ExamReadError(
                        self.path, f"line {start + k + 1}, column {j + 1}: {what} (non-numeric cell)"
                    )
        raise ExamReadError(self.path, "cannot parse the samples")

    def read(self, index: int = 0) -> Exam:
        self.check_index(index)
        try:
            table = self._table()
        except ValueError as err:
            raise ExamReadError(self.path, f"cannot parse the samples: {err}") from None
        self._n_samples = table.shape[0]
        samples = table[:, self.columns]
        notes = list(self.notes)
        factors = np.ones(len(self.columns))
        named = [u for u in self.col_units if u]
        if named:
            for k, u in enumerate(self.col_units):
                unit = u or named[0]
                factors[k] = require_unit(self.path, unit, f" (column {self.leads[k]})")
        elif self.comment_units:
            factors[:] = require_unit(self.path, self.comment_units, " (comment line)")
        elif self._given_units:
            factors[:] = require_unit(self.path, self._given_units, " (given)")
        else:
            ok = np.isfinite(samples).all(axis=1)
            factor, note = infer_unit_from_amplitude(samples[ok])
            factors[:] = factor
            notes.append(note)
        return self.exam(check_signal(self.path, samples * factors, self.leads), notes=notes)


__all__ = ["CSV_SUFFIXES", "CsvSource", "unit_to_mv"]
