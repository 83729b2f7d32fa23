"""Global measurements of one exam, as an ECG cart prints them: rate, PR, P, QRS, QT/QTc and axes.

The method (core, no Qt; a pure function of the exam's physical signal, any sampling rate):

1. R peaks by NeuroKit2's ``ecg_peaks`` on the lead with the sharpest QRS complexes (no QRS
   detector is written here), then every beat is aligned on the peak of the multi-lead QRS energy.
2. Beats whose QRS does not match the others (ectopics, artefacts) are left out; a median beat is
   formed per lead.
3. Global fiducials on the median beats from the spatial velocity of the independent leads
   (I, II, V1–V6; the other four are linear combinations of I and II): the QRS onset is the earliest
   and the QRS offset the latest sample where the velocity stands above a fraction of its peak,
   as cart programs do it. The P wave is found in the vector magnitude before the QRS (and declared
   absent when it does not stand out of the noise or the rhythm is irregular), the T offset by the
   tangent on the down-slope of the T-wave vector magnitude.
4. Fiducials of each beat are the median beat's, placed on that beat's alignment point.

Values that cannot be measured are None (NaN in arrays) and the reason goes to ``notes``.
The thresholds were tuned on LUDB records 1–60 (``benchmarks/measure_bench.py``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy.signal import butter, sosfiltfilt

from ecgviewer.exam import Exam

CSV_COLUMNS: tuple[str, ...] = (
    "exam_id",
    "source",
    "hr_bpm",
    "rr_sd_ms",
    "rr_irregular",
    "pr_ms",
    "p_ms",
    "qrs_ms",
    "qt_ms",
    "qtc_bazett_ms",
    "qtc_fridericia_ms",
    "p_axis_deg",
    "qrs_axis_deg",
    "t_axis_deg",
    "n_beats",
    "note",
)
"""Columns of ``ecgviewer measure`` and of :meth:`Measurements.as_row`, in order."""

MIN_BEATS = 3
"""Fewer accepted beats than this and no interval is measured (a median needs a few beats)."""

# Tuned on LUDB 1-60 (see benchmarks/measure_bench.py); fractions of the peak spatial velocity.
QRS_ONSET_FRACTION = 0.06
QRS_OFFSET_FRACTION = 0.05
P_EDGE_FRACTION = 0.2
P_MIN_SNR = 3.0
P_MIN_MV = 0.02
P_SEARCH_S = 0.3
P_ONSET_SHIFT_S = 0.004
P_OFFSET_SHIFT_S = 0.008
T_END_BIAS_S = 0.038
T_PEAK_MAX_S = 0.55
T_PEAK_MAX_RR = 0.62
QRS_LOWPASS_HZ = 40.0
QRS_ONSET_SHIFT_S = 0.018
QRS_OFFSET_SHIFT_S = 0.015
# RR irregularity: median |successive difference| / median RR above this is "irregular".
IRREGULAR_RATIO = 0.1

_INDEPENDENT = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")


@dataclass(frozen=True)
class BeatFiducials:
    """Fiducials of each accepted beat, seconds from the start of the exam; NaN where not measured.

    Arrays are (n_beats,) float64: ``r_s`` the alignment point (peak of the QRS energy),
    ``p_onset_s``, ``qrs_onset_s``, ``qrs_offset_s``, ``t_offset_s``.
    """

    r_s: np.ndarray
    p_onset_s: np.ndarray
    qrs_onset_s: np.ndarray
    qrs_offset_s: np.ndarray
    t_offset_s: np.ndarray


@dataclass(frozen=True)
class Measurements:
    """Global measurements of one exam. Intervals in ms, rate in bpm, axes in degrees (−180…180].

    Any value is None when it could not be measured; ``notes`` says why.
    """

    hr_bpm: float | None = None
    rr_sd_ms: float | None = None
    rr_irregular: bool | None = None
    pr_ms: float | None = None
    p_ms: float | None = None
    qrs_ms: float | None = None
    qt_ms: float | None = None
    qtc_bazett_ms: float | None = None
    qtc_fridericia_ms: float | None = None
    p_axis_deg: float | None = None
    qrs_axis_deg: float | None = None
    t_axis_deg: float | None = None
    n_beats: int = 0
    beats: BeatFiducials | None = field(default=None, repr=False, compare=False)
    notes: tuple[str, ...] = ()

    @property
    def note(self) -> str:
        """The notes as one line ("; "-separated), empty when everything was measured."""
        return "; ".join(self.notes)

    def as_row(self, exam_id: str = "", source: str = "") -> dict[str, str]:
        """One CSV row (:data:`CSV_COLUMNS`): numbers rounded (ms and bpm to 0.1, axes to 1°),
        empty strings where not measured, ``rr_irregular`` as 0/1."""

        def fmt(v: float | None, digits: int = 1) -> str:
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                return ""
            return f"{v:.{digits}f}" if digits else str(round(v))

        return {
            "exam_id": exam_id,
            "source": source,
            "hr_bpm": fmt(self.hr_bpm),
            "rr_sd_ms": fmt(self.rr_sd_ms),
            "rr_irregular": "" if self.rr_irregular is None else str(int(self.rr_irregular)),
            "pr_ms": fmt(self.pr_ms),
            "p_ms": fmt(self.p_ms),
            "qrs_ms": fmt(self.qrs_ms),
            "qt_ms": fmt(self.qt_ms),
            "qtc_bazett_ms": fmt(self.qtc_bazett_ms),
            "qtc_fridericia_ms": fmt(self.qtc_fridericia_ms),
            "p_axis_deg": fmt(self.p_axis_deg, 0),
            "qrs_axis_deg": fmt(self.qrs_axis_deg, 0),
            "t_axis_deg": fmt(self.t_axis_deg, 0),
            "n_beats": str(self.n_beats),
            "note": self.note,
        }

    def summary(self) -> str:
        """A cart-style header line, e.g.
        ``HR 72 bpm  PR 160  QRS 92  QT/QTcB 380/410 ms  P/QRS/T 60/45/40°``."""

        def v(x: float | None) -> str:
            return "–" if x is None else f"{x:.0f}"

        return (
            f"HR {v(self.hr_bpm)} bpm  PR {v(self.pr_ms)}  QRS {v(self.qrs_ms)}  "
            f"QT/QTcB {v(self.qt_ms)}/{v(self.qtc_bazett_ms)} ms  "
            f"P/QRS/T {v(self.p_axis_deg)}/{v(self.qrs_axis_deg)}/{v(self.t_axis_deg)}°"
        )


# --------------------------------------------------------------------------- helpers


@lru_cache(maxsize=32)
def _sos(kind: str, freqs: tuple[float, ...], fs: float, order: int) -> np.ndarray:
    return butter(order, freqs if len(freqs) > 1 else freqs[0], btype=kind, fs=fs, output="sos")


def _bandpass(x: np.ndarray, fs: float, lo: float | None, hi: float | None, order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth along axis 0; ``hi`` is capped below Nyquist."""
    if hi is not None and hi >= 0.45 * fs:
        hi = None
    if lo is not None and hi is not None:
        sos = _sos("bandpass", (lo, hi), fs, order)
    elif lo is not None:
        sos = _sos("highpass", (lo,), fs, order)
    elif hi is not None:
        sos = _sos("lowpass", (hi,), fs, order)
    else:
        return x
    return sosfiltfilt(sos, x, axis=0)


