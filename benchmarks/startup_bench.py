"""Start-up of the frozen app (dist/ecgviewer/) against ``python -m ecgviewer``, same run.

    python benchmarks/startup_bench.py [--dist dist/ecgviewer] [--runs 3]

Figures (median of ``--runs``, each in a fresh process with an empty HOME):
  size            dist/ecgviewer/ in MB and files, and its biggest parts
  --version       process start + CLI import (no Qt, no model)
  window shown    time until the main window is mapped on a real X server (Xvfb), polled
                  with xwininfo; skipped when Xvfb/xwininfo are missing
  first result    ``--screenshot``: window, example exam read, model loaded, inference,
                  rendered and saved (offscreen), until the process exits
  self-test       ``--self-test`` wall time, and its model-load + inference steps
Each row gives frozen / source as a ratio.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def folder_size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(p.stat().st_size for p in files), len(files)


def biggest_parts(app: Path, n: int = 8) -> list[tuple[str, int]]:
    internal = app / "_internal"
    parts = []
    for child in internal.iterdir():
        size = folder_size(child)[0] if child.is_dir() else child.stat().st_size
        parts.append((child.name, size))
    return sorted(parts, key=lambda p: -p[1])[:n]


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def timed(cmd: list[str], env: dict[str, str], timeout: float = 600) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout


class Xvfb:
    """A private X server for the 'window shown' measurement."""

    def __init__(self) -> None:
        self.display = f":{90 + os.getpid() % 50}"
        cmd = ["Xvfb", self.display, "-screen", "0", "1920x1200x24", "-nolisten", "tcp"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if (
                subprocess.run(
                    ["xwininfo", "-root", "-display", self.display], capture_output=True
                ).returncode
                == 0
            ):
                return
            time.sleep(0.05)
        self.close()
        raise RuntimeError("Xvfb did not start")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def window_shown(cmd: list[str], env: dict[str, str], display: str, timeout: float = 120) -> float:
    """Seconds from process start until a top-level ecgviewer window is mapped on ``display``."""
    env = dict(env, DISPLAY=display, QT_QPA_PLATFORM="xcb")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - t0 < timeout:
            tree = subprocess.run(
                ["xwininfo", "-root", "-tree", "-display", display], capture_output=True, text=True
            ).stdout
            for line in tree.splitlines():
                m = re.search(r'"([^"]*)":.*?(\d+)x(\d+)\+', line)
                if m and ("ECG" in m.group(1) or "ecgviewer" in m.group(1)) and int(m.group(2)) >= 300:
                    seen = time.perf_counter() - t0
                    state = subprocess.run(
                        ["xwininfo", "-display", display, "-id", line.split()[0]],
                        capture_output=True,
                        text=True,
                    ).stdout
                    if "IsViewable" in state:
                        return seen
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited ({proc.returncode}) before showing a window")
            time.sleep(0.02)
        raise RuntimeError(f"no window within {timeout} s")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def step_seconds(selftest_output: str, step: str) -> float | None:
    m = re.search(rf"\[ ok \] {re.escape(step)}\s+([\d.]+) s", selftest_output)
    return float(m.group(1)) if m else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist" / "ecgviewer")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-self-test", action="store_true", help="skip the (slow) self-test rows")
    args = parser.parse_args(argv)

    exe = args.dist / ("ecgviewer.exe" if sys.platform == "win32" else "ecgviewer")
    if not exe.exists():
        print(f"{exe} not found: build it first (python packaging/build.py --no-archive)")
        return 1
    size, files = folder_size(args.dist)
    print(f"dist: {args.dist}: {size / 1e6:.0f} MB in {files} files")
    for name, part in biggest_parts(args.dist):
        print(f"  {name:<28} {part / 1e6:7.1f} MB")

    variants = {"frozen": [str(exe)], "source": [sys.executable, "-m", "ecgviewer"]}
    have_x = bool(shutil.which("Xvfb") and shutil.which("xwininfo"))
    xvfb = Xvfb() if have_x else None
    rows: dict[str, dict[str, list[float]]] = {}

    def add(row: str, variant: str, value: float | None) -> None:
        if value is not None:
            rows.setdefault(row, {}).setdefault(variant, []).append(value)

    try:
        with tempfile.TemporaryDirectory(prefix="ecgviewer-startup-") as tmp:
            tmp_path = Path(tmp)
            for run in range(args.runs):
                for variant, cmd in variants.items():
                    home = tmp_path / f"home-{variant}-{run}"
                    home.mkdir()
                    env = clean_env(home)
                    if variant == "source":
                        env["PYTHONPATH"] = str(ROOT)
                    add("--version", variant, timed([*cmd, "--version"], env)[0])
                    if xvfb is not None:
                        add("window shown", variant, window_shown(cmd, env, xvfb.display))
                    shot = tmp_path / f"{variant}-{run}.png"
                    add(
                        "first result (--screenshot)",
                        variant,
                        timed([*cmd, "--screenshot", str(shot)], dict(env, QT_QPA_PLATFORM="offscreen"))[0],
                    )
                    if not args.no_self_test and run == 0:
                        seconds, out = timed([*cmd, "--self-test"], dict(env, QT_QPA_PLATFORM="offscreen"))
                        add("self-test (total)", variant, seconds)
                        add("self-test: model load", variant, step_seconds(out, "bundled model"))
                        add("self-test: inference", variant, step_seconds(out, "inference"))
                        add("self-test: SHAP (low res)", variant, step_seconds(out, "SHAP (low res)"))
    finally:
        if xvfb is not None:
            xvfb.close()

    if xvfb is None:
        print("window shown: skipped (needs Xvfb and xwininfo: apt-get install xvfb x11-utils)")
    print(f"\n{'seconds (median of runs)':<30} {'frozen':>8} {'source':>8} {'frozen/source':>14}")
    for row, values in rows.items():
        f = statistics.median(values["frozen"]) if "frozen" in values else float("nan")
        s = statistics.median(values["source"]) if "source" in values else float("nan")
        print(f"{row:<30} {f:8.2f} {s:8.2f} {f / s:14.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
