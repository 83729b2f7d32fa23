"""``ecgviewer --self-test``: every step reported with its timing, failures named, exit code."""

from __future__ import annotations

import io

import pytest

from ecgviewer import selftest
from ecgviewer.errors import ModelError

STEPS = [
    "installation",
    "bundled model",
    "example exam",
    "XML and DICOM",
    "inference",
    "SHAP (low res)",
    "PDF report",
    "HDF5 round trip",
    "Qt plugins",
]


@pytest.fixture
def fast_shap(monkeypatch):
    """Replace the SHAP run by a stand-in with the real Saliency shape and the model's own probabilities."""
    import numpy as np

    import ecgviewer.explain as explain_mod

    def fake_explain(model, x, *, segments=32, **kwargs):
        classes = model.contract.classes
        values = np.full((len(classes), 12, segments), 0.01, dtype=np.float32)
        edges = np.linspace(0, x.shape[0], segments + 1).astype(int)
        return explain_mod.Saliency(
            values=values,
            segment_edges=edges,
            base_values=np.zeros(len(classes), np.float32),
            probabilities=model.predict(x[None])[0],
            classes=tuple(classes),
            n_evaluations=4,
        )

    monkeypatch.setattr(explain_mod, "explain", fake_explain)


@pytest.mark.slow
def test_self_test_passes_from_the_checkout(fast_shap, tmp_path):
    out = io.StringIO()
    result = selftest.self_test(out=out, keep=tmp_path)
    text = out.getvalue()
    assert result.ok, text
    assert [s.name for s in result.steps] == STEPS
    assert "self-test passed: 9 steps" in text
    assert "provider: CPU" in text or "provider: CUDA" in text
    assert "source checkout" in text
    pdf = tmp_path / "selftest_report.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert all(s.seconds >= 0 for s in result.steps)


def test_failed_step_is_named_and_dependants_skipped(tmp_path, monkeypatch):
    import ecgviewer.model.runtime as runtime

    def broken(path=None, **kwargs):
        raise ModelError(f"{path}: not a readable ONNX model (DecodeError: truncated)")

    monkeypatch.setattr(runtime, "load_model", broken)
    out = io.StringIO()
    code = selftest.run_self_test(out=out, keep=tmp_path, verbose=False)
    text = out.getvalue()
    assert code == 1
    assert "[FAIL] bundled model" in text
    assert "ModelError:" in text and "not a readable ONNX model" in text
    assert "[skip] inference" in text and "needs model" in text
    assert "self-test FAILED at step 'bundled model'" in text
    assert "Traceback" not in text
    assert "[ ok ] example exam" in text  # independent steps still run


def test_verbose_prints_the_traceback(tmp_path, monkeypatch):
    import ecgviewer.model.runtime as runtime

    def broken(path=None, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(runtime, "load_model", broken)
    monkeypatch.setenv("ECGVIEWER_DEBUG", "1")
    out = io.StringIO()
    assert selftest.run_self_test(out=out, keep=tmp_path) == 1
    assert "Traceback" in out.getvalue() and "RuntimeError: boom" in out.getvalue()


def test_missing_model_file_fails(tmp_path):
    out = io.StringIO()
    result = selftest.self_test(out=out, keep=tmp_path, model_path=tmp_path / "absent.onnx")
    assert not result.ok
    assert result.step("bundled model").status == "FAIL"
    assert "no such model file" in result.step("bundled model").detail
    assert result.step("inference").status == "skip"


def test_cli_wires_self_test(monkeypatch):
    from ecgviewer import cli

    monkeypatch.setattr(selftest, "run_self_test", lambda: 3)
    assert cli.main(["--self-test"]) == 3


def test_clinical_step_reads_back_files_written_at_run_time(tmp_path):
    out = io.StringIO()
    result = selftest.self_test(out=out, keep=tmp_path)
    step = result.step("XML and DICOM")
    assert step.status == "ok", step.detail
    assert "selftest_muse.xml: ge-muse-xml, 8 leads" in step.detail
    assert "selftest_ecg.dcm: dicom, 12 leads" in step.detail
    assert (tmp_path / "selftest_muse.xml").read_bytes().startswith(b"<?xml")
    assert (tmp_path / "selftest_ecg.dcm").read_bytes()[128:132] == b"DICM"
