"""Run an ECG network with onnxruntime: model discovery, provider choice, batched prediction.

>>> model = load_model()                    # the bundled model, CUDA if usable else CPU
>>> model.provider_note                     # e.g. "CPU (CUDA unavailable: libcublasLt.so.13 not found)"
>>> probs = model.predict(x)                # x (N, 4096, 12) float32 in mV → (N, 6)
>>> pred = model.predict_exam(exam)         # preprocessing + inference + thresholds

The model contract (input name and shape, fs, units, leads, classes, thresholds,
provenance, metrics) is read from the ONNX metadata entry ``ecgviewer.contract``.

Inputs are millivolts everywhere outside this module; :meth:`EcgModel.predict` multiplies
them by the contract's ``input_scale_per_mv`` just before onnxruntime runs (1 for the
paper's network, 10 for a model trained on 1e-4 V).
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ecgviewer.classes import CLASSES
from ecgviewer.errors import Cancelled, ModelError
from ecgviewer.exam import Exam
from ecgviewer.leads import LEADS
from ecgviewer.model.contract import (
    METADATA_KEY,
    ContractFields,
    ModelContract,
    upgrade_legacy,
    validate_contract,
)
from ecgviewer.paths import models_dir, user_models_dir
from ecgviewer.preprocess import PreprocessReport, to_model_input

log = logging.getLogger(__name__)

BUNDLED_MODEL_FILE = "ecgviewer-resnet-ptbxl.onnx"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

ProgressCallback = Callable[[int, int], None]
CancelCallback = Callable[[], bool]


# --------------------------------------------------------------------------- discovery


def bundled_model_path() -> Path:
    """The bundled model, ``models/ecgviewer-resnet-ptbxl.onnx`` (absent only in a broken install)."""
    try:
        return models_dir() / BUNDLED_MODEL_FILE
    except FileNotFoundError as err:
        raise ModelError(str(err)) from None


@dataclass(frozen=True)
class ModelEntry:
    """A model the viewer can offer. ``problem`` is set (and ``version`` empty) when it cannot be read."""

    name: str
    path: Path
    bundled: bool
    version: str
    provenance: str = ""
    problem: str | None = None


def read_contract(path: str | Path) -> tuple[ModelContract, list[str]]:
    """The contract stored in an ONNX file, without starting an inference session.

    Returns (contract, warnings). A bare graph (no metadata) with input (N, 4096, 12)
    and output (N, 6) gets the paper's defaults and a warning; anything else without
    metadata raises :class:`ModelError`.
    """
    import onnx

    path = Path(path)
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # protobuf DecodeError, OSError, ...
        raise ModelError(f"{path}: not a readable ONNX model ({type(err).__name__}: {err})") from None
    meta = {p.key: p.value for p in proto.metadata_props}
    graph = proto.graph
    init_names = {i.name for i in graph.initializer}
    inputs = [(i.name, _dims(i)) for i in graph.input if i.name not in init_names]
    outputs = [(o.name, _dims(o)) for o in graph.output]
    return _contract_from(path, meta, inputs, outputs)


def _dims(value_info) -> list[int | str | None]:
    dims: list[int | str | None] = []
    for d in value_info.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return dims


def _fixed(dim: object) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def _contract_from(
    path: Path, meta: dict[str, str], inputs: Sequence[tuple[str, list]], outputs: Sequence[tuple[str, list]]
) -> tuple[ModelContract, list[str]]:
    """Check the graph's inputs/outputs against the contract in ``meta`` (or the paper's defaults)."""
    warnings: list[str] = []
    if METADATA_KEY in meta:
        try:
            contract = ModelContract.from_json(meta[METADATA_KEY])
        except (ValueError, TypeError) as err:
            raise ModelError(
                f"{path}: the {METADATA_KEY} metadata is not a valid model contract ({err}); "
                "re-export or re-import the model"
            ) from None
        try:
            validate_contract(contract)
        except ValueError as err:
            raise ModelError(
                f"{path}: the model contract ({METADATA_KEY} metadata) has a bad field: {err}; "
                "re-export or re-import the model"
            ) from None
        contract, notice = upgrade_legacy(contract)
        if notice:
            warnings.append(f"{path.name}: {notice}")
    else:
        bare = (
            len(inputs) == 1
            and len(outputs) == 1
            and len(inputs[0][1]) == 3
            and inputs[0][1][1:] == [4096, 12]
            and len(outputs[0][1]) == 2
            and outputs[0][1][1] == 6
        )
        if not bare:
            shapes = ", ".join(f"{n} {_shape_text(s)}" for n, s in inputs)
            raise ModelError(
                f"{path}: the model has no '{METADATA_KEY}' metadata (its input, units, classes and "
                f"thresholds are unknown) and is not a bare (N, 4096, 12) → (N, 6) network "
                f"(inputs: {shapes}). "
                "Convert Keras files with 'ecgviewer import-keras', or export with the ecgviewer training "
                "pipeline, which write the contract."
            )
        contract = ModelContract(
            name=path.stem,
            version="unknown",
            input_name=inputs[0][0],
            output_name=outputs[0][0],
            provenance=f"unknown: {path.name} carries no ecgviewer contract",
            notice="Unknown model assumed to be the network of Ribeiro et al. (2020). Not a medical device.",
        )
        warnings.append(
            f"{path.name} has no '{METADATA_KEY}' metadata: assumed the paper's input "
            "(4096 samples × 12 leads "
            "at 400 Hz in mV, leads I, II, III, aVR, aVL, aVF, V1–V6), classes and thresholds. "
            "Make sure it is the network of Ribeiro et al."
        )
    # -- check the graph against the contract
    names = [n for n, _ in inputs]
    if contract.input_name not in names:
        raise ModelError(
            f"{path}: the contract names input {contract.input_name!r} but the graph's inputs "
            f"are {', '.join(map(repr, names))}"
        )
    if len(inputs) != 1:
        raise ModelError(
            f"{path}: the graph has {len(inputs)} inputs ({', '.join(names)}); "
            "ecgviewer runs networks with one ECG input"
        )
    in_dims = inputs[0][1]
    want = list(contract.input_shape)
    if (
        len(in_dims) != 3
        or len(want) != 3
        or any(_fixed(have) is not None and have != w for have, w in zip(in_dims[1:], want[1:], strict=True))
    ):
        raise ModelError(
            f"{path}: wrong input shape {_shape_text(in_dims)}; expected (N, "
            f"{want[1] if len(want) > 1 else 4096}, {len(contract.leads)}) = (batch, samples, leads)"
        )
    if _fixed(in_dims[0]) not in (None, 1) and in_dims[0] != -1:
        warnings.append(f"{path.name}: the batch size is fixed at {in_dims[0]}")
    if want[2] != len(contract.leads):
        raise ModelError(
            f"{path}: the contract's input shape {tuple(want)} does not match its {len(contract.leads)} leads"
        )
    out_names = [n for n, _ in outputs]
    if contract.output_name not in out_names:
        raise ModelError(
            f"{path}: the contract names output {contract.output_name!r} but the graph's outputs "
            f"are {', '.join(map(repr, out_names))}"
        )
    out_dims = dict(outputs)[contract.output_name]
    n_classes = len(contract.classes)
    if len(out_dims) != 2 or (_fixed(out_dims[1]) is not None and out_dims[1] != n_classes):
        raise ModelError(
            f"{path}: wrong output shape {_shape_text(out_dims)}; expected (N, {n_classes}) "
            f"for the classes {', '.join(contract.classes)}"
        )
    if len(contract.thresholds) != n_classes:
        raise ModelError(
            f"{path}: the contract has {len(contract.thresholds)} thresholds for {n_classes} classes"
        )
    try:
        contract.check_scale()
    except ValueError as err:
        raise ModelError(f"{path}: the contract's input scale is not usable: {err}") from None
    unknown = [lead for lead in contract.leads if lead not in LEADS]
    if unknown:
        raise ModelError(f"{path}: the contract names unknown leads {', '.join(unknown)}")
    if tuple(contract.classes) != CLASSES:
        warnings.append(
            f"{path.name}: classes {', '.join(contract.classes)} differ from the paper's {', '.join(CLASSES)}"
        )
    return contract, warnings


def _shape_text(dims: Sequence[object]) -> str:
    return "(" + ", ".join("N" if not isinstance(d, int) or d <= 0 else str(d) for d in dims) + ")"


def list_models() -> list[ModelEntry]:
    """The bundled model (first) and every ``*.onnx`` in :func:`ecgviewer.paths.user_models_dir`.

    Unreadable models are listed with ``problem`` set, so the UI can say why.
    """
    entries: list[ModelEntry] = []
    candidates: list[tuple[Path, bool]] = []
    try:
        bundled = bundled_model_path()
        if bundled.is_file():
            candidates.append((bundled, True))
    except ModelError:
        pass
    candidates += [(p, False) for p in sorted(user_models_dir().glob("*.onnx"))]
    for path, is_bundled in candidates:
        try:
            contract, _ = _cached_contract(path)
            entries.append(ModelEntry(contract.name, path, is_bundled, contract.version, contract.provenance))
        except ModelError as err:
            entries.append(ModelEntry(path.stem, path, is_bundled, "", problem=str(err)))
    return entries


_contract_cache: dict[tuple[str, int, int], tuple[ModelContract, list[str]]] = {}


def _cached_contract(path: Path) -> tuple[ModelContract, list[str]]:
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _contract_cache:
        _contract_cache[key] = read_contract(path)
    return _contract_cache[key]


# --------------------------------------------------------------------------- providers


def _short_os_error(err: OSError) -> str:
    text = str(err)
    if "cannot open shared object file" in text:
        return text.split(":", 1)[0].strip() + " not found"
    return text.strip()


def cuda_unavailable_reason() -> str | None:
    """Why CUDA cannot be used here (None when it looks usable). Never prints anything.

    Checks, in order: onnxruntime built with the CUDA provider, the NVIDIA driver, a
    visible GPU, and the CUDA/cuDNN libraries the provider links against.
    """
    import onnxruntime as ort

    if CUDA not in ort.get_available_providers():
        return "this onnxruntime has no CUDA provider (install onnxruntime-gpu)"
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return "CUDA_VISIBLE_DEVICES hides every GPU"
    if sys.platform.startswith("linux") or sys.platform == "win32":
        driver = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
        try:
            libcuda = ctypes.CDLL(driver)
        except OSError:
            return f"no NVIDIA driver ({driver} not found)"
        try:
            if libcuda.cuInit(0) != 0:
                return "the NVIDIA driver found no usable GPU (cuInit failed)"
            count = ctypes.c_int(0)
            if libcuda.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value < 1:
                return "no CUDA GPU found"
        except AttributeError:  # pragma: no cover - exotic driver stub
            pass
        capi = Path(ort.__file__).parent / "capi"
        if sys.platform == "win32":
            shared, provider = (
                capi / "onnxruntime_providers_shared.dll",
                capi / "onnxruntime_providers_cuda.dll",
            )
        else:
            shared, provider = (
                capi / "libonnxruntime_providers_shared.so",
                capi / "libonnxruntime_providers_cuda.so",
            )
        if provider.exists():
            try:
                mode = getattr(ctypes, "RTLD_GLOBAL", 0)
                if shared.exists():
                    ctypes.CDLL(str(shared), mode=mode)
                ctypes.CDLL(str(provider), mode=mode)
            except OSError as err:
                return _short_os_error(err)
    return None


@dataclass(frozen=True)
class ProviderChoice:
    """The execution providers to ask onnxruntime for, and what to tell the user."""

    providers: tuple[str, ...]
    cuda_reason: str | None  # why CUDA is not used (None when it is tried)


def choose_providers(
    prefer_cuda: bool = True, *, probe: Callable[[], str | None] | None = None
) -> ProviderChoice:
    """CUDA then CPU when ``prefer_cuda`` and CUDA is usable; else CPU with the reason.

    ``probe`` (default :func:`cuda_unavailable_reason`) returns None when CUDA is usable
    or a short reason; tests inject it. ``ECGVIEWER_DEVICE=cpu`` forces the CPU.
    """
    if not prefer_cuda:
        return ProviderChoice((CPU,), "not requested")
    if os.environ.get("ECGVIEWER_DEVICE", "").lower() == "cpu":
        return ProviderChoice((CPU,), "ECGVIEWER_DEVICE=cpu")
    reason = (probe or cuda_unavailable_reason)()
    if reason:
        return ProviderChoice((CPU,), reason)
    return ProviderChoice((CUDA, CPU), None)


class _quiet_ort_logging:  # noqa: N801 - a context manager used like a function
    """Silence onnxruntime's default logger (provider-load errors go to the console otherwise)."""

    def __enter__(self) -> None:
        import onnxruntime as ort

        ort.set_default_logger_severity(4)

    def __exit__(self, *exc: object) -> None:
        import onnxruntime as ort

        ort.set_default_logger_severity(3)


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Prediction:
    """The network's answer for one exam.

    ``probabilities`` (6,) float32 in [0, 1]; ``decisions`` (6,) bool = probabilities >
    thresholds; ``input`` (4096, 12) float32 in mV is what the network saw (before the
    contract's ``input_scale_per_mv``); ``seconds``
    is the inference time (without preprocessing). ``unreliable`` is True when the exam's
    signal quality is poor (``quality_note`` says why, :mod:`ecgviewer.quality`); when
    ``decisions_withheld`` the recording is not a usable ECG and every decision is False.
    """

    probabilities: np.ndarray
    decisions: np.ndarray
    thresholds: np.ndarray
    classes: tuple[str, ...]
    model_name: str
    model_version: str
    provider: str
    seconds: float
    input: np.ndarray
    report: PreprocessReport
    unreliable: bool = False
    quality_note: str = ""
    decisions_withheld: bool = False

    def positive(self) -> list[str]:
        """Names of the classes above their thresholds."""
        return [c for c, d in zip(self.classes, self.decisions, strict=True) if d]

    def as_dict(self) -> dict[str, float | bool | str]:
        """Flat record for tables: ``prob_<class>``, ``<class>`` decision, model name and version."""
        row: dict[str, float | bool | str] = {"model": self.model_name, "model_version": self.model_version}
        for c, p, d in zip(self.classes, self.probabilities, self.decisions, strict=True):
            row[f"prob_{c}"] = float(p)
            row[c] = bool(d)
        row["quality"] = self.quality_note
        return row


