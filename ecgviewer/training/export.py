"""Export a trained :class:`RibeiroResNet` to ONNX with the full model contract in its metadata."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from ecgviewer.model.contract import METADATA_KEY, ModelContract
from ecgviewer.training.architecture import N_LEADS, N_SAMPLES, RibeiroResNet

OPSET = 17


def export_onnx(model: RibeiroResNet, contract: ModelContract, out: Path) -> Path:
    """Write ``model`` (eval mode, float32) to ``out`` atomically, with ``contract`` as metadata.

    The graph maps ``signal`` (N, 4096, 12) in the contract's input scale (mV for the
    bundled model 2) to ``probabilities`` (N, 6).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = model.float().eval()
    example = torch.zeros(1, N_SAMPLES, N_LEADS)
    fd, tmp_name = tempfile.mkstemp(suffix=".onnx.tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on the constant padding arithmetic
            torch.onnx.export(
                model,
                (example,),
                str(tmp),
                input_names=[contract.input_name],
                output_names=[contract.output_name],
                opset_version=OPSET,
                dynamo=False,
                dynamic_axes={contract.input_name: {0: "batch"}, contract.output_name: {0: "batch"}},
            )
        proto = onnx.load(str(tmp))
        proto.producer_name = "ecgviewer.training"
        del proto.metadata_props[:]
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, contract.to_json()
        proto.doc_string = f"{contract.name} {contract.version}: {contract.provenance}. {contract.notice}"
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def max_abs_difference(model: RibeiroResNet, onnx_path: Path, x: np.ndarray) -> float:
    """Largest |torch − onnxruntime| probability over inputs ``x`` (N, 4096, 12)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model.float().eval()(torch.as_tensor(x, dtype=torch.float32)).numpy()
    got = session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})[0]
    return float(np.max(np.abs(expected - got)))
