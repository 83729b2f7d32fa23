"""``ecgviewer convert PATH... --out FILE.hdf5``: the paper's input layout for any exams."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ecgviewer.errors import ExamReadError
from ecgviewer.io import NotAnExamError, open_exams
from ecgviewer.io.export import write_code_hdf5

NAME = "convert"
HELP = (
    "Convert ECG files or folders to the HDF5 layout of Ribeiro et al. (2020): `tracings` "
    "(N, 4096, 12) float32 in mV at 400 Hz and `exam_id`, readable by the paper's predict.py."
)


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="ECG files or folders (recursed)")
    parser.add_argument("--out", required=True, metavar="FILE.hdf5", help="output file (written atomically)")
    parser.add_argument("--fs", type=float, metavar="HZ", help="sampling rate for files that state none")
    parser.add_argument("--units", metavar="UNIT", help="units for files stating none: mV, uV, V, '1e-4 V'")
    parser.add_argument(
        "--start",
        type=float,
        metavar="SECONDS",
        help="for recordings over 10.24 s, start of the kept window (default: centred)",
    )


def run(args: argparse.Namespace) -> int:
    exams = open_exams([Path(p) for p in args.paths], fs=args.fs, units=args.units)
    problems = 0
    with exams:
        for err in exams.errors:
            if isinstance(err, NotAnExamError):
                print(f"skipped (no ECG): {err}", file=sys.stderr)
            else:
                problems += 1
                print(f"skipped: {err}", file=sys.stderr)
        if len(exams) == 0:
            raise ExamReadError(Path(args.paths[0]), "no ECG exams found")
        last = [0]

        def progress(done: int, total: int) -> None:
            if sys.stderr.isatty() and (done - last[0] >= 500 or done == total):
                last[0] = done
                print(f"\r{done}/{total} exams", end="" if done < total else "\n", file=sys.stderr)

        result = write_code_hdf5(exams, args.out, start_s=args.start, progress=progress)
    for err in result.failures:
        problems += 1
        print(f"skipped: {err}", file=sys.stderr)
    print(
        f"wrote {result.written} exams to {result.path} "
        f"(tracings {result.written}×4096×12 float32, mV, 400 Hz)"
    )
    return 1 if problems else 0
