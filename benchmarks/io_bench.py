"""Reading speed: time per exam to open + preprocess for each format, and the lazy 20,000-exam HDF5.

    python benchmarks/io_bench.py [--exams 20000] [--per-format 40] [--clinical DIR] [--no-big]

Everything is generated in a temporary folder (removed at the end):

* WFDB (500 Hz, 10 s, format 16), CSV (500 Hz, 10 s, mV, no header), HDF5 per-record (SPH
  ``ecg`` layout) and one exam of a multi-exam CODE file: each timed as ``read_exam`` +
  ``to_model_input`` per exam. The baseline is ``to_model_input`` alone on an exam already in
  memory, so "× baseline" says what reading adds.
* A CODE-layout file with ``--exams`` exams of 4096 × 12 float32 (20,000 → 3.9 GB on disk),
  opened and read at 100 random positions in a fresh process that reports its peak RSS; the
  baseline is the peak RSS of a fresh process that only imports ``ecgviewer.io``.

The big file was just written, so it is probably in the page cache: reads are from memory.

* Clinical formats: self-made GE MUSE XML and DICOM files (written from the generated exams) and,
  per file, every sample of ``--clinical`` (default ``../shared/data/clinical`` when present):
  ``read_exam`` (parse + conversion to mV, the readers' cache cleared each time), median of 5,
  against the WFDB per-exam read of the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import wfdb

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from ecgviewer.exam import Exam  # noqa: E402
from ecgviewer.io import read_exam  # noqa: E402
from ecgviewer.leads import LEADS  # noqa: E402
from ecgviewer.preprocess import to_model_input  # noqa: E402

CHILD = r"""
import json, resource, sys, time
import numpy as np


def rss_mb(field="VmRSS:"):
    # /proc rather than getrusage: ru_maxrss survives exec, so it would report the parent's peak
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


t0 = time.perf_counter()
from ecgviewer.io import open_exams
t_import = time.perf_counter() - t0
path = sys.argv[1]
out = {"import_s": t_import, "rss_after_import_mb": rss_mb()}
if path != "-":
    t0 = time.perf_counter()
    exams = open_exams(path)
    out["open_s"] = time.perf_counter() - t0
    out["n"] = len(exams)
    rng = np.random.default_rng(0)
    picks = rng.choice(len(exams), 100, replace=False)
    t0 = time.perf_counter()
    total = 0.0
    for i in picks:
        total += float(exams[int(i)].signal_mv[0, 0])
    out["read100_s"] = time.perf_counter() - t0
    out["index_of_s"] = 0.0
    t0 = time.perf_counter()
    exams.index_of(exams.header(len(exams) - 1).exam_id)
    out["index_of_s"] = time.perf_counter() - t0
    out["rss_after_reads_mb"] = rss_mb()
    exams.close()
out["peak_rss_mb"] = rss_mb("VmHWM:")
print(json.dumps(out))
"""


def ecg(fs: float, seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(fs * seconds)) / fs
    base = np.sin(2 * np.pi * 1.2 * t)[:, None] * rng.uniform(0.2, 1.5, 12)
    return base + 0.05 * rng.standard_normal((t.size, 12))


def per_exam(paths: list[Path], multi: bool = False) -> float:
    """Mean seconds per exam of read_exam + to_model_input (exam k of the file when ``multi``)."""
    start = time.perf_counter()
    for k, p in enumerate(paths):
        to_model_input(read_exam(p, k if multi else 0))
    return (time.perf_counter() - start) / len(paths)


def parse_time(path: Path, repeats: int = 5) -> float:
    """Median seconds of ``read_exam(path)`` with the clinical readers' cache emptied each time."""
    from ecgviewer.io import clinical

    times = []
    for _ in range(repeats):
        clinical._CACHE.clear()
        start = time.perf_counter()
        read_exam(path)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def clinical_bench(tmp: Path, mem: list[Exam], folder: Path | None, wfdb_s: float) -> None:
    """Per-file parse time of the clinical readers, against the WFDB read of the same run."""
    from ecgviewer.errors import ExamReadError
    from ecgviewer.io.clinical_samples import write_dicom_ecg, write_muse_xml

    files = [write_muse_xml(mem[0], tmp / "self.xml"), write_dicom_ecg(mem[0], tmp / "self.dcm")]
    if folder is not None:
        files += sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() != ".md")
    print(f"\nClinical files, read_exam per file (median of 5; WFDB baseline {wfdb_s * 1e3:.2f} ms/exam):")
    for path in files:
        shown = path.name if path.parent == tmp else str(path.relative_to(folder))
        try:
            sec = parse_time(path)
        except ExamReadError as err:
            print(f"  {shown:<52} refused: {err.problem[:60]}")
            continue
        kb = path.stat().st_size / 1024
        print(f"  {shown:<52} {sec * 1e3:7.2f} ms  ({sec / wfdb_s:5.1f} × WFDB)  {kb:6.0f} kB")


