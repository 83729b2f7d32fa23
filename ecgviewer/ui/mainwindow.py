"""The main window: the lead grid in the middle, findings on the right, the exam browser below.

Everything slow (opening files, reading an exam, preprocessing and inference, loading a
model, analysing a whole file) runs on worker threads (:mod:`ecgviewer.ui.workers`); the
window only presents results. A failed open or read shows a dialog naming the file and the
problem and leaves the current exam on screen.

The window is composed of feature parts, one module each, built in ``__init__``: the lead grid
(:mod:`~ecgviewer.ui.leadgrid`), the findings panel (:mod:`~ecgviewer.ui.findings`), the exam
browser (:mod:`~ecgviewer.ui.browser`), the explanation dock
(:mod:`~ecgviewer.ui.explanation_dock`), the labels dock (:mod:`~ecgviewer.ui.labels_dock`),
the set statistics (:mod:`~ecgviewer.ui.set_statistics`) and the report export
(:mod:`~ecgviewer.ui.report_export`). A part adds its dock with ``add_panel(title, widget,
area)``, makes its actions with ``make_action`` and registers them with
``register_action(action, "file" | "exam" | "view" | "toolbar")``, and observes the window's
signals: ``exam_shown``/``prediction_shown`` (what is on screen), ``model_changed``,
``open_finished``, ``rows_analysed``/``batch_finished`` (a batch), ``exams_closed``. The
state itself (open sets, current exam, model, prediction, view settings) is
``window.viewer``, a Qt-free :class:`~ecgviewer.viewer.ViewerModel`.
"""

from __future__ import annotations

import html
import logging
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFrame,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ecgviewer.errors import EcgViewerError, PreprocessError
from ecgviewer.exam import Exam
from ecgviewer.leads import LEADS
from ecgviewer.preprocess import PreprocessReport, to_model_input
from ecgviewer.ui import settings as S  # noqa: N812 - short for settings keys
from ecgviewer.ui.browser import ExamBrowser
from ecgviewer.ui.findings import FindingsPanel
from ecgviewer.ui.infopanel import ExamInfoPanel
from ecgviewer.ui.leadgrid import GAINS, LAYOUT_NAMES, LAYOUTS, SPEEDS, LeadGrid, Measurement
from ecgviewer.ui.workers import Task, TaskRunner
from ecgviewer.viewer import ViewerModel

log = logging.getLogger(__name__)

APP_TITLE = "ecgviewer"
SHORTCUTS_HELP = [
    ("Ctrl+O", "Open files…"),
    ("Ctrl+Shift+O", "Open a folder…"),
    ("Ctrl+W", "Close all exams"),
    ("Down / Up (in the table), Page Down / Page Up", "Next / previous exam"),
    ("Ctrl+1, Ctrl+2, Ctrl+3", "Layout 3×4 + rhythm, 6×2, 12×1"),
    ("G", "Next gain (5, 10, 20 mm/mV)"),
    ("S", "Next speed (25, 50 mm/s)"),
    ("N", "Original signal / network input"),
    ("R", "Exam and preprocessing report"),
    ("C", "Calipers (or Shift+drag); Esc clears"),
    ("Ctrl++ / Ctrl+- / Ctrl+0 / F", "Zoom in / out / actual size / fit (Ctrl+wheel zooms, wheel scrolls)"),
    ("Ctrl+Shift+A", "Analyse all open exams"),
    ("Esc", "Cancel the running job, clear calipers"),
    ("Ctrl+F", "Filter the exam table"),
    ("E", "Explain the exam (SHAP, all six classes)"),
    ("H", "SHAP heatmap on/off"),
    ("M", "Fiducials (P onset, QRS onset/offset, T offset) on/off"),
    ("Ctrl+L", "Load labels…"),
    ("Ctrl+T", "Set statistics…"),
    ("Ctrl+P", "Export report…"),
    ("Ctrl+Q", "Quit"),
]


def _dx_text(codes: Sequence[str], limit: int = 110) -> str:
    """Header diagnoses as names ("right bundle branch block (59118001)"), shortened to ``limit``."""
    try:
        from ecgviewer.labels import finding_name
    except ImportError:  # pragma: no cover

        def finding_name(code: str) -> str:
            return str(code)

    text = ", ".join(finding_name(str(c)) for c in codes)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _icon() -> QIcon:
    icon = QIcon()
    try:
        from ecgviewer.paths import resources_dir

        for f in sorted((resources_dir() / "icons").glob("ecgviewer-*.png")):
            icon.addFile(str(f))
    except (FileNotFoundError, OSError):
        pass
    return icon


class _ViewerField:
    """A window attribute that reads and writes an attribute of ``window.viewer``."""

    def __init__(self, name: str, doc: str) -> None:
        self.name, self.__doc__ = name, doc

    def __get__(self, window, owner=None):
        return self if window is None else getattr(window.viewer, self.name)

    def __set__(self, window, value) -> None:
        setattr(window.viewer, self.name, value)


