"""Convert a Keras 2 HDF5 model (the published network of Ribeiro et al.) to ONNX without TensorFlow.

The file is read with h5py: the architecture from the root attribute ``model_config``
(JSON), the weights from the group ``model_weights`` (each layer's ``weight_names``
attribute names its datasets, so files written by any Keras 2 version convert). The
ONNX graph is built with :mod:`onnx.helper`, keeping Keras semantics exactly:

* channels-last input (N, L, C), transposed once to ONNX's (N, C, L) inside the graph;
* ``padding='same'`` as TensorFlow computes it (asymmetric: for kernel 16 at stride 1,
  7 samples before and 8 after; at stride 4 the total depends on the length);
* BatchNormalization with the epsilon of the layer's config (1e-3 in the paper);
* Dropout and other training-only layers removed (inference mode);
* Flatten over (time, channels) in Keras order, then Dense and its activation.

The layer graph is walked generically from each layer's ``inbound_nodes``; nothing about
the paper's block count is hard-coded. Unsupported layers raise :class:`KerasImportError`
naming the layer.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecgviewer import __version__
from ecgviewer.atomic import apply_umask
from ecgviewer.classes import CLASSES, PAPER_THRESHOLDS
from ecgviewer.errors import ModelError
from ecgviewer.model.contract import METADATA_KEY, PAPER_CITATION, PAPER_PROVENANCE, ModelContract
from ecgviewer.model.install import sha256_file

ONNX_OPSET = 17
ONNX_IR_VERSION = 9  # onnxruntime >= 1.16 reads it; newer onnx defaults to IRs older runtimes refuse
INPUT_NAME = "signal"
OUTPUT_NAME = "probabilities"

PAPER_NOTICE = (
    "The published network of Ribeiro et al. (2020), converted from the authors' Keras file. "
    "A research tool, not a medical device: every finding must be read by a physician."
)

# The published DNN on the paper's test set (CODE, 827 exams, gold standard of two
# cardiologists): Table 2 of the paper / scores.csv of its repository.
PAPER_METRICS: dict[str, Any] = {
    "source": "Ribeiro et al. (2020), Table 2: the published DNN on the CODE test set "
    "(827 exams, 400 Hz), against the cardiologists' gold standard",
    "precision": dict(zip(CLASSES, (0.867, 0.895, 1.000, 0.833, 1.000, 0.947), strict=True)),
    "recall": dict(zip(CLASSES, (0.929, 1.000, 1.000, 0.938, 0.769, 0.973), strict=True)),
    "specificity": dict(zip(CLASSES, (0.995, 0.995, 1.000, 0.996, 1.000, 0.997), strict=True)),
    "f1": dict(zip(CLASSES, (0.897, 0.944, 1.000, 0.882, 0.870, 0.960), strict=True)),
}


class KerasImportError(ModelError):
    """A Keras file could not be converted (not a Keras model, unsupported layer, ...)."""


# --------------------------------------------------------------------------- reading


@dataclass
class KerasLayer:
    """One layer of the Keras config: class, name, config, inputs and weights (by role)."""

    class_name: str
    name: str
    config: dict[str, Any]
    inbound: list[str]
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    weight_order: list[str] = field(default_factory=list)


@dataclass
class KerasModel:
    """What :func:`read_keras_hdf5` found: layers in file order, graph inputs and outputs."""

    path: Path
    layers: list[KerasLayer]
    inputs: list[str]
    outputs: list[str]
    keras_version: str
    backend: str
    sha256: str


def _text(value: Any) -> str:
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8")
    return str(value)


def _inbound_names(layer: dict[str, Any], where: Path) -> list[str]:
    """Names of the layers feeding ``layer`` (Keras 2 list form and Keras 3 dict form)."""
    nodes = layer.get("inbound_nodes") or []
    if len(nodes) > 1:
        raise KerasImportError(
            f"{where}: layer {layer.get('name')!r} is shared (called {len(nodes)} times); "
            "shared layers are not supported by the converter"
        )
    if not nodes:
        return []
    node = nodes[0]
    names: list[str] = []
    if isinstance(node, dict):  # Keras 3: {"args": [...keras tensors...], "kwargs": {...}}

        def walk(obj: Any) -> None:
            if isinstance(obj, dict):
                if obj.get("class_name") == "__keras_tensor__":
                    names.append(obj["config"]["keras_history"][0])
                    return
                for value in obj.values():
                    walk(value)
            elif isinstance(obj, list):
                for value in obj:
                    walk(value)

        walk(node.get("args", []))
    else:  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
        for entry in node:
            if len(entry) > 1 and int(entry[1]) != 0:
                raise KerasImportError(
                    f"{where}: layer {layer.get('name')!r} uses output {entry[1]} of shared layer "
                    f"{entry[0]!r}; shared layers are not supported by the converter"
                )
            names.append(entry[0])
    return names


def _layer_entries(config: dict[str, Any], where: Path) -> tuple[list[KerasLayer], list[str], list[str]]:
    cls = config.get("class_name")
    body = config.get("config", {})
    if cls in ("Model", "Functional"):
        layers = [
            KerasLayer(
                entry["class_name"],
                entry.get("name") or entry["config"].get("name"),
                entry["config"],
                _inbound_names(entry, where),
            )
            for entry in body.get("layers", [])
        ]
        inputs = [item[0] for item in body.get("input_layers", [])]
        outputs = [item[0] for item in body.get("output_layers", [])]
        return layers, inputs, outputs
    if cls == "Sequential":
        entries = body["layers"] if isinstance(body, dict) else body
        layers: list[KerasLayer] = []
        previous: str | None = None
        first = entries[0]["config"] if entries else {}
        if not entries or entries[0]["class_name"] != "InputLayer":
            shape = first.get("batch_input_shape") or first.get("batch_shape")
            if shape is None:
                raise KerasImportError(f"{where}: the Sequential model does not state its input shape")
            layers.append(KerasLayer("InputLayer", "input", {"batch_input_shape": shape}, []))
            previous = "input"
        for entry in entries:
            name = entry["config"].get("name") or entry.get("name")
            layers.append(
                KerasLayer(entry["class_name"], name, entry["config"], [] if previous is None else [previous])
            )
            previous = name
        return layers, [layers[0].name], [previous] if previous else []
    raise KerasImportError(
        f"{where}: model class {cls!r} is not supported (expected a functional Model or a Sequential model)"
    )


_ROLE_RE = re.compile(r"([^/]+?)(?::\d+)?$")


def _weight_role(weight_name: str) -> str:
    """``conv1d_1_7/kernel:0`` → ``kernel``; ``batch_normalization_1/moving_mean:0`` → ``moving_mean``."""
    match = _ROLE_RE.search(weight_name)
    return match.group(1) if match else weight_name


def read_keras_hdf5(path: str | Path) -> KerasModel:
    """Read a Keras 2 ``model.save()`` HDF5 file: config and weights, no TensorFlow.

    Raises :class:`KerasImportError` for anything that is not a whole Keras model file
    (a weights-only file, another HDF5 layout, a damaged file).
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise KerasImportError(f"{path}: no such file")
    try:
        fh = h5py.File(path, "r")
    except OSError as err:
        raise KerasImportError(f"{path}: not an HDF5 file ({err}); expected a Keras model.hdf5") from None
    with fh:
        if "model_config" not in fh.attrs:
            if "layer_names" in fh.attrs:
                raise KerasImportError(
                    f"{path}: a Keras weights-only file (model.save_weights); the converter needs the "
                    "whole model file written by model.save(), which holds the architecture"
                )
            raise KerasImportError(
                f"{path}: HDF5 file without a Keras 'model_config' attribute; expected a Keras 2 "
                "model.hdf5 such as the published model of Ribeiro et al. (Zenodo 3625017)"
            )
        try:
            config = json.loads(_text(fh.attrs["model_config"]))
        except (ValueError, TypeError, OSError) as err:
            raise KerasImportError(f"{path}: the model_config attribute is not valid JSON ({err})") from None
        if not isinstance(config, dict):
            raise KerasImportError(
                f"{path}: model_config is a JSON {type(config).__name__}, expected an object with "
                "'class_name' and 'config' (a Keras model.save() file)"
            )
        try:
            layers, inputs, outputs = _layer_entries(config, path)
        except KerasImportError:
            raise
        except KeyError as err:
            raise KerasImportError(
                f"{path}: model_config lacks the field {err} (damaged or foreign file)"
            ) from None
        except (TypeError, AttributeError, IndexError, ValueError) as err:
            raise KerasImportError(
                f"{path}: model_config has an unexpected layout ({type(err).__name__}: {err})"
            ) from None
        if not inputs or not outputs or any(not isinstance(n, str) for n in [*inputs, *outputs]):
            raise KerasImportError(f"{path}: model_config names no usable input_layers/output_layers")
        for layer in layers:
            if not isinstance(layer.name, str) or not isinstance(layer.config, dict):
                raise KerasImportError(f"{path}: model_config has a layer without a name or config")
        weights_group = fh.get("model_weights", None)
        if weights_group is not None and not isinstance(weights_group, h5py.Group):
            raise KerasImportError(f"{path}: 'model_weights' is not an HDF5 group")
        for layer in layers:
            if weights_group is None or layer.name not in weights_group:
                continue
            group = weights_group[layer.name]
            try:
                names = [_text(n) for n in group.attrs.get("weight_names", [])]
                for wname in names:
                    if wname not in group:
                        raise KerasImportError(f"{path}: weight {wname!r} of layer {layer.name!r} is missing")
                    role = _weight_role(wname)
                    layer.weights[role] = np.asarray(group[wname][()], dtype=np.float32)
                    layer.weight_order.append(role)
            except KerasImportError:
                raise
            except (OSError, TypeError, ValueError, AttributeError, KeyError) as err:
                raise KerasImportError(
                    f"{path}: weights of layer {layer.name!r} unreadable ({type(err).__name__}: {err})"
                ) from None
        keras_version = _text(fh.attrs.get("keras_version", "unknown"))
        backend = _text(fh.attrs.get("backend", "unknown"))
    return KerasModel(
        path=path,
        layers=layers,
        inputs=inputs,
        outputs=outputs,
        keras_version=keras_version,
        backend=backend,
        sha256=sha256_file(path),
    )


