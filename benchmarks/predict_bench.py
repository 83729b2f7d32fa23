"""``ecgviewer predict`` on a large CODE-layout file, before/after the CPU defaults, and model load time.

    PYTHONPATH=$PWD python benchmarks/predict_bench.py                    # 2,000 exams, 2 rounds
    PYTHONPATH=$PWD python benchmarks/predict_bench.py --exams 200 --rounds 1 --parts load

Prints, measured in alternating rounds in this run (the machine is shared: compare within a run):

1. **load**: seconds to load the bundled model (``create_model``, in this process) without the
   1×k Conv2D rewrite, with the rewrite done at load (empty graph cache), and with the rewrite
   read from the graph cache (``user_data_dir()/cache/graphs``, here a temporary
   ``ECGVIEWER_HOME``), min/median and the ratio to the plain load;
2. **predict**: a generated N-exam CODE-layout HDF5 (``ecgviewer.synth.write_hdf5_code``, in a
   temporary folder) through the real command in a child process, ``ecgviewer predict FILE --out
   CSV --cpu``, with the old settings (``ECGVIEWER_CONV2D=0``, spinning threads, ``--batch-size
   32``) and with the defaults (rewrite on, cached after the first run; no spinning; batch 16):
   exams/s (best/median, wall time of the whole command including start-up and load), their
   ratio, and the child's peak RSS (``wait4``).

No assertion: figures only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SETUPS: dict[str, tuple[dict[str, str], list[str]]] = {
    "before (no rewrite, spinning, batch 32)": (
        {"ECGVIEWER_CONV2D": "0", "ECGVIEWER_SPIN": "1"},
        ["--batch-size", "32"],
    ),
    "after (defaults: rewrite, no spinning, batch 16)": ({}, []),
}


def _stats(xs: list[float], fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(min(xs))} / {fmt.format(statistics.median(xs))}"


def bench_load(rounds: int, home: Path) -> None:
    from ecgviewer.model.graph_rewrite import graph_cache_dir
    from ecgviewer.model.runtime import bundled_model_path, create_model

    path = bundled_model_path()
    os.environ["ECGVIEWER_HOME"] = str(home)
    create_model(path, prefer_cuda=False, conv2d=True)  # imports, page cache, one cached graph
    cases = {
        "no rewrite (ECGVIEWER_CONV2D=0)": dict(conv2d=False),
        "rewrite at load (empty cache)": dict(conv2d=True, fresh=True),
        "rewrite from the graph cache": dict(conv2d=True),
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    for r in range(rounds):
        for name in list(cases) if r % 2 == 0 else list(cases)[::-1]:
            kw = dict(cases[name])
            if kw.pop("fresh", False):
                shutil.rmtree(graph_cache_dir(), ignore_errors=True)
            t = time.perf_counter()
            create_model(path, prefer_cuda=False, **kw)
            times[name].append(time.perf_counter() - t)
        if not graph_cache_dir().is_dir() or not any(graph_cache_dir().glob("*.onnx")):
            create_model(path, prefer_cuda=False, conv2d=True)  # the cached case needs an entry
    base = times["no rewrite (ECGVIEWER_CONV2D=0)"]
    print(f"1. model load, {rounds} alternating rounds (s, min / median; ÷ no rewrite):")
    for name, ts in times.items():
        print(
            f"   {name:<34} {_stats(ts)}   × {min(ts) / min(base):.2f} / "
            f"{statistics.median(ts) / statistics.median(base):.2f}"
        )


def _run_predict(
    src: Path, out: Path, env: dict[str, str], extra: list[str], threads: int
) -> tuple[float, float]:
    """(seconds, peak RSS MB) of one ``ecgviewer predict`` child process."""
    cmd = [sys.executable, "-m", "ecgviewer", "predict", str(src), "--out", str(out), "--cpu", "--quiet"]
    if threads:
        cmd += ["--threads", str(threads)]
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **env}
    t = time.perf_counter()
    proc = subprocess.Popen(cmd + extra, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"ecgviewer predict failed ({proc.returncode}): {err.strip()[-500:]}")
    return seconds, usage.ru_maxrss / 1024


def bench_predict(n: int, rounds: int, tmp: Path, home: Path, threads: int) -> None:
    from ecgviewer.synth import write_hdf5_code

    src = tmp / f"code{n}.hdf5"
    t = time.perf_counter()
    write_hdf5_code(src, n)
    print(
        f"2. ecgviewer predict, {n} generated CODE-layout exams ({src.stat().st_size / 1e9:.2f} GB, "
        f"written in {time.perf_counter() - t:.0f} s) → CSV, {rounds} alternating rounds, "
        f"threads {threads or 'default'}:"
    )
    env_home = {"ECGVIEWER_HOME": str(home)}
    from ecgviewer.model.graph_rewrite import graph_cache_dir

    os.environ["ECGVIEWER_HOME"] = str(home)
    if not any(graph_cache_dir().glob("*.onnx")):  # the load part leaves the rewrite cached
        warm = {**env_home, "ECGVIEWER_CONV2D": "1"}
        _run_predict(src, tmp / "warm.csv", warm, ["--batch-size", "16"], threads)
    rates: dict[str, list[float]] = {k: [] for k in SETUPS}
    rss: dict[str, list[float]] = {k: [] for k in SETUPS}
    for r in range(rounds):
        for name in list(SETUPS) if r % 2 == 0 else list(SETUPS)[::-1]:
            env, extra = SETUPS[name]
            seconds, peak = _run_predict(src, tmp / "p.csv", {**env_home, **env}, extra, threads)
            rates[name].append(n / seconds)
            rss[name].append(peak)
            print(f"   round {r + 1}: {name}: {n / seconds:.1f} exams/s, peak RSS {peak:.0f} MB", flush=True)
    base = rates[next(iter(SETUPS))]
    for name, v in rates.items():
        print(
            f"   {name:<50} {max(v):6.1f} / {statistics.median(v):6.1f} exams/s (best/median)  "
            f"× {max(v) / max(base):.2f} / {statistics.median(v) / statistics.median(base):.2f}  "
            f"peak RSS {max(rss[name]):.0f} MB"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exams", type=int, default=2000, help="exams in the generated file (default 2000)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    ap.add_argument("--load-rounds", type=int, default=4, help="rounds of the load part (default 4)")
    ap.add_argument("--threads", type=int, default=0, help="--threads for predict (default: the app's)")
    ap.add_argument("--parts", default="load,predict", help="load,predict (default both)")
    args = ap.parse_args(argv)
    parts = set(args.parts.split(","))
    print(f"{os.cpu_count()} logical CPUs, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory(prefix="ecgviewer-predict-bench-") as d:
        tmp = Path(d)
        home = tmp / "home"
        if "load" in parts:
            bench_load(args.load_rounds, home)
        if "predict" in parts:
            bench_predict(args.exams, args.rounds, tmp, home, args.threads)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
