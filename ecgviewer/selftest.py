"""``ecgviewer --self-test``: check that an installation (above all a frozen build) works.

Each step exercises one piece that a frozen build tends to lose (the bundled model,
onnxruntime's provider libraries, the example exam, the XML and DICOM readers (on files written
at run time), h5py, shap with numba, Qt's
platform plugins, the PDF writer) and prints one line with its duration::

    ecgviewer 0.1.0 self-test — frozen build, Python 3.11.7, Linux x86_64
    [ ok ] installation        0.00 s  models: /opt/ecgviewer/_internal/models
    [ ok ] bundled model       0.31 s  ecgviewer-resnet-ptbxl 1.0 on CPU (CUDA unavailable: ...)
    ...
    self-test passed: 8 steps in 5.2 s

On a failure the step prints ``[FAIL]`` with the error, the remaining steps that depend on
it are skipped, and :func:`run_self_test` returns 1. Tracebacks are printed only with
``verbose=True`` or the environment variable ``ECGVIEWER_DEBUG=1``. Everything is written
into a temporary folder that is removed afterwards (``keep=`` a folder keeps the files).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ecgviewer import __version__

#: Smallest plausible size of the self-test's PDF report (bytes); an empty page is ~1 kB.
MIN_REPORT_BYTES = 5_000
#: Segments per lead for the low-resolution SHAP run (the viewer uses 32).
SHAP_SEGMENTS = 8
#: Network evaluations allowed for it (each is one forward pass, ~10–100 ms on a CPU).
SHAP_MAX_EVALS = 64


class StepSkippedError(Exception):
    """A step could not run because a step it needs failed."""


@dataclass
class StepResult:
    """Outcome of one self-test step: ``status`` is "ok", "FAIL" or "skip"; ``seconds`` wall time."""

    name: str
    status: str
    seconds: float
    detail: str = ""
    error: BaseException | None = field(default=None, repr=False)


@dataclass
class SelfTestResult:
    """All steps of a self-test run; ``ok`` is True when every step passed."""

    steps: list[StepResult]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(s.status == "ok" for s in self.steps)

    @property
    def failed(self) -> list[StepResult]:
        return [s for s in self.steps if s.status == "FAIL"]

    def step(self, name: str) -> StepResult:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)


def _debug_env() -> bool:
    return os.environ.get("ECGVIEWER_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def build_kind() -> str:
    """ "frozen build" (PyInstaller), "source checkout" or "installed package"."""
    if getattr(sys, "frozen", False):
        return "frozen build"
    from ecgviewer import paths

    try:
        models = paths.models_dir().resolve()
    except FileNotFoundError:
        return "installed package (models/ missing)"
    if models.parent == Path(paths.__file__).resolve().parent.parent:
        return "source checkout"
    return "installed package"


def _error_text(err: BaseException) -> str:
    text = str(err).strip() or "(no message)"
    return f"{type(err).__name__}: {text}"


class _Runner:
    """Runs named steps, times them, prints one line per step and remembers the outcome."""

    def __init__(self, out: TextIO, verbose: bool) -> None:
        self.out = out
        self.verbose = verbose
        self.steps: list[StepResult] = []
        self.state: dict[str, Any] = {}

    def need(self, *keys: str) -> list[Any]:
        missing = [k for k in keys if k not in self.state]
        if missing:
            raise StepSkippedError("needs " + ", ".join(missing))
        return [self.state[k] for k in keys]

    def run(self, name: str, func: Callable[[], str]) -> StepResult:
        t0 = time.perf_counter()
        try:
            detail = func()
            result = StepResult(name, "ok", time.perf_counter() - t0, detail)
        except StepSkippedError as why:
            result = StepResult(name, "skip", time.perf_counter() - t0, str(why))
        except Exception as err:  # the self-test reports every failure, whatever its type
            result = StepResult(name, "FAIL", time.perf_counter() - t0, _error_text(err), err)
        self.steps.append(result)
        self._print(result)
        return result

    def _print(self, r: StepResult) -> None:
        mark = {"ok": "[ ok ]", "FAIL": "[FAIL]", "skip": "[skip]"}[r.status]
        lines = r.detail.splitlines() or [""]
        print(f"{mark} {r.name:<18} {r.seconds:6.2f} s  {lines[0]}", file=self.out)
        for line in lines[1:]:
            print(f"{'':<35}{line}", file=self.out)
        if r.error is not None and self.verbose:
            traceback.print_exception(type(r.error), r.error, r.error.__traceback__, file=self.out)
        self.out.flush()


def run_self_test(
    *,
    verbose: bool | None = None,
    keep: str | os.PathLike | None = None,
    out: TextIO | None = None,
    model_path: str | os.PathLike | None = None,
) -> int:
    """Run every self-test step, print one line per step, return 0 when all passed, else 1.

    ``verbose`` (default: ``ECGVIEWER_DEBUG`` set) prints tracebacks of failures; ``keep``
    writes the outputs (PDF report, saliency, HDF5 round trip) into that folder instead of
    a temporary one; ``out`` is the stream (default stdout); ``model_path`` tests another
    ONNX model instead of the bundled one.
    """
    result = self_test(verbose=verbose, keep=keep, out=out, model_path=model_path)
    return 0 if result.ok else 1


def self_test(
    *,
    verbose: bool | None = None,
    keep: str | os.PathLike | None = None,
    out: TextIO | None = None,
    model_path: str | os.PathLike | None = None,
) -> SelfTestResult:
    """Like :func:`run_self_test` but returns the :class:`SelfTestResult` (for tests and benchmarks)."""
    out = out if out is not None else sys.stdout
    if out is None:  # a windowed Windows build started without a console
        out = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    verbose = _debug_env() if verbose is None else verbose
    runner = _Runner(out, verbose)
    t_start = time.perf_counter()
    print(
        f"ecgviewer {__version__} self-test — {build_kind()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}",
        file=out,
    )
    if keep is not None:
        work = Path(keep)
        work.mkdir(parents=True, exist_ok=True)
        _run_steps(runner, work, model_path)
    else:
        with tempfile.TemporaryDirectory(prefix="ecgviewer-selftest-") as tmp:
            _run_steps(runner, Path(tmp), model_path)
    result = SelfTestResult(runner.steps, time.perf_counter() - t_start)
    n = len(result.steps)
    if result.ok:
        print(f"self-test passed: {n} steps in {result.seconds:.1f} s", file=out)
    else:
        first = result.failed[0] if result.failed else next(s for s in result.steps if s.status != "ok")
        print(
            f"self-test FAILED at step '{first.name}': {first.detail}"
            + ("" if verbose else "  (ECGVIEWER_DEBUG=1 shows the traceback)"),
            file=out,
        )
    out.flush()
    return result


def _run_steps(r: _Runner, work: Path, model_path: str | os.PathLike | None) -> None:
    # Qt must never pick a display for the self-test (the PDF writer needs a QGuiApplication).
    if "QT_QPA_PLATFORM" not in os.environ and not _has_qt_app():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"

    def installation() -> str:
        from ecgviewer import paths

        models = paths.models_dir()
        resources = paths.resources_dir()
        r.state["resources"] = resources
        return f"models: {models}\nresources: {resources}"

    def bundled_model() -> str:
        from ecgviewer.model.runtime import bundled_model_path, load_model

        path = Path(model_path) if model_path else bundled_model_path()
        model = load_model(path)
        r.state["model"] = model
        c = model.contract
        return (
            f"{c.name} {c.version} ({path.name}, {path.stat().st_size / 1e6:.1f} MB)\n"
            f"provider: {model.provider_note}"
        )

    def example_exam() -> str:
        (resources,) = r.need("resources")
        from ecgviewer.io import read_exam

        path = resources / "example" / "example_exam.hea"
        exam = read_exam(path)
        r.state["exam"] = exam
        return f"{path.name}: {len(exam.leads)} leads, {exam.duration_s:.1f} s at {exam.fs:g} Hz" + (
            f"; labels {exam.raw_labels}" if exam.raw_labels else ""
        )

    def clinical_files() -> str:
        (exam,) = r.need("exam")
        import numpy as np

        from ecgviewer.io import read_exam

        lines = []
        for path in write_clinical_samples(work, exam):
            back = read_exam(path)
            cols = [exam.leads.index(name) for name in back.leads]
            err = float(np.abs(back.signal_mv - exam.signal_mv[:, cols]).max())
            if back.n_samples != exam.n_samples or back.fs != exam.fs or err > 0.003:
                raise AssertionError(
                    f"{path.name}: read back {back.n_samples} samples at {back.fs:g} Hz, "
                    f"max error {err:.4f} mV"
                )
            lines.append(
                f"{path.name}: {back.format}, {len(back.leads)} leads, max error {err * 1000:.1f} µV"
            )
        return "\n".join(lines)

    def inference() -> str:
        model, exam = r.need("model", "exam")
        prediction = model.predict_exam(exam)
        import numpy as np

        p = np.asarray(prediction.probabilities)
        if p.shape != (len(prediction.classes),) or not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
            raise ValueError(f"implausible probabilities {p!r}")
        r.state["prediction"] = prediction
        found = [c for c, d in zip(prediction.classes, prediction.decisions, strict=True) if d]
        probs = "  ".join(f"{c} {v:.2f}" for c, v in zip(prediction.classes, p, strict=True))
        return (
            f"{probs}\nabove threshold: {', '.join(found) or 'none'}; "
            f"{prediction.seconds * 1000:.0f} ms on {prediction.provider}"
        )

    def shap_step() -> str:
        model, prediction = r.need("model", "prediction")
        import numpy as np

        from ecgviewer.explain import explain

        sal = explain(
            model,
            prediction.input,
            segments=SHAP_SEGMENTS,
            max_evals=SHAP_MAX_EVALS,
            seed=0,
            report=prediction.report,
        )
        values = np.asarray(sal.values)
        expected = (len(prediction.classes), 12)
        if values.ndim != 3 or values.shape[:2] != expected or not np.all(np.isfinite(values)):
            raise ValueError(f"implausible saliency of shape {values.shape}")
        r.state["saliency"] = sal
        sal.save_npz(work / "selftest_saliency.npz")
        top = int(np.argmax(np.asarray(sal.probabilities)))
        lead_imp = np.asarray(sal.lead_importance())[top]
        from ecgviewer.leads import LEADS

        return (
            f"{values.shape[2]} segments × 12 leads, {sal.n_evaluations} model evaluations; "
            f"most important lead for {sal.classes[top]}: {LEADS[int(np.argmax(lead_imp))]}"
        )

    def pdf_report() -> str:
        exam, prediction = r.need("exam", "prediction")
        from ecgviewer.report import write_exam_report

        out = write_exam_report(
            work / "selftest_report.pdf",
            exam,
            prediction,
            saliency=r.state.get("saliency"),
            model=r.state.get("model"),
        )
        out = Path(out)
        size = out.stat().st_size
        with open(out, "rb") as fh:
            head = fh.read(5)
        if head != b"%PDF-" or size < MIN_REPORT_BYTES:
            raise ValueError(f"{out}: not a plausible PDF ({size} bytes, starts with {head!r})")
        return f"{out.name}: {size / 1024:.0f} kB"

    def hdf5_round_trip() -> str:
        (prediction,) = r.need("prediction")
        import h5py
        import numpy as np

        from ecgviewer.io import open_exams

        x = np.asarray(prediction.input, dtype=np.float32)[None]
        path = work / "selftest_tracings.hdf5"
        with h5py.File(path, "w") as fh:  # the paper's layout: (N, 4096, 12) in mV at 400 Hz
            fh.create_dataset("tracings", data=x)
            fh.create_dataset("exam_id", data=np.array([1], dtype=np.int64))
        exams = open_exams(path)
        try:
            back = exams[0]
            if back.signal_mv.shape != (4096, 12):
                raise ValueError(f"{path}: read back shape {back.signal_mv.shape}, expected (4096, 12)")
            err = float(np.max(np.abs(back.signal_mv - x[0])))
            if err > 1e-3:
                raise ValueError(f"{path}: read back differs by {err:g} mV")
        finally:
            exams.close()
        return f"h5py {h5py.version.version}, HDF5 {h5py.version.hdf5_version}: wrote and re-read 1 exam"

    def qt_plugins() -> str:
        from PySide6 import QtCore

        plugins = Path(QtCore.QLibraryInfo.path(QtCore.QLibraryInfo.LibraryPath.PluginsPath))
        platforms = sorted(p.name for p in (plugins / "platforms").glob("*qoffscreen*")) + sorted(
            p.name
            for p in (plugins / "platforms").glob("*")
            if "xcb" in p.name or "windows" in p.name or "cocoa" in p.name
        )
        if not platforms:
            raise FileNotFoundError(
                f"{plugins / 'platforms'}: no Qt platform plugins (offscreen/xcb/windows/cocoa)"
            )
        return f"Qt {QtCore.qVersion()}, PySide6; platform plugins: {', '.join(platforms)}"

    r.run("installation", installation)
    r.run("bundled model", bundled_model)
    r.run("example exam", example_exam)
    r.run("XML and DICOM", clinical_files)
    r.run("inference", inference)
    r.run("SHAP (low res)", shap_step)
    r.run("PDF report", pdf_report)
    r.run("HDF5 round trip", hdf5_round_trip)
    r.run("Qt plugins", qt_plugins)


def write_clinical_samples(folder: str | os.PathLike, exam: Any = None) -> list[Path]:
    """Write a small GE MUSE XML and a DICOM ECG of ``exam`` (default: a synthetic one) into ``folder``.

    The self-test reads them back: the app checks its XML and DICOM readers without any file from
    outside the installation. Returns the two paths.
    """
    from ecgviewer.io.clinical_samples import write_dicom_ecg, write_muse_xml

    if exam is None:
        from ecgviewer.synth import synth_exam

        exam = synth_exam(seed=7, duration_s=4.0)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [
        write_muse_xml(exam, folder / "selftest_muse.xml"),
        write_dicom_ecg(exam, folder / "selftest_ecg.dcm"),
    ]


def _has_qt_app() -> bool:
    mod = sys.modules.get("PySide6.QtCore")
    return bool(mod is not None and mod.QCoreApplication.instance() is not None)
