"""The optional OpenVINO bf16 backend: choice by CPU, install and contract; the fidelity check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecgviewer.model import backends
from ecgviewer.model.runtime import bundled_model_path, create_model, read_contract

PASSED = {"bf16_fidelity": {"max_abs_dp": 0.003, "n_exams": 300, "tolerance": 0.01, "passed": True}}


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(backends.ENV_VAR, raising=False)


def test_cpu_flags_decide_bf16() -> None:
    assert backends.cpu_has_bf16({"avx2", "avx512f", "avx512_bf16"})
    assert backends.cpu_has_bf16({"amx_bf16", "amx_tile"})
    assert not backends.cpu_has_bf16({"avx2", "fma", "avx512f", "avx512_vnni"})


def test_openvino_bf16_only_when_everything_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    bf16_cpu = {"avx512_bf16"}
    choice = backends.choose_backend(PASSED, flags=bf16_cpu, have_openvino=True)
    assert (choice.engine, choice.precision, choice.note) == ("openvino", "bf16", "OpenVINO bf16")
    assert "AVX-512 BF16" in backends.choose_backend(PASSED, flags={"avx2"}, have_openvino=True).reason
    assert "not installed" in backends.choose_backend(PASSED, flags=bf16_cpu, have_openvino=False).reason
    assert "fidelity" in backends.choose_backend({}, flags=bf16_cpu, have_openvino=True).reason
    failed = {"bf16_fidelity": {**PASSED["bf16_fidelity"], "max_abs_dp": 0.022, "passed": False}}
    assert backends.choose_backend(failed, flags=bf16_cpu, have_openvino=True).engine == "onnxruntime"
    lying = {"bf16_fidelity": {**PASSED["bf16_fidelity"], "max_abs_dp": 0.5}}  # passed, but outside tolerance
    assert backends.choose_backend(lying, flags=bf16_cpu, have_openvino=True).engine == "onnxruntime"
    assert (
        backends.choose_backend(PASSED, using_cuda=True, flags=bf16_cpu, have_openvino=True).engine
        == "onnxruntime"
    )
    monkeypatch.setenv(backends.ENV_VAR, "0")
    assert backends.choose_backend(PASSED, flags=bf16_cpu, have_openvino=True).engine == "onnxruntime"


def test_fidelity_check_and_record(tmp_path: Path) -> None:
    exams = np.random.default_rng(0).normal(0, 1, (10, 4096, 12)).astype(np.float32)

    def reference(b: np.ndarray) -> np.ndarray:
        return np.full((len(b), 6), 0.5, np.float32)

    record = backends.bf16_fidelity(reference, lambda b: reference(b) + 0.004, exams, batch_size=3)
    assert record["passed"] and record["n_exams"] == 10 and abs(record["max_abs_dp"] - 0.004) < 1e-6
    drifted = backends.bf16_fidelity(reference, lambda b: reference(b) + 0.022, exams)
    assert not drifted["passed"] and drifted["tolerance"] == backends.BF16_TOLERANCE
    with pytest.raises(ValueError):
        backends.bf16_fidelity(reference, reference, exams[0])

    path = tmp_path / "m.onnx"
    path.write_bytes(bundled_model_path().read_bytes())
    backends.record_bf16_fidelity(path, record)
    contract, _ = read_contract(path)
    assert contract.extra["bf16_fidelity"]["passed"] is True
    assert backends.fidelity_passed(contract.extra)


def test_runtime_uses_openvino_on_a_bf16_cpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With a (mocked) bf16 CPU and a checked model, the runtime runs OpenVINO and says so."""
    pytest.importorskip("openvino")
    path = tmp_path / "m.onnx"
    path.write_bytes(bundled_model_path().read_bytes())
    backends.record_bf16_fidelity(path, PASSED["bf16_fidelity"])
    monkeypatch.setattr(backends, "cpu_flags", lambda: {"avx512_bf16"})
    made: list[str] = []

    class Fp32Session(backends.OpenVinoSession):  # this CPU has no bf16: run the OpenVINO path in fp32
        def __init__(self, source, precision="bf16", threads=0) -> None:
            made.append(precision)
            super().__init__(source, "fp32", threads)

    monkeypatch.setattr(backends, "OpenVinoSession", Fp32Session)
    model = create_model(path, prefer_cuda=False, threads=1, conv2d=False)
    assert made == ["bf16"] and model.provider_note == "CPU, OpenVINO bf16"
    x = np.random.default_rng(1).normal(0, 0.3, (3, 4096, 12)).astype(np.float32)
    reference = create_model(bundled_model_path(), prefer_cuda=False, threads=1, conv2d=False).predict(x)
    np.testing.assert_allclose(model.predict(x), reference, atol=1e-5, rtol=0)


