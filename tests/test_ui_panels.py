"""The saliency panel: heat strips in exam time, the heatmap on the lead grid, the controls, the worker."""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from ecgviewer.classes import CLASSES
from ecgviewer.errors import Cancelled
from ecgviewer.explain import Saliency, segment_edges
from ecgviewer.leads import LEADS
from ecgviewer.preprocess import to_model_input
from ecgviewer.synth import synth_exam
from ecgviewer.ui.findings import FindingsPanel
from ecgviewer.ui.leadgrid import LeadGrid
from ecgviewer.ui.saliency_panel import (
    SaliencyPanel,
    apply_heatmap,
    budget_for,
    diverging_lut,
    heatmap_strips,
)

SEG, LEAD = 18, "V1"  # input 5.76–6.08 s: inside V1's cell in every layout


def _saliency(
    report, *, seg: int = SEG, lead: str = LEAD, cls: int = 1, value: float = 0.2, probabilities=None
) -> Saliency:
    """Only (class cls, lead, segment seg) carries a value; everything else 0."""
    values = np.zeros((6, 12, 32), dtype=np.float32)
    values[cls, LEADS.index(lead), seg] = value
    values[cls, LEADS.index("II"), 3] = -value / 2
    probs = np.array(
        [0.05, 0.9, 0.02, 0.3, 0.1, 0.6] if probabilities is None else probabilities, dtype=np.float32
    )
    sl = report.signal_slice
    return Saliency(
        values=values,
        segment_edges=segment_edges(4096, 32),
        base_values=probs - values.sum(axis=(1, 2)),
        probabilities=probs,
        classes=CLASSES,
        offset_s=report.offset_s,
        signal_start=sl.start,
        signal_stop=sl.stop,
        thresholds=np.array([0.124, 0.07, 0.05, 0.278, 0.39, 0.174], dtype=np.float32),
        model_name="fake",
        model_version="0",
        n_evaluations=7,
    )


@pytest.fixture(scope="module")
def long_exam():
    """15 s at 500 Hz: the network sees the centred 10.24 s (offset 2.38 s)."""
    exam = synth_exam(["RBBB"], duration_s=15.0, fs=500.0, seed=1)
    x, report = to_model_input(exam)
    return exam, x, report


@pytest.fixture(scope="module")
def short_exam():
    """8 s at 500 Hz: zero-padded, negative offset."""
    exam = synth_exam([], duration_s=8.0, fs=500.0, seed=2)
    x, report = to_model_input(exam)
    return exam, x, report


def _nonzero_span(strip) -> tuple[float, float]:
    nz = np.flatnonzero(strip.values)
    return strip.t0 + nz[0] * strip.dt, strip.t0 + (nz[-1] + 1) * strip.dt


@pytest.mark.parametrize("which", ["long_exam", "short_exam"])
def test_strips_sit_at_the_segment_in_original_time(request, which):
    _exam, _x, report = request.getfixturevalue(which)
    sal = _saliency(report)
    strips = heatmap_strips(sal, "RBBB", report)
    assert set(strips) == set(LEADS)
    s = strips[LEAD]
    edges = sal.segment_edges
    lo, hi = _nonzero_span(s)
    assert lo == pytest.approx(report.offset_s + edges[SEG] / 400.0)
    assert hi == pytest.approx(report.offset_s + edges[SEG + 1] / 400.0)
    assert s.levels == (pytest.approx(-0.2), pytest.approx(0.2))  # symmetric, max |value| of the class
    assert not strips["I"].values.any()
    # padding carries no colour
    sl = report.signal_slice
    assert not s.values[: sl.start].any() and not s.values[sl.stop :].any()
    if which == "short_exam":
        assert report.offset_s < 0 and sl.start > 0


