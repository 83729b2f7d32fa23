"""Labels in the viewer: the label sources attached to the open exams, the per-exam comparison
table (model vs every source, disagreements highlighted) and the browser's agreement column.

* :class:`LabelStore` (no Qt): the attached :class:`~ecgviewer.labels.LabelSet` objects, each
  with a *scope* (the folder it was found in or loaded for: a set matched by position must not
  be applied to unrelated files opened beside it), plus the labels each exam carries itself
  (WFDB ``#Dx``), and the per-row agreement of the model with the reference
  (:meth:`LabelStore.agreement`) for the browser's "Labels" column and its
  "model disagrees with gold" filter.
* :class:`ComparisonTable` / :class:`LabelsPanel`: rows the model's classes (the paper's six
  by default), columns the model (probability and decision) and each source; cells that differ
  from the reference (the gold standard, else the first source) are highlighted; findings
  outside the six classes listed. A model class that a label source does not know (sources
  know the paper's six) is "n/a" for that source, never "no", and never a disagreement.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ecgviewer.classes import CLASSES
from ecgviewer.labels import ExamComparison, LabelSet, short_name
from ecgviewer.viewer.model_classes import (
    class_definition,
    class_name,
    compare_for_classes,
    is_paper_class,
    none_of_text,
)

DISAGREE_BG = QColor("#ffcdd2")
REFERENCE_BG = QColor("#e8f5e9")
POSITIVE_FG = QColor("#c62828")
UNKNOWN_FG = QColor("#90a4ae")
K = len(CLASSES)


# --------------------------------------------------------------------------- store (no widgets)


def _resolved(path: str | Path) -> Path:
    try:
        return Path(path).resolve()
    except OSError:
        return Path(path).absolute()


@dataclass
class AttachedLabels:
    """A label set attached to the viewer and the exams it applies to.

    ``scope``: folders; the set applies to exams whose file lies in one of them (at any
    depth). None: every open exam (only for sets matched by exam id, or on the user's word).
    """

    labels: LabelSet
    scope: tuple[Path, ...] | None = None
    origin: str = "discovered"  # "discovered" beside an opened file, or "loaded" by the user

    def applies_to(self, source: Path | None) -> bool:
        if self.scope is None:
            return True
        if source is None:
            return False
        src = _resolved(source)
        return any(src == s or s in src.parents for s in self.scope)


@dataclass
class AgreementColumn:
    """The browser's label-agreement data for N workspace rows.

    Attributes:
        texts: row → cell text ("agrees", "differs: RBBB, AF", "labelled", ...); rows without
            any label source are absent.
        details: row → tooltip text (per class: model vs reference).
        labelled: (N,) bool, the exam has a row in at least one label source.
        disagrees: (N,) bool, the model was run and differs from the reference on a class
            known to both (the browser filter "model disagrees with gold").
        references: row → name of the reference source.
    """

    texts: dict[int, str] = field(default_factory=dict)
    details: dict[int, str] = field(default_factory=dict)
    labelled: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    disagrees: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    references: dict[int, str] = field(default_factory=dict)


class LabelStore:
    """Label sources attached to the open exams (see module docstring)."""

    def __init__(self) -> None:
        self.attached: list[AttachedLabels] = []
        self.exam_labels: dict[int, LabelSet] = {}
        """workspace row → the one-row LabelSet the exam carries itself (e.g. WFDB #Dx)."""

    def __len__(self) -> int:
        return len(self.attached)

    def names(self) -> list[str]:
        return [a.labels.name for a in self.attached]

    def add(
        self,
        labels: LabelSet,
        scope: Sequence[str | Path] | None = None,
        *,
        origin: str = "discovered",
        name: str | None = None,
    ) -> AttachedLabels:
        """Attach a label set (re-adding the same file replaces it). A name already used by
        another file gets the file's folder name appended, so columns stay distinguishable."""
        if name:
            labels = _renamed(labels, name)
        src = _resolved(labels.source) if labels.source is not None else None
        sc = None if scope is None else tuple(_resolved(s) for s in scope)
        for i, a in enumerate(self.attached):
            same_file = src is not None and a.labels.source is not None and _resolved(a.labels.source) == src
            if same_file and a.labels.name == labels.name:
                merged = None if (sc is None or a.scope is None) else tuple(dict.fromkeys(a.scope + sc))
                self.attached[i] = AttachedLabels(labels, merged, origin)
                return self.attached[i]
        taken = set(self.names())
        if labels.name in taken:
            base = (
                f"{labels.name} ({labels.source.parent.name})" if labels.source is not None else labels.name
            )
            new, n = base, 2
            while new in taken:
                new, n = f"{base} {n}", n + 1
            labels = _renamed(labels, new)
        entry = AttachedLabels(labels, sc, origin)
        self.attached.append(entry)
        return entry

    def remove(self, name: str) -> bool:
        before = len(self.attached)
        self.attached = [a for a in self.attached if a.labels.name != name]
        return len(self.attached) != before

    def clear(self) -> None:
        self.attached.clear()
        self.exam_labels.clear()

    def set_exam_labels(self, row: int, labels: LabelSet | None) -> None:
        """The labels an exam carries itself (``labels_from_exam(exam)``), or None."""
        if labels is None:
            self.exam_labels.pop(row, None)
        else:
            self.exam_labels[row] = labels

    def sources_for(self, source: Path | None, row: int | None = None) -> list[LabelSet]:
        """Label sets that apply to an exam of file ``source`` (its own labels first)."""
        out: list[LabelSet] = []
        if row is not None and row in self.exam_labels:
            out.append(self.exam_labels[row])
        out.extend(a.labels for a in self.attached if a.applies_to(source))
        return out

    def compare(
        self,
        source: Path | None,
        exam_id: str | None,
        index: int,
        *,
        row: int | None = None,
        decisions: np.ndarray | None = None,
        probabilities: np.ndarray | None = None,
        model_name: str = "Model",
        classes: Sequence[str] = CLASSES,
    ) -> ExamComparison:
        """:func:`~ecgviewer.labels.compare_exam` over the sources that apply to this exam, rows
        the model's ``classes`` (-1 where a source lacks one: see
        :func:`~ecgviewer.viewer.model_classes.compare_for_classes`).

        An exam's own labels (one row) are matched whatever its position in the file."""
        sets = self.sources_for(source, row)
        own = self.exam_labels.get(row) if row is not None else None
        if own is not None and sets and sets[0] is own:
            sets = [_one_row_for(own, exam_id, index), *sets[1:]]
        return compare_for_classes(
            exam_id,
            index,
            sets,
            classes,
            decisions=decisions,
            probabilities=probabilities,
            model_name=model_name,
        )

    def agreement(
        self,
        n_rows: int,
        row_keys: Callable[[int], tuple[Path | None, str | None, int]],
        decisions: np.ndarray,
        analysed: np.ndarray,
        classes: Sequence[str] = CLASSES,
        rows: Sequence[int] | None = None,
    ) -> AgreementColumn:
        """Agreement of the model with the reference for every row (or ``rows``).

        Args:
            n_rows: N, the number of workspace rows.
            row_keys: row → (source file, exam id, index in the file); cheap (no samples read).
            decisions: (N, C) bool model decisions; analysed: (N,) bool rows with a prediction.
            classes: the model's class names (C), the decision columns.
        """
        classes = tuple(classes)
        n_classes = len(classes)
        col = AgreementColumn(labelled=np.zeros(n_rows, dtype=bool), disagrees=np.zeros(n_rows, dtype=bool))
        if not self.attached and not self.exam_labels:
            return col
        todo = range(n_rows) if rows is None else rows
        for r in todo:
            source, exam_id, index = row_keys(r)
            sets = self.sources_for(source, r)
            if not sets:
                continue
            comp = self.compare(source, exam_id, index, row=r, classes=classes)
            if not comp.columns:
                continue
            col.labelled[r] = True
            ref = comp.reference or comp.columns[0]
            col.references[r] = ref
            refv = comp.values[:, comp.columns.index(ref)]
            if not bool(analysed[r]):
                pos = [c for c, v in zip(classes, refv, strict=False) if v == 1]
                col.texts[r] = f"{ref}: " + (", ".join(pos) if pos else none_of_text(classes))
                col.details[r] = f"Not analysed yet. {ref}: " + (
                    ", ".join(pos) if pos else none_of_text(classes) + " classes"
                )
                continue
            d = np.asarray(decisions[r], dtype=bool)
            diff = [
                (c, bool(d[k]), int(refv[k]))
                for k, c in enumerate(classes)
                if refv[k] >= 0 and bool(d[k]) != bool(refv[k] == 1)
            ]
            if diff:
                col.disagrees[r] = True
                col.texts[r] = "differs: " + ", ".join(c for c, _, _ in diff)
                col.details[r] = "<br>".join(
                    f"{html.escape(c)}: model {'yes' if m else 'no'}, "
                    f"{html.escape(ref)} {'yes' if v == 1 else 'no'}"
                    for c, m, v in diff
                )
            else:
                known = int((refv >= 0).sum())
                if known == 0:  # the source labels none of the model's classes: nothing to agree on
                    col.texts[r] = f"{ref}: n/a"
                    col.details[r] = (
                        f"{html.escape(ref)} labels none of the model's classes "
                        f"({html.escape(', '.join(classes))})"
                    )
                    continue
                col.texts[r] = "agrees" if known == n_classes else f"agrees ({known} of {n_classes} known)"
                col.details[r] = f"The model agrees with {html.escape(ref)} on the {known} classes it labels."
        return col


def _renamed(labels: LabelSet, name: str) -> LabelSet:
    from dataclasses import replace

    return replace(labels, name=name)


def _one_row_for(own: LabelSet, exam_id: str | None, index: int) -> LabelSet:
    """An exam's own one-row LabelSet keyed so that it matches the exam (id or position)."""
    if len(own) != 1:
        return own
    if exam_id:
        return _replace_ids(own, [exam_id])
    return own if index == 0 else _replace_ids(own, None, index)


def _replace_ids(own: LabelSet, ids: list[str] | None, index: int = 0) -> LabelSet:
    from dataclasses import replace

    if ids is not None:
        return replace(own, exam_ids=ids, alias_ids={})
    values = np.full((index + 1, K), -1, dtype=np.int8)
    values[index] = own.values[0]
    others = [[] for _ in range(index)] + [list(own.other_findings[0])]
    return replace(own, values=values, exam_ids=None, other_findings=others, alias_ids={})


# --------------------------------------------------------------------------- widgets


def wrap_header(name: str, width: int = 12) -> str:
    """Break a long column name onto two lines at the space nearest its middle."""
    if len(name) <= width or " " not in name:
        return name
    spaces = [i for i, ch in enumerate(name) if ch == " "]
    cut = min(spaces, key=lambda i: abs(i - len(name) / 2))
    return name[:cut] + "\n" + name[cut + 1 :]


def _cell_text(v: int, cls: str | None = None) -> str:
    if int(v) < 0 and cls is not None and not is_paper_class(cls):
        return "n/a"  # label sources know the paper's six: a model's own class is not available
    return {1: "yes", 0: "no"}.get(int(v), "unknown")


class ComparisonTable(QTableWidget):
    """Rows the model's classes; columns the model and each label source (see module docstring)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(K, 0, parent)
        self.comparison: ExamComparison | None = None
        self.classes: tuple[str, ...] = ()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setWordWrap(True)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setMinimumSectionSize(40)
        self.set_classes(CLASSES)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._fit_height()

    def set_classes(self, classes: Sequence[str]) -> None:
        """The rows: the model's classes."""
        classes = tuple(classes)
        if classes == self.classes:
            return
        self.classes = classes
        self.setRowCount(len(classes))
        self.setVerticalHeaderLabels(list(classes))
        for k, c in enumerate(classes):
            item = self.verticalHeaderItem(k)
            if item is not None:
                definition = class_definition(c)
                item.setToolTip(f"{class_name(c)}: {definition}" if definition else class_name(c))
        self._fit_height()

    def _fit_height(self) -> None:
        header = self.horizontalHeader().sizeHint().height() if self.columnCount() else 0
        rows = max(1, self.rowCount())
        h = header + self.verticalHeader().defaultSectionSize() * rows + 2 * self.frameWidth() + 1
        content = self.verticalHeader().width() + sum(self.columnWidth(j) for j in range(self.columnCount()))
        if content > self.width() - 2 * self.frameWidth():
            h += self.horizontalScrollBar().sizeHint().height()
        self.setFixedHeight(h)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit_height()

    def cell_text(self, cls: str, column: str) -> str:
        """The text shown for one class and column (for tests and copy)."""
        if self.comparison is None:
            return ""
        item = self.item(self.classes.index(cls), list(self.comparison.columns).index(column))
        return "" if item is None else item.text()

    def is_highlighted(self, cls: str, column: str) -> bool:
        if self.comparison is None:
            return False
        return bool(
            self.comparison.disagrees[self.classes.index(cls), list(self.comparison.columns).index(column)]
        )

    def set_comparison(
        self,
        comp: ExamComparison | None,
        *,
        thresholds: np.ndarray | None = None,
        model_column: bool = True,
        classes: Sequence[str] | None = None,
    ) -> None:
        """Fill the table (None: empty). ``model_column``: the first column is the model's;
        ``classes``: the row names (default: the paper's six, as many as the comparison has)."""
        self.comparison = comp
        self.clearContents()
        if comp is None:
            self.setColumnCount(0)
            return
        if classes is None:
            classes = CLASSES[: comp.values.shape[0]]
        self.set_classes(classes)
        cols = list(comp.columns)
        self.setColumnCount(len(cols))
        has_model = model_column and comp.probabilities is not None and bool(cols)
        for j, name in enumerate(cols):
            model_col = j == 0 and has_model
            label = "Model" if model_col else wrap_header(short_name(name), 9)
            if name == comp.reference:
                label += "\n(reference)"
            elif model_col:
                label += "\n(probability)"
            head = QTableWidgetItem(label)
            head.setToolTip(f"{name}: probability and decision" if model_col else name)
            if name == comp.reference:
                f = QFont(self.font())
                f.setBold(True)
                head.setFont(f)
                head.setToolTip(
                    f"{name}: the reference the other columns are compared with "
                    "(the gold standard when loaded, else the first label source)"
                )
            self.setHorizontalHeaderItem(j, head)
        bold = QFont(self.font())
        bold.setBold(True)
        ref_j = cols.index(comp.reference) if comp.reference in cols else None
        for k, cls in enumerate(self.classes[: comp.values.shape[0]]):
            for j, name in enumerate(cols):
                v = int(comp.values[k, j])
                if j == 0 and has_model:
                    p = float(comp.probabilities[k])
                    text = f"{p:.3f}  {_cell_text(v)}"
                    tip = f"{cls}: probability {p:.3f}"
                    if thresholds is not None and k < len(thresholds):
                        tip += f", threshold {float(thresholds[k]):.3f}"
                    tip += f" → {'positive' if v == 1 else 'negative'}"
                else:
                    text = _cell_text(v, cls)
                    state = "present" if v == 1 else "absent" if v == 0 else "unknown"
                    if text == "n/a":
                        state = "not available (the source does not label this class)"
                    tip = f"{name}: {cls} {state}"
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if v == 1:
                    item.setForeground(QBrush(POSITIVE_FG))
                    item.setFont(bold)
                elif v < 0:
                    item.setForeground(QBrush(UNKNOWN_FG))
                if comp.disagrees[k, j]:
                    item.setBackground(QBrush(DISAGREE_BG))
                    item.setFont(bold)
                    rv = int(comp.values[k, ref_j]) if ref_j is not None else -1
                    tip += f"; differs from {comp.reference} ({_cell_text(rv)})"
                elif j == ref_j:
                    item.setBackground(QBrush(REFERENCE_BG))
                item.setToolTip(tip)
                self.setItem(k, j, item)
        self.resizeColumnsToContents()
        self._fit_height()


class LabelsPanel(QWidget):
    """The per-exam comparison: summary, table, other findings, the sources and "Load labels…".

    Signals:
        load_requested(): the user pressed "Load labels…" (the main window opens the dialog).
    """

    load_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(5)
        top = QHBoxLayout()
        top.addWidget(QLabel("<b>Labels</b>"), 1)
        self.load_button = QPushButton("Load labels…")
        self.load_button.setToolTip("Attach a label file (annotator CSV, SPH metadata.csv or a generic CSV)")
        self.load_button.clicked.connect(self.load_requested)
        top.addWidget(self.load_button)
        layout.addLayout(top)
        self.summary = QLabel("No labels for this exam.")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.summary)
        self.table = ComparisonTable()
        layout.addWidget(self.table)
        self.others = QLabel("")
        self.others.setWordWrap(True)
        self.others.setTextFormat(Qt.TextFormat.RichText)
        self.others.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.others)
        self.sources = QLabel("")
        self.sources.setWordWrap(True)
        self.sources.setStyleSheet("color:#607d8b; font-size:small;")
        self.sources.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.sources)
        layout.addStretch(1)
        self.comparison: ExamComparison | None = None

    def set_comparison(
        self,
        comp: ExamComparison | None,
        *,
        thresholds: np.ndarray | None = None,
        sources: Sequence[LabelSet] = (),
        classes: Sequence[str] | None = None,
    ) -> None:
        """Show one exam's comparison (None or no columns: "no labels"); ``classes``: its rows
        (the model's classes; default the paper's six)."""
        self.comparison = comp
        has_model = comp is not None and comp.probabilities is not None
        if comp is None or comp.values.shape[1] <= (1 if has_model else 0):
            self.table.set_comparison(None)
            self.summary.setText(
                "No label source has this exam. Labels beside the opened file are found "
                "automatically; use <i>Load labels…</i> to attach more."
            )
            self.table.setVisible(False)
            self.others.setText("")
        else:
            self.table.setVisible(True)
            self.table.set_comparison(comp, thresholds=thresholds, classes=classes)
            self.summary.setText(summary_text(comp, self.table.classes))
            self.others.setText(_others_html(comp))
        self._set_sources(sources)

    def _set_sources(self, sources: Sequence[LabelSet]) -> None:
        if not sources:
            self.sources.setText("")
            return
        lines = []
        for ls in sources:
            where = f" ({html.escape(ls.source.name)})" if ls.source is not None else ""
            lines.append(f"{html.escape(ls.name)}{where}")
        self.sources.setText("Label sources: " + "; ".join(lines))
        self.sources.setToolTip("\n".join(ls.describe() for ls in sources))


