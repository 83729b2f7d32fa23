"""SHAP saliency: which stretches of which leads moved each of the six probabilities.

>>> from ecgviewer.model.runtime import load_model
>>> model = load_model()
>>> x, report = model.prepare(exam)                        # (4096, 12) float32 in mV
>>> sal = explain_cached(model, x, report=report)           # all six classes at once
>>> sal.values.shape                                        # (6, 12, 32): class × lead × segment
>>> sal.values[1].sum() + sal.base_values[1] ≈ sal.probabilities[1]   # additivity

What the numbers are
--------------------
The players of the game are *features* = lead × time segment (default 12 leads × 32
segments of 128 samples = 320 ms at 400 Hz). A coalition of features is shown to the
network with every other feature replaced by the **baseline**; the value of a feature is
its Owen value (Shapley value within a hierarchy of feature groups) computed by
:class:`shap.PartitionExplainer`. Per class, the values add up exactly (to float
precision) to ``probability(exam) − probability(baseline)``:

    values[c].sum() + base_values[c] == probabilities[c]

They are attributions *relative to the baseline*, in units of probability: "showing the
network this stretch instead of a flat line raised (or lowered) the probability of RBBB by
0.12". They are not causes, not a diagnosis, and they describe the model, not the patient.

Baselines (``baseline=``)
-------------------------
- ``"zero"`` (default): 0 V, the value the network was trained to see in the zero padding
  around short exams, so a masked stretch looks like "no recording here" rather than a
  new, out-of-distribution waveform. Segments that lie wholly in the padding equal the
  baseline: they are dummy players with value exactly 0 and cost no evaluations.
- ``"mean"``: each lead's own mean over the recorded part (padding stays 0). Differs from
  zero only by the lead's DC offset; useful when the recording has a large offset.
- ``"lowpass"``: the lead low-passed below 0.7 Hz (zero-phase Butterworth), i.e. the
  recording with its P-QRS-T removed but its baseline wander kept: masking removes the
  waves without adding a step to zero where the baseline wanders.

The hierarchy
-------------
Features are grouped as a product of two trees: time (contiguous halves, quarters, …) and
leads (limb vs precordial; lateral I/aVL/aVR vs inferior II/III/aVF; V1–V3 vs V4–V6).
The explainer refines the groups best-first where the outputs change most, so with a small
evaluation budget the big, uninformative stretches stay coarse (their credit is spread
evenly inside the group) and the budget goes where the network reacts. Additivity holds at
any budget. The traversal is weighted so that all six classes get the same attention
(each class's outputs are divided by its total change ``|f(x) − f(baseline)|``), unless
``focus`` names the class(es) to refine first; the values of all six classes always come from
the same evaluations.

Cost
----
Each evaluation is one forward pass of the network (≈ 10–30 ms on a 2-core CPU), batched
``batch_size`` at a time. The budget ``max_evals`` (default :data:`DEFAULT_MAX_EVALS`) caps
the evaluations; see ``benchmarks/explain_bench.py`` for seconds and accuracy per budget.
Evaluations are memoised per (model, exam input, baseline, segments), so a refinement
with a larger budget and the same seed re-uses every evaluation of the coarser run.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgviewer.errors import Cancelled, EcgViewerError, ModelError
from ecgviewer.leads import LEADS
from ecgviewer.shap_numpy import import_shap, numba_free_partition

if TYPE_CHECKING:  # pragma: no cover
    from ecgviewer.model.runtime import EcgModel
    from ecgviewer.preprocess import PreprocessReport

ProgressCallback = Callable[[int, int], None]
CancelCallback = Callable[[], bool]
Focus = int | str | Sequence[int | str] | None

DEFAULT_SEGMENTS = 32
"""Default time resolution: 32 segments of 128 samples (320 ms at 400 Hz)."""

DEFAULT_MAX_EVALS = 512
"""Default evaluation budget of the explainer (network forward passes per exam, all six classes)."""

EXPLAIN_BATCH_SIZE = 32
"""Masked inputs per network call: onnxruntime's per-exam cost is flat from batch 8 to 64 on a
2-core CPU, and fewer, larger calls cut the Python overhead per evaluation (README, "Performance")."""

PREVIEW_MAX_EVALS = 64
"""A budget that fits in about 1 s on a 2-core CPU: a coarse map (groups of leads × seconds).

