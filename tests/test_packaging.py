"""The frozen build's recipe is coherent: what the spec ships exists, what it leaves out is
not imported by the app, and the desktop files, installers and spec agree on the file types.

Cheap checks only: the PyInstaller build itself runs in packaging/ci_frozen_check.sh.
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import os
import shutil
import stat
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "ecgviewer.spec"
SUFFIXES = {"hea", "h5", "hdf5", "csv", "scp", "dcm", "xml", "edf"}
MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"


def load_spec(**env: str) -> dict:
    """The spec's constants, executed without PyInstaller (its build section is skipped)."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        namespace: dict = {"SPECPATH": str(ROOT), "__file__": str(SPEC)}
        exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), namespace)
        return namespace
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def spec() -> dict:
    return load_spec(ECGVIEWER_BUILD_CUDA="")


def _excluded(name: str, excludes: list[str]) -> bool:
    return any(name == e or name.startswith(e + ".") for e in excludes)


def _guards_import_error(node: ast.Try) -> bool:
    for handler in node.handlers:
        names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(
            isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError", "Exception")
            for n in names
        ):
            return True
    return False


def app_imports() -> dict[str, set[str]]:
    """Modules the shipped package imports without an ``except ImportError`` around them.

    {module: {file, ...}}; the frozen app may only lack a module whose import is guarded
    (and then says what is missing instead of crashing).
    """
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "ecgviewer").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("ecgviewer/training/"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        guarded: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Try) and _guards_import_error(node):
                for inner in node.body:
                    guarded.update(id(n) for n in ast.walk(inner))
        for node in ast.walk(tree):
            if id(node) in guarded:
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                found.setdefault(name, set()).add(rel)
    return found


def test_spec_datas_exist(spec):
    for src, dest in spec["DATAS"]:
        matches = list(ROOT.glob(src)) if "*" in src else [ROOT / src]
        if src in ("models/*.md", "models/*.json"):
            continue  # optional: the model card, if any
        assert matches and all(m.exists() for m in matches), f"spec DATAS {src!r} matches nothing"
        assert dest in ("models", "resources")


def test_bundled_model_and_example_are_shipped(spec):
    from ecgviewer.model.runtime import BUNDLED_MODEL_FILE

    onnx_globs = [src for src, dest in spec["DATAS"] if dest == "models" and src.endswith(".onnx")]
    assert any(Path(BUNDLED_MODEL_FILE).match(Path(g).name) for g in onnx_globs)
    assert (ROOT / "models" / BUNDLED_MODEL_FILE).is_file()
    assert ("resources", "resources") in spec["DATAS"]
    assert (ROOT / "resources" / "example" / "example_exam.hea").is_file()
    assert (ROOT / "resources" / "icons" / "ecgviewer.svg").is_file()


def test_training_torch_and_test_tools_are_excluded(spec):
    ex = spec["EXCLUDES"]
    for name in (
        "torch",
        "ecgviewer.training",
        "pytest",
        "_pytest",
        "hypothesis",
        "tkinter",
        "IPython",
        "PySide6.QtWebEngineCore",
        "PySide6.Qt3DCore",
        "PySide6.QtQuick",
    ):
        assert _excluded(name, ex), f"{name} should be excluded from the frozen app"
    hidden = spec["HIDDEN_IMPORTS"]
    assert not any(h.startswith("ecgviewer.training") for h in hidden)


def test_nothing_the_app_imports_is_excluded(spec):
    ex = spec["EXCLUDES"]
    bad = {name: sorted(files) for name, files in app_imports().items() if _excluded(name, ex)}
    assert not bad, (
        f"modules the app imports (without `except ImportError`) but the frozen build leaves out: {bad}"
    )


def test_runtime_dependencies_are_not_excluded(spec):
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    modules = {
        "PySide6": "PySide6",
        "pyqtgraph": "pyqtgraph",
        "onnxruntime-gpu": "onnxruntime",
        "onnx": "onnx",
        "numpy": "numpy",
        "scipy": "scipy",
        "h5py": "h5py",
        "wfdb": "wfdb",
        "shap": "shap",
    }
    for dep in deps:
        name = dep.split(">")[0].split("=")[0].split("<")[0].split("[")[0].strip()
        module = modules.get(name, name.replace("-", "_"))
        assert not _excluded(module, spec["EXCLUDES"]), f"runtime dependency {name} is excluded"
    # shap's hard imports
    for module in ("numba", "llvmlite", "sklearn", "pandas", "slicer", "cloudpickle", "tqdm"):
        assert not _excluded(module, spec["EXCLUDES"]), f"shap needs {module}"


def test_cluster_extra_is_left_out(spec):
    for module in ("ecgviewer.cluster", "dask", "distributed", "pyarrow"):
        assert _excluded(module, spec["EXCLUDES"]), f"{module} (the cluster extra) would be frozen"


