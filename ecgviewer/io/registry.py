"""Reader registry: picks the reader of a file by its content first, then its extension."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ecgviewer.errors import ExamReadError
from ecgviewer.exam import Exam, ExamHeader
from ecgviewer.io import clinical
from ecgviewer.io.base import ExamSource, NotAnExamError, check_nonempty_file, validate_exam
from ecgviewer.io.clinical import (
    DICOM_SUFFIXES,
    EDF_SUFFIXES,
    SCP_SUFFIXES,
    XML_SUFFIXES,
    is_dicom,
    is_edf,
    is_scp,
    xml_reader_name,
)
from ecgviewer.io.csv_io import CSV_SUFFIXES, CsvSource, looks_like_csv
from ecgviewer.io.hdf5 import HDF5_SUFFIXES, Hdf5Source, is_hdf5
from ecgviewer.io.wfdb_io import WfdbSource, header_path_for, looks_like_header

HEAD_BYTES = 4096


@dataclass(frozen=True)
class Reader:
    """A file format: how to recognise it and how to open it.

    ``sniff(path, head)`` looks at the first bytes (``head``) and says whether the file is
    of this format; ``open(path, fs=..., units=...)`` returns an :class:`ExamSource`.
    ``suffixes`` are the extensions offered in file dialogs (and the fallback when no reader
    recognises the content); ``folder_suffixes`` the extensions collected when a folder is opened.
    ``refuse``, when set, is used instead of ``open`` for a file chosen by its extension only
    (its content was not recognised): it raises an ExamReadError that says what is wrong.
    """

    name: str
    description: str
    suffixes: tuple[str, ...]
    folder_suffixes: tuple[str, ...]
    sniff: Callable[[Path, bytes], bool]
    open: Callable[..., ExamSource]
    refuse: Callable[..., ExamSource] | None = None


def _sniff_wfdb(path: Path, head: bytes) -> bool:
    """A WFDB header by content: a record line naming this record (``A0001 12 500 7500 ...``)."""
    suffix = path.suffix.lower()
    if suffix in (".dat", ".mat"):
        return header_path_for(path).exists()
    if not looks_like_header(head):
        return False
    if suffix == ".hea":
        return True
    first = next(
        (ln.split() for ln in head.decode("utf-8", "replace").splitlines() if ln.strip() and ln[0] != "#"), []
    )
    return bool(first) and first[0].split("/")[0] == path.stem


def _sniff_csv(path: Path, head: bytes) -> bool:
    return looks_like_csv(head)


_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
SPREADSHEET_SUFFIXES: tuple[str, ...] = (".xlsx", ".xlsm", ".xls", ".ods")


def _sniff_spreadsheet(path: Path, head: bytes) -> bool:
    return path.suffix.lower() in SPREADSHEET_SUFFIXES and head.startswith((_ZIP, _OLE))


def _open_spreadsheet(path: Path, **_: object) -> ExamSource:
    raise NotAnExamError(
        path,
        "holds no ECG: it is a spreadsheet (a table of measurements or labels, not samples); "
        "save ECG samples as CSV, or load it as labels",
    )


def _clinical(
    name: str, description: str, suffixes: tuple[str, ...], sniff: Callable[[Path, bytes], bool]
) -> Reader:
    return Reader(
        name,
        description,
        suffixes,
        suffixes,
        sniff,
        clinical.opener(name),
        clinical.open_by_extension(name),
    )


def _xml(name: str, description: str) -> Reader:
    # The three XML formats share .xml: listed (and collected from folders) once, by the "xml" entry.
    return Reader(
        name, description, (), (), lambda p, h, _n=name: xml_reader_name(h) == _n, clinical.opener(name)
    )


READERS: list[Reader] = [
    Reader("hdf5", "HDF5 files", HDF5_SUFFIXES, HDF5_SUFFIXES, lambda p, h: is_hdf5(h), Hdf5Source),
    _clinical("dicom", "DICOM ECG waveforms", DICOM_SUFFIXES, lambda p, h: is_dicom(h)),
    _xml("ge-muse-xml", "GE MUSE XML"),
    _xml("philips-xml", "Philips Sierra/PageWriter XML"),
    _xml("hl7-aecg", "HL7 aECG"),
    Reader(
        "xml",
        "ECG XML (GE MUSE, Philips, HL7 aECG)",
        XML_SUFFIXES,
        XML_SUFFIXES,
        lambda p, h: False,
        clinical.open_by_extension("xml"),
        clinical.open_by_extension("xml"),
    ),
    _clinical("scp-ecg", "SCP-ECG files", SCP_SUFFIXES, is_scp),
    _clinical("edf", "EDF files", EDF_SUFFIXES, is_edf),
    Reader("wfdb", "WFDB records", (".hea", ".dat", ".mat"), (".hea",), _sniff_wfdb, WfdbSource),
    Reader("csv", "CSV files", CSV_SUFFIXES, (".csv", ".tsv"), _sniff_csv, CsvSource),
    Reader("spreadsheet", "spreadsheets", (), SPREADSHEET_SUFFIXES, _sniff_spreadsheet, _open_spreadsheet),
]
"""Registered readers, tried in order by content (magic numbers first, loose text sniffers last);
:func:`register_reader` adds more."""


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
    parts += [f"{r.description} ({globs(r.suffixes)})" for r in READERS if r.suffixes]
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
    """The reader for ``path`` by content (signatures, XML root, headers, text layout), then extension."""
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
            return replace(reader, open=reader.refuse) if reader.refuse is not None else reader
    suffix = path.suffix.lower() or "(no extension)"
    raise ExamReadError(
        path, f"unsupported file type {suffix}: ecgviewer reads " + ", ".join(supported_suffixes())
    )


def _unexpected(path: Path, reader: Reader, err: BaseException) -> ExamReadError:
    if isinstance(err, MemoryError):
        return ExamReadError(path, f"too large to read as {reader.description} ({err or 'out of memory'})")
    return ExamReadError(path, f"cannot read as {reader.description}: {type(err).__name__}: {err}")


class CheckedSource:
    """A reader's source whose every exam passes :func:`~ecgviewer.io.base.validate_exam`.

    Any exception of a reader other than ExamReadError (a reader bug, numpy's memory error
    on an odd file) becomes an ExamReadError naming the file; other attributes are the
    wrapped source's.
    """

    def __init__(self, source: ExamSource, reader: Reader) -> None:
        self._source = source
        self._reader = reader

    def __getattr__(self, name: str):
        if name in ("_source", "_reader"):  # during unpickling, before __init__ ran
            raise AttributeError(name)
        return getattr(self._source, name)

    @property
    def wrapped(self) -> ExamSource:
        return self._source

    def _call(self, method: str, index: int) -> Any:
        """The source's ``method(index)``; an unexpected exception becomes an ExamReadError."""
        try:
            return getattr(self._source, method)(index)
        except (ExamReadError, IndexError):
            raise
        except Exception as err:
            raise _unexpected(self._source.path, self._reader, err) from None

    def read(self, index: int) -> Exam:
        return validate_exam(self._call("read", index), self._source.path)

    def header(self, index: int) -> ExamHeader:
        return self._call("header", index)

    def exam_id(self, index: int) -> str:
        return self._call("exam_id", index)

    def close(self) -> None:
        self._source.close()


def open_source(path: Path, *, fs: float | None = None, units: str | None = None) -> ExamSource:
    """Open one file with its reader; raises ExamReadError (never another exception).

    The source returned validates every exam it reads (:class:`CheckedSource`)."""
    path = Path(path)
    try:
        reader = reader_for(path)
    except ExamReadError:
        raise
    except Exception as err:
        raise ExamReadError(path, f"cannot read: {type(err).__name__}: {err}") from None
    try:
        return CheckedSource(reader.open(path, fs=fs, units=units), reader)
    except ExamReadError:
        raise
    except Exception as err:  # a reader bug or an odd file must not reach the user as a traceback
        raise _unexpected(path, reader, err) from None