def _trim_padding(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Drop leading and trailing rows where every lead is exactly flat (zero padding, as in CODE)."""
    active = np.any(np.abs(np.diff(x, axis=0)) > 1e-7, axis=1)
    idx = np.flatnonzero(active)
    if idx.size == 0:
        return x[:0], 0
    start, stop = int(idx[0]), int(idx[-1]) + 2
    return x[start:stop], start


def _frontal_axis(lead_i: float, lead_avf: float) -> float | None:
    if abs(lead_i) < 1e-9 and abs(lead_avf) < 1e-9:
        return None
    return float(np.degrees(np.arctan2(lead_avf, lead_i)))


def _first_below(values: np.ndarray, start: int, stop: int, step: int, threshold: float) -> int | None:
    """First index from ``start`` towards ``stop`` (exclusive) where ``values`` < threshold."""
    rng = range(start, stop, step)
    for i in rng:
        if values[i] < threshold:
            return i
    return None


# --------------------------------------------------------------------------- the measurement


def _detect_r_peaks(x_qrs: np.ndarray, fs: float) -> np.ndarray:
    """R peaks (sample indices) by NeuroKit2 on the lead whose QRS band is the most peaked."""
    import neurokit2 as nk

    energy = np.abs(np.diff(x_qrs, axis=0))
    score = np.percentile(energy, 99.5, axis=0) / (np.median(energy, axis=0) + 1e-9)
    score[~np.isfinite(score)] = 0
    lead = int(np.argmax(score))
    sig = x_qrs[:, lead]
    # NeuroKit's detector works on the absolute slope, so polarity does not matter.
    _, info = nk.ecg_peaks(sig, sampling_rate=round(fs), method="neurokit", correct_artifacts=False)
    return np.asarray(info["ECG_R_Peaks"], dtype=int)


def _add_missed_beats(r: np.ndarray, energy: np.ndarray, fs: float) -> np.ndarray:
    """Add beats the detector skipped: NeuroKit's default refractory period (0.3 s) drops every
    other beat above 200 bpm. Only intervals of 0.4–0.7 s are looked into (two such beats); a beat
    is added where the multi-lead QRS energy peaks in the middle 30–70 % of the interval at half
    the median energy of the detected beats or more."""
    if r.size < 2:
        return r
    level = 0.5 * float(np.median(energy[r]))
    extra = []
    for a, b in itertools.pairwise(r.tolist()):
        if not 0.4 * fs <= b - a <= 0.7 * fs:
            continue
        lo, hi = a + int(0.3 * (b - a)), a + int(0.7 * (b - a))
        k = lo + int(np.argmax(energy[lo:hi]))
        if energy[k] >= level:
            extra.append(k)
    return np.sort(np.concatenate((r, np.asarray(extra, dtype=r.dtype)))) if extra else r


def measure(exam: Exam, *, calibrated: bool = True) -> Measurements:
    """Measure ``exam`` (any sampling rate, ≥ 8 independent leads or the 12 standard ones).

    ``calibrated``: apply the constant edge shifts fitted on LUDB 1–60 (``*_SHIFT_S``,
    ``T_END_BIAS_S``) so that the intervals match cardiologists' global (earliest onset, latest
    offset over 12 leads) annotation; False gives the raw threshold edges of the spatial velocity,
    which sit within a few ms of the wave edges of a noise-free model ECG.

    Returns a :class:`Measurements`; never raises on a poor signal (values are None with a note).
    """
    cal = 1.0 if calibrated else 0.0
    fs = float(exam.fs)
    leads = tuple(exam.leads)
    notes: list[str] = []
    raw, offset = _trim_padding(np.asarray(exam.signal_mv, dtype=np.float64))
    if raw.shape[0] == 0:
        return Measurements(notes=("flat signal (every lead constant)",))
    if raw.shape[0] < 2 * fs:
        return Measurements(notes=("less than 2 s of signal",))
    if not np.all(np.isfinite(raw)):
        raw = np.nan_to_num(raw)
        notes.append("non-finite samples set to 0")
    idx = {name: i for i, name in enumerate(leads)}
    indep = [idx[n] for n in _INDEPENDENT if n in idx]
    if len(indep) < 2:
        indep = list(range(len(leads)))
    # lead I and aVF for the frontal axes (aVF = II - I/2 when only the independent leads are there)
    sig = _bandpass(raw, fs, 0.5, 100.0)
    amp = np.percentile(np.abs(sig), 99, axis=0)
    flat = amp < 0.02
    if np.all(flat[indep]):
        return Measurements(notes=("flat signal (no lead above 0.02 mV)",))
    if np.any(flat):
        notes.append("flat lead(s): " + ", ".join(leads[i] for i in np.flatnonzero(flat)))
    live = [i for i in indep if not flat[i]]

    qrs_band = _bandpass(raw[:, live], fs, 8.0, 30.0)
    try:
        peaks = _detect_r_peaks(qrs_band, fs)
    except Exception as err:  # NeuroKit raises on pathological input; say so rather than crash
        return Measurements(notes=(f"R-peak detection failed ({type(err).__name__})",))
    if peaks.size < 2:
        return Measurements(n_beats=int(peaks.size), notes=(*notes, "fewer than 2 beats detected"))

    # refine each peak to the maximum of the multi-lead QRS energy within ±60 ms
    energy = np.sum(qrs_band**2, axis=1)
    w = round(0.06 * fs)
    refined = []
    for p in peaks:
        a, b = max(p - w, 0), min(p + w + 1, energy.size)
        refined.append(a + int(np.argmax(energy[a:b])))
    r = np.unique(np.asarray(refined))
    r = r[np.concatenate(([True], np.diff(r) > 0.2 * fs))]
    r = _add_missed_beats(r, energy, fs)

    rr = np.diff(r) / fs
    hr = 60.0 / float(np.mean(rr))
    rr_sd = float(np.std(rr, ddof=1) * 1000.0) if rr.size >= 2 else None
    irregular: bool | None = None
    if rr.size >= 4:
        irregular = bool(np.median(np.abs(np.diff(rr))) / np.median(rr) > IRREGULAR_RATIO)
    else:
        notes.append("too few beats to judge RR regularity")

    # ---- median beat
    rr_med = float(np.median(rr))
    pre = round(min(0.45, 0.7 * rr_med) * fs)
    post = round(min(0.7, 0.95 * rr_med) * fs)
    n = sig.shape[0]
    ok = (r - pre >= 0) & (r + post < n)
    r_in = r[ok]
    if r_in.size < MIN_BEATS:
        return Measurements(
            hr_bpm=hr,
            rr_sd_ms=rr_sd,
            rr_irregular=irregular,
            n_beats=int(r_in.size),
            notes=(*notes, f"only {r_in.size} complete beat(s): intervals not measured"),
        )
    segs = np.stack([sig[k - pre : k + post + 1] for k in r_in])  # (beats, window, leads)
    # reject beats whose QRS does not match the median (ectopics, artefacts)
    q0, q1 = pre - int(0.08 * fs), pre + int(0.08 * fs)
    qrs_seg = segs[:, q0:q1][:, :, live]
    qrs_seg = qrs_seg - qrs_seg.mean(axis=1, keepdims=True)
    template = np.median(qrs_seg, axis=0)
    num = np.sum(qrs_seg * template, axis=(1, 2))
    den = np.sqrt(np.sum(qrs_seg**2, axis=(1, 2)) * np.sum(template**2)) + 1e-12
    corr = num / den
    keep = corr > 0.85
    if np.median(corr) < 0.5:
        # the "beats" do not look alike: noise or artefact rather than QRS complexes
        return Measurements(
            n_beats=0, notes=(*notes, "no consistent QRS complexes found (noise or artefact?)")
        )
    if keep.sum() < MIN_BEATS:
        keep = corr >= np.sort(corr)[-MIN_BEATS]
        notes.append("QRS shape varies from beat to beat")
    elif (~keep).any():
        notes.append(f"{int((~keep).sum())} beat(s) unlike the others left out of the median")
    r_used = r_in[keep]
    median = np.median(segs[keep], axis=0)  # (window, leads), R at index pre
    m_ind = median[:, live]

    # ---- QRS onset and offset from the spatial velocity (lowpass 40 Hz)
    smooth = _bandpass(m_ind, fs, None, QRS_LOWPASS_HZ)
    vel = np.sqrt(np.sum(np.gradient(smooth, axis=0) ** 2, axis=1)) * fs  # mV/s
    qa, qb = pre - int(0.12 * fs), pre + int(0.12 * fs)
    peak_v = float(vel[qa:qb].max())
    noise_v = float(np.percentile(vel, 5))
    on_thr = noise_v + QRS_ONSET_FRACTION * (peak_v - noise_v)
    off_thr = noise_v + QRS_OFFSET_FRACTION * (peak_v - noise_v)
    ipk = qa + int(np.argmax(vel[qa:qb]))
    lo_lim = max(pre - int(0.2 * fs), 1)
    hi_lim = min(pre + int(0.25 * fs), vel.size - 1)
    # search outward from the QRS energy: onset = first sub-threshold run before the QRS
    run = max(int(0.01 * fs), 1)

    def edge(start: int, stop: int, step: int, thr: float) -> int | None:
        i = start
        while (step < 0 and i > stop) or (step > 0 and i < stop):
            j = i + step * run
            seg = vel[min(i, j) : max(i, j) + 1]
            if seg.size and np.all(seg < thr):
                return i
            i += step
        return None

    on = edge(ipk, lo_lim, -1, on_thr)
    off = edge(ipk, hi_lim, +1, off_thr)
    # the spatial velocity may peak in either half of the QRS: the onset is also before the R peak
    if on is not None and on > pre:
        on2 = edge(pre, lo_lim, -1, on_thr)
        on = on2 if on2 is not None else on
    if on is None or off is None:
        notes.append("QRS onset/offset not found")
        qrs_on = qrs_off = None
    else:
        qrs_on = max(on - round(cal * QRS_ONSET_SHIFT_S * fs), 0)
        qrs_off = min(off + round(cal * QRS_OFFSET_SHIFT_S * fs), median.shape[0] - 1)

    # ---- T offset: tangent on the down-slope of the T-wave vector magnitude
    t_end = None
    if qrs_on is not None and qrs_off is not None:
        base = median[qrs_on, :][None, :]
        t_sig = _bandpass(median[:, live] - base[:, live], fs, None, 15.0)
        vm = np.sqrt(np.sum(t_sig**2, axis=1))
        ta = qrs_off + int(0.04 * fs)
        tb = qrs_on + int(min(T_PEAK_MAX_S, T_PEAK_MAX_RR * rr_med) * fs)
        tb = min(max(tb, ta + int(0.12 * fs)), vm.size - 2)
        if tb - ta > int(0.08 * fs):
            tpk = ta + int(np.argmax(vm[ta:tb]))
            dv = np.gradient(vm)
            seg_end = min(tpk + int(0.25 * fs), tb + int(0.05 * fs), vm.size - 1)
            if seg_end - tpk > 2:
                k = tpk + int(np.argmin(dv[tpk:seg_end]))
                slope = dv[k]
                floor = float(np.percentile(vm[k : seg_end + int(0.1 * fs)], 5)) if k < vm.size - 1 else 0.0
                if slope < 0 and vm[tpk] > 0.03:
                    t_end = round(k + (floor - vm[k]) / slope + cal * T_END_BIAS_S * fs)
                    t_end = min(max(t_end, k), vm.size - 1)
        if t_end is None:
            notes.append("T wave too small or not found: QT not measured")

    # ---- P wave: vector magnitude of the detrended P window, edges from its spatial velocity
    p_on = p_off = None
    if qrs_on is not None:
        if irregular:
            notes.append("irregular RR: no P wave measured")
        else:
            pa = max(qrs_on - int(min(P_SEARCH_S, 0.6 * rr_med) * fs), 1)
            pb = qrs_on - int(0.01 * fs)
            if t_end is not None:  # not before the previous beat's T wave has ended (fast rates)
                pa = max(pa, t_end - int(rr_med * fs) + int(0.02 * fs))
            if pb - pa > int(0.07 * fs):
                p_sig = _bandpass(median[:, live], fs, None, 25.0)[pa:pb]
                h = max(int(0.005 * fs), 1)
                y0, y1 = p_sig[:h].mean(axis=0), p_sig[-h:].mean(axis=0)
                ramp = np.linspace(0.0, 1.0, p_sig.shape[0])[:, None]
                p_sig = p_sig - (y0 + (y1 - y0) * ramp)
                vm = np.sqrt(np.sum(p_sig**2, axis=1))
                margin = int(0.03 * fs)
                ppk = margin + int(np.argmax(vm[margin:-margin]))
                spread = np.median(np.abs(segs[keep][:, pa:pb][:, :, live] - median[None, pa:pb, live]))
                amp_p = float(vm[ppk])
                if amp_p < max(P_MIN_SNR * spread * math.sqrt(len(live)), P_MIN_MV):
                    notes.append("no P wave found")
                else:
                    pvel = np.sqrt(np.sum(np.gradient(p_sig, axis=0) ** 2, axis=1))
                    runp = max(int(0.008 * fs), 1)
                    w8 = int(0.08 * fs)
                    left = max(ppk - w8, 0)
                    lmax = left + int(np.argmax(pvel[left : ppk + 1]))
                    rmax = ppk + int(np.argmax(pvel[ppk : min(ppk + w8, pvel.size)]))
                    thr_l = P_EDGE_FRACTION * pvel[lmax]
                    thr_r = P_EDGE_FRACTION * pvel[rmax]
                    i = lmax
                    while i > runp and not np.all(pvel[i - runp : i + 1] < thr_l):
                        i -= 1
                    j = rmax
                    while j < pvel.size - runp - 1 and not np.all(pvel[j : j + runp + 1] < thr_r):
                        j += 1
                    p_on = pa + i - round(cal * P_ONSET_SHIFT_S * fs)
                    p_off = min(pa + j + round(cal * P_OFFSET_SHIFT_S * fs), qrs_on)
            else:
                notes.append("RR too short to look for a P wave")

    # ---- intervals
    to_ms = 1000.0 / fs
    qrs_ms = (qrs_off - qrs_on) * to_ms if qrs_on is not None and qrs_off is not None else None
    qt_ms = (t_end - qrs_on) * to_ms if t_end is not None and qrs_on is not None else None
    pr_ms = (qrs_on - p_on) * to_ms if p_on is not None and qrs_on is not None else None
    p_ms = (p_off - p_on) * to_ms if p_on is not None and p_off is not None else None
    rr_s = float(np.mean(rr))
    qtc_b = qt_ms / math.sqrt(rr_s) if qt_ms is not None else None
    qtc_f = qt_ms / rr_s ** (1.0 / 3.0) if qt_ms is not None else None

    # ---- frontal axes from the net area of lead I and aVF on the median beats
    def lead_area(a: int | None, b: int | None, name: str) -> float | None:
        if a is None or b is None or b <= a:
            return None
        base = median[a]
        if name in idx:
            return float(np.sum(median[a:b, idx[name]] - base[idx[name]]))
        if name == "aVF" and "I" in idx and "II" in idx:
            s = median[a:b, idx["II"]] - base[idx["II"]] - 0.5 * (median[a:b, idx["I"]] - base[idx["I"]])
            return float(np.sum(s))
        return None

    def axis(a: int | None, b: int | None) -> float | None:
        ai, af = lead_area(a, b, "I"), lead_area(a, b, "aVF")
        return None if ai is None or af is None else _frontal_axis(ai, af)

    qrs_axis = axis(qrs_on, qrs_off)
    p_axis = axis(p_on, p_off)
    t_axis = axis(qrs_off, t_end) if t_end is not None else None
    if qrs_on is not None:
        # areas from the QRS onset level (the isoelectric PQ junction) for P and T as well
        def area_from(a: int, b: int, col: int) -> float:
            return float(np.sum(median[a:b, col] - median[qrs_on, col]))

        if "I" in idx and "aVF" in idx and t_end is not None and qrs_off is not None:
            t_axis = _frontal_axis(area_from(qrs_off, t_end, idx["I"]), area_from(qrs_off, t_end, idx["aVF"]))

    # ---- per-beat fiducials: the median beat's, on each beat's alignment point
    def place(i: int | None) -> np.ndarray:
        if i is None:
            return np.full(r_used.size, np.nan)
        return (r_used + offset + (i - pre)) / fs

    beats = BeatFiducials(
        r_s=(r_used + offset) / fs,
        p_onset_s=place(p_on),
        qrs_onset_s=place(qrs_on),
        qrs_offset_s=place(qrs_off),
        t_offset_s=place(t_end),
    )
    return Measurements(
        hr_bpm=hr,
        rr_sd_ms=rr_sd,
        rr_irregular=irregular,
        pr_ms=pr_ms,
        p_ms=p_ms,
        qrs_ms=qrs_ms,
        qt_ms=qt_ms,
        qtc_bazett_ms=qtc_b,
        qtc_fridericia_ms=qtc_f,
        p_axis_deg=p_axis,
        qrs_axis_deg=qrs_axis,
        t_axis_deg=t_axis,
        n_beats=int(r_used.size),
        beats=beats,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------- findings cross-check


@dataclass(frozen=True)
class CrossCheckFlag:
    """A disagreement between a rate- or interval-defined finding and the measurement.

    ``finding`` is the class name, ``network`` the network's decision (True = positive),
    ``measured`` e.g. "HR 72 bpm", ``criterion`` the paper's definition, ``message`` one line.
    """

    finding: str
    network: bool
    measured: str
    criterion: str
    message: str


CROSS_CHECK_CRITERIA: dict[str, str] = {
    "SB": "sinus rhythm below 50 bpm",
    "ST": "sinus rhythm above 100 bpm",
    "1dAVb": "PR above 200 ms",
    "AF": "irregular RR intervals, no P waves",
}
"""The paper's criterion of each finding the cross-check looks at."""


