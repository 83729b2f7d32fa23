"""Small, self-made clinical files written from an :class:`~ecgviewer.exam.Exam`: a GE MUSE XML
(8 stored leads, base64 int16 at 4.88 µV per count) and a DICOM 12-lead ECG waveform (int16 at
2.5 µV per count, written with pydicom).

They exist so that the frozen app's ``--self-test`` can check its XML and DICOM readers without
any file from outside the installation, and for tests. They are not meant as exporters for
other software (only the fields the readers need are written).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ecgviewer.exam import Exam
from ecgviewer.leads import INDEPENDENT_LEADS, LEADS

MUSE_UV_PER_COUNT = 4.88
DICOM_UV_PER_COUNT = 2.5


def _counts(exam: Exam, leads: tuple[str, ...], uv_per_count: float) -> np.ndarray:
    """(samples, leads) int16 counts of ``leads`` (missing limb leads derived)."""
    from ecgviewer.preprocess import complete_leads

    full, _derived = complete_leads(exam.signal_mv, exam.leads)
    cols = [LEADS.index(name) for name in leads]
    counts = np.round(full[:, cols].astype(np.float64) * 1000.0 / uv_per_count)
    return np.clip(counts, -32767, 32767).astype("<i2")


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_muse_xml(
    exam: Exam,
    path: str | os.PathLike,
    *,
    statements: Sequence[str] = (),
    last_name: str = "",
    first_name: str = "",
    device: str = "ecgviewer self-test",
) -> Path:
    """Write ``exam`` as a GE MUSE ``<RestingECG>`` file with its 8 independent leads; returns the path.

    ``statements`` become the cart's interpretation (``<Diagnosis>``); ``last_name``/``first_name``
    the patient's name (for tests of what is shown only on request).
    """
    from xml.sax.saxutils import escape

    path = Path(path)
    counts = _counts(exam, INDEPENDENT_LEADS, MUSE_UV_PER_COUNT)
    leads = []
    for k, name in enumerate(INDEPENDENT_LEADS):
        payload = counts[:, k].tobytes()
        leads.append(
            "    <LeadData>\n"
            f"      <LeadByteCountTotal>{len(payload)}</LeadByteCountTotal>\n"
            f"      <LeadSampleCountTotal>{counts.shape[0]}</LeadSampleCountTotal>\n"
            f"      <LeadAmplitudeUnitsPerBit>{MUSE_UV_PER_COUNT}</LeadAmplitudeUnitsPerBit>\n"
            "      <LeadAmplitudeUnits>MICROVOLTS</LeadAmplitudeUnits>\n"
            "      <LeadSampleSize>2</LeadSampleSize>\n"
            f"      <LeadID>{name}</LeadID>\n"
            f"      <WaveFormData>{base64.b64encode(payload).decode('ascii')}</WaveFormData>\n"
            "    </LeadData>\n"
        )
    diagnosis = (
        "  <Diagnosis><Modality>RESTING</Modality>"
        + "".join(
            f"<DiagnosisStatement><StmtFlag>ENDSLINE</StmtFlag><StmtText>{escape(t)}</StmtText>"
            "</DiagnosisStatement>"
            for t in statements
        )
        + "</Diagnosis>\n"
        if statements
        else ""
    )
    text = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n'
        "<RestingECG>\n"
        "  <MuseInfo><MuseVersion>9.0.9</MuseVersion></MuseInfo>\n"
        "  <PatientDemographics><PatientID>SELFTEST</PatientID>"
        + (f"<PatientLastName>{escape(last_name)}</PatientLastName>" if last_name else "")
        + (f"<PatientFirstName>{escape(first_name)}</PatientFirstName>" if first_name else "")
        + "</PatientDemographics>\n"
        f"  <TestDemographics><AcquisitionDevice>{escape(device)}</AcquisitionDevice>"
        "<AcquisitionDate>01-02-2024</AcquisitionDate><AcquisitionTime>10:00:00</AcquisitionTime>"
        "</TestDemographics>\n" + diagnosis + "  <Waveform>\n"
        "    <WaveformType>Rhythm</WaveformType>\n"
        f"    <SampleBase>{exam.fs:g}</SampleBase>\n"
        "    <SampleExponent>0</SampleExponent>\n"
        "    <HighPassFilter>16</HighPassFilter>\n"
        "    <LowPassFilter>150</LowPassFilter>\n"
        "    <ACFilter>50</ACFilter>\n" + "".join(leads) + "  </Waveform>\n"
        "</RestingECG>\n"
    )
    _atomic_write(path, text.encode("iso-8859-1"))
    return path


_DICOM_LEAD_CODES = {  # SCPECG lead codes (DICOM CID 3001)
    "I": "5.6.3-9-1",
    "II": "5.6.3-9-2",
    "III": "5.6.3-9-61",
    "aVR": "5.6.3-9-62",
    "aVL": "5.6.3-9-63",
    "aVF": "5.6.3-9-64",
    "V1": "5.6.3-9-3",
    "V2": "5.6.3-9-4",
    "V3": "5.6.3-9-5",
    "V4": "5.6.3-9-6",
    "V5": "5.6.3-9-7",
    "V6": "5.6.3-9-8",
}


def write_dicom_ecg(exam: Exam, path: str | os.PathLike) -> Path:
    """Write ``exam`` as a DICOM 12-lead ECG Waveform Storage file; returns the path."""
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    path = Path(path)
    counts = _counts(exam, LEADS, DICOM_UV_PER_COUNT)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.9.1.1"  # 12-lead ECG Waveform Storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "ECG"
    ds.PatientID = "SELFTEST"
    ds.PatientSex = "O"
    ds.Manufacturer = "ecgviewer"
    ds.ManufacturerModelName = "self-test"
    ds.AcquisitionDateTime = "20240201100000"
    wf = Dataset()
    wf.MultiplexGroupLabel = "RHYTHM"
    wf.WaveformOriginality = "ORIGINAL"
    wf.NumberOfWaveformChannels = counts.shape[1]
    wf.NumberOfWaveformSamples = counts.shape[0]
    wf.SamplingFrequency = f"{exam.fs:g}"
    wf.WaveformBitsAllocated = 16
    wf.WaveformSampleInterpretation = "SS"
    channels = []
    for name in LEADS:
        ch = Dataset()
        src = Dataset()
        src.CodeValue = _DICOM_LEAD_CODES[name]
        src.CodingSchemeDesignator = "SCPECG"
        src.CodeMeaning = f"Lead {name}"
        ch.ChannelSourceSequence = [src]
        ch.ChannelSensitivity = f"{DICOM_UV_PER_COUNT:g}"
        unit = Dataset()
        unit.CodeValue = "uV"
        unit.CodingSchemeDesignator = "UCUM"
        unit.CodeMeaning = "microvolt"
        ch.ChannelSensitivityUnitsSequence = [unit]
        ch.ChannelSensitivityCorrectionFactor = "1"
        ch.ChannelBaseline = "0"
        ch.WaveformBitsStored = 16
        channels.append(ch)
    wf.ChannelDefinitionSequence = channels
    wf.WaveformData = counts.tobytes()
    ds.WaveformSequence = [wf]
    tmp = path.with_name(f".{path.name}.tmp")
    ds.save_as(str(tmp), enforce_file_format=True)
    os.replace(tmp, path)
    return path


__all__ = ["write_dicom_ecg", "write_muse_xml"]
