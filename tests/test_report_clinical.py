"""Clinical files in the report and the headless viewer: the cart's statements beside the findings,
the acquisition, and patient identifiers only on request (``report --identifiers``)."""

from __future__ import annotations

import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
from conftest import write_cart_muse_file

from ecgviewer.io import read_exam
from ecgviewer.io.clinical_samples import write_dicom_ecg
from ecgviewer.synth import synth_exam
from ecgviewer.viewer.clinical import acquisition_text, device_reading, identity_text, info_rows

needs_pdftotext = pytest.mark.skipif(not shutil.which("pdftotext"), reason="pdftotext not installed")
STATEMENTS = ("ATRIAL FIBRILLATION WITH RAPID VENTRICULAR RESPONSE", "ABNORMAL ECG")


def pdf_text(path: Path) -> str:
    out = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout
    return " ".join(unicodedata.normalize("NFKC", out).split())  # one line: wrapped text reads on


@pytest.fixture(scope="module")
def muse_file(tmp_path_factory) -> Path:
    """A small GE MUSE file with the cart's statements and a patient name."""
    return write_cart_muse_file(tmp_path_factory.mktemp("muse") / "cart_af.xml", STATEMENTS, seed=11)


def test_viewer_texts_of_a_clinical_exam(muse_file: Path) -> None:
    exam = read_exam(muse_file)
    reading = device_reading(exam)
    assert reading is not None and reading.heading == "device (MAC 5500)"
    assert reading.statements == tuple(f"device (MAC 5500): {s}" for s in STATEMENTS)
    assert reading.source == "automatic analysis"
    rows = dict(info_rows(exam))
    assert rows["Device"] == "MAC 5500" and rows["Acquired"] == "2024-01-02T10:00:00"
    assert "Patient name" not in rows and rows["Patient identifiers"].startswith("hidden")
    shown = dict(info_rows(exam, identifiers=True))
    assert shown["Patient name"] == "Jane Doe" and shown["Patient ID"] == "SELFTEST"
    assert identity_text(exam) == "" and identity_text(exam, identifiers=True) == "Jane Doe · ID SELFTEST"
    assert acquisition_text(exam) == "acquired 2024-01-02T10:00:00 · MAC 5500"
    # a file without statements has no reading; a non-clinical exam has no rows at all
    plain = read_exam(
        write_dicom_ecg(synth_exam([], fs=500.0, duration_s=10.0, seed=2), muse_file.with_suffix(".dcm"))
    )
    assert device_reading(plain) is None and dict(info_rows(plain))["Device"] == "ecgviewer self-test"
    synthetic = synth_exam([], fs=500.0, duration_s=10.0, seed=2)
    assert info_rows(synthetic) == [] and device_reading(synthetic) is None


@needs_pdftotext
def test_report_cli_device_statements_and_identifiers_only_on_request(
    muse_file: Path, tmp_path: Path
) -> None:
    from ecgviewer.cli import main

    out = tmp_path / "cart.pdf"
    assert main(["report", str(muse_file), "--out", str(out), "--no-shap", "--cpu", "--quiet"]) == 0
    text = pdf_text(out)
    assert f"device (MAC 5500): {STATEMENTS[0]}" in text and STATEMENTS[1] in text
    assert "not the network's" in text and "Findings of the network" in text
    assert "2024-01-02T10:00:00 · MAC 5500" in text and "0.16–150 Hz, notch 50 Hz" in text
    assert "patient identifiers: not included" in text
    assert "Doe" not in text and "SELFTEST" not in text
    named = tmp_path / "cart_named.pdf"
    args = ["report", str(muse_file), "--out", str(named), "--no-shap", "--cpu", "--quiet", "--identifiers"]
    assert main(args) == 0
    text = pdf_text(named)
    assert "Jane Doe, ID SELFTEST" in text and "patient identifiers: included" in text
    assert f"device (MAC 5500): {STATEMENTS[0]}" in text
    # the set report's exam pages carry the device's reading too, and no name
    pages = tmp_path / "set.pdf"
    args = ["report", str(muse_file), "--all", "--pages", "--out", str(pages), "--cpu", "--quiet"]
    assert main(args) == 0
    text = pdf_text(pages)
    assert f"device (MAC 5500): {STATEMENTS[0]}" in text and "Doe" not in text