def finding_measurement(m: Measurements, finding: str) -> str | None:
    """The measured value that goes next to a rate- or interval-defined finding, e.g. "HR 72 bpm"
    for SB and ST, "PR 150 ms" for 1dAVb, "RR irregular, RR SD 120 ms" for AF; None when the
    finding is not one of those or the value was not measured (see ``m.notes``)."""
    if finding in ("SB", "ST"):
        return None if m.hr_bpm is None else f"HR {m.hr_bpm:.0f} bpm"
    if finding == "1dAVb":
        return None if m.pr_ms is None else f"PR {m.pr_ms:.0f} ms"
    if finding == "AF":
        if m.rr_irregular is None:
            return None
        sd = "" if m.rr_sd_ms is None else f", RR SD {m.rr_sd_ms:.0f} ms"
        return f"RR {'irregular' if m.rr_irregular else 'regular'}{sd}"
    return None


def cross_check(
    m: Measurements, decisions: Mapping[str, bool] | Sequence[bool], classes: Sequence[str] | None = None
) -> list[CrossCheckFlag]:
    """Flags where the network's decision and the measurements disagree plainly.

    ``decisions``: a mapping class → positive, or a sequence of booleans in the order of ``classes``.
    Only the classes present are checked (a model may have other classes). Flags:
    SB positive with HR ≥ 60; ST positive with HR ≤ 100; 1dAVb positive with PR < 180 ms or
    negative with PR > 220 ms; AF positive with regular RR intervals. No flag when the value was
    not measured. The network's output is never changed.
    """
    if not isinstance(decisions, Mapping):
        if classes is None:
            raise ValueError("classes are needed when decisions is a sequence")
        decisions = {c: bool(d) for c, d in zip(classes, decisions, strict=True)}
    flags: list[CrossCheckFlag] = []

    def add(finding: str, measured: str, what: str) -> None:
        pos = bool(decisions[finding])
        crit = CROSS_CHECK_CRITERIA[finding]
        flags.append(
            CrossCheckFlag(
                finding,
                pos,
                measured,
                crit,
                f"{finding} {'positive' if pos else 'negative'} but {what} (criterion: {crit})",
            )
        )

    hr = m.hr_bpm
    if "SB" in decisions and decisions["SB"] and hr is not None and hr >= 60:
        add("SB", f"HR {hr:.0f} bpm", f"measured HR {hr:.0f} bpm ≥ 60")
    if "ST" in decisions and decisions["ST"] and hr is not None and hr <= 100:
        add("ST", f"HR {hr:.0f} bpm", f"measured HR {hr:.0f} bpm ≤ 100")
    pr = m.pr_ms
    if "1dAVb" in decisions and pr is not None:
        if decisions["1dAVb"] and pr < 180:
            add("1dAVb", f"PR {pr:.0f} ms", f"measured PR {pr:.0f} ms < 180")
        elif not decisions["1dAVb"] and pr > 220:
            add("1dAVb", f"PR {pr:.0f} ms", f"measured PR {pr:.0f} ms > 220")
    if "AF" in decisions and decisions["AF"] and m.rr_irregular is False:
        measured = finding_measurement(m, "AF") or "RR regular"
        add("AF", measured, f"measured {measured}")
    return flags


