"""Inference speed of the network on the CPU, and what onnxruntime's options buy.

Prints:
* ms/exam at batch 1 and batch 64 for each graph optimisation level of onnxruntime
  ("disable" is the baseline measured in the same run; ratios are baseline / variant);
* exams/s of ``ecgviewer predict`` on a generated 2,000-exam HDF5 file (CODE layout,
  ``tracings`` (N, 4096, 12) float32), reading + preprocessing + inference + CSV;
* dynamic int8 quantisation (onnxruntime.quantization), with its largest deviation
  from fp32 on the Keras fixture inputs and real exams, and whether it stays within
  the tolerance (0.01 absolute on probabilities) — only then is it a candidate;
* the Keras model of the fixture in the same run, when TensorFlow is importable.

Usage: ``python benchmarks/inference_bench.py [--model M.onnx] [--exams 2000] [--threads N] [--quick]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"
FIXTURE = SHARED / "keras-fixture"
QUANT_TOLERANCE = 0.01


def _timeit(fn, repeat: int) -> float:
    """Best-of-``repeat`` wall time in seconds (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _model_path(arg: str | None, tmp: Path) -> Path:
    from ecgviewer.model.keras_import import convert_keras, save_onnx
    from ecgviewer.model.runtime import bundled_model_path

    if arg:
        return Path(arg)
    bundled = bundled_model_path()
    if bundled.is_file():
        return bundled
    return save_onnx(convert_keras(FIXTURE / "ribeiro_random_keras224.hdf5"), tmp / "fixture.onnx")


def _test_inputs(n: int) -> np.ndarray:
    """Real exams where available (fixture inputs + CODE test exams), else noise."""
    parts = []
    if (FIXTURE / "inputs.npy").is_file():
        parts.append(np.load(FIXTURE / "inputs.npy"))
    exams = SHARED / "code-test" / "exams"
    if exams.is_dir():
        import h5py

        for p in sorted(exams.glob("*.hdf5")):
            with h5py.File(p, "r") as fh:
                parts.append(np.asarray(fh["tracings"][:], np.float32))
    x = np.concatenate(parts) if parts else np.zeros((0, 4096, 12), np.float32)
    rng = np.random.default_rng(0)
    while len(x) < n:
        x = np.concatenate([x, rng.normal(0, 1, (n - len(x), 4096, 12)).astype(np.float32)])
    return np.ascontiguousarray(x[:n])


def bench_levels(path: Path, threads: int, repeat: int) -> dict[str, tuple[float, float]]:
    from ecgviewer.model.runtime import create_model

    x64 = _test_inputs(64)
    results: dict[str, tuple[float, float]] = {}
    ref = None
    for level in ("disable", "basic", "extended", "all"):
        model = create_model(path, prefer_cuda=False, threads=threads, optimization=level)
        t1 = _timeit(lambda m=model: m.predict(x64[:1], batch_size=1), repeat * 3)
        t64 = _timeit(lambda m=model: m.predict(x64, batch_size=64), repeat)
        out = model.predict(x64, batch_size=64)
        ref = out if ref is None else ref
        results[level] = (1000 * t1, 1000 * t64 / 64)
        print(
            f"  optimisation {level:8s}: batch 1 {1000 * t1:7.1f} ms/exam   "
            f"batch 64 {1000 * t64 / 64:7.1f} ms/exam"
            f"   max |Δ| vs disable {np.abs(out - ref).max():.1e}"
        )
    base1, base64 = results["disable"]
    for level, (t1, t64) in results.items():
        if level != "disable":
            print(
                f"  speed-up of '{level}' over 'disable': batch 1 ×{base1 / t1:.2f}, "
                f"batch 64 ×{base64 / t64:.2f}"
            )
    return results


def bench_quantised(path: Path, tmp: Path, threads: int, repeat: int) -> None:
    from ecgviewer.model.runtime import create_model

    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        print("  onnxruntime.quantization is not available: skipped")
        return
    qpath = tmp / "int8.onnx"
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            quantize_dynamic(str(path), str(qpath), weight_type=QuantType.QInt8)
        q = create_model(qpath, prefer_cuda=False, threads=threads)
    except Exception as err:
        print(f"  dynamic int8 quantisation failed: {type(err).__name__}: {str(err).splitlines()[0][:200]}")
        return
    f = create_model(path, prefer_cuda=False, threads=threads)
    x = _test_inputs(64)
    diff = float(np.abs(q.predict(x) - f.predict(x)).max())
    t_f = _timeit(lambda: f.predict(x, batch_size=64), repeat) / 64
    t_q = _timeit(lambda: q.predict(x, batch_size=64), repeat) / 64
    verdict = "within" if diff <= QUANT_TOLERANCE else "OUTSIDE"
    print(
        f"  dynamic int8: {1000 * t_q:.1f} ms/exam vs fp32 {1000 * t_f:.1f} (×{t_f / t_q:.2f}); "
        f"max |Δp| = {diff:.3g} over {len(x)} exams: {verdict} the {QUANT_TOLERANCE} tolerance"
    )
    if diff > QUANT_TOLERANCE or t_q >= t_f:
        why = "outside the tolerance" if diff > QUANT_TOLERANCE else "slower than fp32 on this CPU"
        print(f"  → int8 is not offered ({why}; dynamic quantisation turns Conv into ConvInteger)")


def bench_predict(path: Path, tmp: Path, n: int, threads: int, batch: int) -> float:
    import h5py

    from ecgviewer.cli import main

    src = tmp / f"exams{n}.hdf5"
    x = _test_inputs(64)
    rng = np.random.default_rng(1)
    with h5py.File(src, "w") as fh:
        ds = fh.create_dataset("tracings", shape=(n, 4096, 12), dtype=np.float32, chunks=(1, 4096, 12))
        for start in range(0, n, 64):
            stop = min(start + 64, n)
            ds[start:stop] = x[: stop - start] * rng.uniform(0.8, 1.2, (stop - start, 1, 1)).astype(
                np.float32
            )
        fh.create_dataset("exam_id", data=np.arange(n, dtype=np.int64))
    out = tmp / "p.csv"
    opts = ["--threads", str(threads)] if threads else []
    from ecgviewer.model.runtime import load_model

    model = load_model(path, prefer_cuda=False, threads=threads or None)

    def raw_rate() -> float:  # the runtime alone on 256 in-memory exams (the load of this machine varies)
        t = time.perf_counter()
        for _ in range(4):
            model.predict(x, batch_size=batch)
        return 256 / (time.perf_counter() - t)

    before = raw_rate()
    t = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        code = main(
            [
                "predict",
                str(src),
                "--out",
                str(out),
                "--model",
                str(path),
                "--cpu",
                "--quiet",
                "--batch-size",
                str(batch),
                *opts,
            ]
        )
    seconds = time.perf_counter() - t
    after = raw_rate()
    with open(out) as fh:
        rows = sum(1 for _ in fh) - 1
    raw = (before + after) / 2
    print(
        f"  ecgviewer predict, {n} exams (CODE-layout HDF5, {src.stat().st_size / 1e6:.0f} MB) → CSV, "
        f"batch {batch}: {seconds:.1f} s = {n / seconds:.1f} exams/s ({rows} rows, exit {code})"
    )
    print(
        f"  runtime alone, in-memory, measured just before and after: {before:.1f} / {after:.1f} exams/s "
        f"→ predict runs at {100 * (n / seconds) / raw:.0f} % of the runtime's speed"
    )
    return n / seconds


def bench_keras(path: Path, repeat: int) -> None:
    try:
        import tensorflow as tf  # noqa: F401
    except ImportError:
        print(
            "  TensorFlow is not installed here: the Keras ratio was not measured "
            "(the converter and the tests need no TensorFlow)"
        )
        return
    from tensorflow import keras

    from ecgviewer.model.keras_import import convert_keras, save_onnx
    from ecgviewer.model.runtime import create_model

    kmodel = keras.models.load_model(str(FIXTURE / "ribeiro_random_keras224.hdf5"), compile=False)
    with tempfile.TemporaryDirectory() as d:
        onnx_path = save_onnx(convert_keras(FIXTURE / "ribeiro_random_keras224.hdf5"), Path(d) / "f.onnx")
        m = create_model(onnx_path, prefer_cuda=False)
        x = _test_inputs(64)
        t_k = _timeit(lambda: kmodel.predict(x, batch_size=64, verbose=0), repeat) / 64
        t_o = _timeit(lambda: m.predict(x, batch_size=64), repeat) / 64
        print(
            f"  Keras (TensorFlow) {1000 * t_k:.1f} ms/exam vs ONNX {1000 * t_o:.1f} ms/exam: "
            f"×{t_k / t_o:.2f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", help="ONNX model (default: the bundled one, else the converted Keras fixture)"
    )
    parser.add_argument("--exams", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0 = all cores)")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size of the predict run")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 200 exams")
    parser.add_argument(
        "--parts",
        default="levels,quant,predict,keras",
        help="comma-separated parts to run (default: levels,quant,predict,keras)",
    )
    args = parser.parse_args()
    repeat = 2 if args.quick else 5
    n = 200 if args.quick else args.exams
    parts = set(args.parts.split(","))
    import onnxruntime as ort

    from ecgviewer.model.runtime import create_model

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        path = _model_path(args.model, tmp)
        m = create_model(path, prefer_cuda=True, threads=args.threads)
        print(f"model: {path} ({m.describe()})")
        print(
            f"onnxruntime {ort.__version__}, {os.cpu_count()} logical CPUs, threads={args.threads or 'all'}, "
            f"load average {os.getloadavg()[0]:.1f} at start"
        )
        if "levels" in parts:
            print("graph optimisation levels (CPU):")
            bench_levels(path, args.threads, repeat)
        if "quant" in parts:
            print("quantisation:")
            bench_quantised(path, tmp, args.threads, repeat)
        if "predict" in parts:
            print("batch prediction:")
            bench_predict(path, tmp, n, args.threads, args.batch_size)
        if "keras" in parts:
            print("Keras fixture:")
            bench_keras(path, repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