def test_heatmap_on_the_grid_follows_layouts(qtbot, long_exam):
    exam, x, report = long_exam
    grid = LeadGrid()
    qtbot.addWidget(grid)
    grid.resize(1200, 800)
    grid.set_exam(exam, (x, report))
    sal = _saliency(report)
    panel = SaliencyPanel()
    qtbot.addWidget(panel)
    panel.attach_grid(grid)
    panel.set_context(object(), x, report, probabilities=sal.probabilities, thresholds=sal.thresholds)
    panel.set_selected_class("RBBB")
    panel.set_saliency(sal)
    t_lo = report.offset_s + sal.segment_edges[SEG] / 400.0
    t_hi = report.offset_s + sal.segment_edges[SEG + 1] / 400.0
    for layout in ("3x4", "12x1", "6x2"):
        grid.set_layout(layout)
        cell = grid.cell(LEAD)
        assert cell is not None and cell.overlay is not None, layout
        img = cell.overlay
        # behind the trace, inside the lead's group (above the paper)
        assert img.zValue() < cell.curve.zValue()
        assert img.parentItem() is cell.group
        assert img.zValue() > grid.paper.zValue()
        # the red pixels lie over the segment's stretch of the exam on paper
        rect = img.mapRectToParent(img.boundingRect())
        data = img.image[:, 0]
        spec = cell.spec
        n = len(data)
        nz = np.flatnonzero(data)
        x_left = rect.left() + nz[0] * rect.width() / n
        x_right = rect.left() + (nz[-1] + 1) * rect.width() / n
        t_left = spec.t0 + x_left - spec.x0 + 0.5 / 400.0
        t_right = spec.t0 + x_right - spec.x0 + 0.5 / 400.0
        if spec.t0 <= t_lo and t_hi <= spec.t1:
            assert t_left == pytest.approx(t_lo, abs=1e-6)
            assert t_right == pytest.approx(t_hi, abs=1e-6)
        # vertically it spans the lead's row
        assert rect.height() == pytest.approx(spec.height)
    # the rhythm strip (3x4) shows the overlay over the network's window only
    grid.set_layout("3x4")
    rhythm = grid.cell("II", rhythm=True)
    assert rhythm is not None and rhythm.overlay is not None
    rect = rhythm.overlay.mapRectToParent(rhythm.overlay.boundingRect())
    assert rect.left() >= rhythm.spec.x0 + report.offset_s - rhythm.spec.t0 - 0.01
    assert rect.right() <= rhythm.spec.x0 + report.offset_s + 10.24 - rhythm.spec.t0 + 0.01
    # zoom keeps the overlay in paper coordinates (nothing to redraw)
    before = grid.cell(LEAD).overlay.mapRectToParent(grid.cell(LEAD).overlay.boundingRect())
    grid.zoom_by(2.0)
    after = grid.cell(LEAD).overlay.mapRectToParent(grid.cell(LEAD).overlay.boundingRect())
    assert before == after
    # off, then on; opacity scales the colour table's alpha
    panel.set_heatmap_on(False)
    assert all(c.overlay is None for c in grid.cells)
    panel.set_heatmap_on(True)
    panel.set_opacity(0.3)
    lut = grid.cell(LEAD).overlay.lut
    assert int(np.asarray(lut)[:, 3].max()) == int(0.3 * 255)
    # another class: the heatmap of the lead with a value moves
    panel.set_selected_class("AF")  # all zero for AF in this saliency
    assert not grid.cell(LEAD).overlay.image.any()


def test_apply_heatmap_clears(qtbot, short_exam):
    exam, x, report = short_exam
    grid = LeadGrid()
    qtbot.addWidget(grid)
    grid.set_exam(exam, (x, report))
    strips = apply_heatmap(grid, _saliency(report), "RBBB", report)
    assert len(strips) == 12 and grid.cell(LEAD).overlay is not None
    assert apply_heatmap(grid, None, "RBBB") == {}
    assert all(c.overlay is None for c in grid.cells)


def test_lut_is_diverging_and_transparent_at_zero():
    lut = diverging_lut(257, opacity=1.0)
    assert lut[128, 3] == 0
    assert lut[0, 2] > lut[0, 0] and lut[-1, 0] > lut[-1, 2]  # blue low, red high
    assert lut[0, 3] == lut[-1, 3] == 255
    assert diverging_lut(257, opacity=0.5)[-1, 3] == 127


def test_panel_controls_bars_and_legend(qtbot, long_exam):
    _, x, report = long_exam
    sal = _saliency(report, probabilities=[0.05, 0.2, 0.02, 0.3, 0.1, 0.6])
    panel = SaliencyPanel()
    qtbot.addWidget(panel)
    panel.set_context(object(), x, report, probabilities=sal.probabilities, thresholds=sal.thresholds)
    # default: the most probable positive class (ST 0.6 ≥ 0.174)
    assert panel.selected_class == "ST"
    findings = FindingsPanel()
    qtbot.addWidget(findings)
    findings.class_selected.connect(panel.set_selected_class)
    findings._on_bar_clicked("RBBB")
    assert panel.selected_class == "RBBB"
    panel.set_saliency(sal)
    k = CLASSES.index("RBBB")
    np.testing.assert_allclose(panel.bars.importance(), sal.lead_importance()[k], rtol=1e-6)
    assert panel.bars.raised[LEADS.index(LEAD)] == pytest.approx(0.2)
    assert panel.bars.lowered[LEADS.index("II")] == pytest.approx(0.1)
    assert panel.legend.tick_labels() == ("−0.200", "0", "+0.200")
    # the user's choice sticks on the next exam
    panel.set_context(object(), x, report, probabilities=sal.probabilities, thresholds=sal.thresholds)
    assert panel.selected_class == "RBBB" and panel.saliency is None
    assert not panel.bars.importance().any()
    assert budget_for(32) == 512 and budget_for(128) == 2048


