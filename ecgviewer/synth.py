"""Synthetic 12-lead ECGs with known findings: example exams, tests with a known answer, augmentation.

The heart is a moving dipole. Each beat is a sum of (asymmetric) Gaussian waves in a 3-D
vectorcardiogram (Frank axes: X to the patient's left, Y to the feet, Z to the back, in mV);
the 8 independent leads (I, II, V1–V6) are its projection through the Dower matrix
(Edenbrandt & Pahlm, J Electrocardiol 1988), and III, aVR, aVL, aVF follow from I and II by
Einthoven's and Goldberger's equations, exactly (in float32) also after noise is added.

Physiology per exam, drawn from ``seed``: frontal and horizontal rotation of the heart
(electrical axis and R-wave progression), QRS, T and P amplitudes, QTc, PR, QRS duration,
respiratory sinus arrhythmia and respiratory modulation of the QRS axis. Beat timing is a
continuous-time model, so the same seed at 250, 400, 500 or 1000 Hz gives the same
heart sampled differently (only the broadband muscle noise differs).

Findings (the six classes of Ribeiro et al. 2020; any sensible combination):

========  =================================================================================
``SB``    sinus rhythm, 38–48 bpm
``ST``    sinus rhythm, 105–145 bpm
``1dAVb`` PR 215–300 ms (normal exams: 125–190 ms)
``AF``    no P waves, fibrillatory f-waves (4.5–8 Hz, largest in V1 and the inferior leads),
          irregularly irregular RR (coefficient of variation ≈ 0.15–0.3), mean rate 65–125 bpm
``RBBB``  QRS 125–155 ms, rsR′ in V1–V2, wide slurred S in I, aVL, V5–V6, T inverted in V1–V2
``LBBB``  QRS 130–165 ms, no septal q, broad notched R in I, aVL, V5–V6, deep broad S (QS) in
          V1–V3, discordant ST-T (ST depression and T inversion in I, aVL, V5–V6)
========  =================================================================================

With no finding: normal sinus rhythm, 60–95 bpm, PR 125–190 ms, QRS 80–100 ms.

Noise (scaled by ``noise``; 0 gives the clean signal) is added per electrode (RA, LA, LL,
V1–V6) so that it reaches the leads as it would on a real machine: baseline wander
(respiration and slow drift), muscle (EMG, 20–150 Hz, with occasional bursts), mains (50
or 60 Hz and harmonics below Nyquist) and, in about one exam in three, an electrode motion
artefact.

Run ``python -m ecgviewer.synth --out resources/example`` to regenerate the bundled example.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.signal import butter, sosfilt

from ecgviewer.classes import CLASSES
from ecgviewer.exam import Exam
from ecgviewer.leads import LEADS, derive_limb_leads

GENERATOR_VERSION = 1

SNOMED: dict[str, str] = {
    "1dAVb": "270492004",
    "RBBB": "59118001",
    "LBBB": "164909002",
    "SB": "426177001",
    "AF": "164889003",
    "ST": "427084000",
}
"""SNOMED CT codes of the six findings, as PhysioNet Challenge 2021 headers write them."""

SINUS_RHYTHM_SNOMED = "426783006"
"""SNOMED CT code of (normal-rate) sinus rhythm."""

# Dower matrix: Frank X, Y, Z (mV) -> I, II, V1..V6 (mV).
_DOWER = np.array(
    [
        [0.632, -0.235, 0.059],  # I
        [0.235, 1.066, -0.132],  # II
        [-0.515, 0.157, -0.917],  # V1
        [0.044, 0.164, -1.387],  # V2
        [0.882, 0.098, -1.277],  # V3
        [1.213, 0.127, -0.601],  # V4
        [1.125, 0.127, -0.086],  # V5
        [0.831, 0.076, 0.230],  # V6
    ]
)
_INDEPENDENT = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")

_FINDING_ALIASES = {c.lower(): c for c in CLASSES} | {
    "1avb": "1dAVb",
    "avb1": "1dAVb",
    "iavb": "1dAVb",
    "afib": "AF",
    "crbbb": "RBBB",
    "clbbb": "LBBB",
    "sbrad": "SB",
    "stach": "ST",
}
_INCOMPATIBLE = (
    ({"SB", "ST"}, "sinus bradycardia and sinus tachycardia exclude each other"),
    ({"AF", "SB"}, "SB is a sinus rhythm; AF is not (give AF a slow rate with heart_rate instead)"),
    ({"AF", "ST"}, "ST is a sinus rhythm; AF is not (give AF a fast rate with heart_rate instead)"),
    ({"AF", "1dAVb"}, "a PR interval needs P waves; AF has none"),
    ({"RBBB", "LBBB"}, "RBBB and LBBB together would be a bilateral block, not generated"),
)


# ---------------------------------------------------------------------------------------------
# Wave templates. Times in ms from QRS onset (P: from P onset), vectors in mV (Frank X, Y, Z).
# Each row: centre, sigma before the peak, sigma after the peak, X, Y, Z.
# ---------------------------------------------------------------------------------------------

_QRS_NORMAL = np.array(
    [
        [13.0, 5.5, 5.5, -0.12, 0.04, -0.20],  # septal: left -> right, anterior (q in I/V6, r in V1)
        [31.0, 9.0, 9.0, 0.55, 0.32, -0.42],  # early LV free wall, anterior (R in V2-V4)
        [48.0, 10.0, 10.0, 1.00, 0.58, 0.85],  # main LV, left posterior (R in V5-V6, S in V1-V2)
        [67.0, 8.0, 8.5, -0.22, -0.16, 0.32],  # basal, superior-posterior (s in I, II, V6)
    ]
)
_QRS_NORMAL_MS = 88.0

_QRS_RBBB = np.array(
    [
        [13.0, 5.5, 5.5, -0.12, 0.04, -0.24],  # septal, unchanged: r in V1, q in I/V6
        [31.0, 9.0, 9.0, 0.55, 0.32, -0.38],
        [49.0, 10.0, 10.0, 0.92, 0.55, 0.45],  # LV, unopposed; S in V1 smaller
        [82.0, 16.0, 16.0, -0.24, -0.04, -0.20],  # RV activation through muscle: slow, rightward
        [108.0, 18.0, 14.0, -0.36, 0.0, -0.78],  # ... and anterior: R' in V1-V2, wide S in I/V6
    ]
)
_QRS_RBBB_MS = 142.0

_QRS_LBBB = np.array(
    [
        [20.0, 10.0, 10.0, 0.25, 0.02, -0.10],  # septum right -> left: no q in I/V6
        [58.0, 22.0, 18.0, 0.85, 0.30, 0.60],  # LV by slow muscle conduction, left posterior
        [103.0, 18.0, 14.0, 0.90, 0.12, 1.00],  # late LV free wall: the notch, deep S in V1-V3
    ]
)
_QRS_LBBB_MS = 140.0

_P_WAVE = np.array(
    [
        [36.0, 13.0, 13.0, 0.05, 0.12, -0.06],  # right atrium: inferior, anterior
        [62.0, 14.0, 14.0, 0.10, 0.07, 0.07],  # left atrium: leftward, posterior (biphasic P in V1)
    ]
)
_P_MS = 100.0

# T wave direction (unit-ish, scaled by the T amplitude) and ST plateau fraction per conduction.
_T_VECTOR = {
    "normal": np.array([0.36, 0.24, -0.16]),
    "RBBB": np.array([0.34, 0.26, 0.32]),  # away from the terminal R': inverted T in V1-V2
    "LBBB": np.array([-0.40, 0.08, -0.42]),  # discordant: opposite to the broad QRS
}
_ST_FRACTION = {"normal": 0.08, "RBBB": 0.12, "LBBB": 0.45}


@dataclass(frozen=True)
class _Patient:
    rotation: np.ndarray  # (3, 3) applied to ventricular vectors
    p_rotation: np.ndarray  # (3, 3) applied to atrial vectors
    qrs_gain: float
    t_gain: float
    p_gain: float
    qtc_ms: float
    pr_ms: float | None
    qrs_ms: float
    heart_rate: float
    resp_hz: float
    rsa: float
    age: int
    sex: str


def _canonical_findings(findings: Iterable[str] | str) -> list[str]:
    if isinstance(findings, str):
        findings = [f for f in findings.replace(",", " ").replace("+", " ").split() if f]
    out: set[str] = set()
    for f in findings:
        key = str(f).strip().lower()
        if key in ("", "nsr", "sr", "normal", "norm"):
            continue
        if key not in _FINDING_ALIASES:
            raise ValueError(
                f"unknown finding {f!r}; use any of {', '.join(CLASSES)} (or none for normal sinus rhythm)"
            )
        out.add(_FINDING_ALIASES[key])
    for pair, why in _INCOMPATIBLE:
        if pair <= out:
            raise ValueError(f"findings {' + '.join(sorted(pair))} cannot be combined: {why}")
    return sorted(out)


def _rotation(frontal_deg: float, horizontal_deg: float) -> np.ndarray:
    """Rotate in the frontal plane (X towards Y: the axis grows) then in the horizontal plane."""
    a, b = np.radians(frontal_deg), np.radians(horizontal_deg)
    rz = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[np.cos(b), 0.0, -np.sin(b)], [0.0, 1.0, 0.0], [np.sin(b), 0.0, np.cos(b)]])
    return rz @ ry


def _draw_patient(findings: list[str], seed: int, heart_rate: float | None) -> _Patient:
    """Patient traits. Every draw happens in the same order whatever the findings, so one seed is
    one patient: ``synth_exam(["RBBB"], seed=3)`` is ``synth_exam(seed=3)`` with a right bundle block."""
    rng = np.random.default_rng([seed, 1])
    u = rng.random(12)
    frontal = float(np.clip(rng.normal(0.0, 17.0), -40.0, 40.0))
    horizontal = float(np.clip(rng.normal(0.0, 12.0), -25.0, 25.0))
    p_frontal = float(np.clip(rng.normal(0.0, 8.0), -20.0, 20.0))
    qrs_gain = float(np.clip(np.exp(rng.normal(0.0, 0.18)), 0.7, 1.5))
    t_gain = float(np.clip(np.exp(rng.normal(0.0, 0.2)), 0.65, 1.45))
    p_gain = float(np.clip(np.exp(rng.normal(0.0, 0.2)), 0.65, 1.45))
    s = set(findings)
    if "LBBB" in s:
        frontal = frontal * 0.8 - 5.0  # LBBB: normal to left axis
        qrs_gain *= 1.15
    if "RBBB" in s:
        frontal -= 12.0  # the late rightward forces would otherwise pull the mean axis right
    if "SB" in s:
        lo, hi = 38.0, 47.5
    elif "ST" in s:
        lo, hi = 105.0, 145.0
    elif "AF" in s:
        lo, hi = 65.0, 125.0
    else:
        lo, hi = 60.0, 95.0
    rate = lo + (hi - lo) * u[0]
    if heart_rate is not None:
        rate = float(heart_rate)
        if not 20.0 <= rate <= 250.0:
            raise ValueError(f"heart_rate {rate:g} bpm is outside 20–250 bpm")
        if "AF" not in s:
            if "SB" in s and rate >= 50:
                raise ValueError(f"heart_rate {rate:g} bpm is not sinus bradycardia (< 50 bpm)")
            if "ST" in s and rate <= 100:
                raise ValueError(f"heart_rate {rate:g} bpm is not sinus tachycardia (> 100 bpm)")
            if not s & {"SB", "ST"} and not 50 <= rate <= 100:
                raise ValueError(
                    f"heart_rate {rate:g} bpm needs the finding "
                    f"{'SB' if rate < 50 else 'ST'} (sinus rate outside 50–100 bpm)"
                )
    if "RBBB" in s:
        qrs_ms = 125.0 + 30.0 * u[1]
    elif "LBBB" in s:
        qrs_ms = 130.0 + 35.0 * u[1]
    else:
        qrs_ms = 80.0 + 20.0 * u[1]
    if "AF" in s:
        pr_ms = None
    elif "1dAVb" in s:
        # 215-300 ms; at fast rates no longer than about half the cycle (P not buried in T).
        pr_ms = 215.0 + (np.clip(0.5 * 60000.0 / rate, 235.0, 300.0) - 215.0) * u[2]
    else:
        pr_ms = 125.0 + 65.0 * u[2]
    return _Patient(
        rotation=_rotation(frontal, horizontal),
        p_rotation=_rotation(p_frontal, 0.0),
        qrs_gain=qrs_gain,
        t_gain=t_gain,
        p_gain=p_gain,
        qtc_ms=395.0 + 40.0 * u[3],
        pr_ms=pr_ms,
        qrs_ms=qrs_ms,
        heart_rate=rate,
        resp_hz=0.18 + 0.14 * u[4],
        rsa=0.015 + 0.035 * u[5] * (1.5 if "SB" in s else 1.0),
        age=int(25 + 60 * u[6]),
        sex="M" if u[7] < 0.5 else "F",
    )


def _beat_times(p: _Patient, af: bool, duration_s: float, seed: int) -> np.ndarray:
    """QRS onset times (s), from before 0 to after the end so that edge beats are complete."""
    rng = np.random.default_rng([seed, 2])
    rr_mean = 60.0 / p.heart_rate
    start = -rr_mean * (0.35 + 0.6 * rng.random()) - 1.0
    times = [start]
    resp_phase = 2 * np.pi * rng.random()
    if af:
        spread = 0.17 + 0.1 * rng.random()
        while times[-1] < duration_s + 1.5:
            rr = rr_mean * np.exp(rng.normal(-(spread**2) / 2, spread))
            times.append(times[-1] + float(np.clip(rr, 0.3, 2.2)))
    else:
        while times[-1] < duration_s + 1.5:
            t = times[-1]
            rr = rr_mean * (
                1.0 + p.rsa * np.sin(2 * np.pi * p.resp_hz * t + resp_phase) + 0.006 * rng.normal()
            )
            times.append(t + rr)
    return np.asarray(times)


def _smooth_noise(rng: np.random.Generator, t: np.ndarray, knot_s: float, n: int = 1) -> np.ndarray:
    """(n, len(t)) band-limited unit-variance-ish noise: a cubic spline through N(0,1) knots."""
    lo, hi = t[0] - 2 * knot_s, t[-1] + 2 * knot_s
    knots = np.arange(lo, hi + knot_s, knot_s)
    values = rng.normal(size=(n, knots.size))
    return CubicSpline(knots, values, axis=1)(t)


def _conduction(findings: list[str]) -> str:
    return "RBBB" if "RBBB" in findings else "LBBB" if "LBBB" in findings else "normal"


def _ventricular_template(p: _Patient, conduction: str) -> np.ndarray:
    table, nominal = {
        "normal": (_QRS_NORMAL, _QRS_NORMAL_MS),
        "RBBB": (_QRS_RBBB, _QRS_RBBB_MS),
        "LBBB": (_QRS_LBBB, _QRS_LBBB_MS),
    }[conduction]
    out = table.copy()
    out[:, :3] *= p.qrs_ms / nominal
    out[:, 3:] = (out[:, 3:] @ p.rotation.T) * p.qrs_gain
    return out


def _tall_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for a tall ``a`` (n, k) with small k, as k multiply-adds: no BLAS threads to wake
    for a product this thin (the BLAS call costs more than the arithmetic on a busy machine)."""
    out = np.multiply.outer(a[:, 0], b[0])
    for j in range(1, a.shape[1]):
        out += np.multiply.outer(a[:, j], b[j])
    return out


