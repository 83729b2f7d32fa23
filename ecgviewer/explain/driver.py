"""The explainer: :func:`explain` runs the partition (Owen) or permutation explainer over the
players of :mod:`~ecgviewer.explain.features`; :func:`explain_cached` adds the caches."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Unpack

import numpy as np

from ecgviewer.errors import Cancelled, EcgViewerError, ModelError
from ecgviewer.explain import cache
from ecgviewer.explain.cache import cache_key, input_hash, model_key
from ecgviewer.explain.evaluate import _Evaluator, _PlayerMasker
from ecgviewer.explain.features import make_baseline, partition_tree, segment_edges, signal_bounds
from ecgviewer.explain.params import (
    CONTEXTS,
    DEFAULT_SEGMENTS,
    EXPLAIN_BATCH_SIZE,
    CancelCallback,
    ExplainError,
    ExplainOptions,
    Focus,
    ProgressCallback,
    _check_params,
    normalize_focus,
)
from ecgviewer.explain.result import Saliency
from ecgviewer.leads import LEADS
from ecgviewer.shap_numpy import import_shap, numba_free_partition

if TYPE_CHECKING:  # pragma: no cover
    from ecgviewer.model.runtime import EcgModel
    from ecgviewer.preprocess import PreprocessReport

_shap_lock = threading.Lock()  # PartitionExplainer draws tie-breakers from numpy's global RNG


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
    memo = cache.memo_for(key)
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


def explain_cached(
    model: EcgModel, x: np.ndarray, *, disk: bool = True, **options: Unpack[ExplainOptions]
) -> Saliency:
    """:func:`explain` with a cache per (model file, exam input, parameters); options as :func:`explain`.

    Results live in memory (the last 256) and, with ``disk=True``, as small .npz files in
    :func:`cache_dir` (about 10 kB each; the oldest are pruned beyond 2000 files). A hit
    costs no evaluation and returns the stored :class:`Saliency` (``seconds`` as computed).
    The mapping to original time (``report``) is applied to the result, hit or miss.
    """
    options["focus"] = normalize_focus(options.get("focus"), tuple(model.contract.classes))
    key = cache_key(model, np.asarray(x), **options)
    report = options.get("report")
    progress = options.get("progress")
    hit = cache.lookup(key, disk=disk)
    computed = hit is None
    if hit is None:
        hit = explain(model, x, **options)
    elif progress is not None:
        progress(1, 1)
    cache.store(key, hit, disk=disk, computed=computed)
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


def explain_exam(
    model: EcgModel, exam: Any, *, disk: bool = True, **options: Unpack[ExplainOptions]
) -> Saliency:
    """Preprocess ``exam`` for ``model`` and explain it (cached); options as :func:`explain`."""
    x, report = model.prepare(exam)
    options["report"] = report
    return explain_cached(model, x, disk=disk, **options)


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