# --------------------------------------------------------------------------- the cart's line

EMPTY = "—"
"""Shown in place of a value that was not measured."""


@dataclass(frozen=True)
class MeasurementItem:
    """One item of the measurements line: ``label`` "HR", ``text`` "HR 72 bpm" (with "—" when
    not measured) and ``reason`` (why it is empty; "" when measured)."""

    label: str
    text: str
    reason: str = ""


def _fmt(v: float | None, unit: str = "") -> str:
    return EMPTY if v is None else f"{v:.0f}{unit}"


def _reason(m: Measurements, *words: str) -> str:
    """The note(s) of ``m`` that mention any of ``words``, else all notes, else a generic reason."""
    hits = [n for n in m.notes if any(w.lower() in n.lower() for w in words)]
    return "; ".join(hits or list(m.notes)) or "not measured"


def measurement_items(m: Measurements) -> list[MeasurementItem]:
    """The cart-style line of ``m`` as items (HR, PR, QRS, QT/QTc, axes), "—" where not measured."""
    items = [
        MeasurementItem(
            "HR",
            f"HR {_fmt(m.hr_bpm)} bpm",
            "" if m.hr_bpm is not None else _reason(m, "beat", "R-peak", "signal"),
        ),
        MeasurementItem(
            "PR", f"PR {_fmt(m.pr_ms)} ms", "" if m.pr_ms is not None else _reason(m, "P wave", "PR")
        ),
        MeasurementItem("QRS", f"QRS {_fmt(m.qrs_ms)} ms", "" if m.qrs_ms is not None else _reason(m, "QRS")),
    ]
    qt_missing = m.qt_ms is None or m.qtc_bazett_ms is None
    items.append(
        MeasurementItem(
            "QT/QTc",
            f"QT/QTc {_fmt(m.qt_ms)}/{_fmt(m.qtc_bazett_ms)} ms",
            _reason(m, "T ", "QT", "T wave", "T-wave") if qt_missing else "",
        )
    )
    axes_missing = None in (m.p_axis_deg, m.qrs_axis_deg, m.t_axis_deg)
    items.append(
        MeasurementItem(
            "axes",
            f"axes P {_fmt(m.p_axis_deg, '°')} QRS {_fmt(m.qrs_axis_deg, '°')} T {_fmt(m.t_axis_deg, '°')}",
            _reason(m, "axis", "P wave", "lead") if axes_missing else "",
        )
    )
    return items


def measurement_line(m: Measurements | None) -> str:
    """``HR 72 bpm · PR 164 ms · QRS 92 ms · QT/QTc 380/402 ms · axes P 45° QRS 30° T 40°``
    (QTc by Bazett); "—" for each value not measured; "" when ``m`` is None."""
    if m is None:
        return ""
    return " · ".join(item.text for item in measurement_items(m))
