"""What the screenshot scripts beside this file share: the main window, shown offscreen and
waited on. Imported by name: a script's own folder is first on ``sys.path``."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(app, cond: Callable[[], object], timeout_s: float = 600.0) -> None:
    """Process Qt events until ``cond()`` is true; TimeoutError after ``timeout_s``."""
    end = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError("the window did not get there in time")
        app.processEvents()
        time.sleep(0.02)


def shown_window(size: tuple[int, int], timeout_s: float = 600.0):
    """(app, window): a non-interactive MainWindow of ``size``, shown, once its model has loaded."""
    from ecgviewer.ui.mainwindow import MainWindow, ensure_app

    app = ensure_app([])
    w = MainWindow(interactive=False)
    w.resize(*size)
    w.show()
    wait_until(app, lambda: w.model is not None, timeout_s)
    return app, w