def test_no_openvino_on_this_kind_of_cpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(bundled_model_path().read_bytes())
    backends.record_bf16_fidelity(path, PASSED["bf16_fidelity"])
    monkeypatch.setattr(backends, "cpu_flags", lambda: {"avx2", "fma"})
    model = create_model(path, prefer_cuda=False, threads=1)
    assert "OpenVINO" not in model.provider_note


def _calibration_folder(tmp_path: Path) -> Path:
    from ecgviewer.synth import synth_exam, write_wfdb

    folder = tmp_path / "calibration"
    folder.mkdir(exist_ok=True)
    write_wfdb(synth_exam(seed=3), folder, "exam")
    return folder


def test_import_keras_bf16_records_the_check(
    keras_fixture_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``import-keras --bf16 --calibrate FOLDER`` measures bf16 on the folder's exams and writes the
    result into the installed model's contract; the runtime reads it from there."""
    from ecgviewer.cli import main

    monkeypatch.setenv("ECGVIEWER_HOME", str(tmp_path / "home"))
    seen: list[tuple[str, tuple[int, ...]]] = []

    def fake_check(path, exams, *, tolerance=backends.BF16_TOLERANCE):
        seen.append((Path(path).name, exams.shape))
        record = {**PASSED["bf16_fidelity"], "max_abs_dp": 0.004, "n_exams": len(exams), "engine": "fake"}
        backends.record_bf16_fidelity(path, record)
        return record

    monkeypatch.setattr(backends, "check_and_record_bf16", fake_check)
    folder = _calibration_folder(tmp_path)
    src = keras_fixture_dir / "ribeiro_random_keras224.hdf5"
    assert main(["import-keras", str(src), "--bf16", "--calibrate", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "max |Δp| 0.004" in out and "passed" in out
    assert seen == [("ribeiro_random_keras224.onnx", (1, 4096, 12))]
    installed = tmp_path / "home" / "models" / "ribeiro_random_keras224.onnx"
    contract, _ = read_contract(installed)
    assert backends.fidelity_passed(contract.extra) and contract.extra["bf16_fidelity"]["n_exams"] == 1


def test_import_keras_bf16_needs_exams_and_says_when_it_cannot_check(
    keras_fixture_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ecgviewer.cli import main

    monkeypatch.setenv("ECGVIEWER_HOME", str(tmp_path / "home"))
    src = keras_fixture_dir / "ribeiro_random_keras224.hdf5"
    assert main(["import-keras", str(src), "--bf16"]) == 2
    assert "--bf16 needs --calibrate" in capsys.readouterr().err
    monkeypatch.setattr(backends, "cpu_flags", lambda: {"avx2"})  # no bf16 on this (mocked) CPU
    assert main(["import-keras", str(src), "--bf16", "--calibrate", str(_calibration_folder(tmp_path))]) == 0
    err = capsys.readouterr().err
    assert "bf16 not checked" in err
    contract, _ = read_contract(tmp_path / "home" / "models" / "ribeiro_random_keras224.onnx")
    assert "bf16_fidelity" not in contract.extra


def test_openvino_session_finds_an_output_by_any_of_its_names(keras_fixture_onnx: Path) -> None:
    """A Keras import's output tensor also carries the name of the node that makes it; OpenVINO
    may report that one first, and the runtime asks for the contract's name."""
    pytest.importorskip("openvino")
    path = keras_fixture_onnx
    reference = create_model(path, prefer_cuda=False, threads=1, conv2d=False)
    session = backends.OpenVinoSession(path, "fp32", threads=1)
    model = type(reference)(path=path, contract=reference.contract, session=session)
    x = np.random.default_rng(2).normal(0, 0.3, (2, 4096, 12)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), reference.predict(x), atol=1e-5, rtol=0)
