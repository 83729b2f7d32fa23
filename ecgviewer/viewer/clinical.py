"""What the viewer shows of a clinical file's own content, with no Qt.

A cart or hospital file (GE MUSE, Philips, HL7 aECG, DICOM, SCP-ECG, EDF) carries more than its
samples (``exam.clinical``, :class:`~ecgviewer.clinical.ClinicalInfo`). The Qt layer draws what
these functions return:

* :func:`device_reading` — the cart's own interpretation statements and measurements, always
  labelled ``device (<name>): …`` so they are never taken for the network's findings;
* :func:`info_rows` — acquisition rows (time, device, site, cart filters: always shown) and the
  patient identifiers (id, name, birth date) only when ``identifiers`` is True;
* :func:`identity_text` — the identifiers in one line for the window header (empty unless asked).

Whether identifiers are shown is ``ViewSettings.show_identifiers`` (off by default).
"""

from __future__ import annotations

from dataclasses import dataclass

from ecgviewer.clinical import ClinicalInfo, DeviceReport, clinical_info

SOURCE_TEXT = {
    "machine": "automatic analysis",
    "confirmed": "confirmed by a physician",
    "overread": "over-read by a physician",
}


@dataclass(frozen=True)
class DeviceReading:
    """The cart's reading of one exam, ready to show beside the network's findings.

    Attributes:
        device: the cart as the file names it ("GE MAC55"; "device" when unnamed).
        heading: ``"device (GE MAC55)"``.
        source: who made the statements, in words ("the cart's automatic analysis", ...).
        statements: ``device (GE MAC55): ATRIAL FIBRILLATION`` lines (:meth:`DeviceReport.lines`).
        measurements: ``"QRS duration (ms): 92"`` lines, as the cart measured them.
        interpreter: the confirming physician's name ("" unless identifiers are shown).
    """

    device: str
    heading: str
    source: str
    statements: tuple[str, ...]
    measurements: tuple[str, ...]
    interpreter: str = ""


def device_reading(exam: object, *, identifiers: bool = False) -> DeviceReading | None:
    """The cart's statements and measurements of ``exam``; None when the file holds none.

    ``identifiers``: also give the confirming physician's name (a person's name: only on request).
    """
    info = clinical_info(exam)
    report: DeviceReport | None = info.device_report if info is not None else None
    if report is None or report.empty:
        return None
    name = report.device if report.device and report.device != "device" else ""
    return DeviceReading(
        device=name or "device",
        heading=f"device ({name})" if name else "device",
        source=SOURCE_TEXT.get(report.source, report.source),
        statements=tuple(report.lines()),
        measurements=tuple(report.measurement_lines()),
        interpreter=report.interpreter if identifiers else "",
    )


def info_rows(exam: object, *, identifiers: bool = False) -> list[tuple[str, str]]:
    """(label, value) rows of a clinical exam for the info panel: acquisition rows always, then the
    patient identifiers when ``identifiers`` is True (or one row saying they are hidden)."""
    info = clinical_info(exam)
    if info is None:
        return []
    rows = list(info.acquisition_rows())
    ids = info.identifier_rows()
    if identifiers:
        rows += ids
    elif ids:
        rows.append(("Patient identifiers", "hidden (View → Show Patient Identifiers)"))
    return rows


def identity_text(exam: object, *, identifiers: bool = False) -> str:
    """``"Clark · ID SBJ-123 · born 1953-05-08"``; "" when not asked for or the file names no one."""
    info: ClinicalInfo | None = clinical_info(exam)
    if not identifiers or info is None:
        return ""
    p = info.patient
    bits = [p.name] if p.name else []
    if p.patient_id:
        bits.append(f"ID {p.patient_id}")
    if p.birth_date is not None:
        bits.append(f"born {p.birth_date.isoformat()}")
    return " · ".join(bits)


def acquisition_text(exam: object) -> str:
    """``"acquired 2006-02-01T10:24:03+01:00 · GE MAC55"``: when and on what, for a header; "" if unknown."""
    info = clinical_info(exam)
    if info is None:
        return ""
    bits = [f"acquired {info.acquired}"] if info.acquired else []
    if info.device:
        bits.append(info.device)
    return " · ".join(bits)


__all__ = ["DeviceReading", "acquisition_text", "device_reading", "identity_text", "info_rows"]
