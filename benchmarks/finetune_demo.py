"""The autoECG demonstration: fine-tune a model to normal vs abnormal on PTB-XL and score it.

    PYTHONPATH=$PWD python benchmarks/finetune_demo.py --base models/ecgviewer-resnet-ptbxl.onnx
    # a quick check of the script itself (a random 300 training and 200 validation exams):
    PYTHONPATH=$PWD python benchmarks/finetune_demo.py --base M.onnx --limit 300 --valid-limit 200

What it does (the README's *Fine-tuning* table comes from its output):

1. ``ecgviewer finetune`` twice, as a subprocess with the command's own arguments, on
   ``ptbxl100_train.h5`` with ``labels.csv`` (classes ``normal=NORM,abnormal=!NORM``),
   training on strat_folds 1-8 and choosing the epoch and the thresholds on fold 9: once from
   ``--base``, once with ``--random-init`` (the same architecture, randomly initialised, frozen,
   the same head trained: what pre-training brings). Both keep the command's defaults (backbone
   frozen, class-weighted loss, 30 epochs). A run that was interrupted resumes (the command
   caches the frozen network's outputs and checkpoints each epoch in ``OUT/NAME.finetune/``).
2. Scores each exported ONNX with the project's own code (``predict_exams`` of
   ``ecgviewer predict`` for the probabilities, ``ecgviewer.metrics`` for AUROC and F1 with the
   contract's thresholds, and the paper's paired bootstrap, seed 123, for 95 % intervals) on
   - fold 9 (the validation rows of the run: the thresholds were chosen there, so its F1 is
     optimistic; its AUROC is not tuned beyond the choice of the epoch), and
   - the PhysioNet/CinC Challenge 2021 records in ``wfdb/challenge2021`` without the PTB-XL
     ones (``HR*``: PTB-XL exams, some of them in the training folds): abnormal = any ``#Dx``
     code other than sinus rhythm (426783006), normal = sinus rhythm alone.
3. Prints a Markdown table (and writes it and the figures as JSON to ``OUT``).

Needs the ``train`` extra (PyTorch) and ``../shared/data`` beside the checkout (or ``--data-root``).
Outputs (models, caches) go to ``--out`` (default /tmp/ftdemo); nothing is written into the checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecgviewer.metrics import binary_scores, bootstrap_ci, bootstrap_indices, roc_auc, threshold  # noqa: E402

CLASSES = ["normal=NORM,abnormal=!NORM"]
SINUS_RHYTHM = "426783006"
TRAIN_WHERE, VALID_WHERE = "strat_fold=1-8", "strat_fold=9"
BOOTSTRAP = 1000


@dataclass
class Variant:
    key: str
    label: str  # the table's row ({base}: the base model's name and version)
    name: str  # the fine-tuned model's name (in its contract, shown by the viewer)
    random_init: bool


VARIANTS = (
    Variant("pretrained", "{base}, frozen, new head", "Normal/abnormal (fine-tuned from {base})", False),
    Variant(
        "random",
        "random network, frozen, same head",
        "Normal/abnormal baseline (random network of {base}'s architecture)",
        True,
    ),
)


def finetune_args(args: argparse.Namespace, v: Variant, out: Path, threads: int | None) -> list[str]:
    """The ``ecgviewer finetune`` command line of one variant."""
    cmd = [
        "finetune",
        "--base",
        str(args.base),
        "--data",
        str(args.data),
        "--labels",
        str(args.labels),
        "--classes",
        *CLASSES,
        "--train-where",
        TRAIN_WHERE,
        "--valid-where",
        VALID_WHERE,
        "--seed",
        str(args.seed),
        "--name",
        v.name.format(base=args.base_label),
        "--out",
        str(out),
    ]
    if args.epochs:
        cmd += ["--epochs", str(args.epochs)]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    if args.valid_limit:
        cmd += ["--valid-limit", str(args.valid_limit)]
    if threads:
        cmd += ["--threads", str(threads)]
    if v.random_init:
        cmd += ["--random-init"]
    return cmd


def run_finetunes(args: argparse.Namespace, runs: list[tuple[Variant, Path]]) -> dict[str, float]:
    """Run the command in subprocesses, ``args.jobs`` at a time (their progress goes to stderr).

    Returns the seconds each took. With two jobs each gets one thread (unless ``--threads``): on a
    2-core machine that is about as fast as one after the other, and both finish together."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    threads = args.threads or (1 if args.jobs > 1 else None)
    seconds: dict[str, float] = {}
    pending = list(runs)
    running: list[tuple[Variant, subprocess.Popen, float]] = []
    while pending or running:
        while pending and len(running) < args.jobs:
            v, out = pending.pop(0)
            cmd = [sys.executable, "-m", "ecgviewer", *finetune_args(args, v, out, threads)]
            print("$ ecgviewer " + shlex.join(cmd[3:]), file=sys.stderr, flush=True)
            running.append((v, subprocess.Popen(cmd, env=env), time.perf_counter()))
        time.sleep(1)
        for item in [r for r in running if r[1].poll() is not None]:
            running.remove(item)
            v, proc, t0 = item
            if proc.returncode != 0:
                for _, other, _ in running:
                    other.wait()
                raise SystemExit(f"finetune_demo: ecgviewer finetune ({v.key}) exited with {proc.returncode}")
            seconds[v.key] = time.perf_counter() - t0
    return seconds


