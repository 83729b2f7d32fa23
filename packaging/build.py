"""Build the double-click app from ecgviewer.spec and wrap it for the current platform.

    python packaging/build.py                 # dist/ecgviewer/ + the platform's release file
    python packaging/build.py --no-archive    # only dist/ecgviewer/ (CI)
    python packaging/build.py --cuda          # also ship onnxruntime's CUDA provider (+285 MB)

Needs the app's dependencies and PyInstaller in the running Python (``pip install -e ".[build]"``).

Linux:   dist/ecgviewer/ and dist/ecgviewer-<version>-linux-x86_64.tar.gz holding
         ecgviewer-<version>-linux-x86_64/{ecgviewer/, install.sh, README.txt};
         install.sh puts the app, a .desktop launcher, the icon and the MIME types into ~/.local.
Windows: dist/ecgviewer/ then, when Inno Setup's ISCC.exe is found (PATH or its default
         folder), dist/ecgviewer-<version>-windows-x64-setup.exe from resources/ecgviewer.iss.
macOS:   dist/ecgviewer.app (the spec's BUNDLE, with the document types) and
         dist/ecgviewer-<version>-macos-<arch>.zip.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "ecgviewer.spec"
# Large shared libraries shipped unstripped by their wheels; stripping them is safe
# (their dynamic symbols stay) and saves ~20 MB.
STRIP_ON_LINUX = ("llvmlite/binding/libllvmlite.so",)


def version() -> str:
    """The app's version, read from ecgviewer/__init__.py without importing the package."""
    text = (ROOT / "ecgviewer" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, re.M)
    if not match:
        raise SystemExit("cannot find __version__ in ecgviewer/__init__.py")
    return match.group(1)


def folder_size(path: Path) -> int:
    """Bytes of all regular files below ``path`` (symlinks not followed)."""
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def run_pyinstaller(dist: Path, work: Path, *, cuda: bool, console: bool) -> Path:
    import importlib.util

    if importlib.util.find_spec("PyInstaller") is None:
        raise SystemExit(
            f"PyInstaller is not installed in {sys.executable}: "
            "pip install -e '.[build]' (or run this script with the project's venv)"
        )
    env = dict(os.environ)
    env["ECGVIEWER_BUILD_CUDA"] = "1" if cuda else ""
    env["ECGVIEWER_BUILD_CONSOLE"] = "1" if console else ""
    cmd = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--clean",
        "--log-level",
        "WARN",
        "--distpath",
        str(dist),
        "--workpath",
        str(work),
        str(SPEC),
    ]
    print("+", " ".join(cmd), flush=True)
    if subprocess.run(cmd, cwd=ROOT, env=env).returncode != 0:
        raise SystemExit("PyInstaller failed (its messages are above)")
    app = dist / "ecgviewer"
    if not app.is_dir():
        raise SystemExit(f"PyInstaller finished but {app} is missing")
    return app


def strip_large_libraries(app: Path) -> None:
    strip = shutil.which("strip")
    if not strip:
        return
    for rel in STRIP_ON_LINUX:
        lib = app / "_internal" / rel
        if lib.exists():
            before = lib.stat().st_size
            subprocess.run([strip, "--strip-unneeded", str(lib)], check=True)
            print(f"stripped {rel}: {before / 1e6:.0f} → {lib.stat().st_size / 1e6:.0f} MB")


# Libraries Qt's xcb plugin loads that PyInstaller can bundle only when the build machine
# has them, with the Debian/Ubuntu package that provides each.
XCB_PACKAGES = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
}


def missing_xcb_libraries(app: Path) -> list[str]:
    """Libraries the bundled xcb platform plugin needs but the build did not carry (Linux).

    A desktop without them cannot open the window ("could not load the Qt platform plugin
    xcb"); install them on the build machine and build again.
    """
    internal = app / "_internal"
    qt = internal / "PySide6" / "Qt"
    targets = [qt / "plugins" / "platforms" / "libqxcb.so", qt / "lib" / "libQt6XcbQpa.so.6"]
    if not shutil.which("ldd") or not all(t.exists() for t in targets):
        return []
    env = dict(os.environ, LD_LIBRARY_PATH=f"{internal}:{qt / 'lib'}")
    missing: set[str] = set()
    for target in targets:
        out = subprocess.run(["ldd", str(target)], capture_output=True, text=True, env=env).stdout
        for line in out.splitlines():
            name, _, where = line.strip().partition(" => ")
            if not where:
                continue
            bundled = where.startswith(str(internal))
            if "not found" in where or (name in XCB_PACKAGES and not bundled):
                missing.add(name)
    return sorted(missing)


def smoke_test(app: Path) -> None:
    exe = app / ("ecgviewer.exe" if sys.platform == "win32" else "ecgviewer")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise SystemExit(f"{exe} --version failed ({out.returncode}): {out.stderr.strip()}")
    print(f"{exe.name} --version: {out.stdout.strip()}")


