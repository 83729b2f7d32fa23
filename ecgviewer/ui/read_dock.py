"""The Read dock: the clinician's own over-read of the exam on screen, blinded or not.

:class:`ReadDock` observes the window and ``window.viewer.reading`` (a Qt-free
:class:`~ecgviewer.viewer.reading.ReadingSession`), and registers its actions:

* per class present / absent / uncertain (mouse, or keys 1–6 to cycle a class), a free-text
  statement, Commit (Ctrl+Return; saved at once to ``annotations/<reader>.csv``) and Agree with
  the network (A: the network's decisions, committed);
* View → Blinded Reading (Ctrl+B): the network's findings, the heatmap, the other label sources,
  the exam and preprocessing panel and the exam table's findings/probability/label columns stay
  hidden until the reader commits a read of the exam on screen; then the exam's findings are
  revealed beside the read, and a new commit is a revision (both are kept);
* the worklist: Next / Previous Unread (U / Shift+U), a read/unread count, and the exam table's
  filter words ``unread``, ``read``, ``by NAME``.

The reader's name comes from the settings; it is asked once, at the first commit.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from ecgviewer.classes import CLASS_NAMES, CLASSES
from ecgviewer.reads import ABSENT, PRESENT, UNCERTAIN, Read, calls_from_decisions
from ecgviewer.ui.browser import BASE_COLUMNS, COL_FINDINGS, COL_LABELS
from ecgviewer.ui.labels_panel import scope_for

READER = "reading/reader"
BLINDED = "reading/blinded"
CALL_NAMES = {ABSENT: "absent", PRESENT: "present", UNCERTAIN: "uncertain"}
HIDDEN_TEXT = (
    "<b>Blinded reading.</b> The network's findings are hidden until you commit your read of this exam."
)


class _Cover(QLabel):
    """An opaque note laid over a dock's content while blinded (the dock keeps its size and title)."""

    def __init__(self, target: QWidget) -> None:
        super().__init__(HIDDEN_TEXT, target)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.setMargin(14)
        self.setAutoFillBackground(True)
        self.setStyleSheet("QLabel { background: #ede7f6; color: #4a148c; }")
        self.hide()
        target.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.Resize and self.isVisible():
            self.setGeometry(self.parentWidget().rect())
        return False

    def cover(self, on: bool) -> None:
        if on:
            self.setGeometry(self.parentWidget().rect())
            self.raise_()
        self.setVisible(on)