def _add_waves(vcg: np.ndarray, t0: float, fs: float, waves: np.ndarray) -> None:
    """Add waves (rows: centre ms, sigma_l ms, sigma_r ms, X, Y, Z) at time t0 (s) to vcg (n, 3)."""
    c = t0 + waves[:, 0] / 1000.0
    sl = waves[:, 1] / 1000.0
    sr = waves[:, 2] / 1000.0
    i0 = max(int(np.floor((c - 5 * sl).min() * fs)), 0)
    i1 = min(int(np.ceil((c + 5 * sr).max() * fs)) + 1, vcg.shape[0])
    if i1 <= i0:
        return
    tt = np.arange(i0, i1) / fs
    d = tt[None, :] - c[:, None]
    sig = np.where(d < 0, sl[:, None], sr[:, None])
    g = np.exp(-0.5 * (d / sig) ** 2)
    vcg[i0:i1] += _tall_matmul(g.T, waves[:, 3:])


def _heart_vcg(
    p: _Patient, findings: list[str], fs: float, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Clean vectorcardiogram (n, 3) in mV, QRS onsets (s) and the intervals used."""
    af = "AF" in findings
    conduction = _conduction(findings)
    duration_s = n / fs
    beats = _beat_times(p, af, duration_s, seed)
    vtemplate = _ventricular_template(p, conduction)
    t_dir = (p.rotation @ _T_VECTOR[conduction]) * p.t_gain
    st_frac = _ST_FRACTION[conduction]
    p_waves = _P_WAVE.copy()
    p_waves[:, 3:] = (p_waves[:, 3:] @ p.p_rotation.T) * p.p_gain
    rng = np.random.default_rng([seed, 5])
    resp_phase = 2 * np.pi * rng.random()
    vcg = np.zeros((n, 3))
    qt_list = []
    for k in range(1, beats.size):
        q = beats[k]
        rr_prev = beats[k] - beats[k - 1]
        # Respiration turns the heart a little and changes the QRS amplitude.
        ph = np.sin(2 * np.pi * p.resp_hz * q + resp_phase)
        breath = _rotation(3.0 * ph, 0.0)
        waves = vtemplate.copy()
        waves[:, 3:] = (waves[:, 3:] @ breath.T) * (1.0 + 0.04 * ph)
        # Repolarisation: QT follows the previous RR (Bazett, clamped), longer by a wide QRS.
        qt = p.qtc_ms * np.sqrt(np.clip(rr_prev, 0.35, 1.8)) + max(p.qrs_ms - 95.0, 0.0) * 0.6
        if af:
            qt *= 1.0 + 0.02 * rng.normal()
        qt_list.append(qt)
        t_sr = 0.085 * qt
        t_sl = 0.15 * qt
        t_peak = qt - 2.6 * t_sr
        j = p.qrs_ms
        st_centre = j + 0.45 * (t_peak - j)
        st_sigma = 0.55 * (t_peak - j)
        repol = np.array(
            [
                [t_peak, t_sl, t_sr, *t_dir],
                [st_centre, st_sigma, st_sigma, *(st_frac * t_dir)],
            ]
        )
        _add_waves(vcg, q, fs, np.vstack([waves, repol]))
        if not af and p.pr_ms is not None:
            _add_waves(vcg, q - p.pr_ms / 1000.0, fs, p_waves)
    info = {"beats": beats, "qt_ms": float(np.mean(qt_list)) if qt_list else float("nan")}
    if af:
        vcg += _fibrillatory_waves(np.arange(n) / fs, seed)
    return vcg, beats, info


def _fibrillatory_waves(t: np.ndarray, seed: int) -> np.ndarray:
    """AF f-waves (n, 3) in mV: 4.5–8 Hz, irregular in rate, amplitude and shape."""
    rng = np.random.default_rng([seed, 4])
    f0 = 5.0 + 2.0 * rng.random()
    mod = _smooth_noise(rng, t, 0.4, 4)
    freq = np.clip(f0 + 0.7 * mod[0], 4.5, 8.0)
    dt = np.diff(t, prepend=t[0] - (t[1] - t[0] if t.size > 1 else 0.002))
    phase = 2 * np.pi * np.cumsum(freq * dt) + 2 * np.pi * rng.random()
    env = np.clip(1.0 + 0.35 * mod[1], 0.25, None)
    w1 = env * (np.sin(phase) + 0.3 * np.sin(2 * phase + 1.0))
    w2 = np.clip(1.0 + 0.35 * mod[2], 0.2, None) * np.sin(phase + 1.2 + 0.6 * mod[3])
    amp = 0.9 + 0.8 * rng.random()  # fine to coarse AF
    # Largest in the inferior leads and V1-V2, small in I and V5-V6, as on real tracings.
    v1 = np.array([-0.02, 0.07, -0.05]) * amp
    v2 = np.array([0.015, -0.025, -0.02]) * amp
    return w1[:, None] * v1 + w2[:, None] * v2


def _sinusoids(t: np.ndarray, terms: list[tuple[float, np.ndarray, np.ndarray]]) -> np.ndarray:
    """(n, k) = sum over (hz, amp (k,), phase (k,)) of amp * sin(2π hz t + phase), as one product."""
    w = 2 * np.pi * np.outer(t, [hz for hz, _, _ in terms])
    basis = np.concatenate([np.sin(w), np.cos(w)], axis=1)
    coef = np.concatenate([[a * np.cos(p) for _, a, p in terms], [a * np.sin(p) for _, a, p in terms]])
    return _tall_matmul(basis, coef)


def _electrode_noise(fs: float, n: int, seed: int, scale: float, resp_hz: float) -> tuple[np.ndarray, dict]:
    """Noise potentials (n, 9) in mV at RA, LA, LL, V1..V6, and a description."""
    rng = np.random.default_rng([seed, 3])
    t = np.arange(n) / fs
    mains_hz = 50.0 if rng.random() < 0.5 else 60.0
    # Baseline wander: respiration (impedance changes) and slow drift.
    resp_amp = rng.uniform(0.01, 0.09, 9)
    resp_phase = rng.uniform(0, 2 * np.pi, 9)
    sines = [(resp_hz, resp_amp, resp_phase)]
    noise = np.zeros((n, 9))
    noise += (rng.uniform(0.01, 0.06, 9)[:, None] * _smooth_noise(rng, t, 3.0, 9)).T
    # Muscle: broadband 20-150 Hz, more on the limb electrodes, sometimes a burst.
    hi = min(150.0, 0.45 * fs)
    sos = butter(2, [20.0, hi], btype="bandpass", fs=fs, output="sos")
    emg = sosfilt(sos, rng.standard_normal((n, 9), dtype=np.float64), axis=0)
    emg *= 1.0 / max(float(emg.std()), 1e-12)
    emg_rms = np.r_[rng.uniform(0.002, 0.009, 3), rng.uniform(0.0015, 0.005, 6)]
    emg *= emg_rms
    burst = None
    if rng.random() < 0.4:
        e = int(rng.integers(0, 3))
        centre, width = rng.uniform(0, n / fs), rng.uniform(0.4, 1.5)
        bump = np.exp(-0.5 * ((t - centre) / (width / 2.5)) ** 2)
        emg[:, e] *= 1.0 + rng.uniform(2.0, 5.0) * bump
        burst = {"electrode": ("RA", "LA", "LL")[e], "time_s": round(centre, 2)}
    noise += emg
    # Mains: mostly common-mode (rejected); what leaks is a differential residue.
    mains_amp = rng.uniform(0.0, 0.012, 9)
    mains_phase = rng.normal(0.0, 0.3, 9)
    for h, rel in ((1, 1.0), (2, 0.12), (3, 0.3)):
        if h * mains_hz < 0.45 * fs:
            sines.append((h * mains_hz, rel * mains_amp, h * mains_phase))
    noise += _sinusoids(t, sines)
    # Electrode motion: a step that the amplifier's high-pass lets decay, with a wobble.
    motion = None
    if rng.random() < 0.33:
        e = int(rng.integers(0, 9))
        tm = rng.uniform(0.5, max(n / fs - 1.0, 0.6))
        amp = rng.choice([-1, 1]) * rng.uniform(0.25, 0.9)
        tau, f_w = rng.uniform(0.25, 0.8), rng.uniform(1.0, 3.0)
        i0 = max(int((tm - 0.2) * fs), 0)  # the logistic rise is 1e-7 of its height 0.2 s earlier
        d = t[i0:] - tm
        rise = 0.5 * (1.0 + np.tanh(d / 0.024))  # logistic, 12 ms
        dd = np.maximum(d, 0.0)
        noise[i0:, e] += amp * rise * np.exp(-dd / tau) * (1.0 + 0.4 * np.sin(2 * np.pi * f_w * dd))
        motion = {
            "electrode": ("RA", "LA", "LL", "V1", "V2", "V3", "V4", "V5", "V6")[e],
            "time_s": round(float(tm), 2),
            "amplitude_mv": round(float(amp), 2),
        }
    info = {"mains_hz": mains_hz, "emg_burst": burst, "electrode_motion": motion}
    noise *= scale
    return noise, info


def _to_leads(vcg: np.ndarray, electrode_noise: np.ndarray | None) -> np.ndarray:
    """(n, 12) float32 leads in :data:`LEADS` order; III, aVR, aVL, aVF derived exactly in float32."""
    ind = _tall_matmul(vcg, _DOWER.T)  # (n, 8): I, II, V1..V6
    if electrode_noise is not None:
        ra, la, ll = electrode_noise[:, 0], electrode_noise[:, 1], electrode_noise[:, 2]
        wct = (ra + la + ll) / 3.0
        ind[:, 0] += la - ra
        ind[:, 1] += ll - ra
        ind[:, 2:] += electrode_noise[:, 3:] - wct[:, None]
    ind = ind.astype(np.float32)
    cols = dict(zip(_INDEPENDENT, ind.T, strict=True))
    cols.update(derive_limb_leads(cols["I"], cols["II"]))
    return np.stack([cols[name] for name in LEADS], axis=1)


def _qrs_axis(template: np.ndarray) -> float:
    """Frontal QRS axis (degrees) from the net QRS areas in I and aVF."""
    area = ((template[:, 1] + template[:, 2]) / 2.0)[:, None] * template[:, 3:]
    a = area.sum(axis=0) @ _DOWER[:2].T  # areas in I and II
    lead_i, lead_ii = a
    return float(np.degrees(np.arctan2(lead_ii - lead_i / 2.0, lead_i)))


def synth_exam(
    findings: Iterable[str] = (),
    *,
    fs: float = 500.0,
    duration_s: float = 10.0,
    seed: int = 0,
    heart_rate: float | None = None,
    noise: float = 1.0,
) -> Exam:
    """A synthetic 12-lead exam with known findings.

    Args:
        findings: any sensible combination of ``1dAVb, RBBB, LBBB, SB, AF, ST`` (case-insensitive;
            a string such as ``"AF RBBB"`` works too); empty for normal sinus rhythm.
        fs: sampling rate in Hz (e.g. 250, 400, 500, 1000).
        duration_s: length in seconds (e.g. 7 or 10).
        seed: one seed is one patient (axis, amplitudes, intervals, noise); the same arguments always
            give the same exam.
        heart_rate: mean rate in bpm (ventricular rate for AF); by default drawn from the finding's
            range. Must agree with the findings (SB < 50, ST > 100, otherwise 50–100 bpm).
        noise: scale of the noise (baseline wander, muscle, mains, electrode motion); 0 = clean.

    Returns:
        An :class:`~ecgviewer.exam.Exam` with ``signal_mv`` (round(fs·duration_s), 12) float32 in mV,
        leads in :data:`~ecgviewer.leads.LEADS` order, ``format == "synthetic"``,
        ``raw_labels == {"synthetic": sorted(findings)}``, ``exam_id`` like ``"synth-AF-RBBB-seed3"``
        and ``meta`` with the rhythm, heart rate (bpm), PR, QRS and QT (ms), QRS axis (degrees),
        QRS onsets (s) and what noise was added.

    Raises:
        ValueError: unknown or contradictory findings, or a rate that contradicts them.
    """
    names = _canonical_findings(findings)
    fs = float(fs)
    if not fs >= 50.0:
        raise ValueError(f"fs must be at least 50 Hz, got {fs:g}")
    n = round(fs * float(duration_s))
    if n < 2:
        raise ValueError(f"duration_s {duration_s:g} s at {fs:g} Hz gives no samples")
    if not noise >= 0:
        raise ValueError(f"noise must be 0 (clean) or a positive scale, got {noise}")
    seed = int(seed)
    patient = _draw_patient(names, seed, heart_rate)
    vcg, beats, info = _heart_vcg(patient, names, fs, n, seed)
    enoise = None
    noise_info: dict = {"scale": float(noise)}
    if noise > 0:
        enoise, extra = _electrode_noise(fs, n, seed, float(noise), patient.resp_hz)
        noise_info.update(extra)
    signal = _to_leads(vcg, enoise)

    inside = beats[(beats >= 0.0) & (beats < n / fs)]
    rr = np.diff(beats[(beats >= -2.0) & (beats < n / fs + 1.0)])
    template = _ventricular_template(patient, _conduction(names))
    af = "AF" in names
    rhythm = (
        "atrial fibrillation"
        if af
        else "sinus bradycardia"
        if "SB" in names
        else "sinus tachycardia"
        if "ST" in names
        else "sinus rhythm"
    )
    meta = {
        "generator": f"ecgviewer.synth v{GENERATOR_VERSION}",
        "seed": seed,
        "findings": names,
        "rhythm": rhythm,
        "heart_rate_bpm": round(float(60.0 / rr.mean()), 1),
        "rr_cv": round(float(rr.std() / rr.mean()), 3),
        "pr_ms": None if patient.pr_ms is None else round(float(patient.pr_ms), 1),
        "qrs_ms": round(float(patient.qrs_ms), 1),
        "qt_ms": round(float(info["qt_ms"]), 1),
        "qtc_ms": round(float(patient.qtc_ms), 1),
        "qrs_axis_deg": round(_qrs_axis(template), 1),
        "qrs_onsets_s": [round(float(b), 4) for b in inside],
        "noise": noise_info,
    }
    ident = "-".join(names) if names else "NSR"
    return Exam(
        signal_mv=signal,
        fs=fs,
        leads=LEADS,
        exam_id=f"synth-{ident}-seed{seed}",
        source=None,
        format="synthetic",
        age=float(patient.age),
        sex=patient.sex,
        raw_labels={"synthetic": list(names)},
        notes=["Synthetic ECG from ecgviewer.synth (dipole model); not a recording of a patient."],
        meta=meta,
    )


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------


def dx_codes(findings: Iterable[str]) -> list[str]:
    """SNOMED CT codes for a Challenge-style ``#Dx`` line: the findings, plus sinus rhythm
    (426783006) when the rhythm is sinus at a normal rate."""
    names = _canonical_findings(findings)
    codes = [] if {"AF", "SB", "ST"} & set(names) else [SINUS_RHYTHM_SNOMED]
    return codes + [SNOMED[f] for f in sorted(names, key=CLASSES.index)]


def write_wfdb(exam: Exam, folder: str | Path, record_name: str) -> Path:
    """Write ``exam`` as a WFDB record ``folder/record_name.hea`` + ``.dat`` (format 16, mV, 1 µV steps).

    The header carries PhysioNet Challenge comments ``#Age``, ``#Sex``, ``#Dx`` (SNOMED CT codes of
    ``exam.raw_labels["synthetic"]`` or ``["dx"]``), ``#Rx``, ``#Hx``, ``#Sx``. Both files are written
    to a temporary folder beside the target and moved into place. Returns the ``.hea`` path.
    """
    import wfdb

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if "synthetic" in exam.raw_labels:
        dx = dx_codes(exam.raw_labels["synthetic"])
    else:
        dx = [str(c) for c in exam.raw_labels.get("dx", [])]
    sex = {"M": "Male", "F": "Female"}.get(exam.sex or "", "Unknown")
    age = "Unknown" if exam.age is None else f"{exam.age:g}"
    comments = [
        f"Age: {age}",
        f"Sex: {sex}",
        f"Dx: {','.join(dx) if dx else 'Unknown'}",
        "Rx: Unknown",
        "Hx: Unknown",
        "Sx: Unknown",
    ]
    if exam.format == "synthetic":
        comments.append(f"Synthetic: {exam.exam_id} ({exam.meta.get('generator', 'ecgviewer.synth')})")
    signal = np.asarray(exam.signal_mv, dtype=np.float64)
    limit = 32.767
    if np.abs(signal).max(initial=0.0) >= limit:
        raise ValueError(f"{folder / record_name}: amplitudes beyond ±{limit} mV do not fit 16 bits at 1 µV")
    n_leads = signal.shape[1]
    tmp = Path(tempfile.mkdtemp(prefix=f".{record_name}-", dir=folder))
    try:
        wfdb.wrsamp(
            record_name,
            fs=exam.fs,
            units=["mV"] * n_leads,
            sig_name=list(exam.leads),
            p_signal=signal,
            fmt=["16"] * n_leads,
            adc_gain=[1000.0] * n_leads,
            baseline=[0] * n_leads,
            comments=comments,
            write_dir=str(tmp),
        )
        os.replace(tmp / f"{record_name}.dat", folder / f"{record_name}.dat")
        os.replace(tmp / f"{record_name}.hea", folder / f"{record_name}.hea")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder / f"{record_name}.hea"


_CODE_FS = 400.0
_CODE_SAMPLES = 4096


def write_hdf5_code(
    path: str | Path,
    n_exams: int,
    *,
    seed: int = 0,
    n_distinct: int = 24,
    findings: Sequence[Sequence[str]] | None = None,
    duration_s: float = 10.0,
    chunk_exams: int = 256,
    labels_csv: str | Path | None = None,
    first_exam_id: int = 1,
) -> Path:
    """Write an N-exam HDF5 file in the CODE layout of Ribeiro et al., quickly, for tests and benchmarks.

    Layout: ``tracings`` (N, 4096, 12) float32 in mV at 400 Hz, each exam centred
    and zero-padded as in the paper, one exam per HDF5 chunk; ``exam_id`` (N,) int64 from
    ``first_exam_id``. Leads I, II, III, aVR, aVL, aVF, V1–V6.

    Speed: only ``n_distinct`` exams are generated (each ``duration_s + 2`` s long, cycling
    through ``findings``: by default normal, each single finding and a few combinations); exam i
    is base exam ``i % n_distinct`` seen through its own window start (0–2 s) and amplitude gain
    (0.85–1.15), so consecutive exams differ while costing only a copy. 20,000 exams (3.9 GB)
    are written in about the time the disk needs. Not a substitute for independent data.

    ``labels_csv``: also write the ground truth, one row per exam: ``exam_id`` and the six classes
    as 0/1 (the column layout of the CODE annotation files). Returns ``path``.
    """
    import h5py

    path = Path(path)
    n_exams = int(n_exams)
    if n_exams < 1:
        raise ValueError("n_exams must be at least 1")
    if findings is None:
        findings = [
            (),
            ("1dAVb",),
            ("RBBB",),
            ("LBBB",),
            ("SB",),
            ("AF",),
            ("ST",),
            ("AF", "RBBB"),
            ("1dAVb", "RBBB"),
            ("ST", "LBBB"),
            ("SB", "1dAVb"),
            (),
        ]
    n_distinct = max(1, min(int(n_distinct), n_exams))
    n_win = round(duration_s * _CODE_FS)
    if n_win > _CODE_SAMPLES:
        raise ValueError(f"duration_s {duration_s:g} s does not fit 4096 samples at 400 Hz")
    extra = round(2.0 * _CODE_FS)
    bases = []
    base_labels = []
    for k in range(n_distinct):
        f = findings[k % len(findings)]
        ex = synth_exam(f, fs=_CODE_FS, duration_s=duration_s + 2.0, seed=seed * 100_003 + k)
        bases.append(ex.signal_mv.astype(np.float32))
        base_labels.append([int(c in ex.raw_labels["synthetic"]) for c in CLASSES])
    rng = np.random.default_rng([seed, 9])
    offsets = rng.integers(0, extra + 1, n_exams)
    gains = rng.uniform(0.85, 1.15, n_exams).astype(np.float32)
    pad = (_CODE_SAMPLES - n_win) // 2

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with h5py.File(tmp, "w") as h5:
            ds = h5.create_dataset(
                "tracings", shape=(n_exams, _CODE_SAMPLES, 12), dtype="float32", chunks=(1, _CODE_SAMPLES, 12)
            )
            h5.create_dataset(
                "exam_id", data=np.arange(first_exam_id, first_exam_id + n_exams, dtype=np.int64)
            )
            h5.attrs["description"] = (
                "synthetic exams from ecgviewer.synth.write_hdf5_code: "
                f"{n_distinct} generated exams tiled with window and gain changes"
            )
            h5.attrs["units"] = "mV"
            h5.attrs["fs"] = _CODE_FS
            block = np.zeros((chunk_exams, _CODE_SAMPLES, 12), dtype=np.float32)
            for start in range(0, n_exams, chunk_exams):
                stop = min(start + chunk_exams, n_exams)
                for j, i in enumerate(range(start, stop)):
                    base = bases[i % n_distinct]
                    o = offsets[i]
                    np.multiply(base[o : o + n_win], gains[i], out=block[j, pad : pad + n_win])
                ds[start:stop] = block[: stop - start]
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if labels_csv is not None:
        labels_csv = Path(labels_csv)
        tmp_csv = labels_csv.with_name(f".{labels_csv.name}.{os.getpid()}.tmp")
        with open(tmp_csv, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["exam_id", *CLASSES])
            for i in range(n_exams):
                w.writerow([first_exam_id + i, *base_labels[i % n_distinct]])
        os.replace(tmp_csv, labels_csv)
    return path


# ---------------------------------------------------------------------------------------------
# The bundled example exam
# ---------------------------------------------------------------------------------------------

EXAMPLE_FINDINGS: tuple[str, ...] = ("1dAVb", "RBBB")
EXAMPLE_SEED = 11
EXAMPLE_RECORD = "example_exam"


def example_exam() -> Exam:
    """The exam shipped as ``resources/example/example_exam``: sinus rhythm 67 bpm with RBBB
    (QRS 153 ms) and first-degree AV block (PR 293 ms), 10 s at 500 Hz, a 46-year-old woman."""
    exam = synth_exam(EXAMPLE_FINDINGS, fs=500.0, duration_s=10.0, seed=EXAMPLE_SEED, noise=0.8)
    exam.exam_id = EXAMPLE_RECORD
    return exam


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ecgviewer.synth --out DIR``: write the example exam (or any synthetic exam)."""
    parser = argparse.ArgumentParser(
        prog="python -m ecgviewer.synth",
        description="Write a synthetic 12-lead exam as a WFDB record. With no --findings: the bundled "
        "example exam (sinus rhythm, RBBB, first-degree AV block; 10 s at 500 Hz).",
    )
    parser.add_argument("--out", required=True, help="folder to write into (e.g. resources/example)")
    parser.add_argument("--findings", nargs="*", help=f"any of {', '.join(CLASSES)}; none for normal sinus")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fs", type=float, default=500.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--noise", type=float, default=1.0)
    parser.add_argument("--name", help="record name (default example_exam, or the exam id)")
    args = parser.parse_args(argv)
    try:
        if args.findings is None:
            exam = example_exam()
            name = args.name or EXAMPLE_RECORD
        else:
            exam = synth_exam(
                args.findings, fs=args.fs, duration_s=args.duration, seed=args.seed, noise=args.noise
            )
            name = args.name or exam.exam_id
        hea = write_wfdb(exam, args.out, name)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    m = exam.meta
    print(
        f"wrote {hea} and {hea.with_suffix('.dat').name}: {', '.join(m['findings']) or 'normal'}; "
        f"{m['heart_rate_bpm']} bpm, PR {m['pr_ms']} ms, QRS {m['qrs_ms']} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
