"""The viewer's signal-quality note and the one-line message of an unexpected error."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ecgviewer.classes import CLASSES
from ecgviewer.viewer.quality_view import error_line, quality_of


def _prediction(**quality):
    n = len(CLASSES)
    probs = np.full(n, 0.9, dtype=np.float32)
    withheld = quality.get("decisions_withheld", False)
    decisions = np.zeros(n, bool) if withheld else np.ones(n, bool)
    return SimpleNamespace(
        classes=tuple(CLASSES),
        probabilities=probs,
        thresholds=np.full(n, 0.5),
        decisions=decisions,
        positive=lambda: [] if withheld else list(CLASSES),
        seconds=0.01,
        provider="CPU",
        unreliable=quality.get("unreliable", False),
        quality_note=quality.get("quality_note", ""),
        decisions_withheld=withheld,
    )


def test_findings_panel_shows_the_note_and_no_positive_when_withheld(qtbot):
    from ecgviewer.ui.findings import FindingsPanel

    panel = FindingsPanel()
    qtbot.addWidget(panel)
    note = "not a usable ECG, decisions withheld: flat: every sample is zero"
    panel.set_prediction(_prediction(unreliable=True, quality_note=note, decisions_withheld=True))
    assert panel.quality_label.text() == f"Signal quality: {note}"
    assert not panel.quality_label.isHidden()
    assert all(bar.state_text() == "withheld" for bar in panel.bars)
    assert "POSITIVE" not in panel.summary.text() and "Positive" not in panel.summary.text()
    panel.set_prediction(_prediction())
    assert panel.quality_label.isHidden()
    assert all(bar.state_text() == "POSITIVE" for bar in panel.bars)


def test_quality_of_an_exam_before_its_prediction():
    from ecgviewer.quality import assess_quality

    exam = SimpleNamespace(quality=assess_quality(np.zeros((5000, 12), np.float32), 500.0))
    view = quality_of(None, exam)
    assert view.withheld and view.line.startswith("Signal quality: not a usable ECG")


def test_error_line_is_one_line_naming_the_file(monkeypatch, capsys):
    monkeypatch.delenv("ECGVIEWER_DEBUG", raising=False)
    line = error_line(RuntimeError("boom\nsecond line"), ["/data/x.hea"])
    assert "\n" not in line and "/data/x.hea" in line and "RuntimeError: boom" in line
    assert "ECGVIEWER_DEBUG=1" in line
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("ECGVIEWER_DEBUG", "1")
    try:
        raise ValueError("bad")
    except ValueError as err:
        error_line(err, ["f.csv"])
    assert "Traceback" in capsys.readouterr().err
