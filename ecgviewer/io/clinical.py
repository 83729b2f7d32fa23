"""Clinical ECG formats through ``ecgdatakit``: GE MUSE XML, Philips Sierra XML (1.03/1.04),
HL7 aECG, DICOM 12-lead waveform, SCP-ECG and EDF.

Each format is recognised by its content (:func:`detect_clinical`): the root element of an XML
file, the ``DICM`` preamble at byte 128 of DICOM, the CRC and section 0 layout of SCP-ECG, the
fixed header of EDF. The file is then parsed by that format's ``ecgdatakit`` parser (never its
catch-all dispatcher) and turned into an :class:`~ecgviewer.exam.Exam` in mV. What the library
leaves out or gets wrong for our purpose is filled in here:

* DICOM: ecgdatakit turns samples equal to WaveformPaddingValue into NaN; writers that set the
  padding value to 0 would lose every true zero sample, so those leads are re-read through pydicom
  (which ignores padding) and a note says so.
* Leads are put in the standard order; 8 stored leads (GE MUSE) stay 8, and III, aVR, aVL, aVF
  are derived downstream as for any 8-lead exam; extra leads (15-lead files: V3R, V4R, V7, ...)
  are left out and named in the notes.
* Several waveform sections: the rhythm strip is the exam, the median beats go to
  ``exam.clinical.median_beats``.
* Patient, acquisition, filters, the device's measurements and statements go to
  ``exam.clinical`` (:class:`~ecgviewer.clinical.ClinicalInfo`); identifiers never go to
  ``exam.meta``, which the viewer lists as it is.

XML is parsed by ecgdatakit with defusedxml / expat with entity declarations refused; before that,
:func:`check_xml_prolog` refuses any document whose prolog declares entities, so no entity is
expanded, no external entity or DTD is fetched and nothing is read from disk or the network.
"""

from __future__ import annotations

import binascii
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ecgviewer.clinical import ClinicalInfo, DeviceReport, MedianBeats, PatientFields, iso_time
from ecgviewer.errors import ExamReadError
from ecgviewer.exam import Exam
from ecgviewer.io.base import (
    NotAnExamError,
    SingleExamFile,
    check_fs,
    check_nonempty_file,
    check_signal,
    leads_from_names,
    unit_to_mv,
)
from ecgviewer.leads import INDEPENDENT_LEADS, LEADS

XML_SUFFIXES: tuple[str, ...] = (".xml",)
DICOM_SUFFIXES: tuple[str, ...] = (".dcm", ".dicom")
SCP_SUFFIXES: tuple[str, ...] = (".scp",)
EDF_SUFFIXES: tuple[str, ...] = (".edf",)

#: Largest file handed to a clinical parser (they read it whole into memory).
MAX_FILE_BYTES = 512 * 1024 * 1024
#: Bytes scanned for the XML prolog (declaration, comments, DOCTYPE) before the root element.
PROLOG_BYTES = 256 * 1024


# --- detection by content ------------------------------------------------------------------


