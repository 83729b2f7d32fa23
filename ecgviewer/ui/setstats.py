"""The "Set statistics" view: the paper's comparison over the exams open in the viewer.

For the exams in the browser, their predictions and the label sources attached to them:
Table 2 (precision, recall, specificity and F1 per class × rater against the reference, with
paired bootstrap 95 % intervals), Cohen's kappa between every pair of raters, McNemar's test
between every pair, and precision-recall curves per class with each rater as a point (the
paper's Fig. 2). Computed off the UI thread; the tables export as CSV and Markdown (and the
figure as PNG) with :func:`ecgviewer.commands.evaluate.write_evaluation`.

:func:`collect_raters` and :func:`compute_set_statistics` hold no widgets.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ecgviewer.classes import CLASSES
from ecgviewer.errors import Cancelled, EcgViewerError, LabelError
from ecgviewer.metrics import METRIC_LABELS, METRICS, Evaluation, evaluate
from ecgviewer.ui.labels_panel import LabelStore
from ecgviewer.ui.workers import Task, TaskRunner
from ecgviewer.viewer.model_classes import align_raters, class_name

K = len(CLASSES)
RATER_COLORS = (
    "#1f4e9c",
    "#c0392b",
    "#2e8b57",
    "#333333",
    "#8e44ad",
    "#d35400",
    "#16a085",
    "#7f8c8d",
    "#b7950b",
    "#5d6d7e",
)
RATER_SYMBOLS = ("o", "t", "s", "d", "t1", "p", "star", "h", "t2", "+")
UNDEFINED_FG = QColor("#90a4ae")
SIGNIFICANT_BG = QColor("#fff3e0")


# --------------------------------------------------------------------------- inputs (no widgets)


@dataclass
class SetStatsInput:
    """What the set statistics are computed from: M exams of the browser.

    Attributes:
        keys: (exam id, index in its file) per exam.
        sources: the file of each exam (label sets apply by folder, see ``LabelStore``).
        decisions: (M, C) int8 model decisions 1/0, -1 where the exam was not analysed.
        probabilities: (M, C) float probabilities, NaN where not analysed.
        store: the attached label sets (and the exams' own labels, keyed by ``rows``).
        rows: the workspace row of each exam (for ``store.exam_labels``); default 0..M-1.
        model_name: the model's column name ("name version").
        thresholds: (C,) the model's thresholds (shown, and used for the PR-curve marks).
        classes: the model's C classes (the paper's six by default); label sources are aligned
            to them by name, a class they lack is not available (-1), never negative.
    """

    keys: list[tuple[str | None, int]]
    sources: list[Path | None]
    decisions: np.ndarray
    probabilities: np.ndarray
    store: LabelStore
    rows: list[int] | None = None
    model_name: str = "Model"
    thresholds: np.ndarray | None = None
    classes: tuple[str, ...] = CLASSES

    def __len__(self) -> int:
        return len(self.keys)


@dataclass
class SetStats:
    """A computed comparison and what it was computed over."""

    evaluation: Evaluation
    n_open: int
    n_compared: int
    n_analysed: int
    decisions: np.ndarray  # (n_compared, C) the model's decisions of the compared exams (-1 unknown)
    notes: list[str] = field(default_factory=list)


def collect_raters(inp: SetStatsInput) -> dict[str, np.ndarray]:
    """Every label source aligned to the M exams: {name: (M, C) int8} for the model's classes
    (-1 where the source has no row for an exam, does not apply to its folder or does not label
    the class). The exams' own labels (e.g. WFDB #Dx) are gathered under their names ("Dx (header)")."""
    return align_raters(collect_six(inp), inp.classes)


def collect_six(inp: SetStatsInput) -> dict[str, np.ndarray]:
    """Every label source aligned to the M exams in the paper's six classes: {name: (M, 6) int8}."""
    m = len(inp)
    out: dict[str, np.ndarray] = {}
    rows = inp.rows if inp.rows is not None else list(range(m))
    own: dict[str, np.ndarray] = {}
    for i, r in enumerate(rows):
        ls = inp.store.exam_labels.get(r)
        if ls is None or not len(ls):
            continue
        arr = own.setdefault(ls.name, np.full((m, K), -1, dtype=np.int8))
        arr[i] = ls.values[0]
    out.update(own)
    for a in inp.store.attached:
        arr = np.full((m, K), -1, dtype=np.int8)
        for i, ((exam_id, index), src) in enumerate(zip(inp.keys, inp.sources, strict=True)):
            if not a.applies_to(src):
                continue
            row = a.labels.row_of(exam_id, index)
            if row is not None:
                arr[i] = a.labels.values[row]
        if (arr >= 0).any():
            out[a.labels.name] = arr
    return out


