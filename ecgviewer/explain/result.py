"""What an explanation is: :class:`Saliency` (values, summaries, colours, .npz files), pooled over a set."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecgviewer.explain.params import DEFAULT_MAX_EVALS, ExplainError
from ecgviewer.leads import LEADS

SALIENCY_FORMAT = 1
"""Version of the .npz layout written by :meth:`Saliency.save_npz`."""


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


def _focus_tuple(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    return tuple(int(v) for v in (value if isinstance(value, list | tuple) else [value]))
