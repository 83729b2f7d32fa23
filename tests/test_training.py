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


def test_exported_weights_read_back_exactly(tmp_path: Path) -> None:
    """ONNX → PyTorch: folded batch norms re-expanded; eval output equals the graph's."""
    from ecgviewer.model.runtime import create_model
    from ecgviewer.training.onnx_weights import load_onnx_weights

    source = _trained_like_model(seed=4)
    path = export_onnx(source, ModelContract(name="m", version="1"), tmp_path / "m.onnx")
    x = np.random.default_rng(0).normal(scale=0.3, size=(8, 4096, 12)).astype(np.float32)
    target = RibeiroResNet(lowpass_taps=lowpass_taps())
    load_onnx_weights(target, path, x[:4])
    with torch.no_grad():
        got = target.eval()(torch.as_tensor(x)).numpy()
    want = create_model(path, probe=lambda: "tests").predict(x)
    assert np.abs(got - want).max() <= 1e-5
    # a model trained on 1e-4 V read into one fed mV: the first convolution absorbs the ×10
    load_onnx_weights(target, path, x[:4] / 10, input_gain=10.0)
    with torch.no_grad():
        got10 = target.eval()(torch.as_tensor(x / 10)).numpy()
    assert np.abs(got10 - want).max() <= 1e-5


def test_onnx_weights_refuse_another_architecture(tmp_path: Path) -> None:
    from ecgviewer.errors import ModelError
    from ecgviewer.training.onnx_weights import load_onnx_weights
    from tests.test_model_runtime import tiny_model

    with pytest.raises(ModelError, match=r"tiny\.onnx: 0 convolutions"):
        load_onnx_weights(
            RibeiroResNet(), tiny_model(tmp_path / "tiny.onnx"), np.zeros((1, 4096, 12), np.float32)
        )


def test_gain_augmentation_spans_half_to_double() -> None:
    from ecgviewer.training.train import random_gain

    gains = random_gain(20_000, torch.Generator().manual_seed(1))
    per_exam = gains.mean(dim=(1, 2))  # the exam's gain times the mean of its lead jitter (≈ 1)
    assert 0.45 < float(per_exam.min()) < 0.55 and 1.8 < float(per_exam.max()) < 2.2
    assert abs(float(torch.log(per_exam).mean())) < 0.02  # log-uniform: centred on ×1
    lead_spread = gains / gains.mean(dim=2, keepdim=True)
    # ±10 % per lead, about the exam's mean
    assert float(lead_spread.min()) > 0.85 and float(lead_spread.max()) < 1.16


def test_sampling_weights_draw_rare_classes_more_often() -> None:
    from ecgviewer.training.train import sampling_weights

    y = np.zeros((200, 6))
    y[:80, 4] = 1  # a common class
    y[80:85, 0] = 1  # a rare one
    for k, rows in ((1, range(85, 105)), (2, range(105, 125)), (3, range(125, 145)), (5, range(145, 165))):
        y[list(rows), k] = 1
    w = sampling_weights(y)
    assert w[80] > w[90] == w[0] == w[199]  # a rare class is drawn more; others as often as none
    assert w[80] / w[199] == pytest.approx(2.0)  # √(20 / 5)
    assert w.sum() == pytest.approx(1.0)


