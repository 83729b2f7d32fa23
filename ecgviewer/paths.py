"""Where the shipped files (``models/``, ``resources/``) and the user's files live.

Looked up, in order: a PyInstaller bundle (``sys._MEIPASS``), the source checkout (an
editable install or running from the repo), and ``<prefix>/share/ecgviewer`` (a regular
``pip install``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _candidate_roots() -> list[Path]:
    roots: list[Path] = []
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        roots.append(Path(frozen))
    roots.append(_PACKAGE_DIR.parent)
    roots.append(Path(sys.prefix) / "share" / "ecgviewer")
    return roots


def _shipped_dir(name: str) -> Path:
    for root in _candidate_roots():
        if (root / name).is_dir():
            return root / name
    raise FileNotFoundError(
        f"the application's {name}/ folder is missing (looked in "
        + ", ".join(str(r) for r in _candidate_roots())
        + "); reinstall ecgviewer"
    )


def models_dir() -> Path:
    """The folder of bundled models."""
    return _shipped_dir("models")


def resources_dir() -> Path:
    """The folder of bundled resources (example exam, icons, installer scripts)."""
    return _shipped_dir("resources")


def user_data_dir() -> Path:
    """Per-user data folder (imported models, caches); created on demand.

    ``ECGVIEWER_HOME`` overrides it (tests use a temporary folder).
    """
    env = os.environ.get("ECGVIEWER_HOME")
    if env:
        base = Path(env)
    elif sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "ecgviewer"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support" / "ecgviewer"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "ecgviewer"
    base.mkdir(parents=True, exist_ok=True)
    return base


def user_models_dir() -> Path:
    """Where ``ecgviewer import-keras`` installs converted models for the viewer to list."""
    path = user_data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path
