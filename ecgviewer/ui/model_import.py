"""File → Import Model…: the authors' ``model.zip``, a Keras ``.hdf5`` or an ``.onnx`` with a contract.

:class:`ModelImport` (``window.model_import``) owns the action. The file is converted and
installed into the per-user models folder in the background
(:func:`ecgviewer.model.install.import_models`) with progress and Cancel in the status bar;
closing the window cancels it (members installed so far stay installed). When it ends a
summary lists every file: installed (under the name that says what it is), already installed
(same sha256), or failed with the one-line reason naming the file and the layer or field at
fault. The model selector is refreshed afterwards.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ecgviewer.ui import settings as S  # noqa: N812
from ecgviewer.ui.workers import Task, TaskRunner

IMPORT_FOLDER = "files/import_folder"
FILE_FILTER = (
    "Models (*.zip *.hdf5 *.h5 *.onnx);;Zenodo model.zip (*.zip);;Keras (*.hdf5 *.h5);;ONNX (*.onnx)"
)
STATUS_COLORS = {"installed": "#2e7d32", "already installed": "#455a64", "failed": "#b71c1c"}
WAIT_ON_CLOSE_MS = 60_000
"""How long closing the window waits for the member being converted (cancel is polled between members)."""


def summary_line(results: Sequence[Any]) -> str:
    """ "2 installed, 1 already installed, 1 failed" for import results."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    parts = [f"{counts[k]} {k}" for k in ("installed", "already installed", "failed") if counts.get(k)]
    return ", ".join(parts) or "nothing imported"


def model_name(result: Any) -> str:
    """The name the file was (or would have been) installed under: "Ribeiro 2020 — seed 3"."""
    from ecgviewer.model.install import display_name

    if result.status == "installed" and result.name:
        return result.name
    if Path(result.source).suffix.lower() in (".hdf5", ".h5"):
        return display_name(result.source)
    return result.name or Path(result.source).stem


class ImportSummary(QDialog):
    """What an import did, one row per file: its name, the result and the one-line message."""

    def __init__(self, source: Path, results: Sequence[Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model import")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.results = list(results)
        lay = QVBoxLayout(self)
        head = QLabel(f"<b>{html.escape(source.name)}</b>: {html.escape(summary_line(results))}.")
        head.setWordWrap(True)
        lay.addWidget(head)
        self.table = QTableWidget(len(self.results), 4)
        self.table.setHorizontalHeaderLabels(["File", "Model", "Result", "Details"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)  # one line per file; the full message is the tooltip
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        for i, r in enumerate(self.results):
            file = QTableWidgetItem(r.source if len(r.source) < 60 else Path(r.source).name)
            file.setToolTip(r.source)
            name = QTableWidgetItem(model_name(r))
            status = QTableWidgetItem(r.status)
            status.setForeground(QColor(STATUS_COLORS.get(r.status, "#000000")))
            # the file is in the first column: the details start with what happened
            detail = QTableWidgetItem(r.message.removeprefix(f"{r.source}: "))
            detail.setToolTip(r.message)
            for j, item in enumerate((file, name, status, detail)):
                self.table.setItem(i, j, item)
        header = self.table.horizontalHeader()
        for j in range(3):
            header.setSectionResizeMode(j, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        lay.addWidget(self.table, 1)
        note = QLabel(
            "Installed models are in the model selector of the findings panel; tick several in "
            "<i>Choose ensemble…</i> to run them as one."
        )
        note.setWordWrap(True)
        note.setStyleSheet("color:#607d8b;")
        lay.addWidget(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        rows_h = (self.fontMetrics().height() + 8) * min(max(len(self.results), 1), 14)
        self.resize(1000, 150 + rows_h)

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(file, model, result, the one-line message naming the file) of every row (for tests)."""
        return [
            (*(self.table.item(i, j).text() for j in range(3)), self.table.item(i, 3).toolTip())  # type: ignore[misc]
            for i in range(self.table.rowCount())
        ]


class ModelImport(QObject):
    """File → Import Model… of one main window."""

    imported = Signal(object)  # list[InstallResult], once an import ended (not when cancelled)

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.w = window
        self.runner = TaskRunner(1, self)
        self.task: Task | None = None
        self.summary: ImportSummary | None = None
        self.act_import = window.make_action(
            "&Import Model…",
            self.import_dialog,
            tip="Install the authors' model.zip (Zenodo 3625017), a Keras .hdf5 or an .onnx with a "
            "contract into your models folder",
        )
        window.register_action(self.act_import, "file")
        window.installEventFilter(self)  # closing the window cancels a running import

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if obj is self.w and event.type() == QEvent.Type.Close:
            self.cancel(wait=True)
        return False

    def import_dialog(self) -> Task | None:
        """Pick the file and import it."""
        w = self.w
        start = S.get_str(w.settings, IMPORT_FOLDER, str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(w, "Import a model", start, FILE_FILTER)
        if not path:
            return None
        if w.interactive:
            w.settings.setValue(IMPORT_FOLDER, str(Path(path).parent))
        return self.import_file(path)

    def import_file(self, path: str | Path) -> Task | None:
        """Import ``path`` in the background (one import at a time)."""
        w = self.w
        if self.task is not None and self.task.state in ("queued", "running"):
            w.statusBar().showMessage("A model import is already running", 5000)
            return self.task
        path = Path(path)

        def work(task: Task) -> list:
            from ecgviewer.model.install import import_models

            def progress(done: int, total: int, label: str) -> None:
                task.progress(done, total)
                if label and done < total:
                    task.partial(f"Importing {label} ({done + 1} of {total})")

            return import_models(path, progress=progress, cancel=task.cancelled)

        label = f"Importing {path.name}"
        task = Task(work, label)
        task.signals.partial.connect(lambda text: w.statusBar().showMessage(str(text)))
        task.signals.done.connect(lambda results, p=path: self._on_done(p, results))
        task.signals.failed.connect(lambda err, p=path: self._on_failed(p, err))
        task.signals.cancelled.connect(self._on_cancelled)
        self.task = task
        w.track_task(task, label)
        self.runner.start(task)
        return task

    def cancel(self, wait: bool = False) -> None:
        """Stop the import after the file being converted (installed ones stay)."""
        if self.task is not None and self.task.state in ("queued", "running"):
            self.task.cancel()
        if wait:
            self.runner.wait(WAIT_ON_CLOSE_MS)

    def _on_done(self, path: Path, results: list) -> None:
        w = self.w
        w.analysis.refresh_models()
        line = summary_line(results)
        w.statusBar().showMessage(f"{path.name}: {line}", 10000)
        self.imported.emit(results)
        if w.interactive:
            if self.summary is not None:
                self.summary.close()
            self.summary = ImportSummary(path, results, w)
            self.summary.destroyed.connect(lambda *_: setattr(self, "summary", None))
            self.summary.show()
        else:
            for r in results:
                print(f"ecgviewer: import: {r.status}: {r.message}")

    def _on_failed(self, path: Path, err: BaseException) -> None:
        from ecgviewer.errors import EcgViewerError

        text = str(err) if isinstance(err, EcgViewerError) else f"{path}: {type(err).__name__}: {err}"
        self.w.show_error("Cannot import the model", text)
        self.w.analysis.refresh_models()

    def _on_cancelled(self) -> None:
        self.w.statusBar().showMessage("Import cancelled: the models installed before stay installed", 8000)
        self.w.analysis.refresh_models()