def test_bf16_autocast_keeps_the_input_stage_exact() -> None:
    """Under bfloat16 autocast the low-pass and first convolution run in float32: oneDNN's bf16
    kernel for a 16-tap convolution over 12 channels is wrong on AMX CPUs, not merely coarse."""
    model = _trained_like_model().eval()
    x = torch.as_tensor(np.random.default_rng(0).normal(0, 0.3, (2, 4096, 12)).astype(np.float32))
    stage = {}
    model.conv.register_forward_hook(lambda _m, _i, out: stage.setdefault("conv", []).append(out))
    with torch.no_grad():
        model.features(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            model.features(x)
    exact, autocast = stage["conv"]
    assert autocast.dtype == torch.float32
    assert torch.equal(exact, autocast)


def _tiny_ptbxl_pack(folder: Path, n_train: int = 3, n_valid: int = 12) -> Path:
    """A PTB-XL-shaped pack (100 Hz int16 h5 + labels.csv): random exams in fold 1 and in fold 9,
    where each class has positives and negatives (so its AUROC is defined)."""
    import csv

    import h5py

    from ecgviewer.classes import CLASSES

    rng = np.random.default_rng(0)
    ids = np.arange(1, n_train + n_valid + 1, dtype=np.int32)
    folds = np.array([1] * n_train + [9] * n_valid, dtype=np.int8)
    ptb = folder / "ptbxl"
    ptb.mkdir(parents=True)
    with h5py.File(ptb / "ptbxl100_train.h5", "w") as f:
        f["ecg_id"] = ids
        f["strat_fold"] = folds
        f["signal"] = rng.integers(-500, 500, (len(ids), 1000, 12)).astype(np.int16)
        f.attrs["fs"] = 100
        f.attrs["gain_per_mV"] = 1000.0
    with open(ptb / "labels.csv", "w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["ecg_id", "strat_fold", *CLASSES, "scp_codes"])
        for i, (ecg_id, fold) in enumerate(zip(ids, folds, strict=True)):
            labels = [int(k == i % len(CLASSES)) for k in range(len(CLASSES))]
            w.writerow([ecg_id, fold, *labels, "{'NORM': 100.0}"])
    return folder


@pytest.mark.parametrize("balance", ["0", "0.5"])
def test_training_runs_an_epoch_with_and_without_balanced_sampling(tmp_path: Path, balance: str) -> None:
    """One epoch end to end on a tiny pack; ``--balance 0`` (plain shuffling) once crashed."""
    import json

    from ecgviewer.training.train import main

    data = _tiny_ptbxl_pack(tmp_path / "data")
    run = tmp_path / "run"
    args = ["--data", str(data), "--run", str(run), "--epochs", "1", "--batch-size", "2"]
    args += ["--precision", "fp32", "--aux-weight", "0", "--balance", balance]
    assert main(args) == 0
    history = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1]
    assert history[0]["step"] == 1  # 3 training exams // batch 2
    assert json.loads((run / "recipe.json").read_text())["balance"] == float(balance)
    assert (run / "best.pt").exists()


@pytest.mark.parametrize(
    "changes",
    [
        {"aux_weight": 0.0, "label_smoothing": 0.0, "balance": 0.0},
        {"lr": 5e-4, "init": "runs/model1.onnx", "gain": [0.6, 1.8]},
        {},
    ],
)
def test_card_reproduce_command_gives_back_the_recorded_recipe(changes: dict) -> None:
    """The card's train options, parsed again, give the run's recipe (and its text says what was done)."""
    import shlex

    from ecgviewer.training.finalize import recipe_text, train_arguments
    from ecgviewer.training.train import build_parser

    recipe = {**vars(build_parser().parse_args(["--max-minutes", "95"])), **changes}
    recipe = {k: (str(v) if isinstance(v, Path) else v) for k, v in recipe.items()}
    options = train_arguments(recipe)
    again = vars(build_parser().parse_args(shlex.split(options)))
    for key in ("max_minutes", "lr", "ema", "label_smoothing", "aux_weight", "balance"):
        assert again[key] == recipe[key], key
    assert list(again["gain"]) == list(recipe["gain"])
    assert (again["init"] is not None) == bool(recipe.get("init"))
    text = recipe_text(recipe)
    assert ("warm-started" in text) == bool(recipe.get("init"))
    assert ("no auxiliary outputs" in text) == (recipe["aux_weight"] == 0)
    assert ("plain shuffling" in text) == (recipe["balance"] == 0)
    assert ("without label smoothing" in text) == (recipe["label_smoothing"] == 0)
    assert f"×{recipe['gain'][0]:g}–×{recipe['gain'][1]:g}" in text