# --------------------------------------------------------------------------- building


def same_padding(length: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow ``padding='same'`` for one spatial axis: (before, after) samples.

    Output length is ceil(length / stride); the extra sample of an odd total goes after:
    kernel 16 stride 1 → (7, 8); kernel 16 stride 4 on 4096 → (6, 6).
    """
    effective = (kernel - 1) * dilation + 1
    out = math.ceil(length / stride)
    total = max((out - 1) * stride + effective - length, 0)
    return total // 2, total - total // 2


@dataclass
class _Tensor:
    """A tensor in the ONNX graph. ``shape`` is Keras's, without the batch axis.

    Rank-2 Keras tensors (L, C) are held as ONNX (N, C, L); rank-1 (F,) as (N, F).
    """

    name: str
    shape: tuple[int, ...]


class _GraphBuilder:
    def __init__(self, where: Path) -> None:
        from onnx import helper, numpy_helper

        self.helper = helper
        self.numpy_helper = numpy_helper
        self.where = where
        self.nodes: list = []
        self.initializers: list = []
        self._names: set[str] = set()

    def unique(self, base: str) -> str:
        name, i = base, 1
        while name in self._names:
            i += 1
            name = f"{base}_{i}"
        self._names.add(name)
        return name

    def const(self, base: str, value: np.ndarray) -> str:
        name = self.unique(base)
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], base: str, **attrs: Any) -> str:
        out = self.unique(base)
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def fail(self, layer: KerasLayer, problem: str) -> KerasImportError:
        return KerasImportError(f"{self.where}: layer {layer.name!r} ({layer.class_name}): {problem}")

    # -- pieces -------------------------------------------------------------

    def activation(
        self, layer: KerasLayer, x: _Tensor, kind: str | None, alpha: float | None = None
    ) -> _Tensor:
        kind = (kind or "linear").lower()
        base = f"{layer.name}/{kind}"
        if kind == "linear":
            return x
        simple = {
            "relu": "Relu",
            "sigmoid": "Sigmoid",
            "tanh": "Tanh",
            "softplus": "Softplus",
            "softsign": "Softsign",
            "selu": "Selu",
            "elu": "Elu",
        }
        if kind in simple:
            return _Tensor(self.node(simple[kind], [x.name], base), x.shape)
        if kind == "softmax":
            axis = 1 if len(x.shape) >= 1 else -1
            return _Tensor(self.node("Softmax", [x.name], base, axis=axis), x.shape)
        if kind == "leaky_relu":
            return _Tensor(self.node("LeakyRelu", [x.name], base, alpha=float(alpha or 0.3)), x.shape)
        if kind == "hard_sigmoid":  # Keras 2: clip(0.2 x + 0.5, 0, 1)
            return _Tensor(self.node("HardSigmoid", [x.name], base, alpha=0.2, beta=0.5), x.shape)
        raise self.fail(layer, f"activation {kind!r} is not supported")

    def conv1d(self, layer: KerasLayer, x: _Tensor) -> _Tensor:
        cfg = layer.config
        if cfg.get("data_format", "channels_last") != "channels_last":
            raise self.fail(layer, "only data_format='channels_last' is supported")
        if len(x.shape) != 2:
            raise self.fail(layer, f"expects a (time, channels) input, got shape {x.shape}")
        if "kernel" not in layer.weights:
            raise self.fail(layer, "no kernel found in model_weights")
        kernel = layer.weights["kernel"]  # (k, c_in, c_out)
        k = int(_first(cfg["kernel_size"]))
        stride = int(_first(cfg.get("strides", 1)))
        dilation = int(_first(cfg.get("dilation_rate", 1)))
        if int(cfg.get("groups", 1)) != 1:
            raise self.fail(layer, "grouped convolutions are not supported")
        filters = cfg.get("filters")
        if kernel.ndim != 3 or kernel.shape[0] != k or kernel.shape[1] != x.shape[1]:
            raise self.fail(
                layer,
                f"kernel shape {kernel.shape} does not match kernel_size {k} and {x.shape[1]} input channels",
            )
        if filters is not None and kernel.shape[2] != filters:  # caught here, not at a later layer
            raise self.fail(layer, f"kernel shape {kernel.shape} does not match its {filters} filters")
        bias = layer.weights.get("bias")
        if bias is not None and bias.shape != (kernel.shape[2],):
            raise self.fail(layer, f"bias shape {bias.shape} does not match its {kernel.shape[2]} filters")
        length = x.shape[0]
        padding = cfg.get("padding", "valid")
        if padding == "same":
            before, after = same_padding(length, k, stride, dilation)
        elif padding == "valid":
            before = after = 0
        elif padding == "causal":
            before, after = (k - 1) * dilation, 0
        else:
            raise self.fail(layer, f"padding {padding!r} is not supported")
        inputs = [x.name, self.const(f"{layer.name}/W", kernel.transpose(2, 1, 0))]
        if cfg.get("use_bias", True):
            if "bias" not in layer.weights:
                raise self.fail(layer, "use_bias is set but no bias was found in model_weights")
            inputs.append(self.const(f"{layer.name}/B", layer.weights["bias"]))
        out = self.node(
            "Conv",
            inputs,
            f"{layer.name}/conv",
            kernel_shape=[k],
            strides=[stride],
            dilations=[dilation],
            pads=[before, after],
        )
        effective = (k - 1) * dilation + 1
        out_len = (length + before + after - effective) // stride + 1
        y = _Tensor(out, (out_len, kernel.shape[2]))
        return self.activation(layer, y, cfg.get("activation"))

    def batchnorm(self, layer: KerasLayer, x: _Tensor) -> _Tensor:
        cfg = layer.config
        axis = cfg.get("axis", -1)
        axis = axis[0] if isinstance(axis, list) else axis
        if axis not in (-1, len(x.shape)):
            raise self.fail(layer, f"normalisation over axis {axis} is not supported (only the channel axis)")
        channels = x.shape[-1]
        w = layer.weights
        gamma = (
            w.get("gamma", np.ones(channels, np.float32))
            if cfg.get("scale", True)
            else np.ones(channels, np.float32)
        )
        beta = (
            w.get("beta", np.zeros(channels, np.float32))
            if cfg.get("center", True)
            else np.zeros(channels, np.float32)
        )
        if "moving_mean" not in w or "moving_variance" not in w:
            raise self.fail(layer, "moving_mean/moving_variance not found in model_weights")
        inputs = [
            x.name,
            self.const(f"{layer.name}/gamma", gamma),
            self.const(f"{layer.name}/beta", beta),
            self.const(f"{layer.name}/mean", w["moving_mean"]),
            self.const(f"{layer.name}/var", w["moving_variance"]),
        ]
        out = self.node(
            "BatchNormalization", inputs, f"{layer.name}/bn", epsilon=float(cfg.get("epsilon", 1e-3))
        )
        return _Tensor(out, x.shape)

    def pool1d(self, layer: KerasLayer, x: _Tensor, op: str) -> _Tensor:
        cfg = layer.config
        if cfg.get("data_format", "channels_last") != "channels_last":
            raise self.fail(layer, "only data_format='channels_last' is supported")
        size = int(_first(cfg.get("pool_size", 2)))
        stride = int(_first(cfg.get("strides") or size))
        padding = cfg.get("padding", "valid")
        before, after = same_padding(x.shape[0], size, stride) if padding == "same" else (0, 0)
        attrs: dict[str, Any] = {"kernel_shape": [size], "strides": [stride], "pads": [before, after]}
        if op == "AveragePool":
            attrs["count_include_pad"] = 0  # TensorFlow averages over the real samples only
        out = self.node(op, [x.name], f"{layer.name}/pool", **attrs)
        out_len = (x.shape[0] + before + after - size) // stride + 1
        return _Tensor(out, (out_len, x.shape[1]))

    def flatten(self, layer: KerasLayer, x: _Tensor) -> _Tensor:
        if len(x.shape) == 1:
            return x
        if len(x.shape) != 2:
            raise self.fail(layer, f"unexpected input shape {x.shape}")
        # back to Keras's (N, time, channels) so the flattened order is Keras's
        nlc = self.node("Transpose", [x.name], f"{layer.name}/to_nlc", perm=[0, 2, 1])
        out = self.node("Flatten", [nlc], f"{layer.name}/flatten", axis=1)
        return _Tensor(out, (x.shape[0] * x.shape[1],))

    def dense(self, layer: KerasLayer, x: _Tensor) -> _Tensor:
        cfg = layer.config
        if len(x.shape) != 1:
            raise self.fail(
                layer,
                f"Dense on a {len(x.shape)}-D input (shape {x.shape}) is not supported; "
                "expected a Flatten or global pooling before it",
            )
        kernel = layer.weights.get("kernel")
        if kernel is None or kernel.ndim != 2 or kernel.shape[0] != x.shape[0]:
            raise self.fail(
                layer,
                f"kernel shape {None if kernel is None else kernel.shape} does not match {x.shape[0]} inputs",
            )
        units = cfg.get("units")
        if units is not None and kernel.shape[1] != units:
            raise self.fail(layer, f"kernel shape {kernel.shape} does not match its {units} units")
        y = self.node("MatMul", [x.name, self.const(f"{layer.name}/W", kernel)], f"{layer.name}/matmul")
        if cfg.get("use_bias", True):
            y = self.node(
                "Add", [y, self.const(f"{layer.name}/B", layer.weights["bias"])], f"{layer.name}/bias"
            )
        return self.activation(layer, _Tensor(y, (kernel.shape[1],)), cfg.get("activation"))

    def merge(self, layer: KerasLayer, xs: list[_Tensor], op: str) -> _Tensor:
        if len(xs) < 2:
            raise self.fail(layer, "needs at least two inputs")
        if any(t.shape != xs[0].shape for t in xs):
            raise self.fail(
                layer,
                "inputs of different shapes (broadcasting) are not supported: "
                + ", ".join(str(t.shape) for t in xs),
            )
        if op == "Mean":
            out = self.node("Mean", [t.name for t in xs], f"{layer.name}/mean")
            return _Tensor(out, xs[0].shape)
        out = xs[0].name
        for t in xs[1:]:
            out = self.node(op, [out, t.name], f"{layer.name}/{op.lower()}")
        return _Tensor(out, xs[0].shape)

    def concat(self, layer: KerasLayer, xs: list[_Tensor]) -> _Tensor:
        rank = len(xs[0].shape)
        axis = int(layer.config.get("axis", -1))
        axis = axis % (rank + 1)  # Keras axis counts the batch axis
        if axis == 0:
            raise self.fail(layer, "concatenation over the batch axis is not supported")
        onnx_axis = {(2, 1): 2, (2, 2): 1, (1, 1): 1}[(rank, axis)]
        out = self.node("Concat", [t.name for t in xs], f"{layer.name}/concat", axis=onnx_axis)
        shape = list(xs[0].shape)
        shape[axis - 1] = sum(t.shape[axis - 1] for t in xs)
        return _Tensor(out, tuple(shape))

    def global_pool(self, layer: KerasLayer, x: _Tensor, op: str) -> _Tensor:
        if len(x.shape) != 2:
            raise self.fail(layer, f"expects a (time, channels) input, got {x.shape}")
        if layer.config.get("keepdims"):
            raise self.fail(layer, "keepdims=True is not supported")
        out = self.node(op, [x.name], f"{layer.name}/global", axes=[2], keepdims=0)  # opset 17: attribute
        return _Tensor(out, (x.shape[1],))


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list | tuple) else value


_IDENTITY_LAYERS = {
    "Dropout",
    "SpatialDropout1D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "Masking",
}


def build_onnx(model: KerasModel, contract: ModelContract):  # -> onnx.ModelProto
    """The ONNX graph of a Keras model: input ``contract.input_name`` (N, L, C) float32,
    output ``contract.output_name`` (N, classes) float32. Metadata: the contract as JSON."""
    import onnx
    from onnx import TensorProto, helper

    where = model.path
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise KerasImportError(
            f"{where}: the model has {len(model.inputs)} inputs and {len(model.outputs)} "
            "outputs; ecgviewer needs one ECG input and one output"
        )
    g = _GraphBuilder(where)
    by_name = {layer.name: layer for layer in model.layers}
    tensors: dict[str, _Tensor] = {}
    input_shape: tuple[int, int] | None = None

    def build(layer: KerasLayer) -> None:
        cls = layer.class_name
        xs = [tensors[n] for n in layer.inbound]
        x = xs[0] if xs else None
        one: dict[str, Callable[[], _Tensor]] = {
            "Conv1D": lambda: g.conv1d(layer, x),
            "BatchNormalization": lambda: g.batchnorm(layer, x),
            "Activation": lambda: g.activation(layer, x, layer.config.get("activation")),
            "ReLU": lambda: _relu_layer(g, layer, x),
            "LeakyReLU": lambda: g.activation(
                layer, x, "leaky_relu", layer.config.get("alpha", layer.config.get("negative_slope"))
            ),
            "MaxPooling1D": lambda: g.pool1d(layer, x, "MaxPool"),
            "AveragePooling1D": lambda: g.pool1d(layer, x, "AveragePool"),
            "GlobalAveragePooling1D": lambda: g.global_pool(layer, x, "ReduceMean"),
            "GlobalMaxPooling1D": lambda: g.global_pool(layer, x, "ReduceMax"),
            "Flatten": lambda: g.flatten(layer, x),
            "Dense": lambda: g.dense(layer, x),
            "Add": lambda: g.merge(layer, xs, "Add"),
            "Subtract": lambda: g.merge(layer, xs, "Sub"),
            "Multiply": lambda: g.merge(layer, xs, "Mul"),
            "Maximum": lambda: g.merge(layer, xs, "Max"),
            "Minimum": lambda: g.merge(layer, xs, "Min"),
            "Average": lambda: g.merge(layer, xs, "Mean"),
            "Concatenate": lambda: g.concat(layer, xs),
        }
        if cls in _IDENTITY_LAYERS:
            tensors[layer.name] = x
        elif cls in one:
            if x is None:
                raise g.fail(layer, "has no input")
            tensors[layer.name] = one[cls]()
        else:
            raise g.fail(
                layer,
                "this layer type is not supported by the converter (supported: "
                + ", ".join(sorted([*one, *_IDENTITY_LAYERS, "InputLayer"]))
                + ")",
            )

    # inputs
    for layer in model.layers:
        if layer.class_name == "InputLayer":
            shape = layer.config.get("batch_input_shape") or layer.config.get("batch_shape")
            if not shape or len(shape) != 3:
                raise KerasImportError(
                    f"{where}: input {layer.name!r} has shape {shape}; expected (batch, time, leads)"
                )
            length = shape[1] if shape[1] is not None else contract.input_shape[1]
            input_shape = (int(length), int(shape[2]))
            nhwc = g.unique(contract.input_name)
            ncl = g.node("Transpose", [nhwc], "input/to_ncl", perm=[0, 2, 1])
            tensors[layer.name] = _Tensor(ncl, input_shape)
    if input_shape is None:
        raise KerasImportError(f"{where}: the model config has no InputLayer")

    # topological walk from the inputs, following inbound_nodes
    pending = [layer for layer in model.layers if layer.class_name != "InputLayer"]
    while pending:
        ready = [layer for layer in pending if all(n in tensors for n in layer.inbound)]
        if not ready:
            missing = sorted(
                {n for layer in pending for n in layer.inbound if n not in tensors and n not in by_name}
            )
            detail = f" (unknown layers: {', '.join(missing)})" if missing else " (a cycle?)"
            raise KerasImportError(f"{where}: could not order the layer graph{detail}")
        for layer in ready:
            build(layer)
            pending.remove(layer)

    out = tensors[model.outputs[0]]
    if len(out.shape) != 1:
        raise KerasImportError(f"{where}: the output has shape {out.shape}; expected one value per class")
    n_out = out.shape[0]
    if n_out != len(contract.classes):
        raise KerasImportError(
            f"{where}: the network has {n_out} outputs; ecgviewer runs networks with the "
            f"{len(contract.classes)} outputs of Ribeiro et al. ({', '.join(contract.classes)})"
        )
    g.nodes.append(helper.make_node("Identity", [out.name], [contract.output_name], name="output"))

    graph = helper.make_graph(
        g.nodes,
        "ribeiro_resnet",
        [helper.make_tensor_value_info(contract.input_name, TensorProto.FLOAT, ["N", *input_shape])],
        [helper.make_tensor_value_info(contract.output_name, TensorProto.FLOAT, ["N", n_out])],
        initializer=g.initializers,
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
        producer_name="ecgviewer import-keras",
        producer_version=__version__,
        ir_version=ONNX_IR_VERSION,
    )
    onnx_model.doc_string = f"{contract.name}: converted from {where.name} (Keras {model.keras_version})"
    full = ModelContract(**{**contract.__dict__, "input_shape": (-1, *input_shape)})
    helper.set_model_props(onnx_model, {METADATA_KEY: full.to_json()})
    try:
        onnx.checker.check_model(onnx_model)
    except onnx.checker.ValidationError as err:  # pragma: no cover - a converter bug
        raise KerasImportError(f"{where}: the converted graph is invalid: {err}") from None
    return onnx_model


def _relu_layer(g: _GraphBuilder, layer: KerasLayer, x: _Tensor) -> _Tensor:
    cfg = layer.config
    if cfg.get("max_value") is not None or float(cfg.get("threshold", 0) or 0) != 0:
        raise g.fail(layer, "ReLU with max_value or threshold is not supported")
    slope = float(cfg.get("negative_slope", 0) or 0)
    if slope:
        return g.activation(layer, x, "leaky_relu", slope)
    return g.activation(layer, x, "relu")


# --------------------------------------------------------------------------- public API


def _conversion_record(source: KerasModel) -> dict[str, str]:
    """What a converted contract's ``extra`` says of its source and of the conversion."""
    return {
        "source_file": source.path.name,
        "source_sha256": source.sha256,
        "keras_version": source.keras_version,
        "keras_backend": source.backend,
        "converted_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "converter": f"ecgviewer {__version__} (ecgviewer.model.keras_import)",
    }


def paper_contract(
    source: KerasModel,
    *,
    name: str | None = None,
    provenance: str | None = None,
    thresholds: tuple[float, ...] = PAPER_THRESHOLDS,
) -> ModelContract:
    """The contract of a converted published model: the paper's input, classes and thresholds."""
    stem = source.path.stem
    return ModelContract(
        name=name or f"Ribeiro et al. 2020 ({stem})",
        version=f"keras-{source.sha256[:12]}",
        # The paper's network reads mV (its code feeds the mV test tracings unscaled).
        units="mV",
        input_scale_per_mv=1.0,
        thresholds=tuple(float(t) for t in thresholds),
        provenance=provenance
        or (
            f"{PAPER_PROVENANCE}; converted from {source.path.name} (sha256 {source.sha256}) "
            f"by ecgviewer {__version__} import-keras"
        ),
        citation=PAPER_CITATION,
        notice=PAPER_NOTICE,
        metrics=PAPER_METRICS,
        extra={
            **_conversion_record(source),
            "thresholds_source": "Ribeiro et al. (2020), generate_figures_and_tables.py",
        },
    )


PAPER_CONV_LAYERS: tuple[tuple[int, int], ...] = (
    (64, 16),
    (128, 16),
    (128, 16),
    (128, 1),
    (196, 16),
    (196, 16),
    (196, 1),
    (256, 16),
    (256, 16),
    (256, 1),
    (320, 16),
    (320, 16),
    (320, 1),
)
"""(filters, kernel size) of the 13 Conv1D layers of the paper's ResNet, in order."""


def _kernel(config: dict[str, Any]) -> int | None:
    k = config.get("kernel_size")
    k = k[0] if isinstance(k, list | tuple) and k else k
    return k if isinstance(k, int) else None


def is_paper_architecture(source: KerasModel) -> bool:
    """True when the graph is the ResNet of Ribeiro et al. (2020): its 13 convolutions (filters and
    kernel sizes), 4 residual additions, 4 max-poolings and one 6-unit dense layer."""
    convs = tuple(
        (lay.config.get("filters"), _kernel(lay.config))
        for lay in source.layers
        if lay.class_name == "Conv1D"
    )
    dense = [lay.config.get("units") for lay in source.layers if lay.class_name == "Dense"]
    count = {c: sum(lay.class_name == c for lay in source.layers) for c in ("Add", "MaxPooling1D")}
    return convs == PAPER_CONV_LAYERS and dense == [6] and count == {"Add": 4, "MaxPooling1D": 4}


def foreign_contract(
    source: KerasModel,
    *,
    name: str | None = None,
    provenance: str | None = None,
    thresholds: tuple[float, ...] | None = None,
) -> ModelContract:
    """The contract of a converted network that is not the paper's: named and described by what it
    is (its file and layers), without the paper's provenance, citation or metrics."""
    counts: dict[str, int] = {}
    for lay in source.layers:
        if lay.class_name != "InputLayer":
            counts[lay.class_name] = counts.get(lay.class_name, 0) + 1
    layers = ", ".join(f"{n} {c}" for c, n in counts.items())
    n_classes = len(CLASSES)
    return ModelContract(
        name=name or f"{source.path.stem} (Keras network)",
        version=f"keras-{source.sha256[:12]}",
        units="mV",
        input_scale_per_mv=1.0,
        thresholds=tuple(float(t) for t in (thresholds or (0.5,) * n_classes)),
        provenance=provenance
        or (
            f"Keras network converted from {source.path.name} (sha256 {source.sha256}) by ecgviewer "
            f"{__version__} import-keras; not the architecture of Ribeiro et al. (2020) ({layers})"
        ),
        citation="",
        notice=(
            "A network of unknown origin and validation, not the published model of Ribeiro et al. "
            "Thresholds 0.5 unless given. Not a medical device."
        ),
        metrics={},
        extra={
            **_conversion_record(source),
            "architecture": "foreign: " + layers,
        },
    )


def convert_keras(
    path: str | Path,
    *,
    name: str | None = None,
    provenance: str | None = None,
    thresholds: tuple[float, ...] = PAPER_THRESHOLDS,
):  # -> onnx.ModelProto
    """Convert a Keras HDF5 model to an ONNX ``ModelProto`` carrying the ecgviewer contract.

    Input ``signal`` (N, 4096, 12) float32 in mV (the paper's input scale); output
    ``probabilities`` (N, 6).
    """
    source = read_keras_hdf5(path)
    if is_paper_architecture(source):
        contract = paper_contract(source, name=name, provenance=provenance, thresholds=thresholds)
    else:  # named and described by what it is: the paper's provenance and metrics would be false
        given = None if tuple(thresholds) == tuple(PAPER_THRESHOLDS) else thresholds
        contract = foreign_contract(source, name=name, provenance=provenance, thresholds=given)
    try:
        return build_onnx(source, contract)
    except KerasImportError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
        raise KerasImportError(
            f"{source.path}: the graph cannot be converted ({type(err).__name__}: {err}); "
            "only the layers of the paper's network family are supported"
        ) from None


def slugify(text: str) -> str:
    """A file-name-safe version of a model name."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return slug or "model"


def save_onnx(model, out: str | Path) -> Path:  # model: onnx.ModelProto
    """Write an ONNX model atomically (temp file in the same folder, then ``os.replace``)."""
    import os
    import tempfile

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(model.SerializeToString())
        apply_umask(tmp)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
