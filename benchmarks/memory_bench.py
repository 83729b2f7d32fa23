"""Memory over a long run: open and preprocess 1,000 exams in a row in one process.

    PYTHONPATH=$PWD python benchmarks/memory_bench.py [--exams 1000] [--formats wfdb,csv,hdf5]

The exams are generated in a temporary folder (removed at the end), a mix of WFDB, CSV and
per-record HDF5 files, each opened on its own (``open_exams`` → read → quality check →
``to_model_input``), as a folder batch or a viewer session would. Prints the resident set size
(RSS, from /proc) after the first 100 exams (the baseline: imports, caches and allocator pools
warmed) and at the end; the growth between them is what a leak would show.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.hostile.corpus import csv, ecg, h5, wfdb_pair


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exams", type=int, default=1000)
    parser.add_argument("--formats", default="wfdb,csv,hdf5")
    args = parser.parse_args()
    from ecgviewer.io import open_exams
    from ecgviewer.preprocess import to_model_input

    formats = args.formats.split(",")
    work = Path(tempfile.mkdtemp(prefix="ecgviewer-memory-"))
    try:
        files: list[Path] = []
        distinct = 50  # written once, read in turn: the run measures reading, not the disk
        for k in range(distinct):
            fmt = formats[k % len(formats)]
            sig = ecg(500, 10, seed=k)
            d = work / f"e{k}"
            d.mkdir()
            if fmt == "wfdb":
                files.append(wfdb_pair(d, f"r{k}", sig))
            elif fmt == "csv":
                files.append(csv(d / f"e{k}.csv", sig))
            else:
                files.append(h5(d / f"e{k}.h5", sig.T.astype("f4"), name="ecg"))
        start = time.perf_counter()
        baseline = None
        for i in range(args.exams):
            with open_exams(files[i % distinct]) as exams:
                exam = exams[0]
                x, report = to_model_input(exam)
                assert x.shape == (4096, 12) and not report.quality.unreliable
            del exam, x, report
            if i + 1 == 100:
                gc.collect()
                baseline = rss_mb()
                print(f"after 100 exams: RSS {baseline:.1f} MB")
        gc.collect()
        end = rss_mb()
        seconds = time.perf_counter() - start
        print(f"after {args.exams} exams: RSS {end:.1f} MB ({seconds:.1f} s, {args.exams / seconds:.0f}/s)")
        if baseline is not None:
            print(
                f"growth after the first 100: {end - baseline:+.1f} MB ({end / baseline:.3f} × the baseline)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
