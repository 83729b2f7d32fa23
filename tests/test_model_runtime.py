"""The ONNX runtime: contracts, provider choice, input validation, batching, cancel, model list."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecgviewer.classes import CLASSES, PAPER_THRESHOLDS
from ecgviewer.errors import Cancelled, ModelError
from ecgviewer.exam import Exam
from ecgviewer.model import runtime
from ecgviewer.model.contract import ModelContract
from ecgviewer.model.runtime import (
    ModelEntry,
    Prediction,
    choose_providers,
    create_model,
    list_models,
    load_model,
    read_contract,
)
from tests.onnx_models import save_mean_linear_model


def tiny_model(
    path: Path,
    *,
    length: int = 4096,
    leads: int = 12,
    outputs: int = 6,
    contract: ModelContract | None = None,
    sigmoid: bool = True,
) -> Path:
    """A fast stand-in network: mean over time, a fixed (leads, outputs) matrix, sigmoid."""
    w = (np.arange(leads * outputs, dtype=np.float32).reshape(leads, outputs) - 30) / 100
    return save_mean_linear_model(
        path, w, graph_name="tiny", contract=contract, samples=length, sigmoid=sigmoid
    )


def tiny_reference(x: np.ndarray) -> np.ndarray:
    w = (np.arange(72, dtype=np.float32).reshape(12, 6) - 30) / 100
    return 1 / (1 + np.exp(-(x.mean(axis=1) @ w)))


CONTRACT = ModelContract(name="tiny", version="1.2", provenance="tests")


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return tiny_model(tmp_path / "tiny.onnx", contract=CONTRACT)


def _no_cuda() -> str:
    return "libcudnn.so.9 not found"


# ----------------------------------------------------------------- contract


def test_contract_read_from_metadata(tiny: Path) -> None:
    model = create_model(tiny, probe=_no_cuda)
    assert model.contract == CONTRACT
    assert model.warnings == []
    assert model.classes == CLASSES
    np.testing.assert_allclose(model.thresholds, PAPER_THRESHOLDS)
    assert "tiny (version 1.2)" in model.describe()


def test_bare_graph_accepted_with_paper_defaults_and_warning(tmp_path: Path) -> None:
    path = tiny_model(tmp_path / "bare.onnx")
    model = create_model(path, probe=_no_cuda)
    assert model.contract.thresholds == PAPER_THRESHOLDS
    assert model.contract.input_shape == (-1, 4096, 12)
    assert model.contract.fs == 400.0 and model.contract.units == "mV"
    assert model.input_scale_per_mv == 1.0
    assert model.contract.version == "unknown"
    assert len(model.warnings) == 1 and "no 'ecgviewer.contract' metadata" in model.warnings[0]
    x = np.random.default_rng(0).normal(size=(3, 4096, 12)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), tiny_reference(x), atol=1e-6)


def test_graph_without_contract_and_other_shape_refused(tmp_path: Path) -> None:
    path = tiny_model(tmp_path / "other.onnx", length=1000, leads=8, outputs=3)
    with pytest.raises(ModelError, match=r"other\.onnx.*no 'ecgviewer.contract' metadata.*import-keras"):
        create_model(path, probe=_no_cuda)


def test_wrong_input_shape_refused(tmp_path: Path) -> None:
    path = tiny_model(tmp_path / "short.onnx", length=2048, contract=CONTRACT)
    with pytest.raises(
        ModelError, match=r"short\.onnx: wrong input shape \(N, 2048, 12\); expected \(N, 4096, 12\)"
    ):
        create_model(path, probe=_no_cuda)


def test_wrong_output_shape_refused(tmp_path: Path) -> None:
    path = tiny_model(tmp_path / "five.onnx", outputs=5, contract=CONTRACT)
    with pytest.raises(ModelError, match=r"wrong output shape \(N, 5\); expected \(N, 6\)"):
        create_model(path, probe=_no_cuda)


def test_contract_naming_missing_input_refused(tmp_path: Path) -> None:
    contract = ModelContract(name="x", version="1", input_name="ecg")
    path = tiny_model(tmp_path / "names.onnx", contract=contract)
    with pytest.raises(ModelError, match="names input 'ecg'"):
        create_model(path, probe=_no_cuda)


def test_not_an_onnx_file(tmp_path: Path) -> None:
    bad = tmp_path / "junk.onnx"
    bad.write_bytes(b"\x00not a model at all" * 10)
    with pytest.raises(ModelError, match=r"junk\.onnx: not a readable ONNX model"):
        load_model(bad)
    with pytest.raises(ModelError, match="no such model file"):
        load_model(tmp_path / "absent.onnx")


# ----------------------------------------------------------------- providers


def test_provider_choice_cuda_absent_falls_back_to_cpu_with_reason(tiny: Path) -> None:
    choice = choose_providers(True, probe=_no_cuda)
    assert choice.providers == ("CPUExecutionProvider",)
    assert choice.cuda_reason == "libcudnn.so.9 not found"
    model = create_model(tiny, probe=_no_cuda)
    assert model.provider == "CPU"
    assert model.provider_note == "CPU (CUDA unavailable: libcudnn.so.9 not found)"


def test_provider_choice_cuda_usable_asks_for_cuda_first() -> None:
    assert choose_providers(True, probe=lambda: None).providers == (
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    )
    assert choose_providers(False, probe=lambda: None).providers == ("CPUExecutionProvider",)


def test_cpu_only_onnxruntime_gives_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime as ort

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert "no CUDA provider" in runtime.cuda_unavailable_reason()


def test_cuda_failing_at_session_creation_falls_back_silently(
    tiny: Path, capfd: pytest.CaptureFixture
) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("this onnxruntime has no CUDA provider")
    if runtime.cuda_unavailable_reason() is None:
        pytest.skip("CUDA is really usable here")
    # Pretend the probe saw nothing wrong: onnxruntime then tries CUDA itself and fails.
    model = create_model(tiny, probe=lambda: None)
    assert model.provider == "CPU"
    assert model.provider_note.startswith("CPU (CUDA unavailable: ")
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_default_load_prints_nothing_and_names_the_provider(tiny: Path, capfd: pytest.CaptureFixture) -> None:
    model = create_model(tiny)
    assert model.provider in ("CPU", "CUDA")
    if model.provider == "CPU":
        assert model.provider_note.startswith("CPU (CUDA unavailable: ") or model.provider_note == "CPU"
    assert capfd.readouterr().err == ""


def test_env_forces_cpu(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECGVIEWER_DEVICE", "cpu")
    assert (
        create_model(tiny, probe=lambda: None).provider_note == "CPU (CUDA unavailable: ECGVIEWER_DEVICE=cpu)"
    )


# ----------------------------------------------------------------- predict


def test_predict_batches_progress_and_equal_results(tiny: Path) -> None:
    model = create_model(tiny, probe=_no_cuda, threads=1)
    x = np.random.default_rng(1).normal(size=(10, 4096, 12)).astype(np.float32)
    calls: list[tuple[int, int]] = []
    p1 = model.predict(x, batch_size=4, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(4, 10), (8, 10), (10, 10)]
    p2 = model.predict(x, batch_size=1)
    assert p1.shape == (10, 6) and p1.dtype == np.float32
    np.testing.assert_allclose(p1, p2, atol=1e-7)
    np.testing.assert_allclose(p1, tiny_reference(x), atol=1e-6)
    np.testing.assert_allclose(model.predict(x.astype(np.float64), batch_size=64), p1, atol=1e-7)


def test_predict_cancel_raises_cancelled(tiny: Path) -> None:
    model = create_model(tiny, probe=_no_cuda)
    x = np.zeros((10, 4096, 12), np.float32)
    done: list[int] = []
    with pytest.raises(Cancelled, match="after 4 of 10"):
        model.predict(x, batch_size=2, progress=lambda d, t: done.append(d), cancel=lambda: len(done) >= 2)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros((4096, 12), np.float32), r"shape \(4096, 12\); expected \(N, 4096, 12\).*x\[None\]"),
        (np.zeros((2, 12, 4096), np.float32), r"shape \(2, 12, 4096\); expected \(N, 4096, 12\)"),
        (np.zeros((2, 4000, 12), np.float32), r"shape \(2, 4000, 12\)"),
        (np.full((2, 4096, 12), "a"), "dtype <U1"),
    ],
)
def test_predict_refuses_bad_input(tiny: Path, x: np.ndarray, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        create_model(tiny, probe=_no_cuda).predict(x)


def test_predict_refuses_nan_naming_the_exam(tiny: Path) -> None:
    x = np.zeros((3, 4096, 12), np.float32)
    x[2, 100, 5] = np.nan
    with pytest.raises(ModelError, match=r"NaN or infinite values in exam\(s\) 2"):
        create_model(tiny, probe=_no_cuda).predict(x)


def test_outputs_that_are_not_probabilities_are_refused(tmp_path: Path) -> None:
    path = tiny_model(tmp_path / "logits.onnx", contract=CONTRACT, sigmoid=False)
    x = np.full((1, 4096, 12), 100.0, np.float32)
    with pytest.raises(ModelError, match=r"not probabilities in \[0, 1\]"):
        create_model(path, probe=_no_cuda).predict(x)


def test_predict_exam_preprocesses_and_thresholds(tiny: Path) -> None:
    model = create_model(tiny, probe=_no_cuda)
    t = np.arange(5000) / 500.0
    signal = np.stack([np.sin(2 * np.pi * (k + 1) * t) + 0.1 * k for k in range(12)], axis=1)
    exam = Exam(signal_mv=signal, fs=500.0, exam_id="e1")
    pred = model.predict_exam(exam)
    assert isinstance(pred, Prediction)
    assert pred.input.shape == (4096, 12) and pred.input.dtype == np.float32
    assert pred.report.original_fs == 500.0 and pred.report.resample_down == 5
    np.testing.assert_allclose(pred.probabilities, tiny_reference(pred.input[None])[0], atol=1e-6)
    np.testing.assert_array_equal(
        pred.decisions, pred.probabilities > np.asarray(PAPER_THRESHOLDS, np.float32)
    )
    assert pred.classes == CLASSES and pred.model_name == "tiny" and pred.model_version == "1.2"
    assert pred.provider == "CPU" and pred.seconds >= 0
    assert set(pred.positive()) <= set(CLASSES)
    assert pred.as_dict()["prob_AF"] == pytest.approx(float(pred.probabilities[4]))


def test_prepare_follows_a_contract_in_mv_with_other_lead_order(tmp_path: Path) -> None:
    leads = ("V6", "V5", "V4", "V3", "V2", "V1", "aVF", "aVL", "aVR", "III", "II", "I")
    contract = ModelContract(name="mv", version="1", units="mV", leads=leads)
    model = create_model(tiny_model(tmp_path / "mv.onnx", contract=contract), probe=_no_cuda)
    signal = np.tile(np.arange(12, dtype=np.float32), (4096, 1))  # lead k holds k mV
    x, _ = model.prepare(Exam(signal_mv=signal, fs=400.0))
    np.testing.assert_allclose(x[0], np.arange(12)[::-1], atol=1e-5)


# ----------------------------------------------------------------- cache and listing


def test_load_model_is_cached_per_path(tiny: Path) -> None:
    a = load_model(tiny, prefer_cuda=False)
    assert load_model(tiny, prefer_cuda=False) is a
    assert load_model(tiny, prefer_cuda=False, threads=1) is not a


def test_list_models_bundled_and_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ecgviewer.paths import user_models_dir

    monkeypatch.setenv("ECGVIEWER_HOME", str(tmp_path / "home"))

    tiny_model(user_models_dir() / "mine.onnx", contract=ModelContract(name="Mine", version="7"))
    (user_models_dir() / "broken.onnx").write_bytes(b"nope")
    entries = list_models()
    by_path = {e.path.name: e for e in entries}
    assert by_path["mine.onnx"] == ModelEntry("Mine", user_models_dir() / "mine.onnx", False, "7", "")
    assert by_path["broken.onnx"].problem and "not a readable ONNX model" in by_path["broken.onnx"].problem
    bundled = runtime.bundled_model_path()
    if bundled.is_file():
        assert entries[0].bundled and entries[0].path == bundled and entries[0].problem is None


def test_bundled_model_loads_with_full_contract() -> None:
    path = runtime.bundled_model_path()
    if not path.is_file():
        pytest.skip("the bundled model is not in this checkout yet")
    contract, warnings = read_contract(path)
    assert warnings == []
    assert contract.input_name == "signal" and contract.output_name == "probabilities"
    assert contract.input_shape == (-1, 4096, 12) and contract.classes == CLASSES
    model = load_model(prefer_cuda=False)
    probs = model.predict(np.zeros((2, 4096, 12), np.float32))
    assert probs.shape == (2, 6) and np.all((probs >= 0) & (probs <= 1))
