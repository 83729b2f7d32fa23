"""Fine-tune a model of the paper's architecture to new classes (the autoECG recipe), on the CPU.

>>> cfg = FinetuneConfig(base="model.onnx", data=["ptbxl100_train.h5"], labels="labels.csv",
...                      classes=["normal=NORM", "abnormal=!NORM"], out="normal.onnx")
>>> result = finetune(cfg, progress=print)

The base's weights are read into :class:`RibeiroResNet` (:func:`load_base`); its 6-output
layer is replaced by a new head for the given classes; the first convolution and the first
``freeze`` residual blocks are frozen. The frozen prefix runs ONCE per exam (its outputs
are cached as float16 in the checkpoint folder), so an epoch only runs the trainable rest:
with the whole backbone frozen (``freeze=4``, the default) an epoch over a few thousand
exams takes a second. The loss is binary cross-entropy per class, weighted by the class
balance (``pos_weight = negatives / positives``) unless ``class_weights`` is off; a label
that is missing (empty cell, or a class its source lacks) is left out of the loss, never
taken as negative. The validation split is by patient when the labels have a
``patient_id`` column, else by exam (and the contract says so); ``valid_where`` picks it
explicitly (e.g. ``strat_fold=9``). Each class's threshold maximises F1 on the validation
split; the exported contract holds the classes, thresholds, provenance and validation metrics.
A checkpoint after every epoch lets an interrupted run resume.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ecgviewer.class_labels import ClassLabelError as FinetuneError
from ecgviewer.class_labels import LabelTable, matches_values, parse_classes, read_labels, where_spec
from ecgviewer.errors import Cancelled, ModelError
from ecgviewer.model.contract import ModelContract
from ecgviewer.model.install import sha256_file
from ecgviewer.training.architecture import RibeiroResNet
from ecgviewer.training.base_weights import load_base

FinetuneProgress = Callable[[str, int, int], None]
"""``progress(stage, done, total)`` with stage "features", "epoch" or "export"."""


@dataclass
class FinetuneConfig:
    """What :func:`finetune` does; ``classes`` are ``NAME``, ``NAME=COLUMN`` or ``NAME=!COLUMN``."""

    base: str
    data: list[str]
    labels: str
    classes: list[str]
    out: str
    freeze: int = 4
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    class_weights: bool = True
    valid_fraction: float = 0.15
    valid_where: str | None = None
    train_where: str | None = None
    limit: int | None = None
    valid_limit: int | None = None
    seed: int = 0
    name: str | None = None
    checkpoint: str | None = None
    threads: int | None = None
    random_init: bool = False


@dataclass
class FinetuneResult:
    """The exported model and what was measured on the validation split."""

    out: Path
    contract: ModelContract
    n_train: int
    n_valid: int
    split: str
    metrics: dict = field(default_factory=dict)
    epochs_run: int = 0
    seconds: float = 0.0


# --------------------------------------------------------------------------- the network in two parts


def _prefix(model: RibeiroResNet, x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the first convolution and the first ``k`` residual blocks: (x, skip)."""
    from torch.nn import functional as F  # noqa: N812

    x = x.transpose(1, 2)
    if model.lowpass is not None:
        n = model.lowpass.shape[-1]
        x = F.conv1d(F.pad(x, ((n - 1) // 2, n // 2)), model.lowpass, groups=x.shape[1])
    x = F.relu(model.bn(model.conv(x)))
    skip = x
    for block in model.blocks[:k]:
        x, skip = block(x, skip)
    return x, skip


def _suffix_logits(model: RibeiroResNet, x: torch.Tensor, skip: torch.Tensor, k: int) -> torch.Tensor:
    for block in model.blocks[k:]:
        x, skip = block(x, skip)
    return model.dense(x.transpose(1, 2).flatten(1))


def best_f1_thresholds(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(C,) thresholds maximising F1 per class on (N, C) labels (NaN ignored) and probabilities.

    Decisions are ``p > threshold`` (as the paper's); the threshold is the midpoint between the
    chosen score and the next lower one.
    """
    out = np.full(y.shape[1], 0.5, np.float32)
    for c in range(y.shape[1]):
        ok = np.isfinite(y[:, c])
        yc, pc = y[ok, c] > 0.5, p[ok, c]
        if yc.sum() == 0 or (~yc).sum() == 0:
            continue
        order = np.argsort(-pc, kind="stable")
        ps, ys = pc[order], yc[order]
        tp = np.cumsum(ys)
        fp = np.cumsum(~ys)
        f1 = 2 * tp / (tp + fp + ys.sum())
        # only cut where the score changes
        last = np.r_[ps[1:] != ps[:-1], True]
        i = int(np.argmax(np.where(last, f1, -1)))
        below = ps[i + 1] if i + 1 < len(ps) else 0.0
        out[c] = np.float32((ps[i] + below) / 2)
    return out


def split_metrics(y: np.ndarray, p: np.ndarray, thresholds: np.ndarray, classes: Sequence[str]) -> dict:
    """AUROC, F1, precision, recall, positives and exams per class (labels that are NaN left out)."""
    from ecgviewer.metrics import roc_auc

    m: dict[str, dict[str, float]] = {
        k: {} for k in ("auroc", "f1", "precision", "recall", "n_positive", "n")
    }
    for c, name in enumerate(classes):
        ok = np.isfinite(y[:, c])
        yc, pc = y[ok, c] > 0.5, p[ok, c]
        d = pc > thresholds[c]
        tp, fp, fn = int((d & yc).sum()), int((d & ~yc).sum()), int((~d & yc).sum())
        prec = tp / (tp + fp) if tp + fp else float("nan")
        rec = tp / (tp + fn) if tp + fn else float("nan")
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
        auc = float(roc_auc(yc.astype(int), pc)) if 0 < yc.sum() < len(yc) else float("nan")
        for key, val in (("auroc", auc), ("f1", f1), ("precision", prec), ("recall", rec)):
            m[key][name] = round(float(val), 4) if math.isfinite(val) else None  # type: ignore[assignment]
        m["n_positive"][name] = int(yc.sum())
        m["n"][name] = int(ok.sum())
    return m


# --------------------------------------------------------------------------- data


def _signature(cfg: FinetuneConfig, base_sha: str) -> str:
    keys = {
        k: v for k, v in asdict(cfg).items() if k not in ("out", "checkpoint", "threads", "epochs", "name")
    }
    return hashlib.sha256((json.dumps(keys, sort_keys=True) + base_sha).encode()).hexdigest()[:16]


def _select(cfg: FinetuneConfig, table: LabelTable, exams) -> tuple[list[int], list[int], list[str], str]:
    """Indices (in ``exams``) of the training and validation exams, their ids, and how the split was made."""
    ids = [exams.header(i).exam_id for i in range(len(exams))]
    labelled = [i for i, e in enumerate(ids) if e in table.values and np.isfinite(table.values[e]).any()]
    if not labelled:
        raise FinetuneError(
            f"{cfg.labels}: no exam of {', '.join(cfg.data)} has labels "
            f"(ids such as {ids[0] if ids else '?'})"
        )
    tw, vw = where_spec(cfg.train_where), where_spec(cfg.valid_where)
    rng = np.random.default_rng(cfg.seed)
    if vw is not None:
        col, spec = vw
        if col not in table.rows[ids[labelled[0]]]:
            raise FinetuneError(f"{cfg.labels}: no column {col!r} for --valid-where")
        valid = [i for i in labelled if matches_values(table.rows[ids[i]].get(col, ""), spec)]
        rest = [i for i in labelled if i not in set(valid)]
        split = f"validation = rows with {col} {spec}"
    else:
        if table.patient:
            patients = sorted({table.patient.get(ids[i], ids[i]) for i in labelled})
            chosen = set(rng.permutation(patients)[: max(1, round(cfg.valid_fraction * len(patients)))])
            valid = [i for i in labelled if table.patient.get(ids[i], ids[i]) in chosen]
            split = f"by patient ({len(chosen)} patients held out, {cfg.valid_fraction:.0%})"
        else:
            perm = rng.permutation(labelled)
            valid = sorted(perm[: max(1, round(cfg.valid_fraction * len(labelled)))].tolist())
            split = f"by exam ({cfg.valid_fraction:.0%}): the labels have no patient_id column"
        rest = [i for i in labelled if i not in set(valid)]
    if tw is not None:
        col, spec = tw
        rest = [i for i in rest if matches_values(table.rows[ids[i]].get(col, ""), spec)]
    if cfg.limit and len(rest) > cfg.limit:
        rest = sorted(rng.choice(rest, cfg.limit, replace=False).tolist())
    if cfg.valid_limit and len(valid) > cfg.valid_limit:
        valid = sorted(rng.choice(valid, cfg.valid_limit, replace=False).tolist())
        split += f" (a random {cfg.valid_limit} of them)"
    if not rest or not valid:
        raise FinetuneError(
            f"{cfg.labels}: {len(rest)} training and {len(valid)} validation exams; need both"
        )
    return rest, valid, ids, split


def _prefix_outputs(
    model: RibeiroResNet,
    exams,
    indices: Sequence[int],
    k: int,
    contract: ModelContract,
    progress: Callable[[int, int], None] | None,
    cancel: Callable[[], bool] | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, ...) float16 outputs of the frozen prefix for the exams at ``indices`` (and the skip path)."""
    from ecgviewer.preprocess import to_model_input

    xs: list[np.ndarray] = []
    skips: list[np.ndarray] = []
    scale = float(contract.input_scale_per_mv)
    batch: list[np.ndarray] = []
    model.eval()

    def run() -> None:
        with torch.no_grad():
            x, skip = _prefix(model, torch.as_tensor(np.stack(batch)), k)
        xs.append(x.numpy().astype(np.float16))
        if k < len(model.blocks):
            skips.append(skip.numpy().astype(np.float16))
        batch.clear()

    for n, i in enumerate(indices):
        if cancel is not None and cancel():
            raise Cancelled(f"fine-tuning cancelled while reading exams ({n} of {len(indices)})")
        exam = exams[i]
        x, _ = to_model_input(exam, fs=contract.fs, n_samples=int(contract.input_shape[1]))
        batch.append(np.asarray(x, np.float32) * scale)
        if len(batch) == 32:
            run()
            if progress is not None:
                progress(n + 1, len(indices))
    if batch:
        run()
    if progress is not None:
        progress(len(indices), len(indices))
    return np.concatenate(xs), (np.concatenate(skips) if skips else None)


def _cached(folder: Path, tag: str, make: Callable[[], tuple[np.ndarray, np.ndarray | None]]):
    files = [folder / f"{tag}_x.npy", folder / f"{tag}_skip.npy"]
    if files[0].exists():
        skip = np.load(files[1], mmap_mode="r") if files[1].exists() else None
        return np.load(files[0], mmap_mode="r"), skip
    x, skip = make()
    np.save(files[0], x)
    if skip is not None:
        np.save(files[1], skip)
    return x, skip


# --------------------------------------------------------------------------- the run


def finetune(
    cfg: FinetuneConfig,
    progress: FinetuneProgress | None = None,
    cancel: Callable[[], bool] | None = None,
    log: Callable[[str], None] | None = None,
) -> FinetuneResult:
    """Fine-tune ``cfg.base`` to ``cfg.classes`` and export ``cfg.out`` (ONNX with a full contract)."""
    from ecgviewer.io import open_exams
    from ecgviewer.training.export import export_onnx, max_abs_difference

    start = time.perf_counter()
    say = log or (lambda _msg: None)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    torch.manual_seed(cfg.seed)
    base_path = Path(cfg.base)
    out = Path(cfg.out)
    if out.suffix.lower() != ".onnx":
        raise FinetuneError(f"{out}: --out must end in .onnx")
    n_blocks = 4
    if not 0 <= cfg.freeze <= n_blocks:
        raise FinetuneError(
            f"--freeze {cfg.freeze}: give 0 (only the first convolution) to {n_blocks} (backbone)"
        )
    classes = parse_classes(cfg.classes)
    table = read_labels(cfg.labels, classes)
    for col in table.missing_columns:
        say(f"note: {Path(cfg.labels).name} has no column {col!r}: that class is not available there")
    exams = open_exams(cfg.data)
    try:
        if len(exams) == 0:
            raise FinetuneError("no readable exams in " + ", ".join(cfg.data))
        train_i, valid_i, ids, split = _select(cfg, table, exams)
        say(f"{len(train_i)} training and {len(valid_i)} validation exams; split {split}")
        # calibration inputs are needed only for a base exported with folded batch norms
        calib = None
        if base_path.suffix.lower() == ".onnx":
            import onnx

            proto = onnx.load(str(base_path), load_external_data=False)
            from ecgviewer.training.base_weights import _is_unfolded

            if not _is_unfolded(proto):
                from ecgviewer.preprocess import to_model_input

                n_calib = 2 if cfg.random_init else 64  # random weights replace these anyway
                pick = train_i[:: max(1, len(train_i) // n_calib)][:n_calib]
                calib = np.stack(
                    [to_model_input(exams[i], fs=400.0, n_samples=4096)[0] for i in pick]
                ).astype(np.float32)
        model, base_contract = load_base(base_path, calibration=calib, dropout=0.2)
        if cfg.random_init:
            # the baseline of the autoECG comparison: the same architecture, weights drawn at random
            taps = None if model.lowpass is None else model.lowpass[0, 0].numpy().copy()
            torch.manual_seed(cfg.seed)
            model = RibeiroResNet(dropout=0.2, lowpass_taps=taps, n_classes=len(base_contract.classes)).eval()
        if calib is not None:
            calib = calib * float(base_contract.input_scale_per_mv)
        base_sha = sha256_file(base_path)
        sig = _signature(cfg, base_sha)
        ckpt = Path(cfg.checkpoint) if cfg.checkpoint else out.with_name(out.stem + ".finetune")
        ckpt.mkdir(parents=True, exist_ok=True)
        k = int(cfg.freeze)
        y_train = np.stack([table.values[ids[i]] for i in train_i])
        y_valid = np.stack([table.values[ids[i]] for i in valid_i])

        def feat(stage_total: list[int]):
            return lambda d, t: progress("features", d + stage_total[0], stage_total[1]) if progress else None

        total = [0, len(train_i) + len(valid_i)]
        xt, st = _cached(
            ckpt,
            f"{sig}_train",
            lambda: _prefix_outputs(model, exams, train_i, k, base_contract, feat(total), cancel),
        )
        total[0] = len(train_i)
        xv, sv = _cached(
            ckpt,
            f"{sig}_valid",
            lambda: _prefix_outputs(model, exams, valid_i, k, base_contract, feat(total), cancel),
        )
    finally:
        exams.close()

    # the new head; the frozen part never changes
    n_classes = len(table.classes)
    model.dense = nn.Linear(model.n_features, n_classes)
    for p in model.parameters():
        p.requires_grad_(False)
    trainable = [*model.blocks[k:], model.dense]
    params = [p for m in trainable for p in m.parameters()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    pos = np.nansum(y_train, axis=0)
    neg = np.sum(np.isfinite(y_train), axis=0) - pos
    if (pos == 0).any():
        bad = [c for c, n in zip(table.classes, pos, strict=True) if n == 0]
        raise FinetuneError(f"no positive training exam for {', '.join(bad)}")
    pos_weight = torch.as_tensor(
        np.where(cfg.class_weights, neg / np.maximum(pos, 1), 1.0), dtype=torch.float32
    )
    state_file = ckpt / f"{sig}_state.pt"
    first_epoch, best = 0, (-1.0, None)
    if state_file.exists():
        saved = torch.load(state_file, weights_only=False)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        first_epoch, best = saved["epoch"], (saved["best_score"], saved["best_state"])
        say(f"resumed from {state_file} after epoch {first_epoch}")

    def logits_of(x: np.ndarray, s: np.ndarray | None, idx: np.ndarray) -> torch.Tensor:
        xb = torch.as_tensor(np.asarray(x[idx], np.float32))
        sb = torch.as_tensor(np.asarray(s[idx], np.float32)) if s is not None else xb
        return _suffix_logits(model, xb, sb, k)

    def predict(x, s) -> np.ndarray:
        for m in trainable:
            m.eval()
        out_p = []
        with torch.no_grad():
            for i in range(0, len(x), 256):
                out_p.append(torch.sigmoid(logits_of(x, s, np.arange(i, min(i + 256, len(x))))).numpy())
        return np.concatenate(out_p)

    rng = np.random.default_rng(cfg.seed + first_epoch)
    yt = torch.as_tensor(np.nan_to_num(y_train, nan=0.0))
    mt = torch.as_tensor(np.isfinite(y_train).astype(np.float32))
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight, reduction="none")
    for epoch in range(first_epoch, cfg.epochs):
        if cancel is not None and cancel():
            raise Cancelled(f"fine-tuning cancelled after epoch {epoch}")
        for m in trainable:
            m.train()
        order = rng.permutation(len(xt))
        for i in range(0, len(order), cfg.batch_size):
            idx = np.sort(order[i : i + cfg.batch_size])
            loss = (loss_fn(logits_of(xt, st, idx), yt[idx]) * mt[idx]).sum() / mt[idx].sum().clamp_min(1)
            opt.zero_grad()
            loss.backward()
            opt.step()
        pv = predict(xv, sv)
        aucs = [
            v for v in split_metrics(y_valid, pv, np.full(n_classes, 0.5), table.classes)["auroc"].values()
        ]
        known = [a for a in aucs if a is not None]
        score = float(np.mean(known)) if known else 0.0
        if score > best[0]:
            best = (score, {n: v.clone() for n, v in model.state_dict().items()})
        torch.save(
            {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "epoch": epoch + 1,
                "best_score": best[0],
                "best_state": best[1],
            },
            state_file,
        )
        say(
            f"epoch {epoch + 1}/{cfg.epochs}: loss {float(loss.detach()):.4f}, "
            f"validation mean AUROC {score:.4f}"
        )
        if progress is not None:
            progress("epoch", epoch + 1, cfg.epochs)
    if best[1] is not None:
        model.load_state_dict(best[1])
    pv = predict(xv, sv)
    thresholds = best_f1_thresholds(y_valid, pv)
    metrics = split_metrics(y_valid, pv, thresholds, table.classes)
    metrics["split"] = split
    metrics["n_train"], metrics["n_valid"] = len(train_i), len(valid_i)
    data_desc = ", ".join(Path(d).name for d in cfg.data)
    contract = replace(
        base_contract,
        name=cfg.name or f"{base_contract.name} fine-tuned ({', '.join(table.classes)})",
        version="ft-" + _dt.datetime.now(_dt.UTC).strftime("%Y%m%d%H%M"),
        output_name="probabilities",
        input_name="signal",
        classes=table.classes,
        thresholds=tuple(round(float(t), 6) for t in thresholds),
        provenance=(
            (
                f"BASELINE, not fine-tuned: a randomly initialised network of the architecture of "
                f"{base_contract.name}"
                if cfg.random_init
                else f"fine-tuned from {base_contract.name} ({base_path.name}, sha256 {base_sha[:12]})"
            )
            + f" on {data_desc} with labels {Path(cfg.labels).name} ({len(train_i)} training exams; "
            f"first convolution and {k} of 4 residual blocks frozen; new {n_classes}-class head)"
        ),
        notice="A fine-tuned research model, not a medical device.",
        metrics={"validation": metrics},
        extra={
            "base_model": base_contract.name,
            "base_version": base_contract.version,
            "base_sha256": base_sha,
            "classes_from": [f"{n}={'!' if neg else ''}{col}" for n, col, neg in classes],
            "thresholds_source": "maximum F1 on the validation split",
            "finetune": {key: v for key, v in asdict(cfg).items() if key not in ("checkpoint", "threads")},
        },
    )
    if progress is not None:
        progress("export", 0, 1)
    for p in model.parameters():
        p.requires_grad_(False)
    model.eval()
    export_onnx(model, contract, out)
    if calib is None:
        calib = np.zeros((2, 4096, 12), np.float32)
    diff = max_abs_difference(model, out, np.asarray(calib[:4], np.float32))
    if diff > 1e-4:
        out.unlink(missing_ok=True)
        raise ModelError(f"{out}: the exported graph differs from the trained module by {diff:.2e}")
    if progress is not None:
        progress("export", 1, 1)
    return FinetuneResult(
        out, contract, len(train_i), len(valid_i), split, metrics, cfg.epochs, time.perf_counter() - start
    )
