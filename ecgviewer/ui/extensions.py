"""Explanation, labels, set statistics and report export, wired into the main window.

:func:`install` (called by :class:`~ecgviewer.ui.mainwindow.MainWindow`) adds:

* the **Explanation** dock (:class:`~ecgviewer.ui.saliency_panel.SaliencyPanel`): its heatmap is
  drawn on the lead grid for the class picked in the findings panel; View → SHAP Heatmap (H),
  Exam → Explain (E);
* the **Labels** dock (:class:`~ecgviewer.ui.labels_panel.LabelsPanel`): label files beside
  every opened file are found automatically (:func:`ecgviewer.labels.discover_labels`),
  File → Load Labels… (Ctrl+L) attaches more under a name the user gives; the exams' own
  labels (WFDB ``#Dx``) are used too; the browser's "Labels" column and its
  "model disagrees" filter are kept up to date;
* Exam → **Set Statistics…** (Ctrl+T): the paper's comparison over the open exams
  (:class:`~ecgviewer.ui.setstats.SetStatsDialog`);
* File → **Export Report…** (Ctrl+P): the PDF of the exam on screen with the viewer's gain,
  speed, rhythm lead, the explanation and the labels shown; asks before replacing a file;
  written in the background.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QLocale, QObject, Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QInputDialog,
    QLineEdit,
    QMessageBox,
)

from ecgviewer.errors import EcgViewerError, LabelError
from ecgviewer.labels import LabelSet, discover_labels, labels_from_exam, load_label_file, source_name
from ecgviewer.ui import settings as S  # noqa: N812
from ecgviewer.ui.labels_panel import AgreementColumn, LabelsPanel, LabelStore, scope_for
from ecgviewer.ui.saliency_panel import SaliencyPanel
from ecgviewer.ui.setstats import SetStatsDialog, SetStatsInput
from ecgviewer.ui.workers import Task, TaskRunner

REPORT_FOLDER = "files/report_folder"
REPORT_PAPER = "report/paper"
LABELS_FOLDER = "files/labels_folder"
HEATMAP_ON = "explain/heatmap"
HEATMAP_OPACITY = "explain/opacity"
SEGMENTS = "explain/segments"
PAPER_FILTERS = {"A4": "PDF on A4 paper (*.pdf)", "Letter": "PDF on US Letter paper (*.pdf)"}
IN_MEMORY_ROW = -1
"""Key of the labels of an exam shown without a file (not in the browser)."""
AGREEMENT_INLINE_MAX = 3000
"""Up to this many rows the agreement column is computed on the UI thread (≈ 50 ms)."""


def default_paper() -> str:
    """US Letter in the United States, Canada, Mexico and the Philippines; A4 elsewhere."""
    country = QLocale.system().territory()
    letter = {
        QLocale.Country.UnitedStates,
        QLocale.Country.Canada,
        QLocale.Country.Mexico,
        QLocale.Country.Philippines,
    }
    return "Letter" if country in letter else "A4"


def row_key(ws: Any, row: int) -> tuple[Path | None, str | None, int]:
    """(file, exam id, index in the file) of a workspace row, without reading samples."""
    s, i = ws.locate(row)
    src, j = s.locate(i)
    try:
        exam_id = src.exam_id(j)
    except Exception:  # an unreadable header: match by position only
        exam_id = None
    return Path(src.path), exam_id, j


class ViewerExtensions(QObject):
    """The explanation, labels, set statistics and report export of one main window."""

    labels_changed = Signal()
    agreement_updated = Signal()
    report_written = Signal(object)  # Path

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.w = window
        self.runner = TaskRunner(1, self)
        self.report_runner = TaskRunner(1, self)
        self.store = LabelStore()
        self.agreement = AgreementColumn()
        self.setstats: SetStatsDialog | None = None
        self._discovered: set[Path] = set()
        self._agreement_task: Task | None = None
        self._report_task: Task | None = None

        s = window.settings
        user = bool(getattr(window, "interactive", True))  # --screenshot: defaults, settings untouched
        self.saliency = SaliencyPanel(runner=TaskRunner(1, self))
        if user:
            self.saliency.set_heatmap_on(S.get_bool(s, HEATMAP_ON, True))
            self.saliency.set_opacity(S.get_float(s, HEATMAP_OPACITY, 0.65))
            self.saliency.set_segments(int(S.get_float(s, SEGMENTS, 32)))
        self.saliency.attach_grid(window.grid)
        self.labels = LabelsPanel()
        right = Qt.DockWidgetArea.RightDockWidgetArea
        self.saliency_dock = window.add_panel("Explanation", self.saliency, right, scroll=True)
        self.labels_dock = window.add_panel("Labels", self.labels, right, scroll=True)
        window.tabifyDockWidget(self.saliency_dock, self.labels_dock)
        self.saliency_dock.raise_()
        state = s.value(S.STATE) if user else None
        if isinstance(state, QByteArray) and not state.isEmpty():
            window.restoreState(state)  # again: these docks did not exist at the first restore
        else:  # first start: findings above, explanation and labels below
            # the findings keep their natural height; the explanation and labels take the rest
            docks = [window.findings_dock, self.saliency_dock]
            findings_h = window.findings.sizeHint().height() + 8
            window.resizeDocks(
                docks, [findings_h, max(120, window.height() - findings_h - 330)], Qt.Orientation.Vertical
            )

        # wiring
        window.exam_shown.connect(self._on_exam_shown)
        window.prediction_shown.connect(self._on_prediction_shown)
        window.model_changed.connect(lambda _m: (self.saliency.clear(), self.refresh_agreement()))
        window.open_finished.connect(self._on_open_finished)
        window.batch_finished.connect(lambda _how: self.refresh_agreement())
        window.findings.class_selected.connect(self.saliency.set_selected_class)
        self.saliency.class_changed.connect(self._mark_findings_class)
        self.saliency.error.connect(
            lambda text: window.statusBar().showMessage(f"Explanation failed: {text}", 10000)
        )
        self.saliency.overlay_changed.connect(self._save_explain_settings)
        self.saliency.saliency_changed.connect(lambda _s: self._sync_heatmap_action())
        self.labels.load_requested.connect(self.load_labels_dialog)
        self._build_actions()

    # ================================================================== actions
    def _build_actions(self) -> None:
        w = self.w
        a = w._action
        self.act_load_labels = a(
            "Load &Labels…",
            self.load_labels_dialog,
            "Ctrl+L",
            tip="Attach a label file (annotator CSV, SPH metadata.csv or a generic CSV) to the open exams",
        )
        self.act_export_report = a(
            "&Export Report…",
            self.export_report_dialog,
            QKeySequence.StandardKey.Print,
            tip="Write the PDF report of the exam on screen (Ctrl+P)",
        )
        w.menu_file.insertAction(w.file_export_separator, self.act_load_labels)
        w.menu_file.insertAction(w.file_export_separator, self.act_export_report)
        self.act_explain = a(
            "E&xplain (SHAP)",
            self.explain,
            "E",
            tip="Compute which stretches of which leads drove each finding (E)",
        )
        self.act_setstats = a(
            "Set &Statistics…",
            self.show_setstats,
            "Ctrl+T",
            tip="The paper's comparison over the open exams: Table 2, kappa, McNemar, "
            "precision-recall curves",
        )
        self.act_heatmap = a(
            "SHAP &Heatmap",
            self.saliency.set_heatmap_on,
            "H",
            checkable=True,
            tip="Show the explanation of the selected finding behind the traces (H)",
        )
        self.act_heatmap.setChecked(self.saliency.heatmap_on)
        self.saliency.show_check.toggled.connect(self._sync_heatmap_action)
        w.menu_exam.addSeparator()
        w.menu_exam.addAction(self.act_explain)
        w.menu_exam.addAction(self.act_setstats)
        actions = w.menu_view.actions()
        before = next((x for x in actions if x.menu() is w.menu_panels), None)
        w.menu_view.insertAction(before, self.act_heatmap)
        w.menu_view.insertSeparator(before)
        w.toolbar.addSeparator()
        w.toolbar.addAction(self.act_heatmap)

    def _sync_heatmap_action(self, *_: Any) -> None:
        on = self.saliency.heatmap_on
        if self.act_heatmap.isChecked() != on:
            self.act_heatmap.setChecked(on)

    def _save_explain_settings(self) -> None:
        if not getattr(self.w, "interactive", True):
            return
        s = self.w.settings
        s.setValue(HEATMAP_ON, self.saliency.heatmap_on)
        s.setValue(HEATMAP_OPACITY, self.saliency.opacity)
        s.setValue(SEGMENTS, self.saliency.segments)

    # ================================================================== current exam
    def _row(self) -> int:
        r = self.w.current_row
        return IN_MEMORY_ROW if r is None else int(r)

    def _on_exam_shown(self, exam: Any) -> None:
        self.saliency.clear()
        self.store.set_exam_labels(self._row(), labels_from_exam(exam))
        self.refresh_comparison()

    def _on_prediction_shown(self, pred: Any) -> None:
        w = self.w
        self.saliency.set_context(
            w.model,
            pred.input,
            pred.report,
            probabilities=pred.probabilities,
            thresholds=pred.thresholds,
            selected_class=w.findings.selected_class,
        )
        self._mark_findings_class(self.saliency.selected_class)
        self.refresh_comparison()
        if w.current_row is not None:
            self.refresh_agreement([w.current_row])

    def _mark_findings_class(self, cls: str) -> None:
        """Highlight the explained class in the findings panel (without re-emitting)."""
        f = self.w.findings
        f.selected_class = cls
        for bar in f.bars:
            bar.selected = bar.cls == cls
            bar.update()

    def explain(self) -> Task | None:
        """Explain the exam on screen (shows the Explanation dock)."""
        self.saliency_dock.show()
        self.saliency_dock.raise_()
        task = self.saliency.explain()
        if task is None:
            self.w.statusBar().showMessage("Open and analyse an exam first", 4000)
        return task

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
        comp = self.store.compare(
            exam.source,
            exam.exam_id,
            exam.index,
            row=self._row(),
            decisions=None if pred is None else np.asarray(pred.decisions, dtype=np.int8),
            probabilities=None if pred is None else pred.probabilities,
            model_name=name,
        )
        self.labels.set_comparison(
            comp, thresholds=None if pred is None else pred.thresholds, sources=self.current_sources()
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
            self.labels_dock.show()
            self.labels_dock.raise_()

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
        """Every exam was closed: forget their labels and explanations."""
        self.saliency.clear()
        self.store.clear()
        self._discovered.clear()
        self.agreement = AgreementColumn()
        self.labels.set_comparison(None)
        if self.setstats is not None:
            self.setstats.close()

    def _labels_added(self) -> None:
        self.refresh_comparison()
        self.refresh_agreement()
        if self.setstats is not None and self.setstats.isVisible():
            self.setstats.refresh_input()
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

        def compute(task: Task | None = None) -> tuple[AgreementColumn, Sequence[int] | None]:
            return store.agreement(
                n, lambda r: row_key(ws, r), decisions, analysed, ws.classes, rows=rows
            ), rows

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

    # ================================================================== set statistics
    def setstats_input(self) -> SetStatsInput:
        """The open exams, their predictions and labels, for the Set statistics view."""
        ws = self.w.ws
        n = len(ws)
        keys: list[tuple[str | None, int]] = []
        sources: list[Path | None] = []
        for r in range(n):
            src, exam_id, j = row_key(ws, r)
            keys.append((exam_id, j))
            sources.append(src)
        analysed = ws.analysed()
        dec = ws.decisions().astype(np.int8)
        dec[~analysed] = -1
        label = ws.model_label or "Model"
        return SetStatsInput(
            keys=keys,
            sources=sources,
            decisions=dec,
            probabilities=np.asarray(ws.probabilities, dtype=np.float64),
            store=self.store,
            rows=list(range(n)),
            model_name=label,
            thresholds=np.asarray(ws.thresholds),
        )

    def show_setstats(self) -> SetStatsDialog:
        """Open (or raise) the Set statistics window and compute over the open exams."""
        if self.setstats is None:
            self.setstats = SetStatsDialog(self.w, provider=self.setstats_input, runner=self.runner)
            self.setstats.analyse_requested.connect(self.w.analyse_all)
        dlg = self.setstats
        dlg.show()
        dlg.raise_()
        if len(self.w.ws):
            dlg.compute()
        else:
            dlg.status.setText("No exam open.")
        return dlg

    # ================================================================== report
    def export_report_dialog(self) -> Task | None:
        """File → Export Report…: choose the file and the paper, confirm a replacement, write."""
        w = self.w
        if w.current_exam is None or w.current_prediction is None:
            w.show_error(
                "Nothing to report", "Open an exam and wait for its analysis before exporting a report."
            )
            return None
        exam = w.current_exam
        folder = S.get_str(w.settings, REPORT_FOLDER, S.get_str(w.settings, S.LAST_FOLDER, str(Path.home())))
        paper = S.get_str(w.settings, REPORT_PAPER, default_paper())
        stem = (exam.exam_id or (exam.source.stem if exam.source else "exam")).replace("/", "_")
        filters = ";;".join(PAPER_FILTERS.values())
        path, chosen = QFileDialog.getSaveFileName(
            w,
            "Export report",
            str(Path(folder) / f"{stem}.pdf"),
            filters,
            PAPER_FILTERS.get(paper, ""),
            QFileDialog.Option.DontConfirmOverwrite,
        )
        if not path:
            return None
        paper = next((k for k, v in PAPER_FILTERS.items() if v == chosen), paper)
        out = Path(path)
        if out.suffix.lower() != ".pdf":
            out = out.with_name(out.name + ".pdf")
        if out.exists():
            answer = QMessageBox.question(
                w,
                "Replace the report?",
                f"{out.name} already exists in {out.parent}.\nReplace it?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return None
        w.settings.setValue(REPORT_FOLDER, str(out.parent))
        w.settings.setValue(REPORT_PAPER, paper)
        return self.export_report(out, paper=paper)

    def report_arguments(self) -> dict[str, Any]:
        """What the report of the exam on screen is made of (as shown in the viewer)."""
        w = self.w
        sal = self.saliency.saliency if self.saliency.heatmap_on else None
        shap_classes = None
        if sal is not None:
            pred = w.current_prediction
            chosen = [self.saliency.selected_class]
            chosen += [c for c in (pred.positive() if pred is not None else []) if c not in chosen]
            shap_classes = chosen
        return {
            "saliency": sal,
            "labels": self.current_sources(),
            "gain_mm_mv": w.grid.gain,
            "speed_mm_s": w.grid.speed,
            "rhythm_lead": w.grid.rhythm_lead,
            "model": w.model,
            "shap_classes": shap_classes,
        }

    def export_report(
        self, out: str | Path, *, paper: str = "A4", on_done: Callable[[Path], None] | None = None
    ) -> Task | None:
        """Write the report of the exam on screen to ``out`` in the background (no questions asked)."""
        from ecgviewer.report import write_exam_report

        w = self.w
        exam, pred = w.current_exam, w.current_prediction
        if exam is None or pred is None:
            return None
        kwargs = self.report_arguments()
        out = Path(out)

        def work(task: Task) -> Path:
            return write_exam_report(out, exam, pred, paper=paper, **kwargs)

        def done(path: Path) -> None:
            w.statusBar().showMessage(f"Report written: {path}", 10000)
            self.report_written.emit(path)
            if on_done is not None:
                on_done(path)

        task = Task(work, f"Writing {out.name}")
        task.signals.done.connect(done)
        task.signals.failed.connect(
            lambda err: w.show_error(
                "Cannot write the report", str(err) if isinstance(err, EcgViewerError) else f"{out}: {err}"
            )
        )
        w._track(task, f"Writing {out.name}")
        self._report_task = task
        self.report_runner.start(task)
        return task


def install(window: Any) -> ViewerExtensions:
    """Add the explanation, labels, set statistics and report export to a main window."""
    ext = ViewerExtensions(window)
    window.extensions = ext
    return ext


__all__ = ["ViewerExtensions", "default_paper", "install", "row_key"]
