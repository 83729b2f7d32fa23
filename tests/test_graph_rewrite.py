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
from tests.onnx_models import save_signal_model


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


# --------------------------------------------------------------------------- the cache of rewritten graphs


def _tiny_conv1d_model(path: Path, seed: int = 0) -> Path:
    """(N, 4096, 12) → Conv1D(12→4, k=5) → ReLU → mean over time → (N, 6) sigmoid, with a contract."""
    from onnx import helper

    from ecgviewer.model.contract import ModelContract

    rng = np.random.default_rng(seed)
    nodes = [
        helper.make_node("Transpose", ["signal"], ["t"], perm=[0, 2, 1]),
        helper.make_node("Conv", ["t", "w"], ["c"], kernel_shape=[5], pads=[2, 2]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("ReduceMean", ["r"], ["m"], axes=[2], keepdims=0),
        helper.make_node("MatMul", ["m", "d"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["probabilities"]),
    ]
    weights = {
        "w": rng.normal(size=(4, 12, 5)).astype(np.float32),
        "d": rng.normal(size=(4, 6)).astype(np.float32),
    }
    contract = ModelContract(name="tiny-conv", version="1")
    return save_signal_model(path, nodes, weights, graph_name="tiny", contract=contract, ir_version=8)


def test_second_load_uses_the_cached_rewrite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ecgviewer.model import graph_rewrite

    model = _tiny_conv1d_model(tmp_path / "tiny.onnx")
    cache = tmp_path / "cache"
    first = session_source(model, conv2d=True, cache=cache)
    assert isinstance(first, bytes)
    (entry,) = cache.glob("*.onnx")
    assert entry.name == f"{graph_rewrite.sha256_file(model)}-r{graph_rewrite.REWRITE_VERSION}.onnx"
    assert entry.read_bytes() == first
    assert not [p for p in cache.iterdir() if p.suffix == ".tmp"]  # written atomically
    monkeypatch.setattr(graph_rewrite, "_rewrite", lambda proto: pytest.fail("rewritten again"))
    second = session_source(model, conv2d=True, cache=cache)
    assert second == str(entry)
    x = _exams(3)
    np.testing.assert_array_equal(_run(second, x), _run(first, x))
    # the source's hash is remembered by file identity (memory, then hashes.json): a warm load only stats
    graph_rewrite._hash_memo.clear()
    monkeypatch.setattr(graph_rewrite, "sha256_file", lambda p: pytest.fail("hashed again"))
    assert session_source(model, conv2d=True, cache=cache) == str(entry)
    monkeypatch.undo()
    # a changed file (same size), or another rewrite version, is another entry
    _tiny_conv1d_model(model, seed=1)
    changed = session_source(model, conv2d=True, cache=cache)
    assert isinstance(changed, bytes) and changed != first
    assert len(list(cache.glob("*.onnx"))) == 2
    monkeypatch.setattr(graph_rewrite, "_rewrite", lambda proto: pytest.fail("rewritten again"))
    monkeypatch.setattr(graph_rewrite, "REWRITE_VERSION", graph_rewrite.REWRITE_VERSION + 1)
    with pytest.raises(pytest.fail.Exception, match="rewritten again"):
        session_source(model, conv2d=True, cache=cache)


def test_models_load_from_the_user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ECGVIEWER_HOME (the conftest's per-test folder) holds the cache; outputs are identical."""
    from ecgviewer.model import graph_rewrite

    model = _tiny_conv1d_model(tmp_path / "tiny.onnx")
    x = _exams(2)
    a = create_model(model, prefer_cuda=False, threads=1, conv2d=True).predict(x)
    assert len(list(graph_rewrite.graph_cache_dir().glob("*.onnx"))) == 1
    monkeypatch.setattr(graph_rewrite, "_rewrite", lambda proto: pytest.fail("rewritten again"))
    b = create_model(model, prefer_cuda=False, threads=1, conv2d=True).predict(x)
    np.testing.assert_array_equal(a, b)
    plain = create_model(model, prefer_cuda=False, threads=1, conv2d=False).predict(x)
    np.testing.assert_allclose(a, plain, atol=1e-6, rtol=0)


def test_unwritable_or_damaged_cache_falls_back_to_rewriting(tmp_path: Path) -> None:
    from ecgviewer.model import graph_rewrite

    model = _tiny_conv1d_model(tmp_path / "tiny.onnx")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    assert isinstance(session_source(model, conv2d=True, cache=blocker / "graphs"), bytes)
    # a damaged entry in the user cache: the load drops it, rewrites in memory and works
    x = _exams(2)
    good = create_model(model, prefer_cuda=False, threads=1, conv2d=True).predict(x)
    (entry,) = graph_rewrite.graph_cache_dir().glob("*.onnx")
    entry.write_bytes(entry.read_bytes()[:100])
    again = create_model(model, prefer_cuda=False, threads=1, conv2d=True).predict(x)
    np.testing.assert_array_equal(good, again)
    assert not entry.exists()


def test_graph_cache_keeps_the_most_recent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ecgviewer.model import graph_rewrite

    monkeypatch.setattr(graph_rewrite, "CACHE_KEEP", 2)
    cache = tmp_path / "cache"
    import os

    for seed in range(3):
        session_source(_tiny_conv1d_model(tmp_path / f"m{seed}.onnx", seed), conv2d=True, cache=cache)
        for k, p in enumerate(sorted(cache.glob("*.onnx"))):  # older entries, whatever the clock's grain
            os.utime(p, (1000 + k, 1000 + k))
    kept = {p.name.split("-")[0] for p in cache.glob("*.onnx")}
    assert len(kept) == 2
    assert graph_rewrite.sha256_file(tmp_path / "m2.onnx") in kept
