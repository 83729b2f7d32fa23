"""The Explanation dock: SHAP saliency of the exam on screen, drawn on the lead grid.

:class:`ExplanationDock` owns the :class:`~ecgviewer.ui.saliency_panel.SaliencyPanel` in a
dock, its actions — Exam → Explain (E), View → SHAP Heatmap (H, also on the toolbar) — and
their settings. The heatmap follows the class picked in the findings panel; a new exam or a
new model clears it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt

from ecgviewer.ui import settings as S  # noqa: N812
from ecgviewer.ui.saliency_panel import SaliencyPanel
from ecgviewer.ui.workers import Task, TaskRunner

HEATMAP_ON = "explain/heatmap"
HEATMAP_OPACITY = "explain/opacity"
SEGMENTS = "explain/segments"


class ExplanationDock(QObject):
    """The explanation feature of one main window (``window.explanation``)."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.w = window
        s = window.settings
        self.saliency = SaliencyPanel(runner=TaskRunner(1, self))
        if window.interactive:  # --screenshot: defaults, settings untouched
            self.saliency.set_heatmap_on(S.get_bool(s, HEATMAP_ON, True))
            self.saliency.set_opacity(S.get_float(s, HEATMAP_OPACITY, 0.65))
            self.saliency.set_segments(int(S.get_float(s, SEGMENTS, 32)))
        self.saliency.attach_grid(window.grid)
        self.dock = window.add_panel(
            "Explanation", self.saliency, Qt.DockWidgetArea.RightDockWidgetArea, scroll=True
        )

        window.exam_shown.connect(lambda _exam: self.saliency.clear())
        window.prediction_shown.connect(self._on_prediction_shown)
        window.model_changed.connect(lambda _m: self.saliency.clear())
        window.exams_closed.connect(self.saliency.clear)
        window.findings.class_selected.connect(self.saliency.set_selected_class)
        self.saliency.class_changed.connect(self._mark_findings_class)
        self.saliency.error.connect(
            lambda text: window.statusBar().showMessage(f"Explanation failed: {text}", 10000)
        )
        self.saliency.overlay_changed.connect(self._save_settings)
        self.saliency.saliency_changed.connect(lambda _s: self._sync_heatmap_action())

        self.act_explain = window.make_action(
            "E&xplain (SHAP)",
            self.explain,
            "E",
            tip="Compute which stretches of which leads drove each finding (E)",
        )
        self.act_heatmap = window.make_action(
            "SHAP &Heatmap",
            self.saliency.set_heatmap_on,
            "H",
            checkable=True,
            tip="Show the explanation of the selected finding behind the traces (H)",
        )
        self.act_heatmap.setChecked(self.saliency.heatmap_on)
        self.saliency.show_check.toggled.connect(self._sync_heatmap_action)
        window.register_action(self.act_explain, "exam")
        window.register_action(self.act_heatmap, "view")
        window.register_action(self.act_heatmap, "toolbar")

    def _sync_heatmap_action(self, *_: Any) -> None:
        on = self.saliency.heatmap_on
        if self.act_heatmap.isChecked() != on:
            self.act_heatmap.setChecked(on)

    def _save_settings(self) -> None:
        if not self.w.interactive:
            return
        s = self.w.settings
        s.setValue(HEATMAP_ON, self.saliency.heatmap_on)
        s.setValue(HEATMAP_OPACITY, self.saliency.opacity)
        s.setValue(SEGMENTS, self.saliency.segments)

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

    def _mark_findings_class(self, cls: str) -> None:
        """Highlight the explained class in the findings panel (without re-emitting)."""
        f = self.w.findings
        f.selected_class = cls
        for bar in f.bars:
            bar.selected = bar.cls == cls
            bar.update()

    def explain(self) -> Task | None:
        """Explain the exam on screen (shows the Explanation dock)."""
        self.dock.show()
        self.dock.raise_()
        task = self.saliency.explain()
        if task is None:
            self.w.statusBar().showMessage("Open and analyse an exam first", 4000)
        return task

    def shown_saliency(self) -> Any | None:
        """The explanation drawn on the grid (None when there is none or the heatmap is off)."""
        return self.saliency.saliency if self.saliency.heatmap_on else None
