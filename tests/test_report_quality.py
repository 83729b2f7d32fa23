"""The PDF report says when the signal is not a usable ECG, as the CLI and the viewer do."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ecgviewer.exam import Exam
from ecgviewer.model.runtime import load_model
from ecgviewer.report import write_exam_report

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs pdftotext (poppler-utils)")


def test_flat_recording_report_states_the_quality_and_withholds_decisions(tmp_path: Path) -> None:
    exam = Exam(np.zeros((5000, 12), np.float32), 500.0, exam_id="flat")
    prediction = load_model(prefer_cuda=False).predict_exam(exam)
    assert prediction.decisions_withheld and prediction.quality_note
    out = tmp_path / "flat.pdf"
    write_exam_report(out, exam, prediction)
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True).stdout
    assert "Signal quality:" in text and "decisions withheld" in text
    assert "withheld" in text and "POSITIVE" not in text