# --------------------------------------------------------------------------- the exams scored


class Subset:
    """Some exams of an :class:`~ecgviewer.io.ExamSet`, as ``predict_exams`` reads them.

    Remembers each exam's ``#Dx`` codes as it is read (the Challenge labels)."""

    def __init__(self, exams, indices: list[int]) -> None:
        self.exams, self.indices = exams, list(indices)
        self.dx: dict[int, list[str]] = {}

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        exam = self.exams[self.indices[i]]
        self.dx[i] = list((exam.raw_labels or {}).get("dx", []))
        return exam

    def header(self, i: int):
        return self.exams.header(self.indices[i])


def fold9_subset(args: argparse.Namespace, exams) -> tuple[Subset, np.ndarray]:
    """The validation exams of the runs (the same rows the command chose) and their (N, 2) labels."""
    from ecgviewer.class_labels import parse_classes, read_labels
    from ecgviewer.training.finetune import FinetuneConfig, _select

    cfg = FinetuneConfig(
        base=str(args.base),
        data=[str(args.data)],
        labels=str(args.labels),
        classes=CLASSES,
        out="unused.onnx",
        train_where=TRAIN_WHERE,
        valid_where=VALID_WHERE,
        limit=args.limit,
        valid_limit=args.valid_limit,
        seed=args.seed,
    )
    table = read_labels(args.labels, parse_classes(CLASSES))
    _, valid, ids, _ = _select(cfg, table, exams)
    y = np.stack([table.values[ids[i]] for i in valid])
    return Subset(exams, valid), np.where(np.isfinite(y), y, -1).astype(np.int8)


def challenge_subset(exams) -> tuple[Subset, list[str]]:
    """The Challenge records other than PTB-XL's (HR*); returns them and the ids left out."""
    keep, dropped = [], []
    for i in range(len(exams)):
        exam_id = exams.header(i).exam_id
        (dropped if exam_id.upper().startswith("HR") else keep).append(i)
    return Subset(exams, keep), [exams.header(i).exam_id for i in dropped]


def challenge_labels(sub: Subset) -> np.ndarray:
    """(N, 2) normal/abnormal from the #Dx codes read: normal = sinus rhythm alone; -1 = no Dx."""
    y = np.full((len(sub), 2), -1, np.int8)
    for i in range(len(sub)):
        codes = set(sub.dx.get(i, []))
        if codes:
            abnormal = int(bool(codes - {SINUS_RHYTHM}))
            y[i] = (1 - abnormal, abnormal)
    return y


def probabilities(model_path: Path, sub: Subset, threads: int | None) -> np.ndarray:
    """(N, C) probabilities through ``ecgviewer predict``'s own loop (NaN for an exam it cannot read)."""
    from ecgviewer.commands.predict import predict_exams
    from ecgviewer.model.runtime import load_model

    model = load_model(model_path, prefer_cuda=False, threads=threads)
    out = np.full((len(sub), len(model.classes)), np.nan)

    def write(i, exam_id, source, index, probs, decisions, error, quality, **_):
        if probs is None:
            print(f"  {exam_id}: {error}", file=sys.stderr)
        else:
            out[i] = probs

    predict_exams(model, sub, write)
    return out


# --------------------------------------------------------------------------- figures


def scores(y: np.ndarray, p: np.ndarray, thresholds: np.ndarray) -> dict:
    """AUROC and F1 per class with the paper's bootstrap 95 % intervals; positive counts."""
    ok = np.isfinite(p).all(axis=1)
    y, p = y[ok], p[ok]
    decisions = threshold(p, thresholds)
    f1 = binary_scores(y, decisions)["f1"]
    ci = bootstrap_ci(y, decisions, n_resamples=BOOTSTRAP)["f1"]
    idx = bootstrap_indices(len(y), BOOTSTRAP)
    out = {}
    for k in range(y.shape[1]):
        auc = [roc_auc(y[r, k], p[r, k]) for r in idx]
        auc = np.sort(np.asarray(auc)[np.isfinite(auc)])
        lo, hi = (auc[int(q * len(auc))] for q in (0.025, 0.975)) if len(auc) else (np.nan, np.nan)
        out[k] = {
            "auroc": roc_auc(y[:, k], p[:, k]),
            "auroc_ci": [float(lo), float(hi)],
            "f1": float(f1[k]),
            "f1_ci": [float(ci[k, 0]), float(ci[k, 1])],
            "n_positive": int((y[:, k] == 1).sum()),
            "n": int((y[:, k] >= 0).sum()),
        }
    return out


