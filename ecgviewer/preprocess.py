"""Turn an :class:`~ecgviewer.exam.Exam` into the network's input, and say what was done.

The input of Ribeiro et al. (2020): 400 Hz, 4096 samples (centred zero padding or
cropping), amplitude in millivolts, leads I, II, III, aVR, aVL, aVF, V1–V6.

Millivolts are the one canonical network input of the app. The paper's README says
"1e-4 V", a known misstatement: its code feeds the mV test tracings unscaled and its
authors tell users to scale to mV. A model that reads another scale says so in its
contract (``input_scale_per_mv``) and the runtime converts (:mod:`ecgviewer.model.runtime`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from ecgviewer.errors import PreprocessError
from ecgviewer.exam import Exam
from ecgviewer.leads import DERIVED_LEADS, LEADS, derive_limb_leads
from ecgviewer.quality import GOOD, Quality, assess_quality

MODEL_FS: float = 400.0
MODEL_SAMPLES: int = 4096
MODEL_UNITS: str = "mV"
"""The amplitude unit of :func:`to_model_input`'s output (the paper's network reads mV)."""


@dataclass(frozen=True)
class PreprocessReport:
    """What :func:`to_model_input` did to one exam. Sample counts are at the output rate."""

    original_fs: float
    original_samples: int
    resample_up: int
    resample_down: int
    resampled_samples: int
    pad_left: int
    pad_right: int
    crop_left: int
    crop_right: int
    leads_derived: tuple[str, ...]
    units: str = MODEL_UNITS
    output_fs: float = MODEL_FS
    output_samples: int = MODEL_SAMPLES
    notes: tuple[str, ...] = field(default_factory=tuple)
    quality: Quality = GOOD
    """The exam's signal quality (:mod:`ecgviewer.quality`): predictions of an unreliable exam say so."""

    @property
    def original_duration_s(self) -> float:
        return self.original_samples / self.original_fs

    @property
    def resampled(self) -> bool:
        return self.resample_up != self.resample_down

    @property
    def offset_s(self) -> float:
        """Original time (s) of output sample 0; output sample j sits at ``offset_s + j / output_fs``."""
        return (self.crop_left - self.pad_left) / self.output_fs

    @property
    def signal_slice(self) -> slice:
        """The output samples that hold signal (not zero padding)."""
        return slice(self.pad_left, self.output_samples - self.pad_right)

    def describe(self) -> list[str]:
        """Plain sentences for the UI, the report and ``ecgviewer info``."""
        lines = [
            f"Original: {self.original_samples} samples at {self.original_fs:g} Hz "
            f"({self.original_duration_s:.2f} s)."
        ]
        if self.resampled:
            lines.append(
                f"Resampled {self.original_fs:g} Hz → {self.output_fs:g} Hz "
                f"(polyphase, ×{self.resample_up}/{self.resample_down}), "
                f"{self.resampled_samples} samples."
            )
        else:
            lines.append(f"Already at {self.output_fs:g} Hz: not resampled.")
        if self.pad_left or self.pad_right:
            zeros_s = (self.pad_left + self.pad_right) / self.output_fs
            lines.append(
                f"Zero-padded to {self.output_samples} samples: {self.pad_left} before, "
                f"{self.pad_right} after ({zeros_s:.2f} s of zeros)."
            )
        if self.crop_left or self.crop_right:
            window_s = self.output_samples / self.output_fs
            lines.append(
                f"Cropped to {self.output_samples} samples ({window_s:.2f} s): "
                f"{self.crop_left} dropped before, {self.crop_right} after; window starts at "
                f"{self.crop_left / self.output_fs:.2f} s."
            )
        if not (self.pad_left or self.pad_right or self.crop_left or self.crop_right):
            lines.append(f"Exactly {self.output_samples} samples: no padding or cropping.")
        if self.leads_derived:
            lines.append("Derived from I and II: " + ", ".join(self.leads_derived) + ".")
        lines.append(f"Amplitude in {self.units} (not rescaled); leads ordered " + ", ".join(LEADS) + ".")
        lines.extend(self.notes)
        return lines

    def as_dict(self) -> dict:
        d = asdict(self)
        d["offset_s"] = self.offset_s
        return d


def resample_factors(fs_in: float, fs_out: float = MODEL_FS) -> tuple[int, int]:
    """Exact rational (up, down) with ``fs_in * up / down == fs_out``.

    100 Hz → (4, 1), 500 Hz → (4, 5), 257 Hz → (400, 257), 360 Hz → (10, 9).
    """
    ratio = Fraction(str(fs_out)) / Fraction(str(fs_in))
    if ratio.denominator > 10_000 or ratio.numerator > 10_000:
        ratio = ratio.limit_denominator(1000)
    return ratio.numerator, ratio.denominator


def resample(signal: np.ndarray, fs_in: float, fs_out: float = MODEL_FS) -> np.ndarray:
    """Resample (samples, leads) along axis 0 with a polyphase anti-aliasing filter."""
    up, down = resample_factors(fs_in, fs_out)
    if up == down:
        return np.asarray(signal, dtype=np.float32)
    return resample_poly(np.asarray(signal, dtype=np.float64), up, down, axis=0).astype(np.float32)


