"""A reader's own over-read of exams, saved as an annotator file, and the reading-study comparison (no Qt).

A :class:`Read` is one reader's call on one exam: for each of the six classes present (1),
absent (0) or uncertain (:data:`UNCERTAIN`), a free-text statement, the time and whether the
network's findings were hidden when it was made (``blinded``). A :class:`ReaderFile` holds every
read of one reader and writes them, after each commit, to ``annotations/<reader>.csv`` beside
the exams, replacing the whole file atomically (temp file + ``os.replace``): a crash or a kill
loses at most the exam being read.

The file is an annotator CSV that :func:`ecgviewer.labels.load_label_file` reads as it is, one
row per exam::

    exam_id,reader,1dAVb,RBBB,LBBB,SB,AF,ST,uncertain,statement,time,blinded,revised,
        blinded_findings,blinded_uncertain,blinded_statement,blinded_time

* the six class columns are the reader's *current* read: 1 present, 0 absent, empty when the
  reader was uncertain (empty is "not available" to the labels code, so an uncertain call is
  left out of the scores, never counted as negative);
* ``uncertain``: the uncertain classes, ``;``-separated; ``statement``: the free text;
  ``time``: ISO 8601 UTC; ``blinded``: 1 when the network's findings were hidden when this
  read was made, else 0;
* ``revised``: 1 when this read replaced a blinded read after the findings were revealed; the
  blinded read is then kept in the ``blinded_*`` columns (present classes ``;``-separated,
  uncertain classes, statement, time). A blinded read that was not revised leaves them empty
  (the class columns are the blinded read).

:func:`blinded_and_revised` gives the two reads of a file as label arrays, and
:func:`reading_study` compares readers with a gold standard, with each other and with the
network, and the change the network made to each reader's F1.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ecgviewer.classes import CLASSES
from ecgviewer.errors import LabelError
from ecgviewer.labels import LabelSet, load_label_file
from ecgviewer.labels.labelset import _norm_id
from ecgviewer.metrics import binary_scores, cohen_kappa

ABSENT = 0
PRESENT = 1
UNCERTAIN = 2
"""A class call the reader is unsure of: written as an empty (not available) class cell."""
K = len(CLASSES)
FOLDER = "annotations"
COLUMNS: tuple[str, ...] = (
    "exam_id",
    "reader",
    *CLASSES,
    "uncertain",
    "statement",
    "time",
    "blinded",
    "revised",
    "blinded_findings",
    "blinded_uncertain",
    "blinded_statement",
    "blinded_time",
)


def now_iso() -> str:
    """The current time, ISO 8601 UTC to the second (e.g. ``2026-12-01T21:04:05Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Read:
    """One reader's call on one exam.

    Attributes:
        exam_id: the exam's id (matched as the labels code matches ids).
        reader: the reader's name.
        calls: (6,) per class :data:`PRESENT`, :data:`ABSENT` or :data:`UNCERTAIN`, in CLASSES order.
        statement: free text.
        time: when it was committed (ISO 8601 UTC).
        blinded: the network's findings were hidden when the read was made.
        revised_from: the blinded read this read revises (after the findings were revealed), or None.
    """

    exam_id: str
    reader: str
    calls: tuple[int, ...] = (ABSENT,) * K
    statement: str = ""
    time: str = ""
    blinded: bool = False
    revised_from: Read | None = None

    def __post_init__(self) -> None:
        if len(self.calls) != K or any(c not in (ABSENT, PRESENT, UNCERTAIN) for c in self.calls):
            raise ValueError(f"a read needs {K} calls of 0 (absent), 1 (present) or 2 (uncertain)")

    @property
    def labels(self) -> np.ndarray:
        """(6,) int8 labels: 1 present, 0 absent, -1 uncertain (left out of scores)."""
        return np.array([-1 if c == UNCERTAIN else c for c in self.calls], dtype=np.int8)

    def present(self) -> list[str]:
        return [c for c, v in zip(CLASSES, self.calls, strict=True) if v == PRESENT]

    def uncertain(self) -> list[str]:
        return [c for c, v in zip(CLASSES, self.calls, strict=True) if v == UNCERTAIN]

    def summary(self) -> str:
        """ "RBBB, AF?" style: present classes, uncertain ones with "?", "no finding" when neither."""
        words = [c if v == PRESENT else f"{c}?" for c, v in zip(CLASSES, self.calls, strict=True) if v]
        return ", ".join(words) if words else "no finding"

    @property
    def first(self) -> Read:
        """The first read of the exam: the blinded one when this is a revision, else this."""
        return self.revised_from if self.revised_from is not None else self


def overread_text(read: Read) -> str:
    """One line for a report: reader, time, blinded or not, the call and the statement."""
    how = "blinded (the network's findings hidden)" if read.blinded else "with the network's findings visible"
    text = f"Over-read by {read.reader}, {read.time.replace('T', ' ')}, {how}: {read.summary()}"
    if read.revised_from is not None:
        first = read.revised_from
        when = first.time.replace("T", " ")
        text += f"; revised after the reveal, the blinded read ({when}) was {first.summary()}"
    if read.statement:
        text += f". Statement: {read.statement}"
    return text + "."


def calls_from_decisions(decisions: Sequence[int] | np.ndarray) -> tuple[int, ...]:
    """The network's 0/1 decisions as calls (confirm all of the network's findings)."""
    d = np.asarray(decisions).astype(int)
    if d.shape != (K,):
        raise ValueError(f"decisions must be ({K},), not {d.shape}")
    return tuple(PRESENT if v == 1 else ABSENT for v in d)


def reader_slug(reader: str) -> str:
    """A file name stem for a reader: ``"Dr. A. Souza"`` → ``dr_a_souza``."""
    slug = re.sub(r"[^0-9A-Za-z]+", "_", reader.strip()).strip("_").lower()
    if not slug:
        raise ValueError("the reader's name is empty")
    return slug


def annotations_dir(exam_path: str | Path) -> Path:
    """``annotations/`` beside an exam file (or inside an opened folder), where the labels code
    finds annotator files (:func:`ecgviewer.labels.discover_labels`)."""
    p = Path(exam_path)
    return (p if p.is_dir() else p.parent) / FOLDER


def fallback_dir(exam_folder: str | Path) -> Path:
    """Where reads go when the exams' folder is read-only: the user data folder, one
    sub-folder per exam folder (its name and a short hash of its full path)."""
    import hashlib

    from ecgviewer.paths import user_data_dir

    folder = Path(exam_folder).resolve()
    digest = hashlib.sha1(str(folder).encode("utf-8")).hexdigest()[:10]
    return user_data_dir() / "reads" / f"{folder.name or 'root'}-{digest}"


def writable_dir(folder: Path) -> bool:
    """True when files can be created in ``folder`` (created if missing).

    A folder (or, when missing, its nearest existing parent) without any write permission bit
    counts as read-only even for an administrator, who could write there anyway: a read-only
    exam archive is never written into."""
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    try:
        if not existing.stat().st_mode & 0o222:
            return False
    except OSError:
        return False
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".write-test-")
        os.close(fd)
        os.unlink(tmp)
        return True
    except OSError:
        return False


