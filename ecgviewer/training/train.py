"""Train the bundled model: ``python -m ecgviewer.training.train --data ../shared/data --run runs/bundled``.

Recipe (one seed, reproducible, about 90 minutes on 2 CPU cores):
PTB-XL folds 1–8 at 100 Hz, preprocessed by the app's own code to (4096, 12) in 1e-4 V;
the paper's ResNet behind a fixed 40 Hz low-pass FIR (so 100 Hz training data and 400–1000 Hz
user exams look alike to the network); Adam, BCE, bfloat16 autocast on the CPU; light
augmentation (amplitude, shift, shortened recordings, baseline wander, noise); model selection
and per-class thresholds (max F1) on fold 9. Checkpoints every few minutes; run the same
command again to resume.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from scipy.signal import firwin
from torch.nn import functional as F  # noqa: N812

from ecgviewer.classes import CLASSES
from ecgviewer.metrics import roc_auc
from ecgviewer.training.architecture import RibeiroResNet
from ecgviewer.training.data import TRAIN_FOLDS, VALID_FOLD, load_ptbxl

LOWPASS_HZ = 40.0
LOWPASS_TAPS = 101


def lowpass_taps() -> np.ndarray:
    """The fixed FIR in front of the ResNet: 101 taps, 40 Hz cut-off at 400 Hz (Hamming)."""
    return firwin(LOWPASS_TAPS, LOWPASS_HZ, fs=400.0).astype(np.float32)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random, label-preserving changes to a batch (N, 4096, 12) in 1e-4 V."""
    n, length, _ = x.shape
    scale = 0.75 + 0.5 * torch.rand(n, 1, 1, generator=gen)
    x = x * scale
    # shorten some recordings to 7–10 s (the CODE exams are 7–10 s, zero-padded and centred)
    short = torch.rand(n, generator=gen) < 0.3
    keep = (2800 + torch.rand(n, generator=gen) * 1200).long()
    t = torch.arange(length)
    lo = (length - keep) // 2
    mask = (t[None, :] >= lo[:, None]) & (t[None, :] < (lo + keep)[:, None])
    x = torch.where(short[:, None, None] & ~mask[:, :, None], torch.zeros((), dtype=x.dtype), x)
    # baseline wander (< 0.5 Hz) and white noise, in 1e-4 V
    phase = torch.rand(n, 1, 12, generator=gen) * 2 * math.pi
    freq = 0.05 + 0.45 * torch.rand(n, 1, 1, generator=gen)
    amp = 1.5 * torch.rand(n, 1, 1, generator=gen)
    wander = amp * torch.sin(2 * math.pi * freq * t[None, :, None] / 400.0 + phase)
    noise = 0.2 * torch.rand(n, 1, 1, generator=gen) * torch.randn(x.shape, generator=gen)
    x = x + (wander + noise) * (x != 0)
    # circular time shift of up to ±40 ms
    shift = int(torch.randint(-16, 17, (1,), generator=gen))
    return torch.roll(x, shift, dims=1)


