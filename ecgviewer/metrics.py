"""The paper's statistics: scores against a gold standard, bootstrap intervals, kappa, McNemar, PR curves.

Definitions follow Ribeiro et al. (2020) and its ``generate_figures_and_tables.py``:

* precision = TP / (TP + FP), recall = TP / (TP + FN), specificity = TN / (TN + FP),
  F1 = 2 TP / (2 TP + FP + FN) (= 2 P R / (P + R)). A zero denominator gives NaN and a reason
  ("undefined"), never a division warning. F1 is 0, not undefined, when the reference has
  positives but the rater found none (as in scikit-learn).
* Bootstrap: ``n_resamples`` resamples of the exams with replacement, the same resamples for
  every rater (paired), drawn as the paper did (``RandomState(seed).randint(n, size=n * B)``,
  seed 123); the interval bounds are order statistics of the sorted resampled scores at
  ``int(q * B)``, q = 0.025 and 0.975 (resamples where a score is undefined are left out).
* Cohen's kappa per class between two raters: (p_o - p_e) / (1 - p_e).
* McNemar's test between two raters on which exams each gets wrong against the reference:
  exact two-sided binomial test when the discordant count b + c < 25, else the χ² statistic
  (b - c)² / (b + c) without continuity correction (the paper's choice); both p-values are kept.

Labels are arrays of 1 (present), 0 (absent) and -1 (unknown); an exam with an unknown
label on either side is left out of that class's counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from ecgviewer.classes import CLASSES

__all__ = [
    "METRICS",
    "METRIC_LABELS",
    "Evaluation",
    "PRCurve",
    "average_precision",
    "binary_scores",
    "bootstrap_ci",
    "bootstrap_indices",
    "bootstrap_scores",
    "cohen_kappa",
    "confusion_counts",
    "evaluate",
    "evaluate_sets",
    "mcnemar",
    "pr_curve",
    "precision_recall_curve",
    "roc_auc",
    "scores_from_counts",
    "threshold",
]

METRICS: tuple[str, ...] = ("precision", "recall", "specificity", "f1")
METRIC_LABELS: dict[str, str] = {
    "precision": "Precision",
    "recall": "Recall",
    "specificity": "Specificity",
    "f1": "F1 score",
}
UNDEFINED_REASONS: dict[str, str] = {
    "precision": "undefined: no positive decisions (TP + FP = 0)",
    "recall": "undefined: no positive cases in the reference (TP + FN = 0)",
    "specificity": "undefined: no negative cases in the reference (TN + FP = 0)",
    "f1": "undefined: no positive cases and no positive decisions (2TP + FP + FN = 0)",
}
KAPPA_UNDEFINED = "undefined: both raters gave the same single answer for every exam (expected agreement 1)"
MCNEMAR_EXACT_BELOW = 25


def _as_2d(a: np.ndarray) -> tuple[np.ndarray, bool]:
    a = np.asarray(a)
    if a.ndim == 1:
        return a[:, None], True
    if a.ndim != 2:
        raise ValueError(f"labels must be (N,) or (N, K), got {a.shape}")
    return a, False


def _masks(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(valid, true positive, predicted positive) boolean (N, K) arrays; -1/NaN is unknown."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape:
        raise ValueError(f"reference and decisions differ in shape: {t.shape} vs {p.shape}")
    valid = (t >= 0) & (p >= 0)  # NaN and -1 both compare False
    return valid, valid & (t == 1), valid & (p == 1)


def threshold(probabilities: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Decisions (N, K) int8 = probabilities > thresholds (strictly greater, as the paper's code)."""
    prob = np.asarray(probabilities, dtype=np.float64)
    return (prob > np.asarray(thresholds, dtype=np.float64)[None, :]).astype(np.int8)