def _resampled_window(
    signal: np.ndarray, up: int, down: int, n: int, start: int | None
) -> tuple[np.ndarray, int, int] | None:
    """For a recording much longer than the window: resample only the kept ``n`` samples.

    Returns (window (n, leads) float32, crop_left, full resampled length) with the same crop as
    :func:`fit_length` on the whole resampled signal, or None for short recordings. The slice
    of the input starts at a multiple of ``down`` (so the output grid is the same) and keeps a
    margin wider than the polyphase filter, so the window's samples are those of resampling all.
    """
    length = signal.shape[0]
    full = -(-length * up // down)  # resample_poly's output length, ceil(length * up / down)
    if up == down or full <= 4 * n:
        return None
    crop_left = (full - n) // 2 if start is None else int(np.clip(start, 0, full - n))
    margin = -(-10 * max(up, down) // up) + 2  # the filter's half length, in input samples
    first = max(0, (crop_left * down // up - margin) // down * down)
    last = min(length, -(-(crop_left + n) * down // up) + margin)
    part = resample_poly(np.asarray(signal[first:last], dtype=np.float64), up, down, axis=0)
    offset = crop_left - first * up // down
    if offset < 0 or offset + n > part.shape[0]:
        return None
    return part[offset : offset + n].astype(np.float32), crop_left, full


def fit_length(
    signal: np.ndarray, n: int = MODEL_SAMPLES, start: int | None = None
) -> tuple[np.ndarray, int, int, int, int]:
    """Centre zero-pad or crop (samples, leads) to ``n`` samples.

    ``start`` picks the first kept sample when cropping (default: the centred window).
    Returns (array, pad_left, pad_right, crop_left, crop_right).
    """
    length = signal.shape[0]
    if length <= n:
        pad_left = (n - length) // 2
        pad_right = n - length - pad_left
        out = np.zeros((n, *signal.shape[1:]), dtype=signal.dtype)
        out[pad_left : pad_left + length] = signal
        return out, pad_left, pad_right, 0, 0
    crop_left = (length - n) // 2 if start is None else int(np.clip(start, 0, length - n))
    crop_right = length - n - crop_left
    return signal[crop_left : crop_left + n].copy(), 0, 0, crop_left, crop_right


def complete_leads(signal: np.ndarray, leads: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Return (samples, 12) in :data:`LEADS` order and the names of derived leads.

    III, aVR, aVL and aVF are derived from I and II when missing; any other missing
    lead is an error.
    """
    columns = {name: signal[:, i] for i, name in enumerate(leads)}
    derived: list[str] = []
    if any(name not in columns for name in DERIVED_LEADS) and "I" in columns and "II" in columns:
        for name, values in derive_limb_leads(columns["I"], columns["II"]).items():
            if name not in columns:
                columns[name] = values
                derived.append(name)
    missing = [name for name in LEADS if name not in columns]
    if missing:
        raise PreprocessError(
            "the network needs 12 leads (or the 8 independent ones: I, II, V1–V6); missing "
            + ", ".join(missing)
        )
    return np.stack([columns[name] for name in LEADS], axis=1), tuple(derived)


def to_model_input(
    exam: Exam, *, start_s: float | None = None, fs: float = MODEL_FS, n_samples: int = MODEL_SAMPLES
) -> tuple[np.ndarray, PreprocessReport]:
    """The exam as the network's input.

    Args:
        exam: any exam, in mV at any rate.
        start_s: for recordings longer than ``n_samples / fs``, the start of the kept window
            in seconds (default: the centred window).

    Returns:
        (x, report): x is (n_samples, 12) float32 in mV, leads in :data:`LEADS` order.
    """
    present = [name for name in LEADS if name in exam.leads]
    missing = [name for name in LEADS if name not in exam.leads]
    if missing and not (set(missing) <= set(DERIVED_LEADS) and "I" in present and "II" in present):
        where = f"{exam.source}: " if exam.source is not None else ""
        absent = [name for name in missing if name not in DERIVED_LEADS] or missing
        raise PreprocessError(
            f"{where}{exam.exam_id or 'exam'}: the network needs 12 leads (or the 8 independent ones: "
            "I, II, V1–V6); missing " + ", ".join(absent)
        )
    signal = exam.signal_mv[:, [exam.leads.index(name) for name in present]]
    up, down = resample_factors(exam.fs, fs)
    start = None if start_s is None else round(start_s * fs)
    window = _resampled_window(signal, up, down, n_samples, start)
    if window is not None:  # a long recording: only the window (and the filter's margin) resampled
        fitted, crop_l, full_length = window
        pad_l = pad_r = 0
        crop_r = full_length - n_samples - crop_l
        resampled_samples = full_length
    else:
        resampled = resample(signal, exam.fs, fs)
        fitted, pad_l, pad_r, crop_l, crop_r = fit_length(resampled, n_samples, start)
        resampled_samples = resampled.shape[0]
    fitted = fitted.astype(np.float32, copy=False)
    # Missing limb leads are derived last, from the final I and II in float32, so that
    # Einthoven's and Goldberger's equations hold exactly in the network's input.
    x = np.zeros((n_samples, len(LEADS)), dtype=np.float32)
    for k, name in enumerate(present):
        x[:, LEADS.index(name)] = fitted[:, k]
    derived = tuple(name for name in DERIVED_LEADS if name in missing)
    if derived:
        values = derive_limb_leads(x[:, LEADS.index("I")], x[:, LEADS.index("II")])
        for name in derived:
            x[:, LEADS.index(name)] = values[name]
    report = PreprocessReport(
        original_fs=exam.fs,
        original_samples=exam.n_samples,
        resample_up=up,
        resample_down=down,
        resampled_samples=resampled_samples,
        pad_left=pad_l,
        pad_right=pad_r,
        crop_left=crop_l,
        crop_right=crop_r,
        leads_derived=derived,
        output_fs=fs,
        output_samples=n_samples,
        notes=tuple(exam.notes),
        quality=exam.quality
        if exam.quality is not None
        else assess_quality(exam.signal_mv, exam.fs, exam.leads),
    )
    return x, report
