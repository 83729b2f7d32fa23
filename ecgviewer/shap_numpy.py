"""shap's numba helpers of the partition explainer, in plain NumPy (no Qt, no numba).

shap's PartitionExplainer calls three numba-compiled helpers; compiling them costs 10–30 s
on the first explanation of every process (numba cannot cache the recursive ones). These
plain NumPy equivalents (same results; the trees here have < 10^4 nodes) are swapped in
while ecgviewer runs the explainer, so the first explanation is as fast as the others.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def make_masks(cluster_matrix: np.ndarray):
    """Node × leaf boolean CSR matrix of a linkage (as ``shap.utils.make_masks``)."""
    import scipy.sparse

    M = cluster_matrix.shape[0] + 1
    leaves: list[np.ndarray] = [np.array([i]) for i in range(M)]
    for row in cluster_matrix:
        leaves.append(np.concatenate([leaves[int(row[0])], leaves[int(row[1])]]))
    indptr = np.zeros(2 * M, dtype=np.int64)
    indptr[1:] = np.cumsum([len(v) for v in leaves])
    indices = np.concatenate(leaves).astype(np.int64)
    return scipy.sparse.csr_matrix((np.ones(len(indices), dtype=bool), indices, indptr), shape=(2 * M - 1, M))


def lower_credit(i: int, value: float, M: int, values: np.ndarray, clustering: np.ndarray) -> None:
    """Push each internal node's credit down to its leaves in proportion to their count
    (as shap's ``lower_credit``, iteratively)."""
    stack: list[tuple[int, Any]] = [(i, value)]
    while stack:
        node, v = stack.pop()
        if node < M:
            values[node] += v
            continue
        li, ri = int(clustering[node - M, 0]), int(clustering[node - M, 1])
        size = clustering[node - M, 3]
        lsize = clustering[li - M, 3] if li >= M else 1
        rsize = clustering[ri - M, 3] if ri >= M else 1
        values[node] += v
        stack.append((ri, values[node] * rsize / size))
        stack.append((li, values[node] * lsize / size))


def build_fixed_output(
    averaged_outs,
    last_outs,
    outputs,
    batch_positions,
    varying_rows,
    num_varying_rows,
    link,
    linearizing_weights,
) -> None:
    """As shap's ``_build_fixed_output`` (average the masked samples' outputs per mask)."""
    sample_count = last_outs.shape[0]
    for i in range(len(averaged_outs)):
        if batch_positions[i] < batch_positions[i + 1]:
            chunk = outputs[batch_positions[i] : batch_positions[i + 1]]
            if num_varying_rows[i] == sample_count:
                last_outs[:] = chunk
            else:
                last_outs[varying_rows[i]] = chunk
            if linearizing_weights is not None:
                averaged_outs[i] = np.mean(linearizing_weights * link(last_outs), axis=0)
            else:
                averaged_outs[i] = link(np.mean(last_outs, axis=0))
        else:
            averaged_outs[i] = averaged_outs[i - 1]


class numba_free_partition:  # noqa: N801 - a context manager used like a function
    """Swap shap's numba helpers of the partition path for the NumPy ones above (restored on exit)."""

    def __enter__(self) -> None:
        import shap.explainers._partition as part
        import shap.utils._masked_model as mm

        self._saved = [
            (part, "make_masks", part.make_masks),
            (part, "lower_credit", part.lower_credit),
            (mm, "_build_fixed_output", mm._build_fixed_output),
        ]
        part.make_masks = make_masks
        part.lower_credit = lower_credit
        mm._build_fixed_output = build_fixed_output

    def __exit__(self, *exc: object) -> None:
        for module, name, value in self._saved:
            setattr(module, name, value)


def import_shap():
    """``import shap`` without the deprecation notices its plotting module prints on import."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        import shap
    return shap


__all__ = ["build_fixed_output", "import_shap", "lower_credit", "make_masks", "numba_free_partition"]