@dataclass
class EcgModel(ContractFields):
    """A loaded network: its contract and an onnxruntime session. Thread-safe to predict from.

    Attributes:
        path: the ONNX file.
        contract: what the model expects and means (from its metadata).
        provider: "CUDA" or "CPU".
        provider_note: e.g. "CUDA", "CPU (CUDA unavailable: libcublasLt.so.13 not found)".
        warnings: things the user should know (e.g. no contract in the file).
        threads: onnxruntime intra-op threads (0 = onnxruntime's default, all cores).
    """

    path: Path
    contract: ModelContract
    session: object = field(repr=False)
    provider: str = "CPU"
    provider_note: str = "CPU"
    warnings: list[str] = field(default_factory=list)
    threads: int = 0

    @property
    def name(self) -> str:
        return self.contract.name

    @property
    def input_scale_per_mv(self) -> float:
        """Model input units per mV (1 for mV models, 10 for 1e-4 V ones); applied inside :meth:`predict`."""
        return float(self.contract.input_scale_per_mv)

    def input_scale_note(self) -> str:
        """What the runtime does to the mV input for this model, for the preprocessing report."""
        if self.input_scale_per_mv == 1.0:
            return "The model reads mV: amplitudes passed unchanged."
        return (
            f"The model reads {self.contract.units}: its input is mV × {self.input_scale_per_mv:g} "
            "(applied by the runtime)."
        )

    @property
    def n_samples(self) -> int:
        return int(self.contract.input_shape[1])

    @property
    def n_leads(self) -> int:
        return int(self.contract.input_shape[2])

    def describe(self) -> str:
        """One line for status bars and logs."""
        return f"{self.contract.name} (version {self.contract.version}) on {self.provider_note}"

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        """(..., 6) probabilities → (..., 6) bool: probability > threshold (strictly, as the paper)."""
        return np.asarray(probabilities) > self.thresholds

    def check_input(self, x: np.ndarray) -> np.ndarray:
        """Validate a batch and return it as C-contiguous float32 (N, samples, leads).

        Raises :class:`ModelError` for a wrong rank or shape, a non-numeric dtype, or
        NaN/inf values (naming the exams).
        """
        x = np.asarray(x)
        want = (self.n_samples, self.n_leads)
        hint = " (one exam: pass x[None])" if x.ndim == 2 and x.shape == want else ""
        if x.ndim != 3 or x.shape[1:] != want:
            raise ModelError(
                f"{self.path.name}: input of shape {x.shape}; expected (N, {want[0]}, {want[1]}) = "
                f"(exams, samples at {self.contract.fs:g} Hz, leads){hint}"
            )
        if x.dtype.kind not in "fiu":
            raise ModelError(f"{self.path.name}: input of dtype {x.dtype}; expected float32 in mV")
        x = np.ascontiguousarray(x, dtype=np.float32)
        finite = np.isfinite(x).all(axis=(1, 2))
        if not finite.all():
            bad = np.flatnonzero(~finite)
            listed = ", ".join(str(i) for i in bad[:10]) + (", …" if len(bad) > 10 else "")
            raise ModelError(
                f"the network input has NaN or infinite values in exam(s) {listed} of the batch "
                "(a damaged recording, not the model); fill or drop the missing samples first"
            )
        return x

    def predict(
        self,
        x: np.ndarray,
        *,
        batch_size: int = 32,
        progress: ProgressCallback | None = None,
        cancel: CancelCallback | None = None,
    ) -> np.ndarray:
        """Probabilities for a batch of network inputs.

        Args:
            x: (N, 4096, 12) float32 in mV, leads in the contract's order; the runtime
                multiplies by the contract's ``input_scale_per_mv`` before running the graph.
            batch_size: exams per onnxruntime call (memory ~ batch_size × 3 MB on the CPU).
            progress: called as ``progress(done, total)`` after each batch.
            cancel: polled before each batch; when it returns True, :class:`ecgviewer.errors.Cancelled`
                is raised.

        Returns:
            (N, 6) float32 probabilities.
        """
        x = self.check_input(x)
        if batch_size < 1:
            raise ModelError(f"batch size must be ≥ 1, got {batch_size}")
        n = x.shape[0]
        out = np.empty((n, len(self.contract.classes)), dtype=np.float32)
        scale = np.float32(self.input_scale_per_mv)
        for start in range(0, n, batch_size):
            if cancel is not None and cancel():
                raise Cancelled(f"prediction cancelled after {start} of {n} exams")
            stop = min(start + batch_size, n)
            batch = x[start:stop] if scale == 1 else x[start:stop] * scale
            out[start:stop] = self._run(batch)
            if progress is not None:
                progress(stop, n)
        if n == 0 and progress is not None:
            progress(0, 0)
        return out

    def _run(self, batch: np.ndarray) -> np.ndarray:
        try:
            y = self.session.run([self.contract.output_name], {self.contract.input_name: batch})[0]
        except Exception as err:  # onnxruntime raises its own (pybind) exception types
            raise ModelError(f"{self.path}: inference failed ({type(err).__name__}: {err})") from None
        y = np.asarray(y, dtype=np.float32).reshape(batch.shape[0], -1)
        if y.shape[1] != len(self.contract.classes):
            raise ModelError(
                f"{self.path}: the model returned {y.shape[1]} values per exam; its contract "
                f"lists {len(self.contract.classes)} classes"
            )
        if not (np.isfinite(y).all() and y.min(initial=0) >= -1e-6 and y.max(initial=1) <= 1 + 1e-6):
            raise ModelError(
                f"{self.path}: the model's outputs are not probabilities in [0, 1] (range "
                f"{np.nanmin(y):.3g}…{np.nanmax(y):.3g}); is its final sigmoid missing?"
            )
        return y

    def prepare(self, exam: Exam) -> tuple[np.ndarray, PreprocessReport]:
        """The exam as this model's input: (samples, leads) float32 in mV, and the report.

        Resampled to the contract's fs, padded/cropped to its length, leads in its order; the
        report ends with what the runtime does to the amplitude for this model."""
        x, report = to_model_input(exam, fs=self.contract.fs, n_samples=self.n_samples)
        report = replace(report, notes=(*report.notes, self.input_scale_note()))
        if tuple(self.contract.leads) != LEADS:
            x = x[:, [LEADS.index(lead) for lead in self.contract.leads]]
        return np.ascontiguousarray(x, dtype=np.float32), report

    def predict_exam(self, exam: Exam) -> Prediction:
        """Preprocess one exam, run the network and apply the thresholds."""
        x, report = self.prepare(exam)
        start = time.perf_counter()
        probs = self.predict(x[None], batch_size=1)[0]
        seconds = time.perf_counter() - start
        return self.prediction(probs, x, report, seconds)

    def prediction(
        self, probabilities: np.ndarray, x: np.ndarray, report: PreprocessReport, seconds: float = 0.0
    ) -> Prediction:
        """Wrap probabilities computed elsewhere (e.g. in a batch) as a :class:`Prediction`."""
        probs = np.asarray(probabilities, dtype=np.float32).copy()
        quality = report.quality
        decisions = self.decide(probs)
        if quality.withhold:
            decisions = np.zeros_like(decisions)
        return Prediction(
            probabilities=probs,
            decisions=decisions,
            thresholds=self.thresholds,
            classes=self.classes,
            model_name=self.contract.name,
            model_version=self.contract.version,
            provider=self.provider,
            seconds=float(seconds),
            input=x,
            report=report,
            unreliable=quality.unreliable,
            quality_note=quality.note(),
            decisions_withheld=quality.withhold,
        )


