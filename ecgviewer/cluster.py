"""Scoring an archive on a Dask cluster: partitions of exams, mapped by workers, gathered in input order.

The layer knows nothing about what is computed per exam. A job is:

1. :func:`plan_partitions` splits the exams of files and folders (as :func:`ecgviewer.io.open_exams` lists
   them) into :class:`Partition` s: whole small files grouped together, large multi-exam files (HDF5) cut
   into exam ranges of about ``exams_per_partition``.
2. :func:`connect` opens a :class:`distributed.Client` on ``local:N`` (a loopback ``LocalCluster`` of N
   worker processes, one thread each) or on the address of a running ``dask scheduler``.
3. :func:`check_workers_see` asks every worker to stat every input file, and fails naming the path and
   the worker when one cannot read it.
4. :func:`map_partitions` submits ``fn`` once per partition and yields ``(partition, rows)`` strictly in
   partition order. On the worker, ``fn`` receives a :class:`PartitionExams` (the ``ExamSet`` interface
   over the partition's exams, opened read-only by that worker) and returns one row per exam, in order.
   ``fn`` must be picklable and pure (a retried task must give the same rows): Dask re-runs the tasks
   of a worker that died (``retries`` more times after an exception), and each partition's rows are
   taken exactly once.

``distributed`` is imported only by :func:`connect` (the ``cluster`` extra); the desktop app never
imports this module.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ecgviewer.errors import EcgViewerError, ExamReadError
from ecgviewer.exam import Exam, ExamHeader

DEFAULT_EXAMS_PER_PARTITION = 512
INSTALL_HINT = 'pip install "ecgviewer[cluster]"'


class ClusterError(EcgViewerError):
    """The cluster cannot run the job: not installed, unreachable, an unseen file, a failed task."""


# --------------------------------------------------------------------------- partitions


@dataclass(frozen=True)
class Segment:
    """Exams ``start:stop`` of one file.

    ``path`` is absolute (what workers open); ``shown`` is the path as the single-process run names it
    (relative when the user gave a relative path), so that rows read the same either way.
    """

    path: str
    shown: str
    start: int
    stop: int


@dataclass(frozen=True)
class Partition:
    """One task: consecutive exams (global positions ``first : first + n_exams``) from one or more files."""

    index: int
    first: int
    segments: tuple[Segment, ...]
    fs: float | None = None
    units: str | None = None

    @property
    def n_exams(self) -> int:
        return sum(s.stop - s.start for s in self.segments)

    def describe(self) -> str:
        """e.g. ``archive.h5 exams 512–1023`` or ``3 files from a/1.hea to a/3.hea``."""
        if len(self.segments) == 1:
            s = self.segments[0]
            return f"{s.shown} exams {s.start}–{s.stop - 1}"
        return f"{len(self.segments)} files from {self.segments[0].shown} to {self.segments[-1].shown}"


def plan_partitions(
    sources: Sequence[tuple[str | os.PathLike, int]],
    *,
    exams_per_partition: int = DEFAULT_EXAMS_PER_PARTITION,
    fs: float | None = None,
    units: str | None = None,
) -> list[Partition]:
    """Cut ``(file, n_exams)`` pairs, in order, into partitions of at most ``exams_per_partition`` exams.

    A file with more exams than that is split into equal ranges (each ≤ ``exams_per_partition``); smaller
    files are grouped whole, in order, until a partition is full. Global positions follow the input order.
    """
    if exams_per_partition < 1:
        raise ValueError(f"exams_per_partition must be ≥ 1, got {exams_per_partition}")
    parts: list[Partition] = []
    pending: list[Segment] = []
    first = 0  # global position of the first exam of ``pending``
    position = 0

    def close_pending() -> None:
        nonlocal pending, first
        if pending:
            parts.append(Partition(len(parts), first, tuple(pending), fs, units))
        pending = []
        first = position

    for path, n in sources:
        n = int(n)
        if n <= 0:
            continue
        seg_path, shown = str(Path(path).absolute()), str(path)
        if n > exams_per_partition:
            close_pending()
            k = -(-n // exams_per_partition)  # ceil: ranges of nearly equal size
            bounds = [round(j * n / k) for j in range(k + 1)]
            for a, b in itertools.pairwise(bounds):
                parts.append(
                    Partition(len(parts), position + a, (Segment(seg_path, shown, a, b),), fs, units)
                )
            position += n
            first = position
            continue
        if sum(s.stop - s.start for s in pending) + n > exams_per_partition:
            close_pending()
        pending.append(Segment(seg_path, shown, 0, n))
        position += n
    close_pending()
    return parts


class PartitionExams(Sequence[Exam]):
    """The exams of one partition, read on demand by the worker (the interface of ``ExamSet``).

    ``exams[i]`` (``i`` local to the partition) raises :class:`ExamReadError` for a bad exam, as
    ``ExamSet`` does; a file that cannot be opened makes each of its exams raise that error.
    """

    def __init__(self, partition: Partition) -> None:
        self.partition = partition
        self.errors: list[ExamReadError] = []
        self._starts: list[int] = []
        total = 0
        for seg in partition.segments:
            self._starts.append(total)
            total += seg.stop - seg.start
        self._len = total
        self._sources: dict[int, Any] = {}

    def __len__(self) -> int:
        return self._len

    def _locate(self, i: int) -> tuple[Segment, Any, int]:
        import bisect

        if not 0 <= i < self._len:
            raise IndexError(f"exam {i} out of range: {self._len} exams in this partition")
        k = bisect.bisect_right(self._starts, i) - 1
        seg = self.partition.segments[k]
        if k not in self._sources:
            from ecgviewer.io.registry import open_source

            try:
                self._sources[k] = open_source(
                    Path(seg.path), fs=self.partition.fs, units=self.partition.units
                )
            except ExamReadError as err:
                self._sources[k] = err
        return seg, self._sources[k], seg.start + i - self._starts[k]

    @staticmethod
    def _shown(seg: Segment, source: Path | None) -> Path | None:
        if source is not None and str(source) == seg.path and seg.shown != seg.path:
            return Path(seg.shown)
        return source

    def __getitem__(self, i: int) -> Exam:  # type: ignore[override]
        seg, src, j = self._locate(int(i))
        if isinstance(src, ExamReadError):
            raise src
        exam = src.read(j)
        shown = self._shown(seg, exam.source)
        return exam if shown is exam.source else replace(exam, source=shown)

    def header(self, i: int) -> ExamHeader:
        seg, src, j = self._locate(int(i))
        if isinstance(src, ExamReadError):
            return ExamHeader("", Path(seg.shown), "", j, 0.0, 0)
        h = src.header(j)
        shown = self._shown(seg, h.source)
        return h if shown is h.source else replace(h, source=shown)

    def close(self) -> None:
        for src in self._sources.values():
            if not isinstance(src, ExamReadError):
                src.close()
        self._sources.clear()

    def __enter__(self) -> PartitionExams:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_partition(fn: Callable[[PartitionExams], list], partition: Partition) -> list:
    """Worker side of one task: open the partition, apply ``fn``, check it gave one row per exam."""
    with PartitionExams(partition) as exams:
        rows = list(fn(exams))
    if len(rows) != partition.n_exams:
        raise ClusterError(
            f"partition {partition.index} ({partition.describe()}): {len(rows)} rows for "
            f"{partition.n_exams} exams"
        )
    return rows


# --------------------------------------------------------------------------- the cluster


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise ClusterError(f"--cluster needs Dask distributed: {INSTALL_HINT}") from None
    return distributed


@contextlib.contextmanager
def connect(spec: str, *, timeout_s: float = 60.0) -> Iterator[Any]:
    """A :class:`distributed.Client` for ``spec``; the client (and a local cluster) are closed on exit.

    ``spec``: ``local:N`` for N worker processes on this machine (one thread each, loopback only, no
    dashboard), or a scheduler address such as ``tcp://host:8786``.
    """
    distributed = _import_distributed()
    import logging

    cluster = None
    if spec.startswith("local:"):
        try:
            n = int(spec.split(":", 1)[1])
        except ValueError:
            n = 0
        if n < 1:
            raise ClusterError(f"--cluster {spec}: expected local:N with N ≥ 1 worker processes")
        with warnings.catch_warnings():  # "Port 8787 is already in use": its status page moves elsewhere
            warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
            cluster = distributed.LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
        client = distributed.Client(cluster, timeout=timeout_s)
    else:
        address = spec if "://" in spec else f"tcp://{spec}"
        try:
            client = distributed.Client(address, timeout=timeout_s)
        except (OSError, TimeoutError) as err:
            raise ClusterError(
                f"--cluster {spec}: cannot reach a Dask scheduler there ({err}); start one with "
                "`dask scheduler` and workers with `dask worker tcp://HOST:8786 --nworkers N --nthreads 1`"
            ) from None
    try:
        if not client.scheduler_info().get("workers"):
            try:
                client.wait_for_workers(1, timeout=timeout_s)
            except TimeoutError:
                raise ClusterError(
                    f"--cluster {spec}: the scheduler has no workers (waited {timeout_s:g} s)"
                ) from None
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _stat_on_worker(paths: list[str], model: str | None) -> dict[str, Any]:
    """Run on each worker: the paths it cannot read (with the reason), its version and bundled model."""
    import ecgviewer

    unreadable: list[tuple[str, str]] = []
    for p in paths:
        try:
            os.stat(p)
            if not os.access(p, os.R_OK):
                unreadable.append((p, "permission denied"))
        except OSError as err:
            unreadable.append((p, err.strerror or str(err)))
    bundled = None
    if model is None:
        from ecgviewer.model.runtime import bundled_model_path, read_contract

        try:
            contract, _ = read_contract(bundled_model_path())
            bundled = f"{contract.name} {contract.version}"
        except EcgViewerError as err:
            bundled = f"missing ({err})"
    return {
        "unreadable": unreadable,
        "version": ecgviewer.__version__,
        "host": socket.gethostname(),
        "bundled": bundled,
    }


def check_workers_see(
    client: Any, paths: Sequence[str], *, model: str | None = None, bundled: str | None = None
) -> int:
    """Fail unless every worker can read every path (and runs this ecgviewer, with the same bundled model).

    ``model``: an explicit model file (checked like the inputs); ``None`` means each worker's bundled
    model, whose ``"name version"`` must equal ``bundled``. Returns the number of workers.
    """
    import ecgviewer

    wanted = list(dict.fromkeys(str(p) for p in paths))
    if model is not None:
        wanted.append(str(model))
    replies = client.run(_stat_on_worker, wanted, model)
    if not replies:
        raise ClusterError("the cluster has no workers")
    for worker, reply in sorted(replies.items()):
        where = f"worker {worker} (host {reply['host']})"
        if reply["unreadable"]:
            path, why = reply["unreadable"][0]
            more = len(reply["unreadable"]) - 1
            raise ClusterError(
                f"{path}: {where} cannot read it ({why})"
                + (f", nor {more} other input file(s)" if more else "")
                + "; inputs must be on a filesystem every worker sees, at the same path"
            )
        if reply["version"] != ecgviewer.__version__:
            raise ClusterError(
                f"{where} runs ecgviewer {reply['version']}, this machine {ecgviewer.__version__}; "
                "install the same version on every worker"
            )
        if model is None and bundled is not None and reply["bundled"] != bundled:
            raise ClusterError(
                f"{where} has bundled model {reply['bundled']}, this machine {bundled}; "
                "install the same ecgviewer everywhere or pass --model on a shared path"
            )
    return len(replies)


def map_partitions(
    client: Any,
    partitions: Sequence[Partition],
    fn: Callable[[PartitionExams], list],
    *,
    retries: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[tuple[Partition, list]]:
    """Run ``fn`` on every partition on the cluster; yield ``(partition, rows)`` in partition order.

    Results that arrive early wait (on this machine) until the partitions before them are done.
    ``progress(exams_done, exams_total)`` is called as partitions finish, in any order. A task that
    still fails after ``retries`` retries (or whose worker keeps dying) stops the job with a
    :class:`ClusterError` naming the partition. Each partition is yielded exactly once.
    """
    distributed = _import_distributed()
    total = sum(p.n_exams for p in partitions)
    if [p.index for p in partitions] != list(range(len(partitions))):
        raise ValueError("partitions must be numbered 0, 1, 2, … in order")
    job = uuid.uuid4().hex[:12]
    futures = [
        client.submit(
            run_partition, fn, p, retries=retries, pure=False, key=f"ecgviewer-{job}-part-{p.index}"
        )
        for p in partitions
    ]
    which = {f.key: p for f, p in zip(futures, partitions, strict=True)}
    waiting: dict[int, list] = {}
    next_index = done = 0
    if progress is not None:
        progress(0, total)
    try:
        for future in distributed.as_completed(futures):
            part = which[future.key]
            try:
                rows = future.result()
            except EcgViewerError as err:  # e.g. the model cannot be loaded on that worker
                raise ClusterError(f"partition {part.index} ({part.describe()}): {err}") from None
            except Exception as err:
                raise ClusterError(
                    f"partition {part.index} ({part.describe()}) failed on the cluster: "
                    f"{type(err).__name__}: {err}"
                ) from None
            future.release()
            if part.index in waiting or part.index < next_index:
                raise ClusterError(f"partition {part.index} came back twice")
            waiting[part.index] = rows
            done += part.n_exams
            if progress is not None:
                progress(done, total)
            while next_index in waiting:
                yield partitions[next_index], waiting.pop(next_index)
                next_index += 1
    finally:
        client.cancel([f for f in futures if not f.done()])
    if next_index != len(partitions) or waiting:
        raise ClusterError(f"only {next_index} of {len(partitions)} partitions came back")


def map_exams(
    spec: str,
    exams: Any,
    fn: Callable[[PartitionExams], list],
    *,
    exams_per_task: int = DEFAULT_EXAMS_PER_PARTITION,
    fs: float | None = None,
    units: str | None = None,
    model: str | None = None,
    bundled: str | None = None,
    retries: int = 2,
    progress: Callable[[int, int], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> Iterator[tuple[int, Any]]:
    """A whole job: yield ``(position, row)`` for every exam of ``exams``, in input order, scored on ``spec``.

    ``exams``: the :class:`~ecgviewer.io.ExamSet` of the inputs (opened here only to list its files;
    ``exams.sources`` in order). ``fn``: the picklable per-partition function (see :func:`map_partitions`).
    Plans the partitions, connects (:func:`connect`), checks that every worker reads every file (and
    ``model``; ``bundled`` as in :func:`check_workers_see`), runs the tasks and checks that the positions
    come back without gap or repeat. ``log`` receives one line about the cluster.
    """
    parts = plan_partitions(
        [(src.path, src.n_exams) for src in exams.sources],
        exams_per_partition=exams_per_task,
        fs=fs,
        units=units,
    )
    with connect(spec) as client:
        n_workers = check_workers_see(
            client, [seg.path for p in parts for seg in p.segments], model=model, bundled=bundled
        )
        if log is not None:
            log(f"cluster {spec}: {n_workers} worker{'s' if n_workers != 1 else ''}, {len(parts)} tasks")
        position = 0  # every exam exactly once, in input order: no gap, no repeat
        for part, rows in map_partitions(client, parts, fn, retries=retries, progress=progress):
            if part.first != position:
                raise ClusterError(f"partition {part.index} ({part.describe()}) is out of place")
            for row in rows:
                yield position, row
                position += 1
    if position != len(exams):
        raise ClusterError(f"{position} of {len(exams)} exams came back from the cluster")
