"""Display filters: the cart's keep the calibration pulse and the ST level; the notch removes mains."""

from __future__ import annotations

import numpy as np
import pytest

from ecgviewer.display_filters import (
    CART_DEFAULT,
    DisplayFilterSettings,
    apply_display_filters,
)
from ecgviewer.synth import synth_exam

FS = 500.0


def _pulse() -> np.ndarray:
    x = np.zeros(5000)
    x[2000:2100] = 1.0  # 1 mV for 200 ms
    return x


@pytest.mark.parametrize(
    "settings",
    [CART_DEFAULT, DisplayFilterSettings(0.05, 50.0, 150.0), DisplayFilterSettings(0.05, 60.0, 100.0)],
)
def test_diagnostic_filters_keep_the_calibration_pulse(settings):
    y = apply_display_filters(_pulse(), FS, settings)
    height = y[2030:2070].mean() - y[1900:1990].mean()
    assert height == pytest.approx(1.0, abs=0.03)  # within 3 % of 1 mV
    assert np.abs(y[2400:]).max() < 0.04  # no lasting offset after the pulse


def test_40_hz_low_pass_keeps_the_pulse_plateau():
    y = apply_display_filters(_pulse(), FS, DisplayFilterSettings(None, None, 40.0))
    assert y[2020:2080] == pytest.approx(1.0, abs=0.01)


def test_notch_removes_a_50_hz_sine_and_keeps_10_hz():
    t = np.arange(5000) / FS
    mains = 0.5 * np.sin(2 * np.pi * 50 * t)
    slow = 0.5 * np.sin(2 * np.pi * 10 * t)
    y = apply_display_filters(mains + slow, FS, DisplayFilterSettings(None, 50.0, None))
    core = slice(500, -500)
    assert np.abs(y[core] - slow[core]).max() < 0.01  # 50 Hz down by more than 34 dB, 10 Hz intact


def test_cart_default_keeps_the_st_level():
    exam = synth_exam((), fs=FS, duration_s=10, seed=2, noise=0.0)
    # raise every ST-T by 0.15 mV from J+40 ms to the T offset, a step from the isoelectric PR
    x = exam.signal_mv.astype(np.float64).copy()
    onsets = np.asarray(exam.meta["qrs_onsets_s"])
    j = exam.meta["qrs_ms"] / 1000 + 0.04
    for q in onsets:
        a, b = int((q + j) * FS), int((q + 0.3) * FS)
        x[a:b, 1] += 0.15
    y = apply_display_filters(x, FS, CART_DEFAULT)
    for q in onsets[2:-2]:
        pr = int((q - 0.02) * FS)
        st = int((q + j + 0.02) * FS)
        before = x[st, 1] - x[pr, 1]
        after = y[st, 1] - y[pr, 1]
        assert after == pytest.approx(before, abs=0.02)  # ST level within 0.02 mV


def test_zero_phase_no_shift_of_the_r_peak():
    exam = synth_exam((), fs=FS, duration_s=10, seed=1, noise=0.0)
    y = apply_display_filters(exam.signal_mv, FS, DisplayFilterSettings(0.5, 50.0, 40.0))
    assert y.shape == exam.signal_mv.shape and y.dtype == np.float32
    assert abs(int(np.argmax(y[:, 1])) - int(np.argmax(exam.signal_mv[:, 1]))) <= 1


def test_describe_and_round_trip():
    assert CART_DEFAULT.describe() == "0.05–150 Hz"
    assert DisplayFilterSettings(0.05, 50.0, 150.0).describe() == "0.05–150 Hz, 50 Hz notch"
    assert DisplayFilterSettings(0.5, None, None).describe() == "0.5 Hz high-pass"
    assert DisplayFilterSettings(None, 60.0, 40.0).describe() == "40 Hz low-pass, 60 Hz notch"
    assert DisplayFilterSettings(None, None, None).describe() == "unfiltered"
    s = DisplayFilterSettings(0.5, 60.0, 40.0)
    assert DisplayFilterSettings.from_dict(s.to_dict()) == s
    # QSettings gives strings back; junk falls back to the cart default
    assert DisplayFilterSettings.from_dict({"baseline_hz": "0.5", "notch_hz": "off", "lowpass_hz": "40"}) == (
        DisplayFilterSettings(0.5, None, 40.0)
    )
    assert DisplayFilterSettings.from_dict({"lowpass_hz": "7"}) == CART_DEFAULT
    assert DisplayFilterSettings.from_dict(None) == CART_DEFAULT
    with pytest.raises(ValueError, match="lowpass_hz"):
        DisplayFilterSettings(lowpass_hz=35.0)


def test_low_sampling_rate_skips_corners_above_nyquist():
    x = synth_exam((), fs=250, duration_s=5, seed=1, noise=0.2).signal_mv
    y = apply_display_filters(x, 250.0, DisplayFilterSettings(None, None, 150.0))
    assert np.array_equal(y, x)


def test_never_applied_to_the_network_input():
    from pathlib import Path

    from ecgviewer import preprocess

    src = Path(preprocess.__file__).read_text(encoding="utf-8")
    assert "display_filters" not in src