def test_viewer_model_report_follows_the_view(muse_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("pytestqt")  # the report draws with QtGui
    from ecgviewer.viewer import ViewerModel

    vm = ViewerModel()
    vm.open([muse_file])
    vm.show(0)
    vm.load_model()
    assert vm.view.show_identifiers is False  # off by default
    hidden = vm.report(tmp_path / "hidden.pdf")
    vm.view.show_identifiers = True
    shown = vm.report(tmp_path / "shown.pdf")
    vm.close_all()
    if shutil.which("pdftotext"):
        assert "Doe" not in pdf_text(hidden) and "Jane Doe" in pdf_text(shown)


@needs_pdftotext
def test_cli_predict_and_report_on_real_dicom_and_muse(shared_data: Path, tmp_path: Path) -> None:
    from ecgviewer.cli import main

    dicom = shared_data / "clinical" / "dicom-ecg" / "example-DICOM2.dcm"
    muse = shared_data / "clinical" / "ge-muse-xml" / "braveheart_example1.xml"
    if not dicom.is_file() or not muse.is_file():
        pytest.skip("clinical samples absent")
    csv = tmp_path / "p.csv"
    assert main(["predict", str(dicom), str(muse), "--out", str(csv), "--cpu", "--quiet"]) == 0
    lines = csv.read_text().splitlines()
    assert len(lines) == 3 and lines[1].startswith("example-DICOM2,") and lines[2].startswith("braveheart")
    out = tmp_path / "dicom.pdf"
    assert main(["report", str(dicom), "--out", str(out), "--no-shap", "--cpu", "--quiet"]) == 0
    text = pdf_text(out)
    assert "device (GE MAC55): ATRIAL FIBRILLATION" in text
    assert "2006-02-01T10:24:03+01:00 · GE MAC55" in text and "VUMC" in text
    assert "66954" not in text  # the file's patient id (and name) stay out
    out = tmp_path / "muse.pdf"
    assert main(["report", str(muse), "--out", str(out), "--no-shap", "--cpu", "--quiet"]) == 0
    text = pdf_text(out)  # measurements only (the interpretation was stripped from this file)
    assert "device measurements: Heart rate (bpm): 48" in text and "0.16–150 Hz, notch 60 Hz" in text


@needs_pdftotext
def test_confirming_physician_named_only_with_identifiers(shared_data: Path, tmp_path: Path) -> None:
    from ecgviewer.cli import main

    philips = shared_data / "clinical" / "philips-sierra-xml" / "ad4d3d80-d165_1-04_orig.xml"
    if not philips.is_file():
        pytest.skip("clinical samples absent")
    exam = read_exam(philips)
    assert device_reading(exam).interpreter == ""  # a person's name: only on request
    assert device_reading(exam, identifiers=True).interpreter == "Masoudi, Frederick, MD,MSPH"
    assert device_reading(exam).source == "confirmed by a physician"
    plain, named = tmp_path / "plain.pdf", tmp_path / "named.pdf"
    base = ["report", str(philips), "--no-shap", "--cpu", "--quiet", "--out"]
    assert main([*base, str(plain)]) == 0 and main([*base, str(named), "--identifiers"]) == 0
    text = pdf_text(plain)
    assert "confirmed by a physician: SINUS BRADYCARDIA" in text and "Masoudi" not in text
    assert "ZZDEMO" not in text and "1976-01-01" not in text  # birth date of this file
    text = pdf_text(named)
    assert "confirmed by Masoudi" in text and "born 1976-01-01" in text