def child(path: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run(
        [sys.executable, "-c", CHILD, path], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exams", type=int, default=20_000, help="exams in the big CODE file (default 20000)")
    ap.add_argument("--per-format", type=int, default=40, help="files per format for the per-exam timings")
    default_clinical = REPO.parent / "shared" / "data" / "clinical"
    ap.add_argument(
        "--clinical",
        type=Path,
        default=default_clinical if default_clinical.is_dir() else None,
        help="folder of clinical sample files timed one by one (default ../shared/data/clinical)",
    )
    ap.add_argument("--no-big", action="store_true", help="skip the big multi-exam HDF5 file")
    args = ap.parse_args()
    n = args.per_format
    with tempfile.TemporaryDirectory(prefix="ecgviewer-io-bench-") as tmp_name:
        tmp = Path(tmp_name)
        wfdb_paths, csv_paths, sph_paths = [], [], []
        for i in range(n):
            sig = ecg(500, 10, i)
            wfdb.wrsamp(
                f"r{i:03d}",
                fs=500,
                units=["mV"] * 12,
                sig_name=list(LEADS),
                p_signal=sig,
                fmt=["16"] * 12,
                adc_gain=[1000.0] * 12,
                baseline=[0] * 12,
                comments=["Age: 50", "Sex: Male", "Dx: 426783006"],
                write_dir=str(tmp),
            )
            wfdb_paths.append(tmp / f"r{i:03d}.hea")
            csv_path = tmp / f"c{i:03d}.csv"
            np.savetxt(csv_path, sig, delimiter=",", fmt="%.5f")
            csv_paths.append(csv_path)
            sph = tmp / f"SPH{i:05d}.h5"
            with h5py.File(sph, "w") as h:
                h.create_dataset("ecg", data=sig.T.astype(np.float16), chunks=(3, 1250), compression="gzip")
            sph_paths.append(sph)
        code = tmp / "code_small.hdf5"
        with h5py.File(code, "w") as h:
            h["tracings"] = np.stack(
                [np.resize(ecg(400, 10.24, i), (4096, 12)) * 10 for i in range(n)]
            ).astype(np.float32)

        # baseline: preprocessing alone, exam already in memory
        mem = [Exam(ecg(500, 10, i).astype(np.float32), 500.0) for i in range(n)]
        start = time.perf_counter()
        for exam in mem:
            to_model_input(exam)
        base = (time.perf_counter() - start) / n
        per_exam(wfdb_paths[:3])  # warm imports and caches
        rows = [
            ("preprocess only (baseline, 500 Hz in memory)", base),
            ("WFDB .hea+.dat, 500 Hz, 10 s", per_exam(wfdb_paths)),
            ("CSV, 500 Hz, 10 s, no header (units inferred)", per_exam(csv_paths)),
            ("HDF5 per record (SPH ecg, gzip float16), 500 Hz", per_exam(sph_paths)),
            ("HDF5 CODE tracings, one exam of a multi-exam file", per_exam([code] * n, multi=True)),
        ]
        print(f"Open + preprocess to the (4096, 12) network input, mean over {n} exams each:")
        for name, sec in rows:
            print(f"  {name:<52} {sec * 1e3:7.2f} ms/exam  ({sec / base:5.1f} × baseline)")
        clinical_bench(tmp, mem, args.clinical, rows[1][1])
        if args.no_big:
            return

        big = tmp / "code_big.hdf5"
        start = time.perf_counter()
        with h5py.File(big, "w") as h:
            ds = h.create_dataset(
                "tracings", shape=(args.exams, 4096, 12), dtype=np.float32, chunks=(1, 4096, 12)
            )
            block = np.stack([np.resize(ecg(400, 10.24, i), (4096, 12)) * 10 for i in range(100)])
            block = block.astype(np.float32)
            for s in range(0, args.exams, 100):
                e = min(args.exams, s + 100)
                ds[s:e] = block[: e - s]
            h["exam_id"] = np.arange(args.exams, dtype=np.int64) + 1_000_000
        written = time.perf_counter() - start
        size_gb = big.stat().st_size / 1e9
        print(f"\nGenerated a {args.exams}-exam CODE file ({size_gb:.2f} GB) in {written:.1f} s.")
        baseline = child("-")
        result = child(str(big))
        print(f"  open_exams:                {result['open_s'] * 1e3:8.1f} ms  ({result['n']} exams)")
        print(
            f"  read 100 random exams:     {result['read100_s'] * 1e3:8.1f} ms  "
            f"({result['read100_s'] * 10:.2f} ms/exam)"
        )
        print(f"  index_of (builds the id index of all exams): {result['index_of_s'] * 1e3:.1f} ms")
        extra = result["peak_rss_mb"] - baseline["peak_rss_mb"]
        print(
            f"  peak RSS:                  {result['peak_rss_mb']:8.1f} MB  (baseline: a process that only "
            f"imports ecgviewer.io: {baseline['peak_rss_mb']:.1f} MB, +{extra:.1f} MB; "
            f"the file is {size_gb * 1e3:.0f} MB)"
        )
        grown = result["rss_after_reads_mb"] - result["rss_after_import_mb"]
        print(
            f"  resident memory after import {result['rss_after_import_mb']:.1f} MB, after opening and "
            f"reading 100 exams {result['rss_after_reads_mb']:.1f} MB (+{grown:.1f} MB)"
        )


if __name__ == "__main__":
    main()
