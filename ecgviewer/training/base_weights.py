"""A base model of the paper's architecture read into :class:`RibeiroResNet`, whatever file it came in.

Three kinds of file hold the paper's network:

* a Keras HDF5 (the authors' ``model.hdf5``): converted in memory by
  :mod:`ecgviewer.model.keras_import` and read as the next kind;
* an ONNX written by ``import-keras`` (or :func:`import_models`): one Conv per Keras Conv1D
  (weights ``(out, in, k)``), one unfolded BatchNormalization per Keras layer, MatMul + Add
  for the Dense layer. Keras weights map one to one onto the module; which module a Conv is
  follows from its weight shape and stride (the widths 12 → 64 → 128 → 196 → 256 → 320 are all
  different), which batch norm from the node feeding it (a Conv: the block's first; an Add:
  the block's second);
* an ONNX exported by the training pipeline (batch norms folded into the convolutions):
  :func:`ecgviewer.training.onnx_weights.load_onnx_weights`, which needs calibration inputs.

:func:`load_base` returns the module (eval mode) and the file's contract.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ecgviewer.errors import ModelError
from ecgviewer.model.contract import ModelContract
from ecgviewer.training.architecture import DOWNSAMPLE, FILTERS, KERNEL, N_LEADS, RibeiroResNet


def _conv_roles() -> dict[tuple[tuple[int, int, int], int], str]:
    """(weight shape, stride) → module name, for every convolution of the architecture."""
    roles = {((FILTERS[0], N_LEADS, KERNEL), 1): "conv"}
    for i in range(len(FILTERS) - 1):
        c_in, c_out = FILTERS[i], FILTERS[i + 1]
        roles[((c_out, c_in, KERNEL), 1)] = f"blocks.{i}.conv1"
        roles[((c_out, c_out, KERNEL), DOWNSAMPLE)] = f"blocks.{i}.conv2"
        roles[((c_out, c_in, 1), 1)] = f"blocks.{i}.skip_conv"
    return roles


def _unfolded_state(proto, where: str) -> tuple[dict[str, np.ndarray], int]:
    """RibeiroResNet state dict from an ONNX graph with one node per Keras layer, and its class count."""
    from onnx import numpy_helper

    graph = proto.graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    roles = _conv_roles()
    conv_of: dict[str, str] = {}  # conv node output → module name
    state: dict[str, np.ndarray] = {}
    for node in graph.node:
        if node.op_type != "Conv" or node.input[1] == "lowpass":
            continue
        w = inits.get(node.input[1])
        stride = next((next(iter(a.ints)) for a in node.attribute if a.name == "strides"), 1)
        role = roles.get((tuple(w.shape), int(stride))) if w is not None else None
        if role is None:
            raise ModelError(
                f"{where}: convolution {node.name or node.input[1]} with weights "
                f"{None if w is None else tuple(w.shape)} at stride {stride} is not a layer of the paper's "
                "architecture (widths 64, 128, 196, 256, 320, kernel 16)"
            )
        if len(node.input) > 2 and node.input[2]:
            raise ModelError(f"{where}: convolution {node.name} ({role}) has a bias; the paper's have none")
        state[f"{role}.weight"] = w
        conv_of[node.output[0]] = role
    for node in graph.node:
        if node.op_type != "BatchNormalization":
            continue
        src = producer.get(node.input[0])
        role = None
        if src is not None and src.op_type == "Conv":
            conv = conv_of[src.output[0]]
            role = "bn" if conv == "conv" else conv.replace("conv1", "bn1")
        elif src is not None and src.op_type == "Add":
            convs = [conv_of.get(i, "") for i in src.input]
            block = [c for c in convs if c.endswith("conv2")]
            role = block[0].replace("conv2", "bn2") if block else None
        if role is None or role.endswith(("conv2", "skip_conv")):
            raise ModelError(
                f"{where}: batch normalisation {node.name} does not follow a convolution or a residual sum "
                "as in the paper's architecture"
            )
        for key, name in zip(("weight", "bias", "running_mean", "running_var"), node.input[1:5], strict=True):
            state[f"{role}.{key}"] = inits[name]
        eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
        if abs(eps - 1e-3) > 1e-6:
            raise ModelError(f"{where}: batch normalisation {node.name} has epsilon {eps:g}; expected 1e-3")
    dense = [n for n in graph.node if n.op_type in ("MatMul", "Gemm")]
    if len(dense) != 1:
        raise ModelError(f"{where}: expected one Dense layer (MatMul), found {len(dense)}")
    w = inits.get(dense[0].input[1])
    if w is None or w.ndim != 2:
        raise ModelError(f"{where}: the Dense layer's kernel is not a constant matrix")
    state["dense.weight"] = w.T.copy()
    adds = [n for n in graph.node if n.op_type == "Add" and n.input[0] == dense[0].output[0]]
    bias = inits.get(adds[0].input[1]) if adds else None
    state["dense.bias"] = bias if bias is not None else np.zeros(w.shape[1], np.float32)
    return state, int(w.shape[1])


def _is_unfolded(proto) -> bool:
    """One BatchNormalization per Keras layer (9 in the paper's network); training exports fold most."""
    return sum(n.op_type == "BatchNormalization" for n in proto.graph.node) == 1 + 2 * (len(FILTERS) - 1)


def _contract_of(proto, where: str) -> ModelContract:
    from ecgviewer.model.contract import METADATA_KEY

    meta = {p.key: p.value for p in proto.metadata_props}
    if METADATA_KEY not in meta:
        raise ModelError(f"{where}: no ecgviewer contract in the ONNX file (import it first)")
    return ModelContract.from_json(meta[METADATA_KEY])


def load_base(
    path: str | Path, *, calibration: np.ndarray | None = None, dropout: float = 0.0
) -> tuple[RibeiroResNet, ModelContract]:
    """The paper's network in ``path`` (Keras .hdf5/.h5 or .onnx) as a module in eval mode, and its contract.

    Args:
        path: the base model file.
        calibration: (N, 4096, 12) inputs in the model's input scale, needed only for an ONNX
            exported by the training pipeline (its folded batch norms are measured on them).
        dropout: dropout of the module (for fine-tuning the unfrozen blocks).

    Raises:
        ModelError: the file is not the paper's architecture (naming the layer at fault).
    """
    import onnx

    from ecgviewer.model.contract import upgrade_legacy

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    if path.suffix.lower() in (".hdf5", ".h5"):
        from ecgviewer.model.keras_import import convert_keras

        proto = convert_keras(path)
    else:
        try:
            proto = onnx.load(str(path))
        except Exception as err:
            raise ModelError(f"{path}: not a readable ONNX model ({type(err).__name__}: {err})") from None
    contract, _ = upgrade_legacy(_contract_of(proto, str(path)))
    inits = {i.name for i in proto.graph.initializer}
    taps = None
    if "lowpass" in inits:
        from onnx import numpy_helper

        arr = next(numpy_helper.to_array(i) for i in proto.graph.initializer if i.name == "lowpass")
        taps = np.asarray(arr).reshape(arr.shape[0], -1)[0]
    if _is_unfolded(proto):
        state, n_classes = _unfolded_state(proto, str(path))
        model = RibeiroResNet(dropout=dropout, lowpass_taps=taps, n_classes=n_classes)
        own = model.state_dict()
        missing = [k for k in own if k not in state and "num_batches_tracked" not in k and k != "lowpass"]
        if missing:
            raise ModelError(f"{path}: no weights for {', '.join(missing[:5])} of the paper's architecture")
        with torch.no_grad():
            for k, v in state.items():
                if tuple(own[k].shape) != tuple(v.shape):
                    raise ModelError(f"{path}: {k} is {tuple(v.shape)}, expected {tuple(own[k].shape)}")
                own[k].copy_(torch.as_tensor(np.array(v, dtype=np.float32)))
    else:
        from ecgviewer.training.onnx_weights import load_onnx_weights

        if calibration is None:
            raise ModelError(
                f"{path}: an ONNX export with folded batch norms needs calibration inputs to be read back"
            )
        model = RibeiroResNet(dropout=dropout, lowpass_taps=taps, n_classes=len(contract.classes))
        load_onnx_weights(model, path, calibration)
    return model.eval(), contract