def _xml_text(head: bytes) -> str | None:
    """``head`` decoded as the start of an XML document, or None when it is not XML-looking text."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head[2:].decode("utf-16-le" if head[0] == 0xFF else "utf-16-be", errors="ignore")
    elif head.startswith(b"<\x00"):
        text = head.decode("utf-16-le", errors="ignore")
    elif head.startswith(b"\x00<"):
        text = head.decode("utf-16-be", errors="ignore")
    else:
        body = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
        if b"\x00" in body[:512]:
            return None
        text = body.decode("utf-8", errors="ignore")
    text = text.lstrip("\ufeff \t\r\n")
    return text if text.startswith("<") else None


_PROLOG_ITEM = re.compile(
    r"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE\s[^\[>]*(?:\[.*?\]\s*)?>)", re.DOTALL | re.IGNORECASE
)
_ROOT = re.compile(r"\s*<([A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")


def xml_root_name(head: bytes) -> str | None:
    """Local name of the root element of an XML document (``"RestingECG"``), or None.

    Only the first bytes are looked at: the XML declaration, comments, processing instructions
    and a DOCTYPE are skipped without being interpreted.
    """
    text = _xml_text(head)
    if text is None:
        return None
    pos = 0
    while m := _PROLOG_ITEM.match(text, pos):
        if m.end() == pos:
            break
        pos = m.end()
    m = _ROOT.match(text, pos)
    return m.group(2) if m else None


#: XML root element (lower case) → reader name.
XML_ROOTS: dict[str, str] = {
    "restingecg": "ge-muse-xml",
    "restingecgdata": "philips-xml",
    "annotatedecg": "hl7-aecg",
}
#: Roots of ECG formats that are recognised but not read, with the reason.
KNOWN_UNREAD_XML: dict[str, str] = {
    "com.xiriuz.sema.xml.schillerEDI.SchillerEDI".lower(): (
        "Schiller SEMA XML (SchillerEDI), which ecgviewer does not read yet: export the exam from "
        "the Schiller software as SCP-ECG or DICOM"
    ),
    "cardiologyxml": (
        "GE CardioSoft XML (CardiologyXML), which ecgviewer does not read: export it as GE MUSE "
        "XML, SCP-ECG or DICOM"
    ),
}


def xml_reader_name(head: bytes) -> str | None:
    """The clinical reader of an XML head by its root element, None for other XML or non-XML."""
    root = xml_root_name(head)
    return XML_ROOTS.get(root.lower()) if root else None


def is_dicom(head: bytes) -> bool:
    """DICOM Part 10 file: 128-byte preamble then ``DICM``."""
    return len(head) >= 132 and head[128:132] == b"DICM"


def _u16(b: bytes, at: int) -> int:
    return int.from_bytes(b[at : at + 2], "little")


def _u32(b: bytes, at: int) -> int:
    return int.from_bytes(b[at : at + 4], "little")


def scp_layout_problem(path: Path, head: bytes) -> str | None:
    """Why ``path`` is not an EN 1064 SCP-ECG record, or None when its layout and CRC are right.

    Checked: the record size (bytes 2–5) equals the file size, section 0 starts at byte 6 with
    ID 0 and a length of 16 + 10·k bytes, its first pointer points at itself (ID 0, byte 7),
    and the record CRC-CCITT (bytes 0–1, over bytes 2 to the end) matches.
    """
    if len(head) < 32:
        return "too short for an SCP-ECG record (fewer than 32 bytes)"
    try:
        size = path.stat().st_size
    except OSError as err:
        return f"cannot read: {err.strerror or err}"
    record_size = _u32(head, 2)
    if record_size != size:
        return f"the record size field says {record_size} bytes but the file has {size}"
    sec0_id, sec0_len = _u16(head, 8), _u32(head, 10)
    if sec0_id != 0 or sec0_len < 26 or (sec0_len - 16) % 10:
        return f"section 0 is not where EN 1064 puts it (ID {sec0_id}, length {sec0_len})"
    if _u16(head, 22) != 0 or _u32(head, 28) != 7:
        return "section 0 does not point at itself as EN 1064 requires"
    if size > MAX_FILE_BYTES:
        return f"too large for an SCP-ECG record ({size} bytes)"
    try:
        data = path.read_bytes()
    except OSError as err:
        return f"cannot read: {err.strerror or err}"
    if binascii.crc_hqx(data[2:], 0xFFFF) != _u16(data, 0):
        return "the record CRC does not match (damaged or not an SCP-ECG file)"
    return None


def is_scp(path: Path, head: bytes) -> bool:
    """SCP-ECG by content (cheap checks first: the CRC is computed only when the layout fits)."""
    return len(head) >= 32 and _u16(head, 8) == 0 and scp_layout_problem(path, head) is None


def edf_header_problem(path: Path, head: bytes) -> str | None:
    """Why ``path`` is not an EDF/EDF+ file, or None when its fixed header is consistent.

    Checked: version ``0`` padded with spaces, numeric header size, record count, record
    duration and signal count, and header size = 256 · (signals + 1).
    """
    if len(head) < 256:
        return "too short for an EDF header (fewer than 256 bytes)"
    if head[:8] == b"\xffBIOSEMI":
        return "a BDF (24-bit BioSemi) file; ecgviewer reads EDF and EDF+ only"
    if head[:8] != b"0       ":
        return "no EDF version field ('0' followed by 7 spaces) at the start"
    try:
        header_bytes = int(head[184:192].decode("ascii").strip())
        n_records = int(head[236:244].decode("ascii").strip())
        float(head[244:252].decode("ascii").strip())
        n_signals = int(head[252:256].decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return "the EDF header fields (sizes, record count, signal count) are not numbers"
    if n_signals <= 0 or header_bytes != 256 * (n_signals + 1) or n_records < -1:
        return (
            f"inconsistent EDF header ({n_signals} signals but {header_bytes} header bytes, "
            f"{n_records} records)"
        )
    return None


def is_edf(path: Path, head: bytes) -> bool:
    return head[:8] == b"0       " and edf_header_problem(path, head) is None


def detect_clinical(path: Path, head: bytes) -> str | None:
    """Name of the clinical reader for this content ("dicom", "ge-muse-xml", ...), or None."""
    if is_dicom(head):
        return "dicom"
    if (name := xml_reader_name(head)) is not None:
        return name
    if head[:8] == b"0       " and is_edf(path, head):
        return "edf"
    if len(head) >= 32 and _u16(head, 8) == 0 and is_scp(path, head):
        return "scp-ecg"
    return None


# --- XML safety ------------------------------------------------------------------------------

_ENTITY_DECL = re.compile(r"<!ENTITY", re.IGNORECASE)


def check_xml_prolog(path: Path) -> None:
    """Refuse an XML document that declares entities before its root element.

    Entity declarations are how billion-laughs (exponential expansion) and XXE (external
    entities reading local files or URLs) attacks work; ECG exports never need them. The parser
    refuses them too; this check gives a clear message without parsing anything.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(PROLOG_BYTES)
    except OSError as err:
        raise ExamReadError(path, f"cannot read: {err.strerror or err}") from None
    text = _xml_text(head) or ""
    pos = 0
    while m := _PROLOG_ITEM.match(text, pos):
        if m.end() == pos:
            break
        pos = m.end()
    # The prolog (declaration, comments, DOCTYPE) ends where the root element starts; when no
    # root element follows within the bytes read (a huge internal subset), all of them count.
    prolog = text[:pos] if _ROOT.match(text, pos) else text
    if _ENTITY_DECL.search(prolog):
        raise ExamReadError(
            path,
            "the XML declares entities (<!ENTITY ...>): refused for safety, no entity is expanded "
            "and no external entity is read (ECG exports never need them)",
        )


