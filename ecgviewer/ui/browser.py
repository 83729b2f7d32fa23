"""The exam browser: every exam of the open files in a virtualised, sortable, filterable table.

The table model reads an exam's header (id, rate, length; no samples) only when its row is
drawn, so a 20,000-exam HDF5 file appears at once; sorting by a header column or filtering on
one reads all headers (cheap for HDF5). Sorting and filtering are done with numpy on the
model's own row order (no QSortFilterProxyModel, which would touch every row in Python).
The probability columns and the filter's class words are the active model's classes
(:meth:`ExamBrowser.set_classes`; the paper's six by default).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ecgviewer.classes import CLASSES
from ecgviewer.exam import ExamHeader
from ecgviewer.viewer.filtering import FilterError, Node, evaluate, fields_used, parse_filter
from ecgviewer.viewer.measurements import MEASURE_COLUMNS, MEASURE_FIELDS
from ecgviewer.viewer.model_classes import class_name
from ecgviewer.viewer.workspace import Workspace

BASE_COLUMNS: tuple[str, ...] = (
    "#",
    "ID",
    "Source",
    "Duration (s)",
    "fs (Hz)",
    "Positive findings",
    "Labels",
)
COL_INDEX, COL_ID, COL_SOURCE, COL_DURATION, COL_FS, COL_FINDINGS, COL_LABELS = range(len(BASE_COLUMNS))
ERROR_COLOR = QColor("#b71c1c")
DISAGREE_COLOR = QColor("#c62828")
AGREE_COLOR = QColor("#2e7d32")
POSITIVE_COLOR = QColor("#c62828")


class ExamTableModel(QAbstractTableModel):
    """Rows = exams of a :class:`Workspace` in the current filter and sort order.

    ``header_fetches`` counts the exam headers read (to check that only visible rows are).
    """

    def __init__(self, workspace: Workspace, parent: Any = None) -> None:
        super().__init__(parent)
        self.ws = workspace
        self.classes: tuple[str, ...] = CLASSES
        self.columns: tuple[str, ...] = BASE_COLUMNS + self.classes + tuple(h for h, _ in MEASURE_COLUMNS)
        self._order = np.zeros(0, dtype=np.int64)
        self._pos = np.zeros(0, dtype=np.int64)
        self._headers: dict[int, ExamHeader | Exception] = {}
        self.header_fetches = 0
        self._filter: Node | None = None
        self.only_disagreeing = False
        self.filter_text = ""
        self._sort: tuple[int, Qt.SortOrder] | None = None
        # the filter words "read", "unread" and "by NAME" (set by the reading dock)
        self.read_column: Callable[[str], np.ndarray] | None = None

    # ------------------------------------------------------------------ Qt model API
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._order)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.columns)

    def headerData(  # noqa: N802
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.columns):
            return None
        name = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return name
        if role == Qt.ItemDataRole.ToolTipRole:
            if len(BASE_COLUMNS) <= section < len(BASE_COLUMNS) + len(self.classes):
                full = class_name(name)
                what = f"{full} ({name})" if full != name else name
                return f"Probability of {what} from the active model"
            if self._measure_word(section):
                return (
                    f"Measured {name} ({'bpm' if name == 'HR' else 'ms'}); empty until the exam is measured"
                )
            return {
                "#": "Position among the open exams",
                "Labels": "Agreement of the model with the exam's labels",
                "Positive findings": "Classes above the model's thresholds (empty: not analysed yet)",
            }.get(name)
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid():
            return None
        row = int(self._order[index.row()])
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if col in (COL_INDEX, COL_DURATION, COL_FS) or col >= len(BASE_COLUMNS):
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return None
        if role == Qt.ItemDataRole.ForegroundRole:
            if row in self.ws.row_errors:
                return ERROR_COLOR
            if col == COL_FINDINGS:
                return POSITIVE_COLOR
            if len(BASE_COLUMNS) <= col < len(BASE_COLUMNS) + len(self.classes):
                k = col - len(BASE_COLUMNS)
                p = self.ws.probabilities[row, k]
                if not np.isnan(p) and p > self.ws.thresholds[k]:
                    return POSITIVE_COLOR
            if col == COL_LABELS and row in self.ws.agreement:
                if _flag(self.ws.label_disagrees, row):
                    return DISAGREE_COLOR
                if self.ws.agreement[row].startswith("agrees"):
                    return AGREE_COLOR
            return None
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == COL_LABELS and row in self.ws.agreement_details:
                return self.ws.agreement_details[row]
            if row in self.ws.row_errors:
                return self.ws.row_errors[row]
            h = self.header(row)
            if isinstance(h, ExamHeader) and h.source is not None:
                return f"{h.source} (exam {h.index + 1})"
        return None

    def _display(self, row: int, col: int) -> str:
        if col == COL_INDEX:
            return str(row + 1)
        if col == COL_FINDINGS:
            if row in self.ws.row_errors:
                return "error"
            return self.ws.positive_text(row)
        if col == COL_LABELS:
            return self.ws.agreement.get(row, "")
        word = self._measure_word(col)
        if word:
            return self.ws.measurements.value_text(row, word)
        if col >= len(BASE_COLUMNS):
            p = self.ws.probabilities[row, col - len(BASE_COLUMNS)]
            return "" if np.isnan(p) else f"{p:.3f}"
        h = self.header(row)
        if isinstance(h, Exception):
            return "?" if col != COL_ID else "unreadable"
        if col == COL_ID:
            return h.exam_id
        if col == COL_SOURCE:
            return "" if h.source is None else h.source.name
        if col == COL_DURATION:
            return f"{h.duration_s:.2f}"
        if col == COL_FS:
            return f"{h.fs:g}"
        return ""

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.layoutAboutToBeChanged.emit()
        self._sort = (column, order)
        self._apply_sort()
        self.layoutChanged.emit()

    # ------------------------------------------------------------------ rows
    def header(self, row: int) -> ExamHeader | Exception:
        """The exam header of a workspace row, read once and cached."""
        h = self._headers.get(row)
        if h is None:
            self.header_fetches += 1
            try:
                h = self.ws.header(row)
            except Exception as err:  # a broken file in a folder: show the row as unreadable
                h = err
            self._headers[row] = h
        return h

    def ws_row(self, view_row: int) -> int:
        return int(self._order[view_row])

    def view_row(self, ws_row: int) -> int:
        """Row in the table of a workspace row (-1 if filtered out)."""
        return int(self._pos[ws_row]) if 0 <= ws_row < len(self._pos) else -1

    def refresh(self) -> None:
        """Rows were added or removed: rebuild the order (filter and sort kept)."""
        self.beginResetModel()
        valid = {r: h for r, h in self._headers.items() if r < len(self.ws)}
        self._headers = valid
        self._recompute()
        self.endResetModel()

    def set_classes(self, classes: tuple[str, ...]) -> None:
        """The active model's classes: one probability column each (the filter is parsed again;
        a filter naming a class the model lacks is dropped and raises FilterError)."""
        classes = tuple(classes)
        if classes == self.classes:
            return
        self.beginResetModel()
        self.classes = classes
        self.columns = BASE_COLUMNS + self.classes + tuple(h for h, _ in MEASURE_COLUMNS)
        self._sort = None
        dropped: FilterError | None = None
        try:
            self._filter = parse_filter(self.filter_text, self.classes)
        except FilterError as err:
            self._filter, self.filter_text, dropped = None, "", err
        try:
            self._recompute()
        finally:
            self.endResetModel()
        if dropped is not None:
            raise dropped

    def set_filter(self, text: str) -> None:
        """Apply a filter (:mod:`ecgviewer.viewer.filtering`); raises FilterError and keeps the old one."""
        node = parse_filter(text, self.classes)
        self.beginResetModel()
        self._filter, self.filter_text = node, text
        try:
            self._recompute()
        finally:
            self.endResetModel()

    def _refilter(self) -> None:
        """Filter and sort again (the shown rows may change: a model reset)."""
        self.beginResetModel()
        try:
            self._recompute()
        finally:
            self.endResetModel()

    def _recompute(self) -> None:
        n = len(self.ws)
        if self._filter is None:
            order = np.arange(n, dtype=np.int64)
        else:
            mask = evaluate(self._filter, self._column, n)
            order = np.flatnonzero(mask).astype(np.int64)
        if self.only_disagreeing:
            order = order[self._column("flag:disagrees")[order]]
        self._order = order
        self._apply_sort()

    def _apply_sort(self) -> None:
        if self._sort is not None and len(self._order):
            column, order = self._sort
            keys = self._sort_keys(column)[self._order]
            idx = np.argsort(keys, kind="stable")
            if order == Qt.SortOrder.DescendingOrder:
                # descending, with unknown values (NaN / empty) still last
                if keys.dtype.kind == "f":
                    known = ~np.isnan(keys[idx])
                    idx = np.concatenate([idx[known][::-1], idx[~known]])
                else:
                    idx = idx[::-1]
            self._order = self._order[idx]
        self._pos = np.full(len(self.ws), -1, dtype=np.int64)
        self._pos[self._order] = np.arange(len(self._order))

    def _all_headers(self) -> list[ExamHeader | Exception]:
        return [self.header(r) for r in range(len(self.ws))]

    def _sort_keys(self, column: int) -> np.ndarray:
        n = len(self.ws)
        if column == COL_INDEX:
            return np.arange(n, dtype=np.float64)
        word = self._measure_word(column)
        if word:
            return self.ws.measurements.column(word, n)
        if column >= len(BASE_COLUMNS):
            return self.ws.probabilities[:, column - len(BASE_COLUMNS)].astype(np.float64)
        if column == COL_FINDINGS:
            return np.array([self._display(r, column) or "\uffff" for r in range(n)], dtype=object)
        if column == COL_LABELS:
            return np.array([self.ws.agreement.get(r, "\uffff") for r in range(n)], dtype=object)
        if column in (COL_DURATION, COL_FS):
            return self._column("duration" if column == COL_DURATION else "fs")
        return np.array([_natural(self._display(r, column)) for r in range(n)], dtype=object)

    def set_only_disagreeing(self, on: bool) -> None:
        """Show only the exams where the model disagrees with the reference labels."""
        self.beginResetModel()
        self.only_disagreeing = bool(on)
        try:
            self._recompute()
        finally:
            self.endResetModel()

    def labels_changed(self, rows: np.ndarray | None = None) -> bool:
        """The label agreement of these rows (None: all) changed. Returns True when the rows
        were re-filtered (the filter or the "disagrees" switch depends on the labels)."""
        uses_flags = self.only_disagreeing or any(f.startswith("flag:") for f in fields_used(self._filter))
        if uses_flags:
            self._refilter()
            return True
        span = self._shown_span(rows)
        if span is not None:
            self.dataChanged.emit(self.index(span[0], COL_LABELS), self.index(span[1], COL_LABELS))
        return False

    def _shown_span(self, rows: np.ndarray | None) -> tuple[int, int] | None:
        """First and last table rows showing these workspace rows (None: all), or None if none shown."""
        if not len(self._order):
            return None
        if rows is None or len(rows) == 0:
            return 0, len(self._order) - 1
        pos = self._pos[np.asarray(rows, dtype=np.int64)]
        pos = pos[pos >= 0]
        if not len(pos):
            return None
        return int(pos.min()), int(pos.max())

    def _column(self, name: str) -> np.ndarray:
        """A column for the filter language (see :func:`ecgviewer.viewer.filtering.evaluate`)."""
        n = len(self.ws)
        if name in ("flag:read", "flag:unread") or name.startswith("reader:"):
            if self.read_column is None:
                return np.zeros(n, dtype=bool)
            return _padded(self.read_column(name), n)
        if name.startswith("flag:"):
            disagrees = _padded(self.ws.label_disagrees, n)
            labelled = _padded(self.ws.labelled, n)
            flag = name.split(":", 1)[1]
            if flag == "disagrees":
                return disagrees
            if flag == "labelled":
                return labelled
            return labelled & ~disagrees & self.ws.analysed()
        if name in self.classes:
            return self.ws.probabilities[:, self.classes.index(name)]
        if name.startswith("positive:"):
            cls = name.split(":", 1)[1]
            return self.ws.decisions()[:, self.classes.index(cls)]
        if name == "index":
            return np.arange(1, n + 1, dtype=np.float64)
        if name in MEASURE_FIELDS:
            return self.ws.measurements.column(name, n)
        headers = self._all_headers()

        def get(h: ExamHeader | Exception, attr: str) -> Any:
            return None if isinstance(h, Exception) else getattr(h, attr)

        if name in ("fs", "duration", "age"):
            attr = {"fs": "fs", "duration": "duration_s", "age": "age"}[name]
            return np.array([np.nan if get(h, attr) is None else float(get(h, attr)) for h in headers])
        if name == "id":
            return np.array([get(h, "exam_id") or "" for h in headers], dtype=object)
        if name == "source":
            names = [(get(h, "source").name if get(h, "source") is not None else "") for h in headers]
            return np.array(names, dtype=object)
        if name in ("sex", "format"):
            return np.array([get(h, name) or "" for h in headers], dtype=object)
        raise FilterError(f"unknown field {name!r}")

    def _measure_word(self, column: int) -> str:
        """The filter word of a measurement column ("hr", "qtc"…), "" for other columns."""
        k = column - len(BASE_COLUMNS) - len(self.classes)
        return MEASURE_COLUMNS[k][1] if 0 <= k < len(MEASURE_COLUMNS) else ""

    def measurements_changed(self, rows: np.ndarray | None = None) -> bool:
        """These rows (None: all) were measured. Returns True when the rows were re-filtered
        (the filter uses HR, PR, QRS, QT or QTc)."""
        if any(f in MEASURE_FIELDS for f in fields_used(self._filter)):
            self._refilter()
            return True
        span = self._shown_span(rows)
        if span is not None:
            first = len(BASE_COLUMNS) + len(self.classes)
            self.dataChanged.emit(self.index(span[0], first), self.index(span[1], self.columnCount() - 1))
        return False

    def probabilities_changed(self, rows: np.ndarray | None = None) -> None:
        """Repaint the findings and probability columns of these workspace rows (None: all)."""
        span = self._shown_span(rows)
        if span is not None:
            last = self.columnCount() - 1
            self.dataChanged.emit(self.index(span[0], COL_FINDINGS), self.index(span[1], last))


def _padded(mask: np.ndarray, n: int) -> np.ndarray:
    """A boolean row mask of exactly n rows (False beyond what is known)."""
    out = np.zeros(n, dtype=bool)
    m = min(n, len(mask))
    out[:m] = np.asarray(mask[:m], dtype=bool)
    return out


def _flag(mask: np.ndarray, row: int) -> bool:
    return 0 <= row < len(mask) and bool(mask[row])


def _placeholder(classes: tuple[str, ...]) -> str:
    """The filter box's example, in the active model's class words."""
    if classes == CLASSES:
        return "Filter, e.g.  AF > 0.5   ·   RBBB and fs >= 500   ·   not ST   ·   A0001"
    first, last = classes[0], classes[-1]
    return f"Filter, e.g.  {first} > 0.5   ·   {last} and fs >= 500   ·   not {first}   ·   A0001"


def _natural(text: str) -> tuple:
    import re

    return tuple((0, int(t)) if t.isdigit() else (1, t.lower()) for t in re.split(r"(\d+)", text) if t)


class ExamBrowser(QWidget):
    """Filter box, counts, "Analyse all" and the exam table.

    Signals:
        row_activated(int): the current exam changed (workspace row).
        analyse_all_requested(): the user asked to analyse every exam.
    """

    row_activated = Signal(int)
    analyse_all_requested = Signal()

    def __init__(self, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ws = workspace
        self.model = ExamTableModel(workspace, self)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText(_placeholder(CLASSES))
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setToolTip(
            "Conditions on the model's probabilities (AF > 0.5, SB < 10%), positive findings (RBBB, not AF), "
            "measurements (HR < 50, PR > 200, QTc > 470), fs, duration, age, index (fs >= 500), "
            "text fields (id ~ A00, source = x.h5, sex = F) "
            "or any word "
            "(searched in id and file name); disagrees / agrees / labelled select by the label agreement. "
            "Combine with and / or / not and parentheses."
        )
        self.filter_edit.returnPressed.connect(self.apply_filter)
        self.filter_edit.textChanged.connect(self._on_filter_text)
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(350)
        self._filter_timer.timeout.connect(self.apply_filter)
        self.count_label = QLabel("")
        self.analyse_button = QPushButton("Analyse all")
        self.analyse_button.setToolTip("Run the model on every open exam in the background (Ctrl+Shift+A)")
        self.analyse_button.clicked.connect(self.analyse_all_requested)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        self.disagree_check = QCheckBox("Model disagrees with labels")
        self.disagree_check.setToolTip(
            "Show only the exams where the model's decision differs from the exam's reference labels "
            "(the gold standard when loaded, else the first label source) on a class both know"
        )
        self.disagree_check.toggled.connect(self._on_disagree_toggled)
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.disagree_check)
        top.addWidget(self.count_label)
        top.addWidget(self.analyse_button)

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(False)
        self.table.horizontalHeader().setSortIndicatorShown(True)
        self.table.horizontalHeader().setSectionsClickable(True)
        self.table.horizontalHeader().sectionClicked.connect(self._on_header_clicked)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setCornerButtonEnabled(False)
        widths = {
            COL_INDEX: 60,
            COL_ID: 150,
            COL_SOURCE: 190,
            COL_DURATION: 90,
            COL_FS: 70,
            COL_FINDINGS: 170,
            COL_LABELS: 110,
        }
        for col, w in widths.items():
            self.table.setColumnWidth(col, w)
        self._size_class_columns()
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)
        self._sort_column = -1
        self._sort_order = Qt.SortOrder.AscendingOrder

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self._update_count()

    def _size_class_columns(self) -> None:
        fm = self.table.fontMetrics()
        for k, c in enumerate(self.model.classes):
            self.table.setColumnWidth(len(BASE_COLUMNS) + k, max(62, fm.horizontalAdvance(c) + 18))
        for k in range(len(MEASURE_COLUMNS)):
            self.table.setColumnWidth(len(BASE_COLUMNS) + len(self.model.classes) + k, 52)

    # ------------------------------------------------------------------ API
    def set_classes(self, classes: tuple[str, ...]) -> None:
        """Show the active model's classes as the probability columns and filter words."""
        current = self.current_ws_row()
        if tuple(classes) == self.model.classes:
            return
        try:
            self.model.set_classes(tuple(classes))
        except FilterError as err:
            self.filter_edit.blockSignals(True)
            self.filter_edit.clear()
            self.filter_edit.blockSignals(False)
            self.filter_edit.setStyleSheet("")
            self.count_label.setText(f"<span style='color:#b71c1c'>Filter dropped: {err}</span>")
        self._size_class_columns()
        self.filter_edit.setPlaceholderText(_placeholder(tuple(classes)))
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self._sort_column = -1
        if not self.count_label.text().startswith("<span"):
            self._update_count()
        if current is not None:
            self.select_ws_row(current, emit=False)

    def refresh(self, keep_row: int | None = None) -> None:
        """Rows were added/removed; reselect ``keep_row`` (workspace row) without emitting."""
        self.model.refresh()
        self._update_count()
        if keep_row is not None:
            self.select_ws_row(keep_row, emit=False)

    def current_ws_row(self) -> int | None:
        idx = self.table.currentIndex()
        return self.model.ws_row(idx.row()) if idx.isValid() else None

    def select_ws_row(self, ws_row: int, emit: bool = True) -> bool:
        """Make a workspace row current (False if it is filtered out)."""
        view_row = self.model.view_row(ws_row)
        if view_row < 0:
            return False
        index = self.model.index(view_row, COL_ID)
        sm = self.table.selectionModel()
        if not emit:
            sm.blockSignals(True)
        sm.setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        )
        if not emit:
            sm.blockSignals(False)
            self.table.viewport().update()
        self.table.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)
        return True

    def step(self, delta: int) -> bool:
        """Move the current row by ``delta`` (next/previous exam); False at either end."""
        idx = self.table.currentIndex()
        row = (idx.row() if idx.isValid() else -1) + delta
        if not 0 <= row < self.model.rowCount():
            return False
        return self.select_ws_row(self.model.ws_row(row))

    def apply_filter(self) -> bool:
        """Apply the filter box's text now; False (and the reason shown) if it does not parse."""
        self._filter_timer.stop()
        text = self.filter_edit.text()
        current = self.current_ws_row()
        try:
            self.model.set_filter(text)
        except FilterError as err:
            self.filter_edit.setStyleSheet("QLineEdit { background: #ffebee; }")
            self.filter_edit.setToolTip(f"Filter not applied: {err}")
            self.count_label.setText(f"<span style='color:#b71c1c'>{err}</span>")
            return False
        self.filter_edit.setStyleSheet("")
        self._update_count()
        if current is not None:
            self.select_ws_row(current, emit=False)
        return True

    def probabilities_changed(self, rows: np.ndarray | None = None) -> None:
        self.model.probabilities_changed(rows)
        self._update_count()

    def measurements_changed(self, rows: np.ndarray | None = None) -> None:
        """The HR, PR, QRS, QT, QTc columns of these rows (None: all) changed; re-filters when needed."""
        current = self.current_ws_row()
        if self.model.measurements_changed(rows) and current is not None:
            self.select_ws_row(current, emit=False)
        self._update_count()

    def labels_changed(self, rows: np.ndarray | None = None) -> None:
        """The label-agreement column changed (rows, or None: all); re-filters when needed."""
        current = self.current_ws_row()
        if self.model.labels_changed(rows) and current is not None:
            self.select_ws_row(current, emit=False)
        self._update_count()

    def _on_disagree_toggled(self, on: bool) -> None:
        current = self.current_ws_row()
        self.model.set_only_disagreeing(on)
        self._update_count()
        if current is not None:
            self.select_ws_row(current, emit=False)

    # ------------------------------------------------------------------ internals
    def _on_filter_text(self, text: str) -> None:
        if not text.strip():
            self._filter_timer.stop()
            if self.model.filter_text.strip():
                self.apply_filter()
        else:
            self._filter_timer.start()  # live filtering, once typing pauses

    def _on_header_clicked(self, column: int) -> None:
        if column == self._sort_column:
            ascending = self._sort_order == Qt.SortOrder.AscendingOrder
            self._sort_order = Qt.SortOrder.DescendingOrder if ascending else Qt.SortOrder.AscendingOrder
        else:
            self._sort_column, self._sort_order = column, Qt.SortOrder.AscendingOrder
        current = self.current_ws_row()
        self.model.sort(column, self._sort_order)
        self.table.horizontalHeader().setSortIndicator(column, self._sort_order)
        if current is not None:
            self.select_ws_row(current, emit=False)

    def _on_current_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.row_activated.emit(self.model.ws_row(current.row()))

    def _update_count(self) -> None:
        n, shown = len(self.ws), self.model.rowCount()
        done = int(self.ws.analysed().sum()) if n else 0
        text = f"{n:,} exam{'s' if n != 1 else ''}"
        if shown != n:
            text = f"{shown:,} of {text} shown"
        if n:
            text += f" · {done:,} analysed"
        self.count_label.setText(text)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.matches(QKeySequence.StandardKey.Find):
            self.filter_edit.setFocus()
            self.filter_edit.selectAll()
            return
        super().keyPressEvent(event)
