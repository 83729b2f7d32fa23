"""``ecgviewer info PATH...``: one line per exam (id, format, rate, duration, leads, labels, lead II
amplitude), then its reading notes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ecgviewer.errors import EcgViewerError, ExamReadError
from ecgviewer.exam import Exam, ExamHeader
from ecgviewer.io import NotAnExamError, open_exams
from ecgviewer.leads import LEADS

NAME = "info"
HELP = (
    "List the exams in ECG files or folders: id, format, sampling rate, duration, leads and the "
    "labels the file carries, the typical lead II QRS peak-to-peak amplitude, and the reading notes. "
    "Files that cannot be read are reported and skipped."
)


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="ECG files or folders (recursed)")
    parser.add_argument(
        "--fs",
        type=float,
        metavar="HZ",
        help="sampling rate for files that state none (CSV, generic HDF5; default 500 Hz)",
    )
    parser.add_argument(
        "--units",
        metavar="UNIT",
        help="units for files that state none: mV, uV, V or '1e-4 V' (default: inferred)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="read headers only (no samples read, so damaged samples are not detected)",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="also print the reading notes and what preprocessing for the network does",
    )


def format_leads(leads: tuple[str, ...]) -> str:
    """ "I,II,III,aVR,aVL,aVF,V1–V6" style: consecutive precordial leads are shortened."""
    names = list(leads)
    if all(f"V{i}" in names for i in range(1, 7)):
        k = names.index("V1")
        if names[k : k + 6] == [f"V{i}" for i in range(1, 7)]:
            names[k : k + 6] = ["V1–V6"]
    return ",".join(names)


def format_labels(raw: dict) -> str:
    def value(v: object) -> str:
        return ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)

    return " ".join(f"{k}={value(v)}" for k, v in raw.items())


def exam_line(item: Exam | ExamHeader, shown_path: str) -> str:
    """One line: path, id, format, rate, duration, leads, age/sex, labels."""
    parts = [
        shown_path,
        item.exam_id or "-",
        item.format,
        f"{item.fs:g} Hz",
        f"{item.duration_s:.2f} s",
        f"{len(item.leads)} leads " + format_leads(item.leads),
    ]
    demo = " ".join(x for x in (f"{item.age:g} y" if item.age is not None else "", item.sex or "") if x)
    if demo:
        parts.append(demo)
    if isinstance(item, Exam) and item.raw_labels:
        parts.append(format_labels(item.raw_labels))
    if isinstance(item, Exam) and "II" in item.leads:
        from ecgviewer.clinical import qrs_peak_to_peak_mv

        pp = qrs_peak_to_peak_mv(item.lead("II"), item.fs)
        if pp is not None:
            parts.append(f"II {pp:.2f} mV p-p")
    return "  ".join(parts)


def _shown(path: Path | None, base: Path) -> str:
    if path is None:
        return "-"
    try:
        return str(path.relative_to(base)) if base.is_dir() else str(path)
    except ValueError:
        return str(path)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def run(args: argparse.Namespace) -> int:
    out = sys.stdout
    n_exams = n_files = n_failed = n_no_ecg = 0
    for arg in args.paths:
        base = Path(arg)
        try:
            exams = open_exams(base, fs=args.fs, units=args.units)
        except ExamReadError as err:
            kind = "no ECG" if isinstance(err, NotAnExamError) else "error"
            print(f"{kind}: {err}", file=sys.stderr)
            n_failed += 1
            continue
        with exams:
            n_files += len(exams.sources)
            for src in exams.sources:
                shown = _shown(Path(src.path), base)
                failed = False
                for j in range(src.n_exams):
                    try:
                        item: Exam | ExamHeader = src.header(j) if args.quick else src.read(j)
                        print(exam_line(item, shown), file=out)
                        n_exams += 1
                        if isinstance(item, Exam):
                            for note in item.notes:
                                print(f"    note: {note}", file=out)
                        if args.report and isinstance(item, Exam):
                            from ecgviewer.preprocess import to_model_input

                            _x, report = to_model_input(item)
                            for line in report.describe():
                                print(f"    {line}", file=out)
                    except EcgViewerError as err:
                        print(f"error: {err}", file=sys.stderr)
                        failed = True
                n_failed += failed
            for err in exams.errors:
                if isinstance(err, NotAnExamError):
                    n_no_ecg += 1
                    print(f"no ECG: {err}", file=sys.stderr)
                else:
                    n_failed += 1
                    print(f"error: {err}", file=sys.stderr)
    summary = f"{_count(n_exams, 'exam')} in {_count(n_files, 'file')}"
    if n_no_ecg:
        summary += f"; {_count(n_no_ecg, 'file')} " + ("holds" if n_no_ecg == 1 else "hold") + " no ECG"
    if n_failed:
        summary += f"; {_count(n_failed, 'file')} could not be read (see above)"
    if n_exams == 0:
        summary += "; nothing to open"
    print(summary, file=sys.stderr)
    return 1 if n_failed or n_exams == 0 else 0


__all__ = ["HELP", "LEADS", "NAME", "exam_line", "format_leads", "register", "run"]