def _session_options(threads: int | None, optimization: str | None = None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3  # errors only; warnings about unused providers are noise for users
    so.intra_op_num_threads = int(threads or 0)
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    levels = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    so.graph_optimization_level = levels[optimization or "all"]
    # Desktop default: threads sleep between calls instead of spinning. On a loaded 2-core
    # machine spinning threads fight other processes for the cores (batch-1 latency up to 2×
    # worse, README "Performance"); ECGVIEWER_SPIN=1 restores onnxruntime's spinning.
    spin = "1" if os.environ.get("ECGVIEWER_SPIN", "").strip() in ("1", "on", "true", "yes") else "0"
    so.add_session_config_entry("session.intra_op.allow_spinning", spin)
    return so


def create_model(
    path: str | Path,
    *,
    prefer_cuda: bool = True,
    threads: int | None = None,
    optimization: str | None = None,
    probe: Callable[[], str | None] | None = None,
    conv2d: bool | None = None,
) -> EcgModel:
    """Load a model without the cache (see :func:`load_model`).

    ``optimization`` is onnxruntime's graph optimisation level: "disable", "basic",
    "extended" or "all" (default). ``probe`` replaces the CUDA check (for tests).
    ``conv2d`` runs the graph with its 1-D convolutions as exact 1×k 2-D ones
    (None: ``ECGVIEWER_CONV2D`` or the default of :mod:`ecgviewer.model.graph_rewrite`).
    """
    import onnxruntime as ort

    from ecgviewer.model.graph_rewrite import discard_cached, session_source

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    if threads is not None and threads < 0:
        raise ModelError(f"threads must be ≥ 0 (0 = all cores), got {threads}")
    contract, warnings = read_contract(path)
    choice = choose_providers(prefer_cuda, probe=probe)
    so = _session_options(threads, optimization)
    source = session_source(path, conv2d)  # the path, the cached rewritten graph, or its bytes
    session = None
    note_reason = choice.cuda_reason
    if CUDA in choice.providers:
        try:
            with _quiet_ort_logging():
                session = ort.InferenceSession(source, so, providers=list(choice.providers))
            if CUDA not in session.get_providers():
                note_reason, session = "the CUDA provider failed to start", None
        except Exception as err:
            note_reason = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
            session = None
    for retry in (False, True):
        if session is not None:
            break
        try:
            session = ort.InferenceSession(source, so, providers=[CPU])
        except Exception as err:
            if not retry and discard_cached(source):  # a damaged cached rewrite: redo it in memory
                source = session_source(path, conv2d, cache=False)
                continue
            raise ModelError(
                f"{path}: onnxruntime cannot load the model ({str(err).splitlines()[0][:300]})"
            ) from None
    if CUDA in session.get_providers():
        provider, note = "CUDA", "CUDA"
    else:
        provider = "CPU"
        note = "CPU" if note_reason == "not requested" else f"CPU (CUDA unavailable: {note_reason})"
    if provider == "CPU":  # bf16 through the optional OpenVINO backend, where the CPU and the model allow
        from ecgviewer.model.backends import OpenVinoSession, choose_backend

        backend = choose_backend(contract.extra)
        if backend.engine == "openvino":
            try:
                session = OpenVinoSession(path, backend.precision, int(threads or 0))
                note = f"{note}, {backend.note}" if note == "CPU" else f"{note} · {backend.note}"
            except Exception as err:  # a broken optional install must not stop the model from loading
                warnings.append(
                    f"{path.name}: OpenVINO bf16 failed to start ({type(err).__name__}); fp32 used"
                )
    for w in warnings:
        log.warning(w)
    return EcgModel(
        path=path,
        contract=contract,
        session=session,
        provider=provider,
        provider_note=note,
        warnings=list(warnings),
        threads=int(threads or 0),
    )


_cache: dict[tuple, EcgModel] = {}
_cache_lock = threading.Lock()


def load_model(
    path: str | Path | None = None, *, prefer_cuda: bool = True, threads: int | None = None
) -> EcgModel:
    """Load an ONNX model (default: the bundled one), cached per file, provider and threads.

    A changed file (mtime or size) is loaded again. Raises :class:`ModelError` with the
    path and the problem.
    """
    path = bundled_model_path() if path is None else Path(path)
    if not path.is_file():
        if path.name == BUNDLED_MODEL_FILE:
            raise ModelError(f"{path}: the bundled model is missing; reinstall ecgviewer")
        raise ModelError(f"{path}: no such model file")
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size, bool(prefer_cuda), int(threads or 0))
    with _cache_lock:
        model = _cache.get(key)
        if model is None:
            model = create_model(path, prefer_cuda=prefer_cuda, threads=threads)
            _cache[key] = model
    return model


def clear_model_cache() -> None:
    """Forget every loaded model (their sessions are freed when no longer referenced)."""
    with _cache_lock:
        _cache.clear()
    _contract_cache.clear()
