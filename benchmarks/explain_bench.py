"""SHAP saliency cost on this machine: seconds per exam (all six classes), evaluations, and what
fewer evaluations cost in accuracy.

    python benchmarks/explain_bench.py                 # bundled model, 4 synthetic exams
    python benchmarks/explain_bench.py --model M.onnx --exams 8 --budgets 32,64,128,256,512,1024

Printed:
1. the network alone: ms per forward pass at several batch sizes (the floor of any
   model-agnostic explainer: seconds ≈ evaluations × ms per pass);
2. seconds per exam at each evaluation budget (cold: no memoised evaluations), the share
   spent in the network, and the budget that fits in 1 s here;
3. accuracy vs evaluations against a reference explanation with many more evaluations:
   correlation of the values, overlap of the 10 most salient segments, and faithfulness
   (probability drop when the 10 most salient segments are masked, minus the mean drop
   for 10 random segments), per budget, averaged over exams and the classes the model
   gives more than a 0.05 change from the baseline;
4. the other explainers at the same budget (shap's plain Owen recursion, one fixed context,
   PermutationExplainer) for comparison;
5. with ``--before OLD.py`` (a copy of an older ``ecgviewer/explain.py``, e.g.
   ``git show main~1:ecgviewer/explain.py > /tmp/explain_old.py``): the old and the new code
   timed in alternating rounds in this process on the same model and exams, the default
   explanation and the preview, min/median seconds and their ratio, and max |Δ values|;
   and the network batch of the new code (16/32/64) timed the same way.

    python benchmarks/explain_bench.py --before /tmp/explain_old.py --only-compare --exams 2

No timed assertions: figures only (ratios against the network's own cost in the same run).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

# the fp32 rows must be onnxruntime fp32 even for a model whose contract allows bf16; the bf16
# rows build their OpenVINO sessions explicitly
os.environ.setdefault("ECGVIEWER_BF16", "0")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecgviewer import explain as E  # noqa: N812
from ecgviewer.model.runtime import load_model
from ecgviewer.synth import synth_exam

FINDINGS = [
    ("RBBB", "1dAVb"),
    ("AF",),
    ("LBBB", "ST"),
    ("SB",),
    (),
    ("RBBB", "ST"),
    ("1dAVb", "SB"),
    ("LBBB",),
]


def network_ms(model, x: np.ndarray, batch: int, reps: int = 3) -> float:
    xs = np.repeat(x[None], batch, axis=0)
    model.predict(xs, batch_size=batch)
    best = np.inf
    for _ in range(reps):
        t = time.perf_counter()
        model.predict(xs, batch_size=batch)
        best = min(best, time.perf_counter() - t)
    return 1000 * best / batch


def timed_explain(model, x, report, **kw):
    """(saliency, seconds, seconds in the network) with a cold memo."""
    E.clear_cache()
    spent = [0.0]
    real = model.predict

    def counting(xs, **k):
        t = time.perf_counter()
        try:
            return real(xs, **k)
        finally:
            spent[0] += time.perf_counter() - t

    model.predict = counting
    try:
        t = time.perf_counter()
        sal = E.explain(model, x, report=report, **kw)
        return sal, time.perf_counter() - t, spent[0]
    finally:
        del model.predict  # back to the class method


def faithfulness(
    model, x, sal: E.Saliency, c: int, k: int, rng: np.random.Generator, n_random: int = 8
) -> tuple[float, float]:
    """(drop when the k most salient segments are masked, mean drop for k random active segments)."""
    top = sal.top_segments(c, k)
    active = np.argwhere(np.repeat(~sal.padding_segments()[None, :], len(sal.leads), axis=0))
    batch = [E.masked_input(x, top, edges=sal.segment_edges, baseline=sal.baseline)]
    for _ in range(n_random):
        pick = active[rng.choice(len(active), k, replace=False)]
        batch.append(
            E.masked_input(x, [tuple(p) for p in pick], edges=sal.segment_edges, baseline=sal.baseline)
        )
    p = model.predict(np.stack(batch), batch_size=16)[:, c]
    drops = sal.probabilities[c] - p
    return float(drops[0]), float(drops[1:].mean())


def compare(sal: E.Saliency, ref: E.Saliency, classes: list[int]) -> tuple[float, float]:
    """(mean correlation of values, mean overlap of the top-10 segments) over ``classes``."""
    corr, overlap = [], []
    for c in classes:
        a, b = sal.values[c].ravel(), ref.values[c].ravel()
        if a.std() > 0 and b.std() > 0:
            corr.append(float(np.corrcoef(a, b)[0, 1]))
        ta = set(np.argsort(-a)[:10].tolist())
        tb = set(np.argsort(-b)[:10].tolist())
        overlap.append(len(ta & tb) / 10)
    nan = float("nan")
    return (float(np.mean(corr)) if corr else nan, float(np.mean(overlap)) if overlap else nan)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="ONNX model (default: the bundled one)")
    ap.add_argument("--exams", type=int, default=4, help="synthetic exams (default 4)")
    ap.add_argument("--budgets", default="32,64,128,256,512,1024", help="evaluation budgets to compare")
    ap.add_argument("--reference", type=int, default=2048, help="evaluations of the reference explanation")
    ap.add_argument("--segments", type=int, default=E.DEFAULT_SEGMENTS)
    ap.add_argument("--threads", type=int, default=None, help="onnxruntime threads (default: all cores)")
    ap.add_argument("--batch", type=int, default=8, help="masked inputs per network call")
    ap.add_argument("--skip-others", action="store_true", help="skip part 4 (other explainers)")
    ap.add_argument("--before", metavar="OLD.py", help="an older explain.py to time against (part 5)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of part 5 (default 3)")
    ap.add_argument("--only-compare", action="store_true", help="parts 1 and 5 (and 6) only")
    ap.add_argument(
        "--bf16", action="store_true", help="part 6: the same model on OpenVINO bf16 (needs the extra)"
    )
    args = ap.parse_args(argv)
    budgets = [int(b) for b in args.budgets.split(",")]

    model = load_model(args.model, prefer_cuda=False, threads=args.threads)
    print(f"model: {model.describe()}; threads {args.threads or 'default'}")
    t = time.perf_counter()
    warm = E.warm_up()
    print(
        f"warm-up (import shap, first explainer): {warm:.1f} s (once per process; "
        f"{time.perf_counter() - t:.1f} s)"
    )
    exams = [
        synth_exam(FINDINGS[i % len(FINDINGS)], seed=100 + i, duration_s=10.0 if i % 2 == 0 else 8.0)
        for i in range(args.exams)
    ]
    inputs = [model.prepare(e) for e in exams]

    print("\n1. network alone (ms per forward pass, best of 3)")
    per_batch = {b: network_ms(model, inputs[0][0], b) for b in (1, 4, 8, 16, 32, 64)}
    print("   " + "  ".join(f"batch {b}: {ms:.1f}" for b, ms in per_batch.items()))
    ms = per_batch[args.batch] if args.batch in per_batch else min(per_batch.values())
    print(f"   → 1 s holds about {int(1000 / ms)} evaluations at batch {args.batch}")

    if args.only_compare:
        if args.before:
            compare_before(args, model, inputs)
        if args.bf16:
            compare_bf16(args, model, inputs)
        return 0

    print(
        f"\n2+3. cost and accuracy per budget (context 'both', {args.segments} segments; reference: "
        f"{args.reference} evaluations)"
    )
    rng = np.random.default_rng(0)
    refs = []
    for x, rep in inputs:
        E.clear_cache()
        refs.append(
            E.explain(
                model, x, report=rep, segments=args.segments, max_evals=args.reference, batch_size=args.batch
            )
        )
    rows = []
    header = (
        f"   {'evals':>6} {'used':>6} {'s/exam':>7} {'net %':>6} {'corr':>6} {'top10':>6} "
        f"{'drop top10':>10} {'random10':>9} {'margin':>7}"
    )
    print(header)
    for budget in [*budgets, args.reference]:
        secs, net, used, corr, ov, dtop, drnd = [], [], [], [], [], [], []
        for (x, rep), ref in zip(inputs, refs, strict=True):
            sal, s, n = timed_explain(
                model, x, rep, segments=args.segments, max_evals=budget, batch_size=args.batch
            )
            secs.append(s)
            net.append(n / s)
            used.append(sal.n_evaluations)
            classes = [
                c for c in range(len(sal.classes)) if abs(ref.probabilities[c] - ref.base_values[c]) > 0.05
            ]
            cr, o = compare(sal, ref, classes)
            corr.append(cr)
            ov.append(o)
            for c in classes:
                a, b = faithfulness(model, x, sal, c, 10, rng)
                dtop.append(a)
                drnd.append(b)
        row = (
            budget,
            np.mean(used),
            np.mean(secs),
            100 * np.mean(net),
            np.nanmean(corr),
            np.nanmean(ov),
            np.mean(dtop) if dtop else np.nan,
            np.mean(drnd) if drnd else np.nan,
        )
        rows.append(row)
        print(
            f"   {row[0]:>6} {row[1]:>6.0f} {row[2]:>7.2f} {row[3]:>6.0f} {row[4]:>6.3f} {row[5]:>6.2f} "
            f"{row[6]:>10.4f} {row[7]:>9.4f} {row[6] - row[7]:>7.4f}"
        )
    fast = [r for r in rows if r[2] <= 1.0]
    if fast:
        r = max(fast, key=lambda r: r[0])
        print(
            f"   → within 1 s here: {r[0]} evaluations (corr {r[4]:.2f} with the reference, "
            f"top-10 overlap {r[5]:.2f}, faithfulness margin {r[6] - r[7]:.4f})"
        )
    else:
        print("   → no budget fits in 1 s on this machine")

    if not args.skip_others:
        budget = E.DEFAULT_MAX_EVALS
        print(f"\n4. explainers at {budget} evaluations (same exams; same reference)")
        variants = [
            ("partition both (default)", dict(context="both")),
            ("partition owen (shap default)", dict(context="owen")),
            ("partition absent", dict(context="absent")),
            ("partition present", dict(context="present")),
        ]
        for name, kw in variants:
            secs, corr, ov, margin = [], [], [], []
            for (x, rep), ref in zip(inputs, refs, strict=True):
                sal, s, _ = timed_explain(
                    model, x, rep, segments=args.segments, max_evals=budget, batch_size=args.batch, **kw
                )
                secs.append(s)
                classes = [
                    c
                    for c in range(len(sal.classes))
                    if abs(ref.probabilities[c] - ref.base_values[c]) > 0.05
                ]
                cr, o = compare(sal, ref, classes)
                corr.append(cr)
                ov.append(o)
                for c in classes:
                    a, b = faithfulness(model, x, sal, c, 10, rng)
                    margin.append(a - b)
            print(
                f"   {name:<30} {np.mean(secs):6.2f} s  corr {np.nanmean(corr):.3f}  "
                f"top10 {np.nanmean(ov):.2f}  "
                f"faithfulness margin {np.mean(margin) if margin else float('nan'):.4f}"
            )
    if args.before:
        compare_before(args, model, inputs)
    if args.bf16:
        compare_bf16(args, model, inputs)
    return 0


def load_old(path: str):
    """The module in ``path`` (an older explain.py), imported under its own name."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("explain_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["explain_before"] = module
    spec.loader.exec_module(module)
    return module


