"""``ecgviewer predict PATH... --out FILE.csv|FILE.npy|DIR.parquet``: batch prediction, streamed with bounded
memory, in this process or on a Dask cluster (``--cluster``, see :mod:`ecgviewer.cluster`)."""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from ecgviewer.atomic import temp_beside, umask_mode
from ecgviewer.commands import add_cluster_options, add_paths, add_reading_options
from ecgviewer.errors import EcgViewerError, ModelError, exam_error

NAME = "predict"
# Desktop default: per-exam speed is flat from batch 16 to 64 on a 2-core CPU (within the noise
# under load) while memory grows with the batch (README, "Performance"), so keep batches small.
DEFAULT_BATCH_SIZE = 16
HELP = (
    "Run the network on every exam in the given files and folders and write one row per exam: "
    "a CSV (exam id, source, a probability and a decision per class of the model) or an .npy array "
    "(N, C) float32 as the paper's predict.py writes. With several --model (or --ensemble NAME) the "
    "ensemble mean, its min/max and member agreement, and each member's probabilities. "
    "Exit status 1 when some exams could not be read "
    "(they get an 'error' column in the CSV, NaN rows in the .npy). With --cluster the exams are "
    "scored by the workers of a Dask cluster (the 'cluster' extra) and written in the same order."
)


