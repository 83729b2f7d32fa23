"""Opening files and folders as one lazy sequence of exams."""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import overload

from ecgviewer.errors import Cancelled, ExamReadError
from ecgviewer.exam import Exam, ExamHeader
from ecgviewer.io.base import ExamSource, NotAnExamError
from ecgviewer.io.registry import folder_suffixes, open_source
from ecgviewer.io.wfdb_io import header_path_for

Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]


def _natural_key(path: Path) -> list[object]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(path))]


class ExamSet(Sequence[Exam]):
    """The exams of one or more files, read on demand.

    ``s[i]`` reads exam ``i`` (may raise :class:`~ecgviewer.errors.ExamReadError`);
    ``s.header(i)`` gives its id, rate, length and leads without reading samples (for HDF5
    and WFDB; a CSV is scanned for its row count). ``s.errors`` lists the files of an
    opened folder that could not be read (:class:`~ecgviewer.io.NotAnExamError` for files
    that hold no ECG, such as a model or a label table), ``s.sources`` the files that opened.
    Use as a context manager, or call :meth:`close`, to release open HDF5 files.
    """

    def __init__(self, sources: Sequence[ExamSource], errors: Sequence[ExamReadError] = ()) -> None:
        self.sources: list[ExamSource] = list(sources)
        self.errors: list[ExamReadError] = list(errors)
        self._starts: list[int] = []
        total = 0
        for src in self.sources:
            self._starts.append(total)
            total += src.n_exams
        self._len = total
        self._ids: dict[str, int] | None = None

    def __len__(self) -> int:
        return self._len

    def locate(self, index: int) -> tuple[ExamSource, int]:
        """(source, index within that file) of exam ``index`` (negative counts from the end)."""
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError(f"exam {index} out of range: {self._len} exams")
        k = bisect.bisect_right(self._starts, index) - 1
        return self.sources[k], index - self._starts[k]

    @overload
    def __getitem__(self, index: int) -> Exam: ...

    @overload
    def __getitem__(self, index: slice) -> list[Exam]: ...

    def __getitem__(self, index: int | slice) -> Exam | list[Exam]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._len))]
        src, j = self.locate(int(index))
        return src.read(j)

    def __iter__(self) -> Iterator[Exam]:
        for i in range(self._len):
            yield self[i]

    def header(self, index: int) -> ExamHeader:
        """Cheap facts of exam ``index`` (no samples read where the format allows)."""
        src, j = self.locate(int(index))
        return src.header(j)

    def source_of(self, index: int) -> ExamSource:
        return self.locate(index)[0]

    def index_of(self, exam_id: str) -> int:
        """Position of the exam with this id (the first, if ids repeat); raises KeyError."""
        if self._ids is None:
            ids: dict[str, int] = {}
            for i in range(self._len):
                src, j = self.locate(i)
                eid = src.exam_id(j)
                ids.setdefault(str(eid), i)
            self._ids = ids
        try:
            return self._ids[str(exam_id)]
        except KeyError:
            raise KeyError(f"no exam with id {exam_id!r} among {self._len} exams") from None

    def close(self) -> None:
        for src in self.sources:
            src.close()

    def __enter__(self) -> ExamSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ExamSet({self._len} exams in {len(self.sources)} files, {len(self.errors)} errors)"


def _link_problem(path: Path) -> str | None:
    """Why a path that does not exist as a file or folder cannot be opened (None if it is fine)."""
    if not os.path.lexists(path):
        return None
    if path.is_symlink():
        try:
            path.resolve(strict=True)
        except RuntimeError:
            return "symbolic link loop (the link points back to itself)"
        except OSError:
            return f"broken symbolic link (to {os.readlink(path)})"
    return None


