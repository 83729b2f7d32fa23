"""Properties of the preprocessing to the network input (hypothesis) and its report."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecgviewer.errors import PreprocessError
from ecgviewer.exam import Exam
from ecgviewer.leads import INDEPENDENT_LEADS, LEADS
from ecgviewer.preprocess import MODEL_SAMPLES, resample_factors, to_model_input

RATES = [100.0, 250.0, 257.0, 360.0, 400.0, 500.0, 1000.0]
PROPS = settings(max_examples=25, deadline=None)


def test_exact_rational_factors() -> None:
    assert resample_factors(100) == (4, 1)
    assert resample_factors(250) == (8, 5)
    assert resample_factors(257) == (400, 257)
    assert resample_factors(360) == (10, 9)
    assert resample_factors(500) == (4, 5)
    assert resample_factors(1000) == (2, 5)
    assert resample_factors(400) == (1, 1)
    for fs in (50, 128, 200, 1024, 2000, 8000):  # any integer rate is exact
        up, down = resample_factors(fs)
        assert fs * up == 400 * down


@PROPS
@given(
    fs=st.sampled_from([*RATES, 128.0, 2000.0]),
    seconds=st.floats(0.5, 30.0),
    n_leads=st.sampled_from([12, 8]),
    seed=st.integers(0, 2**16),
)
def test_output_is_always_4096_by_12_float32(fs: float, seconds: float, n_leads: int, seed: int) -> None:
    n = max(1, int(fs * seconds))
    sig = np.random.default_rng(seed).standard_normal((n, n_leads)).astype(np.float32)
    leads = LEADS if n_leads == 12 else INDEPENDENT_LEADS
    x, report = to_model_input(Exam(sig, fs, leads))
    assert x.shape == (MODEL_SAMPLES, 12) and x.dtype == np.float32
    assert np.isfinite(x).all()
    kept = report.resampled_samples - report.crop_left - report.crop_right
    assert report.pad_left + kept + report.pad_right == MODEL_SAMPLES


def _dominant_frequency(x: np.ndarray, fs: float) -> float:
    """Peak of the Hann-windowed, zero-padded spectrum, refined by parabolic interpolation."""
    n = 1 << 18
    spec = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(x.size), n))
    k = int(np.argmax(spec[1:])) + 1
    a, b, c = np.log(spec[k - 1 : k + 2] + 1e-30)
    k_fine = k + 0.5 * (a - c) / (a - 2 * b + c)
    return k_fine * fs / n


@PROPS
@given(fs=st.sampled_from(RATES), rel=st.floats(0.02, 0.8), seconds=st.floats(4.0, 12.0))
def test_sine_keeps_its_frequency(fs: float, rel: float, seconds: float) -> None:
    """A sine below both Nyquist frequencies keeps its frequency after resampling to 400 Hz."""
    f = rel * min(fs, 400.0) / 2
    t = np.arange(int(fs * seconds)) / fs
    sig = np.repeat(np.sin(2 * np.pi * f * t)[:, None], 12, axis=1)
    x, report = to_model_input(Exam(sig, fs))
    kept = x[report.signal_slice, 0]
    measured = _dominant_frequency(kept, 400.0)
    assert abs(measured - f) < max(0.02, 0.002 * f), (f, measured)
    # amplitude kept too (mV in, mV out), away from the edges' filter transients: least-squares fit
    mid = kept[200:-200].astype(np.float64)
    t_out = np.arange(mid.size) / 400.0
    basis = np.column_stack([np.sin(2 * np.pi * f * t_out), np.cos(2 * np.pi * f * t_out)])
    coef = np.linalg.lstsq(basis, mid, rcond=None)[0]
    assert np.hypot(*coef) == pytest.approx(1.0, rel=0.02)


@PROPS
@given(n=st.integers(1, MODEL_SAMPLES))
def test_padding_is_centred(n: int) -> None:
    sig = np.ones((n, 12), np.float32)
    x, report = to_model_input(Exam(sig, 400.0))
    assert abs(report.pad_left - report.pad_right) <= 1
    assert report.pad_left + n + report.pad_right == MODEL_SAMPLES
    nonzero = np.flatnonzero(x[:, 0])
    assert nonzero[0] == report.pad_left and nonzero[-1] == MODEL_SAMPLES - report.pad_right - 1
    assert report.offset_s == pytest.approx(-report.pad_left / 400)


def test_seven_second_exam_gets_648_zeros_each_side() -> None:
    _x, report = to_model_input(Exam(np.ones((3500, 12)), 500.0))
    assert (report.pad_left, report.pad_right) == (648, 648)
    assert "648 before, 648 after" in "\n".join(report.describe())


@PROPS
@given(n=st.integers(MODEL_SAMPLES + 1, 3 * MODEL_SAMPLES))
def test_cropping_is_centred(n: int) -> None:
    sig = np.arange(n, dtype=np.float32)[:, None].repeat(12, axis=1)
    x, report = to_model_input(Exam(sig, 400.0))
    assert abs(report.crop_left - report.crop_right) <= 1
    assert x[0, 0] == pytest.approx(report.crop_left)


@PROPS
@given(fs=st.sampled_from(RATES), seconds=st.floats(1.0, 15.0), seed=st.integers(0, 2**16))
def test_derived_leads_satisfy_einthoven_and_goldberger_exactly(fs: float, seconds: float, seed: int) -> None:
    sig = np.random.default_rng(seed).standard_normal((int(fs * seconds), 8)).astype(np.float32)
    x, report = to_model_input(Exam(sig, fs, INDEPENDENT_LEADS))
    assert report.leads_derived == ("III", "aVR", "aVL", "aVF")
    lead_i, lead_ii = x[:, 0], x[:, 1]
    assert np.array_equal(x[:, 2], lead_ii - lead_i)  # III = II − I
    assert np.array_equal(x[:, 3], -(lead_i + lead_ii) / 2)  # aVR
    assert np.array_equal(x[:, 4], lead_i - lead_ii / 2)  # aVL
    assert np.array_equal(x[:, 5], lead_ii - lead_i / 2)  # aVF
    # and the precordial leads are where they belong
    ref, _ = to_model_input(Exam(sig[:, 2:3].repeat(12, axis=1), fs))
    np.testing.assert_array_equal(x[:, 6], ref[:, 0])


def test_lead_order_scale_and_report() -> None:
    rng = np.random.default_rng(1)
    sig = rng.standard_normal((4096, 12)).astype(np.float32)
    shuffled = list(range(12))[::-1]
    exam = Exam(sig[:, shuffled], 400.0, tuple(LEADS[k] for k in shuffled), notes=["units inferred"])
    x, report = to_model_input(exam)
    np.testing.assert_allclose(x, sig, rtol=1e-6)
    assert not report.resampled and report.leads_derived == ()
    text = report.describe()
    assert "Already at 400 Hz: not resampled." in text
    assert "Exactly 4096 samples: no padding or cropping." in text
    assert text[-1] == "units inferred"
    assert report.as_dict()["offset_s"] == 0.0


def test_missing_precordial_lead_is_an_error() -> None:
    exam = Exam(np.zeros((100, 7)), 500.0, ("I", "II", "V1", "V2", "V3", "V4", "V5"), exam_id="x7")
    with pytest.raises(PreprocessError, match=r"x7: the network needs 12 leads .* missing V6"):
        to_model_input(exam)
