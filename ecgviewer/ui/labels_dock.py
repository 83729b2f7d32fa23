"""The Labels dock: label sources beside the model, for the exam on screen and for the browser.

:class:`LabelsDock` owns the :class:`~ecgviewer.ui.labels_panel.LabelsPanel` in a dock, the
label store and File → Load Labels… (Ctrl+L). Label files beside every opened file are found
automatically (:func:`ecgviewer.labels.discover_labels`); Load Labels attaches more under a
name the user gives; the exams' own labels (WFDB ``#Dx``) are used too. It keeps the per-exam
comparison and the browser's "Labels" column and "model disagrees" filter up to date.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QInputDialog, QLineEdit

from ecgviewer.errors import LabelError
from ecgviewer.labels import LabelSet, discover_labels, labels_from_exam, load_label_file, source_name
from ecgviewer.ui import settings as S  # noqa: N812
from ecgviewer.ui.labels_panel import AgreementColumn, LabelsPanel, LabelStore, scope_for
from ecgviewer.ui.workers import Task, TaskRunner

LABELS_FOLDER = "files/labels_folder"
IN_MEMORY_ROW = -1
"""Key of the labels of an exam shown without a file (not in the browser)."""
AGREEMENT_INLINE_MAX = 3000
"""Up to this many rows the agreement column is computed on the UI thread (≈ 50 ms)."""


def row_key(ws: Any, row: int) -> tuple[Path | None, str | None, int]:
    """(file, exam id, index in the file) of a workspace row, without reading samples."""
    s, i = ws.locate(row)
    src, j = s.locate(i)
    try:
        exam_id = src.exam_id(j)
    except Exception:  # an unreadable header: match by position only
        exam_id = None
    return Path(src.path), exam_id, j


class LabelsDock(QObject):
    """The label sources of one main window (``window.label_sources``)."""

    labels_changed = Signal()
    agreement_updated = Signal()

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.w = window
        self.runner = TaskRunner(1, self)
        self.store = LabelStore()
        self.agreement = AgreementColumn()
        self._discovered: set[Path] = set()
        self._agreement_task: Task | None = None
        self.labels = LabelsPanel()
        self.dock = window.add_panel(
            "Labels", self.labels, Qt.DockWidgetArea.RightDockWidgetArea, scroll=True
        )

        window.exam_shown.connect(self._on_exam_shown)
        window.prediction_shown.connect(self._on_prediction_shown)
        window.model_changed.connect(lambda _m: self.refresh_agreement())
        window.open_finished.connect(self._on_open_finished)
        window.batch_finished.connect(lambda _how: self.refresh_agreement())
        window.rows_analysed.connect(self._on_rows_analysed)
        window.exams_closed.connect(self.on_closed_all)
        self.labels.load_requested.connect(self.load_labels_dialog)

        self.act_load_labels = window.make_action(
            "Load &Labels…",
            self.load_labels_dialog,
            "Ctrl+L",
            tip="Attach a label file (annotator CSV, SPH metadata.csv or a generic CSV) to the open exams",
        )
        window.register_action(self.act_load_labels, "file")

    # ================================================================== current exam
    def _row(self) -> int:
        r = self.w.current_row
        return IN_MEMORY_ROW if r is None else int(r)

    def _on_exam_shown(self, exam: Any) -> None:
        self.store.set_exam_labels(self._row(), labels_from_exam(exam))
        self.refresh_comparison()

    def _on_prediction_shown(self, _pred: Any) -> None:
        self.refresh_comparison()
        if self.w.current_row is not None:
            self.refresh_agreement([self.w.current_row])

    def _on_rows_analysed(self, rows: Any, own: dict[int, LabelSet | None]) -> None:
        """A batch analysed ``rows`` and read the labels those exams carry (row → LabelSet)."""
        # a batch's last result can arrive after Close All (queued across threads): drop rows now gone
        n = len(self.w.ws)
        live = [int(r) for r in rows if 0 <= int(r) < n]
        if not live:
            return
        self.on_exam_labels({r: v for r, v in own.items() if 0 <= int(r) < n})
        self.refresh_agreement(live)

    # ================================================================== labels
    def current_sources(self) -> list[LabelSet]:
        exam = self.w.current_exam
        if exam is None:
            return []
        return self.store.sources_for(exam.source, self._row())

    def refresh_comparison(self) -> None:
        """Redraw the per-exam comparison of the exam on screen."""
        w = self.w
        exam = w.current_exam
        if exam is None:
            self.labels.set_comparison(None)
            return
        pred = w.current_prediction
        name = f"{w.model.contract.name}" if w.model is not None else "Model"
        # rows: the model's classes (a source lacking one shows "n/a")
        classes = tuple(pred.classes) if pred is not None else tuple(w.ws.classes)
        comp = self.store.compare(
            exam.source,
            exam.exam_id,
            exam.index,
            row=self._row(),
            decisions=None if pred is None else np.asarray(pred.decisions, dtype=np.int8),
            probabilities=None if pred is None else pred.probabilities,
            model_name=name,
            classes=classes,
        )
        self.labels.set_comparison(
            comp,
            thresholds=None if pred is None else pred.thresholds,
            sources=self.current_sources(),
            classes=classes,
        )

    def _on_open_finished(self, opened: bool) -> None:
        if not opened or not self.w.ws.sets:
            return
        folders = []
        for src in self.w.ws.sets[-1].sources:
            try:
                folder = Path(src.path).resolve().parent
            except OSError:
                continue
            if folder not in self._discovered and folder not in folders:
                folders.append(folder)
        if folders:
            self.discover(folders)

    def discover(self, folders: Sequence[Path]) -> Task:
        """Find label files beside these folders' exams in the background and attach them."""
        self._discovered.update(folders)

        def work(task: Task) -> list[tuple[Path, list[LabelSet], list[LabelError]]]:
            out = []
            for f in folders:
                if task.cancelled():
                    break
                errors: list[LabelError] = []
                out.append((f, discover_labels(f, errors=errors), errors))
            return out

        task = Task(work, "Looking for labels")
        task.signals.done.connect(self._on_discovered)
        self.runner.start(task)
        return task

    def _on_discovered(self, found: list[tuple[Path, list[LabelSet], list[LabelError]]]) -> None:
        added = []
        problems = []
        for folder, sets, errors in found:
            for ls in sets:
                self.store.add(ls, scope_for(folder), origin="discovered")
                added.append(ls.name)
            problems += [str(e) for e in errors]
        if added:
            self.w.statusBar().showMessage(f"Labels found: {', '.join(dict.fromkeys(added))}", 8000)
            self._labels_added()
        if problems:
            self.w.statusBar().showMessage("Some label files could not be read: " + problems[0], 10000)

    def load_labels_dialog(self) -> None:
        """File → Load Labels…: pick a CSV, name the source, attach it."""
        w = self.w
        start = S.get_str(w.settings, LABELS_FOLDER, S.get_str(w.settings, S.LAST_FOLDER, str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(
            w, "Load labels", start, "Label files (*.csv *.tsv *.txt);;All files (*)"
        )
        if not path:
            return
        name, ok = QInputDialog.getText(
            w,
            "Name of the label source",
            "Shown as the column title:",
            QLineEdit.EchoMode.Normal,
            source_name(path),
        )
        if not ok:
            return
        w.settings.setValue(LABELS_FOLDER, str(Path(path).parent))
        self.load_labels(path, name.strip() or None)

    def load_labels(
        self, path: str | Path, name: str | None = None, scope: Sequence[Path] | str | None = "auto"
    ) -> Task:
        """Read a label file in the background and attach it.

        ``scope="auto"``: files matched by exam id apply to every open exam; files matched by
        position apply to the exams in the folder of the exam on screen (or every exam when
        none is shown).
        """
        path = Path(path)

        def work(task: Task) -> LabelSet:
            return load_label_file(path, name=name)

        def done(ls: LabelSet) -> None:
            sc: Sequence[Path] | None
            if scope == "auto":
                exam = self.w.current_exam
                positional = ls.exam_ids is None and not ls.alias_ids
                sc = scope_for(exam.source) if positional and exam is not None and exam.source else None
            else:
                sc = scope  # type: ignore[assignment]
            entry = self.store.add(ls, sc, origin="loaded")
            self.w.statusBar().showMessage(f"Labels loaded: {entry.labels.describe()}", 8000)
            self._labels_added()
            self.dock.show()
            self.dock.raise_()

        task = Task(work, f"Reading {path.name}")
        task.signals.done.connect(done)
        task.signals.failed.connect(lambda err: self.w.show_error("Cannot load labels", str(err)))
        self.runner.start(task)
        return task

    def on_exam_labels(self, own: dict[int, LabelSet | None]) -> None:
        """Labels that exams carry themselves (read during a batch analysis): row → LabelSet."""
        for row, ls in own.items():
            self.store.set_exam_labels(int(row), ls)

    def on_closed_all(self) -> None:
        """Every exam was closed: forget their labels."""
        self.store.clear()
        self._discovered.clear()
        self.agreement = AgreementColumn()
        self.labels.set_comparison(None)

    def _labels_added(self) -> None:
        self.refresh_comparison()
        self.refresh_agreement()
        self.labels_changed.emit()

    # ================================================================== browser agreement
    def refresh_agreement(self, rows: Sequence[int] | None = None) -> Task | None:
        """Recompute the browser's label column (all rows, or ``rows``)."""
        ws = self.w.ws
        n = len(ws)
        if not self.store.attached and not self.store.exam_labels:
            self._apply_agreement(
                AgreementColumn(labelled=np.zeros(n, bool), disagrees=np.zeros(n, bool)), None
            )
            return None
        decisions = ws.decisions().copy()
        analysed = ws.analysed().copy()
        store = self.store
        classes = tuple(ws.classes)  # the model's: the agreement is on its classes

        def compute(task: Task | None = None) -> tuple[AgreementColumn, Sequence[int] | None]:
            return store.agreement(n, lambda r: row_key(ws, r), decisions, analysed, classes, rows=rows), rows

        if rows is not None or n <= AGREEMENT_INLINE_MAX:
            col, _ = compute()
            self._apply_agreement(col, rows)
            return None
        if self._agreement_task is not None:
            self._agreement_task.cancel()
        task = Task(compute, "Comparing with the labels")
        task.signals.done.connect(
            lambda res, t=task: self._apply_agreement(*res) if t is self._agreement_task else None
        )
        self._agreement_task = task
        self.runner.start(task)
        return task

    def _apply_agreement(self, col: AgreementColumn, rows: Sequence[int] | None) -> None:
        ws = self.w.ws
        n = len(ws)
        if rows is None or len(self.agreement.disagrees) != n:
            if rows is not None:  # partial update of a column of another length: resize it
                old = self.agreement
                base = AgreementColumn(labelled=np.zeros(n, bool), disagrees=np.zeros(n, bool))
                m = min(n, len(old.disagrees))
                base.labelled[:m], base.disagrees[:m] = old.labelled[:m], old.disagrees[:m]
                base.texts = {r: t for r, t in old.texts.items() if r < n}
                base.details = {r: t for r, t in old.details.items() if r < n}
                base.references = {r: t for r, t in old.references.items() if r < n}
                self.agreement = base
            else:
                self.agreement = col
        if rows is not None:
            for r in rows:
                for d_from, d_to in (
                    (col.texts, self.agreement.texts),
                    (col.details, self.agreement.details),
                    (col.references, self.agreement.references),
                ):
                    if r in d_from:
                        d_to[r] = d_from[r]
                    else:
                        d_to.pop(r, None)
                self.agreement.labelled[r] = col.labelled[r]
                self.agreement.disagrees[r] = col.disagrees[r]
        if len(self.agreement.disagrees) != n:  # rows changed while computing: wait for the next update
            return
        ws.agreement = dict(self.agreement.texts)
        ws.agreement_details = dict(self.agreement.details)
        ws.label_disagrees = self.agreement.disagrees.copy()
        ws.labelled = self.agreement.labelled.copy()
        self.w.browser.labels_changed(None if rows is None else np.asarray(list(rows), dtype=np.int64))
        self.agreement_updated.emit()


__all__ = ["AGREEMENT_INLINE_MAX", "IN_MEMORY_ROW", "LabelsDock", "row_key"]