class ReadPanel(QWidget):
    """Per class present / absent / uncertain, a statement, commit and worklist buttons."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.reader_label = QLabel("")
        self.reader_label.setTextFormat(Qt.TextFormat.RichText)
        self.change_reader = QPushButton("Reader…")
        self.change_reader.setToolTip("Change the reader's name (reads are saved per reader)")
        top = QHBoxLayout()
        top.addWidget(self.reader_label, 1)
        top.addWidget(self.change_reader)

        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(2)
        for j, text in enumerate(("Present", "Absent", "Unsure")):
            h = QLabel(f"<small>{text}</small>")
            grid.addWidget(h, 0, 1 + j, alignment=Qt.AlignmentFlag.AlignHCenter)
        self.groups: list[QButtonGroup] = []
        self.network_marks: list[QLabel] = []
        for k, cls in enumerate(CLASSES):
            name = QLabel(f"<b>{k + 1}</b>&nbsp; {cls}")
            name.setToolTip(f"{CLASS_NAMES[cls]} (key {k + 1} cycles absent → present → uncertain)")
            grid.addWidget(name, k + 1, 0)
            group = QButtonGroup(self)
            for j, call in enumerate((PRESENT, ABSENT, UNCERTAIN)):
                b = QRadioButton()
                b.setToolTip(f"{cls} {CALL_NAMES[call]}")
                group.addButton(b, call)
                grid.addWidget(b, k + 1, 1 + j, alignment=Qt.AlignmentFlag.AlignHCenter)
            group.button(ABSENT).setChecked(True)
            self.groups.append(group)
            mark = QLabel("")
            mark.setTextFormat(Qt.TextFormat.RichText)
            self.network_marks.append(mark)
            grid.addWidget(mark, k + 1, 4)
        self.statement = QPlainTextEdit()
        self.statement.setPlaceholderText("Statement (free text), e.g. sinus rhythm, RBBB")
        self.statement.setFixedHeight(54)
        self.commit_button = QPushButton("Commit read")
        self.commit_button.setToolTip("Save the read now (Ctrl+Return)")
        self.commit_button.setDefault(True)
        self.agree_button = QPushButton("Agree with network")
        self.agree_button.setToolTip("Take the network's decisions as the read and commit it (A)")
        buttons = QHBoxLayout()
        buttons.addWidget(self.commit_button, 1)
        buttons.addWidget(self.agree_button)
        self.prev_unread = QPushButton("◀ Unread")
        self.prev_unread.setToolTip("Previous unread exam in the table (Shift+U)")
        self.next_unread = QPushButton("Unread ▶")
        self.next_unread.setToolTip("Next unread exam in the table (U)")
        self.count_label = QLabel("")
        nav = QHBoxLayout()
        nav.addWidget(self.prev_unread)
        nav.addWidget(self.count_label, 1, alignment=Qt.AlignmentFlag.AlignCenter)
        nav.addWidget(self.next_unread)
        self.status = QLabel("")
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self.status.setWordWrap(True)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.addLayout(top)
        lay.addLayout(grid)
        lay.addWidget(self.statement)
        lay.addLayout(buttons)
        lay.addLayout(nav)
        lay.addWidget(self.status)
        lay.addStretch(1)

    def calls(self) -> tuple[int, ...]:
        return tuple(int(g.checkedId()) for g in self.groups)

    def set_calls(self, calls: tuple[int, ...] | list[int]) -> None:
        for g, c in zip(self.groups, calls, strict=True):
            g.button(int(c)).setChecked(True)

    def cycle(self, k: int) -> None:
        order = (ABSENT, PRESENT, UNCERTAIN)
        g = self.groups[k]
        g.button(order[(order.index(g.checkedId()) + 1) % 3]).setChecked(True)

    def set_network(self, decisions: np.ndarray | None, classes: Sequence[str] = CLASSES) -> None:
        """Show the network's decision beside each of the six classes (None: hidden or not
        analysed); ``classes`` are the model's (a class it lacks shows "net: n/a")."""
        lookup = {str(c).lower(): k for k, c in enumerate(classes)}
        for mark, cls in zip(self.network_marks, CLASSES, strict=True):
            k = lookup.get(cls.lower())
            if decisions is None:
                mark.setText("")
            elif k is None:
                mark.setText("<span style='color:#90a4ae'>net: n/a</span>")
                mark.setToolTip(f"The active model has no {cls} output")
            else:
                on = bool(decisions[k])
                mark.setText(
                    "<span style='color:#c62828'>net: present</span>"
                    if on
                    else "<span style='color:#757575'>net: absent</span>"
                )