class MainWindow(QMainWindow):
    """The viewer's main window.

    Args:
        settings: QSettings to read and persist (default :func:`ecgviewer.ui.settings.open_settings`).
        model_path: model to use (default: the one in the settings, else the bundled one).
        interactive: False for ``--screenshot``: errors are recorded in ``errors`` and printed
            instead of shown in dialogs, and the user's settings are neither used nor changed.
    """

    exam_shown = Signal(object)  # Exam, drawn on the grid
    prediction_shown = Signal(object)  # Prediction of the exam on screen
    analysis_finished = Signal()  # the exam on screen was analysed (or could not be)
    open_finished = Signal(bool)  # an open job ended; True if exams were added
    model_changed = Signal(object)  # EcgModel now active
    batch_finished = Signal(str)  # "done", "cancelled" or "failed"
    rows_analysed = Signal(object, object)  # (rows, {row: the LabelSet the exam carries, or None})
    exams_closed = Signal()  # Close All: every exam is gone

    def __init__(
        self,
        *,
        settings: QSettings | None = None,
        model_path: str | Path | None = None,
        interactive: bool = True,
    ) -> None:
        super().__init__()
        self.settings = settings if settings is not None else S.open_settings()
        self.interactive = interactive
        self.errors: list[str] = []
        self.viewer = ViewerModel()  # what is open and shown, without Qt
        self.ws = self.viewer.workspace
        self.runner = TaskRunner(2, self)
        self.batch_runner = TaskRunner(1, self)
        self._model_path: Path | None = Path(model_path) if model_path else None
        self._model_from_cli = model_path is not None
        self.current_input: tuple[np.ndarray, PreprocessReport] | None = None
        self._generation = 0
        self._pending_row: int | None = None
        self._reading = False  # a read task is in flight
        self._predict_task: Task | None = None
        self._exam_features: list[QAction] = []
        self._batch_task: Task | None = None
        self._tracked: list[tuple[Task, str]] = []
        self.timings: dict[str, float] = {}
        self.banner_parts: list = []  # features' f(exam) -> [html bits] for the exam header
        self.hide_exam_labels = False  # blinded reading: the banner leaves out the exam's own Dx

        self.setWindowTitle(APP_TITLE)
        self.setWindowIcon(_icon())
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)

        # central: the grid and a banner saying which model produced the numbers
        self.grid = LeadGrid()
        self.grid.measured.connect(self._on_measured)
        self.grid.view_changed.connect(self._save_view_settings)
        self.exam_banner = QLabel("")
        self.exam_banner.setTextFormat(Qt.TextFormat.RichText)
        self.exam_banner.setContentsMargins(6, 3, 6, 1)
        self.model_banner = QLabel("")
        self.model_banner.setTextFormat(Qt.TextFormat.RichText)
        self.model_banner.setContentsMargins(6, 1, 6, 3)
        self.model_banner.setWordWrap(True)
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.exam_banner)
        lay.addWidget(self.grid, 1)
        lay.addWidget(self.model_banner)
        self.setCentralWidget(central)

        # panels
        self.findings = FindingsPanel()
        self.findings.model_selected.connect(self.set_model)
        self.browser = ExamBrowser(self.ws)
        self.browser.row_activated.connect(self.show_row)
        self.browser.analyse_all_requested.connect(self.analyse_all)
        self.info = ExamInfoPanel()
        self.findings_dock = self.add_panel(
            "Findings", self.findings, Qt.DockWidgetArea.RightDockWidgetArea, scroll=True
        )
        self.info_dock = self.add_panel(
            "Exam and preprocessing", self.info, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.browser_dock = self.add_panel("Exams", self.browser, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.info_dock.hide()

        # status bar: message, job progress + cancel, active model
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop the running job (Esc)")
        self.cancel_button.clicked.connect(self.cancel_job)
        self.cancel_button.hide()
        self.job_label = QLabel("")
        self.status_model = QLabel("")
        sb = self.statusBar()
        sb.addPermanentWidget(self.job_label)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        sb.addPermanentWidget(self.status_model)

        self._build_actions()
        self._build_menus_and_toolbar()
        self._restore_settings()
        self._update_banners()
        self._compose_features()
        self.load_model(self._model_path)

    # ================================================================== feature parts
    def _compose_features(self) -> None:
        """Analysis (models, ensembles, predictions, batches), model import, measurements,
        explanation, labels, set statistics, report export, clinical display and reading; each
        registers its own actions."""
        from ecgviewer.ui.analysis import Analysis
        from ecgviewer.ui.explanation_dock import ExplanationDock
        from ecgviewer.ui.labels_dock import LabelsDock
        from ecgviewer.ui.measurements import MeasurementsFeature
        from ecgviewer.ui.model_import import ModelImport
        from ecgviewer.ui.read_dock import ReadDock
        from ecgviewer.ui.report_export import ReportExport
        from ecgviewer.ui.set_statistics import SetStatistics

        self.analysis = Analysis(self)
        self.model_import = ModelImport(self)
        self.measurements = MeasurementsFeature(self)
        self.explanation = ExplanationDock(self)
        self.label_sources = LabelsDock(self)
        self.report_export = ReportExport(self, self.explanation, self.label_sources)
        self.set_statistics = SetStatistics(self, self.label_sources)
        self._compose_clinical()
        self.reading = ReadDock(self, self.label_sources)  # last: it hides what the others show
        self.tabifyDockWidget(self.explanation.dock, self.label_sources.dock)
        self.explanation.dock.raise_()
        state = self.settings.value(S.STATE) if self.interactive else None
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)  # again: these docks did not exist at the first restore
        else:  # first start: findings above, explanation and labels below
            # the findings keep their natural height; the explanation and labels take the rest
            docks = [self.findings_dock, self.explanation.dock]
            findings_h = self.findings.sizeHint().height() + 8
            self.resizeDocks(
                docks, [findings_h, max(120, self.height() - findings_h - 330)], Qt.Orientation.Vertical
            )

    def _compose_clinical(self) -> None:
        """The clinical file's own content: the device's reading, patient identifiers, median beats."""
        from ecgviewer.ui.device_panel import ClinicalDisplay
        from ecgviewer.ui.median_beats import MedianBeatsDock

        self.clinical = ClinicalDisplay(self)
        self.median_beats = MedianBeatsDock(self)

    def register_action(self, action: QAction, place: str) -> None:
        """Show a feature's action: "file" (before the File menu's last group), "exam" (the Exam
        menu, after a separator for the first one), "view" (above View → Panels), "toolbar"."""
        if place == "file":
            self.menu_file.insertAction(self.file_export_separator, action)
        elif place == "exam":
            if not self._exam_features:
                self.menu_exam.addSeparator()
            self._exam_features.append(action)
            self.menu_exam.addAction(action)
        elif place == "view":
            before = next((x for x in self.menu_view.actions() if x.menu() is self.menu_panels), None)
            self.menu_view.insertAction(before, action)
            self.menu_view.insertSeparator(before)
        elif place == "toolbar":
            self.toolbar.addSeparator()
            self.toolbar.addAction(action)
        else:
            raise ValueError(f"unknown place {place!r} for action {action.text()!r}")

    def track_task(self, task: Task, label: str) -> None:
        """Show a feature's background job in the status bar (progress, Cancel)."""
        self._track(task, label)

    # ================================================================== panels and actions
    # -- the state lives in the viewer model; these names are the window's view of it ------
    model = _ViewerField("model", "The active EcgModel (``viewer.model``), or None.")
    current_row = _ViewerField("row", "Row of the exam on screen (``viewer.row``); None without a row.")
    current_exam = _ViewerField("exam", "The Exam on screen (``viewer.exam``), or None.")
    current_prediction = _ViewerField("prediction", "Prediction of the exam on screen (``viewer``).")

    def add_panel(
        self, title: str, widget: QWidget, area: Qt.DockWidgetArea, *, scroll: bool = False
    ) -> QDockWidget:
        """Add a dockable panel (also listed in View → Panels).

        ``scroll``: put the panel in a vertical scroll area, so a short dock never squeezes
        it below its minimum height (``dock.widget().widget()`` is then the panel)."""
        dock = QDockWidget(title, self)
        dock.setObjectName(title.replace(" ", "_") + "_dock")
        if scroll:
            area_widget = QScrollArea()
            area_widget.setWidget(widget)
            area_widget.setWidgetResizable(True)
            area_widget.setFrameShape(QFrame.Shape.NoFrame)
            area_widget.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            dock.setWidget(area_widget)
        else:
            dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(area, dock)
        if hasattr(self, "menu_panels"):
            self.menu_panels.addAction(dock.toggleViewAction())
        return dock

    def make_action(
        self,
        text: str,
        slot,
        shortcut: str | QKeySequence | None = None,
        *,
        checkable: bool = False,
        tip: str = "",
    ) -> QAction:
        """A window-wide action (its shortcut works wherever the focus is in the window)."""
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(checkable)
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.triggered.connect(self.guarded(slot, text.replace("&", "").rstrip("…")))
        self.addAction(action)
        return action

    def guarded(self, slot, what: str = ""):
        """``slot`` behind the one top-level guard of a UI action: an exception it raises becomes a
        one-line message (:meth:`report_unexpected`) and the app carries on."""
        import inspect

        try:
            n_params = len(inspect.signature(slot).parameters)
        except (TypeError, ValueError):
            n_params = 1

        def run(checked: bool = False):  # QAction.triggered(bool): passed on when the slot takes it
            try:
                return slot(*(checked,)[:n_params])
            except Exception as err:  # the last resort: one line, never a crash
                self.report_unexpected(err, what=what)
                return None

        return run

    def report_unexpected(self, err: BaseException, files=(), what: str = "") -> str:
        """Show an error met by an action, an open or a worker as one line (status bar and a
        non-modal message box; stderr when not interactive); returns the line."""
        from ecgviewer.viewer.quality_view import error_line

        line = error_line(err, files)
        title = f"{what} failed" if what else "Unexpected error"
        self.errors.append(line)
        self.statusBar().showMessage(f"{title}: {line}", 15000)
        if self.interactive:
            box = QMessageBox(QMessageBox.Icon.Warning, title, line, QMessageBox.StandardButton.Ok, self)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.setModal(False)
            box.show()
            self._last_error_box = box
        else:
            print(f"ecgviewer: {title}: {line}", file=sys.stderr)
        return line

    def _build_actions(self) -> None:
        a = self.make_action
        self.act_open = a(
            "&Open…",
            self.open_dialog,
            QKeySequence.StandardKey.Open,
            tip="Open ECG files (HDF5, WFDB, CSV, GE MUSE, Philips, HL7 aECG, DICOM, SCP-ECG, EDF)",
        )
        self.act_open_folder = a(
            "Open &Folder…",
            self.open_folder_dialog,
            "Ctrl+Shift+O",
            tip="Open every ECG file in a folder and its subfolders",
        )
        self.act_close_all = a("&Close All", self.close_all, "Ctrl+W", tip="Close every open exam")
        self.act_quit = a("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_next = a("&Next Exam", lambda: self.step(+1), QKeySequence(Qt.Key.Key_PageDown))
        self.act_prev = a("&Previous Exam", lambda: self.step(-1), QKeySequence(Qt.Key.Key_PageUp))
        self.act_analyse_all = a(
            "&Analyse All Exams",
            self.analyse_all,
            "Ctrl+Shift+A",
            tip="Run the model on every open exam in the background",
        )
        self.act_cancel = a("&Cancel Job", self.cancel_job_or_calipers, QKeySequence(Qt.Key.Key_Escape))
        self.act_input = a(
            "Show &Network Input",
            self.grid_show_input,
            "N",
            checkable=True,
            tip="Show what the network sees: 400 Hz, 4096 samples, zero padding shaded (N)",
        )
        self.act_report = a(
            "&Preprocessing Report",
            self.toggle_report,
            "R",
            checkable=True,
            tip="The exam's facts and what preprocessing did to it (R)",
        )
        self.act_calipers = a(
            "&Calipers",
            self.grid_calipers,
            "C",
            checkable=True,
            tip="Drag on a lead to measure Δt (ms, bpm) and ΔmV; Shift+drag works in any mode (C)",
        )
        self.act_zoom_in = a("Zoom &In", lambda: self.grid.zoom_by(1.25), QKeySequence.StandardKey.ZoomIn)
        self.act_zoom_out = a("Zoom &Out", lambda: self.grid.zoom_by(0.8), QKeySequence.StandardKey.ZoomOut)
        self.act_actual = a(
            "&Actual Size",
            self.grid.actual_size,
            "Ctrl+0",
            tip="Physical scale: speed mm per second and gain mm per mV on screen",
        )
        self.act_fit = a("&Fit Page", self.grid.fit, "F", tip="Zoom so the whole sheet fits (F)")
        self.act_gain_cycle = a("Next Gain", self.cycle_gain, "G")
        self.act_speed_cycle = a("Next Speed", self.cycle_speed, "S")
        self.act_shortcuts = a(
            "&Keyboard Shortcuts", self.show_shortcuts, QKeySequence.StandardKey.HelpContents
        )
        self.act_about = a("&About ecgviewer", self.show_about)
        self.act_find = a("Filter Exams", self.focus_filter, QKeySequence.StandardKey.Find)

        self.layout_group = QActionGroup(self)
        self.layout_actions: dict[str, QAction] = {}
        for i, name in enumerate(LAYOUTS):
            act = a(
                f"Layout {LAYOUT_NAMES[name]}",
                lambda _=False, n=name: self.set_layout(n),
                f"Ctrl+{i + 1}",
                checkable=True,
            )
            self.layout_group.addAction(act)
            self.layout_actions[name] = act
        self.gain_group = QActionGroup(self)
        self.gain_actions: dict[float, QAction] = {}
        for g in GAINS:
            act = a(f"{g:g} mm/mV", lambda _=False, v=g: self.set_gain(v), checkable=True)
            self.gain_group.addAction(act)
            self.gain_actions[g] = act
        self.speed_group = QActionGroup(self)
        self.speed_actions: dict[float, QAction] = {}
        for v in SPEEDS:
            act = a(f"{v:g} mm/s", lambda _=False, s=v: self.set_speed(s), checkable=True)
            self.speed_group.addAction(act)
            self.speed_actions[v] = act

    def _build_menus_and_toolbar(self) -> None:
        mb = self.menuBar()
        self.menu_file = mb.addMenu("&File")
        self.menu_file.addAction(self.act_open)
        self.menu_file.addAction(self.act_open_folder)
        self.menu_recent = self.menu_file.addMenu("Open &Recent")
        self.menu_recent.aboutToShow.connect(self._fill_recent_menu)
        self.menu_file.addSeparator()
        self.file_export_separator = self.menu_file.addSeparator()
        self.menu_file.addAction(self.act_close_all)
        self.menu_file.addSeparator()
        self.menu_file.addAction(self.act_quit)

        self.menu_view = mb.addMenu("&View")
        for act in self.layout_actions.values():
            self.menu_view.addAction(act)
        self.menu_rhythm = self.menu_view.addMenu("&Rhythm Strip Lead")
        self.rhythm_group = QActionGroup(self)
        self.rhythm_actions: dict[str, QAction] = {}
        for lead in LEADS:
            act = QAction(lead, self, checkable=True)
            act.triggered.connect(lambda _=False, ld=lead: self.set_rhythm_lead(ld))
            self.rhythm_group.addAction(act)
            self.menu_rhythm.addAction(act)
            self.rhythm_actions[lead] = act
        self.menu_view.addSeparator()
        for act in self.gain_actions.values():
            self.menu_view.addAction(act)
        self.menu_view.addSeparator()
        for act in self.speed_actions.values():
            self.menu_view.addAction(act)
        self.menu_view.addSeparator()
        for act in (self.act_input, self.act_report, self.act_calipers):
            self.menu_view.addAction(act)
        self.menu_view.addSeparator()
        for act in (self.act_zoom_in, self.act_zoom_out, self.act_actual, self.act_fit):
            self.menu_view.addAction(act)
        self.menu_view.addSeparator()
        self.menu_panels = self.menu_view.addMenu("&Panels")
        for dock in (self.findings_dock, self.info_dock, self.browser_dock):
            self.menu_panels.addAction(dock.toggleViewAction())

        self.menu_exam = mb.addMenu("&Exam")
        for act in (self.act_next, self.act_prev, self.act_analyse_all, self.act_cancel, self.act_find):
            self.menu_exam.addAction(act)
        self.menu_help = mb.addMenu("&Help")
        self.menu_help.addAction(self.act_shortcuts)
        self.menu_help.addAction(self.act_about)

        tb = self.addToolBar("View")
        tb.setObjectName("view_toolbar")
        tb.setMovable(False)
        tb.addAction(self.act_open)
        tb.addSeparator()
        tb.addWidget(QLabel(" Layout "))
        self.layout_combo = QComboBox()
        for name in LAYOUTS:
            self.layout_combo.addItem(LAYOUT_NAMES[name], name)
        self.layout_combo.setToolTip("Lead layout (Ctrl+1, Ctrl+2, Ctrl+3)")
        self.layout_combo.activated.connect(lambda i: self.set_layout(self.layout_combo.itemData(i)))
        tb.addWidget(self.layout_combo)
        tb.addWidget(QLabel(" Rhythm "))
        self.rhythm_combo = QComboBox()
        self.rhythm_combo.addItems(list(LEADS))
        self.rhythm_combo.setToolTip("Lead of the full-length rhythm strip (3×4 layout)")
        self.rhythm_combo.activated.connect(lambda i: self.set_rhythm_lead(LEADS[i]))
        tb.addWidget(self.rhythm_combo)
        tb.addWidget(QLabel(" Gain "))
        self.gain_combo = QComboBox()
        for g in GAINS:
            self.gain_combo.addItem(f"{g:g} mm/mV", g)
        self.gain_combo.setToolTip("Amplitude scale (G cycles)")
        self.gain_combo.activated.connect(lambda i: self.set_gain(self.gain_combo.itemData(i)))
        tb.addWidget(self.gain_combo)
        tb.addWidget(QLabel(" Speed "))
        self.speed_combo = QComboBox()
        for v in SPEEDS:
            self.speed_combo.addItem(f"{v:g} mm/s", v)
        self.speed_combo.setToolTip("Paper speed (S cycles)")
        self.speed_combo.activated.connect(lambda i: self.set_speed(self.speed_combo.itemData(i)))
        tb.addWidget(self.speed_combo)
        tb.addSeparator()
        for act in (self.act_input, self.act_report, self.act_calipers):
            tb.addAction(act)
        tb.addSeparator()
        for act in (self.act_actual, self.act_fit):
            tb.addAction(act)
        tb.addSeparator()
        tb.addAction(self.act_prev)
        tb.addAction(self.act_next)
        self.act_prev.setText("◀ Previous")
        self.act_next.setText("Next ▶")
        self.toolbar = tb

    # ================================================================== settings
    def _restore_settings(self) -> None:
        if not self.interactive:  # --screenshot: reproducible defaults, whatever the user chose
            self.set_layout("3x4", save=False)
            self.set_gain(10.0, save=False)
            self.set_speed(25.0, save=False)
            self.set_rhythm_lead("II", save=False)
            self.resize(1500, 950)
            self.resizeDocks([self.browser_dock], [210], Qt.Orientation.Vertical)
            self.resizeDocks([self.findings_dock], [360], Qt.Orientation.Horizontal)
            return
        s = self.settings
        layout = S.get_str(s, S.LAYOUT, "3x4")
        gain = S.get_float(s, S.GAIN, 10.0)
        speed = S.get_float(s, S.SPEED, 25.0)
        rhythm = S.get_str(s, S.RHYTHM_LEAD, "II")
        px_per_mm = S.get_float(s, S.PX_PER_MM, 0.0)
        if px_per_mm > 0:
            self.grid.set_px_per_mm(px_per_mm)
        self.set_layout(layout if layout in LAYOUTS else "3x4", save=False)
        self.set_gain(gain if gain in GAINS else 10.0, save=False)
        self.set_speed(speed if speed in SPEEDS else 25.0, save=False)
        self.set_rhythm_lead(rhythm if rhythm in LEADS else "II", save=False)
        if self._model_path is None:
            stored = S.get_str(s, S.MODEL, "")
            if stored and Path(stored).is_file():
                self._model_path = Path(stored)
        geometry = s.value(S.GEOMETRY)
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1500, 950)
        state = s.value(S.STATE)
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        else:
            self.resizeDocks([self.browser_dock], [210], Qt.Orientation.Vertical)
            self.resizeDocks([self.findings_dock], [360], Qt.Orientation.Horizontal)

    def _save_view_settings(self) -> None:
        if not self.interactive:  # --screenshot leaves the user's settings alone
            return
        s = self.settings
        s.setValue(S.LAYOUT, self.grid.layout_name)
        s.setValue(S.GAIN, self.grid.gain)
        s.setValue(S.SPEED, self.grid.speed)
        s.setValue(S.RHYTHM_LEAD, self.grid.rhythm_lead)

    def save_settings(self) -> None:
        """Write everything persistent (called on close; not with ``interactive=False``)."""
        if not self.interactive:
            return
        self._save_view_settings()
        self.settings.setValue(S.GEOMETRY, self.saveGeometry())
        self.settings.setValue(S.STATE, self.saveState())
        if self.model is not None and not self._model_from_cli:
            self.settings.setValue(S.MODEL, str(self.model.path))
        self.settings.sync()

    # ================================================================== view controls
    def set_layout(self, name: str, save: bool = True) -> None:
        self.grid.set_layout(name)
        self.layout_actions[name].setChecked(True)
        self.layout_combo.setCurrentIndex(LAYOUTS.index(name))
        self.rhythm_combo.setEnabled(name == "3x4")
        self.menu_rhythm.setEnabled(name == "3x4")
        self.viewer.view.layout = name
        if save:
            self._save_view_settings()

    def set_gain(self, gain: float, save: bool = True) -> None:
        self.grid.set_gain(float(gain))
        self.gain_actions[float(gain)].setChecked(True)
        self.gain_combo.setCurrentIndex(GAINS.index(float(gain)))
        self.viewer.view.gain = float(gain)
        if save:
            self._save_view_settings()

    def set_speed(self, speed: float, save: bool = True) -> None:
        self.grid.set_speed(float(speed))
        self.speed_actions[float(speed)].setChecked(True)
        self.speed_combo.setCurrentIndex(SPEEDS.index(float(speed)))
        self.viewer.view.speed = float(speed)
        if save:
            self._save_view_settings()

    def set_rhythm_lead(self, lead: str, save: bool = True) -> None:
        self.grid.set_rhythm_lead(lead)
        self.rhythm_actions[lead].setChecked(True)
        self.rhythm_combo.setCurrentIndex(LEADS.index(lead))
        self.viewer.view.rhythm_lead = lead
        if save:
            self._save_view_settings()

    def cycle_gain(self) -> None:
        self.set_gain(GAINS[(GAINS.index(self.grid.gain) + 1) % len(GAINS)])

    def cycle_speed(self) -> None:
        self.set_speed(SPEEDS[(SPEEDS.index(self.grid.speed) + 1) % len(SPEEDS)])

    def grid_show_input(self, on: bool) -> None:
        self.grid.set_show_input(bool(on))
        if self.act_input.isChecked() != bool(on):
            self.act_input.setChecked(bool(on))

    def grid_calipers(self, on: bool) -> None:
        self.grid.set_caliper_mode(bool(on))
        self.statusBar().showMessage("Calipers: drag on a lead to measure (Esc clears)" if on else "", 4000)

    def toggle_report(self, on: bool) -> None:
        self.info_dock.setVisible(bool(on))
        if on:
            self.info_dock.raise_()

    def focus_filter(self) -> None:
        self.browser_dock.show()
        self.browser.filter_edit.setFocus()
        self.browser.filter_edit.selectAll()

    def _on_measured(self, m: Measurement) -> None:
        self.statusBar().showMessage(m.text().replace("\n", "  ·  "))

    # ================================================================== opening
    def open_dialog(self) -> None:
        from ecgviewer.io import FILE_DIALOG_FILTER

        start = S.get_str(self.settings, S.LAST_FOLDER, str(Path.home()))
        files, _ = QFileDialog.getOpenFileNames(self, "Open ECG files", start, FILE_DIALOG_FILTER)
        if files:
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        start = S.get_str(self.settings, S.LAST_FOLDER, str(Path.home()))
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of ECG files", start)
        if folder:
            self.open_paths([folder])

    def _fill_recent_menu(self) -> None:
        self.menu_recent.clear()
        recent = [p for p in S.get_list(self.settings, S.RECENT) if Path(p).exists()]
        if not recent:
            act = self.menu_recent.addAction("(none)")
            act.setEnabled(False)
            return
        for i, path in enumerate(recent):
            label = f"&{i + 1}  {Path(path).name}" if i < 9 else Path(path).name
            act = self.menu_recent.addAction(label)
            act.setToolTip(path)
            act.triggered.connect(lambda _=False, p=path: self.open_paths([p]))
        self.menu_recent.addSeparator()
        self.menu_recent.addAction("Clear List", lambda: self.settings.setValue(S.RECENT, []))

    def open_paths(self, paths: Iterable[str | Path]) -> Task | None:
        """Open files and folders in the background and show the first new exam.

        Files already open are not opened again: their first exam is shown.
        """
        paths = [Path(p) for p in paths if str(p).strip()]
        if not paths:
            return None
        if all(p.is_file() for p in paths):
            rows = [self.ws.row_of_file(p) for p in paths]
            if all(r is not None for r in rows):
                self.browser.select_ws_row(int(rows[0]))  # type: ignore[arg-type]
                self.open_finished.emit(False)
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
            lambda: (self.statusBar().showMessage("Opening cancelled", 5000), self.open_finished.emit(False))
        )
        self._track(task, f"Opening {label}")
        self.runner.start(task)
        return task

    def _on_open_failed(self, err: BaseException, paths: Sequence[Path]) -> None:
        shown = self.current_exam.display_name() if self.current_exam is not None else None
        from ecgviewer.viewer.quality_view import error_line

        text = str(err) if isinstance(err, EcgViewerError) else error_line(err, paths)
        self.show_error("Cannot open file", text, keep_note=shown)
        self.open_finished.emit(False)

    def _on_opened(self, exams, paths: Sequence[Path]) -> None:
        if len(exams) == 0:
            exams.close()
            if exams.errors:
                listed = "\n".join(f"• {e}" for e in exams.errors[:12])
                more = f"\n… and {len(exams.errors) - 12} more" if len(exams.errors) > 12 else ""
                where = ", ".join(map(str, paths))
                self.show_error(
                    "No readable ECG",
                    f"No exam could be read from {where}:\n{listed}{more}",
                    keep_note=self._shown_name(),
                )
            else:
                self.show_error(
                    "No ECG files",
                    f"{', '.join(map(str, paths))}: no ECG files found "
                    "(HDF5, WFDB, CSV, or a cart's XML, DICOM, SCP-ECG or EDF)",
                    keep_note=self._shown_name(),
                )
            self.open_finished.emit(False)
            return
        rows = self.ws.add(exams)
        if self.interactive:
            for p in paths:
                S.add_recent(self.settings, p)
            first = paths[0]
            self.settings.setValue(S.LAST_FOLDER, str((first if first.is_dir() else first.parent).resolve()))
        self.browser.refresh(keep_row=self.current_row)
        if exams.errors:
            listed = "\n".join(f"• {e}" for e in exams.errors[:12])
            more = f"\n… and {len(exams.errors) - 12} more" if len(exams.errors) > 12 else ""
            self.show_warning(
                "Some files could not be read",
                f"{len(exams)} exam(s) opened; {len(exams.errors)} file(s) skipped:\n{listed}{more}",
            )
        self.statusBar().showMessage(f"Opened {len(exams):,} exam(s) from {len(exams.sources)} file(s)", 5000)
        self.browser.select_ws_row(rows.start)
        self.open_finished.emit(True)
        limit = int(S.get_float(self.settings, S.AUTO_ANALYSE_MAX, 200))
        if 1 < len(self.ws) <= limit:
            self.analyse_all()

    def close_all(self) -> None:
        """Close every exam (running jobs are cancelled first)."""
        self._pending_row = None
        self.cancel_all_jobs(wait=True)
        self.ws.clear()
        self.exams_closed.emit()
        self.browser.refresh()
        self.current_row = None
        self.current_exam = None
        self.current_input = None
        self.current_prediction = None
        self.grid.set_exam(None)
        self.findings.clear("No exam open.")
        self.info.show_exam(None, None)
        self._update_banners()
        self.setWindowTitle(APP_TITLE)

    def open_exam(self, exam: Exam) -> None:
        """Show an in-memory exam (e.g. a synthetic one) without a file; it is not in the browser."""
        self._generation += 1
        try:
            x, report = to_model_input(exam)
            model_input = (x, report)
        except PreprocessError:
            model_input = None
        self._show_exam(None, exam, model_input, self._generation)

    # ================================================================== current exam
    def step(self, delta: int) -> None:
        if not self.browser.step(delta):
            self.statusBar().showMessage("No more exams" if delta > 0 else "First exam", 2000)

    def show_row(self, row: int) -> None:
        """Read, draw and analyse the exam of a workspace row.

        Requests are coalesced: while scrolling fast only the last row is loaded.
        """
        self._pending_row = int(row)
        if not self._reading:  # else the read in flight starts the latest request when it ends
            self._load_pending_row()

    def _load_pending_row(self) -> None:
        row = self._pending_row
        if row is None:
            return
        self._pending_row = None
        self._generation += 1
        gen = self._generation
        if self._predict_task is not None:
            self._predict_task.cancel()
        t_start = time.perf_counter()

        def work(task: Task):
            exam = self.ws.read(row)
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
        self.runner.start(task)

    def _on_read_finished(self) -> None:
        self._reading = False
        if self._pending_row is not None:
            self._load_pending_row()

    def _on_exam_read(self, row: int, gen: int, result, t_start: float) -> None:
        if gen != self._generation or self._pending_row is not None:
            return  # superseded: a newer row is waiting
        exam, model_input = result
        self.timings["read"] = time.perf_counter() - t_start
        self._show_exam(row, exam, model_input, gen)

    def _on_exam_read_failed(self, row: int, gen: int, err: BaseException) -> None:
        if gen != self._generation or self._pending_row is not None:
            return
        from ecgviewer.viewer.quality_view import error_line

        text = str(err) if isinstance(err, EcgViewerError) else error_line(err, [f"exam {row + 1}"])
        self.ws.row_errors[row] = text
        self.browser.probabilities_changed(np.array([row]))
        if self.current_row is not None:
            self.browser.select_ws_row(self.current_row, emit=False)
        self.show_error("Cannot read exam", text, keep_note=self._shown_name())
        self.analysis_finished.emit()

    def _show_exam(self, row: int | None, exam: Exam, model_input, gen: int) -> None:
        t0 = time.perf_counter()
        self.current_row = row
        self.current_exam = exam
        self.current_input = model_input
        self.current_prediction = None
        self.grid.set_exam(exam, model_input)
        if self.act_calipers.isChecked():
            self.grid.set_caliper_mode(True)
        self.findings.set_prediction(None)
        self.findings.set_status("Analysing…" if self.model is not None else "Waiting for the model…")
        report = model_input[1] if model_input is not None else None
        self.info.show_exam(exam, report, None, self.model)
        self.setWindowTitle(f"{exam.display_name()} — {APP_TITLE}")
        self._update_banners()
        self.timings["draw"] = time.perf_counter() - t0
        self.exam_shown.emit(exam)
        if model_input is None:
            self.findings.set_status(
                "<span style='color:#b71c1c'>Cannot be analysed: the network needs "
                "12 leads (or I, II, V1–V6).</span>"
            )
            self.analysis_finished.emit()
            return
        self._predict_current(gen)

    # ================================================================== models and analysis
    # (ecgviewer.ui.analysis.Analysis: loading models and ensembles, the exam on screen, batches)
    def _predict_current(self, gen: int) -> None:
        self.analysis.predict_current(gen)

    def load_model(self, path: str | Path | None = None) -> Task:
        """Load a model (None: the bundled one; a ``.json``: a saved ensemble) in the background
        and make it active."""
        return self.analysis.load_model(path)

    def set_model(self, path: str | Path) -> None:
        """Switch to another model (from the selector); probabilities are recomputed."""
        self.analysis.set_model(path)

    def analyse_all(self) -> Task | None:
        """Analyse every open exam not analysed yet, in the background, filling the browser."""
        return self.analysis.analyse_all()

    # ================================================================== jobs
    def _track(self, task: Task, label: str) -> None:
        self._tracked.append((task, label))
        task.signals.progress.connect(lambda d, t, tk=task: self._on_progress(tk, d, t))
        task.signals.finished.connect(lambda tk=task: self._untrack(tk))
        self._show_job()

    def _untrack(self, task: Task) -> None:
        self._tracked = [(t, lbl) for t, lbl in self._tracked if t is not task]
        self._show_job()

    def _show_job(self) -> None:
        if not self._tracked:
            self.progress.hide()
            self.cancel_button.hide()
            self.job_label.setText("")
            return
        _, label = self._tracked[-1]
        self.job_label.setText(label + ("" if len(self._tracked) == 1 else f" (+{len(self._tracked) - 1})"))
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()

    def _on_progress(self, task: Task, done: int, total: int) -> None:
        if self._tracked and self._tracked[-1][0] is task and total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.progress.setFormat(f"{done:,} / {total:,}")

    def cancel_job(self) -> None:
        """Cancel the job shown in the status bar."""
        if self._tracked:
            task, label = self._tracked[-1]
            task.cancel()
            self.job_label.setText(f"{label}: cancelling…")

    def cancel_job_or_calipers(self) -> None:
        if self._tracked:
            self.cancel_job()
        else:
            self.grid.clear_calipers()

    def cancel_all_jobs(self, wait: bool = False) -> None:
        self.runner.cancel_all()
        self.batch_runner.cancel_all()
        if wait:
            self.runner.wait(10_000)
            self.batch_runner.wait(10_000)

    # ================================================================== messages
    def _shown_name(self) -> str | None:
        return self.current_exam.display_name() if self.current_exam is not None else None

    def show_error(self, title: str, text: str, keep_note: str | None = None) -> None:
        """An error dialog (printed instead with ``interactive=False``); the app carries on."""
        if keep_note:
            text += f"\n\nStill showing {keep_note}."
        self.errors.append(text)
        self.statusBar().showMessage(f"{title}: {text.splitlines()[0]}", 10000)
        if self.interactive:
            log.info("%s: %s", title, text)
            QMessageBox.critical(self, title, text)
        else:
            print(f"ecgviewer: {title}: {text}", file=sys.stderr)

    def show_warning(self, title: str, text: str) -> None:
        self.errors.append(text)
        if self.interactive:
            QMessageBox.warning(self, title, text)
        else:
            print(f"ecgviewer: {title}: {text}", file=sys.stderr)

    def show_shortcuts(self) -> None:
        rows = "".join(
            f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>" for k, v in SHORTCUTS_HELP
        )
        QMessageBox.information(self, "Keyboard shortcuts", f"<table cellpadding='3'>{rows}</table>")

    def show_about(self) -> None:
        from ecgviewer import __version__

        model = (
            (
                f"<p>Active model: {html.escape(self.model.describe())}.<br>"
                f"{html.escape(self.model.contract.citation)}</p>"
            )
            if self.model is not None
            else ""
        )
        QMessageBox.about(
            self,
            "About ecgviewer",
            f"<h3>ecgviewer {html.escape(__version__)}</h3><p>12-lead ECG viewer with the "
            "network of Ribeiro et al. (2020).</p>"
            + model
            + "<p><b>The bundled model is not a medical device.</b> "
            "Do not use it for diagnosis.</p>",
        )

    def _update_banners(self) -> None:
        exam = self.current_exam
        if exam is None:
            self.exam_banner.setText(
                "<b>No exam open</b> — File → Open (Ctrl+O) or drop files or folders here"
            )
        else:
            bits = [f"<b>{html.escape(exam.exam_id or '—')}</b>"]
            if exam.source is not None:
                bits.append(html.escape(exam.source.name))
            bits.append(f"{exam.fs:g} Hz · {exam.duration_s:.2f} s")
            if exam.age is not None or exam.sex:
                bits.append(
                    " ".join(
                        x for x in (f"{exam.age:g} y" if exam.age is not None else "", exam.sex or "") if x
                    )
                )
            for part in self.banner_parts:
                bits += part(exam)
            dx = (exam.raw_labels or {}).get("dx")
            if dx and not self.hide_exam_labels:
                bits.append("Dx: " + html.escape(_dx_text(dx)))
            if self.current_row is not None and len(self.ws) > 1:
                bits.append(f"exam {self.current_row + 1:,} of {len(self.ws):,}")
            self.exam_banner.setText(" · ".join(bits))
        m = self.model
        if m is None:
            text = "<span style='color:#8a1c1c'><b>No model loaded.</b> Not a medical device.</span>"
            self.status_model.setText("No model")
        else:
            c = m.contract
            notice = c.notice or "Not a medical device."
            if "medical device" not in notice.lower():
                notice += " Not a medical device."
            text = (
                f"Findings by <b>{html.escape(c.name)}</b> version {html.escape(str(c.version))} "
                f"({html.escape(m.provider)}) · "
                f"<span style='color:#8a1c1c'><b>{html.escape(notice)}</b></span>"
            )
            self.status_model.setText(f"Model: {c.name} {c.version} · {m.provider}")
            self.status_model.setToolTip(m.provider_note)
        self.model_banner.setText(text)
        if m is not None and hasattr(self, "analysis"):
            self.analysis.name_ensemble(m)  # an ensemble: its name and members

    # ================================================================== drag and drop, closing
    @staticmethod
    def _local_paths(mime) -> list[str]:
        if mime is None or not mime.hasUrls():
            return []
        return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self._local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self._local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        paths = self._local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.timings["drop"] = time.perf_counter()
            self.open_paths(paths)
        else:
            event.ignore()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        self.save_settings()
        self.cancel_all_jobs(wait=True)
        self.ws.clear()
        super().closeEvent(event)


def ensure_app(argv: Sequence[str] | None = None) -> QApplication:
    """The QApplication (created once, high-DPI aware, with organisation and application names)."""
    app = QApplication.instance()
    if app is None:
        QApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(list(argv) if argv is not None else [sys.argv[0]])
    app.setOrganizationName(S.ORGANIZATION)
    app.setApplicationName(S.APPLICATION)
    app.setApplicationDisplayName("ecgviewer")
    return app  # type: ignore[return-value]