def test_hidden_imports_exist(spec):
    for name in spec["HIDDEN_IMPORTS"]:
        assert importlib.util.find_spec(name) is not None, f"hidden import {name} not found"


@pytest.mark.parametrize(
    ("dest", "kept"),
    [
        ("PySide6/Qt/plugins/platforms/libqxcb.so", True),
        ("PySide6/Qt/plugins/platforms/libqoffscreen.so", True),
        ("PySide6/Qt/plugins/platforms/libqminimal.so", True),
        ("PySide6/Qt/plugins/platforms/qwindows.dll", True),
        ("PySide6/Qt/plugins/imageformats/libqsvg.so", True),
        ("PySide6/Qt/plugins/iconengines/libqsvgicon.so", True),
        ("PySide6/Qt/plugins/platforms/libqwayland.so", False),
        ("PySide6/Qt/plugins/platforms/libqvnc.so", False),
        ("PySide6/Qt/plugins/imageformats/libqtiff.so", False),
        ("PySide6/Qt/plugins/multimedia/libffmpegmediaplugin.so", False),
        ("PySide6/Qt/plugins/wayland-shell-integration/libxdg-shell.so", False),
        ("PySide6/Qt/translations/qtbase_de.qm", False),
        ("PySide6/Qt/lib/libQt6WebEngineCore.so.6", False),
        ("PySide6/Qt/lib/libQt6Gui.so.6", True),
        ("PySide6/Qt/lib/libQt6Widgets.so.6", True),
        ("onnxruntime/capi/libonnxruntime.so.1.31.1", True),
        ("onnxruntime/capi/libonnxruntime_providers_shared.so", True),
        ("onnxruntime/capi/libonnxruntime_providers_cuda.so", False),
        ("onnxruntime/capi/libonnxruntime_providers_tensorrt.so", False),
        ("libcudart.so.13", False),
        ("llvmlite/binding/libllvmlite.so", True),
        ("models/ecgviewer-resnet-ptbxl.onnx", True),
        ("ecgdatakit/processing/nn/weights/deepfade_exp_1_ddp.pt", False),
        ("ecgdatakit/plotting/static.py", False),
    ],
)
def test_keep_filter(spec, dest, kept):
    assert spec["_keep"](dest) is kept


