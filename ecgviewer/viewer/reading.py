"""The reading session of the viewer (no Qt): who reads, blinded or not, and every reader's reads.

``vm.reading`` (a :class:`ReadingSession`) belongs to a :class:`~ecgviewer.viewer.ViewerModel`::

    vm.reading.set_reader("Dr. Souza")
    vm.reading.set_blinded(True)          # findings of unread exams are hidden
    vm.reading.hidden(row)                # True until the reader commits a read of that row
    vm.reading.commit(row, calls, "sinus rhythm, RBBB")   # saved at once, atomically
    vm.reading.hidden(row)                # False: revealed; a new commit is a revision

Reads go to ``annotations/<reader>.csv`` beside each exam's file (:mod:`ecgviewer.reads`), or,
when that folder is read-only, to the user data folder (``fallback_note`` says where). Other
readers' files found in the same places are loaded too, for the ``by NAME`` filter and the
comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal, SignalGroup

from ecgviewer.errors import LabelError
from ecgviewer.reads import (
    Read,
    ReaderFile,
    annotations_dir,
    choose_reads_dir,
    fallback_dir,
    find_reader_files,
    reader_slug,
)


class ReadingEvents(SignalGroup):
    reader_changed = Signal(str)  # the reader's name ("" none)
    blinded_changed = Signal(bool)  # blinded reading on/off
    read_committed = Signal(int, object)  # (row, the Read kept)


class ReadingSession:
    """Reads of the open exams (rows of a :class:`~ecgviewer.viewer.workspace.Workspace`).

    Attributes:
        reader: the current reader's name ("" until set).
        blinded: blinded reading: the network's findings of an exam stay hidden until the
            reader has committed a read of it.
        errors: reader files that could not be read (messages naming the file).
        fallback_note: set when reads had to go to the user data folder (read-only exams' folder).
    """

    def __init__(self, workspace: Any) -> None:
        self.ws = workspace
        self.events = ReadingEvents()
        self.reader = ""
        self.blinded = False
        self.errors: list[str] = []
        self.fallback_note = ""
        self._files: dict[tuple[Path, str], ReaderFile] = {}  # (folder, reader slug) → file
        self._scanned: set[Path] = set()
        self._folder_cache: dict[Path, list[Path]] = {}
        self._keys: dict[int, tuple[Path, str]] = {}
        self._masks: dict[str, np.ndarray] = {}

    # -- settings --------------------------------------------------------------------------
    def set_reader(self, name: str) -> None:
        """Set the reader (raises ValueError for a name with no letters or digits)."""
        name = name.strip()
        reader_slug(name)
        self.reader = name
        self.events.reader_changed.emit(name)

    def set_blinded(self, on: bool) -> None:
        self.blinded = bool(on)
        self.events.blinded_changed.emit(self.blinded)

    # -- rows ------------------------------------------------------------------------------
    def row_key(self, row: int) -> tuple[Path, str]:
        """(the exam's file, its exam id) of a workspace row, without reading samples."""
        key = self._keys.get(row)
        if key is None:
            s, i = self.ws.locate(row)
            src, j = s.locate(i)
            try:
                exam_id = src.exam_id(j)
            except Exception:  # an unreadable header: the row's position stands in for its id
                exam_id = f"{Path(src.path).stem}#{j + 1}"
            key = self._keys[row] = (Path(src.path), str(exam_id))
        return key

    def _folders(self, exam_path: Path) -> list[Path]:
        cached = self._folder_cache.get(exam_path)
        if cached is None:
            beside = annotations_dir(exam_path)
            cached = [beside, fallback_dir(exam_path if exam_path.is_dir() else exam_path.parent)]
            self._folder_cache[exam_path] = cached
        return cached

    def _scan(self, exam_path: Path) -> None:
        """Load every reader file beside ``exam_path`` (once per folder)."""
        for folder in self._folders(exam_path):
            if folder in self._scanned:
                continue
            self._scanned.add(folder)
            for path in find_reader_files([folder]):
                try:
                    rf = ReaderFile.load(path)
                except LabelError as err:
                    self.errors.append(str(err))
                    continue
                self._files.setdefault((folder, reader_slug(rf.reader or path.stem)), rf)

    def rescan(self) -> None:
        """Forget what was loaded (e.g. after the exams were closed or reopened)."""
        self._files.clear()
        self._scanned.clear()
        self._keys.clear()
        self._masks.clear()

    def files_for(self, exam_path: Path) -> list[ReaderFile]:
        """Every reader file of this exam's folder (beside it, then the fallback)."""
        self._scan(exam_path)
        folders = self._folders(exam_path)
        return [rf for (folder, _), rf in self._files.items() if folder in folders]

    def readers(self) -> list[str]:
        """Names of every reader with a file beside an open exam."""
        for p in self._sources():
            self._scan(p)
        names: list[str] = []
        for rf in self._files.values():
            if rf.reader not in names:
                names.append(rf.reader)
        return names

    def merged_readers(self) -> dict[str, ReaderFile]:
        """Every reader's reads of the open exams' folders, one in-memory file per reader
        (for the comparison; nothing is written)."""
        self.readers()
        out: dict[str, ReaderFile] = {}
        for rf in self._files.values():
            if not len(rf):
                continue
            merged = out.setdefault(rf.reader, ReaderFile(rf.reader, rf.path))
            merged.reads.update(rf.reads)
        return out

    def _sources(self) -> list[Path]:
        return list(self.ws.source_files())

    def reads_of(self, row: int) -> list[Read]:
        """Every reader's current read of a row."""
        path, exam_id = self.row_key(row)
        return [r for rf in self.files_for(path) if (r := rf.get(exam_id)) is not None]

    def read_of(self, row: int, reader: str | None = None) -> Read | None:
        """The reader's (default: the current reader's) read of a row, or None."""
        reader = self.reader if reader is None else reader
        if not reader:
            return None
        path, exam_id = self.row_key(row)
        slug = reader_slug(reader)
        for rf in self.files_for(path):
            if reader_slug(rf.reader) == slug:
                r = rf.get(exam_id)
                if r is not None:
                    return r
        return None

    def hidden(self, row: int | None) -> bool:
        """True when the network's findings of this row must stay hidden (blinded, unread)."""
        if not self.blinded:
            return False
        if row is None:
            return True  # an exam without a row cannot be read: it stays blinded
        return self.read_of(row) is None

    # -- committing ------------------------------------------------------------------------
    def _file_for_writing(self, exam_path: Path) -> ReaderFile:
        if not self.reader:
            raise ValueError("no reader: set the reader's name first")
        slug = reader_slug(self.reader)
        self._scan(exam_path)
        for folder in self._folders(exam_path):
            rf = self._files.get((folder, slug))
            if rf is not None and rf.path.parent == folder:
                return rf
        folder, fell_back = choose_reads_dir(exam_path)
        if fell_back:
            self.fallback_note = (
                f"{annotations_dir(exam_path)} cannot be written: reads are saved in {folder}"
            )
        rf = ReaderFile.open(folder, self.reader)
        self._files[(folder, slug)] = rf
        return rf

    def commit(self, row: int, calls: Sequence[int], statement: str = "") -> Read:
        """Save the current reader's read of a row at once (atomically); returns the Read kept.

        ``blinded`` is recorded as whether the findings were hidden when the read was made; a
        read made after they were revealed revises the blinded read, which is kept.
        Raises ValueError without a reader, OSError when the file cannot be written."""
        path, exam_id = self.row_key(row)
        rf = self._file_for_writing(path)
        read = Read(exam_id, self.reader, tuple(int(c) for c in calls), statement, blinded=self.hidden(row))
        kept = rf.commit(read)
        self._masks.clear()
        self.events.read_committed.emit(row, kept)
        return kept

    # -- the worklist ----------------------------------------------------------------------
    def read_mask(self, reader: str | None = None) -> np.ndarray:
        """(N,) bool: rows the reader (default: the current one; "*": anyone) has read."""
        n = len(self.ws)
        out = np.zeros(n, dtype=bool)
        reader = self.reader if reader is None else reader
        if not reader:
            return out
        cached = self._masks.get(reader)
        if cached is not None and len(cached) == n:
            return cached.copy()
        for r in range(n):
            try:
                out[r] = bool(self.reads_of(r)) if reader == "*" else self._by(r, reader)
            except Exception:  # an unreadable row is unread
                out[r] = False
        self._masks[reader] = out.copy()
        return out

    def _by(self, row: int, name: str) -> bool:
        """The row has a read by a reader whose name (or file stem) matches ``name``."""
        want = name.strip().lower()
        want_slug = reader_slug(name) if any(ch.isalnum() for ch in name) else want
        for r in self.reads_of(row):
            if r.reader.lower() == want or reader_slug(r.reader) == want_slug or want in r.reader.lower():
                return True
        return False

    def counts(self) -> tuple[int, int]:
        """(read, unread) rows of the current reader."""
        m = self.read_mask()
        return int(m.sum()), int(len(m) - m.sum())

    def next_unread(self, order: Sequence[int], current: int | None, delta: int = 1) -> int | None:
        """The next (delta=1) or previous (-1) unread row in ``order`` (the table's rows) after
        ``current``; None when every row there is read."""
        order = list(order)
        if not order:
            return None
        read = self.read_mask()
        start = order.index(current) if current in order else (-1 if delta > 0 else len(order))
        n = len(order)
        for step in range(1, n + 1):
            k = start + step * (1 if delta > 0 else -1)
            if not 0 <= k < n:
                break
            if not read[order[k]]:
                return order[k]
        return None

    def filter_column(self, name: str) -> np.ndarray:
        """Columns of the filter words ``read``, ``unread`` and ``by NAME``
        ("flag:read", "flag:unread", "reader:NAME") for :func:`ecgviewer.viewer.filtering.evaluate`."""
        if name == "flag:read":
            return self.read_mask()
        if name == "flag:unread":
            return ~self.read_mask()
        if name.startswith("reader:"):
            return self.read_mask(name.split(":", 1)[1])
        raise KeyError(name)