def _collect(folder: Path, errors: list[ExamReadError] | None = None) -> list[Path]:
    """ECG files under ``folder`` (recursively; hidden entries skipped), naturally sorted.

    A WFDB record counts once (its .hea); a .dat/.mat without a .hea is listed so that it is
    reported. Subfolders that cannot be listed and links that lead nowhere are added to
    ``errors`` (symlinked folders are not followed, so a link loop cannot recurse).
    """
    wanted = folder_suffixes()
    found: list[Path] = []

    def unreadable(err: OSError) -> None:
        if errors is not None:
            where = Path(err.filename) if err.filename else folder
            errors.append(ExamReadError(where, f"folder skipped: cannot list it ({err.strerror or err})"))

    for root, dirs, files in os.walk(folder, onerror=unreadable):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith("."):
                continue
            p = Path(root) / name
            suffix = p.suffix.lower()
            problem = _link_problem(p) if p.is_symlink() else None
            if problem is not None:
                if errors is not None and suffix in wanted:
                    errors.append(ExamReadError(p, problem))
                continue
            if suffix in wanted or (suffix in (".dat", ".mat") and not header_path_for(p).exists()):
                found.append(p)
    return sorted(found, key=_natural_key)


def open_exams(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    fs: float | None = None,
    units: str | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> ExamSet:
    """Open files and folders (recursed) as one lazy :class:`ExamSet`.

    Args:
        paths: a file, a folder, or several.
        fs: sampling rate (Hz) for files that state none (CSV, generic HDF5); files that
            state a rate keep it (a note says so when they differ).
        units: "mV", "uV"/"µV", "V" or "1e-4 V" for files that state none; otherwise units are
            inferred from the amplitude and the assumption is recorded in ``exam.notes``.
        progress: called as ``progress(files_done, files_total)`` while opening.
        cancel: polled between files; when it returns True the files opened so far are closed
            and :class:`~ecgviewer.errors.Cancelled` is raised.

    Raises:
        Cancelled: ``cancel()`` returned True.
        ExamReadError: a file named directly cannot be read, or a path does not exist.
            Bad files found inside a folder are collected in ``ExamSet.errors`` instead.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    tasks: list[tuple[Path, bool]] = []  # (file, named directly)
    errors: list[ExamReadError] = []
    for p in paths:
        path = Path(p).expanduser()
        if path.is_dir():
            found = _collect(path, errors)
            if not found:
                errors.append(
                    ExamReadError(
                        path, "empty folder: no ECG files in it (" + ", ".join(folder_suffixes()) + ")"
                    )
                )
            tasks += [(f, False) for f in found]
        elif path.exists():
            tasks.append((path, True))
        else:
            raise ExamReadError(path, _link_problem(path) or "no such file or folder")
    sources: list[ExamSource] = []
    seen: set[Path] = set()
    total = len(tasks)
    for done, (path, direct) in enumerate(tasks):
        if cancel is not None and cancel():
            for src in sources:
                src.close()
            raise Cancelled(f"opening stopped after {done} of {total} files")
        try:
            key = (
                header_path_for(path).resolve()
                if path.suffix.lower() in (".dat", ".mat", ".hea") and header_path_for(path).exists()
                else path.resolve()
            )
        except (OSError, RuntimeError) as err:  # a link loop appearing while we read
            error = ExamReadError(path, f"cannot resolve the path ({err})")
            if direct:
                for src in sources:
                    src.close()
                raise error from None
            errors.append(error)
            continue
        if key in seen:
            continue
        seen.add(key)
        try:
            sources.append(open_source(path, fs=fs, units=units))
        except ExamReadError as err:
            if direct:
                for src in sources:
                    src.close()
                raise
            errors.append(err)
        if progress is not None:
            progress(done + 1, total)
    return ExamSet(sources, errors)


def read_exam(
    path: str | os.PathLike, index: int = 0, *, fs: float | None = None, units: str | None = None
) -> Exam:
    """Read one exam of one file (``index`` within a multi-exam file); raises ExamReadError."""
    src = open_source(Path(path), fs=fs, units=units)
    try:
        if not 0 <= index < src.n_exams:
            raise ExamReadError(path, f"has {src.n_exams} exams; exam {index} does not exist")
        return src.read(index)
    finally:
        src.close()


__all__ = ["ExamSet", "NotAnExamError", "open_exams", "read_exam"]
