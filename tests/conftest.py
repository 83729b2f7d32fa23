"""Shared fixtures. Tests that read ../shared/data are skipped where it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (public ECG records); skips the test if absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside the checkout")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own user folder: imported models, caches and settings never leak."""
    monkeypatch.setenv("ECGVIEWER_HOME", str(tmp_path / "ecgviewer-home"))


@pytest.fixture(scope="session", autouse=True)
def _one_qapplication(qapp):  # qapp: pytest-qt's fixture
    """One QApplication for the whole session, made before any test runs.

    The headless report code creates a bare QGuiApplication when none exists; if such a
    test ran first, a later widget test would find no QApplication and Qt would abort.
    """
    return qapp
