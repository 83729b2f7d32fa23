"""The PyTorch definition of the network, its ONNX export, and the training helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the train extra (PyTorch)")
onnx = pytest.importorskip("onnx")

from ecgviewer.model.contract import METADATA_KEY, ModelContract  # noqa: E402
from ecgviewer.paths import models_dir  # noqa: E402
from ecgviewer.training.architecture import RibeiroResNet, same_padding  # noqa: E402
from ecgviewer.training.export import export_onnx, max_abs_difference  # noqa: E402
from ecgviewer.training.train import augment, best_f1_threshold, lowpass_taps  # noqa: E402

pytestmark = pytest.mark.torch


def test_keras_same_padding_is_asymmetric_for_even_kernels() -> None:
    assert same_padding(4096, 16, 1) == (7, 8)
    assert same_padding(4096, 16, 4) == (6, 6)
    assert same_padding(1024, 1, 1) == (0, 0)
    assert same_padding(10, 4, 4) == (1, 1)  # TF: out = 3, total = 2*4 + 4 - 10


def test_network_shapes_follow_the_paper() -> None:
    model = RibeiroResNet().eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 4096, 12))
    assert out.shape == (2, 6)
    assert model.dense.in_features == 16 * 320
    n_params = sum(p.numel() for p in model.parameters())
    assert 6_000_000 < n_params < 7_000_000  # the published network has ~6.4 M parameters


def _trained_like_model(seed: int = 1) -> RibeiroResNet:
    """A random model whose batch norms have non-trivial parameters and statistics, as a trained one."""
    torch.manual_seed(seed)
    model = RibeiroResNet(lowpass_taps=lowpass_taps()).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.1, 0.1)
    return model


def test_onnx_export_matches_pytorch_on_the_fixture_inputs(tmp_path: Path, shared_data: Path) -> None:
    model = _trained_like_model()
    contract = ModelContract(name="test-model", version="1")
    out = export_onnx(model, contract, tmp_path / "m.onnx")
    x = np.load(shared_data / "keras-fixture" / "inputs.npy")
    assert max_abs_difference(model, out, x) <= 1e-5
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert ModelContract.from_json(meta[METADATA_KEY]) == contract
    assert not list(tmp_path.glob("*.tmp"))  # written atomically


def test_bundled_model_has_the_definitions_graph(tmp_path: Path) -> None:
    """The committed model was exported from this definition: same operators, same weight shapes."""
    bundled = onnx.load(str(models_dir() / "ecgviewer-resnet-ptbxl.onnx"))
    fresh = onnx.load(
        str(export_onnx(_trained_like_model(), ModelContract(name="x", version="0"), tmp_path / "f.onnx"))
    )
    assert [n.op_type for n in bundled.graph.node] == [n.op_type for n in fresh.graph.node]
    assert sorted(tuple(i.dims) for i in bundled.graph.initializer) == sorted(
        tuple(i.dims) for i in fresh.graph.initializer
    )


def test_lowpass_keeps_the_ecg_band_and_removes_the_rest() -> None:
    taps = lowpass_taps().astype(np.float64)
    gain = np.abs(np.fft.rfft(taps, 4000))
    freqs = np.fft.rfftfreq(4000, 1 / 400)
    assert np.all(np.abs(gain[freqs <= 30] - 1) < 0.01)
    assert np.all(gain[freqs >= 50] < 0.01)


def test_augment_keeps_shape_and_zero_padding() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.zeros(8, 4096, 12)
    x[:, 48:4048] = torch.randn(8, 4000, 12)
    y = augment(x, gen)
    assert y.shape == x.shape
    assert torch.all(y[:, :20] == 0)  # the padding stays zero after a shift of at most 16


def test_best_threshold_by_hand() -> None:
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    thr, f1 = best_f1_threshold(y, p)
    assert f1 == pytest.approx(2 * 3 / (4 + 3))  # threshold below 0.35 keeps 0.4: tp 3, 4 predicted
    assert thr < 0.35
