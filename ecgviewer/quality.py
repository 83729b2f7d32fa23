"""Signal quality: is a recording an ECG the network can say something about?

Every exam a reader returns passes :func:`ecgviewer.io.base.validate_exam`, which refuses
what is not a signal at all (NaN, infinite or absurd sample values) and attaches the
:class:`Quality` computed here. Preprocessing carries it into the model's report, and a
:class:`~ecgviewer.model.runtime.Prediction` of an exam of poor quality is marked
``unreliable``; for a non-signal (flat, all zero, far too short, absurd amplitude) its
decisions are withheld (all False) rather than left to chance.

The checks are deliberately coarse and cheap (a few numpy reductions over at most one
minute of samples): they catch recordings that cannot mean anything, not subtle artefacts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_SECONDS_FOR_DECISION: float = 1.0
"""Shorter than this: no decision at all (the network reads 10.24 s)."""
SHORT_SECONDS: float = 5.0
"""Shorter than this: decisions marked unreliable (most of the input is zero padding)."""
FLAT_MV: float = 0.01
"""A lead whose robust peak-to-peak amplitude is below this (mV) carries no signal."""
HIGH_AMPLITUDE_MV: float = 20.0
"""Robust amplitude above this (mV) is not an ECG's: wrong units or gain, or artefact."""
ABSURD_AMPLITUDE_MV: float = 100.0
"""Robust amplitude above this (mV): decisions withheld."""
NOISE_AUTOCORRELATION: float = 0.2
"""Median 10-ms autocorrelation of the leads below this: the recording looks like noise."""
_MAX_SECONDS_CHECKED: float = 60.0


@dataclass(frozen=True)
class Quality:
    """The verdict on one exam's samples.

    ``problems`` are short sentences (empty when nothing is wrong); ``withhold`` is True when
    the recording is not a signal the network can judge, so no decision should be shown.
    """

    problems: tuple[str, ...] = ()
    withhold: bool = False

    @property
    def unreliable(self) -> bool:
        return bool(self.problems)

    def note(self) -> str:
        """One line for tables and status bars ("" when the quality is fine)."""
        if not self.problems:
            return ""
        head = "not a usable ECG, decisions withheld" if self.withhold else "unreliable"
        return f"{head}: " + "; ".join(self.problems)


GOOD = Quality()


def assess_quality(signal_mv: np.ndarray, fs: float, leads: tuple[str, ...] | None = None) -> Quality:
    """Check (samples, leads) mV samples at ``fs`` Hz; returns a :class:`Quality`.

    The samples must be finite (the readers' validation refuses the others first).
    """
    x = np.asarray(signal_mv)
    n = int(x.shape[0]) if x.ndim == 2 else 0
    if n == 0 or not fs or fs <= 0:
        return Quality(("no samples",), True)
    problems: list[str] = []
    withhold = False
    seconds = n / fs
    if seconds < MIN_SECONDS_FOR_DECISION:
        problems.append(f"too short: {seconds:.3g} s of signal (the network reads 10.24 s)")
        withhold = True
    elif seconds < SHORT_SECONDS:
        problems.append(f"short: {seconds:.3g} s of signal, the rest of the network's 10.24 s is padding")
    keep = min(n, int(_MAX_SECONDS_CHECKED * fs))
    start = (n - keep) // 2
    window = np.asarray(x[start : start + keep], dtype=np.float64)
    if window.shape[0] >= 2:
        lo, hi = np.percentile(window, [0.5, 99.5], axis=0)
        p2p = hi - lo
        flat = p2p < FLAT_MV
        names = list(leads) if leads is not None and len(leads) == x.shape[1] else None
        if flat.all():
            if not np.any(window):
                problems.append("flat: every sample is zero")
            else:
                problems.append(f"flat: no lead varies by more than {FLAT_MV:g} mV")
            withhold = True
        elif flat.sum() * 2 >= flat.size:
            which = ", ".join(np.asarray(names)[flat]) if names else f"{int(flat.sum())}"
            problems.append(f"{int(flat.sum())} of {flat.size} leads are flat ({which})")
        amplitude = float(np.percentile(np.abs(window - np.median(window, axis=0)), 99.9))
        if amplitude > ABSURD_AMPLITUDE_MV:
            problems.append(
                f"absurd amplitude: {amplitude:.3g} mV (an ECG stays within a few mV; wrong units or gain?)"
            )
            withhold = True
        elif amplitude > HIGH_AMPLITUDE_MV:
            problems.append(f"amplitude {amplitude:.3g} mV is far above an ECG's (wrong units or gain?)")
        live = ~flat
        lag = max(1, round(0.01 * fs))
        if live.any() and window.shape[0] > 4 * lag:
            centred = window[:, live] - window[:, live].mean(axis=0)
            num = (centred[lag:] * centred[:-lag]).sum(axis=0)
            den = (centred * centred).sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                r = np.where(den > 0, num / den, 1.0)
            median_r = float(np.median(r))
            if median_r < NOISE_AUTOCORRELATION:
                problems.append(
                    f"too noisy: the leads look like noise, not an ECG "
                    f"(median 10-ms autocorrelation {median_r:.2f})"
                )
                withhold = withhold or median_r < NOISE_AUTOCORRELATION / 2
    return Quality(tuple(problems), withhold)