def register(parser: argparse.ArgumentParser) -> None:
    add_paths(parser)
    parser.add_argument(
        "--out",
        required=True,
        metavar="FILE.csv|FILE.npy|DIR.parquet",
        help="output: .csv (one row per exam), .npy ((N, 6) float32, NaN rows for exams "
        "that could not be read) or a .parquet folder (a partitioned dataset with the CSV's columns)",
    )
    parser.add_argument(
        "--model",
        action="append",
        metavar="MODEL",
        help="model to use: an .onnx path, or an installed model's file or name (default: the bundled "
        "model); repeat it for an ensemble (mean probability plus per-member columns)",
    )
    parser.add_argument(
        "--ensemble", metavar="NAME", help="a saved ensemble (its name or its .json file) instead of --model"
    )
    parser.add_argument(
        "--save-ensemble",
        metavar="NAME",
        help="save the models given with --model as a named ensemble (for --ensemble NAME and the viewer)",
    )
    parser.add_argument(
        "--npy-members",
        action="store_true",
        help="with an ensemble and --out FILE.npy: write every member's (M, N, C) instead of the mean (N, C)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help=f"exams per inference call (default {DEFAULT_BATCH_SIZE}; memory grows ~12 MB per exam)",
    )
    parser.add_argument("--threads", type=int, default=None, help="inference threads (default: all cores)")
    parser.add_argument("--cpu", action="store_true", help="do not try CUDA")
    add_reading_options(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary on stderr")
    add_cluster_options(
        parser, "score", "ADDRESS|local:N", note="; every worker must see the inputs at the same paths"
    )


# --------------------------------------------------------------------------- progress bar


class ProgressBar:
    """A one-line progress bar on a terminal; a line every ~10 % when stderr is not a terminal."""

    def __init__(
        self, total: int, stream: TextIO | None = None, enabled: bool = True, label: str = ""
    ) -> None:
        self.total = max(int(total), 0)
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.label = label
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._last_decile = -1

    def update(self, done: int, total: int | None = None) -> None:
        """Show ``done`` of ``total`` (default: the total given at construction)."""
        if total is not None:
            self.total = int(total)
        if not self.enabled:
            return
        now = time.perf_counter()
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        frac = done / self.total if self.total else 1.0
        if self.tty:
            if now - self._last_draw < 0.1 and done < self.total:
                return
            self._last_draw = now
            width = 30
            filled = round(width * frac)
            eta = (self.total - done) / rate if rate > 0 else 0.0
            self.stream.write(
                f"\r{self.label}[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} "
                f"{rate:6.1f} exams/s  eta {eta:5.0f} s "
            )
            self.stream.flush()
        else:
            decile = int(frac * 10)
            if decile > self._last_decile:
                self._last_decile = decile
                self.stream.write(
                    f"{self.label}{done}/{self.total} exams ({100 * frac:.0f} %, {rate:.1f} exams/s)\n"
                )
                self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


# --------------------------------------------------------------------------- writers


def _temp_beside(out: Path) -> Path:
    return temp_beside(out)


@dataclass(frozen=True)
class _Row:
    """One exam's output row (``probs``/``decisions`` None when it was not predicted)."""

    i: int
    exam_id: str
    source: str
    index: int
    probs: np.ndarray | None
    decisions: np.ndarray | None
    error: str = ""
    quality: str = ""
    members: np.ndarray | None = None  # (M, C) an ensemble's members


class _OutputWriter:
    """What the CSV, .npy and Parquet outputs share: ``write`` one exam's row (the ``i``-th of
    the input order), then ``finish`` (moved into place) or ``abort`` (nothing left behind)."""

    def write(
        self,
        i: int,
        exam_id: str,
        source: str,
        index: int,
        probs: np.ndarray | None,
        decisions: np.ndarray | None,
        error: str = "",
        quality: str = "",
        members: np.ndarray | None = None,
    ) -> None:
        self._write(_Row(i, exam_id, source, index, probs, decisions, error, quality, members))

    def _write(self, r: _Row) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


class _CsvWriter(_OutputWriter):
    """One row per exam; for an ensemble, the mean's columns then ``min_``/``max_``/``agree_<class>``
    and each member's ``prob_<class>@<member name>``."""

    def __init__(
        self,
        out: Path,
        classes: tuple[str, ...],
        member_names: tuple[str, ...] = (),
        member_thresholds: np.ndarray | None = None,
    ) -> None:
        self.tmp = _temp_beside(out)
        self.out = out
        # backslashreplace: a file name that is not valid UTF-8 (surrogate escapes) is written
        # readably instead of failing the whole batch
        self.fh = open(self.tmp, "w", newline="", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115 - closed in finish/abort
        self.writer = csv.writer(self.fh)
        self.classes = classes
        self.member_names = member_names
        self.member_thresholds = member_thresholds
        extra: list[str] = []
        if member_names:
            extra += [f"{w}_{c}" for w in ("min", "max", "agree") for c in classes]
            extra += [f"prob_{c}@{m}" for m in member_names for c in classes]
        self.writer.writerow(
            [
                "exam_id",
                "source",
                "index",
                *[f"prob_{c}" for c in classes],
                *classes,
                *extra,
                "error",
                "quality",
            ]
        )

    def _write(self, r: _Row) -> None:
        n_cols = 2 * len(self.classes)
        if self.member_names:
            n_cols += (3 + len(self.member_names)) * len(self.classes)
        members = r.members
        if r.probs is None or r.decisions is None:
            values = [""] * n_cols
        else:
            values = [f"{p:.9g}" for p in r.probs] + [str(int(d)) for d in r.decisions]
            if self.member_names and members is not None:
                agree = (members > self.member_thresholds).sum(axis=0)
                values += [f"{v:.9g}" for v in members.min(axis=0)]
                values += [f"{v:.9g}" for v in members.max(axis=0)]
                values += [str(int(v)) for v in agree]
                values += [f"{v:.9g}" for v in members.reshape(-1)]
        self.writer.writerow([r.exam_id, r.source, r.index, *values, r.error, r.quality])

    def finish(self) -> None:
        self.fh.close()
        os.replace(self.tmp, self.out)

    def abort(self) -> None:
        self.fh.close()
        self.tmp.unlink(missing_ok=True)


class _NpyWriter(_OutputWriter):
    """(N, C) probabilities, or with ``n_members`` every member's (M, N, C)."""

    def __init__(self, out: Path, n: int, n_classes: int, n_members: int = 0) -> None:
        self.tmp = _temp_beside(out)
        self.out = out
        self.n_members = n_members
        shape = (n_members, n, n_classes) if n_members else (n, n_classes)
        self.array = np.lib.format.open_memmap(self.tmp, mode="w+", dtype=np.float32, shape=shape)
        self.array[:] = np.nan

    def _write(self, r: _Row) -> None:
        if self.n_members:
            if r.members is not None:
                self.array[:, r.i] = r.members
        elif r.probs is not None:
            self.array[r.i] = r.probs

    def finish(self) -> None:
        self.array.flush()
        del self.array
        os.replace(self.tmp, self.out)

    def abort(self) -> None:
        if hasattr(self, "array"):
            del self.array
        self.tmp.unlink(missing_ok=True)


class _ParquetWriter(_OutputWriter):
    """A folder of ``part-NNNNN.parquet`` files (the CSV's columns), ``rows_per_file`` rows each.

    Written into a hidden folder beside ``out`` and moved into place at the end; an existing dataset
    folder at ``out`` (only part files) is replaced, anything else there is refused."""

    def __init__(self, out: Path, classes: tuple[str, ...], rows_per_file: int = 100_000) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise EcgViewerError(
                f'{out}: Parquet output needs pyarrow: pip install "ecgviewer[cluster]"'
            ) from None
        if out.exists() and not (
            out.is_dir() and all(p.name.startswith("part-") and p.suffix == ".parquet" for p in out.iterdir())
        ):
            raise EcgViewerError(
                f"{out}: exists and is not a Parquet dataset written by ecgviewer; not replaced"
            )
        self.pa, self.pq = pa, pq
        self.out = out
        self.classes = classes
        self.rows_per_file = rows_per_file
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
        self.schema = pa.schema(
            [("exam_id", pa.string()), ("source", pa.string()), ("index", pa.int64())]
            + [(f"prob_{c}", pa.float32()) for c in classes]
            + [(c, pa.int8()) for c in classes]
            + [("error", pa.string()), ("quality", pa.string())]
        )
        self.rows: list[tuple] = []
        self.n_files = 0

    def _write(self, r: _Row) -> None:
        # an ensemble's members: Parquet keeps the mean only
        self.rows.append((r.exam_id, r.source, r.index, r.probs, r.decisions, r.error, r.quality))
        if len(self.rows) >= self.rows_per_file:
            self._flush()

    def _flush(self) -> None:
        pa, pq, rows, k = self.pa, self.pq, self.rows, len(self.classes)
        missing = np.array([r[3] is None for r in rows], dtype=bool)
        probs = np.full((len(rows), k), np.nan, np.float32)
        decisions = np.zeros((len(rows), k), np.int8)
        for j, r in enumerate(rows):
            if r[3] is not None:
                probs[j], decisions[j] = r[3], r[4]
        columns = [
            pa.array([r[0] for r in rows], pa.string()),
            pa.array([r[1] for r in rows], pa.string()),
            pa.array([int(r[2]) for r in rows], pa.int64()),
            *[pa.array(probs[:, c], pa.float32(), mask=missing) for c in range(k)],
            *[pa.array(decisions[:, c], pa.int8(), mask=missing) for c in range(k)],
            pa.array([r[5] for r in rows], pa.string()),
            pa.array([r[6] for r in rows], pa.string()),
        ]
        table = pa.Table.from_arrays(columns, schema=self.schema)
        pq.write_table(table, self.tmp / f"part-{self.n_files:05d}.parquet")
        self.n_files += 1
        rows.clear()

    def finish(self) -> None:
        if self.rows or not self.n_files:
            self._flush()
        old = None
        if self.out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.", suffix=".old", dir=self.out.parent))
            os.replace(self.out, old / "dataset")
        # mkdtemp makes the folder 0700; a dataset folder gets the user's umask like any output
        os.chmod(self.tmp, umask_mode() | ((umask_mode() & 0o444) >> 2))
        os.replace(self.tmp, self.out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def open_writer(out: Path, classes: tuple[str, ...], n: int, *, model=None, npy_members: bool = False):
    """The writer for ``out`` by its suffix (.csv, .npy, .parquet); ``write(i, exam_id, source, index,
    probs, decisions, error, members)`` per exam in order, then ``finish()`` (atomic) or ``abort()``.

    With an ensemble ``model`` the CSV adds min/max/agreement and each member's columns, and
    ``npy_members`` makes the .npy every member's (M, N, C); Parquet holds the mean."""
    suffix = out.suffix.lower()
    ensemble = model is not None and hasattr(model, "predict_members")
    try:
        if suffix == ".csv":
            if ensemble:
                return _CsvWriter(out, classes, model.member_names, model.member_thresholds)
            return _CsvWriter(out, classes)
        if suffix == ".npy":
            return _NpyWriter(out, n, len(classes), len(model.members) if ensemble and npy_members else 0)
        return _ParquetWriter(out, classes)
    except OSError as err:
        raise EcgViewerError(f"{out}: cannot write the output ({err.strerror or err})") from None


# --------------------------------------------------------------------------- streaming


@dataclass
class _Item:
    position: int
    exam_id: str
    source: str
    index: int
    x: np.ndarray | None
    error: str
    quality: str = ""
    withhold: bool = False


def _describe_exam(exams, i: int) -> tuple[str, str, int]:
    try:
        h = exams.header(i)
        return h.exam_id, str(h.source) if h.source is not None else "", int(h.index)
    except Exception:  # the header may be as unreadable as the exam
        return "", "", i


def iter_inputs(exams, prepare: Callable) -> Iterator[_Item]:
    """Read and preprocess one exam at a time; unreadable ones come with ``error`` set."""
    for i in range(len(exams)):
        try:
            exam = exams[i]
            x, report = prepare(exam)
            quality = report.quality
            yield _Item(
                i,
                exam.exam_id,
                str(exam.source) if exam.source is not None else "",
                exam.index,
                x,
                "",
                quality.note(),
                quality.withhold,
            )
        except EcgViewerError as err:
            exam_id, source, index = _describe_exam(exams, i)
            yield _Item(i, exam_id, source, index, None, str(err))


def predict_exams(
    model,
    exams,
    write: Callable[..., None],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> tuple[int, int]:
    """Stream ``exams`` through ``model`` in batches.

    ``write(i, exam_id, source, index, probs, decisions, error, quality, members=...)``
    is called once per exam, in order (``quality`` is the signal-quality note, "" when fine; the
    decisions of a non-signal are withheld, all False; ``members`` (M, C) for an ensemble, a model
    with ``predict_members``). One exam the model cannot take gets its error row; the others are
    scored. Memory holds one batch. Returns (n_ok, n_failed)."""
    from ecgviewer.errors import Cancelled

    n = len(exams)
    ensemble = hasattr(model, "predict_members")
    buf = np.empty((batch_size, model.n_samples, model.n_leads), dtype=np.float32)
    pending: list[_Item] = []
    ok = failed = done = 0

    def flush() -> None:
        nonlocal ok, failed, done
        ready = [item for item in pending if item.x is not None]

        def run(xb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
            if ensemble:
                m = model.predict_members(xb, batch_size=batch_size)
                return m.mean(axis=0, dtype=np.float64).astype(np.float32), m
            return model.predict(xb, batch_size=batch_size), None

        probs: list = []
        members: list = []
        try:
            if ready:
                p_all, m_all = run(buf[: len(ready)])
                probs = list(p_all)
                members = [None] * len(ready) if m_all is None else [m_all[:, j] for j in range(len(ready))]
        except ModelError:  # isolate the exam(s) at fault: score the batch one exam at a time
            probs, members = [], []
            for k, item in enumerate(ready):
                try:
                    p1, m1 = run(buf[k : k + 1])
                    probs.append(p1[0])
                    members.append(None if m1 is None else m1[:, 0])
                except ModelError as err:
                    probs.append(None)
                    members.append(None)
                    item.error = str(exam_error(item.source or None, item.exam_id, err))
        k = 0
        for item in pending:
            p = None
            if item.x is not None:
                p = probs[k]
                k += 1
            if p is None:
                write(item.position, item.exam_id, item.source, item.index, None, None, item.error, "")
                failed += 1
            else:
                decisions = model.decide(p)
                if item.withhold:
                    decisions = np.zeros_like(decisions)
                extra = {} if members[k - 1] is None else {"members": members[k - 1]}
                write(
                    item.position,
                    item.exam_id,
                    item.source,
                    item.index,
                    p,
                    decisions,
                    "",
                    item.quality,
                    **extra,
                )
                ok += 1
        done += len(pending)
        pending.clear()
        if progress is not None:
            progress(done, n)

    filled = 0
    for item in iter_inputs(exams, model.prepare):
        if cancel is not None and cancel():
            raise Cancelled(f"prediction cancelled after {done} of {n} exams")
        if item.x is not None:
            buf[filled] = item.x
            filled += 1
        pending.append(item)
        if filled == batch_size or len(pending) >= 4 * batch_size:
            flush()
            filled = 0
    if pending:
        flush()
    return ok, failed


@dataclass(frozen=True)
class PredictPartition:
    """The per-partition work of ``predict --cluster``: picklable, pure (a retry gives the same rows).

    Called on a worker with the partition's exams; the model is loaded once per worker process
    (``load_model`` caches it per file, provider and threads) and every exam goes through
    :func:`predict_exams`, as in a single-process run. Returns ``(i, exam_id, source, index, probs,
    decisions, error)`` per exam, ``i`` counting from 0 within the partition."""

    model: str | None
    prefer_cuda: bool = False
    threads: int = 1
    batch_size: int = 32

    def __call__(self, exams) -> list[tuple]:
        from ecgviewer.model.runtime import load_model

        model = load_model(self.model, prefer_cuda=self.prefer_cuda, threads=self.threads)
        rows: list[tuple] = []
        predict_exams(model, exams, lambda *row: rows.append(row), batch_size=self.batch_size)
        if [row[0] for row in rows] != list(
            range(len(exams))
        ):  # predict_exams writes each exam once, in order
            raise EcgViewerError("predict_exams returned rows out of order")
        return rows


def _predict_on_cluster(
    args: argparse.Namespace, exams, write: Callable[..., None], bar: ProgressBar
) -> None:
    """Score ``exams`` (opened here only to list them) on ``args.cluster``; ``write`` rows in input order."""
    try:
        from ecgviewer import cluster
    except ImportError:  # the frozen desktop build leaves the cluster layer out
        raise EcgViewerError('--cluster needs the cluster extra: pip install "ecgviewer[cluster]"') from None
    from ecgviewer.model.runtime import read_contract

    model = str(_cluster_model_path(args)) if args.model else None
    bundled = None
    if model is None:
        from ecgviewer.model.runtime import bundled_model_path

        contract, _ = read_contract(bundled_model_path())
        bundled = f"{contract.name} {contract.version}"
    fn = PredictPartition(
        model, prefer_cuda=not args.cpu, threads=args.threads or 1, batch_size=args.batch_size
    )
    for position, row in cluster.map_exams(
        args.cluster,
        exams,
        fn,
        exams_per_task=args.exams_per_task,
        fs=args.fs,
        units=args.units,
        model=model,
        bundled=bundled,
        progress=bar.update,
        log=None if args.quiet else lambda line: print(line, file=sys.stderr),
    ):
        write(position, *row[1:])  # row[0]: the position within its partition


def _cluster_model_path(args: argparse.Namespace) -> Path:
    """The one ``--model`` of a cluster run as an absolute path (workers resolve no installed names)."""
    from ecgviewer.model.ensemble import resolve_model

    return resolve_model(args.model[0]).absolute()


def _load(args: argparse.Namespace):
    """The model of ``--model``, an ensemble (several ``--model`` or ``--ensemble``), or the bundled one."""
    from ecgviewer.model.ensemble import load_ensemble, resolve_model, save_ensemble
    from ecgviewer.model.runtime import load_model

    refs = list(args.model or [])
    if args.ensemble and refs:
        raise ModelError("give either --ensemble NAME or --model (repeatable), not both")
    if args.save_ensemble:
        if len(refs) < 2:
            raise ModelError("--save-ensemble NAME needs at least two --model")
        saved = save_ensemble(args.save_ensemble, refs)
        if not args.quiet:
            print(f"saved ensemble '{args.save_ensemble}' ({len(refs)} models) as {saved}", file=sys.stderr)
    if args.ensemble:
        model = load_ensemble(args.ensemble, prefer_cuda=not args.cpu, threads=args.threads)
    elif len(refs) > 1:
        model = load_ensemble(refs, name=args.save_ensemble, prefer_cuda=not args.cpu, threads=args.threads)
    else:
        model = load_model(
            resolve_model(refs[0]) if refs else None, prefer_cuda=not args.cpu, threads=args.threads
        )
    if hasattr(model, "members") and not args.quiet:
        print(f"ensemble: {', '.join(model.member_names)}; {model.threshold_note}", file=sys.stderr)
    return model


def run(args: argparse.Namespace) -> int:
    from ecgviewer.io import NotAnExamError, open_exams
    from ecgviewer.model.runtime import read_contract

    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".npy", ".parquet"):
        raise ModelError(f"{out}: --out must end in .csv or .npy, or name a .parquet folder")
    if args.batch_size < 1:
        raise ModelError(f"--batch-size must be ≥ 1, got {args.batch_size}")
    if args.exams_per_task < 1:
        raise ModelError(f"--exams-per-task must be ≥ 1, got {args.exams_per_task}")
    if not out.parent.exists():
        raise ModelError(f"{out.parent}: the output folder does not exist")
    quiet = args.quiet
    if args.cluster:
        # the workers load the model; here only its contract (classes, name) is needed
        from ecgviewer.model.runtime import bundled_model_path

        if args.ensemble or args.save_ensemble or len(args.model or []) > 1 or args.npy_members:
            raise ModelError("--cluster scores one model; run ensembles without --cluster")
        path = _cluster_model_path(args) if args.model else bundled_model_path()
        contract, warnings = read_contract(path)
        classes = tuple(contract.classes)
        described = f"{contract.name} (version {contract.version}) on cluster {args.cluster}"
        model = None
    else:
        model = _load(args)
        warnings, classes, described = model.warnings, model.classes, model.describe()
        if args.npy_members and not (hasattr(model, "predict_members") and suffix == ".npy"):
            raise ModelError(
                "--npy-members needs an ensemble (several --model or --ensemble) and --out FILE.npy"
            )
    for w in warnings:
        print(f"ecgviewer: warning: {w}", file=sys.stderr)
    exams = open_exams(args.paths, fs=args.fs, units=args.units)
    try:
        n = len(exams)
        # files that hold no ECG (a model, a label table) are ignored quietly; damaged exams are reported
        damaged = [err for err in exams.errors if not isinstance(err, NotAnExamError)]
        ignored = len(exams.errors) - len(damaged)
        for err in damaged:
            print(f"ecgviewer: skipped {err}", file=sys.stderr)
        if ignored and not quiet:
            print(f"ecgviewer: ignored {ignored} file(s) that hold no ECG", file=sys.stderr)
        if n == 0:
            raise ModelError("no readable exams in " + ", ".join(map(str, args.paths)))
        if not quiet:
            print(f"{described}: {n} exams, batch {args.batch_size}", file=sys.stderr)
        writer = open_writer(out, classes, n, model=model, npy_members=args.npy_members)
        bar = ProgressBar(n, enabled=not quiet)
        start = time.perf_counter()
        shown = 0
        ok = failed = 0

        flagged = 0

        def write(i, exam_id, source, index, probs, decisions, error="", quality="", members=None):
            nonlocal shown, ok, failed, flagged
            flagged += bool(quality)
            if error:
                failed += 1
            else:
                ok += 1
            if (error or quality) and not quiet and shown < 5:
                shown += 1
                lead = "\n" if bar.tty else ""
                what = f"not predicted: {error}" if error else quality
                print(f"{lead}ecgviewer: exam {i} ({exam_id or source}): {what}", file=sys.stderr)
            writer.write(i, exam_id, source, index, probs, decisions, error, quality, members)

        try:
            if args.cluster:
                _predict_on_cluster(args, exams, write, bar)
            else:
                predict_exams(model, exams, write, batch_size=args.batch_size, progress=bar.update)
            writer.finish()
        except OSError as err:
            writer.abort()
            raise EcgViewerError(f"{out}: cannot write the output ({err.strerror or err})") from None
        except BaseException:
            writer.abort()
            raise
        finally:
            bar.close()
        seconds = time.perf_counter() - start
    finally:
        exams.close()
    if not quiet:
        where = "NaN rows" if suffix == ".npy" else "see the 'error' column"
        print(
            f"wrote {out}: {ok} exams in {seconds:.1f} s ({ok / seconds if seconds else 0:.1f} exams/s)"
            + (f"; {failed} could not be read ({where})" if failed else "")
            + (f"; {flagged} of unreliable signal quality (the 'quality' column)" if flagged else ""),
            file=sys.stderr,
        )
    return 1 if failed or damaged else 0
