"""Post-training int8 (static QDQ) with its fidelity report; ``import-keras --int8`` refuses a bad one."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest

from ecgviewer.cli import main
from ecgviewer.model.graph_rewrite import conv1d_as_conv2d
from ecgviewer.model.int8 import import_int8, int8_path_for, lead_reading_convs, quantize_int8
from ecgviewer.model.runtime import bundled_model_path, create_model, read_contract
from ecgviewer.synth import write_hdf5_code


def _exams(n: int) -> np.ndarray:
    rng = np.random.default_rng(5)
    t = np.arange(4096) / 400
    beat = np.sin(2 * np.pi * 1.1 * t)[None, :, None] ** 15
    return (beat * rng.uniform(0.5, 1.5, (n, 1, 12)) + rng.normal(0, 0.03, (n, 4096, 12))).astype(np.float32)


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("int8") / "m-int8.onnx"
    report = quantize_int8(bundled_model_path(), out, _exams(12))
    return out, report


def test_int8_graph_is_qdq_and_keeps_the_lead_convolutions_in_float(int8_model) -> None:
    path, report = int8_model
    proto = onnx.load(str(path))
    ops = Counter(n.op_type for n in proto.graph.node)
    assert ops["QuantizeLinear"] > 10 and ops["DequantizeLinear"] > 10
    # the exact 2-D form is quantised (onnxruntime's int8 kernels are fast on 2-D convolutions)
    kept = lead_reading_convs(conv1d_as_conv2d(onnx.load(str(bundled_model_path()))))
    assert len(kept) == 2 and report.float_nodes == tuple(kept)  # the low-pass and the first convolution
    produced_by = {o: n for n in proto.graph.node for o in n.output}
    weights = {i.name: i for i in proto.graph.initializer}
    conv_ranks = {
        len(weights[produced_by[n.input[1]].input[0]].dims)
        for n in proto.graph.node
        if n.op_type == "Conv" and n.input[1] in produced_by
    }
    assert conv_ranks == {4}  # every int8 convolution is 1×k 2-D
    # only convolutions are quantised (inputs, weights, outputs): what reads a dequantised tensor is a
    # convolution or what follows one; batch norms, pooling and the head read float
    readers = {
        n.op_type
        for n in proto.graph.node
        for i in n.input
        if i in produced_by and produced_by[i].op_type == "DequantizeLinear"
    }
    assert "Conv" in readers and not readers & {"MaxPool", "BatchNormalization", "Gemm", "Sigmoid"}
    for node in proto.graph.node:
        if node.name in kept:  # its weights are not dequantised int8
            assert (
                produced_by.get(node.input[1]) is None
                or produced_by[node.input[1]].op_type != "DequantizeLinear"
            )
    contract, _ = read_contract(path)
    assert contract.version.endswith("-int8") and contract.extra["int8"]["n_exams"] == 12
    x = _exams(3)
    p8 = create_model(path, prefer_cuda=False, threads=1).predict(x)
    p32 = create_model(bundled_model_path(), prefer_cuda=False, threads=1).predict(x)
    assert p8.shape == (3, 6) and np.isfinite(p8).all()
    assert np.abs(p8 - p32).max() == pytest.approx(report.max_abs_dp, abs=0.2)  # same order as the report


def test_int8_outside_tolerance_is_not_installed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fp32 = tmp_path / "m.onnx"
    fp32.write_bytes(bundled_model_path().read_bytes())
    calib = tmp_path / "calib"
    calib.mkdir()
    write_hdf5_code(calib / "exams.hdf5", 6)
    code = import_int8(fp32, calib, None, tolerance=0.0)
    assert code == 1 and not int8_path_for(fp32).exists()
    assert "int8 not installed" in capsys.readouterr().err


def test_int8_needs_calibration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "import-keras",
        str(tmp_path / "m.hdf5"),
        "--out",
        str(tmp_path / "m.onnx"),
        "--no-install",
        "--int8",
    ]
    assert main(args) == 2
    assert "--int8 needs --calibrate FOLDER" in capsys.readouterr().err
