"""Throughput of ``predict`` in one process and on a Dask LocalCluster, on the same input, in one run.

Prints exams/s (reading + preprocessing + inference, rows gathered in input order) for:

* ``1 process``: :func:`ecgviewer.commands.predict.predict_exams` here, onnxruntime on all cores
  (the baseline; ratios are variant / baseline);
* ``1 process, 1 thread``: the same with one onnxruntime thread (what one worker gets);
* exams per CPU-second (this process, or the sum over the workers), which a loaded machine does not
  change much: the cost of the cluster layer per exam;
* ``local:1`` and ``local:2``: :func:`ecgviewer.cluster.map_partitions` on a LocalCluster of 1 and 2
  worker processes of 1 thread each, timed from submission to the last row (the cluster start-up,
  reported apart, is paid once per job).

Input: a generated HDF5 file in the CODE layout (``ecgviewer.synth.write_hdf5_code``).

Usage: ``python benchmarks/cluster_bench.py [--exams 1024] [--model M.onnx] [--exams-per-task 256]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process so far, all threads."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _single(model_path: str | None, path: Path, threads: int | None) -> tuple[float, float]:
    from ecgviewer.commands.predict import predict_exams
    from ecgviewer.io import open_exams
    from ecgviewer.model.runtime import create_model

    model = create_model(model_path or _bundled(), prefer_cuda=False, threads=threads)
    rows: list[tuple] = []
    with open_exams(path) as exams:
        start, cpu = time.perf_counter(), _cpu_seconds()
        predict_exams(model, exams, lambda *r: rows.append(r), batch_size=32)
        seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    assert len(rows) == len(exams)
    return len(rows) / seconds, len(rows) / cpu


def _bundled() -> str:
    from ecgviewer.model.runtime import bundled_model_path

    return str(bundled_model_path())


def _cluster(n_workers: int, model_path: str | None, path: Path, per_task: int) -> tuple[float, float, float]:
    from ecgviewer import cluster
    from ecgviewer.commands.predict import PredictPartition
    from ecgviewer.io import open_exams

    with open_exams(path) as exams:
        parts = cluster.plan_partitions(
            [(s.path, s.n_exams) for s in exams.sources], exams_per_partition=per_task
        )
        n = len(exams)
    fn = PredictPartition(model_path, prefer_cuda=False, threads=1, batch_size=32)
    t0 = time.perf_counter()
    with cluster.connect(f"local:{n_workers}") as client:
        client.wait_for_workers(n_workers, timeout=300)
        startup = time.perf_counter() - t0
        cluster.check_workers_see(client, [str(path)], model=model_path)
        cpu = sum(client.run(_cpu_seconds).values())
        start = time.perf_counter()
        got = sum(len(rows) for _, rows in cluster.map_partitions(client, parts, fn))
        seconds = time.perf_counter() - start
        cpu = sum(client.run(_cpu_seconds).values()) - cpu
    assert got == n
    return n / seconds, n / cpu, startup


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exams", type=int, default=1024)
    parser.add_argument("--model", help="ONNX model (default: the bundled one)")
    parser.add_argument("--exams-per-task", type=int, default=256)
    args = parser.parse_args()
    from ecgviewer.synth import write_hdf5_code

    with tempfile.TemporaryDirectory() as tmp:
        path = write_hdf5_code(Path(tmp) / "bench.h5", args.exams, seed=3)
        model = str(Path(args.model).absolute()) if args.model else None
        print(f"{args.exams} exams (CODE layout HDF5), model {Path(model or _bundled()).name}")
        base, base_cpu = _single(model, path, None)
        results = [("1 process (all cores)", base, base_cpu, None)]
        results.append(("1 process, 1 thread", *_single(model, path, 1), None))
        for n in (1, 2):
            results.append(
                (f"local:{n} ({n} worker x 1 thread)", *_cluster(n, model, path, args.exams_per_task))
            )
        # exams per CPU-second (all threads / all workers) does not depend on what else the machine runs
        print(f"{'run':34s} {'exams/s':>9s} {'ratio':>7s} {'exams/CPU-s':>12s}  cluster start-up")
        for name, rate, per_cpu, startup in results:
            extra = f"  {startup:.1f} s" if startup is not None else ""
            print(f"{name:34s} {rate:9.1f} {rate / base:7.2f} {per_cpu:12.1f}{extra}")
        r1, r2 = results[2][1], results[3][1]
        print(f"local:2 / local:1 = {r2 / r1:.2f} (2 workers on this machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
