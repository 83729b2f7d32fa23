"""Opening exams and putting one on screen: the window's way in.

:class:`ExamOpening` (``window.opening``) owns File → Open…, Open Folder…, Open Recent and
Close All, drag and drop of files and folders, Next/Previous Exam and Filter Exams, and the
path from a row of the exam table to the grid:

- files and folders are opened on a worker thread (:func:`ecgviewer.io.open_exams`) and added
  to the window's :class:`~ecgviewer.viewer.ViewerModel` as one set; a file that cannot be read
  gets a dialog naming it and the problem, and the exam on screen stays;
- a row is read and preprocessed on a worker; requests are coalesced (while scrolling fast only
  the last row is read) and a read that a newer request superseded is dropped (the window's
  ``_generation``);
- the exam read becomes ``viewer.exam`` (:meth:`ViewerModel.set_exam`, which the banners and
  other observers follow), is drawn and announced with ``window.exam_shown``; the window then
  analyses it (``window._show_exam``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu

from ecgviewer.errors import EcgViewerError, PreprocessError
from ecgviewer.exam import Exam
from ecgviewer.preprocess import to_model_input
from ecgviewer.ui import settings as S  # noqa: N812 - short for settings keys
from ecgviewer.ui.workers import Task
from ecgviewer.viewer.quality_view import error_line

MAX_LISTED = 12  # unreadable files named in a dialog
OPEN_TIP = "Open ECG files (HDF5, WFDB, CSV, GE MUSE, Philips, HL7 aECG, DICOM, SCP-ECG, EDF)"
FOLDER_TIP = "Open every ECG file in a folder and its subfolders"


def _listed(errors: Sequence[str]) -> str:
    """Bullet lines of the first :data:`MAX_LISTED` errors, and how many more there are."""
    more = f"\n… and {len(errors) - MAX_LISTED} more" if len(errors) > MAX_LISTED else ""
    return "\n".join(f"• {e}" for e in errors[:MAX_LISTED]) + more


def local_paths(mime: Any) -> list[str]:
    """The local files and folders of a drag's mime data (nothing for web URLs)."""
    if mime is None or not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]


