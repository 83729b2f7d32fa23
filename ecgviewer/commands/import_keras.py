"""``ecgviewer import-keras MODEL.hdf5|model.zip|MODEL.onnx``: convert and install models, without TensorFlow.

A zip (Zenodo 3625017's ``model.zip``) or an ``.onnx`` with a contract is installed through
:func:`ecgviewer.model.install.import_models`; a single Keras file with ``--out``/``--name``
keeps the one-file conversion below.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from ecgviewer.atomic import temp_beside
from ecgviewer.errors import ModelError

NAME = "import-keras"
HELP = (
    "Convert a Keras HDF5 model of Ribeiro et al. (2020), e.g. model.hdf5 from Zenodo record 3625017, "
    "to ONNX (no TensorFlow needed) and install it for the viewer. Also takes the authors' model.zip as "
    "downloaded (main model, ten seeds, three splits; each installed under a name that says what it is) "
    "and an .onnx file with an ecgviewer contract. The same file installed again is recognised by its "
    "sha256. Exit status 1 when some member could not be converted (the others are installed). "
    "The paper's network carries the "
    "paper's per-class thresholds and provenance; another network is named and described by what it is. "
    "A failed conversion or --check writes and installs nothing."
)


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        metavar="MODEL.hdf5|model.zip|MODEL.onnx",
        help="Keras model file written by model.save(), a zip of them, or an ONNX model with a contract",
    )
    parser.add_argument(
        "--out",
        metavar="MODEL.onnx",
        help="where to write the ONNX model (default: the per-user models folder)",
    )
    parser.add_argument(
        "--name", help="name shown in the viewer (default: 'Ribeiro et al. 2020 (<file stem>)')"
    )
    parser.add_argument("--provenance", help="override the provenance text (e.g. for weights you trained)")
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="only write --out; do not copy the model into the per-user models folder",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace an installed model of the same file name"
    )
    parser.add_argument(
        "--check",
        nargs=2,
        metavar=("INPUTS.npy", "EXPECTED.npy"),
        help="after converting, run INPUTS (N, 4096, 12) and compare with Keras's EXPECTED (N, 6)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="largest absolute difference accepted by --check (default 1e-4)",
    )
    parser.add_argument(
        "--int8",
        action="store_true",
        help="also write a post-training int8 model (MODEL-int8.onnx), only if it passes the fidelity check",
    )
    parser.add_argument(
        "--calibrate",
        metavar="FOLDER",
        help="real exams for --int8 calibration and its fidelity check (up to 256 are read)",
    )
    parser.add_argument(
        "--bf16",
        action="store_true",
        help="check bfloat16 (OpenVINO, on a CPU with AVX-512 BF16 or AMX) against fp32 on the --calibrate "
        "exams and record the result in the contract; the viewer runs the model in bf16 only if it passed",
    )


def run(args: argparse.Namespace) -> int:
    from ecgviewer.model.contract import METADATA_KEY, ModelContract
    from ecgviewer.model.keras_import import convert_keras, save_onnx, slugify
    from ecgviewer.model.runtime import create_model
    from ecgviewer.paths import user_models_dir

    src = Path(args.model)
    if getattr(args, "int8", False) and not getattr(args, "calibrate", None):
        raise ModelError("--int8 needs --calibrate FOLDER (real exams to calibrate and check int8 on)")
    if getattr(args, "bf16", False) and not getattr(args, "calibrate", None):
        raise ModelError("--bf16 needs --calibrate FOLDER (real exams to check bfloat16 on)")
    if src.suffix.lower() in (".zip", ".onnx"):
        if args.out or args.check or args.provenance:
            raise ModelError(
                f"{src}: --out, --check and --provenance apply to one Keras file, not a zip or .onnx"
            )
        return _run_install(src, args)
    if args.no_install and not args.out:
        raise ModelError("--no-install needs --out MODEL.onnx (otherwise the conversion would go nowhere)")
    proto = convert_keras(src, name=args.name, provenance=args.provenance)
    contract = ModelContract.from_json({p.key: p.value for p in proto.metadata_props}[METADATA_KEY])
    file_name = slugify(args.name) + ".onnx" if args.name else src.stem + ".onnx"
    installed: Path | None = None
    if not args.no_install:
        installed = user_models_dir() / (Path(args.out).name if args.out else file_name)
        if (
            installed.exists()
            and not args.force
            and (args.out is None or Path(args.out).resolve() != installed.resolve())
        ):
            raise ModelError(
                f"{installed}: a model of that name is already installed; pass --force to "
                "replace it, or --name to install this one under another name"
            )
    out = Path(args.out) if args.out else installed
    assert out is not None
    if out.suffix.lower() != ".onnx":
        raise ModelError(f"{out}: the output must end in .onnx")
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the output and checked there; renamed into place (and installed) only when
    # every check passed, so a failed import leaves nothing behind.
    staged = temp_beside(out, ".onnx")
    try:
        save_onnx(proto, staged)
        # Load it the way the viewer will, so a broken conversion fails here and not in the app.
        model = create_model(staged, prefer_cuda=False)
        probe = model.predict(np.zeros((1, model.n_samples, model.n_leads), np.float32))
        check_failed = False
        if args.check:
            check_failed = not _check(model, args)
        if check_failed:
            staged.unlink(missing_ok=True)
            print(
                f"ecgviewer import-keras: {src}: the check failed; nothing written or installed",
                file=sys.stderr,
            )
            return 1
        os.replace(staged, out)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    model.path = out
    if getattr(args, "bf16", False):
        _record_bf16(out, args.calibrate)
    if installed is not None and installed.resolve() != out.resolve():
        tmp = temp_beside(installed, ".onnx")
        try:
            shutil.copyfile(out, tmp)
            os.replace(tmp, installed)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    print(f"converted {src} → {out}")
    print(
        f"  model: {contract.name}, version {contract.version}, input {contract.input_name} "
        f"(N, {model.n_samples}, {model.n_leads}) in {contract.units} at {contract.fs:g} Hz"
    )
    print(
        "  thresholds: "
        + ", ".join(f"{c} {t:g}" for c, t in zip(contract.classes, contract.thresholds, strict=True))
    )
    print(f"  zero input → probabilities in [{probe.min():.3f}, {probe.max():.3f}]")
    print(f"  provenance: {contract.provenance}")
    if installed is not None:
        print(f"  installed for the viewer: {installed}")
    if getattr(args, "int8", False):
        from ecgviewer.model.int8 import import_int8

        return import_int8(out, args.calibrate, installed.parent if installed is not None else None)
    return 0


def _run_install(src: Path, args: argparse.Namespace) -> int:
    """Install through :func:`ecgviewer.model.install.import_models`, one line per model."""
    from ecgviewer.model.install import import_models

    if args.no_install:
        raise ModelError("--no-install needs --out MODEL.onnx (otherwise the conversion would go nowhere)")

    def progress(done: int, total: int, label: str) -> None:
        if label and done < total:
            print(f"[{done + 1}/{total}] {label} …", file=sys.stderr, flush=True)

    results = import_models(src, progress=progress, name=args.name)
    failed = 0
    for r in results:
        if r.status == "failed":
            failed += 1
            print(f"ecgviewer: failed: {r.message}", file=sys.stderr)
        else:
            print(f"{r.status}: {r.name} ← {r.source} ({r.path})")
    if getattr(args, "bf16", False):
        exams = None
        for r in results:
            if r.status != "failed" and r.path is not None:
                exams = _record_bf16(Path(r.path), args.calibrate, exams)
    ok = len(results) - failed
    print(
        f"{ok} of {len(results)} model(s) installed or already installed"
        + (f"; {failed} failed" if failed else "")
    )
    return 1 if failed else 0


def _record_bf16(path: Path, calibrate: str, exams: np.ndarray | None = None) -> np.ndarray | None:
    """The ``--bf16`` step: measure bf16 against fp32 on real exams and write it into the contract.

    Returns the exams read (the model's input), so several models can share one read.
    """
    from ecgviewer.model.backends import check_and_record_bf16
    from ecgviewer.model.int8 import calibration_exams

    try:
        if exams is None:
            exams = calibration_exams(calibrate, path)
        record = check_and_record_bf16(path, exams)
    except RuntimeError as err:  # no OpenVINO, or no bf16 CPU: the model stays fp32-only
        print(f"  bf16 not checked: {err}", file=sys.stderr)
        return exams
    verdict = "passed: the viewer may run it in bf16" if record["passed"] else "FAILED: it stays fp32"
    print(
        f"  bf16 ({record['engine']}) vs fp32 on {record['n_exams']} exams: max |Δp| "
        f"{record['max_abs_dp']:.3g} (tolerance {record['tolerance']:g}), {verdict}"
    )
    return exams


def _check(model, args: argparse.Namespace) -> bool:
    """Run --check's inputs and compare with Keras's outputs; prints the result."""
    try:
        inputs = np.load(args.check[0], allow_pickle=False)
        expected = np.load(args.check[1], allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ModelError(f"--check: cannot read {args.check[0]} / {args.check[1]} ({err})") from None
    got = model.predict(inputs)
    if got.shape != expected.shape:
        raise ModelError(
            f"{args.check[1]}: shape {expected.shape} does not match the predictions {got.shape}"
        )
    diff = float(np.abs(got - expected).max())
    ok = diff <= args.tolerance
    print(
        f"  check: max |ONNX − Keras| = {diff:.2e} over {got.shape[0]} exams "
        f"({'within' if ok else 'ABOVE'} {args.tolerance:g})",
        file=sys.stdout if ok else sys.stderr,
    )
    return ok
