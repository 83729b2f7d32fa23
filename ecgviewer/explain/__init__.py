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
its Owen value (Shapley value within a hierarchy of feature groups) computed by the
recursion of :class:`shap.PartitionExplainer` (the shap package runs it;
``method="permutation"`` uses :class:`shap.PermutationExplainer`). Per
class, the values add up exactly (to float precision) to ``probability(exam) − probability(baseline)``:

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
Each evaluation is one forward pass of the network (≈ 10–30 ms on a 2-core CPU); the time is
the network's (≈ 98 %). The explainer asks for ``batch_size`` masks at a time, and they go to
the network in one call. The budget ``max_evals`` (default
:data:`DEFAULT_MAX_EVALS`) caps the evaluations; see ``benchmarks/explain_bench.py`` for
seconds and accuracy per budget (and ``--before`` for old code against new).
Evaluations are memoised per (model, exam input, baseline, segments), so a refinement
with a larger budget and the same seed re-uses every evaluation of the coarser run.

Layout
------
- :mod:`~ecgviewer.explain.params`: defaults, accepted values and their checks, :class:`ExplainError`;
- :mod:`~ecgviewer.explain.features`: segments, baselines, masked inputs, the lead × time hierarchy;
- :mod:`~ecgviewer.explain.evaluate`: the network as a function of player masks (batched, memoised);
- :mod:`~ecgviewer.explain.driver`: :func:`explain` (the explainer's driver), :func:`explain_cached`;
- :mod:`~ecgviewer.explain.cache`: memo of evaluations, cached results in memory and on disk;
- :mod:`~ecgviewer.explain.result`: :class:`Saliency`, colours, .npz files, population summaries.

Everything public is re-exported here: import from ``ecgviewer.explain``.
"""

from __future__ import annotations

from ecgviewer.explain.cache import cache_dir, cache_key, clear_cache, input_hash, model_key
from ecgviewer.explain.driver import explain, explain_cached, explain_exam, explain_set, warm_up
from ecgviewer.explain.features import (
    make_baseline,
    masked_input,
    partition_tree,
    segment_edges,
    signal_bounds,
)
from ecgviewer.explain.params import (
    BASELINES,
    CONTEXTS,
    DEFAULT_MAX_EVALS,
    DEFAULT_SEGMENTS,
    EXPLAIN_BATCH_SIZE,
    METHODS,
    PREVIEW_MAX_EVALS,
    CancelCallback,
    ExplainError,
    Focus,
    ProgressCallback,
    normalize_focus,
)
from ecgviewer.explain.result import (
    DIVERGING_STOPS,
    SALIENCY_FORMAT,
    Saliency,
    _atomic_savez,
    diverging_rgba,
    population_summary,
)

__all__ = [
    "BASELINES",
    "CONTEXTS",
    "DEFAULT_MAX_EVALS",
    "DEFAULT_SEGMENTS",
    "DIVERGING_STOPS",
    "EXPLAIN_BATCH_SIZE",
    "METHODS",
    "PREVIEW_MAX_EVALS",
    "SALIENCY_FORMAT",
    "CancelCallback",
    "ExplainError",
    "Focus",
    "ProgressCallback",
    "Saliency",
    "_atomic_savez",
    "cache_dir",
    "cache_key",
    "clear_cache",
    "diverging_rgba",
    "explain",
    "explain_cached",
    "explain_exam",
    "explain_set",
    "input_hash",
    "make_baseline",
    "masked_input",
    "model_key",
    "normalize_focus",
    "partition_tree",
    "population_summary",
    "segment_edges",
    "signal_bounds",
    "warm_up",
]