def choose_reads_dir(exam_path: str | Path) -> tuple[Path, bool]:
    """(folder for reader files, True when it is the fallback because the exams' folder is read-only)."""
    beside = annotations_dir(exam_path)
    if writable_dir(beside):
        return beside, False
    p = Path(exam_path)
    return fallback_dir(p if p.is_dir() else p.parent), True


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(";") if t.strip()]


def _calls(present: Iterable[str], uncertain: Iterable[str]) -> tuple[int, ...]:
    pres, unc = set(present), set(uncertain)
    return tuple(UNCERTAIN if c in unc else PRESENT if c in pres else ABSENT for c in CLASSES)


@dataclass
class ReaderFile:
    """Every read of one reader, kept in ``path`` (written whole, atomically, on each commit).

    Attributes:
        reader: the reader's name.
        path: the CSV file (``<folder>/<reader_slug>.csv``).
        reads: normalised exam id → the current :class:`Read` of that exam (in commit order).
    """

    reader: str
    path: Path
    reads: dict[str, Read] = field(default_factory=dict)

    @classmethod
    def open(cls, folder: str | Path, reader: str) -> ReaderFile:
        """The reader's file in ``folder``: read back when it exists (raises LabelError when it
        cannot be read), empty otherwise (nothing is written until the first commit)."""
        path = Path(folder) / f"{reader_slug(reader)}.csv"
        if path.is_file():
            return cls.load(path, reader=reader)
        return cls(reader=reader, path=path)

    @classmethod
    def load(cls, path: str | Path, *, reader: str | None = None) -> ReaderFile:
        """Read a reader file back (raises LabelError naming the file and row)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as err:
            raise LabelError(f"{path}: cannot read the reader's file ({err})") from err
        rows = list(csv.DictReader(io.StringIO(text)))
        out = cls(reader=reader or "", path=path)
        for i, r in enumerate(rows, start=2):
            try:
                exam_id = (r.get("exam_id") or "").strip()
                if not exam_id:
                    raise ValueError("empty exam_id")
                name = (r.get("reader") or "").strip() or out.reader or path.stem
                out.reader = out.reader or name
                uncertain = _names(r.get("uncertain") or "")
                present = [c for c in CLASSES if (r.get(c) or "").strip() in ("1", "1.0")]
                first = None
                if (r.get("revised") or "").strip() == "1":
                    first = Read(
                        exam_id,
                        name,
                        _calls(
                            _names(r.get("blinded_findings") or ""), _names(r.get("blinded_uncertain") or "")
                        ),
                        r.get("blinded_statement") or "",
                        (r.get("blinded_time") or "").strip(),
                        blinded=True,
                    )
                read = Read(
                    exam_id,
                    name,
                    _calls(present, uncertain),
                    r.get("statement") or "",
                    (r.get("time") or "").strip(),
                    blinded=(r.get("blinded") or "").strip() == "1",
                    revised_from=first,
                )
            except (ValueError, TypeError) as err:
                raise LabelError(f"{path}: row {i}: {err}") from None
            out.reads[_norm_id(exam_id)] = read
        return out

    def get(self, exam_id: str) -> Read | None:
        return self.reads.get(_norm_id(exam_id))

    def commit(self, read: Read) -> Read:
        """Keep ``read`` as the exam's current read and rewrite the file; returns the read kept.

        A non-blinded read of an exam whose current read is blinded (and not yet revised) is a
        revision: the blinded read is kept beside it. A later revision keeps the same blinded read.
        Raises OSError when the file cannot be written (the previous file is left intact)."""
        if read.reader != self.reader:
            read = replace(read, reader=self.reader)
        if not read.time:
            read = replace(read, time=now_iso())
        old = self.get(read.exam_id)
        if old is not None and not read.blinded and read.revised_from is None:
            blinded_first = old.revised_from
            if blinded_first is None and old.blinded:
                blinded_first = old
            if blinded_first is not None:
                read = replace(read, revised_from=blinded_first)
        key = _norm_id(read.exam_id)
        reads = dict(self.reads)
        reads.pop(key, None)
        reads[key] = read
        write_atomic(self.path, self.to_csv(reads.values()))
        self.reads = reads
        return read

    def to_csv(self, reads: Iterable[Read] | None = None) -> bytes:
        """The file's bytes (UTF-8, header :data:`COLUMNS`)."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(COLUMNS)
        for r in self.reads.values() if reads is None else reads:
            first = r.revised_from
            w.writerow(
                [
                    r.exam_id,
                    r.reader,
                    *("" if c == UNCERTAIN else str(c) for c in r.calls),
                    ";".join(r.uncertain()),
                    r.statement,
                    r.time,
                    int(r.blinded),
                    int(first is not None),
                    ";".join(first.present()) if first else "",
                    ";".join(first.uncertain()) if first else "",
                    first.statement if first else "",
                    first.time if first else "",
                ]
            )
        return buf.getvalue().encode("utf-8")

    def label_set(self) -> LabelSet:
        """The current reads as a label source (what reopening the folder shows)."""
        return load_label_file(self.path, name=self.reader)

    def __len__(self) -> int:
        return len(self.reads)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder, fsync and os.replace:
    the old file stays whole until the new one is complete. Raises OSError."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def is_reader_file(path: str | Path) -> bool:
    """True when a CSV's header is a reader file's (has ``reader`` and ``blinded`` columns)."""
    try:
        with Path(path).open("r", encoding="utf-8-sig", errors="replace") as fh:
            header = next(csv.reader(fh), [])
    except OSError:
        return False
    low = {h.strip().lower() for h in header}
    return {"exam_id", "reader", "blinded"} <= low


