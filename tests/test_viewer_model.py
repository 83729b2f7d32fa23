"""The Qt-free viewer model: view settings, events, and a headless open → analyse → explain →
label → report run in a fresh interpreter with no QApplication (the PDF writer makes a bare
QGuiApplication)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ecgviewer.viewer import ViewerModel, ViewSettings

REPO = Path(__file__).resolve().parents[1]


def test_view_settings_emit_per_field_and_refuse_values_the_viewer_does_not_offer() -> None:
    view = ViewSettings()
    seen: list[float] = []
    view.events.gain.connect(seen.append)
    assert view.next_gain() == 20.0
    assert view.next_gain() == 5.0
    assert seen == [20.0, 5.0]
    assert view.next_speed() == 50.0
    with pytest.raises(ValueError, match="gain 7"):
        ViewSettings(gain=7)
    with pytest.raises(ValueError, match="layout"):
        ViewSettings(layout="4x3")


def test_viewer_model_announces_sets_and_exams(tmp_path: Path) -> None:
    vm = ViewerModel()
    sizes: list[int] = []
    exams: list[object] = []
    vm.events.sets_changed.connect(sizes.append)
    vm.events.exam_changed.connect(exams.append)
    rows = vm.open(REPO / "resources" / "example" / "example_exam.hea")
    assert list(rows) == [0] and sizes == [1]
    exam = vm.show(0)
    assert exams == [exam] and vm.exam is exam and vm.row == 0
    assert exam.signal_mv.shape[1] == 12
    with pytest.raises(ValueError, match="no model"):
        vm.analyse()
    vm.close_all()
    assert sizes == [1, 0] and vm.exam is None and len(vm.workspace) == 0


HEADLESS = """
import sys
from pathlib import Path
import numpy as np
from ecgviewer.viewer import ViewerModel

out = Path(sys.argv[1])
vm = ViewerModel()
events = []
for name in ("sets_changed", "exam_changed", "model_changed", "prediction_changed",
             "saliency_changed", "labels_changed"):
    getattr(vm.events, name).connect(lambda *a, n=name: events.append(n))
vm.open(Path("resources/example/example_exam.hea"))
vm.show(0)
vm.load_model()
pred = vm.analyse()
assert pred.probabilities.shape == (6,), pred.probabilities.shape
assert not np.isnan(vm.workspace.probabilities[0]).any()
sal = vm.explain(segments=4, max_evals=16, disk=False)
assert sal.values.shape[:2] == (6, 12), sal.values.shape
labels = out / "labels.csv"
labels.write_text("exam_id,1dAVb,RBBB,LBBB,SB,AF,ST\\nexample_exam,0,1,0,0,0,0\\n")
vm.add_labels(labels, name="Cardiologist")
cmp = vm.comparison()
assert "Cardiologist" in cmp.columns, cmp.columns
assert cmp.columns[0] == pred.model_name
vm.view.gain = 20.0
pdf = vm.report(out / "exam.pdf")
assert pdf.read_bytes()[:5] == b"%PDF-"
from PySide6.QtCore import QCoreApplication
app = QCoreApplication.instance()  # the PDF writer's bare QGuiApplication, never a QApplication
assert type(app).__name__ == "QGuiApplication", type(app)
print(" ".join(dict.fromkeys(events)))
"""


def test_headless_viewer_opens_analyses_explains_labels_and_reports(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(HEADLESS), str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == [
        "sets_changed",
        "exam_changed",
        "prediction_changed",
        "model_changed",
        "saliency_changed",
        "labels_changed",
    ]
    assert (tmp_path / "exam.pdf").stat().st_size > 10_000


def test_viewer_package_imports_no_qt() -> None:
    code = (
        "import sys, ecgviewer.viewer, ecgviewer.viewer.filtering;"
        "print(sorted(m for m in sys.modules if m.startswith('PySide6')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
