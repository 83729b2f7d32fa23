"""Measurements in the viewer model, the filter words and the report (headless: no Qt widgets)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from ecgviewer.display_filters import CART_DEFAULT, DisplayFilterSettings
from ecgviewer.measure import Measurements, measurement_items, measurement_line
from ecgviewer.synth import synth_exam
from ecgviewer.viewer import ViewerModel
from ecgviewer.viewer.filtering import evaluate, parse_filter
from ecgviewer.viewer.measurements import MeasurementCache, finding_checks

CLASSES6 = ("1dAVb", "RBBB", "LBBB", "SB", "AF", "ST")


@pytest.fixture(scope="module")
def normal70():
    return synth_exam([], seed=1, heart_rate=70.0, noise=0.0)


@pytest.fixture(scope="module")
def measured70(normal70):
    return MeasurementCache().measure(normal70)


def test_the_line_carries_the_known_rate_and_pr(normal70, measured70):
    line = measurement_line(measured70)
    hr = normal70.meta["heart_rate_bpm"]
    words = line.split(" · ")
    assert words[0].startswith("HR ") and abs(float(words[0].split()[1]) - hr) <= 2, line
    # the cart-calibrated PR (tuned on LUDB) of a synthetic sinus exam: a PR is measured and shown
    assert words[1] == f"PR {measured70.pr_ms:.0f} ms" and 100 <= measured70.pr_ms <= 200, line
    assert words[3].startswith("QT/QTc ") and words[4].startswith("axes P ")


def test_empty_values_are_dashes_with_a_reason():
    m = Measurements(hr_bpm=88.0, qrs_ms=96.0, notes=("irregular RR: no P wave measured",))
    items = {i.label: i for i in measurement_items(m)}
    assert items["HR"].text == "HR 88 bpm" and items["HR"].reason == ""
    assert items["PR"].text == "PR — ms" and "irregular" in items["PR"].reason
    assert items["QT/QTc"].text == "QT/QTc —/— ms" and items["QT/QTc"].reason
    assert measurement_line(None) == ""


def test_cross_check_flags_sb_at_70_bpm_and_only_known_classes(measured70):
    decisions = [False, False, False, True, False, False]  # a stub: SB positive
    checks = finding_checks(measured70, decisions, CLASSES6)
    assert set(checks) == {"SB", "ST", "1dAVb", "AF"}
    sb = checks["SB"]
    assert sb.flagged and sb.text.startswith("SB: HR 7") and sb.text.endswith("— paper: sinus < 50 bpm")
    assert not checks["ST"].flagged and not checks["1dAVb"].flagged and not checks["AF"].flagged
    # a model without SB gets no SB line
    assert set(finding_checks(measured70, [True, False], ("RBBB", "AF"))) == {"AF"}


def test_filter_words_use_the_cached_measurements():
    cache = MeasurementCache()
    cache.put(0, Measurements(hr_bpm=45.0, pr_ms=150.0, qtc_bazett_ms=480.0))
    cache.put(2, Measurements(hr_bpm=80.0, pr_ms=230.0, qtc_bazett_ms=410.0))

    def column(name: str) -> np.ndarray:
        return cache.column(name, 3)

    def rows(text: str) -> list[int]:
        return np.flatnonzero(evaluate(parse_filter(text), column, 3)).tolist()

    assert rows("HR < 50") == [0]
    assert rows("PR > 200") == [2]
    assert rows("QTc > 470") == [0]
    assert rows("not HR < 50") == [1, 2]  # row 1 is not measured: it never passes a comparison
    assert cache.value_text(0, "hr") == "45" and cache.value_text(1, "hr") == ""


def test_viewer_model_caches_per_row_and_keeps_filters_in_its_view(tmp_path, normal70):
    from ecgviewer.synth import write_wfdb

    path = write_wfdb(normal70, tmp_path, "n70")
    vm = ViewerModel()
    seen = []
    vm.events.measurements_changed.connect(seen.append)
    vm.open(path)
    vm.show(0)
    assert vm.measurements() is None
    m = vm.measure()
    assert vm.measurements() is m and vm.workspace.measurements.get(0) is m and seen == [m]
    assert vm.view.display_filters == CART_DEFAULT and vm.view.show_fiducials is False
    vm.view.display_filters = DisplayFilterSettings(notch_hz=50.0)
    assert vm.view.display_filters.describe() == "0.05–150 Hz, 50 Hz notch"
    vm.close_all()
    assert len(vm.workspace.measurements) == 0


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs pdftotext")
def test_report_header_has_the_measurements_line_and_filter(tmp_path, normal70, measured70):
    from ecgviewer.model.runtime import bundled_model_path, load_model
    from ecgviewer.report import write_exam_report

    model = load_model(bundled_model_path())
    pred = model.predict_exam(normal70)
    out = write_exam_report(
        tmp_path / "r.pdf",
        normal70,
        pred,
        measurements=measured70,
        display_filters=DisplayFilterSettings(notch_hz=50.0),
    )
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True).stdout
    assert measurement_line(measured70) in text
    assert "Display filter: 0.05–150 Hz, 50 Hz notch" in text
    assert "display filter 0.05–150 Hz, 50 Hz notch" in text  # under the paper


def test_report_cli_filter_options():
    import argparse

    from ecgviewer.commands import report as cmd
    from ecgviewer.errors import ReportError

    parser = argparse.ArgumentParser()
    cmd.register(parser)
    assert cmd.display_filters(parser.parse_args(["x"])) == CART_DEFAULT
    f = cmd.display_filters(
        parser.parse_args(["x", "--notch", "60", "--baseline", "0.5", "--lowpass", "off"])
    )
    assert f == DisplayFilterSettings(baseline_hz=0.5, notch_hz=60.0, lowpass_hz=None)
    assert cmd.display_filters(parser.parse_args(["x", "--unfiltered"])) is None
    with pytest.raises(ReportError, match="--unfiltered"):
        cmd.display_filters(parser.parse_args(["x", "--unfiltered", "--notch", "50"]))
