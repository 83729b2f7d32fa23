"""Post-training int8 (onnxruntime static QDQ) of an fp32 model, with a fidelity report.

Used by ``ecgviewer import-keras --int8 --calibrate FOLDER``. The convolutions that read
the leads directly (the input low-pass and the first convolution) stay in float: 8-bit
input steps swamp the small waves and cause most of the int8 error. The int8 graph is
compared with the fp32 one on the calibration exams and refused when any probability
moves by more than :data:`INT8_TOLERANCE`; published models stay fp32 by default.

>>> report = quantize_int8("m.onnx", "m-int8.onnx", exams)   # exams (N, 4096, 12) in mV
>>> report.passed, report.max_abs_dp
"""

from __future__ import annotations

import contextlib
import io
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ecgviewer.errors import ModelError

INT8_TOLERANCE = 0.02
"""Largest |Δp| (any class, any calibration exam) between int8 and fp32 for an int8 model to be installed."""

INT8_KEY = "int8"

CALIBRATION_PERCENTILE = 99.999
"""Activation ranges are this percentile of |activation| over the calibration exams."""


@dataclass(frozen=True)
class Int8Report:
    """How the int8 graph compares with fp32 on ``n_exams`` real exams."""

    max_abs_dp: float
    mean_abs_dp: float
    decision_agreement: float  # share of (exam, class) decisions unchanged at the contract's thresholds
    n_exams: int
    tolerance: float
    float_nodes: tuple[str, ...]  # nodes kept in float

    @property
    def passed(self) -> bool:
        return self.max_abs_dp <= self.tolerance

    def describe(self) -> str:
        verdict = "within" if self.passed else "OUTSIDE"
        return (
            f"int8 vs fp32 on {self.n_exams} exams: max |Δp| {self.max_abs_dp:.3g}, "
            f"mean {self.mean_abs_dp:.2g}, decisions unchanged {100 * self.decision_agreement:.1f} % — "
            f"{verdict} the {self.tolerance:g} tolerance"
        )


def lead_reading_convs(proto) -> list[str]:  # proto: onnx.ModelProto
    """Names of the Conv nodes whose input is the leads themselves (weights' in-channels × group = 12)."""
    from onnx import helper, numpy_helper

    inits = {i.name: i for i in proto.graph.initializer}
    names = []
    for node in proto.graph.node:
        if node.op_type != "Conv" or node.input[1] not in inits:
            continue
        group = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "group"), 1)
        w = numpy_helper.to_array(inits[node.input[1]])
        if w.shape[1] * group == 12:
            names.append(node.name)
    return names


class _Calibration:
    """onnxruntime CalibrationDataReader over (N, 4096, 12) model inputs, a few exams at a time."""

    # one exam at a time: onnxruntime's percentile calibrator stacks every batch's activations
    # and fails on a last batch of another size
    def __init__(self, input_name: str, x: np.ndarray, batch: int = 1) -> None:
        self._batches = iter([{input_name: x[i : i + batch]} for i in range(0, len(x), batch)])

    def get_next(self) -> dict | None:
        return next(self._batches, None)


