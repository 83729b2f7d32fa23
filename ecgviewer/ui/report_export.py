"""File → Export Report… (Ctrl+P): the PDF of the exam on screen, as the viewer shows it.

:class:`ReportExport` owns the action. The report is drawn with the viewer's gain, speed and
rhythm lead, the explanation on the grid (its class first, then the positive ones), the
label sources of the exam, and the patient identifiers only when View → Show Patient Identifiers
is on; the user picks the file and the paper (A4 or US Letter), is asked before a file is
replaced, and the PDF is written in the background
(:func:`ecgviewer.report.write_exam_report`, atomic).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QLocale, QObject, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox

from ecgviewer.errors import EcgViewerError
from ecgviewer.ui import settings as S  # noqa: N812
from ecgviewer.ui.workers import Task, TaskRunner

REPORT_FOLDER = "files/report_folder"
REPORT_PAPER = "report/paper"
PAPER_FILTERS = {"A4": "PDF on A4 paper (*.pdf)", "Letter": "PDF on US Letter paper (*.pdf)"}


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


class ReportExport(QObject):
    """The report export of one main window (``window.report_export``).

    Args:
        window: the main window.
        explanation: its :class:`~ecgviewer.ui.explanation_dock.ExplanationDock` (what is drawn).
        label_sources: its :class:`~ecgviewer.ui.labels_dock.LabelsDock` (the exam's labels).
    """

    report_written = Signal(object)  # Path

    def __init__(self, window: Any, explanation: Any, label_sources: Any) -> None:
        super().__init__(window)
        self.w = window
        self.explanation = explanation
        self.label_sources = label_sources
        self.runner = TaskRunner(1, self)
        self._task: Task | None = None
        self.act_export_report = window.make_action(
            "&Export Report…",
            self.export_report_dialog,
            QKeySequence.StandardKey.Print,
            tip="Write the PDF report of the exam on screen (Ctrl+P)",
        )
        window.register_action(self.act_export_report, "file")

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
        sal = self.explanation.shown_saliency()
        shap_classes = None
        if sal is not None:
            pred = w.current_prediction
            chosen = [self.explanation.saliency.selected_class]
            chosen += [c for c in (pred.positive() if pred is not None else []) if c not in chosen]
            shap_classes = chosen
        return {
            "saliency": sal,
            "labels": self.label_sources.current_sources(),
            "gain_mm_mv": w.grid.gain,
            "speed_mm_s": w.grid.speed,
            "rhythm_lead": w.grid.rhythm_lead,
            "model": w.model,
            "shap_classes": shap_classes,
            # patient names and ids of a clinical file only when the viewer shows them
            "identifiers": bool(w.viewer.view.show_identifiers),
            "reads": [] if w.current_row is None else w.viewer.reading.reads_of(w.current_row),
            "display_filters": w.viewer.view.display_filters,  # the traces as drawn on screen
            "measurements": w.viewer.measurements(),  # None: measured while writing
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
        w.track_task(task, f"Writing {out.name}")
        self._task = task
        self.runner.start(task)
        return task
