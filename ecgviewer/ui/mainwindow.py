"""The main window: a composition of feature parts around the lead grid.

The state (open sets, current exam, model, prediction, view settings) is ``window.viewer``, a
Qt-free :class:`~ecgviewer.viewer.ViewerModel`; the window and its parts present it. Everything
slow (opening files, reading an exam, preprocessing and inference, loading a model, analysing a
whole file) runs on worker threads (:mod:`ecgviewer.ui.workers`).

The parts, one module each, built in ``__init__``:

- the core of the window: the lead grid (:mod:`~ecgviewer.ui.leadgrid`), the findings panel
  (:mod:`~ecgviewer.ui.findings`), the exam browser (:mod:`~ecgviewer.ui.browser`), the info
  panel (:mod:`~ecgviewer.ui.infopanel`), the banners (:mod:`~ecgviewer.ui.banners`), the jobs
  in the status bar (:mod:`~ecgviewer.ui.jobs`), opening and reading exams
  (:mod:`~ecgviewer.ui.opening`), the view controls (:mod:`~ecgviewer.ui.view_controls`) and
  the Help menu (:mod:`~ecgviewer.ui.help_dialogs`); the window lays out their actions in
  its menus and toolbar;
- the features (``_compose_features``): measurements, the explanation dock, the labels dock,
  the report export, the set statistics, the clinical display, median beats and the read dock.
  A feature adds its dock with ``add_panel(title, widget, area)``, makes its actions with
  ``make_action`` and registers them with ``register_action(action, "file" | "exam" | "view" |
  "toolbar")``, and observes the window's signals (``exam_shown``/``prediction_shown``,
  ``model_changed``, ``open_finished``, ``rows_analysed``/``batch_finished``, ``exams_closed``)
  or the viewer model's events.

The window itself keeps the model, prediction and batch analysis (``load_model``,
``analyse_all``); every action runs behind one guard (:mod:`~ecgviewer.ui.messages`: an error
is one line, never a traceback).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFrame,
    QMainWindow,
    QScrollArea,
    QWidget,
)

from ecgviewer.exam import Exam
from ecgviewer.preprocess import PreprocessReport
from ecgviewer.ui import messages
from ecgviewer.ui import settings as S  # noqa: N812 - short for settings keys
from ecgviewer.ui.banners import Banners
from ecgviewer.ui.browser import ExamBrowser
from ecgviewer.ui.findings import FindingsPanel
from ecgviewer.ui.help_dialogs import HelpDialogs
from ecgviewer.ui.infopanel import ExamInfoPanel
from ecgviewer.ui.jobs import JobStatus
from ecgviewer.ui.leadgrid import LeadGrid
from ecgviewer.ui.opening import ExamOpening
from ecgviewer.ui.view_controls import ViewControls
from ecgviewer.ui.workers import Task, TaskRunner
from ecgviewer.viewer import ViewerModel

log = logging.getLogger(__name__)

APP_TITLE = "ecgviewer"


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


class _PartField:
    """A window attribute that is an attribute of one of its parts (``window.<part>.<name>``)."""

    def __init__(self, part: str, name: str) -> None:
        self.part, self.name = part, name

    def __get__(self, window, owner=None):
        return self if window is None else getattr(getattr(window, self.part), self.name)


class MainWindow(QMainWindow):
    """The viewer's main window.

    Args:
        settings: QSettings to read and persist (default :func:`ecgviewer.ui.settings.open_settings`).
        model_path: model to use (default: the one in the settings, else the bundled one).
        interactive: False for ``--screenshot``: errors are recorded in ``errors`` and printed
            instead of shown in dialogs, and the user's settings are neither used nor changed.
    """

    APP_TITLE = APP_TITLE
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
        self._generation = 0  # bumped per exam shown: late results of an older one are dropped
        self._predict_task: Task | None = None
        self._exam_features: list[QAction] = []
        self._batch_task: Task | None = None
        self.timings: dict[str, float] = {}

        self.setWindowTitle(APP_TITLE)
        self.setWindowIcon(_icon())
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)

        # central: the grid between the exam's header and the model's notice
        self.grid = LeadGrid()
        self.jobs = JobStatus(self)  # status bar: message, job progress + cancel
        self.banners = Banners(self)  # ... and the active model
        self.setCentralWidget(self.banners.around(self.grid))

        # panels
        self.findings = FindingsPanel()
        self.findings.model_selected.connect(self.set_model)
        self.browser = ExamBrowser(self.ws)
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

        self.opening = ExamOpening(self)
        self.view_controls = ViewControls(self)
        self.help = HelpDialogs(self)
        self.act_quit = self.make_action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_analyse_all = self.make_action(
            "&Analyse All Exams",
            self.analyse_all,
            "Ctrl+Shift+A",
            tip="Run the model on every open exam in the background",
        )
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

    def _build_menus_and_toolbar(self) -> None:
        """The menus and the toolbar, laid out from the parts' actions."""
        o, v = self.opening, self.view_controls
        mb = self.menuBar()
        self.menu_file = mb.addMenu("&File")
        o.fill_file_menu(self.menu_file)
        self.menu_file.addSeparator()
        self.file_export_separator = self.menu_file.addSeparator()  # features' file actions above
        self.menu_file.addAction(o.act_close_all)
        self.menu_file.addSeparator()
        self.menu_file.addAction(self.act_quit)

        self.menu_view = mb.addMenu("&View")
        v.fill_menu(self.menu_view)
        self.menu_view.addSeparator()
        self.menu_panels = self.menu_view.addMenu("&Panels")  # features' view actions above
        for dock in (self.findings_dock, self.info_dock, self.browser_dock):
            self.menu_panels.addAction(dock.toggleViewAction())

        self.menu_exam = mb.addMenu("&Exam")
        for act in (o.act_next, o.act_prev, self.act_analyse_all, self.jobs.act_cancel, o.act_find):
            self.menu_exam.addAction(act)
        self.menu_help = mb.addMenu("&Help")
        self.help.fill_menu(self.menu_help)

        tb = self.toolbar = self.addToolBar("View")
        tb.setObjectName("view_toolbar")
        tb.setMovable(False)
        tb.addAction(o.act_open)
        tb.addSeparator()
        v.fill_toolbar(tb)
        tb.addSeparator()
        tb.addAction(o.act_prev)
        tb.addAction(o.act_next)
        o.act_prev.setText("◀ Previous")
        o.act_next.setText("Next ▶")

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
        self.jobs.track(task, label)

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

    # -- messages (:mod:`ecgviewer.ui.messages`): one line, never a traceback -------------
    def guarded(self, slot, what: str = ""):
        """``slot`` behind the one guard of a UI action: an exception becomes a one-line message."""
        return messages.guarded(self, slot, what)

    def report_unexpected(self, err: BaseException, files=(), what: str = "") -> str:
        return messages.report_unexpected(self, err, files, what)

    def show_error(self, title: str, text: str, keep_note: str | None = None) -> None:
        messages.show_error(self, title, text, keep_note)

    def show_warning(self, title: str, text: str) -> None:
        messages.show_warning(self, title, text)

    # ================================================================== settings
    def _restore_settings(self) -> None:
        """The view settings, the stored model and the window's geometry and docks."""
        self.view_controls.restore()
        if not self.interactive:  # --screenshot: reproducible defaults, whatever the user chose
            self.resize(1500, 950)
        else:
            if self._model_path is None:
                stored = S.get_str(self.settings, S.MODEL, "")
                if stored and Path(stored).is_file():
                    self._model_path = Path(stored)
            geometry = self.settings.value(S.GEOMETRY)
            if isinstance(geometry, QByteArray) and not geometry.isEmpty():
                self.restoreGeometry(geometry)
            else:
                self.resize(1500, 950)
            state = self.settings.value(S.STATE)
            if isinstance(state, QByteArray) and not state.isEmpty():
                self.restoreState(state)
                return
        self.resizeDocks([self.browser_dock], [210], Qt.Orientation.Vertical)
        self.resizeDocks([self.findings_dock], [360], Qt.Orientation.Horizontal)

    def save_settings(self) -> None:
        """Write everything persistent (called on close; not with ``interactive=False``)."""
        if not self.interactive:
            return
        self.view_controls.save()
        self.settings.setValue(S.GEOMETRY, self.saveGeometry())
        self.settings.setValue(S.STATE, self.saveState())
        if self.model is not None and not self._model_from_cli:
            self.settings.setValue(S.MODEL, str(self.model.path))
        self.settings.sync()

    # ================================================================== the parts' verbs
    def set_layout(self, name: str, save: bool = True) -> None:
        self.view_controls.set_layout(name, save)

    def set_gain(self, gain: float, save: bool = True) -> None:
        self.view_controls.set_gain(gain, save)

    def set_speed(self, speed: float, save: bool = True) -> None:
        self.view_controls.set_speed(speed, save)

    def set_rhythm_lead(self, lead: str, save: bool = True) -> None:
        self.view_controls.set_rhythm_lead(lead, save)

    def grid_show_input(self, on: bool) -> None:
        self.view_controls.show_input(on)

    def open_paths(self, paths: Iterable[str | Path]) -> Task | None:
        """Open files and folders in the background (:meth:`ExamOpening.open_paths`)."""
        return self.opening.open_paths(paths)

    def open_exam(self, exam: Exam) -> None:
        """Show an in-memory exam (e.g. a synthetic one) without a file."""
        self.opening.open_exam(exam)

    def close_all(self) -> None:
        self.opening.close_all()

    def show_row(self, row: int) -> None:
        self.opening.show_row(row)

    def _update_banners(self) -> None:
        self.banners.update()

    # ================================================================== current exam
    def _show_exam(self, row: int | None, exam: Exam, model_input, gen: int) -> None:
        """Put ``exam`` on screen (:meth:`ExamOpening.draw_exam`) and analyse it when it can be."""
        if not self.opening.draw_exam(row, exam, model_input):
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
        self.jobs.track(task, label)

    def _untrack(self, task: Task) -> None:
        self.jobs.untrack(task)

    def cancel_all_jobs(self, wait: bool = False) -> None:
        self.jobs.cancel_all(wait)

    # ================================================================== drag and drop, closing
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.opening.accepts(event)

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.opening.accepts(event)

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.opening.drop(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        self.save_settings()
        self.cancel_all_jobs(wait=True)
        self.ws.clear()
        super().closeEvent(event)


# the parts' attributes that tests and features reach through the window (window.act_open, ...)
PART_FIELDS: dict[str, tuple[str, ...]] = {
    "opening": ("act_open", "act_next", "act_prev"),
    "view_controls": ("act_input", "act_report", "layout_actions", "layout_combo"),
    "jobs": ("progress", "cancel_button"),
    "banners": ("exam_banner", "model_banner", "status_model"),
}
for _part, _names in PART_FIELDS.items():
    for _name in _names:
        setattr(MainWindow, _name, _PartField(_part, _name))


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
