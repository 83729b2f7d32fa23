"""Quantisation-aware fine-tuning: fake-quantised ResNet, a few steps, an int8 QDQ graph that runs."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the train extra (PyTorch)")
onnx = pytest.importorskip("onnx")

pytestmark = [pytest.mark.torch, pytest.mark.slow]


def _exams(n: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    t = np.arange(4096) / 400
    beat = np.sin(2 * np.pi * 1.3 * t)[None, :, None] ** 15
    return (beat * rng.uniform(0.5, 1.5, (n, 1, 12)) + rng.normal(0, 0.03, (n, 4096, 12))).astype(np.float32)


def test_qat_round_trip(tmp_path: Path) -> None:
    from ecgviewer.model.runtime import bundled_model_path, create_model, read_contract
    from ecgviewer.training.qat import (
        bundled_as_torch,
        count_fake_quantized,
        export_qdq,
        fake_quantize,
        fine_tune,
        strip_fake_quant,
    )

    torch.manual_seed(0)
    x = _exams(8)
    model = bundled_as_torch(x)
    teacher = copy.deepcopy(model)
    with torch.no_grad():
        p_fp32 = teacher(torch.as_tensor(x[:2])).numpy()
    reference = create_model(bundled_model_path(), prefer_cuda=False, threads=1).predict(x[:2])
    np.testing.assert_allclose(p_fp32, reference, atol=1e-4)  # the bundled weights, read back

    fake_quantize(model)
    assert count_fake_quantized(model) == 12  # every convolution but the first (and the low-pass)
    losses = fine_tune(model, teacher, x, steps=2, batch_size=2)
    assert len(losses) == 2 and np.isfinite(losses).all()
    assert count_fake_quantized(strip_fake_quant(model)) == 0 and count_fake_quantized(model) == 12

    contract, _ = read_contract(bundled_model_path())
    out = tmp_path / "qat-int8.onnx"
    report = export_qdq(model, contract, out, x)
    ops = Counter(n.op_type for n in onnx.load(str(out)).graph.node)
    assert ops["QuantizeLinear"] > 10 and ops["DequantizeLinear"] > 10
    assert len(report.float_nodes) == 2 and report.n_exams == 8 and np.isfinite(report.max_abs_dp)
    p8 = create_model(out, prefer_cuda=False, threads=1).predict(x[:2])
    assert p8.shape == (2, 6) and np.isfinite(p8).all() and (p8 >= 0).all() and (p8 <= 1).all()
