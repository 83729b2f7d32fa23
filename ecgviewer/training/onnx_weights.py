"""Read the weights of an exported :class:`RibeiroResNet` ONNX graph back into PyTorch.

The exporter folds each BatchNormalization that directly follows a convolution into that
convolution (weight and bias). Reading back, such a pair becomes the folded convolution and
a BatchNorm whose statistics are measured on calibration inputs and whose affine parameters
undo them exactly: in eval mode ``BN(y) = (y - m) / sqrt(v + eps) * sqrt(v + eps) + m + b = y + b``
whatever ``m`` and ``v`` are, so the module computes what the graph computes; and because
``m`` and ``v`` are the real statistics of ``y``, training mode (batch statistics) starts from
nearly the same function, so the module can be trained further.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ecgviewer.errors import ModelError
from ecgviewer.training.architecture import RibeiroResNet


def _conv_order(model: RibeiroResNet) -> list[tuple[str, str | None]]:
    """(conv, following batch norm or None) module names in the order the graph runs them."""
    order: list[tuple[str, str | None]] = [("conv", "bn")]
    for i, block in enumerate(model.blocks):
        if block.skip_conv is not None:  # the skip path runs first (ResidualUnit.forward)
            order.append((f"blocks.{i}.skip_conv", None))
        order.append((f"blocks.{i}.conv1", f"blocks.{i}.bn1"))
        order.append((f"blocks.{i}.conv2", None))
    return order


def load_onnx_weights(
    model: RibeiroResNet, path: str | Path, calibration: np.ndarray, *, input_gain: float = 1.0
) -> None:
    """Copy the weights of ``path`` (an ONNX export of this architecture) into ``model``.

    Args:
        model: a module of the same architecture (same low-pass stage, same widths).
        path: the ONNX file written by :func:`ecgviewer.training.export.export_onnx`.
        calibration: (N, 4096, 12) inputs, in the scale ``model`` will be fed, used to measure
            the statistics of the folded batch norms (a few hundred real exams).
        input_gain: the graph's input units per unit of ``model``'s input; e.g. 10 to read a
            model trained on 1e-4 V into one fed mV (the first convolution is multiplied by
            it; the low-pass stage in front is linear, so the function is unchanged).

    Raises:
        ModelError: the graph is not an export of this architecture.
    """
    import onnx
    from onnx import numpy_helper

    path = Path(path)
    proto = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    modules = dict(model.named_modules())
    state = model.state_dict()
    # the low-pass stage is a depthwise Conv too: skip it (a fixed buffer, checked below)
    convs = [n for n in convs if n.input[1] != "lowpass"]
    order = _conv_order(model)
    if len(convs) != len(order):
        raise ModelError(f"{path}: {len(convs)} convolutions, expected {len(order)} for this architecture")
    folded: list[tuple[str, torch.Tensor]] = []
    with torch.no_grad():
        for node, (conv_name, bn_name) in zip(convs, order, strict=True):
            weight = inits.get(node.input[1])
            conv = modules[conv_name]
            if weight is None or tuple(weight.shape) != tuple(conv.weight.shape):
                raise ModelError(
                    f"{path}: convolution {node.name or node.input[1]} has weights "
                    f"{None if weight is None else weight.shape}, expected {tuple(conv.weight.shape)}"
                )
            w = torch.as_tensor(weight.copy())
            if conv_name == "conv":
                w = w * input_gain
            conv.weight.copy_(w)
            if bn_name is not None:
                if len(node.input) < 3 or node.input[2] not in inits:
                    raise ModelError(f"{path}: convolution {conv_name} has no folded batch-norm bias")
                folded.append((bn_name, torch.as_tensor(inits[node.input[2]].copy())))
            elif len(node.input) > 2 and node.input[2]:
                raise ModelError(f"{path}: convolution {conv_name} has an unexpected bias")
        for name in list(state):
            if name in inits and not any(name.startswith(bn) for bn, _ in folded):
                value = torch.as_tensor(inits[name].copy())
                if tuple(value.shape) != tuple(state[name].shape):
                    raise ModelError(
                        f"{path}: {name} is {tuple(value.shape)}, expected {tuple(state[name].shape)}"
                    )
                state[name].copy_(value)
        missing = [n for n in ("dense.weight", "dense.bias") if n not in inits]
        if missing:
            raise ModelError(f"{path}: no {', '.join(missing)} in the graph")
        lowpass = inits.get("lowpass")
        if (
            model.lowpass is not None
            and lowpass is not None
            and not np.allclose(lowpass, model.lowpass.numpy(), atol=1e-7)
        ):
            raise ModelError(f"{path}: its low-pass stage differs from this module's")
        # the folded batch norms: identity first, then statistics measured on the calibration set
        for bn_name, bias in folded:
            bn = modules[bn_name]
            bn.weight.fill_(1.0)
            bn.bias.copy_(bias)
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
        _calibrate(model, [modules[b] for b, _ in folded], calibration)


def _calibrate(model: RibeiroResNet, norms: list[torch.nn.BatchNorm1d], x: np.ndarray) -> None:
    """Measure each norm's input mean and variance (eval mode) and make it an exact identity + bias."""
    sums = {id(bn): [0.0, 0.0, 0] for bn in norms}

    def hook(module, inputs, _output):
        y = inputs[0].detach().double()
        acc = sums[id(module)]
        acc[0] = acc[0] + y.sum(dim=(0, 2))
        acc[1] = acc[1] + (y * y).sum(dim=(0, 2))
        acc[2] += y.shape[0] * y.shape[2]

    handles = [bn.register_forward_hook(hook) for bn in norms]
    model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(x), 32):
                model.logits(torch.as_tensor(np.asarray(x[i : i + 32], dtype=np.float32)))
    finally:
        for h in handles:
            h.remove()
    with torch.no_grad():
        for bn in norms:
            s1, s2, n = sums[id(bn)]
            mean = s1 / n
            var = (s2 / n - mean * mean).clamp_min(1e-12)
            # (y - mean) / sqrt(var + eps) * sqrt(var + eps) + mean + bias == y + bias
            bn.running_mean.copy_(mean.float())
            bn.running_var.copy_(var.float())
            bn.bias.add_(mean.float())
            bn.weight.copy_(torch.sqrt(var + bn.eps).float())
