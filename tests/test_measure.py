"""ecgviewer.measure: intervals on synthetic exams with a known answer, LUDB records, the cross-check."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecgviewer.exam import Exam
from ecgviewer.measure import CSV_COLUMNS, Measurements, cross_check, finding_measurement, measure
from ecgviewer.synth import synth_exam


@pytest.mark.parametrize(
    ("findings", "seed"),
    [((), 1), ((), 2), (("1dAVb",), 3), (("SB",), 1), (("ST",), 1), (("RBBB",), 1)],
)
def test_synthetic_intervals_within_a_few_ms(findings, seed):
    exam = synth_exam(findings, fs=500, duration_s=10, seed=seed, noise=0.5)
    truth = exam.meta
    m = measure(exam, calibrated=False)
    assert m.hr_bpm == pytest.approx(truth["heart_rate_bpm"], abs=1.5)
    assert m.pr_ms == pytest.approx(truth["pr_ms"], abs=12)
    # the model's waves are Gaussians whose tails run a few ms past the nominal QRS: edges read late
    assert -5 <= m.qrs_ms - truth["qrs_ms"] <= 14
    # the model's T wave is a Gaussian: its visible end comes before the nominal QT
    assert -35 <= m.qt_ms - truth["qt_ms"] <= 5
    assert m.qrs_axis_deg == pytest.approx(truth["qrs_axis_deg"], abs=10)
    assert m.rr_irregular is False
    assert m.n_beats >= 5
    assert m.qtc_bazett_ms == pytest.approx(m.qt_ms / math.sqrt(60.0 / m.hr_bpm), rel=0.03)


def test_calibrated_edges_are_the_documented_shifts():
    from ecgviewer import measure as measure_module

    exam = synth_exam((), fs=500, duration_s=10, seed=4, noise=0.3)
    raw, cal = measure(exam, calibrated=False), measure(exam)
    shift = 1000 * (measure_module.QRS_ONSET_SHIFT_S + measure_module.QRS_OFFSET_SHIFT_S)
    assert cal.qrs_ms - raw.qrs_ms == pytest.approx(shift, abs=2.1)


def test_sampling_rate_does_not_change_the_answer():
    a = measure(synth_exam((), fs=500, duration_s=10, seed=5, noise=0.3))
    b = measure(synth_exam((), fs=250, duration_s=10, seed=5, noise=0.3))
    for k in ("hr_bpm", "pr_ms", "qrs_ms", "qt_ms"):
        assert getattr(a, k) == pytest.approx(getattr(b, k), abs=10), k


def test_af_has_no_p_wave_and_irregular_rr():
    m = measure(synth_exam(("AF",), fs=500, duration_s=10, seed=1, noise=0.5))
    assert m.rr_irregular is True
    assert m.pr_ms is None and m.p_ms is None and m.p_axis_deg is None
    assert "irregular RR" in m.note
    assert m.qrs_ms is not None and m.rr_sd_ms > 50


def test_per_beat_fiducials_are_ordered_and_in_the_exam():
    exam = synth_exam(("1dAVb",), fs=400, duration_s=10, seed=2, noise=0.5)
    b = measure(exam).beats
    assert b is not None and b.r_s.size >= 5
    assert np.all(b.p_onset_s < b.qrs_onset_s)
    assert np.all(b.qrs_onset_s < b.r_s) and np.all(b.r_s < b.qrs_offset_s)
    assert np.all(b.qrs_offset_s < b.t_offset_s)
    assert b.p_onset_s.min() >= 0 and b.t_offset_s.max() <= exam.duration_s
    # the synthetic QRS onsets are known
    onsets = np.asarray(exam.meta["qrs_onsets_s"])
    nearest = np.abs(b.qrs_onset_s[:, None] - onsets[None, :]).min(axis=1)
    assert np.median(nearest) < 0.03


def test_flat_and_short_exams_are_not_measured_with_a_reason():
    flat = Exam(signal_mv=np.zeros((5000, 12), np.float32), fs=500)
    m = measure(flat)
    assert m.hr_bpm is None and m.n_beats == 0 and "flat" in m.note
    noise = np.random.default_rng(0).normal(size=(5000, 12)).astype(np.float32) * 0.05
    m_noise = measure(Exam(signal_mv=noise, fs=500))
    assert m_noise.hr_bpm is None and m_noise.qrs_ms is None and "no consistent QRS" in m_noise.note
    short = synth_exam((), fs=500, duration_s=1.5, seed=1)
    assert "less than 2 s" in measure(short).note
    row = m.as_row("x", "y")
    assert list(row) == list(CSV_COLUMNS)
    assert row["hr_bpm"] == "" and row["n_beats"] == "0"


def test_eight_independent_leads_measure_as_twelve():
    from ecgviewer.leads import INDEPENDENT_LEADS, LEADS

    exam = synth_exam((), fs=500, duration_s=10, seed=3, noise=0.5)
    cols = [LEADS.index(name) for name in INDEPENDENT_LEADS]
    m8 = measure(Exam(signal_mv=exam.signal_mv[:, cols], fs=500, leads=INDEPENDENT_LEADS))
    m12 = measure(exam)
    for k in ("hr_bpm", "pr_ms", "qrs_ms", "qt_ms"):
        assert getattr(m8, k) == pytest.approx(getattr(m12, k), abs=2), k
    assert m8.qrs_axis_deg == pytest.approx(m12.qrs_axis_deg, abs=3)


def test_zero_padding_is_ignored_and_fiducials_keep_exam_time():
    exam = synth_exam((), fs=400, duration_s=10, seed=3, noise=0.3)
    padded = np.zeros((4096, 12), np.float32)
    padded[48 : 48 + 4000] = exam.signal_mv
    p = measure(Exam(signal_mv=padded, fs=400))
    m = measure(exam)
    assert p.qrs_ms == pytest.approx(m.qrs_ms, abs=3)
    assert p.beats.r_s[0] == pytest.approx(m.beats.r_s[0] + 48 / 400, abs=0.005)


def test_ludb_records_against_cardiologists(shared_data):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from measure_bench import ludb_exam, ludb_reference

    for n in (3, 11, 16):  # sinus records of the tuning half
        m, ref = measure(ludb_exam(n)), ludb_reference(n)
        assert m.hr_bpm == pytest.approx(ref["hr"], abs=2)
        assert m.pr_ms == pytest.approx(ref["pr"], abs=30)
        assert m.qrs_ms == pytest.approx(ref["qrs"], abs=25)
        assert m.qt_ms == pytest.approx(ref["qt"], abs=40)


def _m(**kw) -> Measurements:
    return Measurements(**kw)


def test_cross_check_flags_each_disagreement_with_value_and_criterion():
    classes = ("1dAVb", "RBBB", "LBBB", "SB", "AF", "ST")
    m = _m(hr_bpm=72.0, pr_ms=150.0, rr_irregular=False, rr_sd_ms=20.0)
    flags = cross_check(m, [True, False, False, True, True, True], classes)
    by = {f.finding: f for f in flags}
    assert set(by) == {"1dAVb", "SB", "AF", "ST"}
    assert by["SB"].measured == "HR 72 bpm" and "50 bpm" in by["SB"].criterion
    assert "PR 150 ms < 180" in by["1dAVb"].message
    assert by["AF"].network is True and "RR regular, RR SD 20 ms" in by["AF"].message
    # negatives with a long PR are flagged too; agreement gives no flag
    flags = cross_check(_m(hr_bpm=45.0, pr_ms=240.0, rr_irregular=True), {"SB": True, "1dAVb": False})
    assert [f.finding for f in flags] == ["1dAVb"] and flags[0].network is False
    assert cross_check(_m(hr_bpm=120.0, pr_ms=210.0), {"ST": True, "1dAVb": True}) == []


def test_cross_check_only_looks_at_present_classes_and_measured_values():
    assert cross_check(_m(hr_bpm=80.0), {"NORM": True, "MI": False}) == []
    assert cross_check(_m(), {"SB": True, "ST": True, "1dAVb": True, "AF": True}) == []
    with pytest.raises(ValueError):
        cross_check(_m(), [True])


def test_finding_measurement_gives_the_value_beside_each_finding():
    m = _m(hr_bpm=44.6, pr_ms=212.0, rr_irregular=True, rr_sd_ms=130.0)
    assert finding_measurement(m, "SB") == "HR 45 bpm" == finding_measurement(m, "ST")
    assert finding_measurement(m, "1dAVb") == "PR 212 ms"
    assert finding_measurement(m, "AF") == "RR irregular, RR SD 130 ms"
    assert finding_measurement(m, "RBBB") is None
    assert finding_measurement(_m(), "1dAVb") is None
