"""Optional OpenVINO backend: bfloat16 inference on CPUs that have it, after a fidelity check.

onnxruntime has no bfloat16 CPU kernels; OpenVINO (``pip install ecgviewer[openvino]``,
never required, not in the frozen build) runs the same ONNX graph in bf16 on CPUs with
AVX-512 BF16 or AMX, about 2× faster than fp32 at batch 64 on such a CPU. bf16 moves the
probabilities (0.003 on the bundled model, 0.022 on the random-weight Keras fixture), so a
model runs in bf16 only when its contract records a passed check on real exams:

    contract.extra["bf16_fidelity"] = {"max_abs_dp": 0.003, "n_exams": 300,
                                       "tolerance": 0.01, "passed": True, "engine": "openvino 2026.4"}

written by :func:`record_bf16_fidelity` (at export or import time, on a bf16 CPU).
:func:`choose_backend` picks OpenVINO bf16 only when the CPU has bf16, OpenVINO is
importable, the contract carries a passed check, CUDA is not used and ``ECGVIEWER_BF16``
is not 0. Otherwise onnxruntime runs the model, as before.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

BF16_TOLERANCE = 0.01
"""Largest |Δp| (absolute, any class, any exam) between bf16 and fp32 for bf16 to be enabled."""

BF16_FLAGS = ("avx512_bf16", "amx_bf16")
ENV_VAR = "ECGVIEWER_BF16"
FIDELITY_KEY = "bf16_fidelity"


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    if not sys.platform.startswith("linux"):
        return set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_has_bf16(flags: Iterable[str] | None = None) -> bool:
    """True when the CPU has AVX-512 BF16 or AMX (``flags`` default: :func:`cpu_flags`)."""
    have = set(cpu_flags() if flags is None else flags)
    return any(f in have for f in BF16_FLAGS)


def openvino_available() -> bool:
    """Whether the optional ``openvino`` package is importable (nothing is imported)."""
    return importlib.util.find_spec("openvino") is not None


@dataclass(frozen=True)
class BackendChoice:
    """The engine and precision to run a model with, and the reason for the user."""

    engine: str  # "onnxruntime" or "openvino"
    precision: str  # "fp32" or "bf16"
    reason: str

    @property
    def note(self) -> str:
        """Shown after the provider, e.g. "CPU (OpenVINO bf16)"."""
        return "OpenVINO bf16" if self.engine == "openvino" else ""


def fidelity_passed(extra: dict[str, Any] | None) -> bool:
    """True when a contract's ``extra`` records a passed bf16 check within :data:`BF16_TOLERANCE`."""
    record = (extra or {}).get(FIDELITY_KEY)
    if not isinstance(record, dict):
        return False
    try:
        return bool(record.get("passed")) and float(record["max_abs_dp"]) <= float(
            record.get("tolerance", BF16_TOLERANCE)
        )
    except (KeyError, TypeError, ValueError):
        return False


def choose_backend(
    extra: dict[str, Any] | None,
    *,
    using_cuda: bool = False,
    flags: Iterable[str] | None = None,
    have_openvino: bool | None = None,
) -> BackendChoice:
    """onnxruntime fp32 unless every condition for OpenVINO bf16 holds (see the module docstring)."""
    setting = os.environ.get(ENV_VAR, "").strip().lower()
    if using_cuda:
        return BackendChoice("onnxruntime", "fp32", "CUDA is used")
    if setting in ("0", "off", "false", "no"):
        return BackendChoice("onnxruntime", "fp32", f"{ENV_VAR}=0")
    if not cpu_has_bf16(flags):
        return BackendChoice("onnxruntime", "fp32", "the CPU has no AVX-512 BF16 or AMX")
    if not (openvino_available() if have_openvino is None else have_openvino):
        return BackendChoice(
            "onnxruntime", "fp32", "OpenVINO is not installed (pip install ecgviewer[openvino])"
        )
    if not fidelity_passed(extra):
        return BackendChoice("onnxruntime", "fp32", "the model has no passed bf16 fidelity check")
    return BackendChoice("openvino", "bf16", "bf16 CPU, OpenVINO installed, bf16 fidelity checked")


