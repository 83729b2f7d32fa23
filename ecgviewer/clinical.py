"""What a clinical ECG file carries besides its samples: patient, acquisition, the device's own
measurements and statements, and median beats.

Readers of cart and hospital formats (GE MUSE, Philips, HL7 aECG, DICOM, SCP-ECG, EDF) fill
``exam.clinical`` with a :class:`ClinicalInfo`; other readers leave it None. It is plain data:
the viewer and the report decide what to show. Patient identifiers (id, name, birth date) are
kept apart in :class:`PatientFields` and are only to be shown when the user opts in
(:meth:`ClinicalInfo.identifier_rows`); :meth:`ClinicalInfo.acquisition_rows` holds nothing that
names the patient. The device's statements are *the device's*, never the network's: show them as
``device (<name>): <statement>`` (:meth:`DeviceReport.lines`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np


@dataclass(frozen=True)
class PatientFields:
    """Patient fields as the file states them; ``""``/None when absent.

    ``patient_id``, ``name`` and ``birth_date`` identify the patient: show them only on request.
    """

    patient_id: str = ""
    name: str = ""
    birth_date: date | None = None
    sex: str | None = None
    age: float | None = None

    @property
    def has_identifiers(self) -> bool:
        return bool(self.patient_id or self.name or self.birth_date)


@dataclass(frozen=True)
class DeviceReport:
    """The cart's own analysis.

    Attributes:
        device: who produced it, e.g. "Philips PageWriter Touch" ("device" when the file names none).
        statements: interpretation statements, one string each ("SINUS RHYTHM — normal P axis").
        source: "machine" (automatic analysis), "confirmed"/"overread" (a physician's), or "".
        interpreter: the physician's name for confirmed/overread statements ("" otherwise); not
            part of :meth:`lines` (a person's name: show it only where identifiers are shown).
        severity: the device's overall class ("NORMAL", "ABNORMAL", ...) or "".
        measurements: global measurements, name with unit → value, e.g. {"PR interval (ms)": 148}.
    """

    device: str = "device"
    statements: tuple[str, ...] = ()
    source: str = ""
    interpreter: str = ""
    severity: str = ""
    measurements: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """``device (<name>): <statement>`` lines, then the severity, for display beside the network."""
        who = f"device ({self.device})" if self.device and self.device != "device" else "device"
        if self.source in ("confirmed", "overread"):
            who += f", {self.source} by a physician"  # the name stays in ``interpreter``
        out = [f"{who}: {s}" for s in self.statements]
        if self.severity:
            out.append(f"{who}: {self.severity}")
        return out

    def measurement_lines(self) -> list[str]:
        """``"PR interval (ms): 148"`` lines in a fixed order."""
        return [f"{k}: {v:g}" for k, v in self.measurements.items()]

    @property
    def empty(self) -> bool:
        return not (self.statements or self.measurements or self.severity)


@dataclass(frozen=True)
class MedianBeats:
    """The device's representative (median) beat per lead, for display only.

    Attributes:
        signal_mv: (samples, leads) float32 in mV.
        fs: sampling rate in Hz.
        leads: canonical lead names, one per column.
    """

    signal_mv: np.ndarray
    fs: float
    leads: tuple[str, ...]

    @property
    def duration_s(self) -> float:
        return self.signal_mv.shape[0] / self.fs


@dataclass(frozen=True)
class ClinicalInfo:
    """Everything a clinical file states beyond the samples (see the module docstring).

    Attributes:
        format_name: the format as its maker calls it ("GE MUSE XML", "DICOM 12-lead ECG", ...).
        patient: identifiers and demographics.
        acquired: acquisition time in ISO 8601 to the second, with its UTC offset when the file
            gives one ("2006-02-01T10:24:03+01:00") and without when it does not (local time of
            the cart, "2002-11-22T09:10:00"); None when absent.
        device: manufacturer and model of the cart ("GE MAC55"), "" when absent.
        site: institution / department / location, "" when absent.
        filters: the cart's filter settings: "highpass_hz", "lowpass_hz", "notch_hz" (floats) and
            "notch_active" (bool), only those the file states.
        device_report: the cart's measurements and statements, None when it has none.
        median_beats: the cart's median beats, None when the file has none.
    """

    format_name: str
    patient: PatientFields = field(default_factory=PatientFields)
    acquired: str | None = None
    device: str = ""
    site: str = ""
    filters: dict[str, float | bool] = field(default_factory=dict)
    device_report: DeviceReport | None = None
    median_beats: MedianBeats | None = None

    def filter_text(self) -> str:
        """``"0.05–150 Hz, notch 50 Hz"`` style; "" when the file states no filters."""
        f = self.filters
        parts = []
        hp, lp = f.get("highpass_hz"), f.get("lowpass_hz")
        if hp is not None and lp is not None:
            parts.append(f"{hp:g}–{lp:g} Hz")
        elif hp is not None:
            parts.append(f"high-pass {hp:g} Hz")
        elif lp is not None:
            parts.append(f"low-pass {lp:g} Hz")
        if f.get("notch_hz") is not None and f.get("notch_active", True):
            parts.append(f"notch {f['notch_hz']:g} Hz")
        elif f.get("notch_active") is False:
            parts.append("notch off")
        return ", ".join(parts)

    def acquisition_rows(self) -> list[tuple[str, str]]:
        """(label, value) rows that do not identify the patient: format, time, device, site, filters."""
        rows = [("File format", self.format_name)]
        if self.acquired:
            rows.append(("Acquired", self.acquired))
        if self.device:
            rows.append(("Device", self.device))
        if self.site:
            rows.append(("Site", self.site))
        if text := self.filter_text():
            rows.append(("Cart filters", text))
        return rows

    def identifier_rows(self) -> list[tuple[str, str]]:
        """(label, value) rows that identify the patient: show only when the user opts in."""
        p = self.patient
        rows = []
        if p.patient_id:
            rows.append(("Patient ID", p.patient_id))
        if p.name:
            rows.append(("Patient name", p.name))
        if p.birth_date is not None:
            rows.append(("Birth date", p.birth_date.isoformat()))
        return rows


def qrs_peak_to_peak_mv(lead_mv: np.ndarray, fs: float, seconds: float = 10.0) -> float | None:
    """Typical QRS amplitude of one lead in mV: the median peak-to-peak over 1-s windows of the first
    ``seconds`` after removing the baseline with a 0.6-s moving median. None when shorter than 1 s.

    Args:
        lead_mv: (samples,) one lead in mV.
        fs: sampling rate in Hz.
    """
    from scipy.ndimage import median_filter

    x = np.asarray(lead_mv, dtype=np.float64)[: round(seconds * fs)]
    win = round(fs)
    if win < 1 or x.size < win:
        return None
    x = x - median_filter(x, size=max(3, round(0.6 * fs) | 1), mode="nearest")
    n = x.size // win
    blocks = x[: n * win].reshape(n, win)
    return float(np.median(blocks.max(axis=1) - blocks.min(axis=1)))


def iso_time(value: datetime | None) -> str | None:
    """ISO 8601 to the second; keeps the UTC offset of an aware time, none for a naive one."""
    if value is None:
        return None
    return value.replace(microsecond=0).isoformat(timespec="seconds")


def clinical_info(exam: object) -> ClinicalInfo | None:
    """``exam.clinical`` when the exam came from a clinical file, else None."""
    return getattr(exam, "clinical", None)


__all__ = [
    "ClinicalInfo",
    "DeviceReport",
    "MedianBeats",
    "PatientFields",
    "clinical_info",
    "iso_time",
    "qrs_peak_to_peak_mv",
]
