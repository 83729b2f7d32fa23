"""The players of the game: time segments of the signal, the baseline that masks them, masked
inputs, and the lead × time hierarchy (a scipy linkage) the partition explainer walks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgviewer.explain.params import BASELINES, ExplainError
from ecgviewer.leads import LEADS

if TYPE_CHECKING:  # pragma: no cover
    from ecgviewer.preprocess import PreprocessReport

# Anatomical grouping of the 12 leads (binary tree): limb (lateral: I, aVL, aVR; inferior:
# II, aVF, III) and precordial (septal/anterior V1–V3; lateral V4–V6).
_LEAD_TREE: Any = (
    ((("I", "aVL"), "aVR"), (("II", "aVF"), "III")),
    ((("V1", "V2"), "V3"), (("V4", "V5"), "V6")),
)


# --------------------------------------------------------------------------- features


def masked_input(
    x: np.ndarray,
    features: Sequence[tuple[int, int]],
    *,
    edges: np.ndarray,
    baseline: str = "zero",
    fs: float = 400.0,
    bounds: tuple[int, int] | None = None,
) -> np.ndarray:
    """(samples, leads) copy of ``x`` with the given (lead, segment) features replaced by the baseline.

    What the network would see with those stretches masked, as the explainer masks them (for
    deletion/faithfulness checks and "what if" views).
    """
    base = make_baseline(x, baseline, fs=fs, bounds=bounds)
    out = np.array(x, dtype=np.float32, copy=True)
    for lead, seg in features:
        lo, hi = int(edges[seg]), int(edges[seg + 1])
        out[lo:hi, lead] = base[lo:hi, lead]
    return out


def segment_edges(n_samples: int, segments: int) -> np.ndarray:
    """(segments+1,) int64 edges splitting ``n_samples`` into near-equal contiguous segments."""
    if not 1 <= segments <= n_samples:
        raise ExplainError(f"segments must be between 1 and {n_samples}, got {segments}")
    return np.round(np.linspace(0, n_samples, segments + 1)).astype(np.int64)


def signal_bounds(x: np.ndarray, report: PreprocessReport | None = None) -> tuple[int, int]:
    """(start, stop) input samples holding signal: from the report, else the non-zero rows."""
    if report is not None:
        sl = report.signal_slice
        return int(sl.start), int(sl.stop)
    nz = np.flatnonzero(np.any(x != 0, axis=1))
    if nz.size == 0:
        return 0, 0
    return int(nz[0]), int(nz[-1]) + 1


def make_baseline(
    x: np.ndarray, kind: str = "zero", *, fs: float = 400.0, bounds: tuple[int, int] | None = None
) -> np.ndarray:
    """(samples, leads) float32 reference input that masked features are replaced by.

    ``kind`` is one of :data:`BASELINES`; the zero padding outside ``bounds`` stays 0.
    """
    if kind not in BASELINES:
        raise ExplainError(f"unknown baseline {kind!r}; choose one of {', '.join(BASELINES)}")
    base = np.zeros_like(x, dtype=np.float32)
    if kind == "zero":
        return base
    lo, hi = bounds if bounds is not None else signal_bounds(x)
    if hi <= lo:
        return base
    part = x[lo:hi].astype(np.float64)
    if kind == "mean":
        base[lo:hi] = part.mean(axis=0, keepdims=True)
    else:  # lowpass
        from scipy.signal import butter, sosfiltfilt

        sos = butter(2, 0.7, fs=fs, output="sos")
        padlen = min(3 * 7, part.shape[0] - 1)
        if part.shape[0] > 12:
            base[lo:hi] = sosfiltfilt(sos, part, axis=0, padlen=max(padlen, 0))
        else:
            base[lo:hi] = part.mean(axis=0, keepdims=True)
    return base


def _lead_tree(leads: Sequence[str]) -> Any:
    """Binary tree (nested pairs) of lead indices: anatomical for the 12 standard leads,
    else a balanced split in input order."""
    index = {name: i for i, name in enumerate(leads)}

    def build(node: Any) -> Any:
        if isinstance(node, str):
            return index.get(node)
        kids = [build(k) for k in node]
        kids = [k for k in kids if k is not None]
        if not kids:
            return None
        return kids[0] if len(kids) == 1 else tuple(kids)

    tree = build(_LEAD_TREE) if set(leads) <= set(LEADS) else None

    def covered(node: Any) -> set[int]:
        return {node} if isinstance(node, int) else set().union(*(covered(k) for k in node))

    if tree is not None and covered(tree) == set(range(len(leads))):
        return tree

    def balanced(ids: list[int]) -> Any:
        if len(ids) == 1:
            return ids[0]
        mid = len(ids) // 2
        return (balanced(ids[:mid]), balanced(ids[mid:]))

    return balanced(list(range(len(leads))))


def _depth(node: Any) -> int:
    return 0 if isinstance(node, int) else 1 + max(_depth(k) for k in node)


def _ceil_log2(n: int) -> int:
    return int(np.ceil(np.log2(n))) if n > 1 else 0


def partition_tree(
    leads: Sequence[str], n_segments: int, active: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Hierarchical clustering (scipy linkage format) of the active lead × segment features.

    Args:
        leads: lead names (axis 1 of the input).
        n_segments: S.
        active: (L, S) bool: which features are players (differ from the baseline).

    Returns:
        (players, linkage): players (M,) int flat feature ids ``lead * S + segment`` of the
        active features, in player order; linkage (M−1, 4) float64 rows
        ``[left, right, level, size]`` over player indices (empty when M ≤ 1).

    Time is split into contiguous halves and leads along the anatomical tree, whichever
    has more levels left (time first on ties), so groups stay compact in both.
    """
    players: list[int] = []
    rows: list[list[float]] = []
    S = active.shape[1]

    def build(lead_node: Any, lo: int, hi: int) -> tuple[int, int] | None:
        """Returns (node id, size) or None when the group holds no active feature."""
        t_levels = _ceil_log2(hi - lo)
        l_levels = _depth(lead_node)
        if t_levels == 0 and l_levels == 0:
            if not active[lead_node, lo]:
                return None
            players.append(lead_node * S + lo)
            return len(players) - 1, 1
        if t_levels >= l_levels:
            mid = (lo + hi + 1) // 2 if (hi - lo) % 2 else (lo + hi) // 2
            a, b = build(lead_node, lo, mid), build(lead_node, mid, hi)
        else:
            a, b = build(lead_node[0], lo, hi), build(lead_node[1], lo, hi)
        if a is None or b is None:
            return a if b is None else b
        rows.append([a[0], b[0], max(t_levels, l_levels), a[1] + b[1]])
        return -len(rows), a[1] + b[1]  # internal nodes are renumbered below

    build(_lead_tree(leads), 0, S)
    M = len(players)
    # internal node k (k-th row) has id M + k; children referenced as -(k+1) are internal rows
    link = np.array(rows, dtype=np.float64).reshape(-1, 4)
    for col in (0, 1):
        neg = link[:, col] < 0
        link[neg, col] = M + (-link[neg, col] - 1)
    return np.array(players, dtype=np.int64), link