def quantize_int8(
    fp32_path: str | Path,
    out_path: str | Path,
    exams_mv: np.ndarray,
    *,
    tolerance: float = INT8_TOLERANCE,
    keep_float: Sequence[str] | None = None,
) -> Int8Report:
    """Write the static-QDQ int8 version of ``fp32_path`` to ``out_path`` and report its fidelity.

    Args:
        exams_mv: (N, 4096, 12) float32 real exams in mV (calibration and the fidelity check).
        keep_float: node names left in float (default: :func:`lead_reading_convs`).

    The report is also stored in the int8 model's contract (``extra["int8"]``). Nothing is
    written when quantisation fails; the caller decides what to do with a failed report.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from ecgviewer.model.contract import METADATA_KEY, ModelContract
    from ecgviewer.model.graph_rewrite import conv1d_as_conv2d
    from ecgviewer.model.keras_import import save_onnx
    from ecgviewer.model.runtime import create_model

    fp32_path, out_path = Path(fp32_path), Path(out_path)
    fp32 = create_model(fp32_path, prefer_cuda=False, conv2d=False)
    x = fp32.check_input(exams_mv)
    if len(x) == 0:
        raise ModelError("no calibration exams")
    scaled = x * np.float32(fp32.input_scale_per_mv)
    proto = onnx.load(str(fp32_path))
    # onnxruntime's int8 convolution kernels are fast on 2-D convolutions only (on 1-D ones the
    # QDQ graph ran slower than fp32), so the exact 1×k Conv2D form of the graph is quantised.
    source = conv1d_as_conv2d(proto)
    keep = list(lead_reading_convs(source) if keep_float is None else keep_float)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "int8.onnx"
        source_path = Path(tmp) / "fp32-2d.onnx"
        onnx.save(source, str(source_path))
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                quantize_static(
                    str(source_path),
                    str(raw),
                    _Calibration(fp32.contract.input_name, scaled),
                    quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    per_channel=True,
                    # the 99.999th percentile of each activation, not its extreme: one outlier
                    # exam otherwise sets a step that swamps everyone's small waves (on 111
                    # Challenge records, max |Δp| 0.076 with min/max, 0.039 with this)
                    calibrate_method=CalibrationMethod.Percentile,
                    extra_options={"CalibPercentile": CALIBRATION_PERCENTILE},
                    # convolutions only (their inputs, weights and outputs): quantising the
                    # batch norms, additions, pooling and the dense head as well doubled the mean
                    # |Δp| on real exams for no speed (the convolutions are the work)
                    op_types_to_quantize=["Conv"],
                    nodes_to_exclude=keep,
                )
        except Exception as err:
            raise ModelError(f"{fp32_path}: int8 quantisation failed ({type(err).__name__}: {err})") from None
        q = onnx.load(str(raw))
    meta = {p.key: p.value for p in proto.metadata_props}
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "q.onnx"
        onnx.save(q, str(probe))
        int8 = create_model(probe, prefer_cuda=False, conv2d=False)
        p32 = fp32.predict(x)
        p8 = int8.predict(x)
    dp = np.abs(p8 - p32)
    report = Int8Report(
        max_abs_dp=float(dp.max()),
        mean_abs_dp=float(dp.mean()),
        decision_agreement=float((fp32.decide(p8) == fp32.decide(p32)).mean()),
        n_exams=len(x),
        tolerance=float(tolerance),
        float_nodes=tuple(keep),
    )
    if METADATA_KEY in meta:
        contract = ModelContract.from_json(meta[METADATA_KEY])
        record = {**asdict(report), "float_nodes": list(keep), "passed": report.passed}
        extra = {**contract.extra, INT8_KEY: record}
        contract = replace(contract, version=f"{contract.version}-int8", extra=extra)
        meta[METADATA_KEY] = contract.to_json()
    del q.metadata_props[:]
    for key, value in meta.items():
        q.metadata_props.add(key=key, value=value)
    save_onnx(q, out_path)
    return report


def calibration_exams(folder: str | Path, model_path: str | Path, limit: int = 256) -> np.ndarray:
    """Up to ``limit`` exams of ``folder`` as the model's (N, 4096, 12) mV input (unreadable ones skipped)."""
    from ecgviewer.io import open_exams
    from ecgviewer.model.runtime import create_model

    folder = Path(folder)
    if not folder.exists():
        raise ModelError(f"{folder}: no such calibration folder")
    model = create_model(model_path, prefer_cuda=False, conv2d=False)
    rows = []
    with open_exams(folder) as exams:
        for i in range(len(exams)):
            if len(rows) >= limit:
                break
            try:
                rows.append(model.prepare(exams[i])[0])
            except Exception:  # a damaged calibration exam is skipped, not fatal
                continue
    if not rows:
        raise ModelError(f"{folder}: no readable ECG exams to calibrate int8 with")
    return np.stack(rows)


def int8_path_for(path: str | Path) -> Path:
    """``model.onnx`` → ``model-int8.onnx``."""
    path = Path(path)
    return path.with_name(f"{path.stem}-int8{path.suffix}")


def import_int8(
    fp32_path: Path, calibrate: str | Path, installed_dir: Path | None, *, tolerance: float = INT8_TOLERANCE
) -> int:
    """The ``import-keras --int8 --calibrate FOLDER`` step, after the fp32 model is written.

    Writes ``<out>-int8.onnx`` (and installs it beside the fp32 one) only when the fidelity
    report is within ``tolerance``; otherwise prints the report and returns 1 (the fp32 model stays).
    """
    exams = calibration_exams(calibrate, fp32_path)
    target = int8_path_for(fp32_path)
    with tempfile.TemporaryDirectory() as tmp:
        candidate = Path(tmp) / target.name
        report = quantize_int8(fp32_path, candidate, exams, tolerance=tolerance)
        print(f"  {report.describe()}", file=sys.stdout if report.passed else sys.stderr)
        if not report.passed:
            print(
                "  int8 not installed: post-training int8 moves probabilities by up to "
                f"{report.max_abs_dp:.3g} (> {tolerance:g}); the fp32 model is used",
                file=sys.stderr,
            )
            return 1
        shutil.copyfile(candidate, target.with_name(f".{target.name}.tmp"))
        target.with_name(f".{target.name}.tmp").replace(target)
    print(f"  int8 model: {target}")
    if installed_dir is not None and installed_dir.resolve() != target.parent.resolve():
        dest = installed_dir / target.name
        shutil.copyfile(target, dest.with_name(f".{dest.name}.tmp"))
        dest.with_name(f".{dest.name}.tmp").replace(dest)
        print(f"  installed for the viewer: {dest}")
    return 0
