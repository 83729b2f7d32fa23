"""Quantisation-aware fine-tuning: fake-quantised ResNet, a few steps, an int8 QDQ graph that runs."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the train extra (PyTorch)")
onnx = pytest.importorskip("onnx")

pytestmark = [pytest.mark.torch]


def _exams(n: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    t = np.arange(4096) / 400
    beat = np.sin(2 * np.pi * 1.3 * t)[None, :, None] ** 15
    return (beat * rng.uniform(0.5, 1.5, (n, 1, 12)) + rng.normal(0, 0.03, (n, 4096, 12))).astype(np.float32)


@pytest.mark.slow
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


def _set(f1: float, auroc: float) -> dict:
    return {
        "macro_f1": f1,
        "macro_auroc": auroc,
        "classes": {"1dAVb": {"f1": f1, "positives": 3}, "LBBB": {"f1": None, "positives": 0}},
    }


def test_gate_and_card_section(tmp_path: Path) -> None:
    """The int8 gate is per set (−0.01 macro F1, −0.005 macro AUROC), and the card's int8 section is
    replaced in place when written again, never appended twice."""
    from ecgviewer.model.int8 import Int8Report
    from ecgviewer.training.qat import INT8_CARD_BEGIN, gate, int8_card_section, write_card_section

    fp32 = {"fold9": _set(0.77, 0.98), "external": _set(0.50, 0.88)}
    close = {"fold9": _set(0.762, 0.976), "external": _set(0.495, 0.879)}
    assert gate(fp32, close, ("fold9", "external"))[0]
    worse_f1 = {**close, "external": _set(0.48, 0.88)}
    ok, lines = gate(fp32, worse_f1, ("fold9", "external"))
    assert not ok and lines[1].endswith("FAILS") and lines[0].endswith("ok")
    assert not gate(fp32, {**close, "fold9": _set(0.77, 0.974)}, ("fold9",))[0]  # AUROC −0.006

    report = Int8Report(0.03, 0.0007, 0.999, 256, 0.02, ("/Conv/2d", "/conv/Conv/2d"))
    card = tmp_path / "card.md"
    card.write_text("# Model card\n\nfp32 figures\n")
    write_card_section(
        card, int8_card_section(fp32, worse_f1, ("fold9", "external"), report, False, 400, "m.onnx")
    )
    first = card.read_text()
    assert "| external | 0.5 | 0.48 | 0.88 | 0.88 | 1dAVb 0.48 (3), LBBB — (0) |" in first
    assert "**failed**" in first and first.startswith("# Model card")
    write_card_section(
        card, int8_card_section(fp32, close, ("fold9", "external"), report, True, 400, "m.onnx")
    )
    second = card.read_text()
    assert second.count(INT8_CARD_BEGIN) == 1 and "**passed**" in second and "fp32 figures" in second
