"""How quickly the viewer responds (offscreen Qt).

Prints:
  * start → window shown: a fresh interpreter that imports the app, builds the main window and
    waits until it is exposed (wall clock from process spawn, and inside the process);
  * drop → traces drawn and drop → probabilities shown, for real or generated files, next to the
    same work done by the core alone (read_exam + to_model_input + predict) in this run, as a ratio;
  * browsing a 20,000-exam HDF5 file: open, and row change → exam drawn.

    QT_QPA_PLATFORM=offscreen python benchmarks/ui_bench.py [--files F ...] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def child_start() -> None:
    """Runs in a fresh interpreter: import, build and show the window, report when exposed."""
    t0 = time.perf_counter()
    from PySide6.QtTest import QTest

    from ecgviewer.ui.app import create_window

    t_import = time.perf_counter() - t0
    window = create_window(None)
    window.show()
    QTest.qWaitForWindowExposed(window, 10_000)
    t_shown = time.perf_counter() - t0
    print(f"CHILD import={t_import:.4f} shown={t_shown:.4f}", flush=True)
    window.close()
    os._exit(0)


def start_to_window(repeat: int) -> tuple[list[float], list[float]]:
    walls, inner = [], []
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", ECGVIEWER_HOME=tempfile.mkdtemp(prefix="uibench-"))
    for _ in range(repeat):
        t = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child-start"], stdout=subprocess.PIPE, text=True, env=env, cwd=REPO
        )
        for line in proc.stdout:  # type: ignore[union-attr]
            if line.startswith("CHILD"):
                walls.append(time.perf_counter() - t)
                inner.append(float(line.split("shown=")[1]))
                break
        proc.wait()
    return walls, inner


def default_files() -> list[Path]:
    shared = REPO.parent / "shared" / "data"
    wanted = [
        "wfdb/challenge2021/CPSC_CPSC-Extra/A0001.hea",
        "ptbxl/records500/00008_hr.hea",
        "csv/cpsc/A0002.csv",
        "hdf5/sph/SPH00001.h5",
        "code-test/exams/pacient_1.hdf5",
    ]
    files = [shared / w for w in wanted if (shared / w).is_file()]
    if files:
        return files
    from ecgviewer.synth import synth_exam, write_wfdb

    folder = Path(tempfile.mkdtemp(prefix="uibench-files-"))
    return [write_wfdb(synth_exam([], seed=k), folder, f"synth{k}") for k in range(3)]


def drop_timings(files: list[Path], repeat: int) -> None:
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QApplication, QMessageBox

    from ecgviewer.io import read_exam
    from ecgviewer.model.runtime import load_model
    from ecgviewer.preprocess import to_model_input
    from ecgviewer.ui.app import create_window
    from tests.file_drops import FileDrag  # the drop a file manager makes, as the window tests make it

    QMessageBox.critical = staticmethod(lambda *a, **k: print("error dialog:", a[2]))  # type: ignore[method-assign]
    window = create_window(None)
    window.resize(1500, 950)
    window.show()
    app = QApplication.instance()
    deadline = time.perf_counter() + 120
    while window.model is None and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.005)
    model = load_model()

    def wait(flag: dict, key: str) -> None:
        end = time.perf_counter() + 120
        while key not in flag and time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.0005)

    print(f"\n{'file':38s} {'core':>8s} {'traces':>8s} {'probs':>8s} {'probs/core':>10s}")
    for f in files:
        core, traces, probs = [], [], []
        for _ in range(repeat):
            t = time.perf_counter()
            exam = read_exam(f)
            x, _ = to_model_input(exam)
            model.predict(x[None], batch_size=1)
            core.append(time.perf_counter() - t)

            window.close_all()
            flag: dict[str, float] = {}

            def on_shown(*_, flag=flag):
                window.grid.view.viewport().repaint()  # the traces painted
                flag["traces"] = time.perf_counter()

            def on_pred(*_, flag=flag):
                window.findings.repaint()
                flag["probs"] = time.perf_counter()

            window.exam_shown.connect(on_shown)
            window.prediction_shown.connect(on_pred)
            drag = FileDrag([f], QPoint(300, 300))
            event = drag.drop_event()
            t0 = time.perf_counter()
            window.dropEvent(event)
            wait(flag, "traces")
            wait(flag, "probs")
            window.exam_shown.disconnect(on_shown)
            window.prediction_shown.disconnect(on_pred)
            traces.append(flag.get("traces", float("nan")) - t0)
            probs.append(flag.get("probs", float("nan")) - t0)
        mc, mt, mp = (statistics.median(v) * 1000 for v in (core, traces, probs))
        name = f.name if len(f.name) < 38 else f.name[:35] + "..."
        print(f"{name:38s} {mc:7.0f}ms {mt:7.0f}ms {mp:7.0f}ms {mp / mc:9.2f}x")
    window.close()


def browse_timings(steps: int) -> None:
    import h5py
    import numpy as np
    from PySide6.QtWidgets import QApplication

    from ecgviewer.ui.app import create_window

    path = Path(tempfile.mkdtemp(prefix="uibench-big-")) / "code20k.hdf5"
    with h5py.File(path, "w") as h5:
        ds = h5.create_dataset("tracings", shape=(20_000, 4096, 12), dtype="float32", chunks=(1, 4096, 12))
        rng = np.random.default_rng(0)
        for i in range(0, 20_000, 997):
            ds[i] = rng.normal(0, 2, (4096, 12)).astype(np.float32)
        h5.create_dataset("exam_id", data=np.arange(20_000))
    window = create_window(None)
    window.resize(1500, 950)
    window.show()
    app = QApplication.instance()
    while window.model is None:
        app.processEvents()
        time.sleep(0.005)
    flag: dict[str, float] = {}
    window.exam_shown.connect(lambda *_: flag.__setitem__("shown", time.perf_counter()))
    window.browser.model.header_fetches = 0
    t0 = time.perf_counter()
    window.open_paths([path])
    while "shown" not in flag:
        app.processEvents()
        time.sleep(0.0005)
    t_open = flag["shown"] - t0
    times = []
    for k in range(steps):
        flag.clear()
        t = time.perf_counter()
        window.browser.select_ws_row(1 + k * 1_999)
        while "shown" not in flag:
            app.processEvents()
            time.sleep(0.0005)
        times.append(flag["shown"] - t)
    print(
        f"\n20,000-exam HDF5: open → first exam drawn {t_open * 1000:.0f} ms; "
        f"row change → exam drawn median {statistics.median(times) * 1000:.0f} ms "
        f"(max {max(times) * 1000:.0f} ms, {steps} jumps); "
        f"headers read: {window.browser.model.header_fetches}"
    )
    window.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child-start", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--files", nargs="*", type=Path, help="files to drop (default: real records if present)"
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.child_start:
        child_start()
        return 0
    os.environ.setdefault("ECGVIEWER_HOME", tempfile.mkdtemp(prefix="uibench-home-"))
    walls, inner = start_to_window(args.repeat)
    print(
        f"start → window shown: {statistics.median(walls) * 1000:.0f} ms from process spawn "
        f"({statistics.median(inner) * 1000:.0f} ms after the interpreter started; "
        f"median of {len(walls)})"
    )
    drop_timings(args.files or default_files(), args.repeat)
    browse_timings(10)
    os._exit(0)  # skip interpreter teardown of Qt objects


if __name__ == "__main__":
    sys.exit(main())