def test_clinical_readers_need_none_of_what_the_build_leaves_out(spec, tmp_path):
    """Reading every clinical format imports no excluded module (ecgdatakit's neural nets, torch ...)."""
    import subprocess
    import sys

    code = f"""
import sys
from ecgviewer.selftest import write_clinical_samples
from ecgviewer.io import read_exam
for path in write_clinical_samples({str(tmp_path)!r}):
    read_exam(path)
excluded = {spec["EXCLUDES"]!r}
hit = sorted(m for m in sys.modules if any(m == e or m.startswith(e + ".") for e in excluded))
print("HIT", hit)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "HIT []" in out.stdout, out.stdout + out.stderr
    assert "ecgdatakit.processing" in spec["EXCLUDES"]


def test_cuda_build_keeps_the_cuda_provider():
    cuda = load_spec(ECGVIEWER_BUILD_CUDA="1")
    assert cuda["_keep"]("onnxruntime/capi/libonnxruntime_providers_cuda.so")
    assert not cuda["_keep"]("onnxruntime/capi/libonnxruntime_providers_tensorrt.so")


def _mime_globs() -> dict[str, set[str]]:
    root = ET.parse(ROOT / "resources" / "linux" / "ecgviewer-mime.xml").getroot()
    out: dict[str, set[str]] = {}
    for mt in root.findall(f"{MIME_NS}mime-type"):
        out[mt.get("type")] = {g.get("pattern") for g in mt.findall(f"{MIME_NS}glob")}
    return out


def test_file_types_agree_everywhere(spec):
    from ecgviewer.io import SUPPORTED_SUFFIXES

    spec_suffixes = {s for _, suffixes, _ in spec["DOCUMENT_TYPES"] for s in suffixes}
    assert spec_suffixes == SUFFIXES
    assert {"." + s for s in SUFFIXES} <= set(SUPPORTED_SUFFIXES), "the app must read every registered type"

    globs = _mime_globs()
    assert {p.lstrip("*.") for ps in globs.values() for p in ps} == SUFFIXES
    desktop = configparser.ConfigParser(interpolation=None)
    desktop.optionxform = str
    desktop.read(ROOT / "resources" / "linux" / "ecgviewer.desktop")
    entry = desktop["Desktop Entry"]
    assert set(filter(None, entry["MimeType"].split(";"))) == set(globs)
    assert entry["Exec"].endswith("%F") and entry["Icon"] == "ecgviewer" and entry["Terminal"] == "false"

    iss = (ROOT / "resources" / "ecgviewer.iss").read_text(encoding="utf-8")
    for s in SUFFIXES:
        assert f"Software\\Classes\\.{s}\\OpenWithProgids" in iss
    assert "ecgviewer.exe" in iss and "icons\\ecgviewer.ico" in iss
    assert "OutputBaseFilename=ecgviewer-{#AppVersion}-windows-x64-setup" in iss


def test_icons_are_complete():
    icons = ROOT / "resources" / "icons"
    for size in (16, 32, 48, 64, 128, 256, 512):
        data = (icons / f"ecgviewer-{size}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">II", data[16:24]) == (size, size)
    assert (icons / "ecgviewer.ico").read_bytes()[:4] == b"\x00\x00\x01\x00"
    assert (icons / "ecgviewer.icns").read_bytes()[:4] == b"icns"


def _load_script(name: str):
    """A script of packaging/ as a module (not importable by name: packaging/ is no package)."""
    path = ROOT / "packaging" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_ecgviewer_packaging_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_script_version_matches_package():
    build_script = _load_script("build")
    from ecgviewer import __version__

    assert build_script.version() == __version__


def test_shell_scripts_parse():
    for script in (ROOT / "packaging" / "ci_frozen_check.sh", ROOT / "resources" / "linux" / "install.sh"):
        assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0, script
        assert os.access(script, os.X_OK), f"{script} is not executable"


def test_install_script_installs_and_uninstalls(tmp_path):
    """install.sh on a stand-in app folder: launcher, icons, MIME types; then --uninstall."""
    archive = tmp_path / "ecgviewer-0-linux-x86_64"
    app = archive / "ecgviewer"
    (app / "_internal").mkdir(parents=True)
    shutil.copytree(ROOT / "resources" / "linux", app / "_internal" / "resources" / "linux")
    shutil.copytree(ROOT / "resources" / "icons", app / "_internal" / "resources" / "icons")
    exe = app / "ecgviewer"
    exe.write_text('#!/bin/sh\necho ecgviewer-stand-in "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    shutil.copy(ROOT / "resources" / "linux" / "install.sh", archive / "install.sh")
    prefix = tmp_path / "prefix"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path / "home"),
        "ECGVIEWER_PREFIX": str(prefix),
        "XDG_CONFIG_HOME": str(tmp_path / "home" / ".config"),
        "XDG_DATA_HOME": str(tmp_path / "home" / ".local" / "share"),
    }
    done = subprocess.run(["sh", str(archive / "install.sh")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    installed = prefix / "lib" / "ecgviewer" / "ecgviewer"
    assert installed.is_file()
    assert (prefix / "bin" / "ecgviewer").resolve() == installed.resolve()
    desktop = (prefix / "share" / "applications" / "ecgviewer.desktop").read_text()
    assert f'Exec="{installed}" %F' in desktop
    assert f"TryExec={installed}" in desktop
    assert (prefix / "share" / "icons" / "hicolor" / "256x256" / "apps" / "ecgviewer.png").is_file()
    assert (prefix / "share" / "icons" / "hicolor" / "scalable" / "apps" / "ecgviewer.svg").is_file()
    assert (prefix / "share" / "mime" / "packages" / "ecgviewer.xml").is_file()
    if shutil.which("update-mime-database"):
        globs = (prefix / "share" / "mime" / "globs2").read_text()
        assert "application/x-wfdb-header:*.hea" in globs
    out = subprocess.run([str(prefix / "bin" / "ecgviewer"), "x.hea"], capture_output=True, text=True)
    assert out.stdout.strip() == "ecgviewer-stand-in x.hea"

    # a second install replaces the first
    assert subprocess.run(["sh", str(archive / "install.sh")], env=env, capture_output=True).returncode == 0
    gone = subprocess.run(
        ["sh", str(archive / "install.sh"), "--uninstall"], env=env, capture_output=True, text=True
    )
    assert gone.returncode == 0, gone.stderr
    assert not (prefix / "lib" / "ecgviewer").exists()
    assert not (prefix / "bin" / "ecgviewer").exists()
    assert not (prefix / "share" / "applications" / "ecgviewer.desktop").exists()


def _png(width: int, height: int, pixel) -> bytes:
    rows = b"".join(b"\x00" + b"".join(pixel(x, y) for x in range(width)) for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_screenshot_check_rejects_blank_and_accepts_a_picture(tmp_path):
    check_png = _load_script("check_png")
    blank = tmp_path / "blank.png"
    blank.write_bytes(_png(160, 100, lambda x, y: b"\xff\xff\xff"))
    with pytest.raises(ValueError, match=r"colours|background"):
        check_png.check(blank, min_width=100, min_height=100, min_colors=32, min_ink=0.05)
    picture = tmp_path / "picture.png"
    picture.write_bytes(_png(160, 100, lambda x, y: bytes(((x * 7) % 256, (y * 5) % 256, (x * y) % 256))))
    assert "160×100" in check_png.check(picture, min_width=100, min_height=100, min_colors=32, min_ink=0.05)
    with pytest.raises(ValueError, match="expected at least"):
        check_png.check(picture, min_width=800, min_height=500, min_colors=32, min_ink=0.05)