# --- the parse -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClinicalFormat:
    """One clinical format: reader name, display name and the ecgdatakit parser class to use."""

    name: str
    title: str
    parser: Callable[[], Any]


# The parsers are imported when first used (plain imports, so that PyInstaller finds them); the
# rest of ecgdatakit (processing, neural nets, plotting, anonymisation) is never imported.
def _muse() -> Any:
    from ecgdatakit.parsing.parsers.ge_muse_xml import GEMuseXMLParser

    return GEMuseXMLParser()


def _philips() -> Any:
    from ecgdatakit.parsing.parsers.sierra_xml import SierraXMLParser

    return SierraXMLParser()


def _aecg() -> Any:
    from ecgdatakit.parsing.parsers.hl7_aecg import HL7aECGParser

    return HL7aECGParser()


def _dicom() -> Any:
    from ecgdatakit.parsing.parsers.dicom_waveform import DICOMWaveformParser

    return DICOMWaveformParser()


def _scp() -> Any:
    from ecgdatakit.parsing.parsers.scp_ecg import SCPECGParser

    class ZeroBasedScpParser(SCPECGParser):
        """SCP-ECG parser that also reads files whose lead sample ranges (section 3) start at 0.

        EN 1064 numbers samples from 1; some writers number them from 0 (0–4999 for 5000
        samples). ecgdatakit refuses those ranges; here they are shifted by one before it reads
        them, and ``zero_based`` is set so that a note can say so.
        """

        zero_based = False

        def _parse_section3(self, ctx: Any) -> None:
            sec = ctx.sections[3]
            body = sec.body(ctx.data)
            count = body[0] if body else 0
            if count and len(body) >= 2 + 9 * count:
                starts = [_u32(body, 2 + 9 * i) for i in range(count)]
                if all(start == 0 for start in starts):
                    data = bytearray(ctx.data)
                    base = sec.offset + 16 + 2
                    for i in range(count):
                        at = base + 9 * i
                        for field in (at, at + 4):
                            value = int.from_bytes(data[field : field + 4], "little") + 1
                            data[field : field + 4] = value.to_bytes(4, "little")
                    ctx.data = bytes(data)
                    self.zero_based = True
            super()._parse_section3(ctx)

    return ZeroBasedScpParser()


