"""Training data: the PTB-XL 100 Hz pack turned into the network's input by the app's own preprocessing."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ecgviewer.classes import CLASSES
from ecgviewer.preprocess import MODEL_SAMPLES, fit_length, resample

TRAIN_FOLDS = (1, 2, 3, 4, 5, 6, 7, 8)
VALID_FOLD = 9


@dataclass
class PtbxlSplit:
    """Network inputs (N, 4096, 12) float16 in mV, labels (N, 6) float32, ids (N,)."""

    x: np.ndarray
    y: np.ndarray
    ecg_id: np.ndarray


def read_ptbxl_labels(labels_csv: Path) -> dict[int, tuple[int, np.ndarray]]:
    """ecg_id → (strat_fold, six 0/1 labels) from the pack's ``labels.csv``."""
    out: dict[int, tuple[int, np.ndarray]] = {}
    with open(labels_csv, newline="") as f:
        for row in csv.DictReader(f):
            out[int(row["ecg_id"])] = (
                int(row["strat_fold"]),
                np.array([int(row[c]) for c in CLASSES], dtype=np.float32),
            )
    return out


def load_ptbxl(
    h5_path: Path, labels_csv: Path, folds: tuple[int, ...], cache_dir: Path | None = None, chunk: int = 512
) -> PtbxlSplit:
    """Read ``folds`` and preprocess them as the app does (100 → 400 Hz, pad to 4096, mV).

    The result is cached as .npy in ``cache_dir`` (about 1 GB for folds 1–8) so a resumed run starts fast.
    """
    tag = "mv_folds" + "".join(str(f) for f in folds)  # "mv": caches of the 1e-4 V era are not reused
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        files = [cache_dir / f"{tag}_{k}.npy" for k in ("x", "y", "id")]
        if all(p.exists() for p in files):
            return PtbxlSplit(np.load(files[0], mmap_mode="r"), np.load(files[1]), np.load(files[2]))
    labels = read_ptbxl_labels(labels_csv)
    with h5py.File(h5_path, "r") as f:
        ids = f["ecg_id"][:]
        fs = float(f.attrs["fs"])
        gain = float(f.attrs["gain_per_mV"])
        keep = np.flatnonzero([labels[int(i)][0] in folds for i in ids])
        x = np.empty((len(keep), MODEL_SAMPLES, 12), dtype=np.float16)
        for start in range(0, len(keep), chunk):
            rows = keep[start : start + chunk]
            mv = f["signal"][rows[0] : rows[-1] + 1][rows - rows[0]].astype(np.float32) / gain
            up = np.stack([resample(rec, fs) for rec in mv])
            for j, rec in enumerate(up):
                x[start + j] = fit_length(rec, MODEL_SAMPLES)[0]
    y = np.stack([labels[int(i)][1] for i in ids[keep]])
    split = PtbxlSplit(x, y, ids[keep].astype(np.int64))
    if cache_dir is not None:
        for p, arr in zip(files, (split.x, split.y, split.ecg_id), strict=True):
            np.save(p, arr)
    return split


def read_scp_codes(labels_csv: Path) -> dict[int, dict[str, float]]:
    """ecg_id → PTB-XL SCP statements {code: likelihood} from the pack's ``labels.csv``.

    The column holds a Python dict literal; ``ast.literal_eval`` reads literals only.
    """
    import ast

    out: dict[int, dict[str, float]] = {}
    with open(labels_csv, newline="") as f:
        for row in csv.DictReader(f):
            codes = ast.literal_eval(row.get("scp_codes") or "{}")
            out[int(row["ecg_id"])] = {str(k): float(v) for k, v in dict(codes).items()}
    return out


def auxiliary_targets(
    ids: np.ndarray, scp: dict[int, dict[str, float]], min_count: int = 40, exclude: tuple[str, ...] = ()
) -> tuple[np.ndarray, tuple[str, ...]]:
    """(N, K) 0/1 targets for the SCP statements present in at least ``min_count`` of ``ids``.

    Used as auxiliary outputs during training only (dropped at export); ``exclude`` leaves
    out the statements that define the six classes.
    """
    from collections import Counter

    counts = Counter(code for i in ids for code in scp.get(int(i), {}))
    codes = tuple(sorted(c for c, n in counts.items() if n >= min_count and c not in exclude))
    index = {c: k for k, c in enumerate(codes)}
    y = np.zeros((len(ids), len(codes)), dtype=np.float32)
    for r, i in enumerate(ids):
        for code in scp.get(int(i), {}):
            if code in index:
                y[r, index[code]] = 1.0
    return y, codes
