"""The published models in the viewer: File → Import Model…, ensembles in the findings panel, and
a model of other classes (here two) in every view and in the report (pytest-qt, offscreen)."""

from __future__ import annotations

import dataclasses
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from conftest import WINDOW_WAIT_MS, new_main_window
from test_model_ensemble import PAPER, member_model

from ecgviewer.classes import CLASSES
from ecgviewer.errors import Cancelled
from ecgviewer.model.runtime import create_model
from ecgviewer.paths import user_models_dir
from ecgviewer.synth import write_hdf5_code

pytestmark = pytest.mark.gui
WAIT_MS = WINDOW_WAIT_MS
TWO = ("abnormal", "AF")  # a model's own class (no label source knows it) and one of the paper's


def pdf_text(path: Path) -> str:
    """Every page's text, read back with QtPdf (no poppler needed)."""
    from PySide6.QtPdf import QPdfDocument

    doc = QPdfDocument()
    assert doc.load(str(path)) == QPdfDocument.Error.None_, path
    text = "\n".join(doc.getAllText(i).text() for i in range(doc.pageCount()))
    doc.close()
    return text


@pytest.fixture
def window(qtbot, dialogs):
    w = new_main_window(qtbot)
    yield w
    w.close()


def open_and_wait(qtbot, window, paths) -> None:
    with qtbot.waitSignal(window.analysis_finished, timeout=WAIT_MS):
        window.open_paths([str(p) for p in paths])


def use(qtbot, window, load) -> None:
    """Make a model (or ensemble) active and wait until the exam on screen is analysed with it."""
    with qtbot.waitSignal(window.model_changed, timeout=WAIT_MS):
        load()
    if window.current_exam is not None:
        qtbot.waitUntil(
            lambda: (
                window.current_prediction is not None
                and window.current_prediction.model_name == window.model.contract.name
            ),
            timeout=WAIT_MS,
        )


@pytest.fixture(scope="module")
def exams(tmp_path_factory) -> tuple[Path, Path]:
    """Three exams in the CODE layout and their six-class labels (exam_id, 1dAVb … ST)."""
    root = tmp_path_factory.mktemp("exams")
    labels = root / "labels.csv"
    return write_hdf5_code(root / "set.h5", 3, seed=4, n_distinct=3, labels_csv=labels), labels


# ----------------------------------------------------------------------------- import


