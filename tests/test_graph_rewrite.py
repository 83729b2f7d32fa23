"""The load-time 1×k Conv2D rewrite: same outputs as the original graph, an escape hatch."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from ecgviewer.model.graph_rewrite import ENV_VAR, conv1d_as_conv2d, conv2d_enabled, session_source
from ecgviewer.model.keras_import import convert_keras, save_onnx
from ecgviewer.model.runtime import bundled_model_path, create_model


def _run(source: str | bytes, x: np.ndarray) -> np.ndarray:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    session = ort.InferenceSession(source, so, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _exams(n: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    t = np.arange(4096) / 400
    beat = np.sin(2 * np.pi * 1.2 * t)[None, :, None] ** 15  # spiky, ECG-like amplitudes in mV
    return (beat * rng.uniform(0.5, 2, (n, 1, 12)) + rng.normal(0, 0.05, (n, 4096, 12))).astype(np.float32)


def _check(path: Path) -> None:
    original = onnx.load(str(path))
    rewritten = conv1d_as_conv2d(original)
    ops = Counter(n.op_type for n in rewritten.graph.node)
    assert ops["Conv"] == Counter(n.op_type for n in original.graph.node)["Conv"]
    for node in rewritten.graph.node:
        if node.op_type == "Conv":
            shape = next(a.ints for a in node.attribute if a.name == "kernel_shape")
            assert len(shape) == 2 and shape[0] == 1
    assert ops["Unsqueeze"] == 1 and ops["Squeeze"] <= 1  # the trunk goes 4-D once
    x = _exams(5)
    np.testing.assert_allclose(_run(rewritten.SerializeToString(), x), _run(str(path), x), atol=1e-6, rtol=0)


def test_bundled_model_rewrite_is_exact() -> None:
    _check(bundled_model_path())


def test_keras_import_rewrite_is_exact(shared_data: Path, tmp_path: Path) -> None:
    fixture = shared_data / "keras-fixture" / "ribeiro_random_keras224.hdf5"
    if not fixture.is_file():
        pytest.skip("keras fixture not beside the checkout")
    _check(save_onnx(convert_keras(fixture), tmp_path / "fixture.onnx"))


def test_escape_hatch(monkeypatch: pytest.MonkeyPatch) -> None:
    path = bundled_model_path()
    monkeypatch.setenv(ENV_VAR, "0")
    assert not conv2d_enabled()
    assert session_source(path) == str(path)
    monkeypatch.setenv(ENV_VAR, "1")
    assert conv2d_enabled()
    assert isinstance(session_source(path), bytes)
    assert session_source(path, conv2d=False) == str(path)
    x = _exams(2)
    a = create_model(path, prefer_cuda=False, threads=1, conv2d=False).predict(x)
    b = create_model(path, prefer_cuda=False, threads=1, conv2d=True).predict(x)
    np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)


def test_graph_without_1d_convolutions_is_left_alone(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert session_source(path, conv2d=True) == str(path)
