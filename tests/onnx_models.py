"""Tiny ONNX stand-ins for the network, for tests: a few nodes between the ``signal`` input
(N, samples, leads) and the ``probabilities`` output (N, classes), the contract in the metadata."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ecgviewer.model.contract import METADATA_KEY, ModelContract


def save_signal_model(
    path: Path,
    nodes: Sequence[onnx.NodeProto],
    weights: dict[str, np.ndarray],
    *,
    graph_name: str,
    contract: ModelContract | None,
    samples: int = 4096,
    leads: int = 12,
    outputs: int = 6,
    ir_version: int = 9,
) -> Path:
    """Write ``nodes`` (reading ``signal`` and the initializers ``weights``, writing ``probabilities``)
    as an opset-17 model with ``contract`` as its metadata (none when None); returns ``path``."""
    graph = helper.make_graph(
        list(nodes),
        graph_name,
        [helper.make_tensor_value_info("signal", TensorProto.FLOAT, ["N", samples, leads])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", outputs])],
        initializer=[numpy_helper.from_array(value, name) for name, value in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=ir_version)
    if contract is not None:
        helper.set_model_props(model, {METADATA_KEY: contract.to_json()})
    onnx.save(model, str(path))
    return path


def save_mean_linear_model(
    path: Path,
    w: np.ndarray,
    *,
    graph_name: str,
    contract: ModelContract | None,
    samples: int = 4096,
    sigmoid: bool = True,
) -> Path:
    """Mean over time, then the (leads, outputs) matrix ``w``, then a sigmoid (or nothing, for a
    model whose outputs are not probabilities); returns ``path``."""
    nodes = [
        helper.make_node("ReduceMean", ["signal"], ["m"], axes=[1], keepdims=0),
        helper.make_node("MatMul", ["m", "W"], ["z"]),
        helper.make_node("Sigmoid" if sigmoid else "Identity", ["z"], ["probabilities"]),
    ]
    leads, outputs = w.shape
    return save_signal_model(
        path,
        nodes,
        {"W": w},
        graph_name=graph_name,
        contract=contract,
        samples=samples,
        leads=leads,
        outputs=outputs,
    )
