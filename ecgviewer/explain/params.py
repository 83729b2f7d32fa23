"""Parameters of an explanation: defaults, the accepted values, their checks, and the error type."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from ecgviewer.errors import EcgViewerError

if TYPE_CHECKING:  # pragma: no cover
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


class ExplainError(EcgViewerError):
    """Saliency could not be computed, saved or loaded."""


class ExplainOptions(TypedDict, total=False):
    """The keyword arguments of :func:`~ecgviewer.explain.explain` (documented there), for the
    functions that pass them on (``explain_cached``, ``cache_key``, ``explain_exam``, ``explain_set``)."""

    segments: int
    seed: int
    baseline: str
    max_evals: int | None
    method: str
    context: str
    focus: Focus
    batch_size: int
    report: PreprocessReport | None
    progress: ProgressCallback | None
    cancel: CancelCallback | None


PARAM_DEFAULTS: dict[str, Any] = {
    "segments": DEFAULT_SEGMENTS,
    "seed": 0,
    "baseline": "zero",
    "max_evals": None,
    "method": "partition",
    "context": "both",
    "focus": None,
}
"""The options that change the values (and so the cache key), with their defaults; the other
options (batch size, report, callbacks) change how they are computed or reported, not what they are."""


def value_params(options: Mapping[str, Any]) -> dict[str, Any]:
    """The value-changing options with their defaults filled in; unknown names raise TypeError."""
    unknown = set(options) - set(ExplainOptions.__annotations__)
    if unknown:
        raise TypeError(f"unknown explain option(s): {', '.join(sorted(unknown))}")
    return {name: options.get(name, default) for name, default in PARAM_DEFAULTS.items()}


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
