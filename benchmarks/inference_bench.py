"""Inference speed of the network on this CPU, in one run, as ratios against fp32 measured alongside.

Prints:
* this machine's fp32 peak (a numpy float32 matmul) and the fraction of it each graph reaches
  (the network costs 3.66 GFLOP per exam);
* ms/exam at batch 1 and batch 64, min and median over interleaved rounds (A B C … C B A …), for
  the original fp32 graph, the 1×k Conv2D rewrite, the rewrite with spinning threads, the
  post-training int8 QDQ graph, an int8 QAT graph given with ``--qat`` and OpenVINO fp32 and bf16
  (when installed; bf16 on CPUs with AVX-512 BF16 or AMX);
* max |Δp| of each against fp32 on real exams from ``../shared/data`` (PTB-XL 500 Hz records,
  Challenge 2021 WFDB records and the CODE test exams);
* ``ecgviewer predict`` throughput on a generated CODE-layout file with the old defaults
  (original graph, batch 32, spinning) and the new ones, interleaved, in this process
  (``benchmarks/predict_bench.py`` runs the real command in a child process, with peak RSS);
* the Keras model of the fixture when TensorFlow is importable (it is not needed by the app).

The machine is shared: compare within one run only.

Usage: ``PYTHONPATH=$PWD python benchmarks/inference_bench.py [--rounds 6] [--exams 2000] [--real 300]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

# the fp32 rows must be onnxruntime fp32 even for a model whose contract allows bf16; the bf16
# rows build their OpenVINO sessions explicitly
os.environ.setdefault("ECGVIEWER_BF16", "0")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"
FIXTURE = SHARED / "keras-fixture"
GFLOP_PER_EXAM = 3.66


def fp32_peak(n: int = 2048, repeat: int = 5) -> float:
    """GFLOP/s of a float32 (n × n) @ (n × n) matmul, best of ``repeat``."""
    a = np.random.default_rng(0).normal(size=(n, n)).astype(np.float32)
    b = a.T.copy()
    a @ b
    best = min(_wall(lambda: a @ b) for _ in range(repeat))
    return 2 * n**3 / best / 1e9


def _wall(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def real_exams(limit: int) -> np.ndarray:
    """Up to ``limit`` real exams as (N, 4096, 12) mV network inputs (PTB-XL, Challenge, CODE)."""
    from ecgviewer.io import open_exams
    from ecgviewer.model.runtime import load_model

    model = load_model(prefer_cuda=False)
    rows: list[np.ndarray] = []
    folders = [SHARED / "ptbxl" / "records500", SHARED / "wfdb", SHARED / "code-test" / "exams"]
    per_folder = max(1, limit // len(folders))
    for folder in folders:
        if not folder.exists():
            continue
        with (
            contextlib.redirect_stderr(io.StringIO()),
            open_exams(folder) as exams,
        ):
            taken = 0
            for i in range(len(exams)):
                if taken >= per_folder or len(rows) >= limit:
                    break
                try:
                    rows.append(model.prepare(exams[i])[0])
                    taken += 1
                except Exception:  # a record the readers refuse is not a benchmark problem
                    continue
    return np.stack(rows) if rows else np.zeros((0, 4096, 12), np.float32)


def interleaved(
    variants: dict[str, Callable[[int], object]], rounds: int
) -> dict[tuple[str, int], list[float]]:
    """ms/exam per (variant, batch) over ``rounds`` rounds, the order reversed every other round."""
    times: dict[tuple[str, int], list[float]] = {(k, b): [] for k in variants for b in (1, 64)}
    names = list(variants)
    for fn in variants.values():  # warm-up
        fn(1)
        fn(64)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            for _ in range(3):
                times[(name, 1)].append(1000 * _wall(lambda n=name: variants[n](1)))
            times[(name, 64)].append(1000 * _wall(lambda n=name: variants[n](64)) / 64)
        print(f"  round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
    return times


def bench_graphs(rounds: int, n_real: int, qat: Path | None, tmp: Path, skip: tuple[str, ...] = ()) -> None:
    from ecgviewer.model.int8 import quantize_int8
    from ecgviewer.model.runtime import bundled_model_path, create_model

    path = bundled_model_path()
    real = real_exams(n_real)
    print(f"real exams for |Δp|: {len(real)} (PTB-XL records500, Challenge 2021 WFDB, CODE test)")
    models: dict[str, object] = {}
    os.environ["ECGVIEWER_SPIN"] = "0"
    models["fp32 (original graph)"] = create_model(path, prefer_cuda=False, threads=2, conv2d=False)
    models["fp32 1×k Conv2D"] = create_model(path, prefer_cuda=False, threads=2, conv2d=True)
    os.environ["ECGVIEWER_SPIN"] = "1"
    models["fp32 1×k Conv2D, spinning"] = create_model(path, prefer_cuda=False, threads=2, conv2d=True)
    models["fp32 original, spinning"] = create_model(path, prefer_cuda=False, threads=2, conv2d=False)
    os.environ["ECGVIEWER_SPIN"] = "0"
    calib = real[: min(len(real), 128)]
    if len(calib):
        report = quantize_int8(path, tmp / "int8.onnx", calib)
        models["int8 post-training QDQ"] = create_model(tmp / "int8.onnx", prefer_cuda=False, threads=2)
        print(f"post-training int8 (calibrated on {len(calib)} real exams): {report.describe()}")
    if qat is not None and qat.is_file():
        models["int8 QAT QDQ"] = create_model(qat, prefer_cuda=False, threads=2)
    try:
        from ecgviewer.model.backends import OpenVinoSession, cpu_has_bf16

        fp = models["fp32 (original graph)"]
        for precision in ("fp32", "bf16") if cpu_has_bf16() else ("fp32",):
            ov = OpenVinoSession(path, precision, threads=2)
            models[f"OpenVINO {precision}"] = type(fp)(
                path=path, contract=fp.contract, session=ov
            )  # same API
        if not cpu_has_bf16():
            print("this CPU has no AVX-512 BF16 or AMX: the OpenVINO bf16 row is skipped")
    except (ImportError, RuntimeError):  # OpenVinoSession says RuntimeError when the extra is absent
        print("OpenVINO is not installed: its rows are skipped (pip install ecgviewer[openvino])")
    x = np.ascontiguousarray(
        np.resize(real, (64, 4096, 12)) if len(real) else np.zeros((64, 4096, 12), np.float32)
    )
    variants = {name: (lambda b, m=m: m.predict(x[:b], batch_size=b)) for name, m in models.items()}
    peak_before = fp32_peak()
    times = interleaved(variants, rounds)
    peak = max(peak_before, fp32_peak())  # the machine's share can change during the rounds
    reference = models["fp32 (original graph)"].predict(real) if len(real) else None
    base = "fp32 (original graph)"
    print(
        f"fp32 peak here (numpy float32 matmul, before and after the rounds, the better): {peak:.0f} "
        f"GFLOP/s (before {peak_before:.0f}) → floor {1000 * GFLOP_PER_EXAM / peak:.1f} ms/exam"
    )
    print(
        f"{'graph':28s} {'batch 1 min/med':>16s} {'×':>10s} {'batch 64 min/med':>17s} {'×':>10s} "
        f"{'% fp32 peak':>11s} {'max |Δp|':>9s}"
    )
    for name, model in models.items():
        t1, t64 = times[(name, 1)], times[(name, 64)]
        b1, b64 = times[(base, 1)], times[(base, 64)]
        r1 = f"{min(b1) / min(t1):.2f}/{statistics.median(b1) / statistics.median(t1):.2f}"
        r64 = f"{min(b64) / min(t64):.2f}/{statistics.median(b64) / statistics.median(t64):.2f}"
        frac = 100 * (GFLOP_PER_EXAM / (min(t64) / 1000)) / peak
        dp = "—" if reference is None else f"{np.abs(model.predict(real) - reference).max():.1e}"
        print(
            f"{name:28s} {min(t1):7.1f}/{statistics.median(t1):7.1f}  {r1:>10s} "
            f"{min(t64):7.1f}/{statistics.median(t64):7.1f}   {r64:>10s} {frac:10.0f}% {dp:>9s}"
        )
    print("× = fp32 original / this graph (min/median); > 1 is faster")


def bench_predict(n: int, rounds: int, tmp: Path) -> None:
    from ecgviewer.cli import main
    from ecgviewer.model.runtime import clear_model_cache
    from ecgviewer.synth import write_hdf5_code

    src = tmp / f"exams{n}.hdf5"
    write_hdf5_code(src, n)
    out = tmp / "p.csv"
    setups = {
        "before (original graph, batch 32, spinning)": (
            {"ECGVIEWER_CONV2D": "0", "ECGVIEWER_SPIN": "1"},
            ["--batch-size", "32"],
        ),
        "after (defaults: 1×k Conv2D, batch 16, no spinning)": (
            {"ECGVIEWER_CONV2D": "", "ECGVIEWER_SPIN": ""},
            [],
        ),
    }
    rates: dict[str, list[float]] = {k: [] for k in setups}
    for r in range(rounds):
        for name in list(setups) if r % 2 == 0 else list(setups)[::-1]:
            env, extra = setups[name]
            os.environ.update(env)
            clear_model_cache()
            with contextlib.redirect_stderr(io.StringIO()):
                t = time.perf_counter()
                main(["predict", str(src), "--out", str(out), "--cpu", "--quiet", "--threads", "2", *extra])
                rates[name].append(n / (time.perf_counter() - t))
    base = rates[next(iter(setups))]
    for name, v in rates.items():
        print(
            f"  {name}: {max(v):.2f} / {statistics.median(v):.2f} exams/s (best/median), "
            f"× {max(v) / max(base):.2f} / {statistics.median(v) / statistics.median(base):.2f}"
        )


def bench_keras(rounds: int = 3) -> None:
    """Keras ``predict_on_batch`` on the fixture against ecgviewer fp32 (and OpenVINO bf16), interleaved."""
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        print("TensorFlow is not installed here: the Keras ratio is skipped (the app never needs it)")
        return
    from tensorflow import keras

    if not (FIXTURE / "ribeiro_random_keras224.hdf5").is_file():
        print(f"the Keras fixture is not in {FIXTURE}: the Keras ratio is skipped")
        return

    from ecgviewer.model.keras_import import convert_keras, save_onnx
    from ecgviewer.model.runtime import create_model

    kmodel = keras.models.load_model(str(FIXTURE / "ribeiro_random_keras224.hdf5"), compile=False)
    with tempfile.TemporaryDirectory() as d:
        path = save_onnx(convert_keras(FIXTURE / "ribeiro_random_keras224.hdf5"), Path(d) / "f.onnx")
        m = create_model(path, prefer_cuda=False, threads=2)
        x = np.random.default_rng(0).normal(0, 0.3, (64, 4096, 12)).astype(np.float32)
        variants = {
            "Keras predict_on_batch": lambda b: kmodel.predict_on_batch(x[:b]),
            "ecgviewer fp32": lambda b: m.predict(x[:b], batch_size=b),
        }
        try:
            from ecgviewer.model.backends import OpenVinoSession, cpu_has_bf16

            if cpu_has_bf16():
                ov = type(m)(path=path, contract=m.contract, session=OpenVinoSession(path, "bf16", threads=2))
                variants["ecgviewer OpenVINO bf16"] = lambda b: ov.predict(x[:b], batch_size=b)
        except (ImportError, RuntimeError):
            pass
        times = interleaved(variants, rounds)
        print(f"Keras fixture (random weights), {rounds} interleaved rounds, ms/exam min/median:")
        for b in (1, 64):
            k = times[("Keras predict_on_batch", b)]
            for name in variants:
                t = times[(name, b)]
                print(
                    f"  batch {b:2d} {name:26s} {min(t):6.1f} / {statistics.median(t):6.1f}   "
                    f"Keras / this {min(k) / min(t):.2f} / {statistics.median(k) / statistics.median(t):.2f}×"
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds (default 6)")
    parser.add_argument("--real", type=int, default=300, help="real exams for |Δp| (default 300)")
    parser.add_argument("--exams", type=int, default=2000, help="exams in the generated predict file")
    parser.add_argument("--predict-rounds", type=int, default=2)
    parser.add_argument("--qat", type=Path, help="an int8 QAT QDQ graph to include (ecgviewer.training.qat)")
    parser.add_argument("--parts", default="graphs,predict,keras")
    parser.add_argument(
        "--skip", default="", help="';'-separated words: graphs whose name has one are skipped"
    )
    args = parser.parse_args()
    import onnxruntime as ort

    parts = set(args.parts.split(","))
    print(
        f"onnxruntime {ort.__version__}, {os.cpu_count()} logical CPUs, 2 threads, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if "graphs" in parts:
            bench_graphs(args.rounds, args.real, args.qat, tmp, tuple(args.skip.split(";")))
        if "predict" in parts:
            print(f"ecgviewer predict, {args.exams} generated exams → CSV:")
            bench_predict(args.exams, args.predict_rounds, tmp)
        if "keras" in parts:
            bench_keras(args.rounds)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