def _stats(xs: list[float]) -> str:
    return f"{min(xs):6.2f} / {float(np.median(xs)):6.2f}"


def compare_before(args, model, inputs) -> None:
    """Part 5: old vs new code, alternating rounds, same model, exams and parameters."""

    old = load_old(args.before)
    old.warm_up()
    print(f"\n5. before ({args.before}) vs now, {args.rounds} alternating rounds × {len(inputs)} exams")
    for label, budget in (("default", E.DEFAULT_MAX_EVALS), ("preview", E.PREVIEW_MAX_EVALS)):
        t_old, t_new, delta, calls = [], [], 0.0, {}
        for _ in range(args.rounds):
            for x, rep in inputs:
                for name, mod, times in (("before", old, t_old), ("now", E, t_new)):
                    mod.clear_cache()
                    n = [0]
                    real = model.predict

                    def counting(xs, _real=real, _n=n, **k):
                        _n[0] += 1
                        return _real(xs, **k)

                    model.predict = counting
                    try:
                        t = time.perf_counter()
                        sal = mod.explain(model, x, report=rep, segments=args.segments, max_evals=budget)
                        times.append(time.perf_counter() - t)
                    finally:
                        del model.predict
                    calls[name] = n[0]
                    if name == "before":
                        ref = sal.values
                    else:
                        delta = max(delta, float(np.abs(sal.values - ref).max()))
        ratio = [a / b for a, b in zip(t_old, t_new, strict=True)]
        print(
            f"   {label:<8} ({budget} evaluations) s/exam min/median: before {_stats(t_old)}, "
            f"now {_stats(t_new)}; before/now {min(ratio):.2f} / {float(np.median(ratio)):.2f}×; "
            f"network calls {calls['before']} → {calls['now']}; max |Δ values| {delta:.1e}"
        )


