"""Clinical files in the window (pytest-qt, offscreen): the device's reading beside the findings,
patient identifiers only when asked, the median beats, File → Open and drag-and-drop."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from conftest import new_main_window, open_and_wait, write_cart_muse_file
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QFileDialog

from ecgviewer.clinical import ClinicalInfo, MedianBeats
from ecgviewer.leads import INDEPENDENT_LEADS, LEADS
from ecgviewer.synth import synth_exam
from ecgviewer.ui import settings as S  # noqa: N812
from tests.file_drops import FileDrag

pytestmark = pytest.mark.gui
WAIT_MS = 120_000
STATEMENTS = ("ATRIAL FIBRILLATION", "ABNORMAL ECG")


@pytest.fixture(scope="module")
def muse_file(tmp_path_factory) -> Path:
    return write_cart_muse_file(tmp_path_factory.mktemp("muse") / "cart.xml", STATEMENTS, seed=4)


def test_device_reading_beside_the_findings_and_identifiers_on_request(qtbot, window, muse_file, tmp_path):
    w = window
    open_and_wait(qtbot, w, [muse_file])
    panel = w.clinical.device
    # in the findings panel, under the bars, above the Model box
    layout = w.findings.layout()
    assert layout.indexOf(w.findings.bars[-1]) < layout.indexOf(panel) < layout.indexOf(w.findings.model_box)
    assert panel.isVisibleTo(w.findings)
    assert "device (MAC 5500)" in panel.heading.text() and "not the network's" in panel.heading.text()
    assert all(f"device:</span> {s}" in panel.statements.text() for s in STATEMENTS)
    assert panel.text().splitlines()[:2] == [f"device (MAC 5500): {s}" for s in STATEMENTS]
    # identifiers: hidden by default, the acquisition always shown
    w.act_report.trigger()  # the exam panel
    info = w.info.text()
    assert "MAC 5500" in info and "2024-01-02T10:00:00" in info and "0.16–150 Hz" in info
    assert "Doe" not in info and "SELFTEST" not in info and "Doe" not in w.exam_banner.text()
    assert "acquired 2024-01-02T10:00:00" in w.exam_banner.text()
    assert not w.clinical.act_identifiers.isChecked() and w.viewer.view.show_identifiers is False
    w.clinical.act_identifiers.trigger()
    assert w.viewer.view.show_identifiers is True
    assert "Jane Doe" in w.info.text() and "SELFTEST" in w.info.text()
    assert "Jane Doe · ID SELFTEST" in w.exam_banner.text()
    assert S.get_bool(w.settings, S.SHOW_IDENTIFIERS) is True  # remembered
    # the exported report follows the option
    assert w.report_export.report_arguments()["identifiers"] is True
    out = tmp_path / "named.pdf"
    with qtbot.waitSignal(w.report_export.report_written, timeout=WAIT_MS):
        w.report_export.export_report(out)
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True).stdout
        assert "Jane Doe" in text and "device (MAC 5500): ATRIAL FIBRILLATION" in text
    w.clinical.act_identifiers.trigger()  # off again: gone from the screen
    assert "Doe" not in w.info.text() and "Doe" not in w.exam_banner.text()
    assert S.get_bool(w.settings, S.SHOW_IDENTIFIERS, True) is False


def test_identifiers_setting_is_read_at_start(qtbot, tmp_path, monkeypatch, dialogs, muse_file):
    monkeypatch.setenv("ECGVIEWER_HOME", str(tmp_path / "home"))
    s = S.open_settings()
    s.setValue(S.SHOW_IDENTIFIERS, True)
    s.sync()
    w = new_main_window(qtbot)
    try:
        assert w.clinical.act_identifiers.isChecked() and w.viewer.view.show_identifiers is True
        open_and_wait(qtbot, w, [muse_file])
        assert "Jane Doe" in w.info.text()
    finally:
        w.close()


def test_median_beats_of_an_eight_lead_file(qtbot, window):
    w = window
    exam = synth_exam(["SB"], fs=500.0, duration_s=10.0, seed=6)
    t = np.arange(300) / 500.0
    beat = np.exp(-(((t - 0.3) / 0.01) ** 2)).astype(np.float32)  # an R wave at 300 ms
    signal = np.stack([beat * (k + 1) * 0.2 for k in range(8)], axis=1)
    beats = MedianBeats(signal, 500.0, INDEPENDENT_LEADS)
    exam.clinical = ClinicalInfo("GE MUSE XML", device="MAC 5500", median_beats=beats)
    assert w.median_beats.dock.isHidden()  # hidden until asked
    w.median_beats.act_median.trigger()
    assert not w.median_beats.dock.isHidden() and w.viewer.view.show_median_beats is True
    w.open_exam(exam)
    panel = w.median_beats.panel
    assert set(panel.traces) == set(LEADS)
    # I and II as stored, III = II - I derived, each on its own row's baseline; columns do not overlap
    from ecgviewer.ui.median_beats import beats_layout

    _, derived, origin = beats_layout(beats)
    assert set(derived) == {"III", "aVR", "aVL", "aVF"}
    for lead, expected in (("I", signal[:, 0]), ("II", signal[:, 1]), ("III", signal[:, 1] - signal[:, 0])):
        x, y = panel.traces[lead].getData()
        np.testing.assert_allclose(y - origin[lead][1], expected, atol=1e-6)
        assert x[-1] - x[0] == pytest.approx(299 / 500.0)
    assert panel.traces["I"].getData()[0].max() < panel.traces["aVR"].getData()[0].min()
    assert "MAC 5500" in panel.caption.text() and "III" in panel.caption.text()
    w.viewer.view.show_median_beats = False  # the view setting drives the dock
    assert w.median_beats.dock.isHidden() and not w.median_beats.act_median.isChecked()
    w.open_exam(synth_exam([], fs=500.0, duration_s=10.0, seed=1))
    assert panel.traces == {} and "no median beats" in panel.caption.text()


def test_file_open_filter_and_drag_and_drop_take_clinical_files(qtbot, window, tmp_path, monkeypatch):
    w = window
    seen = {}

    def fake_dialog(parent, caption, start, filt, *args, **kwargs):
        seen["filter"] = filt
        return [], ""

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(fake_dialog))
    w.act_open.trigger()
    first = seen["filter"].split(";;")[0]
    for ext in ("*.xml", "*.dcm", "*.scp", "*.edf", "*.hea", "*.h5", "*.csv"):
        assert ext in first
    assert "DICOM" in seen["filter"] and "SCP-ECG" in seen["filter"] and "EDF" in seen["filter"]
    opened: list[list[str]] = []
    monkeypatch.setattr(w.opening, "open_paths", lambda paths: opened.append(list(paths)))
    files = [tmp_path / f"exam{ext}" for ext in (".xml", ".dcm", ".scp", ".edf")]
    for f in files:
        f.write_bytes(b"x")
        drag = FileDrag([f], QPoint(10, 10))
        enter = drag.enter_event()
        w.dragEnterEvent(enter)
        assert enter.isAccepted(), f.name
        w.dropEvent(drag.drop_event())
    assert [Path(p[0]).name for p in opened] == [f.name for f in files]


def test_real_dicom_with_statements_and_median_beats(qtbot, window, shared_data):
    path = shared_data / "clinical" / "dicom-ecg" / "example-DICOM2.dcm"
    if not path.is_file():
        pytest.skip("clinical samples absent")
    w = window
    open_and_wait(qtbot, w, [path])
    panel = w.clinical.device
    assert panel.isVisibleTo(w.findings) and "device (GE MAC55)" in panel.heading.text()
    assert "device (GE MAC55): ATRIAL FIBRILLATION" in panel.text()
    assert "66954" not in w.info.text() + w.exam_banner.text()  # the patient's id and name
    assert "VUMC" in w.info.text() and "GE MAC55" in w.exam_banner.text()
    assert set(w.median_beats.panel.traces) == set(LEADS)