def find_reader_files(folders: Iterable[str | Path]) -> list[Path]:
    """Reader files in these folders (missing folders skipped), sorted by name."""
    out: list[Path] = []
    for d in folders:
        d = Path(d)
        if d.is_dir():
            out += sorted(p for p in d.glob("*.csv") if p.is_file() and is_reader_file(p))
    return out


# --------------------------------------------------------------------------- the reading study


def blinded_and_revised(rf: ReaderFile, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(blinded, revised) (M, 6) int8 labels of M exam ids: the first read when it was
    blinded, and the read after the findings were revealed (the blinded read itself when the
    reader kept it); -1 where the exam has no blinded read (or the call was uncertain)."""
    blinded = np.full((len(keys), K), -1, dtype=np.int8)
    revised = np.full((len(keys), K), -1, dtype=np.int8)
    for i, key in enumerate(keys):
        r = rf.get(key)
        if r is None:
            continue
        if r.first.blinded:
            blinded[i] = r.first.labels
            revised[i] = r.labels
    return blinded, revised


@dataclass
class ReadingStudy:
    """Readers compared with a gold standard, each other and the network (per class, CLASSES order).

    Attributes:
        readers: reader names.
        f1, kappa: reader → (6,) against the gold standard (current reads); empty without one.
        network_f1: (6,) the network against the gold standard (NaN without one).
        reader_kappa: (reader a, reader b) → (6,) kappa between two readers.
        network_kappa: reader → (6,) kappa of the network against the reader.
        blinded_f1, revised_f1: reader → (6,) F1 of the blinded reads and of the reads after the
            findings were revealed (revised, or kept), over the exams first read blinded; present
            for readers with blinded reads, when there is a gold standard.
        n_exams: reader → exams read.
    """

    readers: list[str]
    f1: dict[str, np.ndarray] = field(default_factory=dict)
    kappa: dict[str, np.ndarray] = field(default_factory=dict)
    network_f1: np.ndarray = field(default_factory=lambda: np.full(K, np.nan))
    reader_kappa: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    network_kappa: dict[str, np.ndarray] = field(default_factory=dict)
    blinded_f1: dict[str, np.ndarray] = field(default_factory=dict)
    revised_f1: dict[str, np.ndarray] = field(default_factory=dict)
    n_exams: dict[str, int] = field(default_factory=dict)
    reference: str = ""

    def rows(self, network: str = "DNN") -> list[list[str]]:
        """The tables as CSV rows: table, rater, then one value per class."""

        def fmt(v: np.ndarray) -> list[str]:
            return ["" if not np.isfinite(x) else f"{x:.4f}" for x in np.asarray(v, dtype=np.float64)]

        out = [["table", "rater", *CLASSES]]
        if self.f1:
            out.append(["f1", network, *fmt(self.network_f1)])
        out += [["f1", r, *fmt(v)] for r, v in self.f1.items()]
        out += [["kappa_gold", r, *fmt(v)] for r, v in self.kappa.items()]
        out += [["kappa_readers", f"{a} vs {b}", *fmt(v)] for (a, b), v in self.reader_kappa.items()]
        out += [["kappa_network", r, *fmt(v)] for r, v in self.network_kappa.items()]
        for r in self.revised_f1:
            out.append(["f1_blinded", r, *fmt(self.blinded_f1[r])])
            out.append(["f1_revised", r, *fmt(self.revised_f1[r])])
            out.append(["f1_change", r, *fmt(self.revised_f1[r] - self.blinded_f1[r])])
        return out

    def markdown(self, network: str = "DNN") -> str:
        """The tables as Markdown (F1/kappa per reader, reader pairs, network, blinded → revised)."""

        def num(x: float) -> str:
            return "–" if not np.isfinite(x) else f"{x:.3f}"

        def table(title: str, rows: list[tuple[str, np.ndarray]]) -> list[str]:
            lines = [f"### {title}", "", "| | " + " | ".join(CLASSES) + " |", "|---" * (K + 1) + "|"]
            lines += [f"| {name} | " + " | ".join(num(float(v)) for v in vals) + " |" for name, vals in rows]
            return [*lines, ""]

        out = [f"## Reading study: {', '.join(self.readers) or 'no readers'}", ""]
        out += [f"Exams read: {', '.join(f'{r} {self.n_exams.get(r, 0)}' for r in self.readers)}.", ""]
        if self.f1:
            ref = self.reference or "the gold standard"
            out += table(f"F1 against {ref}", [(network, self.network_f1), *self.f1.items()])
            out += table(f"Cohen's kappa against {ref}", list(self.kappa.items()))
        if self.reader_kappa:
            pairs = [(f"{a} vs {b}", v) for (a, b), v in self.reader_kappa.items()]
            out += table("Kappa between readers", pairs)
        if self.network_kappa:
            out += table(f"Kappa of {network} against each reader", list(self.network_kappa.items()))
        if self.revised_f1:
            rows = []
            for r in self.revised_f1:
                rows += [
                    (f"{r} blinded", self.blinded_f1[r]),
                    (f"{r} revised", self.revised_f1[r]),
                    (f"{r} change", self.revised_f1[r] - self.blinded_f1[r]),
                ]
            out += table(f"F1 change made by {network} (blinded read → revised after seeing it)", rows)
        return "\n".join(out).rstrip() + "\n"


def reading_study(
    keys: Sequence[str],
    readers: Mapping[str, ReaderFile],
    *,
    gold: np.ndarray | None = None,
    network: np.ndarray | None = None,
    reference: str = "",
) -> ReadingStudy:
    """Compare readers over M exams.

    Args:
        keys: M exam ids.
        readers: name → the reader's file.
        gold: (M, 6) reference labels 1/0/-1, or None.
        network: (M, 6) the network's decisions 1/0/-1, or None.
    """
    names = list(readers)
    study = ReadingStudy(readers=names, reference=reference)
    current: dict[str, np.ndarray] = {}
    for name, rf in readers.items():
        vals = np.full((len(keys), K), -1, dtype=np.int8)
        count = 0
        for i, key in enumerate(keys):
            r = rf.get(key)
            if r is not None:
                vals[i] = r.labels
                count += 1
        current[name] = vals
        study.n_exams[name] = count
    if gold is not None:
        gold = np.asarray(gold, dtype=np.int8)
        if network is not None:
            study.network_f1 = np.asarray(binary_scores(gold, network)["f1"], dtype=np.float64)
        for name in names:
            study.f1[name] = np.asarray(binary_scores(gold, current[name])["f1"], dtype=np.float64)
            study.kappa[name] = np.asarray(cohen_kappa(gold, current[name]), dtype=np.float64)
            blinded, revised = blinded_and_revised(readers[name], keys)
            if (blinded >= 0).any():
                study.blinded_f1[name] = np.asarray(binary_scores(gold, blinded)["f1"], dtype=np.float64)
                study.revised_f1[name] = np.asarray(binary_scores(gold, revised)["f1"], dtype=np.float64)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            study.reader_kappa[(a, b)] = np.asarray(cohen_kappa(current[a], current[b]), dtype=np.float64)
    if network is not None:
        for name in names:
            study.network_kappa[name] = np.asarray(cohen_kappa(current[name], network), dtype=np.float64)
    return study
