"""Install models into the per-user models folder: the authors' ``model.zip``, a Keras file, an ONNX file.

>>> results = import_models("model.zip", progress=print, cancel=lambda: False)
>>> [(r.name, r.status) for r in results]
[('Ribeiro 2020 — main model', 'installed'), ('Ribeiro 2020 — seed 1', 'installed'), ...]

Everything here is headless and background-friendly: ``progress(done, total, label)`` is
called after each member and ``cancel()`` is polled before each one (a cancelled import
raises :class:`ecgviewer.errors.Cancelled`; members installed so far stay installed).

* A zip (Zenodo record 3625017's ``model.zip``) is read member by member into a temporary
  folder under names chosen here (never the member's own path, so no path traversal), with
  per-member and total size limits checked on the bytes actually read (a zip header can lie).
* Each installed file is named from what it is ("Ribeiro 2020 — seed 3") and carries the
  sha256 of its source in its contract (``extra.source_sha256``); importing the same source
  again is recognised by that hash and reported as ``already installed``.
* A member that cannot be converted gets a ``failed`` result whose message names the member
  and the layer or field at fault; the other members still import.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ecgviewer.errors import Cancelled, ModelError

MAX_MEMBER_BYTES = 512 * 1024 * 1024
"""Largest model file accepted inside a zip (the published ones are ~25 MB each)."""
MAX_ZIP_TOTAL_BYTES = 4 * 1024 * 1024 * 1024
"""Largest total of model bytes read from one zip."""
MODEL_SUFFIXES = (".hdf5", ".h5", ".onnx")

ImportProgress = Callable[[int, int, str], None]
"""``progress(done, total, label)``: ``done`` of ``total`` files handled, ``label`` the current one."""


@dataclass(frozen=True)
class InstallResult:
    """What happened to one file of an import.

    ``status`` is "installed", "already installed" (same source sha256 found) or "failed";
    ``source`` is the file or zip member it came from; ``path`` the installed ONNX file (None
    when it failed); ``message`` says what happened in one sentence (for a failure: the file
    and the layer or field at fault).
    """

    source: str
    name: str
    status: str
    message: str
    path: Path | None = None
    sha256: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "failed"


# --------------------------------------------------------------------------- naming

_PAPER = "Ribeiro 2020"
_SPLITS = {
    "date_order": "split by date",
    "individual_patients": "split by patient",
    "normal_order": "random split",
}


def display_name(member: str) -> str:
    """The name a published model gets from its path in ``model.zip``.

    ``model/model.hdf5`` → "Ribeiro 2020 — main model"; ``other_seeds/model_3.hdf5`` →
    "Ribeiro 2020 — seed 3"; ``other_splits/model_individual_patients.hdf5`` → "Ribeiro 2020
    — split by patient"; anything else → "Ribeiro 2020 — <file stem>".
    """
    p = PurePosixPath(member.replace("\\", "/"))
    stem = p.stem
    parents = [part.lower() for part in p.parts[:-1]]
    if "other_seeds" in parents:
        m = re.fullmatch(r"model_?(\d+)", stem)
        return f"{_PAPER} — seed {m.group(1)}" if m else f"{_PAPER} — seed {stem}"
    if "other_splits" in parents:
        key = stem.removeprefix("model_")
        return f"{_PAPER} — {_SPLITS.get(key, key.replace('_', ' '))}"
    if stem == "model":
        return f"{_PAPER} — main model"
    return f"{_PAPER} — {stem}"


def _file_name(name: str) -> str:
    from ecgviewer.model.keras_import import slugify

    return slugify(name.replace("—", "-")).lower() + ".onnx"


# --------------------------------------------------------------------------- installed index


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (model files are tens of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def installed_by_hash(folder: Path) -> dict[str, Path]:
    """sha256 of each installed model's source (``extra.source_sha256``, else the file's own) → file."""
    from ecgviewer.model.runtime import _cached_contract

    found: dict[str, Path] = {}
    for path in sorted(folder.glob("*.onnx")):
        try:
            contract, _ = _cached_contract(path)
        except ModelError:
            continue
        extra = contract.extra if isinstance(contract.extra, dict) else {}
        digest = str(extra.get("source_sha256") or "")
        if digest:
            found.setdefault(digest, path)
        own = str(extra.get("installed_sha256") or "")
        if own:
            found.setdefault(own, path)
    return found


# --------------------------------------------------------------------------- one file


def _unique_path(folder: Path, file_name: str) -> Path:
    path = folder / file_name
    k = 2
    while path.exists():
        path = folder / f"{Path(file_name).stem}-{k}.onnx"
        k += 1
    return path


def install_file(
    path: Path,
    *,
    source: str | None = None,
    name: str | None = None,
    dest: Path | None = None,
    known: dict[str, Path] | None = None,
) -> InstallResult:
    """Convert (Keras) or check (ONNX) one file and install it into ``dest``; never raises ModelError.

    ``source`` is what the user knows the file as (a zip member path); ``name`` overrides the
    display name; ``known`` is :func:`installed_by_hash` of ``dest`` (updated in place).
    """
    from ecgviewer.paths import user_models_dir

    dest = user_models_dir() if dest is None else Path(dest)
    source = source or str(path)
    known = installed_by_hash(dest) if known is None else known
    try:
        digest = sha256_file(path)
    except OSError as err:
        return InstallResult(source, name or "", "failed", f"{source}: cannot read ({err.strerror or err})")
    if digest in known:
        where = known[digest]
        return InstallResult(
            source,
            name or where.stem,
            "already installed",
            f"{source}: already installed as {where.name} (same sha256 {digest[:12]}…)",
            where,
            digest,
        )
    suffix = path.suffix.lower()
    try:
        if suffix == ".onnx":
            result = _install_onnx(path, source, digest, name, dest)
        elif suffix in (".hdf5", ".h5"):
            result = _install_keras(path, source, digest, name, dest)
        else:
            raise ModelError(f"{source}: not a model file (expected .hdf5, .h5, .onnx or a .zip of them)")
    except ModelError as err:
        text = str(err)
        # the converter names the temporary file; the user knows the member
        text = text.replace(str(path), source).replace(path.name, source)
        if source not in text:
            text = f"{source}: {text}"
        return InstallResult(source, name or "", "failed", text, None, digest)
    known[digest] = result.path  # type: ignore[assignment]
    return result


def _install_keras(path: Path, source: str, digest: str, name: str | None, dest: Path) -> InstallResult:
    import dataclasses

    from ecgviewer.model.keras_import import build_onnx, paper_contract, read_keras_hdf5, save_onnx

    model = read_keras_hdf5(path)
    display = name or display_name(source)
    contract = paper_contract(model, name=display)
    extra = dict(contract.extra)
    extra["source_file"] = PurePosixPath(source.replace("\\", "/")).name
    extra["source_member"] = source
    contract = dataclasses.replace(
        contract,
        extra=extra,
        provenance=contract.provenance.replace(path.name, source),
    )
    proto = build_onnx(model, contract)
    out = _unique_path(dest, _file_name(display))
    save_onnx(proto, out)
    _check_loads(out, source)
    return InstallResult(source, display, "installed", f"{source}: installed as {out.name}", out, digest)


def _install_onnx(path: Path, source: str, digest: str, name: str | None, dest: Path) -> InstallResult:
    import dataclasses

    import onnx

    from ecgviewer.model.contract import METADATA_KEY
    from ecgviewer.model.keras_import import save_onnx
    from ecgviewer.model.runtime import read_contract

    contract, _warnings = read_contract(path)
    if "no ecgviewer contract" in contract.provenance:
        raise ModelError(
            f"{source}: the ONNX file carries no ecgviewer contract (metadata 'ecgviewer.contract'); "
            "its classes, thresholds and input units are unknown, so it is not installed"
        )
    proto = onnx.load(str(path))
    display = name or contract.name
    fixed = dataclasses.replace(contract, name=display, extra={**contract.extra, "installed_sha256": digest})
    for prop in proto.metadata_props:
        if prop.key == METADATA_KEY:
            prop.value = fixed.to_json()
    out = _unique_path(dest, _file_name(display))
    save_onnx(proto, out)
    _check_loads(out, source)
    return InstallResult(source, display, "installed", f"{source}: installed as {out.name}", out, digest)


def _check_loads(out: Path, source: str) -> None:
    """Load the installed file the way the viewer will; remove it and raise if that fails."""
    import numpy as np

    from ecgviewer.model.runtime import create_model

    try:
        model = create_model(out, prefer_cuda=False)
        model.predict(np.zeros((1, model.n_samples, model.n_leads), np.float32))
    except ModelError as err:
        out.unlink(missing_ok=True)
        raise ModelError(f"{source}: the converted model does not run ({err})") from None


# --------------------------------------------------------------------------- zip


def _zip_members(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    members = []
    for info in zf.infolist():
        if info.is_dir():
            continue
        name = info.filename.replace("\\", "/")
        if name.startswith("__MACOSX/") or PurePosixPath(name).name.startswith("."):
            continue
        if PurePosixPath(name).suffix.lower() in MODEL_SUFFIXES:
            members.append(info)

    # main model first, then seeds in numeric order, then the rest
    def key(info: zipfile.ZipInfo) -> tuple:
        name = info.filename
        label = display_name(name)
        m = re.search(r"seed (\d+)$", label)
        return (0 if label.endswith("main model") else 1 if m else 2, int(m.group(1)) if m else 0, name)

    return sorted(members, key=key)


def _extract_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int) -> int:
    """Copy one member to ``target`` (a name chosen by the caller), enforcing size limits; returns bytes."""
    if info.file_size > MAX_MEMBER_BYTES:
        raise ModelError(
            f"{info.filename}: {info.file_size / 1e6:.0f} MB uncompressed, above the "
            f"{MAX_MEMBER_BYTES / 1e6:.0f} MB limit for one model"
        )
    written = 0
    limit = min(MAX_MEMBER_BYTES, budget)
    try:
        with zf.open(info) as src, open(target, "wb") as dst:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                written += len(chunk)
                if written > limit:
                    raise ModelError(
                        f"{info.filename}: more than {limit / 1e6:.0f} MB when decompressed "
                        "(size limit for a model in a zip)"
                    )
                dst.write(chunk)
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError) as err:
        target.unlink(missing_ok=True)
        raise ModelError(f"{info.filename}: cannot be read from the zip ({err})") from None
    return written


def import_models(
    path: str | Path,
    progress: ImportProgress | None = None,
    cancel: Callable[[], bool] | None = None,
    *,
    dest: str | Path | None = None,
    name: str | None = None,
) -> list[InstallResult]:
    """Install a model zip, a Keras ``.hdf5``/``.h5`` or an ``.onnx`` file (with a contract).

    Args:
        path: the file as downloaded (e.g. Zenodo 3625017's ``model.zip``).
        progress: ``progress(done, total, label)`` after each file (``label`` = its display name).
        cancel: polled before each file; True → :class:`ecgviewer.errors.Cancelled`.
        dest: target folder (default :func:`ecgviewer.paths.user_models_dir`).
        name: display name for a single file (ignored for a zip, whose names come from its members).

    Returns:
        One :class:`InstallResult` per model file, in install order (failures included).

    Raises:
        ModelError: ``path`` is missing, not a zip/model file, a damaged zip, or a zip without models.
        Cancelled: ``cancel()`` returned True.
    """
    from ecgviewer.paths import user_models_dir

    path = Path(path)
    dest = user_models_dir() if dest is None else Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    known = installed_by_hash(dest)
    if path.suffix.lower() != ".zip" and not zipfile.is_zipfile(path):
        if cancel is not None and cancel():
            raise Cancelled("import cancelled")
        label = name or (display_name(path.name) if path.suffix.lower() in (".hdf5", ".h5") else path.stem)
        if progress is not None:
            progress(0, 1, label)
        result = install_file(path, source=str(path), name=name, dest=dest, known=known)
        if progress is not None:
            progress(1, 1, label)
        return [result]
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise ModelError(f"{path}: not a readable zip file ({err})") from None
    results: list[InstallResult] = []
    with zf, tempfile.TemporaryDirectory(prefix="ecgviewer-import-") as tmp:
        members = _zip_members(zf)
        if not members:
            raise ModelError(f"{path}: the zip holds no model file ({', '.join(MODEL_SUFFIXES)})")
        budget = MAX_ZIP_TOTAL_BYTES
        for i, info in enumerate(members):
            if cancel is not None and cancel():
                raise Cancelled(f"import cancelled after {i} of {len(members)} models")
            label = display_name(info.filename)
            if progress is not None:
                progress(i, len(members), label)
            # the temporary name is ours: the member's path never reaches the file system
            suffix = PurePosixPath(info.filename).suffix.lower()
            target = Path(tmp) / f"member-{i}{suffix}"
            try:
                budget -= _extract_member(zf, info, target, budget)
            except ModelError as err:
                results.append(InstallResult(info.filename, label, "failed", str(err)))
                continue
            try:
                results.append(install_file(target, source=info.filename, dest=dest, known=known))
            finally:
                target.unlink(missing_ok=True)
        if progress is not None:
            progress(len(members), len(members), "")
    return results


def remove_installed(path: str | Path) -> None:
    """Remove an installed model file (and its card beside it, if any)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    card = path.with_suffix(".md")
    if card.exists():
        card.unlink()


__all__ = [
    "MAX_MEMBER_BYTES",
    "MAX_ZIP_TOTAL_BYTES",
    "InstallResult",
    "display_name",
    "import_models",
    "install_file",
    "installed_by_hash",
    "remove_installed",
]
