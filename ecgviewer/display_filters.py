"""Display filters of a diagnostic cart: baseline high-pass, mains notch, low-pass (core, no Qt).

They change what is drawn and printed (viewer, PDF report), never the network input: the model
is fed by :mod:`ecgviewer.preprocess` from the exam's unfiltered ``signal_mv``.

All filters are zero-phase (``scipy.signal.sosfiltfilt`` / ``iirnotch`` + ``filtfilt``), so they
shift no wave in time. The default is a diagnostic cart's: 0.05–150 Hz, notch off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.signal import butter, filtfilt, iirnotch, sosfiltfilt

BASELINE_CHOICES: tuple[float | None, ...] = (None, 0.05, 0.5)
"""High-pass corner (Hz) choices; None = off."""
NOTCH_CHOICES: tuple[float | None, ...] = (None, 50.0, 60.0)
"""Mains notch (Hz) choices; None = off."""
LOWPASS_CHOICES: tuple[float | None, ...] = (None, 40.0, 100.0, 150.0)
"""Low-pass corner (Hz) choices; None = off."""

NOTCH_Q = 30.0
"""Quality factor of the notch (−3 dB width = f0 / Q: 1.7 Hz at 50 Hz)."""


def _fmt_hz(f: float) -> str:
    return f"{f:g}"


@dataclass(frozen=True)
class DisplayFilterSettings:
    """Which display filters are on. ``baseline_hz``: high-pass corner (None, 0.05 or 0.5);
    ``notch_hz``: mains notch (None, 50 or 60); ``lowpass_hz``: low-pass corner (None, 40, 100, 150)."""

    baseline_hz: float | None = 0.05
    notch_hz: float | None = None
    lowpass_hz: float | None = 150.0

    def __post_init__(self) -> None:
        for name, value, choices in (
            ("baseline_hz", self.baseline_hz, BASELINE_CHOICES),
            ("notch_hz", self.notch_hz, NOTCH_CHOICES),
            ("lowpass_hz", self.lowpass_hz, LOWPASS_CHOICES),
        ):
            if value not in choices:
                shown = ", ".join("off" if c is None else _fmt_hz(c) for c in choices)
                raise ValueError(f"{name} must be one of {shown} Hz, got {value!r}")

    @property
    def is_off(self) -> bool:
        return self.baseline_hz is None and self.notch_hz is None and self.lowpass_hz is None

    def describe(self) -> str:
        """Footer text, e.g. ``"0.05–150 Hz, 50 Hz notch"``, ``"0.5 Hz high-pass"``, ``"unfiltered"``."""
        lo, hi = self.baseline_hz, self.lowpass_hz
        if lo is not None and hi is not None:
            band = f"{_fmt_hz(lo)}–{_fmt_hz(hi)} Hz"
        elif lo is not None:
            band = f"{_fmt_hz(lo)} Hz high-pass"
        elif hi is not None:
            band = f"{_fmt_hz(hi)} Hz low-pass"
        else:
            band = ""
        notch = f"{_fmt_hz(self.notch_hz)} Hz notch" if self.notch_hz is not None else ""
        text = ", ".join(t for t in (band, notch) if t)
        return text or "unfiltered"

    def to_dict(self) -> dict[str, float | None]:
        """Plain dict for settings storage (QSettings, JSON)."""
        return {"baseline_hz": self.baseline_hz, "notch_hz": self.notch_hz, "lowpass_hz": self.lowpass_hz}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> DisplayFilterSettings:
        """Inverse of :meth:`to_dict`; missing or unreadable values fall back to the cart default
        (settings files may be old or edited by hand)."""
        default = cls()
        if not data:
            return default

        def value(key: str, choices: tuple[float | None, ...]) -> float | None:
            raw = data.get(key, getattr(default, key))
            if raw in (None, "", "off", "None", "none"):
                return None
            try:
                f = float(raw)
            except (TypeError, ValueError):
                return getattr(default, key)
            return f if f in choices else getattr(default, key)

        return cls(
            baseline_hz=value("baseline_hz", BASELINE_CHOICES),
            notch_hz=value("notch_hz", NOTCH_CHOICES),
            lowpass_hz=value("lowpass_hz", LOWPASS_CHOICES),
        )


CART_DEFAULT = DisplayFilterSettings()
"""0.05–150 Hz, notch off: the diagnostic bandwidth of a cart."""


@lru_cache(maxsize=64)
def _highpass(fc: float, fs: float) -> np.ndarray:
    # 1st order: a 0.05 Hz 2nd-order filter rings on a step; run twice (filtfilt) it is 2nd order
    return butter(1, fc, btype="highpass", fs=fs, output="sos")


@lru_cache(maxsize=64)
def _lowpass(fc: float, fs: float) -> np.ndarray:
    return butter(4, fc, btype="lowpass", fs=fs, output="sos")


@lru_cache(maxsize=64)
def _notch(f0: float, fs: float) -> tuple[np.ndarray, np.ndarray]:
    return iirnotch(f0, NOTCH_Q, fs=fs)


def apply_display_filters(signal_mv: np.ndarray, fs: float, settings: DisplayFilterSettings) -> np.ndarray:
    """Filter ``signal_mv`` (samples,) or (samples, leads) in mV at ``fs`` Hz for display.

    Returns a new float32 array of the same shape. A corner at or above the Nyquist frequency
    (e.g. 150 Hz low-pass at 250 Hz) is skipped, as there is nothing to remove. Zero-phase.
    Never use this on the network input.
    """
    x = np.asarray(signal_mv, dtype=np.float64)
    if settings.is_off or x.shape[0] < 16:
        return x.astype(np.float32, copy=True)
    nyq = fs / 2.0
    # pad long enough for the slow high-pass, but never beyond the signal
    padlen = min(x.shape[0] - 1, int(3 * fs))
    # remove the mean level first: the high-pass then starts from a settled state at the edges
    if settings.baseline_hz is not None:
        x = x - np.median(x[: max(int(0.2 * fs), 1)], axis=0)
        x = sosfiltfilt(_highpass(settings.baseline_hz, fs), x, axis=0, padtype="even", padlen=padlen)
    if settings.notch_hz is not None and settings.notch_hz < nyq * 0.98:
        b, a = _notch(settings.notch_hz, fs)
        x = filtfilt(b, a, x, axis=0, padlen=padlen)
    if settings.lowpass_hz is not None and settings.lowpass_hz < nyq * 0.98:
        x = sosfiltfilt(_lowpass(settings.lowpass_hz, fs), x, axis=0, padlen=padlen)
    return x.astype(np.float32)
