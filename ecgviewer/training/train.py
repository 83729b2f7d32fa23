"""Train the bundled model: ``python -m ecgviewer.training.train --data ../shared/data --run runs/bundled``.

Recipe of bundled model 2 (one seed, reproducible, about 100 minutes on 2 CPU cores):
PTB-XL folds 1–8 at 100 Hz, preprocessed by the app's own code to (4096, 12) in mV (the
paper's input scale); the paper's ResNet behind a fixed 40 Hz low-pass FIR (so 100 Hz
training data and 400–1000 Hz user exams look alike to the network); Adam, warm-up then
cosine decay over a time budget; binary cross-entropy with light label smoothing (PTB-XL's
labels are noisy); auxiliary outputs for PTB-XL's other frequent SCP statements (dropped at
export); class-balanced sampling (rare classes such as 1dAVb drawn more often); an
exponential moving average of the weights (what is evaluated and exported); bfloat16
autocast on the CPU; augmentation: gain log-uniform ×0.5–×2 (devices and populations differ
in amplitude: CODE exams are about 1.7× PTB-XL's), per-lead gain jitter, shortened
recordings, baseline wander, noise, shifts. The epoch with the best macro AUROC on fold 9
is kept. Checkpoints every few minutes; run the same command again to resume.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from scipy.signal import firwin
from torch import nn
from torch.nn import functional as F  # noqa: N812

from ecgviewer.classes import CLASSES
from ecgviewer.metrics import roc_auc
from ecgviewer.training.architecture import RibeiroResNet
from ecgviewer.training.data import (
    TRAIN_FOLDS,
    VALID_FOLD,
    auxiliary_targets,
    load_ptbxl,
    read_scp_codes,
)

# The SCP statements that define the six classes (1dAVb, RBBB, LBBB, SB, AF, ST): not auxiliary.
CLASS_CODES = ("1AVB", "CRBBB", "CLBBB", "SBRAD", "AFIB", "STACH")

LOWPASS_HZ = 40.0
LOWPASS_TAPS = 101


def lowpass_taps() -> np.ndarray:
    """The fixed FIR in front of the ResNet: 101 taps, 40 Hz cut-off at 400 Hz (Hamming)."""
    return firwin(LOWPASS_TAPS, LOWPASS_HZ, fs=400.0).astype(np.float32)


def random_gain(n: int, gen: torch.Generator, gain_range: tuple[float, float] = (0.5, 2.0)) -> torch.Tensor:
    """(n, 1, 12) amplitude factors: log-uniform over ``gain_range`` per exam, times ±10 % per lead."""
    lo, hi = math.log(gain_range[0]), math.log(gain_range[1])
    gain = torch.exp(lo + (hi - lo) * torch.rand(n, 1, 1, generator=gen))
    return gain * (0.9 + 0.2 * torch.rand(n, 1, 12, generator=gen))


def augment(
    x: torch.Tensor, gen: torch.Generator, gain_range: tuple[float, float] = (0.5, 2.0)
) -> torch.Tensor:
    """Random, label-preserving changes to a batch (N, 4096, 12) in mV."""
    n, length, _ = x.shape
    x = x * random_gain(n, gen, gain_range)
    # shorten some recordings to 7–10 s (the CODE exams are 7–10 s, zero-padded and centred)
    short = torch.rand(n, generator=gen) < 0.3
    keep = (2800 + torch.rand(n, generator=gen) * 1200).long()
    t = torch.arange(length)
    start = (length - keep) // 2
    mask = (t[None, :] >= start[:, None]) & (t[None, :] < (start + keep)[:, None])
    x = torch.where(short[:, None, None] & ~mask[:, :, None], torch.zeros((), dtype=x.dtype), x)
    # baseline wander (< 0.5 Hz, up to 0.2 mV) and white noise (up to 0.02 mV), in mV
    phase = torch.rand(n, 1, 12, generator=gen) * 2 * math.pi
    freq = 0.05 + 0.45 * torch.rand(n, 1, 1, generator=gen)
    amp = 0.2 * torch.rand(n, 1, 1, generator=gen)
    wander = amp * torch.sin(2 * math.pi * freq * t[None, :, None] / 400.0 + phase)
    noise = 0.02 * torch.rand(n, 1, 1, generator=gen) * torch.randn(x.shape, generator=gen)
    x = x + (wander + noise) * (x != 0)
    # circular time shift of up to ±40 ms
    shift = int(torch.randint(-16, 17, (1,), generator=gen))
    return torch.roll(x, shift, dims=1)


def sampling_weights(y: np.ndarray, power: float = 0.5) -> np.ndarray:
    """Per-exam draw weights: an exam with a rare class is drawn more often.

    Class k's weight is (median class count / count_k) ** power, at least 1; an exam takes the
    largest weight of its positive classes (1 when it has none).
    """
    counts = np.maximum(y.sum(axis=0), 1.0)
    class_w = np.maximum((np.median(counts) / counts) ** power, 1.0)
    w = np.where(y > 0.5, class_w[None, :], 1.0).max(axis=1)
    return w / w.sum()


class Ema:
    """Exponential moving average of a module's parameters and buffers (the evaluated weights)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        # a shorter memory early on (warm start), as in common EMA implementations
        d = min(self.decay, (1 + step) / (10 + step))
        for e, m in zip(self.model.state_dict().values(), model.state_dict().values(), strict=True):
            if e.dtype.is_floating_point:
                e.mul_(d).add_(m.detach(), alpha=1 - d)
            else:
                e.copy_(m)


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


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX); elsewhere autocast is slow."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def predict(model: RibeiroResNet, x: np.ndarray, batch: int = 128, bf16: bool = True) -> np.ndarray:
    """Probabilities (N, 6); bfloat16 for speed during training, float32 (as exported) otherwise."""
    model.eval()
    out = []
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for i in range(0, len(x), batch):
            xb = torch.as_tensor(np.asarray(x[i : i + batch], dtype=np.float32))
            out.append(torch.sigmoid(model.logits(xb).float()).numpy())
    return np.concatenate(out)