def test_explain_runs_off_the_ui_thread_with_progress(qtbot, long_exam):
    _, x, report = long_exam
    sal = _saliency(report)
    threads = []

    def fake(model, xx, *, segments, max_evals, report, progress, cancel):
        threads.append(threading.current_thread())
        assert segments == 64 and max_evals == budget_for(64)
        for i in range(3):
            progress(i + 1, 3)
        return sal

    panel = SaliencyPanel(explain_fn=fake)
    qtbot.addWidget(panel)
    panel.set_context(object(), x, report)
    panel.set_segments(64)
    with qtbot.waitSignal(panel.saliency_changed, timeout=5000) as blocker:
        panel.explain()
    assert blocker.args[0] is sal and panel.saliency is sal
    assert threads and threads[0] is not threading.main_thread()
    assert "7 evaluations" in panel.status.text()
    assert panel.explain_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_explain_cancel_and_stale_results(qtbot, long_exam):
    _, x, report = long_exam
    started = threading.Event()

    def slow(model, xx, *, segments, max_evals, report, progress, cancel):
        started.set()
        while not cancel():
            threading.Event().wait(0.01)
        raise Cancelled("stopped")

    panel = SaliencyPanel(explain_fn=slow)
    qtbot.addWidget(panel)
    panel.set_context(object(), x, report)
    task = panel.explain()
    assert task is not None and started.wait(5)
    assert panel.cancel_button.isEnabled() and not panel.explain_button.isEnabled()
    with qtbot.waitSignal(task.signals.finished, timeout=5000):
        panel.cancel_button.click()
    assert panel.saliency is None and not panel.is_running()

    # a result arriving after the exam changed is dropped
    gate = threading.Event()
    sal = _saliency(report)

    def gated(model, xx, **kw):
        gate.wait(5)
        return sal

    panel2 = SaliencyPanel(explain_fn=gated)
    qtbot.addWidget(panel2)
    panel2.set_context(object(), x, report)
    task = panel2.explain()
    panel2.set_context(object(), x, report)  # another exam: the running task is cancelled and ignored
    gate.set()
    qtbot.waitUntil(lambda: task.state in ("done", "cancelled"), timeout=5000)
    assert panel2.saliency is None


def test_explain_failure_is_reported(qtbot, long_exam):
    _, x, report = long_exam
    from ecgviewer.errors import ModelError

    def broken(*a, **k):
        raise ModelError("model.onnx: inference failed")

    panel = SaliencyPanel(explain_fn=broken)
    qtbot.addWidget(panel)
    panel.set_context(object(), x, report)
    with qtbot.waitSignal(panel.error, timeout=5000) as blocker:
        panel.explain()
    assert "inference failed" in blocker.args[0]
    assert "Explanation failed" in panel.status.text()
    assert panel.explain() is not None  # can try again


def test_explain_shows_a_preview_then_refines(qtbot, long_exam):
    _, x, report = long_exam
    coarse, fine = _saliency(report, value=0.1), _saliency(report, value=0.2)
    calls = []

    def fake(model, xx, *, segments, max_evals, report, progress, cancel):
        calls.append(max_evals)
        return coarse if max_evals == 16 else fine

    panel = SaliencyPanel(explain_fn=fake)
    qtbot.addWidget(panel)
    panel.preview_evals = 16
    panel.set_context(object(), x, report)
    shown = []
    panel.saliency_changed.connect(shown.append)
    panel.explain()
    qtbot.waitUntil(lambda: panel.saliency is fine and not panel.is_running(), timeout=5000)
    assert calls == [16, budget_for(32)]
    assert shown == [coarse, fine] and panel.saliency is fine
    assert "evaluations" in panel.status.text() and "refining" not in panel.status.text()