# --------------------------------------------------------------------------- confusion and scores


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, np.ndarray]:
    """Confusion counts per class.

    Args:
        y_true: (N,) or (N, K) reference labels, 1/0, -1 unknown.
        y_pred: same shape, the rater's decisions.

    Returns:
        {"tp", "fp", "fn", "tn", "n"}: (K,) int64 arrays (ints for 1-D input); ``n`` is the
        number of exams with both labels known.
    """
    t, was_1d = _as_2d(y_true)
    p, _ = _as_2d(y_pred)
    valid, tpos, ppos = _masks(t, p)
    out = {
        "tp": (tpos & ppos).sum(axis=0),
        "fp": (~tpos & ppos).sum(axis=0),
        "fn": (tpos & ~ppos).sum(axis=0),
        "tn": (valid & ~tpos & ~ppos).sum(axis=0),
        "n": valid.sum(axis=0),
    }
    return {k: (int(v[0]) if was_1d else v.astype(np.int64)) for k, v in out.items()}


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def scores_from_counts(tp, fp, fn, tn) -> dict[str, np.ndarray]:
    """Precision, recall, specificity and F1 from confusion counts of any (broadcastable) shape.

    Zero denominators give NaN (no warning)."""
    tp, fp, fn, tn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn, tn))
    return {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def binary_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Precision, recall, specificity and F1 of decisions against a reference.

    Args:
        y_true: (N,) or (N, K) reference, 1/0 (-1 unknown: left out).
        y_pred: same shape, decisions 1/0.

    Returns:
        dict with "precision", "recall", "specificity", "f1" (floats for 1-D input, (K,) arrays
        for 2-D; NaN when undefined), the counts "tp", "fp", "fn", "tn", "n", and "undefined":
        for 1-D input {metric: reason} of the undefined scores, for 2-D a list of such dicts,
        one per class.
    """
    counts = confusion_counts(y_true, y_pred)
    scores = scores_from_counts(counts["tp"], counts["fp"], counts["fn"], counts["tn"])
    was_1d = np.ndim(y_true) == 1
    if was_1d:
        out: dict = {m: float(v) for m, v in scores.items()}
        out["undefined"] = {m: UNDEFINED_REASONS[m] for m in METRICS if np.isnan(out[m])}
    else:
        out = dict(scores)
        out["undefined"] = [
            {m: UNDEFINED_REASONS[m] for m in METRICS if np.isnan(scores[m][k])}
            for k in range(len(scores["f1"]))
        ]
    out.update(counts)
    return out


# --------------------------------------------------------------------------- agreement


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """Cohen's kappa between two raters per class.

    Args:
        a, b: (N,) or (N, K) labels 1/0 (-1 unknown: left out).

    Returns:
        float for 1-D input, (K,) array for 2-D; NaN where the expected agreement is 1
        (see :data:`KAPPA_UNDEFINED`).
    """
    a2, was_1d = _as_2d(a)
    b2, _ = _as_2d(b)
    valid, apos, bpos = _masks(a2, b2)
    pp = (apos & bpos).sum(axis=0).astype(np.float64)
    pn = (apos & ~bpos).sum(axis=0).astype(np.float64)
    np_ = (valid & ~apos & bpos).sum(axis=0).astype(np.float64)
    nn = (valid & ~apos & ~bpos).sum(axis=0).astype(np.float64)
    total = pp + pn + np_ + nn
    observed = _ratio(pp + nn, total)
    expected = _ratio((pp + pn) * (pp + np_) + (nn + np_) * (nn + pn), total**2)
    kappa = _ratio(observed - expected, 1 - np.where(np.isnan(expected), 1, expected))
    return float(kappa[0]) if was_1d else kappa


# --------------------------------------------------------------------------- bootstrap


def bootstrap_indices(n: int, n_resamples: int = 1000, seed: int = 123) -> np.ndarray:
    """(n_resamples, n) int resample indices, drawn exactly as the paper did (legacy
    ``RandomState(seed).randint(n, size=n * n_resamples)``)."""
    rng = np.random.RandomState(seed)
    return rng.randint(n, size=n * n_resamples).reshape(n_resamples, n)


def _resample_weights(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """(B, n) float64: how often each exam appears in each resample."""
    idx = bootstrap_indices(n, n_resamples, seed)
    flat = (idx + (np.arange(n_resamples) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=n * n_resamples).reshape(n_resamples, n).astype(np.float64)


def _resampled_counts(weights: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, np.ndarray]:
    valid, tpos, ppos = _masks(y_true, y_pred)
    cells = np.concatenate([tpos & ppos, ~tpos & ppos, tpos & ~ppos, valid & ~tpos & ~ppos], axis=1)
    counts = weights @ cells.astype(np.float64)  # (B, 4K)
    k = y_true.shape[1]
    return {name: counts[:, i * k : (i + 1) * k] for i, name in enumerate(("tp", "fp", "fn", "tn"))}


def bootstrap_scores(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    n_resamples: int = 1000,
    seed: int = 123,
    weights: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Scores on bootstrap resamples: {metric: (B, K)} (NaN where undefined in a resample).

    ``weights`` (B, N) from a previous call's resampling can be passed to pair raters; by
    default the paper's resampling with ``seed`` is drawn.
    """
    t, _ = _as_2d(y_true)
    p, _ = _as_2d(y_pred)
    if weights is None:
        weights = _resample_weights(len(t), n_resamples, seed)
    c = _resampled_counts(weights, t, p)
    return scores_from_counts(c["tp"], c["fp"], c["fn"], c["tn"])


def _order_stat_interval(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """(K, 2) bounds at sorted index int(q * m) of the m defined resamples; (K,) undefined count."""
    s = np.sort(samples, axis=0)  # NaN last
    m = np.isfinite(s).sum(axis=0)
    out = np.full((s.shape[1], 2), np.nan)
    for j, q in enumerate(((1 - level) / 2, 1 - (1 - level) / 2)):
        idx = np.minimum((q * m).astype(int), np.maximum(m - 1, 0))
        vals = s[idx, np.arange(s.shape[1])]
        out[:, j] = np.where(m > 0, vals, np.nan)
    return out, samples.shape[0] - m


def bootstrap_ci(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    n_resamples: int = 1000,
    seed: int = 123,
    level: float = 0.95,
    weights: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Bootstrap intervals of precision, recall, specificity and F1.

    Args:
        y_true, y_pred: (N, K) (or (N,)) labels and decisions.
        n_resamples: B, the number of resamples (the paper: 1000).
        seed: seed of the paper's resampling (123 reproduces its draws).
        level: coverage (0.95 → the 2.5th and 97.5th percentiles).

    Returns:
        {metric: (K, 2) [low, high]} and {metric + "_undefined": (K,) number of resamples where
        the score was undefined and left out}.
    """
    samples = bootstrap_scores(y_true, y_pred, n_resamples=n_resamples, seed=seed, weights=weights)
    out: dict[str, np.ndarray] = {}
    for m, s in samples.items():
        out[m], out[m + "_undefined"] = _order_stat_interval(s, level)
    return out


# --------------------------------------------------------------------------- McNemar


def mcnemar(
    y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, *, exact_below: int = MCNEMAR_EXACT_BELOW
) -> dict[str, np.ndarray]:
    """McNemar's test of two raters' errors against a reference, per class.

    Args:
        y_true, pred_a, pred_b: (N, K) (or (N,)) labels; exams unknown in any are left out.
        exact_below: use the exact binomial test when b + c is below this.

    Returns:
        (K,) arrays: "b" (A wrong, B right), "c" (A right, B wrong), "statistic" ((b-c)²/(b+c),
        NaN when b + c = 0), "p_value" (exact or χ² as chosen), "method" ("exact binomial",
        "chi-square", or "no discordant exams" with p = 1), "p_exact", "p_chi2" (the paper's,
        uncorrected χ², NaN when b + c = 0).
    """
    from scipy import stats  # imported here: keeps `import ecgviewer.metrics` light

    t, _ = _as_2d(y_true)
    a, _ = _as_2d(pred_a)
    bb, _ = _as_2d(pred_b)
    valid_a, tpos, apos = _masks(t, a)
    valid_b, _, bpos = _masks(t, bb)
    valid = valid_a & valid_b
    wrong_a = valid & (tpos != apos)
    wrong_b = valid & (tpos != bpos)
    b = (wrong_a & ~wrong_b).sum(axis=0)
    c = (~wrong_a & wrong_b).sum(axis=0)
    n = b + c
    statistic = _ratio((b - c).astype(np.float64) ** 2, n)
    p_chi2 = np.where(np.isnan(statistic), np.nan, stats.chi2.sf(np.nan_to_num(statistic), 1))
    p_exact = np.array(
        [
            stats.binomtest(int(bi), int(ni), 0.5).pvalue if ni > 0 else 1.0
            for bi, ni in zip(b, n, strict=True)
        ]
    )
    use_exact = n < exact_below
    p_value = np.where(n == 0, 1.0, np.where(use_exact, p_exact, p_chi2))
    method = np.where(n == 0, "no discordant exams", np.where(use_exact, "exact binomial", "chi-square"))
    return {
        "b": b,
        "c": c,
        "statistic": statistic,
        "p_value": p_value,
        "method": method,
        "p_exact": p_exact,
        "p_chi2": p_chi2,
    }


# --------------------------------------------------------------------------- curves


def precision_recall_curve(
    y_true: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision-recall curve of one class (as scikit-learn's).

    Args:
        y_true: (N,) 1/0 (-1 unknown: left out).
        scores: (N,) probabilities.

    Returns:
        (precision (T+1,), recall (T+1,), thresholds (T,)) with thresholds increasing and the
        last point (precision 1, recall 0); recall is NaN when there are no positives.
    """
    t = np.asarray(y_true, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    keep = (t >= 0) & np.isfinite(s)
    t, s = t[keep] == 1, s[keep]
    order = np.argsort(-s, kind="mergesort")
    s, t = s[order], t[order]
    distinct = np.where(np.diff(s))[0]
    ends = np.r_[distinct, t.size - 1] if t.size else np.array([], dtype=int)
    tps = np.cumsum(t)[ends].astype(np.float64)
    fps = (ends + 1) - tps
    precision = _ratio(tps, tps + fps)
    recall = _ratio(tps, np.full_like(tps, tps[-1] if tps.size else 0.0))
    return (np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], s[ends][::-1])


def average_precision(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision Σ (Rₙ - Rₙ₋₁) Pₙ
    (scikit-learn's ``average_precision_score``); NaN when there are no positives."""
    precision, recall, _ = precision_recall_curve(y_true, scores)
    if recall.size < 2 or np.isnan(recall).any():
        return float("nan")
    return float(-np.sum(np.diff(recall) * precision[:-1]))


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half); NaN unless both classes occur."""
    t = np.asarray(y_true, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    keep = (t >= 0) & np.isfinite(s)
    t, s = t[keep] == 1, s[keep]
    n_pos, n_neg = int(t.sum()), int((~t).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy import stats

    ranks = stats.rankdata(s)
    return float((ranks[t].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@dataclass(frozen=True)
class PRCurve:
    """Precision-recall curve of one class: arrays as :func:`precision_recall_curve`."""

    cls: str
    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray
    auprc: float
    auroc: float
    n_positive: int
    n: int
    note: str = ""


def pr_curve(cls: str, y_true: np.ndarray, scores: np.ndarray) -> PRCurve:
    """The :class:`PRCurve` of one class from (N,) labels and (N,) probabilities."""
    precision, recall, thr = precision_recall_curve(y_true, scores)
    t = np.asarray(y_true, dtype=np.float64)
    n_pos = int((t == 1).sum())
    note = "" if n_pos else "undefined: no positive cases in the reference"
    return PRCurve(
        cls,
        precision,
        recall,
        thr,
        average_precision(y_true, scores),
        roc_auc(y_true, scores),
        n_pos,
        int((t >= 0).sum()),
        note,
    )


# --------------------------------------------------------------------------- evaluation


@dataclass
class Evaluation:
    """Everything of the paper's comparison for one reference and several raters.

    Attributes:
        classes: class names (K).
        reference: the reference's name ("Gold standard").
        raters: rater names, the model first.
        n_exams: N, the number of exams compared.
        scores: {rater: {metric: (K,)}} (NaN where undefined).
        undefined: {rater: {metric: [reason or "" per class]}}.
        counts: {rater: {"tp", "fp", "fn", "tn", "n": (K,)}}.
        ci: {rater: {metric: (K, 2)}} bootstrap intervals (empty if n_resamples == 0).
        kappa: [(rater A, rater B, (K,))] for every pair of raters.
        mcnemar: [(rater A, rater B, result of :func:`mcnemar`)] for every pair of raters.
        curves: {rater: [PRCurve per class]} for raters given with probabilities.
        thresholds: {rater: (K,)} thresholds used to turn probabilities into decisions.
    """

    classes: tuple[str, ...]
    reference: str
    raters: list[str]
    n_exams: int
    scores: dict[str, dict[str, np.ndarray]]
    undefined: dict[str, dict[str, list[str]]]
    counts: dict[str, dict[str, np.ndarray]]
    ci: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    kappa: list[tuple[str, str, np.ndarray]] = field(default_factory=list)
    mcnemar: list[tuple[str, str, dict[str, np.ndarray]]] = field(default_factory=list)
    curves: dict[str, list[PRCurve]] = field(default_factory=dict)
    thresholds: dict[str, np.ndarray] = field(default_factory=dict)
    n_resamples: int = 1000
    seed: int = 123
    level: float = 0.95
    notes: list[str] = field(default_factory=list)

    def score(self, rater: str, metric: str, cls: str) -> float:
        """One number of Table 2, e.g. ``ev.score("DNN", "f1", "AF")``."""
        return float(self.scores[rater][metric][self.classes.index(cls)])

    def table2_rows(self) -> list[dict]:
        """Table 2 as rows for a table view or a CSV: one per (class, rater) with each metric,
        its interval bounds (``<metric>_low``/``_high``), the reason it is undefined
        (``<metric>_note``) and the confusion counts."""
        rows = []
        for k, cls in enumerate(self.classes):
            for r in self.raters:
                row: dict = {"class": cls, "rater": r}
                for m in METRICS:
                    row[m] = float(self.scores[r][m][k])
                    ci = self.ci.get(r, {}).get(m)
                    row[f"{m}_low"] = float(ci[k, 0]) if ci is not None else float("nan")
                    row[f"{m}_high"] = float(ci[k, 1]) if ci is not None else float("nan")
                    row[f"{m}_note"] = self.undefined[r][m][k]
                for c in ("tp", "fp", "fn", "tn", "n"):
                    row[c] = int(self.counts[r][c][k])
                rows.append(row)
        return rows

    def kappa_rows(self) -> list[dict]:
        """One row per pair of raters: {"pair": "A vs B", "a", "b", <class>: kappa}."""
        return [
            {"pair": f"{a} vs {b}", "a": a, "b": b, **{c: float(v[k]) for k, c in enumerate(self.classes)}}
            for a, b, v in self.kappa
        ]

    def mcnemar_rows(self) -> list[dict]:
        """One row per (pair, class): b, c, statistic, p-value, method, exact and χ² p-values."""
        rows = []
        for a, b, res in self.mcnemar:
            for k, cls in enumerate(self.classes):
                rows.append(
                    {
                        "pair": f"{a} vs {b}",
                        "a": a,
                        "b": b,
                        "class": cls,
                        "a_wrong_b_right": int(res["b"][k]),
                        "a_right_b_wrong": int(res["c"][k]),
                        "statistic": float(res["statistic"][k]),
                        "p_value": float(res["p_value"][k]),
                        "method": str(res["method"][k]),
                        "p_exact": float(res["p_exact"][k]),
                        "p_chi2": float(res["p_chi2"][k]),
                    }
                )
        return rows


def _undefined_notes(scores: dict[str, np.ndarray]) -> dict[str, list[str]]:
    return {m: [UNDEFINED_REASONS[m] if np.isnan(v) else "" for v in scores[m]] for m in METRICS}


def evaluate(
    reference: np.ndarray,
    raters: Mapping[str, np.ndarray],
    *,
    probabilities: Mapping[str, np.ndarray] | None = None,
    thresholds: Mapping[str, Sequence[float]] | None = None,
    reference_name: str = "Gold standard",
    classes: Sequence[str] = CLASSES,
    n_resamples: int = 1000,
    seed: int = 123,
    level: float = 0.95,
    progress=None,
) -> Evaluation:
    """The paper's comparison: every rater against the reference.

    Args:
        reference: (N, K) gold-standard labels (1/0, -1 unknown).
        raters: {name: (N, K) decisions 1/0}, the model first (it is drawn first and tested
            first). A rater given only in ``probabilities`` is thresholded with ``thresholds``.
        probabilities: {name: (N, K) probabilities} for PR curves (and decisions if missing).
        thresholds: {name: (K,)} used for the decisions of raters given as probabilities.
        n_resamples: bootstrap resamples (0: no intervals). seed: the paper's 123.
        progress: optional callable(done, total) called once per rater.

    Returns:
        An :class:`Evaluation`.
    """
    ref = np.asarray(reference)
    probabilities = dict(probabilities or {})
    thresholds = {k: np.asarray(v, dtype=np.float64) for k, v in (thresholds or {}).items()}
    decisions: dict[str, np.ndarray] = {}
    for name in list(raters) + [n for n in probabilities if n not in raters]:
        if name in raters:
            decisions[name] = np.asarray(raters[name])
        else:
            if name not in thresholds:
                raise ValueError(f"rater {name!r} has probabilities but no thresholds")
            decisions[name] = threshold(probabilities[name], thresholds[name])
        if decisions[name].shape != ref.shape:
            raise ValueError(
                f"rater {name!r}: shape {decisions[name].shape} differs from the reference's {ref.shape}"
            )
    names = list(decisions)
    weights = _resample_weights(len(ref), n_resamples, seed) if n_resamples > 0 else None
    ev = Evaluation(
        classes=tuple(classes),
        reference=reference_name,
        raters=names,
        n_exams=len(ref),
        scores={},
        undefined={},
        counts={},
        n_resamples=n_resamples,
        seed=seed,
        level=level,
        thresholds={k: v for k, v in thresholds.items() if k in probabilities},
    )
    for i, name in enumerate(names):
        counts = confusion_counts(ref, decisions[name])
        scores = scores_from_counts(counts["tp"], counts["fp"], counts["fn"], counts["tn"])
        ev.counts[name], ev.scores[name], ev.undefined[name] = counts, scores, _undefined_notes(scores)
        if weights is not None:
            ev.ci[name] = bootstrap_ci(ref, decisions[name], level=level, weights=weights)
        if progress is not None:
            progress(i + 1, len(names))
    for a, b in combinations(names, 2):
        ev.kappa.append((a, b, np.asarray(cohen_kappa(decisions[a], decisions[b]))))
        ev.mcnemar.append((a, b, mcnemar(ref, decisions[a], decisions[b])))
    for name, prob in probabilities.items():
        prob = np.asarray(prob, dtype=np.float64)
        ev.curves[name] = [pr_curve(c, ref[:, k], prob[:, k]) for k, c in enumerate(classes)]
    unknown = int((ref < 0).sum())
    if unknown:
        ev.notes.append(f"{unknown} reference labels unknown: those exams left out of their class")
    return ev


def evaluate_sets(
    keys: Sequence[tuple[str | None, int]],
    reference,
    labelsets: Sequence = (),
    *,
    decisions: np.ndarray | None = None,
    probabilities: np.ndarray | None = None,
    thresholds: Sequence[float] | None = None,
    model_name: str = "Model",
    n_resamples: int = 1000,
    seed: int = 123,
    progress=None,
) -> Evaluation:
    """The comparison over an opened set of exams (the viewer's "Set statistics").

    Args:
        keys: M exams as ``(exam_id, index)`` (e.g. from an ExamSet's headers).
        reference: the :class:`~ecgviewer.labels.LabelSet` scored against (gold standard).
        labelsets: other LabelSets to score (annotators); each aligned to ``keys``.
        decisions: (M, 6) the model's decisions (-1 where not run), or None.
        probabilities: (M, 6) the model's probabilities (NaN where not run), or None; with
            ``thresholds`` they give the decisions when ``decisions`` is None.
        model_name: the model's column name.

    Exams without a reference row are unknown and left out; the Evaluation's notes count them.
    """
    ref = reference.align(keys)
    raters: dict[str, np.ndarray] = {}
    probs: dict[str, np.ndarray] = {}
    if decisions is None and probabilities is not None:
        if thresholds is None:
            raise ValueError("probabilities without decisions need thresholds")
        p = np.asarray(probabilities, dtype=np.float64)
        decisions = threshold(np.nan_to_num(p, nan=-1.0), thresholds)
        decisions[~np.isfinite(p)] = -1
    if decisions is not None:
        raters[model_name] = np.asarray(decisions)
        if probabilities is not None:
            probs[model_name] = np.asarray(probabilities, dtype=np.float64)
    for ls in labelsets:
        if ls is reference:
            continue
        name = ls.name
        if name in raters:  # e.g. the model "DNN" and the paper's dnn.csv
            name = f"{name} ({ls.source.name})" if ls.source is not None else f"{name} (labels)"
        raters[name] = ls.align(keys)
    ev = evaluate(
        ref,
        raters,
        probabilities=probs,
        reference_name=reference.name,
        n_resamples=n_resamples,
        seed=seed,
        progress=progress,
    )
    missing = int((ref < 0).all(axis=1).sum())
    if missing:
        ev.notes.insert(0, f"{missing} of {len(keys)} exams have no {reference.name} row (left out)")
    return ev
