"""Reader registry: picks the reader of a file by its content first, then its extension."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ecgviewer.errors import ExamReadError
from ecgviewer.io.base import ExamSource, check_nonempty_file
from ecgviewer.io.csv_io import CSV_SUFFIXES, CsvSource
from ecgviewer.io.hdf5 import HDF5_SUFFIXES, Hdf5Source, is_hdf5
from ecgviewer.io.wfdb_io import WfdbSource, header_path_for

HEAD_BYTES = 4096


@dataclass(frozen=True)
class Reader:
    """A file format: how to recognise it and how to open it.

    ``sniff(path, head)`` looks at the first bytes (``head``) and says whether the file is
    of this format; ``open(path, fs=..., units=...)`` returns an :class:`ExamSource`.
    ``folder_suffixes`` are the extensions collected when a folder is opened.
    """

    name: str
    description: str
    suffixes: tuple[str, ...]
    folder_suffixes: tuple[str, ...]
    sniff: Callable[[Path, bytes], bool]
    open: Callable[..., ExamSource]


def _sniff_wfdb(path: Path, head: bytes) -> bool:
    suffix = path.suffix.lower()
    if suffix in (".dat", ".mat"):
        return header_path_for(path).exists()
    return suffix == ".hea"


def _sniff_csv(path: Path, head: bytes) -> bool:
    return path.suffix.lower() in CSV_SUFFIXES and b"\x00" not in head


READERS: list[Reader] = [
    Reader("wfdb", "WFDB records", (".hea", ".dat", ".mat"), (".hea",), _sniff_wfdb, WfdbSource),
    Reader("hdf5", "HDF5 files", HDF5_SUFFIXES, HDF5_SUFFIXES, lambda p, h: is_hdf5(h), Hdf5Source),
    Reader("csv", "CSV files", CSV_SUFFIXES, (".csv", ".tsv"), _sniff_csv, CsvSource),
]
"""Registered readers, tried in order; :func:`register_reader` adds more."""


def register_reader(reader: Reader, *, first: bool = True) -> None:
    """Add a reader (a plugin format); by default it is tried before the built-in ones."""
    READERS.insert(0, reader) if first else READERS.append(reader)


def supported_suffixes() -> tuple[str, ...]:
    out: list[str] = []
    for r in READERS:
        out += [s for s in r.suffixes if s not in out]
    return tuple(out)


def folder_suffixes() -> tuple[str, ...]:
    out: list[str] = []
    for r in READERS:
        out += [s for s in r.folder_suffixes if s not in out]
    return tuple(out)


def file_dialog_filter() -> str:
    """A Qt file-dialog filter: all ECG files first, then one entry per reader."""

    def globs(suffixes: tuple[str, ...]) -> str:
        return " ".join(f"*{s}" for s in suffixes)

    parts = [f"ECG files ({globs(supported_suffixes())})"]
    parts += [f"{r.description} ({globs(r.suffixes)})" for r in READERS]
    parts.append("All files (*)")
    return ";;".join(parts)


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(HEAD_BYTES)
    except IsADirectoryError:
        raise ExamReadError(path, "is a folder, not a file") from None
    except OSError as err:
        raise ExamReadError(path, f"cannot read: {err.strerror or err}") from None


def reader_for(path: Path) -> Reader:
    """The reader for ``path`` by content (HDF5 signature, WFDB record line), then extension."""
    path = Path(path)
    if path.suffix.lower() in (".dat", ".mat") and not header_path_for(path).exists():
        if path.exists() and is_hdf5(_head(path)):
            return next(r for r in READERS if r.name == "hdf5")
        raise ExamReadError(
            path, f"WFDB signal file without its header: {header_path_for(path).name} is missing beside it"
        )
    if path.suffix.lower() not in (".dat", ".mat"):
        check_nonempty_file(path)
    head = _head(path) if path.suffix.lower() not in (".dat", ".mat") else b""
    for reader in READERS:
        if reader.sniff(path, head):
            return reader
    for reader in READERS:  # by extension: the reader then says what is wrong with the content
        if path.suffix.lower() in reader.suffixes:
            return reader
    suffix = path.suffix.lower() or "(no extension)"
    raise ExamReadError(
        path, f"unsupported file type {suffix}: ecgviewer reads " + ", ".join(supported_suffixes())
    )


def open_source(path: Path, *, fs: float | None = None, units: str | None = None) -> ExamSource:
    """Open one file with its reader; raises ExamReadError (never another exception)."""
    reader = reader_for(path)
    try:
        return reader.open(Path(path), fs=fs, units=units)
    except ExamReadError:
        raise
    except Exception as err:  # a reader bug or an odd file must not reach the user as a traceback
        raise ExamReadError(
            path, f"cannot read as {reader.description}: {type(err).__name__}: {err}"
        ) from None
