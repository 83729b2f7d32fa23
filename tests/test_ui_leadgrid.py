"""The lead grid: layouts, physical scale, network-input view, calipers, overlays (pytest-qt, offscreen)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPointF

from ecgviewer.leads import INDEPENDENT_LEADS, LEADS
from ecgviewer.preprocess import to_model_input
from ecgviewer.synth import synth_exam
from ecgviewer.ui.leadgrid import (
    COLUMNS,
    PAGE_SECONDS,
    LeadGrid,
    Measurement,
    compute_layout,
)

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def exam():
    return synth_exam(["RBBB"], fs=500.0, duration_s=10.0, seed=3)


@pytest.fixture
def grid(qtbot, exam):
    g = LeadGrid()
    qtbot.addWidget(g)
    g.resize(1400, 800)
    g.show()
    qtbot.waitExposed(g)
    g.set_exam(exam, to_model_input(exam))
    return g


def _drawn(curve) -> tuple[np.ndarray, np.ndarray]:
    x, y = curve.getData()
    return (np.zeros(0), np.zeros(0)) if x is None else (np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("layout", ["3x4", "6x2", "12x1"])
def test_every_layout_shows_the_twelve_leads(grid, exam, layout):
    grid.set_layout(layout)
    traces = {c.lead: c for c in grid.cells if not c.spec.rhythm}
    assert set(traces) == set(LEADS)
    for lead, cell in traces.items():
        x, y = _drawn(cell.curve)
        assert len(y) > 100, lead
        # the drawn samples are the exam's samples of that lead at that time, in mV
        t = cell.spec.t0 + (x - cell.spec.x0)
        idx = np.round(t * exam.fs).astype(int)
        np.testing.assert_allclose(y, exam.lead(lead)[idx], atol=1e-6)
    rhythm = [c for c in grid.cells if c.spec.rhythm]
    assert len(rhythm) == (1 if layout == "3x4" else 0)


def test_layouts_arrange_the_leads(grid):
    grid.set_layout("3x4")
    pos = {c.lead: (c.spec.row, c.spec.col) for c in grid.cells if not c.spec.rhythm}
    assert pos["I"] == (0, 0) and pos["III"] == (2, 0) and pos["aVR"] == (0, 1)
    assert pos["V1"] == (0, 2) and pos["V6"] == (2, 3)
    rhythm = grid.cell("II", rhythm=True)
    assert rhythm is not None and rhythm.spec.row == 3
    # 4 columns of 2.5 s side by side; the rhythm strip spans all 10 s
    assert grid.cell("aVR").spec.t0 == pytest.approx(2.5)
    assert grid.cell("V4").spec.x0 - grid.cell("I").spec.x0 == pytest.approx(7.5)
    assert rhythm.spec.t1 - rhythm.spec.t0 == pytest.approx(10.0)

    grid.set_layout("6x2")
    pos = {c.lead: (c.spec.row, c.spec.col) for c in grid.cells}
    assert pos["aVF"] == (5, 0) and pos["V1"] == (0, 1) and pos["V6"] == (5, 1)
    assert grid.cell("V1").spec.t0 == pytest.approx(5.0)

    grid.set_layout("12x1")
    pos = {c.lead: (c.spec.row, c.spec.col) for c in grid.cells}
    assert [pos[lead] for lead in LEADS] == [(i, 0) for i in range(12)]
    # on screen: one column, rows top to bottom in lead order
    ys = [
        grid.vb.mapViewToDevice(QPointF(grid.cell(lead).spec.x0, grid.cell(lead).spec.baseline)).y()
        for lead in LEADS
    ]
    assert all(b > a for a, b in itertools.pairwise(ys))


def test_rhythm_lead_is_selectable(grid, exam):
    grid.set_layout("3x4")
    grid.set_rhythm_lead("V1")
    rhythm = grid.cell("V1", rhythm=True)
    assert rhythm is not None and grid.cell("II", rhythm=True) is None
    _, y = _drawn(rhythm.curve)
    assert len(y) == exam.n_samples


@pytest.mark.parametrize("gain", [5.0, 10.0, 20.0])
@pytest.mark.parametrize("speed", [25.0, 50.0])
def test_gain_and_speed_set_the_physical_scale(grid, gain, speed):
    grid.set_gain(gain)
    grid.set_speed(speed)
    dpi_x, dpi_y = grid.view.logicalDpiX(), grid.view.logicalDpiY()
    # pixels per mV and per second measured on the rendered view against the screen's logical DPI
    assert grid.pixels_per_mv() == pytest.approx(gain * dpi_y / 25.4, rel=0.005)
    assert grid.pixels_per_second() == pytest.approx(speed * dpi_x / 25.4, rel=0.005)
    # the paper's 1 mm squares are square on screen
    assert grid.paper.minor_dx * grid.pixels_per_second() == pytest.approx(
        grid.paper.minor_dy * grid.pixels_per_mv(), rel=0.005
    )
    assert grid.paper.minor_dx == pytest.approx(1 / speed) and grid.paper.minor_dy == pytest.approx(1 / gain)


def test_scale_survives_resize_and_zoom_returns_to_actual_size(qtbot, grid):
    grid.set_gain(10)
    grid.set_speed(25)
    before = grid.pixels_per_second()
    grid.resize(900, 500)
    qtbot.wait(10)
    assert grid.pixels_per_second() == pytest.approx(before, rel=0.005)
    grid.zoom_by(2.0)
    assert grid.pixels_per_second() == pytest.approx(2 * before, rel=0.01)
    # zooming keeps the squares square (time and amplitude together)
    assert grid.pixels_per_mv() / grid.pixels_per_second() == pytest.approx(10 / 25, rel=0.01)
    grid.actual_size()
    assert grid.pixels_per_second() == pytest.approx(before, rel=0.005)


def test_network_input_view_shades_the_padding(grid, exam):
    x, report = to_model_input(exam)
    grid.set_layout("12x1")
    grid.set_show_input(True)
    cell = grid.cell("V2")
    _, ys = _drawn(cell.curve)
    assert len(ys) == 4096
    np.testing.assert_allclose(ys, x[:, LEADS.index("V2")], atol=1e-6)  # the input is mV
    # 10 s at 400 Hz = 4000 samples, centred in 4096: 48 samples (0.12 s) of zeros on each side
    assert report.pad_left == 48 and report.pad_right == 48
    widths = sorted(item.rect().width() for item in cell.shading)
    assert widths == pytest.approx([0.12, 0.12], abs=1e-6)
    grid.set_show_input(False)
    assert all(not c.shading for c in grid.cells)
    assert len(_drawn(grid.cell("V2").curve)[1]) == exam.n_samples


def test_eight_lead_exam_shows_derived_limb_leads(qtbot, grid):
    full = synth_exam([], fs=500.0, duration_s=10.0, seed=5)
    keep = [LEADS.index(lead) for lead in INDEPENDENT_LEADS]
    from ecgviewer.exam import Exam

    eight = Exam(full.signal_mv[:, keep], fs=500.0, leads=INDEPENDENT_LEADS, exam_id="eight")
    grid.set_exam(eight)
    assert {c.lead for c in grid.cells if not c.spec.rhythm} == set(LEADS)
    np.testing.assert_allclose(
        _drawn(grid.cell("III").curve)[1], full.lead("II")[:1250] - full.lead("I")[:1250], atol=1e-5
    )
    assert "derived" in grid.cell("aVF").label.textItem.toPlainText()


def test_calipers_measure_time_amplitude_and_rate(grid):
    grid.set_layout("12x1")
    cell = grid.cell("II")
    s = cell.spec
    start = QPointF(s.x0 + 1.0, s.baseline + 0.2)
    end = QPointF(s.x0 + 1.8, s.baseline + 1.4)
    m = grid.drag_caliper(start, end, finished=True)
    assert isinstance(m, Measurement) and m.lead == "II"
    assert m.dt_ms == pytest.approx(800.0)
    assert m.bpm == pytest.approx(75.0)
    assert m.dmv == pytest.approx(1.2)
    assert "800 ms" in m.text() and "75 bpm" in m.text() and "+1.20 mV" in m.text()
    assert grid.measurement == m
    grid.clear_calipers()
    assert grid.measurement is None


def test_overlay_is_drawn_behind_the_lead_in_every_cell(grid, exam):
    _, report = to_model_input(exam)
    grid.set_layout("3x4")
    values = np.linspace(-1, 1, 4096, dtype=np.float32)
    grid.set_overlay("II", values, t0=report.offset_s, dt=1 / 400)
    cells = [c for c in grid.cells if c.lead == "II"]
    assert len(cells) == 2  # the II cell and the rhythm strip
    for c in cells:
        assert c.overlay is not None
        assert c.overlay.zValue() < c.curve.zValue()
        rect = c.overlay.mapRectToParent(c.overlay.boundingRect())
        assert rect.left() >= c.spec.x0 - 0.01 and rect.right() <= c.spec.x1 + 0.01
    assert grid.cell("I").overlay is None
    grid.set_layout("6x2")  # overlays follow layout changes
    assert grid.cell("II").overlay is not None
    grid.clear_overlays()
    assert all(c.overlay is None for c in grid.cells)


def test_compute_layout_long_recording_pages_and_strip():
    lay = compute_layout("3x4", 0.0, 60.0, page_start=25.0)
    normal = [c for c in lay.cells if not c.rhythm]
    assert min(c.t0 for c in normal) == pytest.approx(25.0)
    assert max(c.t1 for c in normal) == pytest.approx(25.0 + PAGE_SECONDS)
    strip = next(c for c in lay.cells if c.rhythm)
    assert (strip.t0, strip.t1) == (0.0, 60.0)
    lay12 = compute_layout("12x1", 0.0, 60.0)
    assert all(c.t1 - c.t0 == pytest.approx(60.0) for c in lay12.cells)
    assert len(COLUMNS["3x4"]) == 4
    with pytest.raises(ValueError, match="unknown layout"):
        compute_layout("4x3", 0, 10)


def test_long_recording_page_shows_the_networks_window(grid):
    long = synth_exam(["AF"], fs=500.0, duration_s=20.0, seed=9)
    x, report = to_model_input(long)
    grid.set_exam(long, (x, report))
    grid.set_layout("3x4")
    page = [c.spec for c in grid.cells if not c.spec.rhythm]
    assert min(s.t0 for s in page) == pytest.approx(report.offset_s)  # the centred 10.24 s window
    assert max(s.t1 for s in page) == pytest.approx(report.offset_s + PAGE_SECONDS)
    strip = grid.cell("II", rhythm=True).spec
    assert (strip.t0, strip.t1) == (0.0, pytest.approx(20.0))
    assert "network's window" in grid.header.text()
    grid.set_layout("12x1")
    assert all(c.spec.t1 - c.spec.t0 == pytest.approx(20.0) for c in grid.cells)
