"""The network as a function of player masks, batched and memoised (and the masker shap sees)."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgviewer.errors import Cancelled
from ecgviewer.explain.params import CancelCallback, ProgressCallback

if TYPE_CHECKING:  # pragma: no cover
    from ecgviewer.model.runtime import EcgModel

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