def compare_bf16(args, model, inputs) -> None:
    """Part 6: the default explanation and the preview on fp32 (onnxruntime) and OpenVINO bf16.

    Alternating rounds, same exams and parameters; the bf16 values are not the fp32 ones, so
    their agreement is printed too (max |Δ values|, correlation, top-10 overlap).
    """
    from ecgviewer.model.backends import OpenVinoSession

    session = OpenVinoSession(model.path, "bf16", threads=args.threads or 0)
    bf16 = type(model)(path=model.path, contract=model.contract, session=session)  # same predict API
    print(f"\n6. fp32 (onnxruntime) vs OpenVINO bf16, {args.rounds} alternating rounds × {len(inputs)} exams")
    print(
        "   network, batch 32, ms per pass: " + f"fp32 {network_ms(model, inputs[0][0], 32):.1f}, "
        f"bf16 {network_ms(bf16, inputs[0][0], 32):.1f}"
    )
    for label, budget in (("default", E.DEFAULT_MAX_EVALS), ("preview", E.PREVIEW_MAX_EVALS)):
        times: dict[str, list[float]] = {"fp32": [], "bf16": []}
        delta, agreement = 0.0, []
        for r in range(args.rounds):
            for x, rep in inputs:
                sal: dict[str, E.Saliency] = {}
                order = (("fp32", model), ("bf16", bf16))
                for name, m in order if r % 2 == 0 else order[::-1]:
                    E.clear_cache()
                    t = time.perf_counter()
                    sal[name] = E.explain(m, x, report=rep, segments=args.segments, max_evals=budget)
                    times[name].append(time.perf_counter() - t)
                delta = max(delta, float(np.abs(sal["bf16"].values - sal["fp32"].values).max()))
                agreement.append(compare(sal["bf16"], sal["fp32"], list(range(sal["fp32"].values.shape[0]))))
        ratio = [a / b for a, b in zip(times["fp32"], times["bf16"], strict=True)]
        corr, overlap = np.nanmean([a[0] for a in agreement]), np.mean([a[1] for a in agreement])
        print(
            f"   {label:<8} ({budget} evaluations) s/exam min/median: fp32 {_stats(times['fp32'])}, "
            f"bf16 {_stats(times['bf16'])}; fp32/bf16 {min(ratio):.2f} / {float(np.median(ratio)):.2f}×; "
            f"max |Δ values| {delta:.1e}, correlation {corr:.3f}, top-10 overlap {overlap:.2f}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
