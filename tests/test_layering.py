"""Layering that import-linter (``lint-imports``, [tool.importlinter] in pyproject) cannot name:
the report package draws with QtGui and QtCore only and never imports QtWidgets or the viewer."""

from __future__ import annotations

import ast
from pathlib import Path

import ecgviewer.report

REPORT = Path(ecgviewer.report.__file__).parent


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return names


def test_the_report_package_uses_qtgui_and_qtcore_only() -> None:
    files = sorted(REPORT.glob("*.py"))
    assert len(files) >= 5
    for f in files:
        qt = {n for n in _imports(f) if n.startswith("PySide6.")}
        other = sorted(n for n in qt if n.split(".")[1] not in ("QtCore", "QtGui"))
        assert not other, f"{f.name} imports {other}: the report draws with QtGui and QtCore only"
        assert not any(n.startswith("ecgviewer.ui") for n in _imports(f)), f"{f.name} imports the viewer"
