"""Exam → Set Statistics… (Ctrl+T): the paper's comparison over the open exams.

:class:`SetStatistics` owns the action and the :class:`~ecgviewer.ui.setstats.SetStatsDialog`
(Table 2, kappa, McNemar, precision-recall curves). Its input is every open exam's decisions
and probabilities (from the workspace) and the label sources of the Labels dock; it refreshes
when labels are added and closes when every exam is closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QTextBrowser

from ecgviewer.classes import CLASSES
from ecgviewer.ui.labels_dock import row_key
from ecgviewer.ui.setstats import SetStatsDialog, SetStatsInput


def six_from_model(decisions: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """(M, C) decisions for a model's classes → (M, 6) in the paper's order, -1 where it lacks one."""
    decisions = np.asarray(decisions)
    out = np.full((decisions.shape[0], len(CLASSES)), -1, dtype=np.int8)
    lookup = {str(c).lower(): k for k, c in enumerate(classes)}
    for j, c in enumerate(CLASSES):
        k = lookup.get(c.lower())
        if k is not None:
            out[:, j] = decisions[:, k]
    return out


class SetStatistics(QObject):
    """The set statistics of one main window (``window.set_statistics``).

    Args:
        window: the main window.
        label_sources: its :class:`~ecgviewer.ui.labels_dock.LabelsDock` (the label store).
    """

    def __init__(self, window: Any, label_sources: Any) -> None:
        super().__init__(window)
        self.w = window
        self.label_sources = label_sources
        self.dialog: SetStatsDialog | None = None
        self.act_setstats = window.make_action(
            "Set &Statistics…",
            self.show_setstats,
            "Ctrl+T",
            tip="The paper's comparison over the open exams: Table 2, kappa, McNemar, "
            "precision-recall curves",
        )
        window.register_action(self.act_setstats, "exam")
        label_sources.labels_changed.connect(self._on_labels_changed)
        window.exams_closed.connect(self._on_exams_closed)

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
            store=self.label_sources.store,
            rows=list(range(n)),
            model_name=label,
            thresholds=np.asarray(ws.thresholds),
            classes=tuple(ws.classes),  # the model's: labels are aligned to them by name
        )

    def show_setstats(self) -> SetStatsDialog:
        """Open (or raise) the Set statistics window and compute over the open exams."""
        if self.dialog is None:
            self.dialog = SetStatsDialog(
                self.w, provider=self.setstats_input, runner=self.label_sources.runner
            )
            self.dialog.analyse_requested.connect(self.w.analyse_all)
            self.reading_view = QTextBrowser()
            self.reading_view.setToolTip(
                "Readers' own reads (Read dock): F1 and kappa against the reference, kappa between "
                "readers and with the model, and the F1 change from blinded to revised reads"
            )
            self.dialog.tabs.addTab(self.reading_view, "Reading study")
            self.dialog.computed.connect(self._fill_reading_study)
        dlg = self.dialog
        dlg.show()
        dlg.raise_()
        if len(self.w.ws):
            dlg.compute()
        else:
            dlg.status.setText("No exam open.")
        return dlg

    def reading_study(self, reference: str) -> Any:
        """The readers' comparison over the open exams (:func:`ecgviewer.reads.reading_study`),
        or None without readers."""
        from ecgviewer.reads import reading_study
        from ecgviewer.ui.setstats import collect_six

        session = self.w.viewer.reading
        readers = session.merged_readers()
        if not readers:
            return None
        inp = self.setstats_input()
        keys = [session.row_key(r)[1] for r in range(len(inp))]
        # reads record the paper's six classes: the reference and the network on those six (a
        # class the model lacks is not available, -1)
        gold = collect_six(inp).get(reference)
        network = six_from_model(inp.decisions, inp.classes)
        return reading_study(keys, readers, gold=gold, network=network, reference=reference)

    def _fill_reading_study(self, stats: Any) -> None:
        study = self.reading_study(stats.evaluation.reference)
        if study is None:
            self.reading_view.setMarkdown(
                "No reader has read these exams yet: use the **Read** dock (View → Blinded Reading "
                "for a reading study)."
            )
            return
        self.reading_view.setMarkdown(study.markdown(self.w.ws.model_label or "Model"))

    def _on_labels_changed(self) -> None:
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.refresh_input()

    def _on_exams_closed(self) -> None:
        if self.dialog is not None:
            self.dialog.close()
