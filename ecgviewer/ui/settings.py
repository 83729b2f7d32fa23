"""Persistent viewer settings: QSettings in an ini file under the user's data folder.

The file is ``<user_data_dir>/settings.ini`` (``ECGVIEWER_HOME`` moves it, so tests stay
isolated); the same file on every platform, readable and easy to reset by deleting it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from ecgviewer.paths import user_data_dir

ORGANIZATION = "ecgviewer"
APPLICATION = "ecgviewer"
MAX_RECENT = 10

# keys
LAYOUT = "view/layout"
GAIN = "view/gain_mm_per_mv"
SPEED = "view/speed_mm_per_s"
RHYTHM_LEAD = "view/rhythm_lead"
SHOW_INPUT = "view/show_network_input"
PX_PER_MM = "view/px_per_mm"  # optional screen calibration; empty = the screen's logical DPI
LAST_FOLDER = "files/last_folder"
RECENT = "files/recent"
MODEL = "model/path"
GEOMETRY = "window/geometry"
STATE = "window/state"
AUTO_ANALYSE_MAX = "browser/auto_analyse_max"
SHOW_IDENTIFIERS = "privacy/show_patient_identifiers"  # off by default: names and ids of clinical files
SHOW_MEDIAN_BEATS = "view/show_median_beats"


def settings_path() -> Path:
    """Where the settings live."""
    return user_data_dir() / "settings.ini"


def open_settings() -> QSettings:
    """The viewer's QSettings (ini format)."""
    return QSettings(str(settings_path()), QSettings.Format.IniFormat)


def get_str(s: QSettings, key: str, default: str = "") -> str:
    value = s.value(key, default)
    return default if value is None else str(value)


def get_float(s: QSettings, key: str, default: float) -> float:
    try:
        return float(s.value(key, default))
    except (TypeError, ValueError):
        return default


def get_bool(s: QSettings, key: str, default: bool = False) -> bool:
    value = s.value(key, default)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def get_list(s: QSettings, key: str) -> list[str]:
    value = s.value(key, [])
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def add_recent(s: QSettings, path: str | Path) -> list[str]:
    """Put a path first in the recent list (deduplicated, at most MAX_RECENT); returns the list."""
    path = str(Path(path).resolve())
    recent = [p for p in get_list(s, RECENT) if p != path]
    recent.insert(0, path)
    del recent[MAX_RECENT:]
    s.setValue(RECENT, recent)
    return recent