def cell(s: dict) -> str:
    return (
        f"{s['auroc']:.3f} ({s['auroc_ci'][0]:.3f}–{s['auroc_ci'][1]:.3f}) / "
        f"{s['f1']:.3f} ({s['f1_ci'][0]:.3f}–{s['f1_ci'][1]:.3f})"
    )


def main(argv: list[str] | None = None) -> int:
    shared = ROOT.parent / "shared" / "data"
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", type=Path, required=True, help="the base model (.onnx)")
    ap.add_argument("--data-root", type=Path, default=shared, help=f"the shared data (default {shared})")
    ap.add_argument("--out", type=Path, default=Path("/tmp/ftdemo"), help="models and caches")
    ap.add_argument("--limit", type=int, help="a random subset of the training exams (a quick check)")
    ap.add_argument("--valid-limit", type=int, help="a random subset of fold 9 (a quick check)")
    ap.add_argument("--epochs", type=int, help="epochs (default: the command's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, help="threads for PyTorch and onnxruntime")
    ap.add_argument("--jobs", type=int, default=1, help="fine-tuning runs at once (1 or 2; default 1)")
    ap.add_argument("--score-only", action="store_true", help="score models already in --out")
    args = ap.parse_args(argv)
    args.data = args.data_root / "ptbxl" / "ptbxl100_train.h5"
    args.labels = args.data_root / "ptbxl" / "labels.csv"
    challenge = args.data_root / "wfdb" / "challenge2021"
    for p in (args.base, args.data, args.labels, challenge):
        if not p.exists():
            raise SystemExit(f"finetune_demo: {p}: not found")
    args.out.mkdir(parents=True, exist_ok=True)
    tag = f"-limit{args.limit or 0}-{args.valid_limit or 0}" if (args.limit or args.valid_limit) else ""

    from ecgviewer.io import open_exams
    from ecgviewer.model.runtime import read_contract

    base_contract, _ = read_contract(args.base)
    base_label = args.base_label = f"{base_contract.name} {base_contract.version}"
    models = {v.key: args.out / f"normal-abnormal-{v.key}{tag}.onnx" for v in VARIANTS}
    todo = [(v, models[v.key]) for v in VARIANTS if not (args.score_only and models[v.key].is_file())]
    seconds = run_finetunes(args, todo)

    print("scoring on fold 9 and the Challenge records ...", file=sys.stderr, flush=True)
    ptbxl = open_exams([args.data])
    cinc = open_exams([challenge])
    try:
        f9, y9 = fold9_subset(args, ptbxl)
        ch, left_out = challenge_subset(cinc)
        results: dict = {"base": base_label, "base_path": str(args.base), "variants": {}}
        for v in VARIANTS:
            contract, _ = read_contract(models[v.key])
            thr = np.asarray(contract.thresholds, np.float64)
            p9 = probabilities(models[v.key], f9, args.threads)
            pc = probabilities(models[v.key], ch, args.threads)
            yc = challenge_labels(ch)
            results["variants"][v.key] = {
                "label": v.label.format(base=base_label),
                "model": str(models[v.key]),
                "classes": list(contract.classes),
                "thresholds": [float(t) for t in thr],
                "finetune_seconds": seconds.get(v.key),
                "n_train": contract.metrics.get("validation", {}).get("n_train"),
                "contract_validation": contract.metrics.get("validation", {}),
                "fold9": scores(y9, p9, thr),
                "challenge": scores(yc, pc, thr),
            }
        results["challenge_left_out"] = left_out
    finally:
        ptbxl.close()
        cinc.close()
    (args.out / f"results{tag}.json").write_text(json.dumps(results, indent=1, default=str))
    table = markdown(results)
    (args.out / f"results{tag}.md").write_text(table)
    print(table)
    return 0


def markdown(results: dict) -> str:
    """The README's table: AUROC / F1 (95 % bootstrap intervals) per class, model and set."""
    first = next(iter(results["variants"].values()))
    classes = first["classes"]
    lines = []
    for k, name in enumerate(classes):
        f9, ch = first["fold9"][k], first["challenge"][k]
        lines += [
            f"| {name} (AUROC / F1, 95 % CI) | fold 9 ({f9['n']} exams, {f9['n_positive']} {name}) "
            f"| Challenge 2021 records ({ch['n']}, {ch['n_positive']} {name}) |",
            "| --- | --- | --- |",
        ]
        for v in results["variants"].values():
            lines.append(f"| {v['label']} | {cell(v['fold9'][k])} | {cell(v['challenge'][k])} |")
        lines.append("")
    lines.append(
        "Thresholds (chosen on fold 9): "
        + "; ".join(
            f"{v['label']}: "
            + ", ".join(f"{c} {t:.3f}" for c, t in zip(classes, v["thresholds"], strict=True))
            for v in results["variants"].values()
        )
    )
    lines.append(
        f"Training exams: {first['n_train']}. Challenge records left out (PTB-XL): "
        f"{len(results['challenge_left_out'])} ({', '.join(results['challenge_left_out'])})."
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