@pytest.fixture(scope="module")
def model_zip(shared_data: Path, tmp_path_factory) -> Path:
    """A zip laid out like Zenodo's model.zip: the Keras fixture, a renamed copy, a truncated member."""
    fixture = shared_data / "keras-fixture" / "ribeiro_random_keras224.hdf5"
    if not fixture.is_file():
        pytest.skip("the Keras fixture is not beside the checkout")
    data = fixture.read_bytes()
    path = tmp_path_factory.mktemp("zip") / "model.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("model/model.hdf5", data)
        zf.writestr("model/other_seeds/model_3.hdf5", data)  # a renamed copy: the same sha256
        zf.writestr("model/other_splits/model_individual_patients.hdf5", data[: len(data) // 3])
    return path


@pytest.mark.slow  # converts the Keras fixture once (a few seconds)
def test_import_model_installs_the_zip_and_refreshes_the_selector(qtbot, window, model_zip):
    assert window.model_import.act_import in window.menu_file.actions()
    with qtbot.waitSignal(window.model_import.imported, timeout=WAIT_MS) as got:
        window.model_import.import_file(model_zip)
    results = got.args[0]
    dlg = window.model_import.summary
    assert dlg is not None
    rows = {file: (name, status, detail) for file, name, status, detail in dlg.rows()}
    assert rows["model/model.hdf5"][:2] == ("Ribeiro 2020 — main model", "installed")
    name, status, detail = rows["model/other_seeds/model_3.hdf5"]
    assert (name, status) == ("Ribeiro 2020 — seed 3", "already installed") and "same sha256" in detail
    name, status, detail = rows["model/other_splits/model_individual_patients.hdf5"]
    assert (name, status) == ("Ribeiro 2020 — split by patient", "failed")
    failed = [r for r in results if r.status == "failed"]
    assert [r.message for r in failed] == [detail]
    assert detail.startswith("model/other_splits/model_individual_patients.hdf5:")
    assert len(detail.splitlines()) == 1
    # the selector lists what was installed, and the window says how it went
    sel = window.findings.selector
    labels = [sel.itemText(i) for i in range(sel.count())]
    assert any(t.startswith("Ribeiro 2020 — main model") for t in labels)
    assert "1 installed, 1 already installed, 1 failed" in window.statusBar().currentMessage()
    dlg.close()


def test_closing_the_window_cancels_the_import(qtbot, dialogs, tmp_path, monkeypatch):
    started = threading.Event()

    def slow_import(path, progress=None, cancel=None, **_):
        started.set()
        while not cancel():  # a conversion in progress: it checks cancel between members
            threading.Event().wait(0.01)
        raise Cancelled("import cancelled after 0 of 3 models")

    monkeypatch.setattr("ecgviewer.model.install.import_models", slow_import)
    w = new_main_window(qtbot)
    source = tmp_path / "model.zip"
    source.write_bytes(b"PK")
    task = w.model_import.import_file(source)
    qtbot.waitUntil(started.is_set, timeout=WAIT_MS)
    with qtbot.waitSignal(task.signals.finished, timeout=WAIT_MS):
        w.close()
    assert task.state == "cancelled"


# ----------------------------------------------------------------------------- ensembles


@pytest.fixture
def members() -> list[Path]:
    """Three fast stand-in models with the paper's contract (their outputs differ)."""
    return [member_model(user_models_dir() / f"seed{i}.onnx", i, PAPER) for i in range(1, 4)]


def test_ensemble_findings_show_mean_spread_and_agreement(qtbot, window, members, exams, tmp_path):
    from ecgviewer.ui.findings import CHOOSE_ENSEMBLE, KIND_ROLE, EnsembleChoice

    open_and_wait(qtbot, window, [exams[0]])
    window.analysis.refresh_models()
    sel = window.findings.selector
    choose = next(i for i in range(sel.count()) if sel.itemData(i, KIND_ROLE) == "choose")
    assert sel.itemText(choose) == CHOOSE_ENSEMBLE
    dlg = window.findings.choose_ensemble()
    dlg.set_checked(members)
    dlg.name_edit.setText("Three seeds")
    dlg.save_check.setChecked(True)
    use(qtbot, window, dlg.accept)
    pred = window.current_prediction
    assert pred.n_members == 3
    # the arithmetic, against numpy on the members' own outputs
    x = window.current_input[0]
    each = np.stack([create_model(p, prefer_cuda=False).predict(x[None])[0] for p in members])
    thresholds = np.asarray(PAPER.thresholds, np.float32)
    bars = window.findings.bars
    assert [b.cls for b in bars] == list(CLASSES)
    for k, bar in enumerate(bars):
        np.testing.assert_allclose(bar.value, each[:, k].mean(), rtol=0, atol=1e-6)
        assert bar.spread == (float(each[:, k].min()), float(each[:, k].max()))
        assert bar.agreement == f"{int((each[:, k] > thresholds[k]).sum())} of 3 positive"
        assert bar.sizeHint().height() > 30  # room for the agreement line
    # the banner, the status bar and the model box name the ensemble and its members
    banner = window.model_banner.text()
    assert "Three seeds" in banner and all(f"seed{i}" in banner for i in (1, 2, 3))
    assert "3 members" in window.status_model.text()
    assert all(f"seed{i}.onnx" in window.findings.model_info.text() for i in (1, 2, 3))
    # saved: listed among the ensembles and selected
    assert sel.currentText().startswith("Three seeds (ensemble of 3)")
    assert sel.itemData(sel.currentIndex(), KIND_ROLE) == "ensemble"
    # the exam table holds the mean
    np.testing.assert_allclose(window.ws.probabilities[window.current_row], each.mean(axis=0), atol=1e-6)
    # the report names every member
    out = tmp_path / "ensemble.pdf"
    with qtbot.waitSignal(window.report_export.report_written, timeout=WAIT_MS):
        window.report_export.export_report(out)
    text = " ".join(pdf_text(out).split())
    assert "the mean of 3 members — seed1; seed2; seed3" in text
    # SHAP explains the ensemble's mean: its probabilities are the mean's
    with qtbot.waitSignal(window.explanation.saliency.saliency_changed, timeout=WAIT_MS):
        window.explanation.explain()
    qtbot.waitUntil(lambda: not window.explanation.saliency.is_running(), timeout=WAIT_MS)
    sal = window.explanation.saliency.saliency
    np.testing.assert_allclose(sal.probabilities, each.mean(axis=0), atol=1e-5)
    # an unsaved choice is listed as the current ensemble
    use(
        qtbot,
        window,
        lambda: window.findings.ensemble_selected.emit(EnsembleChoice("Two", tuple(members[:2]))),
    )
    assert sel.currentText() == "Two (ensemble)"
    assert window.current_prediction.n_members == 2


# ----------------------------------------------------------------------------- two classes


@pytest.fixture
def two_class_model() -> Path:
    contract = dataclasses.replace(
        PAPER, name="normal-abnormal test", classes=TWO, thresholds=(0.5, 0.5), provenance="tests"
    )
    return member_model(user_models_dir() / "two.onnx", 7, contract)


def test_a_two_class_model_in_every_view_and_the_report(qtbot, window, two_class_model, exams, tmp_path):
    from ecgviewer.viewer.filtering import FilterError

    data, labels_csv = exams
    open_and_wait(qtbot, window, [data])
    with qtbot.waitSignal(window.label_sources.labels_changed, timeout=WAIT_MS):
        window.label_sources.load_labels(labels_csv, "Gold standard", scope=None)
    use(qtbot, window, lambda: window.set_model(two_class_model))
    pred = window.current_prediction
    assert pred.classes == TWO
    # findings: two bars, the model's
    assert [b.cls for b in window.findings.bars] == list(TWO)
    assert not any(b.isVisible() for c, b in window.findings._bars.items() if c not in TWO)
    # the exam table: its two probability columns, no paper class
    cols = window.browser.model.columns
    assert "abnormal" in cols and "AF" in cols and "RBBB" not in cols
    # the filter language: the model's class words
    # every exam analysed with this model (a batch of the previous model may still be stopping)
    qtbot.waitUntil(lambda: (window.analyse_all(), bool(window.ws.analysed().all()))[1], timeout=WAIT_MS)
    p = window.ws.probabilities
    window.browser.filter_edit.setText("abnormal > 0.5")
    assert window.browser.apply_filter()
    shown = sorted(window.browser.model.ws_row(i) for i in range(window.browser.model.rowCount()))
    assert shown == [int(r) for r in np.flatnonzero(p[:, 0] > 0.5)]
    with pytest.raises(FilterError, match="unknown field 'RBBB'"):
        window.browser.model.set_filter("RBBB > 0.5")
    window.browser.filter_edit.setText("")
    assert window.browser.apply_filter()
    # SHAP's class selector
    combo = window.explanation.saliency.class_combo
    assert [combo.itemData(i) for i in range(combo.count())] == list(TWO)
    # labels: AF from the six-class gold standard, abnormal not available (never "no")
    table = window.label_sources.labels.table
    gold = np.loadtxt(labels_csv, delimiter=",", skiprows=1, dtype=int)
    row = window.current_row
    assert table.cell_text("abnormal", "Gold standard") == "n/a"
    assert table.cell_text("AF", "Gold standard") == ("yes" if gold[row, 1 + CLASSES.index("AF")] else "no")
    assert not table.is_highlighted("abnormal", "Gold standard")
    # set statistics: the labels aligned to the two classes, abnormal unknown
    from ecgviewer.ui.setstats import collect_raters

    inp = window.set_statistics.setstats_input()
    assert inp.classes == TWO and inp.decisions.shape == (3, 2)
    raters = collect_raters(inp)
    assert (raters["Gold standard"][:, 0] == -1).all()
    np.testing.assert_array_equal(raters["Gold standard"][:, 1], gold[:, 1 + CLASSES.index("AF")])
    # the report lists the two classes with the labels beside them
    out = tmp_path / "two.pdf"
    with qtbot.waitSignal(window.report_export.report_written, timeout=WAIT_MS):
        window.report_export.export_report(out)
    text = pdf_text(out)
    assert "abnormal" in text and "AF" in text
    assert "RBBB" not in text and "1dAVb" not in text
    assert "n/a" in text