Run it first and then :data:`DEFAULT_MAX_EVALS` with the same seed: the refinement re-uses
the preview's evaluations from the memo, so the preview costs nothing extra.
"""

BASELINES: tuple[str, ...] = ("zero", "mean", "lowpass")
METHODS: tuple[str, ...] = ("partition", "permutation")
CONTEXTS: tuple[str, ...] = ("both", "owen", "absent", "present")
SALIENCY_FORMAT = 1
"""Version of the .npz layout written by :meth:`Saliency.save_npz`."""

# Anatomical grouping of the 12 leads (binary tree): limb (lateral: I, aVL, aVR; inferior:
# II, aVF, III) and precordial (septal/anterior V1–V3; lateral V4–V6).
_LEAD_TREE: Any = (
    ((("I", "aVL"), "aVR"), (("II", "aVF"), "III")),
    ((("V1", "V2"), "V3"), (("V4", "V5"), "V6")),
)


class ExplainError(EcgViewerError):
    """Saliency could not be computed, saved or loaded."""


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class Saliency:
    """SHAP values of one exam for every class of a model.

    Attributes:
        values: (C, L, S) float32: class × lead × time segment, in units of probability.
            Per class ``values[c].sum() + base_values[c] == probabilities[c]``.
        segment_edges: (S+1,) int64 sample indices of the network input (0 … 4096);
            segment s covers input samples ``segment_edges[s]:segment_edges[s+1]``.
        base_values: (C,) float32 model output for the all-baseline input.
        probabilities: (C,) float32 model output for the exam.
        classes: class names, in output order.
        leads: lead names, in the order of axis 1 (the model's input order).
        model_name, model_version: the model explained.
        n_evaluations: network forward passes the explanation used (all classes together).
        seconds: wall time of the computation (0 when loaded from a cache).
        baseline, method, seed, max_evals, focus: the parameters used.
        fs: sampling rate of the network input (400 Hz).
        offset_s: original time (s) of input sample 0 (``PreprocessReport.offset_s``; negative
            when the exam was zero-padded). Input sample j is at ``offset_s + j / fs`` seconds
            of the original recording.
        signal_start, signal_stop: input samples holding signal (the rest is zero padding).
        thresholds: (C,) decision thresholds of the model (for "positive classes"), or empty.
    """

    values: np.ndarray
    segment_edges: np.ndarray
    base_values: np.ndarray
    probabilities: np.ndarray
    classes: tuple[str, ...]
    leads: tuple[str, ...] = LEADS
    model_name: str = ""
    model_version: str = ""
    n_evaluations: int = 0
    seconds: float = 0.0
    baseline: str = "zero"
    method: str = "partition"
    context: str = "both"
    seed: int = 0
    max_evals: int = DEFAULT_MAX_EVALS
    focus: tuple[int, ...] | None = None
    fs: float = 400.0
    offset_s: float = 0.0
    signal_start: int = 0
    signal_stop: int = 0
    thresholds: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))

    # ------------------------------------------------------------------ shapes

    @property
    def n_segments(self) -> int:
        return int(self.values.shape[2])

    @property
    def n_samples(self) -> int:
        return int(self.segment_edges[-1])

    def class_index(self, cls: int | str) -> int:
        """Index of a class given by index or name ("RBBB")."""
        if isinstance(cls, str):
            try:
                return self.classes.index(cls)
            except ValueError:
                raise ExplainError(
                    f"unknown class {cls!r}; the model's classes are " + ", ".join(self.classes)
                ) from None
        return int(cls)

    # ------------------------------------------------------------------ summaries

    def lead_importance(self) -> np.ndarray:
        """(C, L) sum over time of |values|: how much each lead mattered for each class."""
        return np.abs(self.values).sum(axis=2)

    def additivity_error(self) -> np.ndarray:
        """(C,) ``values.sum() + base_values − probabilities`` (≈ 0; float32 rounding only)."""
        v = self.values.astype(np.float64).sum(axis=(1, 2))
        return v + self.base_values.astype(np.float64) - self.probabilities.astype(np.float64)

    def positive_classes(self) -> list[int]:
        """Indices of the classes strictly above the model's thresholds (empty if unknown)."""
        if self.thresholds.size != self.probabilities.size:
            return []
        return [int(i) for i in np.flatnonzero(self.probabilities > self.thresholds)]

    def top_segments(self, cls: int | str, k: int = 5, *, sign: int = 1) -> list[tuple[int, int]]:
        """The k (lead, segment) pairs with the largest value (``sign=1``), most negative
        (``sign=-1``) or largest magnitude (``sign=0``) for a class."""
        v = self.values[self.class_index(cls)]
        score = np.abs(v) if sign == 0 else sign * v
        order = np.argsort(-score, axis=None, kind="stable")[:k]
        return [(int(i // v.shape[1]), int(i % v.shape[1])) for i in order]

    # ------------------------------------------------------------------ drawing helpers

    def sample_map(self, class_index: int | str, *, density: bool = False) -> np.ndarray:
        """(n_samples, L) float32: each input sample carries its segment's value.

        With ``density=True`` the value is divided by the segment's length (then the map
        sums to the same total as ``values``).
        """
        c = self.class_index(class_index)
        widths = np.diff(self.segment_edges)
        seg = np.repeat(np.arange(self.n_segments), widths)
        v = self.values[c]
        if density:
            v = v / widths[None, :]
        return np.ascontiguousarray(v[:, seg].T, dtype=np.float32)

    def color_limit(self, class_index: int | str | None = None) -> float:
        """Symmetric colour-scale limit (max |value|) for one class, or over all classes.

        Never 0, so a diverging colour map centred at zero can always be drawn.
        """
        v = self.values if class_index is None else self.values[self.class_index(class_index)]
        m = float(np.max(np.abs(v))) if v.size else 0.0
        return m if m > 0 else 1e-6

    def rgba(self, class_index: int | str, *, opacity: float = 0.6, limit: float | None = None) -> np.ndarray:
        """(L, S, 4) uint8 colours of one class's values on the diverging map :func:`diverging_rgba`
        (blue lowers, white neutral, red raises the probability), for heatmaps behind the traces.

        ``limit`` is the value drawn at full colour (default :meth:`color_limit` of the class);
        alpha grows with |value| up to ``opacity`` so neutral stretches stay clear.
        """
        c = self.class_index(class_index)
        lim = self.color_limit(c) if limit is None else float(limit)
        return diverging_rgba(self.values[c], lim, opacity=opacity)

    def segment_times_s(self) -> np.ndarray:
        """(S+1,) segment edges in seconds of the *original* recording (see ``offset_s``)."""
        return self.offset_s + self.segment_edges / self.fs

    def input_times_s(self) -> np.ndarray:
        """(S+1,) segment edges in seconds of the network input (0 … 10.24 s)."""
        return self.segment_edges / self.fs

    def padding_segments(self) -> np.ndarray:
        """(S,) bool: segments lying wholly in the zero padding (their values are 0)."""
        lo, hi = self.segment_edges[:-1], self.segment_edges[1:]
        return (hi <= self.signal_start) | (lo >= self.signal_stop)

    def describe(self) -> str:
        """One line for status bars and reports."""
        return (
            f"SHAP ({self.method}, {self.n_segments} segments × {len(self.leads)} leads, "
            f"baseline {self.baseline}, {self.n_evaluations} evaluations, {self.seconds:.1f} s) "
            f"for {self.model_name} {self.model_version}"
        )

    # ------------------------------------------------------------------ files

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays and parameters as written to .npz (strings as 0-d unicode arrays)."""
        meta = {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "baseline": self.baseline,
            "method": self.method,
            "context": self.context,
            "seed": self.seed,
            "max_evals": self.max_evals,
            "focus": None if self.focus is None else list(self.focus),
            "n_evaluations": self.n_evaluations,
            "seconds": self.seconds,
            "fs": self.fs,
            "offset_s": self.offset_s,
            "signal_start": self.signal_start,
            "signal_stop": self.signal_stop,
            "format": SALIENCY_FORMAT,
        }
        return {
            "values": np.asarray(self.values, dtype=np.float32),
            "segment_edges": np.asarray(self.segment_edges, dtype=np.int64),
            "segment_times_s": self.segment_times_s(),
            "base_values": np.asarray(self.base_values, dtype=np.float32),
            "probabilities": np.asarray(self.probabilities, dtype=np.float32),
            "thresholds": np.asarray(self.thresholds, dtype=np.float32),
            "lead_importance": self.lead_importance().astype(np.float32),
            "classes": np.array(self.classes),
            "leads": np.array(self.leads),
            "model_name": np.array(self.model_name),
            "meta_json": np.array(json.dumps(meta)),
        }

    def save_npz(self, path: str | Path) -> Path:
        """Write the saliency to ``path`` (.npz, atomic). See :meth:`to_arrays` for the keys."""
        path = Path(path)
        _atomic_savez(path, self.to_arrays())
        return path

    @classmethod
    def load_npz(cls, path: str | Path) -> Saliency:
        """Read a file written by :meth:`save_npz`."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta_json"]))
                return cls(
                    values=z["values"].astype(np.float32),
                    segment_edges=z["segment_edges"].astype(np.int64),
                    base_values=z["base_values"].astype(np.float32),
                    probabilities=z["probabilities"].astype(np.float32),
                    classes=tuple(str(c) for c in z["classes"]),
                    leads=tuple(str(c) for c in z["leads"]),
                    model_name=meta["model_name"],
                    model_version=meta["model_version"],
                    n_evaluations=int(meta["n_evaluations"]),
                    seconds=float(meta["seconds"]),
                    baseline=meta["baseline"],
                    method=meta["method"],
                    context=meta.get("context", ""),
                    seed=int(meta["seed"]),
                    max_evals=int(meta["max_evals"]),
                    focus=_focus_tuple(meta["focus"]),
                    fs=float(meta["fs"]),
                    offset_s=float(meta["offset_s"]),
                    signal_start=int(meta["signal_start"]),
                    signal_stop=int(meta["signal_stop"]),
                    thresholds=z["thresholds"].astype(np.float32),
                )
        except (OSError, KeyError, ValueError) as err:
            raise ExplainError(
                f"{path}: not a saliency file written by ecgviewer ({type(err).__name__}: {err})"
            ) from None


DIVERGING_STOPS: tuple[tuple[float, tuple[int, int, int]], ...] = (
    (-1.0, (33, 102, 172)),
    (-0.5, (146, 197, 222)),
    (0.0, (247, 247, 247)),
    (0.5, (244, 165, 130)),
    (1.0, (178, 24, 43)),
)
"""The diverging colour map (value / limit → RGB; ColorBrewer RdBu), for legends."""


def diverging_rgba(values: np.ndarray, limit: float, *, opacity: float = 0.6) -> np.ndarray:
    """(..., 4) uint8 RGBA of ``values`` on :data:`DIVERGING_STOPS`, clipped at ±``limit``.

    Alpha is ``opacity × |value| / limit`` so values near zero are transparent.
    """
    v = np.clip(np.asarray(values, dtype=np.float64) / max(float(limit), 1e-12), -1.0, 1.0)
    xs = np.array([p for p, _ in DIVERGING_STOPS])
    rgb = np.array([c for _, c in DIVERGING_STOPS], dtype=np.float64)
    out = np.empty((*v.shape, 4), dtype=np.uint8)
    for k in range(3):
        out[..., k] = np.round(np.interp(v, xs, rgb[:, k]))
    out[..., 3] = np.round(255 * np.clip(opacity, 0.0, 1.0) * np.abs(v))
    return out


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    if not path.parent.is_dir():
        raise ExplainError(f"{path}: the folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- population


def population_summary(saliencies: Sequence[Saliency], *, normalize: bool = False) -> np.ndarray:
    """(C, L) mean lead importance over a set of exams (the seed's summary plot).

    With ``normalize=True`` each exam's lead importance is first divided by its total per
    class, so every exam weighs the same whatever its probabilities (rows then sum to 1).
    """
    if not saliencies:
        raise ExplainError("population summary of an empty set of explanations")
    shapes = {s.values.shape[:2] for s in saliencies}
    if len(shapes) != 1:
        raise ExplainError(
            f"explanations of different models or leads cannot be pooled: shapes {sorted(shapes)}"
        )
    imp = np.stack([s.lead_importance() for s in saliencies]).astype(np.float64)  # (N, C, L)
    if normalize:
        tot = imp.sum(axis=2, keepdims=True)
        imp = np.divide(imp, tot, out=np.zeros_like(imp), where=tot > 0)
    return imp.mean(axis=0).astype(np.float32)


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


# --------------------------------------------------------------------------- evaluation


class _Evaluator:
    """The network as a function of player masks: (B, M) bool → (B, C) probabilities.

    Builds each masked input as ``baseline + mask × (x − baseline)`` feature by feature,
    runs the network in batches of ``batch_size``, memoises every mask, polls ``cancel``
    and reports ``progress(evaluations, budget)``.
    """

    def __init__(
        self,
        model: EcgModel,
        x: np.ndarray,
        base: np.ndarray,
        edges: np.ndarray,
        players: np.ndarray,
        n_leads: int,
        memo: OrderedDict | None,
        batch_size: int,
        budget: int,
        progress: ProgressCallback | None,
        cancel: CancelCallback | None,
    ) -> None:
        self.model = model
        self.base = base
        self.delta = (x - base).astype(np.float32)
        S = len(edges) - 1
        self.seg_of_sample = np.repeat(np.arange(S), np.diff(edges))
        self.players = players
        self.n_leads = n_leads
        self.S = S
        self.memo: OrderedDict = memo if memo is not None else OrderedDict()
        self.batch_size = batch_size
        self.budget = budget
        self.progress = progress
        self.cancel = cancel
        self.evaluated = 0  # distinct masks asked for in this run (memo hits included)
        self.network_runs = 0  # forward passes actually run
        self._seen: set[bytes] = set()

    def inputs(self, masks: np.ndarray) -> np.ndarray:
        """(B, M) bool → (B, samples, leads) float32 network inputs."""
        B = masks.shape[0]
        full = np.zeros((B, self.n_leads * self.S), dtype=np.float32)
        full[:, self.players] = masks
        grid = full.reshape(B, self.n_leads, self.S)[:, :, self.seg_of_sample]  # (B, L, samples)
        return self.base[None] + self.delta[None] * grid.transpose(0, 2, 1)

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        masks = np.asarray(masks).astype(bool).reshape(len(masks), -1)
        keys = [np.packbits(m).tobytes() for m in masks]
        todo = [i for i, k in enumerate(keys) if k not in self.memo]
        todo_keys: dict[bytes, int] = {}
        for i in todo:
            todo_keys.setdefault(keys[i], i)
        unique = list(todo_keys.values())
        for start in range(0, len(unique), self.batch_size):
            if self.cancel is not None and self.cancel():
                raise Cancelled(
                    f"explanation cancelled after {self.evaluated} of about {self.budget} evaluations"
                )
            idx = unique[start : start + self.batch_size]
            out = self.model.predict(self.inputs(masks[idx]), batch_size=len(idx))
            self.network_runs += len(idx)
            for i, row in zip(idx, out, strict=True):
                self.memo[keys[i]] = row
        for k in keys:
            if k not in self._seen:
                self._seen.add(k)
                self.evaluated += 1
        if self.progress is not None:
            self.progress(min(self.evaluated, self.budget), self.budget)
        return np.stack([self.memo[k] for k in keys]).astype(np.float64)


class _PlayerMasker:
    """A shap masker whose 'masked sample' is the player mask itself; the model builds the input."""

    def __init__(self, n_players: int, clustering: np.ndarray) -> None:
        self.shape = (1, n_players)
        self.clustering = clustering
        self.fixed_background = True
        self.immutable_outputs = False

    def __call__(self, mask: Any, x: Any) -> np.ndarray:
        if mask is True or mask is False:
            mask = np.full(self.shape[1], bool(mask))
        return np.asarray(mask, dtype=bool).reshape(1, -1)


# --------------------------------------------------------------------------- memo and caches

_MEMO_EXAMS = 8  # exams whose evaluations are memoised (a few MB)
_memos: OrderedDict[str, OrderedDict] = OrderedDict()
_results: OrderedDict[str, Saliency] = OrderedDict()
_RESULTS_MAX = 256
_lock = threading.RLock()
_shap_lock = threading.Lock()  # PartitionExplainer draws tie-breakers from numpy's global RNG


def model_key(model: EcgModel) -> str:
    """Identity of a model file for caches: resolved path, size, mtime, name and version."""
    path = Path(model.path)
    try:
        st = path.stat()
        stamp = f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        stamp = "?"
    return f"{path.resolve()}|{stamp}|{model.contract.name}|{model.contract.version}"


def input_hash(x: np.ndarray) -> str:
    """SHA-1 of the network input (shape, dtype and bytes)."""
    a = np.ascontiguousarray(x, dtype=np.float32)
    h = hashlib.sha1(str(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def _memo_for(key: str) -> OrderedDict:
    with _lock:
        memo = _memos.pop(key, None)
        if memo is None:
            memo = OrderedDict()
        _memos[key] = memo
        while len(_memos) > _MEMO_EXAMS:
            _memos.popitem(last=False)
        return memo


def clear_cache(*, disk: bool = False) -> None:
    """Forget every memoised evaluation and cached result (and the disk cache if ``disk``)."""
    with _lock:
        _memos.clear()
        _results.clear()
    if disk:
        folder = cache_dir(create=False)
        if folder.is_dir():
            for f in folder.glob("*.npz"):
                f.unlink(missing_ok=True)


def cache_dir(create: bool = True) -> Path:
    """``user_data_dir()/cache/saliency``: the on-disk cache of :func:`explain_cached`."""
    from ecgviewer.paths import user_data_dir

    folder = user_data_dir() / "cache" / "saliency"
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


# --------------------------------------------------------------------------- explain


def _check_params(
    segments: int,
    baseline: str,
    method: str,
    max_evals: int | None,
    n_samples: int,
    focus: Focus,
    classes: Sequence[str],
) -> tuple[int, tuple[int, ...] | None]:
    if not isinstance(segments, int | np.integer) or not 1 <= segments <= n_samples:
        raise ExplainError(f"segments must be an integer between 1 and {n_samples}, got {segments!r}")
    if baseline not in BASELINES:
        raise ExplainError(f"unknown baseline {baseline!r}; choose one of {', '.join(BASELINES)}")
    if method not in METHODS:
        raise ExplainError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if max_evals is None:
        max_evals = DEFAULT_MAX_EVALS
    if max_evals < 4:
        raise ExplainError(f"max_evals must be at least 4, got {max_evals}")
    return int(max_evals), normalize_focus(focus, classes)


def normalize_focus(focus: Focus, classes: Sequence[str]) -> tuple[int, ...] | None:
    """``focus`` (a class name or index, or several) as sorted class indices; None for none."""
    if focus is None:
        return None
    items = [focus] if isinstance(focus, str | int | np.integer) else list(focus)
    out: set[int] = set()
    for item in items:
        if isinstance(item, str):
            if item not in classes:
                raise ExplainError(
                    f"unknown class {item!r} to focus on; the model's classes are " + ", ".join(classes)
                )
            out.add(list(classes).index(item))
        elif not 0 <= int(item) < len(classes):
            raise ExplainError(f"focus must name classes below index {len(classes)}, got {item}")
        else:
            out.add(int(item))
    return tuple(sorted(out)) or None


def _focus_tuple(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    return tuple(int(v) for v in (value if isinstance(value, list | tuple) else [value]))


def explain(
    model: EcgModel,
    x: np.ndarray,
    *,
    segments: int = DEFAULT_SEGMENTS,
    seed: int = 0,
    baseline: str = "zero",
    max_evals: int | None = None,
    method: str = "partition",
    context: str = "both",
    focus: Focus = None,
    batch_size: int = EXPLAIN_BATCH_SIZE,
    report: PreprocessReport | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
) -> Saliency:
    """SHAP values of one exam for all classes of ``model`` over lead × time-segment features.

    Args:
        model: a loaded :class:`~ecgviewer.model.runtime.EcgModel` (any model with the contract).
        x: (4096, 12) float32 network input in mV (``model.prepare(exam)[0]``).
        segments: time segments S (default 32 → 128 samples = 320 ms each); 64 or 128 for
            finer maps (raise ``max_evals`` with it).
        seed: seeds the explainer's tie-breaking (partition) or permutations; the same seed,
            input, model and parameters give the same values.
        baseline: "zero" (default), "mean" or "lowpass" (see the module docstring).
        max_evals: network evaluations allowed (default :data:`DEFAULT_MAX_EVALS`).
        method: "partition" (Owen values, best-first, additive at any budget; default) or
            "permutation" (:class:`shap.PermutationExplainer` with the same hierarchy; needs at
            least 2·M + 1 evaluations for M active features).
        focus: class(es) (index or name, or a list) to refine first; default: all classes equally.
            The values of every class are still computed, from the same evaluations.
        batch_size: masked inputs per network call.
        report: the :class:`~ecgviewer.preprocess.PreprocessReport` of ``x``, for the mapping
            to original time and the padding; optional.
        progress: ``progress(done, budget)`` after each batch of evaluations.
        cancel: polled before each batch; returning True raises :class:`~ecgviewer.errors.Cancelled`.

    Returns:
        :class:`Saliency` with values (C, 12, S).

    Raises:
        ExplainError for bad parameters, ModelError for a bad input or a failing model,
        Cancelled when ``cancel`` returned True.
    """
    start_time = time.perf_counter()
    classes = tuple(model.contract.classes)
    leads = tuple(model.contract.leads)
    n_samples = int(model.n_samples)
    max_evals, focus_i = _check_params(segments, baseline, method, max_evals, n_samples, focus, classes)
    if context not in CONTEXTS:
        raise ExplainError(f"unknown context {context!r}; choose one of {', '.join(CONTEXTS)}")
    x = model.check_input(np.asarray(x)[None] if np.ndim(x) == 2 else x)
    if x.shape[0] != 1:
        raise ModelError(f"explain takes one exam (samples, leads); got a batch of {x.shape[0]}")
    x = x[0]
    fs = float(model.contract.fs)
    bounds = signal_bounds(x, report)
    base = make_baseline(x, baseline, fs=fs, bounds=bounds)
    edges = segment_edges(n_samples, int(segments))
    S = len(edges) - 1
    L = x.shape[1]

    # players: features whose input differs from the baseline somewhere (others are dummies, value 0)
    diff = np.abs(x - base) > 0  # (samples, L)
    active = np.add.reduceat(diff, edges[:-1], axis=0).T > 0  # (L, S)
    players, link = partition_tree(leads, S, active)
    M = len(players)

    key = "|".join([model_key(model), input_hash(x), baseline, str(S)])
    memo = _memo_for(key)
    ev = _Evaluator(
        model, x, base, edges, players, L, memo, max(1, int(batch_size)), max_evals, progress, cancel
    )
    f_end = ev(np.ones((2, M), dtype=bool) & np.array([[True], [False]]))  # x and the baseline
    f_x, f_base = f_end[0], f_end[1]
    values = np.zeros((len(classes), L * S), dtype=np.float64)

    if M == 1:
        values[:, players[0]] = f_x - f_base
    elif M > 1:
        # weights so each class gets the same attention in the best-first traversal
        total = np.abs(f_x - f_base)
        scale = np.maximum(total, max(1e-4, float(total.max()) * 1e-3))
        if focus_i is not None:
            w = np.full(len(classes), 0.05)
            w[list(focus_i)] = 1.0
            scale = scale / w
        phi = _run_shap(method, context, ev, M, link, f_x, f_base, scale, max_evals, seed, batch_size)
        values[:, players] = phi.T
    if progress is not None:
        progress(max_evals, max_evals)
    offset_s = report.offset_s if report is not None else 0.0
    return Saliency(
        values=values.reshape(len(classes), L, S).astype(np.float32),
        segment_edges=edges,
        base_values=f_base.astype(np.float32),
        probabilities=f_x.astype(np.float32),
        classes=classes,
        leads=leads,
        model_name=model.contract.name,
        model_version=model.contract.version,
        n_evaluations=ev.evaluated,
        seconds=time.perf_counter() - start_time,
        baseline=baseline,
        method=method,
        context=context if method == "partition" else "",
        seed=int(seed),
        max_evals=max_evals,
        focus=focus_i,
        fs=fs,
        offset_s=float(offset_s),
        signal_start=bounds[0],
        signal_stop=bounds[1],
        thresholds=np.asarray(model.contract.thresholds, dtype=np.float32),
    )


def warm_up() -> float:
    """Import shap and run a tiny explanation, so the first real one starts at once.

    Importing shap takes a few seconds; call this from a worker thread when the viewer
    starts. Returns the seconds it took.
    """
    start = time.perf_counter()
    shap = import_shap()
    players, link = partition_tree(LEADS, 2, np.ones((len(LEADS), 2), dtype=bool))
    masker = _PlayerMasker(len(players), link)
    with _shap_lock, numba_free_partition():
        explainer = shap.PartitionExplainer(lambda m: np.asarray(m, dtype=np.float64)[:, :2], masker)
        explainer(np.zeros((1, len(players))), max_evals=20, batch_size=8, silent=True, fixed_context=0)
    return time.perf_counter() - start


def _run_shap(
    method: str,
    context: str,
    ev: _Evaluator,
    M: int,
    link: np.ndarray,
    f_x: np.ndarray,
    f_base: np.ndarray,
    scale: np.ndarray,
    max_evals: int,
    seed: int,
    batch_size: int,
) -> np.ndarray:
    """(M, C) SHAP values of the players, exactly additive to ``f_x − f_base``."""
    shap = import_shap()

    def scaled(masks: np.ndarray) -> np.ndarray:
        return ev(masks) / scale

    masker = _PlayerMasker(M, link)
    dummy = np.zeros((1, M), dtype=np.float32)
    batch = max(2, int(batch_size))
    passes: list[np.ndarray] = []
    with _shap_lock, numba_free_partition():
        state = np.random.get_state()
        try:
            if method == "partition":
                fixed = {"both": (0, 1), "owen": (None,), "absent": (0,), "present": (1,)}[context]
                budget = max(4, max_evals // len(fixed))
                for k, fc in enumerate(fixed):
                    np.random.seed((seed + 7919 * k) % (2**32))
                    explainer = shap.PartitionExplainer(scaled, masker)
                    out = explainer(dummy, max_evals=budget, batch_size=batch, silent=True, fixed_context=fc)
                    passes.append(np.asarray(out.values[0], dtype=np.float64).reshape(M, -1))
            else:
                need = 2 * M + 1
                if max_evals < need:
                    raise ExplainError(
                        f"the permutation explainer needs at least 2·M + 1 = {need} "
                        f"evaluations for {M} features; got max_evals={max_evals} "
                        "(use method='partition' or fewer segments)"
                    )
                np.random.seed(seed % (2**32))
                explainer = shap.PermutationExplainer(scaled, masker)
                out = explainer(dummy, max_evals=max_evals, batch_size=batch, silent=True, seed=seed)
                passes.append(np.asarray(out.values[0], dtype=np.float64).reshape(M, -1))
        except EcgViewerError:
            raise
        except Exception as err:  # shap internals: report, don't crash the viewer
            raise ExplainError(f"SHAP failed ({type(err).__name__}: {err})") from err
        finally:
            np.random.set_state(state)
    phi = np.mean(passes, axis=0) * scale[None, :]
    # exact additivity (the explainers are additive up to float sums)
    resid = (f_x - f_base) - phi.sum(axis=0)
    phi += resid[None, :] / M
    return phi


def explain_exam(model: EcgModel, exam: Any, **kwargs: Any) -> Saliency:
    """Preprocess ``exam`` for ``model`` and explain it (cached); keyword arguments as :func:`explain`."""
    x, report = model.prepare(exam)
    return explain_cached(model, x, report=report, **kwargs)


def cache_key(
    model: EcgModel,
    x: np.ndarray,
    *,
    segments: int = DEFAULT_SEGMENTS,
    seed: int = 0,
    baseline: str = "zero",
    max_evals: int | None = None,
    method: str = "partition",
    context: str = "both",
    focus: Focus = None,
) -> str:
    """The key of :func:`explain_cached`: SHA-1 of model identity, input bytes and parameters."""
    parts = [
        model_key(model),
        input_hash(x),
        str(int(segments)),
        str(int(seed)),
        baseline,
        str(max_evals or DEFAULT_MAX_EVALS),
        method,
        context,
        str(focus),
        f"v{SALIENCY_FORMAT}",
    ]
    return hashlib.sha1("|".join(parts).encode()).hexdigest()


def explain_cached(
    model: EcgModel,
    x: np.ndarray,
    *,
    segments: int = DEFAULT_SEGMENTS,
    seed: int = 0,
    baseline: str = "zero",
    max_evals: int | None = None,
    method: str = "partition",
    context: str = "both",
    focus: Focus = None,
    batch_size: int = EXPLAIN_BATCH_SIZE,
    report: PreprocessReport | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
    disk: bool = True,
) -> Saliency:
    """:func:`explain` with a cache per (model file, exam input, parameters).

    Results live in memory (the last 256) and, with ``disk=True``, as small .npz files in
    :func:`cache_dir` (about 10 kB each; the oldest are pruned beyond 2000 files). A hit
    costs no evaluation and returns the stored :class:`Saliency` (``seconds`` as computed).
    The mapping to original time (``report``) is applied to the result, hit or miss.
    """
    focus = normalize_focus(focus, tuple(model.contract.classes))
    key = cache_key(
        model,
        np.asarray(x),
        segments=segments,
        seed=seed,
        baseline=baseline,
        max_evals=max_evals,
        method=method,
        context=context,
        focus=focus,
    )
    with _lock:
        hit = _results.get(key)
        if hit is not None:
            _results.move_to_end(key)
    if hit is None and disk:
        path = cache_dir() / f"{key}.npz"
        if path.is_file():
            try:
                hit = Saliency.load_npz(path)
            except ExplainError:
                path.unlink(missing_ok=True)
    if hit is None:
        hit = explain(
            model,
            x,
            segments=segments,
            seed=seed,
            baseline=baseline,
            max_evals=max_evals,
            method=method,
            context=context,
            focus=focus,
            batch_size=batch_size,
            report=report,
            progress=progress,
            cancel=cancel,
        )
        if disk:
            try:
                hit.save_npz(cache_dir() / f"{key}.npz")
                _prune_disk_cache()
            except (OSError, ExplainError):
                pass  # a cache that cannot be written is not an error
    elif progress is not None:
        progress(1, 1)
    with _lock:
        _results[key] = hit
        while len(_results) > _RESULTS_MAX:
            _results.popitem(last=False)
    if report is not None and (
        hit.offset_s != report.offset_s
        or (hit.signal_start, hit.signal_stop) != (report.signal_slice.start, report.signal_slice.stop)
    ):
        from dataclasses import replace

        hit = replace(
            hit,
            offset_s=float(report.offset_s),
            signal_start=int(report.signal_slice.start),
            signal_stop=int(report.signal_slice.stop),
        )
    return hit


_DISK_MAX = 2000


def _prune_disk_cache() -> None:
    folder = cache_dir()
    files = list(folder.glob("*.npz"))
    if len(files) <= _DISK_MAX:
        return
    files.sort(key=lambda p: p.stat().st_mtime)
    for f in files[: len(files) - _DISK_MAX]:
        f.unlink(missing_ok=True)


def explain_set(
    model: EcgModel,
    xs: Sequence[np.ndarray] | np.ndarray,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
    **kwargs: Any,
) -> list[Saliency]:
    """Explain several inputs (each (4096, 12)); ``progress(exams_done, n_exams)``."""
    out: list[Saliency] = []
    n = len(xs)
    for i, x in enumerate(xs):
        if cancel is not None and cancel():
            raise Cancelled(f"explanation cancelled after {i} of {n} exams")
        out.append(explain_cached(model, x, cancel=cancel, **kwargs))
        if progress is not None:
            progress(i + 1, n)
    return out