def build_parser() -> argparse.ArgumentParser:
    """The training command's options (the card's reproduce command is written from their defaults)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"), help="the shared data folder")
    ap.add_argument("--run", type=Path, default=Path("runs/bundled"), help="checkpoints and logs")
    ap.add_argument("--epochs", type=int, default=60, help="upper bound; the time budget usually ends first")
    ap.add_argument(
        "--max-minutes", type=float, default=100.0, help="training time budget (the LR schedule spans it)"
    )
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=20200101)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ema", type=float, default=0.998, help="EMA decay of the evaluated weights")
    ap.add_argument("--label-smoothing", type=float, default=0.02)
    ap.add_argument("--aux-weight", type=float, default=0.3, help="weight of the auxiliary SCP loss")
    ap.add_argument("--balance", type=float, default=0.5, help="class-balanced sampling power (0 = off)")
    ap.add_argument("--gain", type=float, nargs=2, default=(0.5, 2.0), help="gain augmentation range")
    ap.add_argument(
        "--init",
        type=Path,
        default=None,
        help="warm start from an exported ONNX model of this architecture (its contract's input scale "
        "is converted to mV)",
    )
    ap.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        default="auto",
        help="bf16 autocast where the CPU has native bfloat16 (auto), else float32",
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    bf16 = args.precision == "bf16" or (args.precision == "auto" and cpu_has_bf16())

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
    scp = read_scp_codes(ptb / "labels.csv")
    aux_y, aux_codes = auxiliary_targets(train.ecg_id, scp, exclude=CLASS_CODES)
    say(
        f"train {train.x.shape} positives {train.y.sum(0).astype(int).tolist()}; "
        f"valid {valid.x.shape} positives {valid.y.sum(0).astype(int).tolist()}; "
        f"{len(aux_codes)} auxiliary SCP statements"
    )

    torch.manual_seed(args.seed)
    model = RibeiroResNet(dropout=0.2, lowpass_taps=lowpass_taps())
    aux_head = nn.Linear(model.n_features, len(aux_codes))
    if args.init is not None and not (args.run / "last.ckpt").exists():
        from ecgviewer.model.runtime import read_contract
        from ecgviewer.training.onnx_weights import load_onnx_weights

        init_contract, _ = read_contract(args.init)
        load_onnx_weights(model, args.init, train.x[:256], input_gain=init_contract.input_scale_per_mv)
        p0 = predict(model, valid.x, bf16=bf16)
        auc0 = [roc_auc(valid.y[:, k], p0[:, k]) for k in range(len(CLASSES))]
        say(
            f"warm start from {args.init} ({init_contract.name} {init_contract.version}, "
            f"input ×{init_contract.input_scale_per_mv:g} folded into the first convolution): "
            f"fold-9 AUROC {np.round(auc0, 3).tolist()}"
        )
    if bf16:
        # a library's bfloat16 kernels can be wrong, not merely coarse: check before trusting them
        probe = np.asarray(train.x[:64], dtype=np.float32)
        drift = float(np.abs(predict(model, probe, bf16=True) - predict(model, probe, bf16=False)).max())
        if drift > 0.05:
            say(f"bfloat16 autocast moves probabilities by {drift:.3f} on 64 exams: using float32")
            bf16 = False
    say(f"precision: {'bfloat16 autocast' if bf16 else 'float32'}")
    params = list(model.parameters()) + list(aux_head.parameters())
    opt = torch.optim.Adam(params, lr=args.lr)
    ema = Ema(model, args.ema)
    steps_per_epoch = len(train.x) // args.batch_size
    budget_s = args.max_minutes * 60

    def lr_at(elapsed_s: float) -> float:
        # Warm-up then cosine decay over the *time* budget, so the run anneals properly
        # however fast this machine is (a shared 2-core CPU varies a lot).
        frac = min(elapsed_s / budget_s, 1.0)
        if frac < 0.05:
            return args.lr * (0.04 + 0.96 * frac / 0.05)
        return args.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * (frac - 0.05) / 0.95)))

    recipe = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    recipe["aux_codes"] = list(aux_codes)
    state = {"epoch": 0, "step": 0, "elapsed": 0.0, "best_auc": -1.0, "history": [], "recipe": recipe}
    ckpt = args.run / "last.ckpt"
    if ckpt.exists():
        # our own checkpoint, written by this script (not untrusted data)
        saved = torch.load(ckpt, weights_only=False)
        model.load_state_dict(saved["model"])
        aux_head.load_state_dict(saved["aux_head"])
        ema.model.load_state_dict(saved["ema"])
        opt.load_state_dict(saved["opt"])
        state = saved["state"]
        say(f"resumed at epoch {state['epoch']} step {state['step']} ({state['elapsed'] / 60:.1f} min done)")

    def save_checkpoint() -> None:
        tmp = ckpt.with_suffix(".tmp")
        torch.save(
            {
                "model": model.state_dict(),
                "aux_head": aux_head.state_dict(),
                "ema": ema.model.state_dict(),
                "opt": opt.state_dict(),
                "state": state,
            },
            tmp,
        )
        tmp.replace(ckpt)

    x_all = torch.as_tensor(np.asarray(train.x))  # float16, ~0.9 GB
    y_all = torch.as_tensor(train.y)
    aux_all = torch.as_tensor(aux_y)
    weights = torch.as_tensor(sampling_weights(train.y, args.balance)) if args.balance else None
    eps = args.label_smoothing
    session_start = time.time() - state["elapsed"]
    last_save = time.time()
    while state["epoch"] < args.epochs and state["elapsed"] < budget_s:
        gen = torch.Generator().manual_seed(args.seed + state["epoch"])
        if args.balance:
            order = torch.multinomial(weights, len(x_all), replacement=True, generator=gen)
        else:
            order = torch.randperm(len(x_all), generator=gen)
        aug_gen = torch.Generator().manual_seed(args.seed * 7 + state["epoch"])
        model.train()
        aux_head.train()
        losses = []
        start_step = state["step"] % steps_per_epoch
        for b in range(start_step, steps_per_epoch):
            idx = order[b * args.batch_size : (b + 1) * args.batch_size]
            xb = augment(x_all[idx].float(), aug_gen, tuple(args.gain))
            target = y_all[idx] * (1 - eps) + 0.5 * eps
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                feats = model.features(xb)
                main_loss = F.binary_cross_entropy_with_logits(model.dense(feats).float(), target)
                aux_loss = F.binary_cross_entropy_with_logits(aux_head(feats).float(), aux_all[idx])
                loss = main_loss + args.aux_weight * aux_loss
            for group in opt.param_groups:
                group["lr"] = lr_at(state["elapsed"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            ema.update(model, state["step"])
            losses.append(float(main_loss.detach()))
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
            if state["elapsed"] > budget_s:
                break
        else:
            state["epoch"] += 1
        p = predict(ema.model, valid.x, bf16=bf16)
        aucs = [roc_auc(valid.y[:, k], p[:, k]) for k in range(len(CLASSES))]
        f1s = [best_f1_threshold(valid.y[:, k], p[:, k])[1] for k in range(len(CLASSES))]
        record = {
            "epoch": state["epoch"],
            "step": state["step"],
            "minutes": round(state["elapsed"] / 60, 1),
            "auroc": aucs,
            "best_f1": f1s,
            "macro_auroc": float(np.mean(aucs)),
            "macro_f1": float(np.mean(f1s)),
        }
        state["history"].append(record)
        say(
            f"valid (EMA) after epoch {state['epoch']}: AUROC {np.round(aucs, 3).tolist()} "
            f"macro {np.mean(aucs):.4f}; best-F1 {np.round(f1s, 3).tolist()} macro {np.mean(f1s):.4f}"
        )
        if record["macro_auroc"] > state["best_auc"]:
            state["best_auc"] = record["macro_auroc"]
            torch.save({"model": ema.model.state_dict(), "record": record}, args.run / "best.pt")
            say("new best model saved")
        save_checkpoint()
        last_save = time.time()
    (args.run / "history.json").write_text(json.dumps(state["history"], indent=1))
    (args.run / "recipe.json").write_text(json.dumps(state.get("recipe", {}), indent=1))
    say("training finished")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