def default_reference(names: Sequence[str]) -> str | None:
    """The gold standard if present, else the first source."""
    for n in names:
        if n.lower().startswith("gold"):
            return n
    return names[0] if names else None


def compute_set_statistics(
    inp: SetStatsInput,
    *,
    reference: str | None = None,
    n_resamples: int = 1000,
    seed: int = 123,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> SetStats:
    """The paper's comparison over the exams of ``inp``.

    The reference (default: the gold standard, else the first source) must label an exam for
    it to be compared; the model counts where it has analysed the exam; annotators where they
    have a row. Raises :class:`~ecgviewer.errors.LabelError` when there is nothing to compare.
    """
    raters_all = collect_raters(inp)
    if not raters_all:
        raise LabelError(
            "no label source applies to the open exams: open exams with labels beside them "
            "or use File → Load labels…"
        )
    ref_name = reference if reference in raters_all else default_reference(list(raters_all))
    assert ref_name is not None
    ref_full = raters_all.pop(ref_name)
    keep = (ref_full >= 0).any(axis=1)
    n_open, n_compared = len(inp), int(keep.sum())
    if n_compared == 0:
        if tuple(inp.classes) != CLASSES:
            raise LabelError(
                f"{ref_name} labels none of the model's classes ({', '.join(inp.classes)}) for the "
                f"{n_open} open exams: not available"
            )
        raise LabelError(f"none of the {n_open} open exams has {ref_name} labels")
    notes: list[str] = []
    if n_compared < n_open:
        notes.append(f"{n_open - n_compared} of {n_open} open exams have no {ref_name} labels (left out)")
    ref = ref_full[keep]
    dec = np.asarray(inp.decisions, dtype=np.int8)[keep]
    prob = np.asarray(inp.probabilities, dtype=np.float64)[keep]
    analysed = (dec >= 0).all(axis=1)
    n_analysed = int(analysed.sum())
    raters: dict[str, np.ndarray] = {}
    probabilities: dict[str, np.ndarray] = {}
    model = inp.model_name or "Model"
    if n_analysed:
        raters[model] = dec
        probabilities[model] = prob
        if n_analysed < n_compared:
            notes.append(
                f"{n_compared - n_analysed} of {n_compared} compared exams are not analysed by the "
                "model yet (left out of the model's scores; use Analyse all)"
            )
    else:
        notes.append(
            "no compared exam is analysed by the model yet: only the annotators are scored (use Analyse all)"
        )
    for name, arr in raters_all.items():
        a = arr[keep]
        if not (a >= 0).any():
            notes.append(f"{name}: no row for the compared exams (left out)")
            continue
        if name in raters:
            name = f"{name} (labels)"
        raters[name] = a
    if not raters:
        raise LabelError(
            f"nothing to compare with {ref_name}: analyse the exams or attach another label source"
        )
    total = len(raters)

    def step(done: int, _total: int) -> None:
        if cancel is not None and cancel():
            raise Cancelled("set statistics cancelled")
        if progress is not None:
            progress(done, total)

    step(0, total)
    ev = evaluate(
        ref,
        raters,
        probabilities=probabilities,
        reference_name=ref_name,
        classes=tuple(inp.classes),
        n_resamples=max(0, int(n_resamples)),
        seed=seed,
        progress=step,
    )
    if inp.thresholds is not None and model in raters:
        ev.thresholds[model] = np.asarray(inp.thresholds, dtype=np.float64)
    ev.notes = notes + ev.notes
    return SetStats(ev, n_open, n_compared, n_analysed, dec if n_analysed else np.full_like(dec, -1), notes)


# --------------------------------------------------------------------------- formatting


def _num(x: float) -> str:
    return "undefined" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def score_cell(value: float, low: float, high: float) -> str:
    """ "0.912 (0.853–0.961)", "0.912" without an interval, "undefined" for NaN."""
    if math.isnan(value):
        return "undefined"
    if math.isnan(low) or math.isnan(high):
        return f"{value:.3f}"
    return f"{value:.3f} ({low:.3f}–{high:.3f})"


def _item(
    text: str,
    *,
    tip: str | None = None,
    align_right: bool = False,
    fg: QColor | None = None,
    bold: bool = False,
    bg: QColor | None = None,
) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if tip:
        item.setToolTip(tip)
    if fg is not None:
        item.setForeground(QBrush(fg))
    if bg is not None:
        item.setBackground(QBrush(bg))
    if bold:
        f = QFont()
        f.setBold(True)
        item.setFont(f)
    return item


def _class_columns(t: QTableWidget, classes: Sequence[str]) -> None:
    """ "Raters" and one column per class of the evaluation (the model's classes)."""
    t.setColumnCount(1 + len(classes))
    t.setHorizontalHeaderLabels(["Raters", *classes])


def _table(columns: Sequence[str]) -> QTableWidget:
    t = QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels(list(columns))
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.verticalHeader().setVisible(False)
    t.verticalHeader().setDefaultSectionSize(t.fontMetrics().height() + 6)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.setAlternatingRowColors(False)
    t.setWordWrap(False)
    return t


# --------------------------------------------------------------------------- PR curves (pyqtgraph)


SYMBOL_TEXT = {
    "o": "●",
    "t": "▼",
    "s": "■",
    "d": "◆",
    "t1": "▲",
    "p": "⬟",
    "star": "★",
    "h": "⬢",
    "t2": "▶",
    "+": "✚",
}


class PRCurvesView(QWidget):
    """Precision-recall curves per class (2 × 3), the model's curve and each rater as a point with
    its bootstrap intervals, iso-F1 lines dotted; the legend on the right."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget(show=False)
        self.graphics.setBackground("w")
        self.legend_label = QLabel("")
        self.legend_label.setTextFormat(Qt.TextFormat.RichText)
        self.legend_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.legend_label.setStyleSheet("background:white; padding:8px;")
        self.legend_label.setWordWrap(True)
        self.legend_label.setFixedWidth(220)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.graphics, 1)
        row.addWidget(self.legend_label)
        self.plots: list[pg.PlotItem] = []
        self.points: dict[str, list[tuple[float, float] | None]] = {}

    def set_evaluation(self, ev: Evaluation | None) -> None:
        self.graphics.clear()
        self.plots = []
        self.points = {}
        self.legend_label.setText("")
        if ev is None:
            return
        axis_pen = pg.mkPen("#555555")
        for k, cls in enumerate(ev.classes):
            p = self.graphics.addPlot(row=k // 3, col=k % 3)
            p.setMenuEnabled(False)
            p.setMouseEnabled(x=False, y=False)
            p.hideButtons()
            p.setRange(xRange=(0, 1.03), yRange=(0, 1.03), padding=0)
            p.showGrid(x=True, y=True, alpha=0.15)
            for ax in ("left", "bottom"):
                p.getAxis(ax).setPen(axis_pen)
                p.getAxis(ax).setTextPen(axis_pen)
            if k >= 3:
                p.setLabel("bottom", "Recall (sensitivity)")
            if k % 3 == 0:
                p.setLabel("left", "Precision (PPV)")
            for f in np.linspace(0.2, 0.9, 8):
                x = np.linspace(f / 2 + 1e-3, 1, 120)
                y = f * x / (2 * x - f)
                ok = (y >= 0) & (y <= 1.02)
                p.plot(x[ok], y[ok], pen=pg.mkPen("#c8c8c8", width=1, style=Qt.PenStyle.DotLine))
            title = f"<b>{html.escape(cls)}</b>"
            for _name, curves in ev.curves.items():
                c = curves[k]
                if c.n_positive:
                    p.plot(c.recall, c.precision, pen=pg.mkPen(RATER_COLORS[0], width=2))
                    title += f"  AUPRC {c.auprc:.2f}"
            for i, r in enumerate(ev.raters):
                rec, prec = float(ev.scores[r]["recall"][k]), float(ev.scores[r]["precision"][k])
                self.points.setdefault(r, []).append(
                    None if (math.isnan(rec) or math.isnan(prec)) else (rec, prec)
                )
                if math.isnan(rec) or math.isnan(prec):
                    continue
                color = RATER_COLORS[i % len(RATER_COLORS)]
                ci = ev.ci.get(r)
                if ci is not None:
                    lo_r, hi_r = ci["recall"][k]
                    lo_p, hi_p = ci["precision"][k]
                    if not any(math.isnan(v) for v in (lo_r, hi_r, lo_p, hi_p)):
                        err = pg.ErrorBarItem(
                            x=np.array([rec]),
                            y=np.array([prec]),
                            left=np.array([rec - lo_r]),
                            right=np.array([hi_r - rec]),
                            bottom=np.array([prec - lo_p]),
                            top=np.array([hi_p - prec]),
                            beam=0.012,
                            pen=pg.mkPen(color, width=1),
                        )
                        p.addItem(err)
                p.plot(
                    [rec],
                    [prec],
                    pen=None,
                    symbol=RATER_SYMBOLS[i % len(RATER_SYMBOLS)],
                    symbolSize=9,
                    symbolBrush=pg.mkBrush(color),
                    symbolPen=pg.mkPen("w", width=0.8),
                )
            n_pos = (
                int(ev.counts[ev.raters[0]]["tp"][k] + ev.counts[ev.raters[0]]["fn"][k]) if ev.raters else 0
            )
            n = int(ev.counts[ev.raters[0]]["n"][k]) if ev.raters else 0
            title += f"<br><span style='font-size:8pt'>{n_pos} positive of {n}</span>"
            p.setTitle(title, size="9pt", color="#222222")
            p.getViewBox().setToolTip(class_name(cls))
            self.plots.append(p)
        lines = [
            f"<span style='color:{RATER_COLORS[0]}'>━━</span> {html.escape(n)} (curve)" for n in ev.curves
        ]
        for i, r in enumerate(ev.raters):
            sym = SYMBOL_TEXT.get(RATER_SYMBOLS[i % len(RATER_SYMBOLS)], "●")
            lines.append(
                f"<span style='color:{RATER_COLORS[i % len(RATER_COLORS)]}; font-size:large'>{sym}</span> "
                f"{html.escape(r)}"
            )
        lines.append("<span style='color:#999999'>┄┄</span> iso-F1 0.2 … 0.9")
        lines.append(
            f"<br><span style='color:#555555'>Points: decisions against the {html.escape(ev.reference)}"
            + (f", bars: bootstrap {ev.level * 100:g} % intervals" if ev.ci else "")
            + "</span>"
        )
        self.legend_label.setText("<br>".join(lines))


# --------------------------------------------------------------------------- the view


class SetStatsDialog(QDialog):
    """Non-modal window with the set statistics of the open exams.

    Give it a ``provider`` returning a fresh :class:`SetStatsInput` (the main window's open exams,
    predictions and labels) or call :meth:`set_input`; :meth:`compute` runs in the background.

    Signals:
        computed(object): a :class:`SetStats` is shown.
        analyse_requested(): the user asked to analyse the open exams first.
    """

    computed = Signal(object)
    analyse_requested = Signal()

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        provider: Callable[[], SetStatsInput] | None = None,
        runner: TaskRunner | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Set statistics")
        self.setModal(False)
        self.resize(1100, 760)
        self.provider = provider
        self.runner = runner or TaskRunner(max_threads=1, parent=self)
        self.input: SetStatsInput | None = None
        self.stats: SetStats | None = None
        self.task: Task | None = None
        self._export_task: Task | None = None

        layout = QVBoxLayout(self)
        self.summary = QLabel("Compute the statistics of the open exams against a reference.")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.summary)

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Reference"))
        self.reference_combo = QComboBox()
        self.reference_combo.setMinimumContentsLength(16)
        self.reference_combo.setToolTip(
            "The labels every rater is scored against (the gold standard by default)"
        )
        controls.addWidget(self.reference_combo)
        controls.addWidget(QLabel("Bootstrap resamples"))
        self.bootstrap_spin = QSpinBox()
        self.bootstrap_spin.setRange(0, 10000)
        self.bootstrap_spin.setSingleStep(100)
        self.bootstrap_spin.setValue(1000)
        self.bootstrap_spin.setToolTip(
            "Resamples for the 95 % intervals (the paper: 1000, seed 123; 0: none)"
        )
        controls.addWidget(self.bootstrap_spin)
        self.compute_button = QPushButton("Compute")
        self.compute_button.clicked.connect(self.compute)
        controls.addWidget(self.compute_button)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        controls.addWidget(self.cancel_button)
        self.analyse_button = QPushButton("Analyse all")
        self.analyse_button.setToolTip("Run the model on every open exam first")
        self.analyse_button.clicked.connect(self.analyse_requested)
        self.analyse_button.setVisible(False)
        controls.addWidget(self.analyse_button)
        controls.addStretch(1)
        self.copy_button = QPushButton("Copy Markdown")
        self.copy_button.setToolTip("Copy Table 2, kappa and McNemar as Markdown")
        self.copy_button.clicked.connect(self.copy_markdown)
        controls.addWidget(self.copy_button)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip(
            "Write the tables (CSV, Markdown) and the PR curves (PNG) into a folder"
        )
        self.export_button.clicked.connect(self.export_dialog)
        controls.addWidget(self.export_button)
        layout.addLayout(controls)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        layout.addWidget(self.progress)

        self.tabs = QTabWidget()
        self.table2 = _table(
            ["Class", "Rater", *(METRIC_LABELS[m] for m in METRICS), "TP", "FP", "FN", "TN", "N"]
        )
        self.kappa = _table(["Raters", *CLASSES])
        self.mcnemar = _table(["Raters", *CLASSES])
        self.mcnemar.setToolTip(
            "p-value (exams only the first rater gets wrong / only the second gets wrong); "
            "ᵉ exact binomial test (fewer than 25 discordant exams), otherwise χ² without "
            "continuity correction as in the paper; p < 0.05 highlighted"
        )
        self.curves = PRCurvesView()
        self.notes = QTextBrowser()
        self.tabs.addTab(self.table2, "Table 2: scores")
        self.tabs.addTab(self.kappa, "Cohen's kappa")
        self.tabs.addTab(self.mcnemar, "McNemar")
        self.tabs.addTab(self.curves, "Precision-recall")
        self.tabs.addTab(self.notes, "Notes")
        layout.addWidget(self.tabs, 1)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self._update_enabled()

    # ------------------------------------------------------------------ input
    def set_input(self, inp: SetStatsInput) -> None:
        """Use these exams (and refresh the reference choices)."""
        self.input = inp
        names = list(collect_raters(inp))
        current = self.reference_combo.currentText()
        self.reference_combo.clear()
        self.reference_combo.addItems(names)
        pick = current if current in names else default_reference(names)
        if pick:
            self.reference_combo.setCurrentText(pick)
        analysed = int((np.asarray(inp.decisions) >= 0).all(axis=1).sum()) if len(inp) else 0
        self.analyse_button.setVisible(analysed < len(inp))
        srcs = ", ".join(html.escape(n) for n in names) or "none"
        self.summary.setText(
            f"<b>{len(inp)}</b> open exam{'s' if len(inp) != 1 else ''}, {analysed} analysed by "
            f"<b>{html.escape(inp.model_name)}</b>. Label sources: {srcs}."
        )
        self._update_enabled()

    def refresh_input(self) -> bool:
        if self.provider is not None:
            try:
                self.set_input(self.provider())
            except EcgViewerError as err:
                self.status.setText(f"<span style='color:#b71c1c'>{html.escape(str(err))}</span>")
                return False
        return self.input is not None

    # ------------------------------------------------------------------ compute
    def compute(self) -> Task | None:
        """Compute in the background (the provider is asked for the current exams first)."""
        if self.task is not None and self.task.state in ("queued", "running"):
            return self.task
        if not self.refresh_input() or self.input is None:
            return None
        inp = self.input
        reference = self.reference_combo.currentText() or None
        b = self.bootstrap_spin.value()

        def work(task: Task) -> SetStats:
            return compute_set_statistics(
                inp, reference=reference, n_resamples=b, progress=task.progress, cancel=task.cancelled
            )

        task = Task(work, name="Set statistics")
        task.signals.progress.connect(self._on_progress)
        task.signals.done.connect(self._on_done)
        task.signals.failed.connect(self._on_failed)
        task.signals.cancelled.connect(lambda: self._finish("Cancelled."))
        task.signals.finished.connect(self._update_enabled)
        self.task = task
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.status.setText(f"Computing over {len(inp)} exams with {b} bootstrap resamples…")
        self.runner.start(task, self)
        self._update_enabled()
        return task

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _on_progress(self, done: int, total: int) -> None:
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.progress.setFormat("rater %v of %m")

    def _finish(self, text: str) -> None:
        self.task = None
        self.progress.setVisible(False)
        self.status.setText(text)
        self._update_enabled()

    def _on_failed(self, err: BaseException) -> None:
        self._finish(f"<span style='color:#b71c1c'>{html.escape(str(err))}</span>")

    def _on_done(self, stats: SetStats) -> None:
        self._finish("")
        self.show_stats(stats)

    def show_stats(self, stats: SetStats) -> None:
        """Fill every tab from a computed :class:`SetStats`."""
        self.stats = stats
        ev = stats.evaluation
        ci = (
            f"bootstrap {ev.level * 100:g} % intervals, {ev.n_resamples} resamples"
            if ev.ci
            else "no intervals"
        )
        self.status.setText(
            f"{stats.n_compared} exams compared against <b>{html.escape(ev.reference)}</b> "
            f"({ci}); raters: {html.escape(', '.join(ev.raters))}."
            + (f" <span style='color:#b26a00'>{len(ev.notes)} note(s): see Notes.</span>" if ev.notes else "")
        )
        self._fill_table2(ev)
        self._fill_kappa(ev)
        self._fill_mcnemar(ev)
        self.curves.set_evaluation(ev)
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in ev.notes) or "<li>none</li>"
        curves = "".join(
            f"<li>{html.escape(name)}: "
            + "; ".join(f"{c.cls} AUPRC {_num(c.auprc)}, AUROC {_num(c.auroc)}" for c in cs)
            + "</li>"
            for name, cs in ev.curves.items()
        )
        self.notes.setHtml(
            f"<h3>Against the {html.escape(ev.reference)}</h3><ul>{notes}</ul>"
            + (f"<h3>Areas under the curves</h3><ul>{curves}</ul>" if curves else "")
            + "<p>Scores as in Ribeiro et al. (2020): an exam with an unknown label on either "
            "side is left out of that class. Undefined scores (zero denominators) say so.</p>"
        )
        self.computed.emit(stats)
        self._update_enabled()

    def _fill_table2(self, ev: Evaluation) -> None:
        rows = ev.table2_rows()
        t = self.table2
        t.setRowCount(len(rows))
        shade = QColor("#f5f7fa")
        for i, r in enumerate(rows):
            k = ev.classes.index(r["class"])
            bg = shade if k % 2 else None
            first = r["rater"] == ev.raters[0]
            t.setItem(i, 0, _item(r["class"] if first else "", tip=class_name(r["class"]), bold=True, bg=bg))
            t.setItem(i, 1, _item(r["rater"], bg=bg))
            for j, m in enumerate(METRICS):
                text = score_cell(r[m], r[f"{m}_low"], r[f"{m}_high"])
                note = r[f"{m}_note"]
                t.setItem(
                    i,
                    2 + j,
                    _item(text, tip=note or None, align_right=True, fg=UNDEFINED_FG if note else None, bg=bg),
                )
            for j, c in enumerate(("tp", "fp", "fn", "tn", "n")):
                t.setItem(i, 6 + j, _item(str(r[c]), align_right=True, bg=bg))
        t.resizeColumnsToContents()

    def _fill_kappa(self, ev: Evaluation) -> None:
        rows = ev.kappa_rows()
        t = self.kappa
        _class_columns(t, ev.classes)
        t.setRowCount(len(rows))
        for i, r in enumerate(rows):
            t.setItem(i, 0, _item(r["pair"]))
            for k, c in enumerate(ev.classes):
                v = r[c]
                t.setItem(
                    i,
                    1 + k,
                    _item(
                        _num(v),
                        align_right=True,
                        fg=UNDEFINED_FG if math.isnan(v) else None,
                        tip="undefined: both raters gave one single answer for every exam"
                        if math.isnan(v)
                        else None,
                    ),
                )
        t.resizeColumnsToContents()

    def _fill_mcnemar(self, ev: Evaluation) -> None:
        t = self.mcnemar
        _class_columns(t, ev.classes)
        t.setRowCount(len(ev.mcnemar))
        for i, (a, b, res) in enumerate(ev.mcnemar):
            t.setItem(i, 0, _item(f"{a} vs {b}", bold=a == ev.raters[0]))
            for k, cls in enumerate(ev.classes):
                p = float(res["p_value"][k])
                nb, nc = int(res["b"][k]), int(res["c"][k])
                exact = res["method"][k] == "exact binomial"
                sig = p < 0.05
                stat = float(res["statistic"][k])
                tip = (
                    f"{cls}: {nb} exams only {a} gets wrong, {nc} only {b} gets wrong; {res['method'][k]}"
                    + ("" if math.isnan(stat) else f"; χ² = {stat:.2f}")
                    + f"; exact p {float(res['p_exact'][k]):.3f}"
                    + f", χ² p (paper) {_num(float(res['p_chi2'][k]))}"
                )
                t.setItem(
                    i,
                    1 + k,
                    _item(
                        f"{p:.3f}{'ᵉ' if exact else ''} ({nb}/{nc})",
                        tip=tip,
                        align_right=True,
                        bold=sig,
                        bg=SIGNIFICANT_BG if sig else None,
                    ),
                )
        t.resizeColumnsToContents()

    # ------------------------------------------------------------------ export
    def markdown(self) -> str:
        """Table 2, kappa and McNemar as Markdown (empty before a computation)."""
        if self.stats is None:
            return ""
        from ecgviewer.commands.evaluate import kappa_markdown, mcnemar_markdown, table2_markdown

        ev = self.stats.evaluation
        notes = "".join(f"- {n}\n" for n in ev.notes)
        return (
            f"# Comparison against the {ev.reference}\n\n{self.stats.n_compared} exams. Raters: "
            f"{', '.join(ev.raters)}\n\n"
            + (f"{notes}\n" if notes else "")
            + "## Table 2\n\n"
            + table2_markdown(ev)
            + "\n## Cohen's kappa\n\n"
            + kappa_markdown(ev)
            + "\n## McNemar's test\n\n"
            + mcnemar_markdown(ev)
        )

    def copy_markdown(self) -> None:
        text = self.markdown()
        if text:
            QGuiApplication.clipboard().setText(text)
            self.status.setText("Markdown copied to the clipboard.")

    def export_dialog(self) -> None:
        if self.stats is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Export the set statistics into a folder")
        if not folder:
            return
        existing = [
            n for n in ("table2.csv", "evaluation.md", "pr_curves.png") if (Path(folder) / n).exists()
        ]
        if existing:
            answer = QMessageBox.question(
                self,
                "Replace the files?",
                f"{folder} already has {', '.join(existing)}. Replace them?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.export(folder)

    def export(self, folder: str | Path, *, figures: bool = True) -> Task | None:
        """Write every table (CSV, Markdown) and the PR-curve PNG into ``folder`` in the background."""
        if self.stats is None:
            return None
        from ecgviewer.commands.evaluate import write_evaluation

        stats = self.stats

        def work(task: Task) -> list[Path]:
            header = f"Computed in ecgviewer over {stats.n_open} open exams.\n\n"
            return write_evaluation(
                stats.evaluation,
                folder,
                figures=figures,
                header=header,
                decisions=stats.decisions if stats.n_analysed else None,
            )

        task = Task(work, name="Exporting the set statistics")
        task.signals.done.connect(
            lambda paths: self.status.setText(f"Wrote {len(paths)} files to {html.escape(str(folder))}.")
        )
        task.signals.failed.connect(
            lambda err: self.status.setText(
                f"<span style='color:#b71c1c'>Export failed: {html.escape(str(err))}</span>"
            )
        )
        self._export_task = task
        self.runner.start(task, self)
        return task

    def _update_enabled(self, *_: Any) -> None:
        running = self.task is not None and self.task.state in ("queued", "running")
        self.compute_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.export_button.setEnabled(self.stats is not None)
        self.copy_button.setEnabled(self.stats is not None)
