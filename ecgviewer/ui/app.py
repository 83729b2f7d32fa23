"""Start the viewer: ``run_app(args)`` from the ``ecgviewer`` command.

``args`` has ``paths`` (files or folders; none opens the bundled example exam), ``model``
(an ONNX file instead of the bundled model), ``layout`` ("3x4", "6x2", "12x1") and
``screenshot`` (OUT.png: render offscreen once the exam is read and analysed, save, exit).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

START_TIME = time.perf_counter()

SCREENSHOT_TIMEOUT_S = 120.0


def example_exam_path() -> Path | None:
    """``resources/example/example_exam.hea``, or None if the install lacks it."""
    from ecgviewer.paths import resources_dir

    try:
        path = resources_dir() / "example" / "example_exam.hea"
    except FileNotFoundError:
        return None
    return path if path.is_file() else None


def _configure_pyqtgraph() -> None:
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, background="w", foreground="k", imageAxisOrder="col-major")


def create_window(args: Any = None, *, interactive: bool = True):
    """Create the application (if needed) and the main window; open ``args.paths`` or the example."""
    from ecgviewer.ui.mainwindow import MainWindow, ensure_app

    ensure_app()
    _configure_pyqtgraph()
    model = getattr(args, "model", None)
    window = MainWindow(model_path=model, interactive=interactive)
    layout = getattr(args, "layout", None)
    if layout:
        window.set_layout(layout, save=False)
    return window


def _open_initial(window, paths: list[str]) -> bool:
    """Open the command-line paths, or the bundled example exam. False if there is nothing to open."""
    if paths:
        window.open_paths(paths)
        return True
    example = example_exam_path()
    if example is not None:
        window.open_paths([example])
        return True
    try:  # an install without resources/: show a generated exam rather than an empty window
        from ecgviewer.synth import example_exam

        window.open_exam(example_exam())
        return True
    except Exception:
        return False


def _grid_size_for_page(window) -> tuple[int, int]:
    """A window size at which the whole sheet fits at actual size (bounded)."""
    grid = window.grid
    _, _, width_s, height_mv = grid.paper_layout.extent
    need_w = width_s * grid.speed * grid.px_per_mm + 24
    need_h = height_mv * grid.gain * grid.px_per_mm + 24
    extra_w = window.width() - grid.vb.width()
    extra_h = window.height() - grid.vb.height()
    return (int(min(2600, max(1400, need_w + extra_w))), int(min(2000, max(900, need_h + extra_h))))


def take_screenshot(window, out: Path, timeout_s: float = SCREENSHOT_TIMEOUT_S) -> int:
    """Wait until the exam on screen is analysed (or failed), size the window to the page, save a PNG."""
    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    loop = QEventLoop()
    state = {"done": False, "ok": True}

    def finish(ok: bool = True) -> None:
        if not state["done"]:
            state["done"], state["ok"] = True, ok
            loop.quit()

    window.analysis_finished.connect(lambda: finish(True))
    window.open_finished.connect(lambda opened: None if opened else finish(window.current_exam is not None))
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(lambda: finish(False))
    timer.start(int(timeout_s * 1000))
    if window.current_exam is None or window.current_prediction is None:
        loop.exec()
    feature = getattr(window, "measurements", None)  # the measurements line, once measured
    if window.current_exam is not None and feature is not None and feature.pending() and state["ok"]:
        state["done"] = False
        feature.measured.connect(lambda _m: finish(True))
        loop.exec()
    if window.current_exam is None:
        print("ecgviewer: screenshot: no exam could be shown", file=sys.stderr)
        return 2
    for _ in range(3):
        QApplication.processEvents()
    window.resize(*_grid_size_for_page(window))
    if len(window.ws) <= 3:  # a short exam table is enough
        window.resizeDocks([window.browser_dock], [110], Qt.Orientation.Vertical)
    window.grid.actual_size()
    for _ in range(5):
        QApplication.processEvents()
    image = window.grab()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    if not image.save(str(tmp), "PNG"):
        print(f"ecgviewer: screenshot: cannot write {out}", file=sys.stderr)
        return 2
    os.replace(tmp, out)
    print(f"wrote {out} ({image.width()}×{image.height()} px)")
    return 0 if state["ok"] else 1


def install_file_open_handler(app: Any, window: Any) -> Any:
    """Open files the desktop hands over while the app runs (macOS Finder sends QFileOpenEvent).

    Returns the filter object; keep a reference to it for the application's lifetime.
    """
    from PySide6.QtCore import QEvent, QObject

    class _FileOpenFilter(QObject):
        def eventFilter(self, watched: Any, event: Any) -> bool:  # noqa: N802 - Qt's name
            if event.type() == QEvent.Type.FileOpen and event.file():
                window.open_paths([event.file()])
                return True
            return False

    handler = _FileOpenFilter(app)
    app.installEventFilter(handler)
    return handler


def run_app(args: Any) -> int:
    """Run the viewer; returns the exit code. With ``args.screenshot`` it renders offscreen and exits."""
    screenshot = getattr(args, "screenshot", None)
    if screenshot:
        from PySide6.QtWidgets import QApplication

        if QApplication.instance() is None:
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    window = create_window(args, interactive=not screenshot)
    paths = [str(p) for p in (getattr(args, "paths", None) or [])]
    if screenshot:
        window.resize(1500, 1000)
        window.show()
        _open_initial(window, paths)
        try:
            return take_screenshot(window, Path(screenshot))
        finally:
            window.close()
            window.deleteLater()
    window.show()
    window.timings["shown"] = time.perf_counter() - START_TIME
    _open_initial(window, paths)
    app = QApplication.instance()
    file_open_handler = install_file_open_handler(app, window)  # noqa: F841 - kept alive for exec()
    code = app.exec()
    return int(code)
