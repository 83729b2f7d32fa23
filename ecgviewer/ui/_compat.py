"""Work-arounds for bugs in the Qt bindings, applied once when :mod:`ecgviewer.ui` is imported.

PySide6 6.12.0 on Python < 3.12 releases a reference to ``True`` on every signal emit and to
``None`` on every call of a ``void`` C++ method (e.g. ``QGraphicsItem.update``): bindings
built for Python ≥ 3.12, where these objects are immortal. After enough calls the count
reaches zero and CPython aborts ("bool_dealloc" / "none_dealloc"). pyproject.toml excludes
that release; if it is installed anyway, the reference counts of the three singletons (which
are never freed) are raised far beyond anything a session can consume, which is what
Python 3.12 does by making them immortal.
"""

from __future__ import annotations

import ctypes
import sys

_AFFECTED = ("6.12.0",)
_applied = False


def needs_singleton_guard(pyside_version: str, python: tuple[int, int] = sys.version_info[:2]) -> bool:
    """True where the bindings leak references of None/True/False (see the module docstring)."""
    return python < (3, 12) and pyside_version in _AFFECTED


def apply() -> bool:
    """Apply the guard if needed; returns True when it was applied (idempotent)."""
    global _applied
    if _applied:
        return True
    try:
        import PySide6
    except ImportError:  # pragma: no cover - the UI needs PySide6 anyway
        return False
    if not needs_singleton_guard(PySide6.__version__):
        return False
    if sys.implementation.name != "cpython" or hasattr(sys, "gettotalrefcount"):
        return False  # only for release builds of CPython, where ob_refcnt is the first field
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40
    _applied = True
    return True