class ExamOpening(QObject):
    """Opening, closing, reading and showing the exams of one main window."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.w = window
        self.viewer = window.viewer
        self._pending_row: int | None = None
        self._reading = False  # a read task is in flight
        a = window.make_action
        self.act_open = a("&Open…", self.open_dialog, QKeySequence.StandardKey.Open, tip=OPEN_TIP)
        self.act_open_folder = a("Open &Folder…", self.open_folder_dialog, "Ctrl+Shift+O", tip=FOLDER_TIP)
        self.act_close_all = a("&Close All", self.close_all, "Ctrl+W", tip="Close every open exam")
        self.act_next = a("&Next Exam", lambda: self.step(+1), QKeySequence(Qt.Key.Key_PageDown))
        self.act_prev = a("&Previous Exam", lambda: self.step(-1), QKeySequence(Qt.Key.Key_PageUp))
        self.act_find = a("Filter Exams", self.focus_filter, QKeySequence.StandardKey.Find)
        self.menu_recent: QMenu | None = None
        window.browser.row_activated.connect(self.show_row)

    def fill_file_menu(self, menu: QMenu) -> None:
        """Open…, Open Folder…, Open Recent."""
        menu.addAction(self.act_open)
        menu.addAction(self.act_open_folder)
        self.menu_recent = menu.addMenu("Open &Recent")
        self.menu_recent.aboutToShow.connect(self._fill_recent_menu)

    # ================================================================== opening
    def open_dialog(self) -> None:
        from ecgviewer.io import FILE_DIALOG_FILTER

        start = S.get_str(self.w.settings, S.LAST_FOLDER, str(Path.home()))
        files, _ = QFileDialog.getOpenFileNames(self.w, "Open ECG files", start, FILE_DIALOG_FILTER)
        if files:
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        start = S.get_str(self.w.settings, S.LAST_FOLDER, str(Path.home()))
        folder = QFileDialog.getExistingDirectory(self.w, "Open a folder of ECG files", start)
        if folder:
            self.open_paths([folder])

    def _fill_recent_menu(self) -> None:
        menu, settings = self.menu_recent, self.w.settings
        menu.clear()
        recent = [p for p in S.get_list(settings, S.RECENT) if Path(p).exists()]
        if not recent:
            act = menu.addAction("(none)")
            act.setEnabled(False)
            return
        for i, path in enumerate(recent):
            label = f"&{i + 1}  {Path(path).name}" if i < 9 else Path(path).name
            act = menu.addAction(label)
            act.setToolTip(path)
            act.triggered.connect(lambda _=False, p=path: self.open_paths([p]))
        menu.addSeparator()
        menu.addAction("Clear List", lambda: settings.setValue(S.RECENT, []))

    def open_paths(self, paths: Iterable[str | Path]) -> Task | None:
        """Open files and folders in the background and show the first new exam.

        Files already open are not opened again: their first exam is shown.
        """
        w = self.w
        paths = [Path(p) for p in paths if str(p).strip()]
        if not paths:
            return None
        if all(p.is_file() for p in paths):
            rows = [self.viewer.workspace.row_of_file(p) for p in paths]
            if all(r is not None for r in rows):
                w.browser.select_ws_row(int(rows[0]))  # type: ignore[arg-type]
                w.open_finished.emit(False)
                return None
        label = paths[0].name + (f" and {len(paths) - 1} more" if len(paths) > 1 else "")

        def work(task: Task):
            from ecgviewer.io import open_exams

            t0 = time.perf_counter()
            exams = open_exams(paths, progress=task.progress, cancel=task.cancelled)
            return exams, time.perf_counter() - t0

        task = Task(work, f"Opening {label}")
        task.signals.done.connect(lambda result, p=paths: self._on_opened(result[0], p))
        task.signals.failed.connect(lambda err, p=paths: self._on_open_failed(err, p))
        task.signals.cancelled.connect(
            lambda: (w.statusBar().showMessage("Opening cancelled", 5000), w.open_finished.emit(False))
        )
        w.track_task(task, f"Opening {label}")
        w.runner.start(task)
        return task

    def _shown_name(self) -> str | None:
        exam = self.viewer.exam
        return exam.display_name() if exam is not None else None

    def _on_open_failed(self, err: BaseException, paths: Sequence[Path]) -> None:
        text = str(err) if isinstance(err, EcgViewerError) else error_line(err, paths)
        self.w.show_error("Cannot open file", text, keep_note=self._shown_name())
        self.w.open_finished.emit(False)

    def _on_opened(self, exams, paths: Sequence[Path]) -> None:
        w = self.w
        where = ", ".join(map(str, paths))
        if len(exams) == 0:
            exams.close()
            if exams.errors:
                title, text = (
                    "No readable ECG",
                    f"No exam could be read from {where}:\n{_listed(exams.errors)}",
                )
            else:
                title, text = (
                    "No ECG files",
                    f"{where}: no ECG files found (HDF5, WFDB, CSV, or a cart's XML, DICOM, SCP-ECG or EDF)",
                )
            w.show_error(title, text, keep_note=self._shown_name())
            w.open_finished.emit(False)
            return
        rows = self.viewer.add_set(exams)
        if w.interactive:
            for p in paths:
                S.add_recent(w.settings, p)
            first = paths[0]
            w.settings.setValue(S.LAST_FOLDER, str((first if first.is_dir() else first.parent).resolve()))
        w.browser.refresh(keep_row=self.viewer.row)
        if exams.errors:
            w.show_warning(
                "Some files could not be read",
                f"{len(exams)} exam(s) opened; {len(exams.errors)} file(s) skipped:\n{_listed(exams.errors)}",
            )
        w.statusBar().showMessage(f"Opened {len(exams):,} exam(s) from {len(exams.sources)} file(s)", 5000)
        w.browser.select_ws_row(rows.start)
        w.open_finished.emit(True)
        limit = int(S.get_float(w.settings, S.AUTO_ANALYSE_MAX, 200))
        if 1 < len(self.viewer.workspace) <= limit:
            w.analyse_all()

    def close_all(self) -> None:
        """Close every exam (running jobs are cancelled first)."""
        w = self.w
        self._pending_row = None
        w.cancel_all_jobs(wait=True)
        self.viewer.close_all()  # the banners follow the viewer's exam_changed
        w.current_input = None
        w.exams_closed.emit()
        w.browser.refresh()
        w.grid.set_exam(None)
        w.findings.clear("No exam open.")
        w.info.show_exam(None, None)
        w.setWindowTitle(w.APP_TITLE)

    def open_exam(self, exam: Exam) -> None:
        """Show an in-memory exam (e.g. a synthetic one) without a file; it is not in the browser."""
        self.w._generation += 1
        try:
            model_input = to_model_input(exam)
        except PreprocessError:
            model_input = None
        self.w._show_exam(None, exam, model_input, self.w._generation)

    # ================================================================== the exam on screen
    def step(self, delta: int) -> None:
        if not self.w.browser.step(delta):
            self.w.statusBar().showMessage("No more exams" if delta > 0 else "First exam", 2000)

    def focus_filter(self) -> None:
        browser = self.w.browser
        self.w.browser_dock.show()
        browser.filter_edit.setFocus()
        browser.filter_edit.selectAll()

    def show_row(self, row: int) -> None:
        """Read, draw and analyse the exam of a workspace row.

        Requests are coalesced: while scrolling fast only the last row is loaded.
        """
        self._pending_row = int(row)
        if not self._reading:  # else the read in flight starts the latest request when it ends
            self._load_pending_row()

    def _load_pending_row(self) -> None:
        w = self.w
        row = self._pending_row
        if row is None:
            return
        self._pending_row = None
        w._generation += 1
        gen = w._generation
        if w._predict_task is not None:
            w._predict_task.cancel()
        t_start = time.perf_counter()
        ws = self.viewer.workspace

        def work(task: Task):
            exam = ws.read(row)
            try:
                model_input = to_model_input(exam)
            except PreprocessError:
                model_input = None
            return exam, model_input

        task = Task(work, f"Reading exam {row + 1}")
        task.signals.done.connect(lambda res, r=row, g=gen, t=t_start: self._on_exam_read(r, g, res, t))
        task.signals.failed.connect(lambda err, r=row, g=gen: self._on_exam_read_failed(r, g, err))
        task.signals.finished.connect(self._on_read_finished)
        self._reading = True
        w.runner.start(task)

    def _on_read_finished(self) -> None:
        self._reading = False
        if self._pending_row is not None:
            self._load_pending_row()

    def _superseded(self, gen: int) -> bool:
        return gen != self.w._generation or self._pending_row is not None  # a newer row is waiting

    def _on_exam_read(self, row: int, gen: int, result, t_start: float) -> None:
        if self._superseded(gen):
            return
        exam, model_input = result
        self.w.timings["read"] = time.perf_counter() - t_start
        self.w._show_exam(row, exam, model_input, gen)

    def _on_exam_read_failed(self, row: int, gen: int, err: BaseException) -> None:
        if self._superseded(gen):
            return
        w = self.w
        text = str(err) if isinstance(err, EcgViewerError) else error_line(err, [f"exam {row + 1}"])
        self.viewer.workspace.row_errors[row] = text
        w.browser.probabilities_changed(np.array([row]))
        if self.viewer.row is not None:
            w.browser.select_ws_row(self.viewer.row, emit=False)
        w.show_error("Cannot read exam", text, keep_note=self._shown_name())
        w.analysis_finished.emit()

    def draw_exam(self, row: int | None, exam: Exam, model_input) -> bool:
        """Make ``exam`` current and draw it; False when the network cannot read it (the window
        analyses it otherwise, :meth:`MainWindow._show_exam`)."""
        w = self.w
        t0 = time.perf_counter()
        w.current_input = model_input
        self.viewer.set_exam(exam, row)  # forgets the prediction; the banners follow
        w.grid.set_exam(exam, model_input)
        if w.view_controls.act_calipers.isChecked():
            w.grid.set_caliper_mode(True)
        w.findings.set_prediction(None)
        w.findings.set_status("Analysing…" if self.viewer.model is not None else "Waiting for the model…")
        report = model_input[1] if model_input is not None else None
        w.info.show_exam(exam, report, None, self.viewer.model)
        w.setWindowTitle(f"{exam.display_name()} — {w.APP_TITLE}")
        w.timings["draw"] = time.perf_counter() - t0
        w.exam_shown.emit(exam)
        if model_input is None:
            w.findings.set_status(
                "<span style='color:#b71c1c'>Cannot be analysed: the network needs "
                "12 leads (or I, II, V1–V6).</span>"
            )
            w.analysis_finished.emit()
            return False
        return True

    # ================================================================== drag and drop
    def accepts(self, event: Any) -> bool:
        """A drag carries local files or folders (accepted), or not (ignored)."""
        if local_paths(event.mimeData()):
            event.acceptProposedAction()
            return True
        event.ignore()
        return False

    def drop(self, event: Any) -> None:
        paths = local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.w.timings["drop"] = time.perf_counter()
            self.open_paths(paths)
        else:
            event.ignore()
