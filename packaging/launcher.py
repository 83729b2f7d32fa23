"""Entry script of the frozen app (PyInstaller): the same as the ``ecgviewer`` command.

Not shipped as a module; ``ecgviewer.spec`` turns it into ``dist/ecgviewer/ecgviewer``.
"""

import multiprocessing
import os
import sys


def _attach_windows_console() -> None:
    """A windowed Windows build has no stdout: attach to the console of the shell that started
    it (so ``ecgviewer --self-test`` and the subcommands print there); nothing when started by
    double-click."""
    if sys.platform != "win32" or sys.stdout is not None:
        return
    import ctypes

    if ctypes.windll.kernel32.AttachConsole(-1):  # ATTACH_PARENT_PROCESS
        sys.stdout = open("CONOUT$", "w", encoding="utf-8", errors="replace", buffering=1)  # noqa: SIM115
        sys.stderr = open("CONOUT$", "w", encoding="utf-8", errors="replace", buffering=1)  # noqa: SIM115
    else:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115


if __name__ == "__main__":
    multiprocessing.freeze_support()
    _attach_windows_console()
    from ecgviewer.cli import main

    raise SystemExit(main())