class ReadDock(QObject):
    """The reading part of one main window (``window.reading``)."""

    def __init__(self, window: Any, label_sources: Any) -> None:
        super().__init__(window)
        self.w = window
        self.label_sources = label_sources
        self.session = window.viewer.reading
        self.panel = ReadPanel()
        self.panel.setMinimumWidth(310)
        self.dock = window.add_panel("Read", self.panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._covers: dict[str, _Cover] = {}

        reader = str(window.settings.value(READER, "") or "") if window.interactive else ""
        if reader.strip():
            self.session.set_reader(reader)

        a = window.make_action
        self.act_blinded = a(
            "&Blinded Reading",
            self.set_blinded,
            "Ctrl+B",
            checkable=True,
            tip="Hide the network's findings, heatmaps and other label sources of an exam until "
            "your read of it is committed (Ctrl+B)",
        )
        self.act_commit = a("&Commit Read", lambda *_: self.commit(), "Ctrl+Return", tip="Save the read")
        self.act_agree = a(
            "&Agree With Network", lambda *_: self.agree(), "A", tip="Commit the network's decisions"
        )
        self.act_next_unread = a("Next &Unread Exam", lambda *_: self.step_unread(1), "U")
        self.act_prev_unread = a("Previous Unread Exam", lambda *_: self.step_unread(-1), "Shift+U")
        self.act_cycle = [
            a(f"Cycle {c}", lambda *_, k=k: self.panel.cycle(k), str(k + 1)) for k, c in enumerate(CLASSES)
        ]
        self.act_read = a(
            "&Read Exams…",
            lambda *_: self.show_dock(),
            "Ctrl+Shift+R",
            tip="Record your own read of each exam (the Read dock; its keys work while it is open)",
        )
        window.register_action(self.act_blinded, "view")
        for act in (self.act_read, self.act_commit, self.act_agree):
            window.register_action(act, "exam")
        for act in (self.act_next_unread, self.act_prev_unread):
            window.register_action(act, "exam")
        # closed until asked for (Exam → Read Exams, Blinded Reading, or a reader in the settings);
        # its keys (1-6, A, U, Ctrl+Return) only act while it is open
        self.dock.toggleViewAction().toggled.connect(lambda _on: self._sync_keys())
        if not reader.strip():
            self.dock.hide()
        self._sync_keys()

        p = self.panel
        p.commit_button.clicked.connect(lambda: self.commit())
        p.agree_button.clicked.connect(lambda: self.agree())
        p.next_unread.clicked.connect(lambda: self.step_unread(1))
        p.prev_unread.clicked.connect(lambda: self.step_unread(-1))
        p.change_reader.clicked.connect(lambda: self.ask_reader(force=True))

        window.browser.model.read_column = self.session.filter_column
        window.exam_shown.connect(lambda _e: self._on_exam())
        window.prediction_shown.connect(lambda _p: self.apply_blinding())
        # another model may have other classes: other probability columns to hide
        window.model_changed.connect(lambda _m: self._hide_model_columns(self.session.blinded))
        window.open_finished.connect(self._on_open_finished)
        window.exams_closed.connect(self._on_closed)
        if window.interactive and str(window.settings.value(BLINDED, "false")).lower() == "true":
            self.act_blinded.setChecked(True)
            self.set_blinded(True)
        self._update_header()

    def show_dock(self) -> None:
        self.dock.show()
        self.dock.raise_()
        self._sync_keys()

    def _sync_keys(self) -> None:
        """The reading keys act only while the Read dock is open."""
        open_ = not self.dock.isHidden()
        for act in (self.act_next_unread, self.act_prev_unread, *self.act_cycle):
            act.setEnabled(open_)
        can = open_ and self.w.current_row is not None
        self.act_commit.setEnabled(can)
        self.act_agree.setEnabled(can and self.panel.agree_button.isEnabled())

    # ================================================================== reader
    def ask_reader(self, force: bool = False) -> bool:
        """Ask the reader's name (once: it is kept in the settings). False when cancelled."""
        if self.session.reader and not force:
            return True
        name, ok = QInputDialog.getText(
            self.w,
            "Reader",
            "Your name (reads are saved as annotations/<name>.csv beside the exams):",
            QLineEdit.EchoMode.Normal,
            self.session.reader,
        )
        if not ok or not any(ch.isalnum() for ch in name):
            return False
        self.set_reader(name)
        return True

    def set_reader(self, name: str) -> None:
        """Set the reader (kept in the settings) and open the Read dock."""
        self.session.set_reader(name)
        self.show_dock()
        if self.w.interactive:
            self.w.settings.setValue(READER, self.session.reader)
        self._on_exam()

    # ================================================================== blinding
    def _hide_model_columns(self, on: bool) -> None:
        """Blinded: the exam table's findings, labels and probability columns (the model's classes)."""
        table = self.w.browser.table
        n = len(self.w.browser.model.classes)
        for col in (COL_FINDINGS, COL_LABELS, *range(len(BASE_COLUMNS), len(BASE_COLUMNS) + n)):
            table.setColumnHidden(col, on)

    def set_blinded(self, on: bool) -> None:
        """View → Blinded Reading."""
        on = bool(on)
        if self.act_blinded.isChecked() != on:
            self.act_blinded.setChecked(on)
        self.session.set_blinded(on)
        if self.w.interactive:
            self.w.settings.setValue(BLINDED, "true" if on else "false")
        self._hide_model_columns(on)
        self.w.set_statistics.act_setstats.setEnabled(not on)
        if on:
            self.show_dock()
        self.apply_blinding()

    def hidden(self) -> bool:
        """The exam on screen is blinded (its network findings and other labels are hidden)."""
        return self.w.current_exam is not None and self.session.hidden(self.w.current_row)

    def apply_blinding(self) -> None:
        """Hide or show what the reader may not see yet (called after every exam / prediction)."""
        w = self.w
        hide = self.hidden()
        docks = [
            (w.findings_dock, "Findings"),
            (w.explanation.dock, "Explanation"),
            (self.label_sources.dock, "Labels"),
            (w.info_dock, "Exam and preprocessing"),
        ]
        for dock, title in docks:
            cover = self._covers.get(title)
            if cover is None:
                cover = self._covers[title] = _Cover(dock.widget())
            cover.cover(hide)
            dock.setWindowTitle(f"{title} — hidden" if hide else title)
        for act in (w.explanation.act_explain, w.explanation.act_heatmap, w.report_export.act_export_report):
            act.setEnabled(not hide)
        if hide:
            w.explanation.saliency.clear()
        w.banners.hide_exam_labels = hide
        w.banners.update()
        pred = w.current_prediction
        p = self.panel
        p.set_network(None if hide or pred is None else np.asarray(pred.decisions), self._classes())
        p.agree_button.setEnabled(
            not hide and pred is not None and w.current_row is not None and self._classes() == CLASSES
        )
        self._sync_keys()
        self._update_status()

    # ================================================================== the exam on screen
    def _on_exam(self) -> None:
        w = self.w
        read = self.session.read_of(w.current_row) if w.current_row is not None else None
        p = self.panel
        p.set_calls(read.calls if read is not None else (ABSENT,) * len(CLASSES))
        p.statement.setPlainText(read.statement if read is not None else "")
        p.commit_button.setEnabled(w.current_row is not None)
        self.apply_blinding()
        self._update_header()

    def _update_header(self) -> None:
        s = self.session
        who = html.escape(s.reader) if s.reader else "<i>not set (asked at the first commit)</i>"
        mode = " · <b style='color:#6a1b9a'>blinded</b>" if s.blinded else ""
        self.panel.reader_label.setText(f"Reader: <b>{who}</b>{mode}")
        if s.reader and len(self.w.ws):
            done, left = s.counts()
            self.panel.count_label.setText(f"{done} read · {left} unread")
        else:
            self.panel.count_label.setText(f"{len(self.w.ws)} unread" if len(self.w.ws) else "")

    def _update_status(self) -> None:
        w = self.w
        p = self.panel
        if w.current_row is None:
            p.status.setText(
                "Open exams from a file or folder to read them."
                if w.current_exam is None
                else ("This exam has no file: reads are kept for exams opened from files.")
            )
            return
        read = self.session.read_of(w.current_row)
        bits = []
        if self.hidden():
            bits.append(HIDDEN_TEXT)
        if read is not None:
            kind = "blinded" if read.blinded else "with the network's findings visible"
            bits.append(f"Read <b>{html.escape(read.summary())}</b> committed {read.time} ({kind}).")
            if read.revised_from is not None:
                bits.append(
                    f"Revised after the reveal; the blinded read "
                    f"(<b>{html.escape(read.revised_from.summary())}</b>, {read.revised_from.time}) is kept."
                )
            elif read.blinded:
                bits.append("Findings revealed: a new commit saves a revision (the blinded read is kept).")
        if self.session.fallback_note:
            bits.append(f"<span style='color:#8a1c1c'>{html.escape(self.session.fallback_note)}</span>")
        p.status.setText("<br>".join(bits))

    # ================================================================== committing
    def commit(self, calls: tuple[int, ...] | None = None) -> Read | None:
        """Save the read of the exam on screen (asks the reader's name the first time)."""
        w = self.w
        row = w.current_row
        if row is None:
            w.statusBar().showMessage("Reads are kept for exams opened from files", 4000)
            return None
        if not self.session.reader and not (w.interactive and self.ask_reader()):
            w.statusBar().showMessage("Set the reader's name first (Read dock → Reader…)", 6000)
            return None
        if calls is not None:
            self.panel.set_calls(calls)
        try:
            read = self.session.commit(row, self.panel.calls(), self.panel.statement.toPlainText().strip())
        except (OSError, ValueError) as err:
            w.show_error("Cannot save the read", f"The read was not saved: {err}")
            return None
        kind = "blinded read" if read.blinded else ("revision" if read.revised_from else "read")
        w.statusBar().showMessage(
            f"Saved the {kind} of {read.exam_id} by {read.reader} in {self._file(row)}", 6000
        )
        self._attach_reader_labels(row)
        if w.browser.model.filter_text.strip():
            w.browser.apply_filter()
        self._on_exam()
        if self.session.fallback_note:
            w.statusBar().showMessage(self.session.fallback_note, 10000)
        return read

    def _classes(self) -> tuple[str, ...]:
        pred = self.w.current_prediction
        return tuple(pred.classes) if pred is not None else tuple(self.w.ws.classes)

    def agree(self) -> Read | None:
        """Commit the network's decisions as the read (only once the findings are visible, and
        only for a model of the paper's six classes: a read records those six)."""
        pred = self.w.current_prediction
        if pred is None or self.hidden():
            return None
        if tuple(pred.classes) != CLASSES:
            self.w.statusBar().showMessage(
                f"Agree with network: the model's classes ({', '.join(pred.classes)}) are not the six "
                "a read records; mark the read by hand",
                8000,
            )
            return None
        return self.commit(calls_from_decisions(np.asarray(pred.decisions)))

    def _file(self, row: int) -> Path:
        path, _ = self.session.row_key(row)
        rf = self.session._file_for_writing(path)
        return rf.path

    def _attach_reader_labels(self, row: int) -> None:
        """Show the reader's file as a label source (as reopening the folder would)."""
        path, _ = self.session.row_key(row)
        store = self.label_sources.store
        for rf in self.session.files_for(path):
            if rf.path.is_file():
                try:
                    store.add(rf.label_set(), scope_for(path.resolve()), origin="discovered")
                except Exception as err:  # a broken file beside the exams: say so, keep going
                    self.w.statusBar().showMessage(str(err), 8000)
        self.label_sources._labels_added()

    def _on_open_finished(self, opened: bool) -> None:
        if not opened or not self.w.ws.sets:
            return
        # readers saved in the fallback folder (read-only exams) are not found beside the exams
        for src in self.w.ws.sets[-1].sources:
            for rf in self.session.files_for(Path(src.path)):
                try:
                    scope = scope_for(Path(src.path).resolve())
                    self.label_sources.store.add(rf.label_set(), scope, origin="discovered")
                except Exception:  # reported by the labels dock's own discovery
                    continue
        self._on_exam()

    def _on_closed(self) -> None:
        self.session.rescan()
        self._on_exam()

    # ================================================================== worklist
    def step_unread(self, delta: int) -> bool:
        """Go to the next (1) or previous (-1) unread exam in the table's order."""
        model = self.w.browser.model
        order = [model.ws_row(i) for i in range(model.rowCount())]
        row = self.session.next_unread(order, self.w.current_row, delta)
        if row is None:
            where = "after" if delta > 0 else "before"
            self.w.statusBar().showMessage(f"No unread exam {where} this one", 4000)
            return False
        return self.w.browser.select_ws_row(row)
