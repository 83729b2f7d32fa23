"""``ecgviewer explain PATH [--exam ID | --all] --out FILE.npz [--png FIG.png]``: SHAP saliency.

Per class, lead and time segment; see :mod:`ecgviewer.explain` for what the values mean.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from ecgviewer.atomic import apply_umask
from ecgviewer.commands import add_paths, add_reading_options
from ecgviewer.errors import EcgViewerError
from ecgviewer.explain import (
    BASELINES,
    CONTEXTS,
    DEFAULT_MAX_EVALS,
    DEFAULT_SEGMENTS,
    METHODS,
    ExplainError,
    Saliency,
    _atomic_savez,
    explain,
    explain_cached,
    population_summary,
)

NAME = "explain"
HELP = (
    "SHAP saliency of the network's six outputs over lead × time segments for one exam (or every exam "
    "with --all): an .npz with values (6, 12, segments), segment edges in input samples, base values and "
    "probabilities, and optionally a PNG of the leads with the salient stretches shaded. The values are "
    "attributions relative to a baseline (a flat line by default), not causes."
)


def register(parser: argparse.ArgumentParser) -> None:
    add_paths(parser, "ECG file(s) or folder(s)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--exam",
        metavar="ID",
        help="the exam to explain: its id, or #N for the N-th exam (from 0) in the input; "
        "needed when the input holds several exams",
    )
    which.add_argument(
        "--all",
        action="store_true",
        help="explain every exam: values (N, 6, 12, segments) and the population summary "
        "(mean lead importance per class)",
    )
    parser.add_argument("--out", required=True, metavar="FILE.npz", help="output file (.npz)")
    parser.add_argument(
        "--png",
        metavar="FIG.png",
        help="also draw a figure: the leads with the saliency shaded and lead-importance "
        "bars (with --all: the population summary)",
    )
    parser.add_argument(
        "--classes",
        default="positive",
        metavar="WHICH",
        help="classes to draw in the PNG: 'positive' (above threshold; the most probable "
        "if none; default), 'all', or names such as RBBB,AF",
    )
    parser.add_argument(
        "--segments",
        type=int,
        default=DEFAULT_SEGMENTS,
        help=f"time segments over the 4096-sample input (default {DEFAULT_SEGMENTS}: 320 ms each)",
    )
    parser.add_argument(
        "--max-evals",
        type=int,
        default=None,
        help=f"network evaluations per exam (default {DEFAULT_MAX_EVALS}; more = finer and slower)",
    )
    parser.add_argument(
        "--baseline",
        choices=BASELINES,
        default="zero",
        help="what a masked segment is replaced by (default: zero, the padding value)",
    )
    parser.add_argument(
        "--method", choices=METHODS, default="partition", help="SHAP explainer (default partition)"
    )
    parser.add_argument(
        "--context",
        choices=CONTEXTS,
        default="both",
        help="partition explainer's contexts (default both; see ecgviewer.explain)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same values)")
    parser.add_argument("--model", metavar="MODEL.onnx", help="model to explain (default: the bundled model)")
    parser.add_argument("--threads", type=int, default=None, help="inference threads (default: all cores)")
    parser.add_argument("--cpu", action="store_true", help="do not try CUDA")
    add_reading_options(parser)
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the saliency cache")
    parser.add_argument("--quiet", action="store_true", help="no progress or summary on stderr")


def _pick_exam(exams, spec: str | None, paths: list[str]) -> int:
    n = len(exams)
    if spec is None:
        if n == 1:
            return 0
        ids = ", ".join(exams.header(i).exam_id or f"#{i}" for i in range(min(n, 5)))
        raise ExplainError(
            f"{', '.join(paths)} holds {n} exams ({ids}{', …' if n > 5 else ''}); "
            "choose one with --exam ID (or #N) or explain them all with --all"
        )
    if spec.startswith("#") and spec[1:].isdigit():
        i = int(spec[1:])
        if not 0 <= i < n:
            raise ExplainError(f"--exam {spec}: the input holds {n} exams (#0 … #{n - 1})")
        return i
    try:
        return exams.index_of(spec)
    except KeyError:
        raise ExplainError(
            f"--exam {spec}: no exam with this id in {', '.join(paths)} ({n} exams; use #N for the N-th)"
        ) from None


def _progress_printer(quiet: bool, label: str):
    if quiet:
        return None
    state = {"last": -1.0}
    tty = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        frac = done / total if total else 1.0
        if tty:
            now = time.perf_counter()
            if now - state["last"] < 0.1 and done < total:
                return
            state["last"] = now
            sys.stderr.write(f"\r{label} {done}/{total} evaluations ({100 * frac:3.0f} %) ")
            if done >= total:
                sys.stderr.write("\n")
            sys.stderr.flush()

    return progress


def _classes_to_draw(sal: Saliency, spec: str) -> list[int]:
    if spec == "all":
        return list(range(len(sal.classes)))
    if spec == "positive":
        pos = sal.positive_classes()
        return pos or [int(np.argmax(sal.probabilities))]
    out = []
    for name in (s.strip() for s in spec.split(",") if s.strip()):
        out.append(sal.class_index(name))
    if not out:
        raise ExplainError("--classes: name at least one class, or 'positive' / 'all'")
    return out


# --------------------------------------------------------------------------- figures


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError:  # matplotlib comes with wfdb; say so if an install lacks it
        raise ExplainError("--png needs matplotlib (pip install matplotlib)") from None
    return plt


def _save_figure(fig, path: Path) -> None:
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110, format="png")
        apply_umask(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _footer(sal: Saliency) -> str:
    return (
        f"{sal.model_name} {sal.model_version} · SHAP {sal.method}, baseline {sal.baseline}, "
        f"{sal.n_segments} segments × {len(sal.leads)} leads, {sal.n_evaluations} evaluations\n"
        "values are attributions relative to the baseline, not causes · not a medical device"
    )


def plot_saliency(
    out: Path,
    sal: Saliency,
    x_input: np.ndarray,
    classes: list[int],
    *,
    title: str = "",
    scale_per_mv: float = 10.0,
) -> Path:
    """Draw the 12 leads with each class's SHAP values shaded behind them, plus lead-importance bars.

    One panel per class: traces in mV against the original recording's time (padding not drawn),
    a diverging colour map centred at zero (red raises the probability, blue lowers it; the same
    limit for every lead of the class), and beside it the lead importance (sum of |values|).
    """
    plt = _pyplot()
    from matplotlib import gridspec

    n = len(classes)
    ncols = 1 if n == 1 else 2 if n <= 4 else 3
    nrows = int(np.ceil(n / ncols))
    fig = plt.figure(figsize=(8.6 * ncols, 6.6 * nrows + 0.6))
    height = 6.6 * nrows + 0.6
    outer = gridspec.GridSpec(
        nrows,
        ncols,
        figure=fig,
        left=0.03,
        right=0.93 if ncols == 1 else 0.95,
        top=1 - 0.95 / height,
        bottom=0.9 / height,
        wspace=0.2,
        hspace=0.3,
    )
    L = len(sal.leads)
    lo, hi = sal.signal_start, sal.signal_stop
    if hi <= lo:
        lo, hi = 0, sal.n_samples
    t = sal.offset_s + np.arange(lo, hi) / sal.fs
    mv = np.asarray(x_input, dtype=np.float32)[lo:hi] / scale_per_mv
    spacing = max(2.0, float(np.percentile(np.ptp(mv, axis=0), 90)) * 0.8) if mv.size else 2.0
    edges_t = sal.segment_times_s()
    for k, c in enumerate(classes):
        inner = gridspec.GridSpecFromSubplotSpec(
            1, 2, subplot_spec=outer[k], width_ratios=[5, 1], wspace=0.04
        )
        ax = fig.add_subplot(inner[0])
        bars = fig.add_subplot(inner[1], sharey=ax)
        v = sal.values[c]
        lim = sal.color_limit(c)
        y_edges = -(np.arange(L + 1) - 0.5) * spacing
        mesh = ax.pcolormesh(
            edges_t,
            y_edges,
            v,
            cmap="RdBu_r",
            vmin=-lim,
            vmax=lim,
            alpha=0.75,
            shading="flat",
            rasterized=True,
            linewidth=0,
        )
        for j in range(L):
            ax.plot(t, mv[:, j] - j * spacing, color="black", lw=0.55)
            ax.text(
                t[0] if t.size else 0,
                -j * spacing + 0.32 * spacing,
                sal.leads[j],
                fontsize=8,
                fontweight="bold",
                va="center",
                ha="left",
                bbox=dict(boxstyle="square,pad=0.1", facecolor="white", edgecolor="none", alpha=0.8),
            )
        ax.set_xlim(edges_t[0] if lo == 0 else t[0], edges_t[-1] if hi == sal.n_samples else t[-1])
        ax.set_ylim(y_edges[-1], y_edges[0])
        ax.set_yticks([])
        ax.set_xlabel("time (s)", fontsize=8)
        ax.tick_params(labelsize=7)
        thr = f" (threshold {sal.thresholds[c]:.2f})" if sal.thresholds.size == len(sal.classes) else ""
        ax.set_title(
            f"{sal.classes[c]}: p = {sal.probabilities[c]:.3f}{thr}, base {sal.base_values[c]:.3f}; "
            "red raises, blue lowers",
            fontsize=9,
        )
        imp = sal.lead_importance()[c]
        bars.barh(-np.arange(L) * spacing, imp, height=0.7 * spacing, color="#555555")
        bars.set_title("lead importance\nΣ|SHAP|", fontsize=8)
        bars.tick_params(labelsize=7, labelleft=False, left=False)
        cb = fig.colorbar(mesh, ax=bars, fraction=0.25, pad=0.08, aspect=30)
        cb.ax.tick_params(labelsize=7)
        cb.set_label("SHAP value (probability)", fontsize=7)
    fig.suptitle(f"{title} — SHAP saliency" if title else "SHAP saliency", fontsize=11, y=1 - 0.25 / height)
    fig.text(0.5, 0.005, _footer(sal), ha="center", va="bottom", fontsize=7, color="#444444")
    _save_figure(fig, out)
    plt.close(fig)
    return out


def plot_population(out: Path, sals: list[Saliency], *, title: str = "") -> Path:
    """Mean lead importance per class over a set of exams (one bar chart per class)."""
    plt = _pyplot()
    first = sals[0]
    summary = population_summary(sals)
    C, L = summary.shape
    ncols = 3 if C > 4 else C
    nrows = int(np.ceil(C / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows + 0.6), squeeze=False)
    for c in range(nrows * ncols):
        ax = axes.flat[c]
        if c >= C:
            ax.set_visible(False)
            continue
        ax.barh(np.arange(L), summary[c], color="#555555")
        ax.set_yticks(np.arange(L), first.leads, fontsize=7)
        ax.invert_yaxis()
        ax.tick_params(labelsize=7)
        n_pos = sum(1 for s in sals if c in s.positive_classes())
        ax.set_title(f"{first.classes[c]} ({n_pos} of {len(sals)} positive)", fontsize=9)
        ax.set_xlabel("mean Σ|SHAP| over time", fontsize=7)
    fig.suptitle(
        ("Lead importance per class — " + title) if title else "Lead importance per class", fontsize=10
    )
    fig.tight_layout(rect=(0, 0.03, 1, 0.96))
    fig.text(0.5, 0.005, _footer(first), ha="center", va="bottom", fontsize=6, color="#444444")
    _save_figure(fig, out)
    plt.close(fig)
    return out


# --------------------------------------------------------------------------- command


def run(args: argparse.Namespace) -> int:
    from ecgviewer.io import open_exams
    from ecgviewer.model.runtime import load_model

    out = Path(args.out)
    if out.suffix.lower() != ".npz":
        raise ExplainError(f"{out}: --out must end in .npz")
    for target in [out] + ([Path(args.png)] if args.png else []):
        if not target.parent.exists():
            raise ExplainError(f"{target.parent}: the output folder does not exist")
    if args.png and Path(args.png).suffix.lower() != ".png":
        raise ExplainError(f"{args.png}: --png must end in .png")
    model = load_model(args.model, prefer_cuda=not args.cpu, threads=args.threads)
    for w in model.warnings:
        print(f"ecgviewer: warning: {w}", file=sys.stderr)
    params = dict(
        segments=args.segments,
        seed=args.seed,
        baseline=args.baseline,
        max_evals=args.max_evals,
        method=args.method,
        context=args.context,
    )
    exams = open_exams(args.paths, fs=args.fs, units=args.units)
    try:
        for err in exams.errors:
            print(f"ecgviewer: skipped {err}", file=sys.stderr)
        if len(exams) == 0:
            raise ExplainError("no readable exams in " + ", ".join(map(str, args.paths)))
        indices = list(range(len(exams))) if args.all else [_pick_exam(exams, args.exam, args.paths)]
        results: list[tuple[int, object, Saliency]] = []
        failed = 0
        for k, i in enumerate(indices):
            try:
                exam = exams[i]
                x, report = model.prepare(exam)
            except EcgViewerError as err:
                if not args.all:
                    raise
                print(f"ecgviewer: skipped {err}", file=sys.stderr)
                failed += 1
                continue
            label = f"[{k + 1}/{len(indices)}] {exam.exam_id or f'#{i}'}:"
            progress = _progress_printer(args.quiet, label)
            if args.no_cache:
                sal = explain(model, x, report=report, progress=progress, **params)
            else:
                sal = explain_cached(model, x, report=report, progress=progress, **params)
            if not args.quiet:
                probs = ", ".join(f"{c} {p:.2f}" for c, p in zip(sal.classes, sal.probabilities, strict=True))
                print(
                    f"{label} {probs}; {sal.n_evaluations} evaluations, {sal.seconds:.1f} s", file=sys.stderr
                )
            results.append((i, exam, sal))
    finally:
        exams.close()
    if not results:
        raise ExplainError("no exam could be explained")

    if args.all:
        sals = [s for _, _, s in results]
        first = sals[0]
        arrays = {
            "values": np.stack([s.values for s in sals]).astype(np.float32),
            "segment_edges": first.segment_edges,
            "segment_times_s": np.stack([s.segment_times_s() for s in sals]),
            "base_values": np.stack([s.base_values for s in sals]),
            "probabilities": np.stack([s.probabilities for s in sals]),
            "thresholds": first.thresholds,
            "lead_importance": np.stack([s.lead_importance() for s in sals]).astype(np.float32),
            "population_lead_importance": population_summary(sals),
            "population_lead_importance_normalized": population_summary(sals, normalize=True),
            "exam_ids": np.array([e.exam_id or f"#{i}" for i, e, _ in results]),
            "exam_index": np.array([i for i, _, _ in results], dtype=np.int64),
            "classes": np.array(first.classes),
            "leads": np.array(first.leads),
            "model_name": np.array(first.model_name),
            "model_version": np.array(first.model_version),
            "meta_json": first.to_arrays()["meta_json"],
        }
        _atomic_savez(out, arrays)
    else:
        i, exam, sal = results[0]
        arrays = sal.to_arrays()
        arrays["exam_id"] = np.array(exam.exam_id or f"#{i}")
        arrays["model_version"] = np.array(sal.model_version)
        _atomic_savez(out, arrays)
    if args.png:
        if args.all:
            plot_population(
                Path(args.png),
                [s for _, _, s in results],
                title=f"{len(results)} exams from {', '.join(map(str, args.paths))}",
            )
        else:
            i, exam, sal = results[0]
            plot_saliency(
                Path(args.png),
                sal,
                x_input=model.prepare(exam)[0],
                classes=_classes_to_draw(sal, args.classes),
                title=f"{exam.exam_id or exam.display_name()}",
            )
    if not args.quiet:
        print(f"wrote {out}" + (f" and {args.png}" if args.png else ""), file=sys.stderr)
    return 1 if failed else 0
