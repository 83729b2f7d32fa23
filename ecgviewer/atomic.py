"""Atomic outputs with ordinary permissions.

``tempfile.mkstemp`` creates its file with mode 0600; an output renamed from it over the
destination would stay private, unlike any file the user's other programs write. These
helpers give the temporary file the mode a plain ``open(..., "w")`` would (0666 less the
umask) before it is renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path

_lock = threading.Lock()


def umask_mode() -> int:
    """The mode a new file gets from ``open()``: 0o666 without the process's umask bits."""
    with _lock:  # os.umask can only be read by setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def apply_umask(path: str | os.PathLike) -> None:
    """Give ``path`` (a file this process created) the umask's permissions; errors ignored."""
    with contextlib.suppress(OSError):
        os.chmod(path, umask_mode())


def temp_beside(out: Path, suffix: str = ".tmp") -> Path:
    """An empty temporary file in ``out``'s folder (so ``os.replace`` is atomic), umask mode."""
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=suffix, dir=out.parent)
    os.close(fd)
    apply_umask(tmp)
    return Path(tmp)
