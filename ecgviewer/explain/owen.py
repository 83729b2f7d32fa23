"""The partition explainer's Owen recursion, one batch of masks at a time.

This is the best-first recursion of ``shap.PartitionExplainer`` (``explain_row`` and ``owen``
in shap 0.45–0.51, MIT licence), written as a generator: it *yields* each batch of player
masks and is *sent* their outputs. The driver can so run several passes (the two fixed
contexts of ``context="both"``) side by side and evaluate their batches in one network call,
where shap runs one pass after the other. Each pass draws its tie-breakers from its own
``RandomState`` seeded as shap's global one was, so the values are the ones shap computes
for the same seed, batch size and budget (``tests/test_explain.py`` pins this against shap).

It also spares the partition path ``import shap`` (a few seconds per process) and shap's
per-batch overhead (a sparse-matrix row per mask, a masked-model wrapper per call).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Generator, Sequence

import numpy as np

from ecgviewer.shap_numpy import lower_credit

Steps = Generator[np.ndarray, np.ndarray, np.ndarray]
"""Yields (B, M) bool masks, is sent their (B, C) float64 outputs, returns (M, C) values."""


def leaf_masks(link: np.ndarray) -> np.ndarray:
    """(2M−1, M) bool: row k holds the players under node k of the linkage (leaves first)."""
    M = link.shape[0] + 1
    out = np.zeros((2 * M - 1, M), dtype=bool)
    out[np.arange(M), np.arange(M)] = True
    for k, row in enumerate(link):
        out[M + k] = out[int(row[0])] | out[int(row[1])]
    return out


def owen_steps(
    f00: np.ndarray,
    f11: np.ndarray,
    link: np.ndarray,
    masks: np.ndarray,
    *,
    max_evals: int,
    fixed_context: int | None,
    batch_size: int,
    rng: np.random.RandomState,
) -> Steps:
    """Owen values of M players (shap's ``PartitionExplainer`` with ``max_evals`` evaluations).

    Args:
        f00, f11: (C,) outputs for no player and for every player (shap evaluates these two
            first; they count towards ``max_evals``).
        link: (M−1, 4) linkage over the players; ``masks``: :func:`leaf_masks` of it.
        fixed_context: 0, 1 or None (shap's argument of the same name).
        batch_size: nodes' masks asked for at once (it shapes the best-first order).
        rng: the tie-breakers' source (``np.random.randn`` in shap).
    """
    M = link.shape[0] + 1
    dvalues = np.zeros((2 * M - 1, f00.shape[0]))
    budget = max_evals - 2  # shap's explain_row spends two evaluations on f00 and f11
    m00 = np.zeros(M, dtype=bool)
    q: list = [(0, 0, (m00, f00, f11, len(dvalues) - 1, 1.0))]
    eval_count = 0
    while q:
        if eval_count >= budget:  # out of budget: the rest stays on the internal nodes
            while q:
                m00, f00, f11, ind, weight = heapq.heappop(q)[2]
                dvalues[ind] += (f11 - f00) * weight
            break
        batch_args = []
        batch_masks: list[np.ndarray] = []
        while q and len(batch_masks) < batch_size and eval_count + len(batch_masks) < budget:
            m00, f00, f11, ind, weight = heapq.heappop(q)[2]
            if ind < M:  # a leaf (shap: distance < 0)
                dvalues[ind] += (f11 - f00) * weight
                continue
            lind, rind = int(link[ind - M, 0]), int(link[ind - M, 1])
            m10 = m00 | masks[lind]
            m01 = m00 | masks[rind]
            batch_args.append((m00, m10, m01, f00, f11, ind, lind, rind, weight))
            batch_masks.append(m10)
            batch_masks.append(m01)
        if not batch_args:
            continue
        fout = yield np.array(batch_masks)
        eval_count += len(batch_masks)
        for i, (m00, _m10, m01, f00, f11, ind, lind, rind, weight) in enumerate(batch_args):
            f10 = fout[2 * i]
            f01 = fout[2 * i + 1]
            new_weight = weight
            if fixed_context is None:
                new_weight /= 2
            elif fixed_context == 0:
                dvalues[ind] += (f11 - f10 - f01 + f00) * weight  # the interaction stays on the node
            elif fixed_context == 1:
                dvalues[ind] -= (f11 - f10 - f01 + f00) * weight
            if fixed_context is None or fixed_context == 0:
                heapq.heappush(
                    q,
                    (-np.max(np.abs(f10 - f00)) * new_weight, rng.randn(), (m00, f00, f10, lind, new_weight)),
                )
                heapq.heappush(
                    q,
                    (-np.max(np.abs(f01 - f00)) * new_weight, rng.randn(), (m00, f00, f01, rind, new_weight)),
                )
            if fixed_context is None or fixed_context == 1:
                heapq.heappush(
                    q,
                    (-np.max(np.abs(f11 - f01)) * new_weight, rng.randn(), (m01, f01, f11, lind, new_weight)),
                )
                heapq.heappush(
                    q,
                    (
                        -np.max(np.abs(f11 - f10)) * new_weight,
                        rng.randn(),
                        (_m10, f10, f11, rind, new_weight),
                    ),
                )
    values = dvalues.copy()
    lower_credit(len(dvalues) - 1, 0, M, values, link)
    return values[:M].copy()


def run_side_by_side(
    passes: Sequence[Steps], evaluate: Callable[[np.ndarray], np.ndarray]
) -> list[np.ndarray]:
    """Run the generators in lockstep: each round, every unfinished pass's batch is evaluated
    in one call of ``evaluate`` ((B, M) masks → (B, C) outputs). Returns each pass's values."""
    results: list[np.ndarray | None] = [None] * len(passes)
    pending: dict[int, np.ndarray] = {}
    for i, steps in enumerate(passes):
        try:
            pending[i] = next(steps)
        except StopIteration as done:
            results[i] = done.value
    while pending:
        order = list(pending)
        out = evaluate(np.concatenate([pending[i] for i in order]))
        start = 0
        nxt: dict[int, np.ndarray] = {}
        for i in order:
            n = len(pending[i])
            try:
                nxt[i] = passes[i].send(out[start : start + n])
            except StopIteration as done:
                results[i] = done.value
            start += n
        pending = nxt
    return [r for r in results if r is not None]