def _edf() -> Any:
    from ecgdatakit.parsing.parsers.edf import EDFParser

    return EDFParser()


FORMATS: dict[str, ClinicalFormat] = {
    "ge-muse-xml": ClinicalFormat("ge-muse-xml", "GE MUSE XML", _muse),
    "philips-xml": ClinicalFormat("philips-xml", "Philips Sierra/PageWriter XML", _philips),
    "hl7-aecg": ClinicalFormat("hl7-aecg", "HL7 aECG", _aecg),
    "dicom": ClinicalFormat("dicom", "DICOM 12-lead ECG waveform", _dicom),
    "scp-ecg": ClinicalFormat("scp-ecg", "SCP-ECG (EN 1064)", _scp),
    "edf": ClinicalFormat("edf", "EDF/EDF+", _edf),
}


def _library_message(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text if len(text) < 400 else text[:400] + " ..."


def parse_record(path: Path, fmt: ClinicalFormat) -> tuple[Any, list[str]]:
    """(ecgdatakit ECGRecord, warnings it raised) for ``path`` read as ``fmt``; raises ExamReadError."""
    from ecgdatakit.exceptions import ECGDataKitError

    try:
        size = path.stat().st_size
    except OSError as err:
        raise ExamReadError(path, f"cannot read: {err.strerror or err}") from None
    if size > MAX_FILE_BYTES:
        raise ExamReadError(path, f"too large for a {fmt.title} file ({size / 2**20:.0f} MB)")
    if fmt.name in ("ge-muse-xml", "philips-xml", "hl7-aecg"):
        check_xml_prolog(path)
    parser = fmt.parser()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            record = parser.parse(path)
        except ECGDataKitError as err:
            raise ExamReadError(path, f"cannot read as {fmt.title}: {_library_message(err)}") from None
        except (MemoryError, RecursionError):
            raise ExamReadError(
                path, f"cannot read as {fmt.title}: the file is too large or too deep"
            ) from None
        except ImportError as err:
            raise ExamReadError(
                path, f"reading {fmt.title} needs {err.name or err}, which is missing"
            ) from None
        except Exception as err:  # the library's bugs and odd files alike: never a traceback
            raise ExamReadError(
                path, f"cannot read as {fmt.title}: {type(err).__name__}: {_library_message(err)}"
            ) from None
    messages = []
    if getattr(parser, "zero_based", False):
        messages.append("the lead sample ranges start at 0 (EN 1064 starts at 1): read as samples 1 to N")
    for w in caught:
        text = str(w.message)
        if "Invalid value for VR" in text:  # pydicom's chatter about UIDs, nothing to do with samples
            continue
        if text not in messages:
            messages.append(text)
    return record, messages


def _to_mv(path: Path, lead: Any) -> np.ndarray:
    """A lead's samples in mV (float64)."""
    from ecgdatakit.exceptions import RawSamplesError

    if lead.is_raw:
        try:
            lead = lead.to_physical()
        except (RawSamplesError, ValueError):
            raise ExamReadError(
                path, f"lead {lead.label} has no calibration (raw counts without units)"
            ) from None
    factor = unit_to_mv(lead.units or "")
    if factor is None:
        raise ExamReadError(path, f"lead {lead.label} is in units {lead.units!r}, not a voltage")
    return np.asarray(lead.samples, dtype=np.float64) * factor


def _order(leads: tuple[str, ...]) -> list[int]:
    """Column order putting canonical leads in LEADS order."""
    return sorted(range(len(leads)), key=lambda i: LEADS.index(leads[i]))


def _stack(path: Path, leads: list[Any], what: str) -> tuple[np.ndarray, float, tuple[str, ...], list[str]]:
    """(signal_mv (samples, leads) float64, fs, canonical leads in standard order, notes)."""
    labels = [str(lead.label) for lead in leads]
    keep, canon, notes = leads_from_names(path, labels, what)
    notes = [n.replace("ignored leads that are not 12-lead ECG leads", "extra leads left out") for n in notes]
    rates = {float(leads[i].sampling_rate) for i in keep}
    if len(rates) != 1:
        raise ExamReadError(path, f"the {what} have different sampling rates ({sorted(rates)} Hz)")
    fs = check_fs(path, rates.pop(), f" ({what})")
    columns = [_to_mv(path, leads[i]) for i in keep]
    lengths = {len(c) for c in columns}
    n = min(lengths)
    if len(lengths) > 1:
        notes.append(f"the {what} differ in length ({min(lengths)}–{max(lengths)} samples): cut to {n}")
    order = _order(canon)
    signal = np.stack([columns[k][:n] for k in order], axis=1)
    return signal, fs, tuple(canon[k] for k in order), notes


def _dicom_padding(
    path: Path, record: Any, signal: np.ndarray, leads: tuple[str, ...]
) -> tuple[np.ndarray, str | None]:
    """Undo ecgdatakit's NaN for samples equal to WaveformPaddingValue; returns (signal, note).

    A padding value at the edge of the sample range (−32768 or 32767 for 16 bits) marks real gaps:
    rows missing in every lead at the start or end are dropped (with a note); gaps inside stay NaN
    and are reported. Any other padding value (writers that set it to 0) is a valid sample value:
    those samples are re-read through pydicom, whose ``waveform_array`` ignores padding and applies
    sensitivity, correction and baseline as ecgdatakit does (difference 0 on every other sample).
    """
    bad = np.isnan(signal)
    if not bad.any():
        return signal, None
    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's remarks on UIDs were already seen while parsing
        ds = pydicom.dcmread(str(path))
    groups = list(ds.get("WaveformSequence") or [])
    rhythm = None
    for k, wf in enumerate(groups):
        label = str(wf.get("MultiplexGroupLabel", "")).upper()
        if any(w in label for w in ("MEDIAN", "REPRESENTATIVE", "AVERAGE", "TEMPLATE")):
            continue
        if wf.get("WaveformData") is not None and int(wf.get("NumberOfWaveformSamples") or 0) > 0:
            rhythm = k
            break
    if rhythm is None:
        return signal, None
    wf = groups[rhythm]
    bits = int(wf.get("WaveformBitsAllocated") or 16)
    pad = wf.get("WaveformPaddingValue")
    pad_value = None
    if isinstance(pad, (bytes, bytearray)) and len(pad) >= bits // 8:
        pad_value = int.from_bytes(bytes(pad[: bits // 8]), "little", signed=True)
    if pad_value is not None and pad_value in (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1):
        gap = bad.all(axis=1)
        first = int(np.argmin(gap)) if not gap.all() else signal.shape[0]
        last = signal.shape[0] - int(np.argmin(gap[::-1])) if not gap.all() else first
        dropped = signal.shape[0] - (last - first)
        if dropped == 0:
            return signal, None
        return signal[first:last], f"{dropped} padding samples (WaveformPaddingValue {pad_value}) dropped"
    values = ds.waveform_array(rhythm).astype(np.float64)
    from ecgviewer.leads import canonical_lead_name

    columns: dict[str, int] = {}
    defs = list(wf.get("ChannelDefinitionSequence") or [])
    for ch, lead in enumerate(record.leads):  # ecgdatakit keeps the channel order
        name = canonical_lead_name(lead.label)
        units = (defs[ch].get("ChannelSensitivityUnitsSequence") or [None])[0] if ch < len(defs) else None
        factor = unit_to_mv(str(getattr(units, "CodeValue", "uV"))) if units is not None else 1e-3
        if name is not None and factor is not None and ch < values.shape[1] and name not in columns:
            columns[name] = ch
            values[:, ch] *= factor
    if any(name not in columns for name in leads) or values.shape[0] < signal.shape[0]:
        return signal, None
    filled = 0
    for k, name in enumerate(leads):
        rows = np.nonzero(bad[:, k])[0]
        signal[rows, k] = values[rows, columns[name]]
        filled += rows.size
    shown = f" ({pad_value})" if pad_value is not None else ""
    return signal, (
        f"{filled} samples equal WaveformPaddingValue{shown}, which is a valid sample value here: "
        "read as true samples through pydicom, not as gaps"
    )


def _text(*parts: object) -> str:
    return " ".join(str(p).strip() for p in parts if p is not None and str(p).strip())


def _device(record: Any) -> str:
    d = record.recording.device
    manufacturer = "" if (d.manufacturer or "").strip().lower() in ("", "unknown") else d.manufacturer
    model = d.model or ""
    if manufacturer and model and model.lower().startswith(manufacturer.lower()):
        manufacturer = ""
    return _text(manufacturer, model)


def _site(record: Any) -> str:
    d = record.recording.device
    parts = []
    for value in (d.institution, d.department, record.recording.location):
        v = (value or "").strip()
        if v and v not in parts and v.lower() not in ("unidentified", "unknown"):
            parts.append(v)
    return ", ".join(parts)


def _filters(record: Any) -> dict[str, float | bool]:
    f = record.recording.acquisition.filters
    out: dict[str, float | bool] = {}
    for key, value in (("highpass_hz", f.highpass), ("lowpass_hz", f.lowpass), ("notch_hz", f.notch)):
        if value is not None and np.isfinite(value) and value > 0:
            out[key] = float(value)
    if f.notch_active is not None:
        out["notch_active"] = bool(f.notch_active)
    return out


_MEASUREMENTS = (
    ("heart_rate", "Heart rate (bpm)"),
    ("rr_interval", "RR interval (ms)"),
    ("pr_interval", "PR interval (ms)"),
    ("qrs_duration", "QRS duration (ms)"),
    ("qt_interval", "QT interval (ms)"),
    ("qtc_bazett", "QTc Bazett (ms)"),
    ("qtc_fridericia", "QTc Fridericia (ms)"),
    ("p_axis", "P axis (°)"),
    ("qrs_axis", "QRS axis (°)"),
    ("t_axis", "T axis (°)"),
)


def _device_report(record: Any, device: str) -> DeviceReport | None:
    m = record.measurements
    measurements: dict[str, float] = {}
    for attr, label in _MEASUREMENTS:
        value = getattr(m, attr, None)
        # 0 ms intervals are "not measured" (e.g. PR in atrial fibrillation), not a measurement
        if value is None or (value == 0 and "interval" in attr) or (value == 0 and attr == "heart_rate"):
            continue
        measurements[label] = float(value)
    interp = record.interpretation
    statements: list[str] = []
    for item in interp.statements or []:
        left, right = (item[0], item[1]) if isinstance(item, (tuple, list)) and len(item) == 2 else (item, "")
        line = " — ".join(s.strip() for s in (str(left), str(right)) if s and str(s).strip())
        if line:
            statements.append(line)
    machine = (record.annotations or {}).get("machine_interpretation")
    report = DeviceReport(
        device=device or "device",
        statements=tuple(statements),
        source=interp.source or ("machine" if statements else ""),
        interpreter=interp.interpreter or "",
        severity=(interp.severity or "").strip(),
        measurements=measurements,
    )
    if machine and not statements:
        report = DeviceReport(
            device=report.device,
            statements=tuple(s.strip() for s in str(machine).splitlines() if s.strip()),
            source="machine",
            measurements=measurements,
        )
    return None if report.empty else report


def _median_beats(path: Path, record: Any) -> tuple[MedianBeats | None, str | None]:
    if not record.median_beats:
        return None, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            signal, fs, leads, _notes = _stack(path, list(record.median_beats), "median beats")
    except ExamReadError as err:
        return None, f"median beats not kept: {err.problem}"
    if not np.isfinite(signal).all() or signal.shape[0] < 10:
        return None, "median beats not kept: incomplete"
    return MedianBeats(signal.astype(np.float32), fs, leads), None


def _birth_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return None if value.year <= 1900 else value.date()
    if isinstance(value, date):
        return None if value.year <= 1900 else value
    return None


def _sex(value: object) -> str | None:
    v = str(value or "").strip().upper()
    return v if v in ("M", "F") else None


def _patient(record: Any) -> PatientFields:
    p = record.patient
    name = _text(p.first_name, p.last_name)
    if name.lower() in ("anonymous", "anon"):
        name = ""
    age = float(p.age) if p.age is not None and 0 <= p.age < 150 else None
    pid = (p.patient_id or "").strip()
    if pid.lower() in ("dd-mmm-yyyy", "x", "unknown"):  # EDF placeholders
        pid = ""
    return PatientFields(
        patient_id=pid, name=name, birth_date=_birth_date(p.birth_date), sex=_sex(p.sex), age=age
    )


def record_to_exam(path: Path, fmt: ClinicalFormat, record: Any, library_notes: list[str]) -> Exam:
    """An :class:`Exam` in mV from an ecgdatakit record (see the module docstring)."""
    if not record.leads:
        raise ExamReadError(path, f"{fmt.title}: the file holds no waveform")
    signal, fs, leads, notes = _stack(path, list(record.leads), "leads")
    if fmt.name == "dicom":
        signal, note = _dicom_padding(path, record, signal, leads)
        if note:
            notes.append(note)
    if set(leads) == set(INDEPENDENT_LEADS):
        notes.append("the file stores 8 leads (I, II, V1–V6): III, aVR, aVL, aVF are derived from I and II")
    signal32 = check_signal(path, signal, leads)
    for text in library_notes:
        if "repbeats" in text or "median" in text.lower():
            continue  # about the median beats' rate/resolution taken from the rhythm: no effect here
        notes.append(f"{fmt.title} reader: {text}")
    device = _device(record)
    median, median_note = _median_beats(path, record)
    if median_note:
        notes.append(median_note)
    recorded = record.recording.date if isinstance(record.recording.date, datetime) else None
    if recorded is not None and recorded.year <= 1900:
        recorded = None
    acquired = iso_time(recorded)
    if recorded is not None and recorded.tzinfo is None:
        notes.append("the acquisition time has no time zone: shown as the cart's local time")
    patient = _patient(record)
    clinical = ClinicalInfo(
        format_name=fmt.title,
        patient=patient,
        acquired=acquired,
        device=device,
        site=_site(record),
        filters=_filters(record),
        device_report=_device_report(record, device),
        median_beats=median,
    )
    meta: dict[str, Any] = {}
    if device:
        meta["device"] = device
    if filters := clinical.filter_text():
        meta["cart filters"] = filters
    if median is not None:
        meta["median beats"] = f"{median.signal_mv.shape[0]} samples at {median.fs:g} Hz"
    if clinical.device_report is not None and clinical.device_report.statements:
        meta["device statements"] = len(clinical.device_report.statements)
    return Exam(
        signal_mv=signal32,
        fs=fs,
        leads=leads,
        exam_id=path.stem,
        source=path,
        format=fmt.name,
        index=0,
        age=patient.age,
        sex=patient.sex,
        recorded=recorded,
        notes=notes,
        meta=meta,
        clinical=clinical,
    )


# A few recently parsed exams, so that opening a file and then reading it parses it once.
_CACHE: OrderedDict[tuple[str, int, int], Exam] = OrderedDict()
_CACHE_SIZE = 4
_CACHE_LOCK = threading.Lock()


def _cache_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def read_clinical(path: Path, name: str) -> Exam:
    """Read ``path`` as the clinical format ``name``; raises ExamReadError."""
    path = Path(path)
    check_nonempty_file(path)
    key = _cache_key(path)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _copy(_CACHE[key])
    fmt = FORMATS[name]
    record, library_notes = parse_record(path, fmt)
    exam = record_to_exam(path, fmt, record, library_notes)
    with _CACHE_LOCK:
        _CACHE[key] = exam
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return _copy(exam)


def _copy(exam: Exam) -> Exam:
    """A copy whose samples, notes and meta the caller may change."""
    return Exam(
        signal_mv=exam.signal_mv.copy(),
        fs=exam.fs,
        leads=exam.leads,
        exam_id=exam.exam_id,
        source=exam.source,
        format=exam.format,
        index=exam.index,
        age=exam.age,
        sex=exam.sex,
        recorded=exam.recorded,
        raw_labels=dict(exam.raw_labels),
        notes=list(exam.notes),
        meta=dict(exam.meta),
        clinical=exam.clinical,
    )


class ClinicalSource(SingleExamFile):
    """One clinical file holding one exam; parsed once when opened (to report bad files then)."""

    format = "clinical"

    def __init__(self, path: Path, *, fs: float | None = None, units: str | None = None, name: str) -> None:
        del units  # every clinical format states its units
        self.path = Path(path)
        self.format = name
        exam = read_clinical(self.path, name)
        if fs is not None and abs(float(fs) - exam.fs) > 1e-9:
            self._fs_note = f"the file states {exam.fs:g} Hz; the {float(fs):g} Hz given was not used"
        else:
            self._fs_note = None
        self.fs, self.leads, self.age, self.sex = exam.fs, exam.leads, exam.age, exam.sex
        self._exam_id, self._n_samples = exam.exam_id, exam.n_samples

    def exam_id(self, index: int = 0) -> str:
        return self._exam_id

    def declared_samples(self) -> int:
        return self._n_samples

    def read(self, index: int = 0) -> Exam:
        self.check_index(index)
        exam = read_clinical(self.path, self.format)
        if self._fs_note:
            exam.notes.append(self._fs_note)
        return exam


def opener(name: str) -> Callable[..., ClinicalSource]:
    """``open(path, fs=..., units=...)`` for the registry."""

    def open_clinical(path: Path, *, fs: float | None = None, units: str | None = None) -> ClinicalSource:
        return ClinicalSource(path, fs=fs, units=units, name=name)

    return open_clinical


def open_by_extension(name: str) -> Callable[..., ClinicalSource]:
    """Opener used when the extension names a clinical format but the content did not match it:
    says what is wrong with the content, in that format's terms."""

    def open_checked(path: Path, *, fs: float | None = None, units: str | None = None) -> ClinicalSource:
        path = Path(path)
        check_nonempty_file(path)
        with open(path, "rb") as fh:
            head = fh.read(4096)
        if name == "xml":
            root = xml_root_name(head)
            if root is None:
                raise ExamReadError(path, "not an ECG format I know: not a well-formed XML document")
            if root.lower() in KNOWN_UNREAD_XML:
                raise ExamReadError(path, "not an ECG format I know: " + KNOWN_UNREAD_XML[root.lower()])
            raise NotAnExamError(  # e.g. a manifest or settings file in a folder of exports
                path,
                f"not an ECG format I know: an XML document with root element <{root}>; ecgviewer reads "
                "GE MUSE (<RestingECG>), Philips (<restingecgdata>) and HL7 aECG (<AnnotatedECG>) XML",
            )
        if name == "scp-ecg":
            problem = scp_layout_problem(path, head) or "not recognised"
            raise ExamReadError(
                path,
                f"not an EN 1064 SCP-ECG record: {problem}. Some handheld devices write '.scp' files "
                "in their own layout; export the exam in standard SCP-ECG, DICOM or EDF",
            )
        if name == "edf":
            raise ExamReadError(path, f"not an EDF file: {edf_header_problem(path, head)}")
        if name == "dicom":
            raise ExamReadError(path, "not a DICOM file: no 'DICM' marker after the 128-byte preamble")
        raise ExamReadError(path, "not a clinical ECG file")  # pragma: no cover

    return open_checked


__all__ = [
    "DICOM_SUFFIXES",
    "EDF_SUFFIXES",
    "FORMATS",
    "SCP_SUFFIXES",
    "XML_SUFFIXES",
    "ClinicalSource",
    "check_xml_prolog",
    "detect_clinical",
    "read_clinical",
    "record_to_exam",
    "xml_root_name",
]