def best_f1_threshold(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) maximising F1 of ``p > threshold`` over the observed scores."""
    best = (0.5, 0.0)
    for thr in np.unique(np.round(p, 4)):
        pred = p > thr
        tp = np.sum(pred & (y == 1))
        denom = pred.sum() + (y == 1).sum()
        f1 = 2 * tp / denom if denom else 0.0
        if f1 > best[1]:
            best = (float(thr), float(f1))
    return best


def predict(model: RibeiroResNet, x: np.ndarray, batch: int = 128, bf16: bool = True) -> np.ndarray:
    """Probabilities (N, 6); bfloat16 for speed during training, float32 (as exported) otherwise."""
    model.eval()
    out = []
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for i in range(0, len(x), batch):
            xb = torch.as_tensor(np.asarray(x[i : i + batch], dtype=np.float32))
            out.append(torch.sigmoid(model.logits(xb).float()).numpy())
    return np.concatenate(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"), help="the shared data folder")
    ap.add_argument("--run", type=Path, default=Path("runs/bundled"), help="checkpoints and logs")
    ap.add_argument("--epochs", type=int, default=10, help="upper bound; the time budget usually ends first")
    ap.add_argument(
        "--max-minutes", type=float, default=75.0, help="training time budget (the LR schedule spans it)"
    )
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=20200101)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    args.run.mkdir(parents=True, exist_ok=True)
    log_path = args.run / "train.log"

    def say(msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, flush=True)
        with open(log_path, "a") as log:
            log.write(line + "\n")

    ptb = args.data / "ptbxl"
    cache = args.run / "cache"
    train = load_ptbxl(ptb / "ptbxl100_train.h5", ptb / "labels.csv", TRAIN_FOLDS, cache)
    valid = load_ptbxl(ptb / "ptbxl100_train.h5", ptb / "labels.csv", (VALID_FOLD,), cache)
    say(
        f"train {train.x.shape} positives {train.y.sum(0).astype(int).tolist()}; "
        f"valid {valid.x.shape} positives {valid.y.sum(0).astype(int).tolist()}"
    )

    torch.manual_seed(args.seed)
    model = RibeiroResNet(dropout=0.2, lowpass_taps=lowpass_taps())
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = len(train.x) // args.batch_size
    budget_s = args.max_minutes * 60

    def lr_at(elapsed_s: float) -> float:
        # Warm-up then cosine decay over the *time* budget, so the run anneals properly
        # however fast this machine is (a shared 2-core CPU varies a lot).
        frac = min(elapsed_s / budget_s, 1.0)
        if frac < 0.05:
            return args.lr * (0.04 + 0.96 * frac / 0.05)
        return args.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * (frac - 0.05) / 0.95)))

    state = {"epoch": 0, "step": 0, "elapsed": 0.0, "best_auc": -1.0, "history": []}
    ckpt = args.run / "last.ckpt"
    if ckpt.exists():
        saved = torch.load(ckpt, weights_only=False)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        state = saved["state"]
        say(f"resumed at epoch {state['epoch']} step {state['step']} ({state['elapsed'] / 60:.1f} min done)")

    def save_checkpoint() -> None:
        tmp = ckpt.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state}, tmp)
        tmp.replace(ckpt)

    x_all = torch.as_tensor(np.asarray(train.x))  # float16, ~0.9 GB
    y_all = torch.as_tensor(train.y)
    session_start = time.time() - state["elapsed"]
    last_save = time.time()
    while state["epoch"] < args.epochs and state["elapsed"] < args.max_minutes * 60:
        gen = torch.Generator().manual_seed(args.seed + state["epoch"])
        order = torch.randperm(len(x_all), generator=gen)
        aug_gen = torch.Generator().manual_seed(args.seed * 7 + state["epoch"])
        model.train()
        losses = []
        start_step = state["step"] % steps_per_epoch
        for b in range(start_step, steps_per_epoch):
            idx = order[b * args.batch_size : (b + 1) * args.batch_size]
            xb = augment(x_all[idx].float(), aug_gen)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = F.binary_cross_entropy_with_logits(model.logits(xb).float(), y_all[idx])
            for group in opt.param_groups:
                group["lr"] = lr_at(state["elapsed"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            state["step"] += 1
            state["elapsed"] = time.time() - session_start
            if b % 50 == 0:
                say(
                    f"epoch {state['epoch']} step {b}/{steps_per_epoch} loss {np.mean(losses[-50:]):.4f} "
                    f"lr {opt.param_groups[0]['lr']:.2e} {state['elapsed'] / 60:.1f} min"
                )
            if time.time() - last_save > 300:
                save_checkpoint()
                last_save = time.time()
            if state["elapsed"] > args.max_minutes * 60:
                break
        else:
            state["epoch"] += 1
        p = predict(model, valid.x)
        aucs = [roc_auc(valid.y[:, k], p[:, k]) for k in range(len(CLASSES))]
        f1s = [best_f1_threshold(valid.y[:, k], p[:, k])[1] for k in range(len(CLASSES))]
        record = {
            "epoch": state["epoch"],
            "step": state["step"],
            "auroc": aucs,
            "best_f1": f1s,
            "macro_auroc": float(np.mean(aucs)),
            "macro_f1": float(np.mean(f1s)),
        }
        state["history"].append(record)
        say(
            f"valid after epoch {state['epoch']}: AUROC {np.round(aucs, 3).tolist()} "
            f"macro {np.mean(aucs):.4f}; best-F1 {np.round(f1s, 3).tolist()} macro {np.mean(f1s):.4f}"
        )
        if record["macro_auroc"] > state["best_auc"]:
            state["best_auc"] = record["macro_auroc"]
            torch.save({"model": model.state_dict(), "record": record}, args.run / "best.pt")
            say("new best model saved")
        save_checkpoint()
        last_save = time.time()
    (args.run / "history.json").write_text(json.dumps(state["history"], indent=1))
    say("training finished")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