class OpenVinoSession:
    """An OpenVINO compiled model with the part of onnxruntime's session API the runtime uses.

    ``precision`` "bf16" or "fp32" (the CPU plugin's inference precision hint). Thread-safe:
    each call makes its own infer request.
    """

    def __init__(self, source: str | bytes | Path, precision: str = "bf16", threads: int = 0) -> None:
        try:
            import openvino as ov
        except ImportError:  # the optional extra; the frozen build leaves it out
            raise RuntimeError("OpenVINO is not installed (pip install ecgviewer[openvino])") from None

        core = ov.Core()
        model = core.read_model(source) if not isinstance(source, bytes) else core.read_model(source, b"")
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        self.precision = precision
        self._compiled = core.compile_model(model, "CPU", config)
        self._inputs = [p.get_any_name() for p in self._compiled.inputs]
        self._outputs = [p.get_any_name() for p in self._compiled.outputs]

    def get_providers(self) -> list[str]:
        return [f"OpenVINO-{self.precision}"]

    def run(self, output_names: list[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        request = self._compiled.create_infer_request()
        result = request.infer(feeds)
        names = output_names or self._outputs
        # a port has every name of its tensor (an ONNX output can also be named by the node
        # that makes it, and get_any_name may return that one)
        by_name = {name: value for port, value in result.items() for name in port.get_names()}
        return [np.asarray(by_name[n]) for n in names]


Runner = Callable[[np.ndarray], np.ndarray]


def bf16_fidelity(
    reference: Runner,
    candidate: Runner,
    exams: np.ndarray,
    *,
    tolerance: float = BF16_TOLERANCE,
    batch_size: int = 32,
    engine: str = "",
) -> dict[str, Any]:
    """Compare a bf16 runner with the fp32 reference on real exams.

    Args:
        reference, candidate: (B, 4096, 12) float32 model input → (B, 6) probabilities.
        exams: (N, 4096, 12) float32 model inputs (real exams, not noise: bf16 errors depend on
            the amplitudes).

    Returns:
        ``{"max_abs_dp", "n_exams", "tolerance", "passed", "engine"}`` for ``contract.extra``.
    """
    exams = np.asarray(exams, np.float32)
    if exams.ndim != 3 or len(exams) == 0:
        raise ValueError(f"need a (N, samples, leads) batch of exams, got shape {exams.shape}")
    worst = 0.0
    for start in range(0, len(exams), batch_size):
        batch = exams[start : start + batch_size]
        worst = max(worst, float(np.abs(np.asarray(candidate(batch)) - np.asarray(reference(batch))).max()))
    return {
        "max_abs_dp": worst,
        "n_exams": len(exams),
        "tolerance": float(tolerance),
        "passed": bool(worst <= tolerance),
        "engine": engine,
    }


def record_bf16_fidelity(path: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record`` into the model's contract (``extra["bf16_fidelity"]``), atomically."""
    import onnx

    from ecgviewer.model.contract import METADATA_KEY, ModelContract
    from ecgviewer.model.keras_import import save_onnx

    path = Path(path)
    proto = onnx.load(str(path))
    for prop in proto.metadata_props:
        if prop.key == METADATA_KEY:
            contract = ModelContract.from_json(prop.value)
            contract.extra[FIDELITY_KEY] = dict(record)
            prop.value = contract.to_json()
            break
    else:
        raise ValueError(f"{path}: no {METADATA_KEY} metadata to record the bf16 check in")
    return save_onnx(proto, path)


def check_and_record_bf16(
    path: str | Path, exams_mv: np.ndarray, *, tolerance: float = BF16_TOLERANCE
) -> dict:
    """Run the model in fp32 (onnxruntime) and bf16 (OpenVINO) on ``exams_mv`` and record the
    result in its contract. Needs OpenVINO and a bf16 CPU.

    ``exams_mv`` (N, 4096, 12) are real exams in mV, the app's network input; they are scaled
    by the contract's ``input_scale_per_mv`` here, as the runtime does, so a model trained on
    1e-4 V is checked on what it really receives.
    """
    import onnxruntime as ort

    from ecgviewer.model.runtime import read_contract

    try:
        import openvino as ov
    except ImportError:  # the optional extra; the frozen build leaves it out
        raise RuntimeError("OpenVINO is not installed (pip install ecgviewer[openvino])") from None

    if not cpu_has_bf16():
        raise RuntimeError("this CPU has no AVX-512 BF16 or AMX: the bf16 check must run on one that has")
    scale = np.float32(read_contract(path)[0].input_scale_per_mv)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    bf16 = OpenVinoSession(path, "bf16")
    record = bf16_fidelity(
        lambda b: session.run(None, {name: b})[0],
        lambda b: bf16.run(None, {name: b})[0],
        np.asarray(exams_mv, np.float32) * scale,
        tolerance=tolerance,
        engine=f"openvino {ov.__version__.split('-')[0]}",
    )
    record_bf16_fidelity(path, record)
    return record