README_TXT = """ecgviewer {version} for Linux (x86_64)

Install for your user (menu entry, icon, double-click on .hea/.h5/.hdf5 files):
    ./install.sh
Remove:
    ./install.sh --uninstall
Or run it in place, without installing:
    ./ecgviewer/ecgviewer [FILE ...]
Check the installation (model, example exam, inference, SHAP, PDF report):
    ./ecgviewer/ecgviewer --self-test

The bundled model is a demonstration model trained on public data. It is not a medical device.
"""


def linux_archive(app: Path, dist: Path, ver: str) -> Path:
    name = f"ecgviewer-{ver}-linux-{platform.machine() or 'x86_64'}"
    out = dist / f"{name}.tar.gz"
    tmp = out.with_suffix(".tmp")
    install = ROOT / "resources" / "linux" / "install.sh"
    readme = dist / f".{name}-README.txt"
    readme.write_text(README_TXT.format(version=ver), encoding="utf-8")

    def executable(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mode = 0o755
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    def owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
        tar.add(install, arcname=f"{name}/install.sh", filter=executable)
        tar.add(readme, arcname=f"{name}/README.txt", filter=owner)
        tar.add(app, arcname=f"{name}/ecgviewer", filter=owner)
    readme.unlink()
    os.replace(tmp, out)
    return out


def find_iscc() -> str | None:
    found = shutil.which("iscc") or shutil.which("ISCC")
    if found:
        return found
    for base in (os.environ.get("PROGRAMFILES(X86)"), os.environ.get("PROGRAMFILES")):
        if base and (Path(base) / "Inno Setup 6" / "ISCC.exe").exists():
            return str(Path(base) / "Inno Setup 6" / "ISCC.exe")
    return None


def windows_installer(dist: Path, ver: str) -> Path | None:
    iscc = find_iscc()
    iss = ROOT / "resources" / "ecgviewer.iss"
    if not iscc:
        print(
            f"Inno Setup (ISCC.exe) not found: install it, then run\n"
            f"  ISCC /DAppVersion={ver} /DDistDir={dist} {iss}"
        )
        return None
    subprocess.run([iscc, f"/DAppVersion={ver}", f"/DDistDir={dist}", str(iss)], check=True)
    return dist / f"ecgviewer-{ver}-windows-x64-setup.exe"


def macos_zip(dist: Path, ver: str) -> Path | None:
    app = dist / "ecgviewer.app"
    if not app.is_dir():
        print(f"{app} missing: the spec's BUNDLE step did not run")
        return None
    out = dist / f"ecgviewer-{ver}-macos-{platform.machine()}.zip"
    subprocess.run(["ditto", "-c", "-k", "--keepParent", str(app), str(out)], check=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    parser.add_argument(
        "--work", type=Path, default=ROOT / "build", help="PyInstaller's work folder (default: build/)"
    )
    parser.add_argument("--no-archive", action="store_true", help="only build dist/ecgviewer/")
    parser.add_argument(
        "--cuda",
        action="store_true",
        help="ship onnxruntime's CUDA provider (the user needs CUDA 13 + cuDNN 9)",
    )
    parser.add_argument("--console", action="store_true", help="Windows: console executable (debugging)")
    parser.add_argument("--no-strip", action="store_true", help="Linux: keep large libraries unstripped")
    args = parser.parse_args(argv)

    ver = version()
    dist, work = args.dist.resolve(), args.work.resolve()
    t0 = time.perf_counter()
    app = run_pyinstaller(dist, work, cuda=args.cuda, console=args.console)
    if sys.platform.startswith("linux") and not args.no_strip:
        strip_large_libraries(app)
    smoke_test(app)
    if sys.platform.startswith("linux"):
        missing = missing_xcb_libraries(app)
        if missing:
            pkgs = sorted({XCB_PACKAGES.get(m, m) for m in missing})
            print(
                f"WARNING: the bundle lacks {', '.join(missing)} (needed by Qt's xcb plugin): desktops "
                f"without them cannot open the window. Install them here and rebuild:\n"
                f"  apt-get install {' '.join(pkgs)}"
            )
    print(f"built {app} in {time.perf_counter() - t0:.0f} s: {folder_size(app) / 1e6:.0f} MB")

    if args.no_archive:
        return 0
    out: Path | None
    if sys.platform.startswith("linux"):
        out = linux_archive(app, dist, ver)
    elif sys.platform == "win32":
        out = windows_installer(dist, ver)
    elif sys.platform == "darwin":
        out = macos_zip(dist, ver)
    else:
        out = None
    if out is not None and out.exists():
        print(f"release file: {out} ({out.stat().st_size / 1e6:.0f} MB)")
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
