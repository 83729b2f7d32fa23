"""Keras HDF5 → ONNX without TensorFlow: fixture parity, Keras semantics, errors, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from ecgviewer.classes import PAPER_THRESHOLDS
from ecgviewer.cli import main
from ecgviewer.errors import ModelError
from ecgviewer.model.contract import PAPER_CITATION, PAPER_PROVENANCE
from ecgviewer.model.keras_import import (
    KerasImportError,
    convert_keras,
    read_keras_hdf5,
    same_padding,
    save_onnx,
)
from ecgviewer.model.runtime import create_model, list_models, read_contract


def test_same_padding_matches_tensorflow() -> None:
    assert same_padding(4096, 16, 1) == (7, 8)
    assert same_padding(4096, 16, 4) == (6, 6)
    assert same_padding(1024, 16, 4) == (6, 6)
    assert same_padding(4096, 4, 4) == (0, 0)
    assert same_padding(10, 16, 4) == (7, 7)  # out 3: (3 - 1) * 4 + 16 - 10 = 14
    assert same_padding(4097, 16, 4) == (7, 8)  # odd total: the extra sample goes after
    assert same_padding(100, 1, 1) == (0, 0)
    assert same_padding(100, 3, 1, dilation=2) == (2, 2)


def test_fixture_parity_through_the_runtime(keras_fixture_onnx: Path, keras_fixture_dir: Path) -> None:
    model = create_model(keras_fixture_onnx, prefer_cuda=False)
    x = np.load(keras_fixture_dir / "inputs.npy")
    expected = np.load(keras_fixture_dir / "expected.npy")
    got = model.predict(x, batch_size=4)
    assert got.shape == (6, 6)
    assert np.abs(got - expected).max() <= 1e-4
    np.testing.assert_allclose(model.predict(x[:1], batch_size=1), got[:1], atol=1e-6)


def test_converted_model_carries_the_paper_contract(
    keras_fixture_onnx: Path, keras_fixture_dir: Path
) -> None:
    contract, warnings = read_contract(keras_fixture_onnx)
    assert warnings == []
    assert contract.thresholds == PAPER_THRESHOLDS
    assert contract.provenance.startswith(PAPER_PROVENANCE)
    assert "ribeiro_random_keras224.hdf5" in contract.provenance
    assert contract.citation == PAPER_CITATION
    assert "not a medical device" in contract.notice
    assert contract.input_name == "signal" and contract.output_name == "probabilities"
    assert contract.input_shape == (-1, 4096, 12) and contract.fs == 400.0 and contract.units == "mV"
    assert contract.extra["keras_version"] == "2.2.4"
    assert contract.metrics["f1"]["LBBB"] == 1.0
    assert contract.name == "Ribeiro et al. 2020 (ribeiro_random_keras224)"


def test_weights_are_read_by_weight_names(keras_fixture_dir: Path) -> None:
    source = read_keras_hdf5(keras_fixture_dir / "ribeiro_random_keras224.hdf5")
    bn = next(layer for layer in source.layers if layer.name == "batch_normalization_1")
    assert bn.weight_order == ["gamma", "beta", "moving_mean", "moving_variance"]
    conv = next(layer for layer in source.layers if layer.name == "conv1d_1")
    assert conv.weights["kernel"].shape == (16, 12, 64)
    assert source.keras_version == "2.2.4" and len(source.sha256) == 64


# ----------------------------------------------------------------- small models, numpy reference


def _same(length: int, k: int, s: int) -> tuple[int, int]:
    out = -(-length // s)
    total = max((out - 1) * s + k - length, 0)
    return total // 2, total - total // 2


def _np_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    """x (L, C), w (k, C, F) Keras layout, 'same' padding → (ceil(L/s), F)."""
    k = w.shape[0]
    before, after = _same(x.shape[0], k, stride)
    xp = np.pad(x, ((before, after), (0, 0)))
    out_len = (xp.shape[0] - k) // stride + 1
    return np.stack([np.einsum("kc,kcf->f", xp[i * stride : i * stride + k], w) for i in range(out_len)]) + b


def _np_avgpool(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    before, _ = _same(x.shape[0], size, stride)
    out_len = -(-x.shape[0] // stride)
    rows = []
    for i in range(out_len):
        lo = i * stride - before
        window = x[max(lo, 0) : min(lo + size, x.shape[0])]  # padding excluded, as TensorFlow does
        rows.append(window.mean(axis=0))
    return np.stack(rows)


def _write_small_model(path: Path, flavour: str, rng: np.random.Generator, length: int = 4096) -> dict:
    w1 = rng.normal(0, 0.3, (5, 12, 8)).astype(np.float32)
    b1 = rng.normal(0, 0.1, 8).astype(np.float32)
    w2 = rng.normal(0, 0.5, (8, 6)).astype(np.float32)
    b2 = rng.normal(0, 0.1, 6).astype(np.float32)
    specs = [
        (
            "Conv1D",
            "conv",
            {
                "filters": 8,
                "kernel_size": [5],
                "strides": [3],
                "padding": "same",
                "activation": "tanh",
                "use_bias": True,
                "data_format": "channels_last",
                "dilation_rate": [1],
            },
        ),
        (
            "AveragePooling1D",
            "pool",
            {"pool_size": [3], "strides": [2], "padding": "same", "data_format": "channels_last"},
        ),
        ("Dropout", "drop", {"rate": 0.5}),
        ("GlobalAveragePooling1D", "gap", {"data_format": "channels_last"}),
        ("Dense", "dense", {"units": 6, "activation": "sigmoid", "use_bias": True}),
    ]
    layers = []
    previous = "inp"
    if flavour != "sequential":
        layers.append(
            {
                "class_name": "InputLayer",
                "name": "inp",
                "config": {"batch_input_shape": [None, length, 12], "name": "inp"},
                "inbound_nodes": [],
            }
        )
    for i, (cls, name, cfg) in enumerate(specs):
        cfg = {**cfg, "name": name}
        if flavour == "sequential":
            if i == 0:
                cfg["batch_input_shape"] = [None, length, 12]
            layers.append({"class_name": cls, "config": cfg})
            continue
        if flavour == "keras2":
            inbound = [[[previous, 0, 0, {}]]]
        else:  # Keras 3 style
            inbound = [
                {
                    "args": [
                        {
                            "class_name": "__keras_tensor__",
                            "config": {
                                "shape": [None],
                                "dtype": "float32",
                                "keras_history": [previous, 0, 0],
                            },
                        }
                    ],
                    "kwargs": {},
                }
            ]
        layers.append({"class_name": cls, "name": name, "config": cfg, "inbound_nodes": inbound})
        previous = name
    if flavour == "sequential":
        config = {"class_name": "Sequential", "config": {"name": "seq", "layers": layers}}
    else:
        config = {
            "class_name": "Model" if flavour == "keras2" else "Functional",
            "config": {
                "name": "m",
                "layers": layers,
                "input_layers": [["inp", 0, 0]],
                "output_layers": [["dense", 0, 0]],
            },
        }
    with h5py.File(path, "w") as fh:
        fh.attrs["model_config"] = json.dumps(config).encode()
        fh.attrs["keras_version"] = b"2.3.1"
        fh.attrs["backend"] = b"tensorflow"
        mw = fh.create_group("model_weights")
        weights = {
            "conv": {"conv/kernel:0": w1, "conv/bias:0": b1},
            "dense": {"dense_3/kernel:0": w2, "dense_3/bias:0": b2},
        }
        names = [spec[1] for spec in specs]
        mw.attrs["layer_names"] = np.array([n.encode() for n in names])
        for name in names:
            g = mw.create_group(name)
            ws = weights.get(name, {})
            g.attrs["weight_names"] = np.array([k.encode() for k in ws], dtype="S")
            for key, value in ws.items():
                g.create_dataset(key, data=value)
    return {"w1": w1, "b1": b1, "w2": w2, "b2": b2}


def _np_small(x: np.ndarray, p: dict) -> np.ndarray:
    out = []
    for exam in x:
        h = np.tanh(_np_conv(exam, p["w1"], p["b1"], 3))
        h = _np_avgpool(h, 3, 2).mean(axis=0)
        out.append(1 / (1 + np.exp(-(h @ p["w2"] + p["b2"]))))
    return np.stack(out).astype(np.float32)


@pytest.mark.parametrize("flavour", ["keras2", "keras3", "sequential"])
def test_small_models_match_a_numpy_reference(tmp_path: Path, flavour: str) -> None:
    rng = np.random.default_rng(3)
    params = _write_small_model(tmp_path / "small.h5", flavour, rng)
    out = save_onnx(convert_keras(tmp_path / "small.h5", name="Small"), tmp_path / "small.onnx")
    model = create_model(out, prefer_cuda=False)
    assert model.contract.name == "Small"
    x = rng.normal(0, 1, (2, 4096, 12)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), _np_small(x, params), atol=2e-5)


# ----------------------------------------------------------------- errors


def test_unsupported_layer_named(tmp_path: Path) -> None:
    path = tmp_path / "lstm.h5"
    _write_small_model(path, "keras2", np.random.default_rng(0))
    with h5py.File(path, "r+") as fh:
        config = json.loads(fh.attrs["model_config"])
        config["config"]["layers"][3]["class_name"] = "LSTM"
        fh.attrs["model_config"] = json.dumps(config).encode()
    with pytest.raises(
        KerasImportError, match=r"lstm\.h5: layer 'drop' \(LSTM\): this layer type is not supported"
    ):
        convert_keras(path)


def test_non_keras_hdf5_refused(tmp_path: Path) -> None:
    path = tmp_path / "tracings.hdf5"
    with h5py.File(path, "w") as fh:
        fh.create_dataset("tracings", data=np.zeros((1, 4096, 12), np.float32))
    with pytest.raises(KerasImportError, match=r"tracings\.hdf5: HDF5 file without a Keras 'model_config'"):
        convert_keras(path)


def test_weights_only_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "weights.h5"
    with h5py.File(path, "w") as fh:
        fh.attrs["layer_names"] = np.array([b"conv1d_1"])
    with pytest.raises(KerasImportError, match="weights-only file"):
        convert_keras(path)


def test_not_hdf5_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.hdf5"
    path.write_text("hello")
    with pytest.raises(KerasImportError, match=r"model\.hdf5: not an HDF5 file"):
        convert_keras(path)
    assert issubclass(KerasImportError, ModelError)


def test_wrong_number_of_outputs_refused(tmp_path: Path) -> None:
    path = tmp_path / "seven.h5"
    _write_small_model(path, "keras2", np.random.default_rng(0))
    with h5py.File(path, "r+") as fh:
        config = json.loads(fh.attrs["model_config"])
        config["config"]["layers"][-1]["config"]["units"] = 7
        fh.attrs["model_config"] = json.dumps(config).encode()
        del fh["model_weights/dense/dense_3/kernel:0"]
        fh["model_weights/dense"].create_dataset("dense_3/kernel:0", data=np.zeros((8, 7), np.float32))
    with pytest.raises(KerasImportError, match="has 7 outputs"):
        convert_keras(path)


# ----------------------------------------------------------------- command


def test_import_keras_command_installs_and_checks(
    keras_fixture_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECGVIEWER_HOME", str(tmp_path / "home"))  # an empty models folder of its own
    src = keras_fixture_dir / "ribeiro_random_keras224.hdf5"
    code = main(
        [
            "import-keras",
            str(src),
            "--check",
            str(keras_fixture_dir / "inputs.npy"),
            str(keras_fixture_dir / "expected.npy"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "within 0.0001" in out and "installed for the viewer" in out
    entries = [e for e in list_models() if not e.bundled]
    assert [e.path.name for e in entries] == ["ribeiro_random_keras224.onnx"]
    assert entries[0].name == "Ribeiro et al. 2020 (ribeiro_random_keras224)"
    # a second import of the same name needs --force
    assert main(["import-keras", str(src)]) == 2
    assert "already installed" in capsys.readouterr().err
    # --no-install writes only --out
    out_file = tmp_path / "plain.onnx"
    assert main(["import-keras", str(src), "--out", str(out_file), "--no-install", "--name", "Seed 1"]) == 0
    assert out_file.is_file() and read_contract(out_file)[0].name == "Seed 1"
    assert len([e for e in list_models() if not e.bundled]) == 1


def test_import_keras_command_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["import-keras", str(tmp_path / "absent.hdf5")]) == 2
    assert "absent.hdf5: no such file" in capsys.readouterr().err
    assert main(["import-keras", str(tmp_path / "x.hdf5"), "--no-install"]) == 2
    assert "--no-install needs --out" in capsys.readouterr().err
