"""``ecgviewer measure PATH... --out FILE.csv``: global measurements, one row per exam."""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ecgviewer.commands import add_cluster_options, add_paths, add_reading_options
from ecgviewer.errors import EcgViewerError
from ecgviewer.exam import Exam
from ecgviewer.measure import CSV_COLUMNS, measure

NAME = "measure"
HELP = (
    "Measure every exam in the given files and folders (heart rate, RR SD and regularity, PR, P, "
    "QRS, QT, QTc by Bazett and Fridericia, frontal P/QRS/T axes, beats used) and write one CSV row "
    "per exam. Empty cells are values that could not be measured; the note says why. Exit status 1 "
    "when some exams could not be read or measured (they get a row with the note)."
)


def register(parser: argparse.ArgumentParser) -> None:
    add_paths(parser)
    parser.add_argument("--out", required=True, metavar="FILE.csv", help="output CSV (written atomically)")
    add_reading_options(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress or summary on stderr")
    add_cluster_options(parser, "measure", "ADDRESS", note=" (the 'cluster' extra; see predict --cluster)")


def measure_exam(exam: Exam) -> dict[str, str]:
    """One CSV row (:data:`ecgviewer.measure.CSV_COLUMNS`) for one exam; never raises on a poor signal."""
    source = str(exam.source) if exam.source is not None else ""
    return measure(exam).as_row(exam_id=exam.exam_id, source=source)


def error_row(exam_id: str, source: str, note: str) -> dict[str, str]:
    """The row of an exam that could not be read or measured: ids and the note, other cells empty."""
    row = dict.fromkeys(CSV_COLUMNS, "")
    row.update(exam_id=exam_id, source=source, note=note)
    return row


def measure_exams(
    exams, write: Callable[[dict[str, str]], None], progress: Callable[[int, int], None] | None = None
) -> tuple[int, int]:
    """Measure each exam of an :class:`~ecgviewer.io.ExamSet` in order; ``write(row)`` per exam.

    Returns (n_measured, n_failed); an exam fails when it cannot be read or measures nothing."""
    ok = failed = 0
    n = len(exams)
    for i in range(n):
        try:
            exam = exams[i]
        except EcgViewerError as err:
            try:
                h = exams.header(i)
                ids = (h.exam_id, str(h.source) if h.source is not None else "")
            except Exception:  # the header may be as unreadable as the exam
                ids = ("", "")
            write(error_row(*ids, f"not read: {err}"))
            failed += 1
        else:
            try:
                row = measure_exam(exam)
            except Exception as err:  # a defect must not lose the other exams' rows
                row = error_row(
                    exam.exam_id, str(exam.source or ""), f"not measured: {type(err).__name__}: {err}"
                )
            write(row)
            if row["n_beats"] in ("", "0"):
                failed += 1
            else:
                ok += 1
        if progress is not None:
            progress(i + 1, n)
    return ok, failed


@dataclass(frozen=True)
class MeasurePartition:
    """The per-partition work of ``measure --cluster``: picklable and pure (a retry gives the same rows)."""

    def __call__(self, exams) -> list[dict[str, str]]:
        rows: list[dict[str, str]] = []
        measure_exams(exams, rows.append)
        return rows


def _measure_on_cluster(
    args: argparse.Namespace, exams, write: Callable[[dict[str, str]], None], bar
) -> tuple[int, int]:
    """Measure ``exams`` on ``args.cluster``; ``write`` rows in input order. Returns (ok, failed)."""
    try:
        from ecgviewer import cluster
    except ImportError:  # the frozen desktop build leaves the cluster layer out
        raise EcgViewerError('--cluster needs the cluster extra: pip install "ecgviewer[cluster]"') from None
    ok = failed = 0
    for _position, row in cluster.map_exams(
        args.cluster,
        exams,
        MeasurePartition(),
        exams_per_task=args.exams_per_task,
        fs=args.fs,
        units=args.units,
        progress=bar.update,
        log=None if args.quiet else lambda line: print(line, file=sys.stderr),
    ):
        write(row)
        if row["n_beats"] in ("", "0"):
            failed += 1
        else:
            ok += 1
    return ok, failed


def run(args: argparse.Namespace) -> int:
    from ecgviewer.commands.predict import ProgressBar
    from ecgviewer.io import NotAnExamError, open_exams

    out = Path(args.out)
    if out.suffix.lower() != ".csv":
        raise EcgViewerError(f"{out}: --out must end in .csv")
    if not out.parent.exists():
        raise EcgViewerError(f"{out.parent}: the output folder does not exist")
    if args.exams_per_task < 1:
        raise EcgViewerError(f"--exams-per-task must be ≥ 1, got {args.exams_per_task}")
    exams = open_exams(args.paths, fs=args.fs, units=args.units)
    try:
        damaged = [err for err in exams.errors if not isinstance(err, NotAnExamError)]
        for err in damaged:
            print(f"ecgviewer: skipped {err}", file=sys.stderr)
        n = len(exams)
        if n == 0 and not damaged:
            raise EcgViewerError("no readable exams in " + ", ".join(map(str, args.paths)))
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(CSV_COLUMNS))
                writer.writeheader()
                for err in damaged:  # files that could not be opened get their row too
                    writer.writerow(error_row("", str(getattr(err, "path", "") or ""), f"not read: {err}"))
                bar = ProgressBar(n, enabled=not args.quiet)
                try:
                    if args.cluster:
                        ok, failed = _measure_on_cluster(args, exams, writer.writerow, bar)
                    else:
                        ok, failed = measure_exams(exams, writer.writerow, progress=bar.update)
                finally:
                    bar.close()
            os.replace(tmp, out)
        except OSError as err:
            raise EcgViewerError(f"{out}: cannot write the output ({err.strerror or err})") from None
        finally:
            tmp.unlink(missing_ok=True)
    finally:
        exams.close()
    if not args.quiet:
        print(
            f"wrote {out}: {ok} exams measured"
            + (f"; {failed + len(damaged)} not (see the note)" if failed or damaged else ""),
            file=sys.stderr,
        )
    return 1 if failed or damaged else 0