def summary_text(comp: ExamComparison, classes: Sequence[str] | None = None) -> str:
    """One rich-text sentence: does the model agree with the reference, and who else differs
    (``classes``: the comparison's rows, default the paper's six)."""
    classes = tuple(classes) if classes is not None else CLASSES[: comp.values.shape[0]]
    cols = list(comp.columns)
    ref = comp.reference
    parts: list[str] = []
    if ref is None:
        return "No reference."
    has_model = comp.probabilities is not None and cols and cols[0] != ref
    if has_model:
        diff = [classes[k] for k in np.flatnonzero(comp.disagrees[:, 0])]
        ref_j = cols.index(ref)
        known = [c for k, c in enumerate(classes) if comp.values[k, ref_j] >= 0]
        if not known:
            parts.append(
                f"The {html.escape(ref)} labels none of the model's classes "
                f"({html.escape(', '.join(classes))}): not available."
            )
        elif diff:
            parts.append(
                f"<b style='color:#b71c1c'>The model differs from the {html.escape(ref)}</b> on "
                + ", ".join(html.escape(c) for c in diff)
                + "."
            )
        else:
            on = "the six classes" if classes == CLASSES else ", ".join(known)
            parts.append(
                f"<b style='color:#2e7d32'>The model agrees with the {html.escape(ref)}</b> "
                f"on {html.escape(on)}."
            )
    others = [
        (name, int(comp.disagrees[:, j].sum()))
        for j, name in enumerate(cols)
        if name != ref and not (has_model and j == 0)
    ]
    if not (comp.values[:, cols.index(ref)] >= 0).any():
        others = []  # the reference knows none of these classes: nobody agrees or differs with it
    if others:
        agree = [n for n, d in others if d == 0]
        differ = [f"{n} ({d})" for n, d in others if d > 0]
        if differ:
            parts.append("Differ from the reference: " + ", ".join(html.escape(x) for x in differ) + ".")
        if agree:
            parts.append("Agree: " + ", ".join(html.escape(x) for x in agree) + ".")
    return " ".join(parts)


def _others_html(comp: ExamComparison) -> str:
    if not comp.other_findings:
        return ""
    rows = [
        f"<b>{html.escape(name)}</b>: " + ", ".join(html.escape(f) for f in found)
        for name, found in comp.other_findings.items()
    ]
    return "Other findings — " + "<br>".join(rows)


def scope_for(path: str | Path) -> tuple[Path, ...]:
    """The scope of labels discovered for an opened file or folder: the folder itself (a file's
    parent)."""
    p = Path(path)
    return (_resolved(p if p.is_dir() else p.parent),)


def describe_store(store: LabelStore) -> list[str]:
    """One line per attached source (for menus and the status bar)."""
    out = []
    for a in store.attached:
        scope = "all open exams" if a.scope is None else ", ".join(s.name or str(s) for s in a.scope)
        out.append(f"{a.labels.describe()} — applies to {scope}")
    return out


__all__ = [
    "AgreementColumn",
    "AttachedLabels",
    "ComparisonTable",
    "LabelStore",
    "LabelsPanel",
    "describe_store",
    "scope_for",
    "summary_text",
]
