"""The synthetic 12-lead generator: determinism, physiology measured from the signal, writers."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import butter, find_peaks, sosfiltfilt

from ecgviewer.classes import CLASSES
from ecgviewer.leads import LEADS
from ecgviewer.synth import (
    EXAMPLE_FINDINGS,
    dx_codes,
    example_exam,
    main,
    synth_exam,
    write_hdf5_code,
    write_wfdb,
)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "resources" / "example" / "example_exam"
INDEPENDENT = [LEADS.index(n) for n in ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")]
SEEDS = range(6)


# -- measurements on the signal (independent of the generator's internals) --------------------


def r_peaks(exam) -> np.ndarray:
    """R-peak sample indices: band-passed (8-30 Hz) energy of the 8 independent leads."""
    x = exam.signal_mv[:, INDEPENDENT].astype(np.float64)
    sos = butter(2, [8.0, 30.0], btype="bandpass", fs=exam.fs, output="sos")
    energy = np.abs(sosfiltfilt(sos, x, axis=0)).sum(axis=1)
    peaks, _ = find_peaks(energy, distance=int(0.25 * exam.fs), height=0.35 * np.percentile(energy, 99))
    return peaks


def rr_stats(exam) -> tuple[float, float]:
    """(heart rate in bpm, coefficient of variation of RR) from the detected R peaks."""
    rr = np.diff(r_peaks(exam)) / exam.fs
    return 60.0 / rr.mean(), rr.std() / rr.mean()


def qrs_width_ms(exam) -> float:
    """Median QRS duration: where the spatial velocity of the 8 leads exceeds 12 % of its peak."""
    x = exam.signal_mv[:, INDEPENDENT].astype(np.float64)
    velocity = np.sqrt((np.diff(x, axis=0) ** 2).sum(axis=1))
    widths = []
    for onset in exam.meta["qrs_onsets_s"]:
        i0, i1 = int((onset - 0.03) * exam.fs), int((onset + 0.18) * exam.fs)
        if i0 < 0 or i1 >= velocity.size:
            continue
        above = np.flatnonzero(velocity[i0:i1] > 0.12 * velocity[i0:i1].max())
        widths.append((above[-1] - above[0]) / exam.fs * 1000.0)
    return float(np.median(widths))


def pr_ms(exam) -> float:
    """Median PR: from the P onset (10 % of the P peak of the spatial magnitude) to the QRS onset."""
    x = exam.signal_mv[:, INDEPENDENT].astype(np.float64)
    magnitude = np.sqrt((x**2).sum(axis=1))
    out = []
    for onset in exam.meta["qrs_onsets_s"]:
        i0, i1 = int((onset - 0.42) * exam.fs), int((onset - 0.03) * exam.fs)
        if i0 < 0:
            continue
        w = magnitude[i0:i1]
        j = int(np.argmax(w))
        while j > 0 and w[j] > 0.1 * w.max():
            j -= 1
        out.append(onset * 1000.0 - (i0 + j) / exam.fs * 1000.0)
    return float(np.median(out))


def beat_locked_atrial_correlation(exam) -> float:
    """Mean pairwise correlation of lead II over 240–40 ms before each QRS: ~1 with P waves."""
    ii = exam.lead("II").astype(np.float64)
    n = int(0.2 * exam.fs)
    segs = [ii[int((t - 0.24) * exam.fs) :][:n] for t in exam.meta["qrs_onsets_s"] if t > 0.3]
    c = np.corrcoef(np.array(segs))
    return float(c[np.triu_indices(len(segs), 1)].mean())


def qrs_window(exam, lead: str, beat: int = 1, start: float = 0.0, stop: float = 1.0) -> np.ndarray:
    """Samples of one lead from ``start`` to ``stop`` (fractions of the QRS duration) of a beat."""
    onset = exam.meta["qrs_onsets_s"][beat]
    qrs = exam.meta["qrs_ms"] / 1000.0
    i0, i1 = int((onset + start * qrs) * exam.fs), int((onset + stop * qrs) * exam.fs)
    return exam.lead(lead)[i0:i1]


# -- the interface ---------------------------------------------------------------------------


def test_same_seed_same_exam_and_seeds_differ() -> None:
    a = synth_exam(["AF", "RBBB"], seed=3)
    b = synth_exam(("RBBB", "af"), seed=3)
    np.testing.assert_array_equal(a.signal_mv, b.signal_mv)
    assert a.meta == b.meta
    assert not np.array_equal(a.signal_mv, synth_exam(["AF", "RBBB"], seed=4).signal_mv)
    assert a.exam_id == "synth-AF-RBBB-seed3"
    assert a.format == "synthetic"
    assert a.raw_labels == {"synthetic": ["AF", "RBBB"]}
    assert synth_exam(seed=5).exam_id == "synth-NSR-seed5"


@pytest.mark.parametrize("fs", [250.0, 400.0, 500.0, 1000.0])
@pytest.mark.parametrize("duration_s", [7.0, 10.0])
def test_shape_rate_duration(fs: float, duration_s: float) -> None:
    exam = synth_exam(["1dAVb"], fs=fs, duration_s=duration_s, seed=1)
    assert exam.signal_mv.shape == (round(fs * duration_s), 12)
    assert exam.signal_mv.dtype == np.float32
    assert exam.fs == fs and exam.duration_s == pytest.approx(duration_s)
    assert exam.leads == LEADS
    assert np.isfinite(exam.signal_mv).all()
    assert exam.age is not None and exam.sex in ("M", "F")


def test_same_heart_at_every_sampling_rate() -> None:
    """Physiology is continuous in time: 1000 Hz decimated by 2 is the 500 Hz exam (clean)."""
    hi = synth_exam(["LBBB"], fs=1000.0, seed=2, noise=0.0)
    lo = synth_exam(["LBBB"], fs=500.0, seed=2, noise=0.0)
    np.testing.assert_allclose(hi.signal_mv[::2], lo.signal_mv, atol=1e-4)


@pytest.mark.parametrize("findings", [(), ("AF",), ("RBBB", "1dAVb"), ("LBBB", "ST")])
def test_limb_leads_follow_einthoven_and_goldberger_exactly(findings: tuple[str, ...]) -> None:
    x = synth_exam(findings, seed=7, noise=2.0).signal_mv
    lead = {name: x[:, i] for i, name in enumerate(LEADS)}
    np.testing.assert_array_equal(lead["III"], lead["II"] - lead["I"])
    np.testing.assert_array_equal(lead["aVR"], -(lead["I"] + lead["II"]) / 2)
    np.testing.assert_array_equal(lead["aVL"], lead["I"] - lead["II"] / 2)
    np.testing.assert_array_equal(lead["aVF"], lead["II"] - lead["I"] / 2)


@pytest.mark.parametrize(
    "findings, why",
    [
        (["XYZ"], "unknown finding"),
        (["AF", "SB"], "cannot be combined"),
        (["AF", "1dAVb"], "P waves"),
        (["RBBB", "LBBB"], "cannot be combined"),
    ],
)
def test_bad_findings_are_refused(findings: list[str], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        synth_exam(findings)


@pytest.mark.parametrize("findings, rate", [(["SB"], 55), (["ST"], 90), ([], 120), ([], 45)])
def test_rate_contradicting_findings_is_refused(findings: list[str], rate: float) -> None:
    with pytest.raises(ValueError, match="bpm"):
        synth_exam(findings, heart_rate=rate)


# -- physiology, measured on the signal ------------------------------------------------------


@pytest.mark.parametrize(
    "findings, lo, hi",
    [
        ((), 58.0, 97.0),
        (("SB",), 35.0, 49.9),
        (("ST",), 100.1, 150.0),
        (("1dAVb", "RBBB"), 58.0, 97.0),
    ],
)
def test_measured_heart_rate_matches_the_finding(findings: tuple[str, ...], lo: float, hi: float) -> None:
    for seed in SEEDS:
        exam = synth_exam(findings, seed=seed, noise=1.0)
        rate, cv = rr_stats(exam)
        assert lo <= rate <= hi, (exam.exam_id, rate)
        assert rate == pytest.approx(exam.meta["heart_rate_bpm"], rel=0.05)
        assert cv < 0.07, (exam.exam_id, cv)


def test_requested_heart_rate_is_kept() -> None:
    assert rr_stats(synth_exam(seed=0, heart_rate=72, noise=0.5))[0] == pytest.approx(72, rel=0.03)
    assert rr_stats(synth_exam(["AF"], seed=0, heart_rate=150, noise=0.5))[0] == pytest.approx(150, rel=0.1)


def test_af_is_irregular_without_p_waves() -> None:
    for seed in SEEDS:
        af = synth_exam(["AF"], seed=seed, noise=0.3, heart_rate=60)
        sinus = synth_exam([], seed=seed, noise=0.3, heart_rate=60)
        assert rr_stats(af)[1] > 0.12, af.exam_id
        assert rr_stats(sinus)[1] < 0.06, sinus.exam_id
        # Atrial activity is not locked to the QRS in AF (no P waves), and is in sinus rhythm.
        assert beat_locked_atrial_correlation(af) < 0.4, af.exam_id
        assert beat_locked_atrial_correlation(sinus) > 0.9, sinus.exam_id
        assert af.meta["pr_ms"] is None and af.meta["rhythm"] == "atrial fibrillation"


def test_af_has_fibrillatory_waves_largest_in_v1_and_inferior_leads() -> None:
    exam = synth_exam(["AF"], seed=1, noise=0.0, heart_rate=50)
    x = exam.signal_mv.astype(np.float64)
    # 4-9 Hz band power between beats (after the T wave, before the next QRS).
    sos = butter(2, [4.0, 9.0], btype="bandpass", fs=exam.fs, output="sos")
    f = sosfiltfilt(sos, x, axis=0)
    onsets = exam.meta["qrs_onsets_s"]
    mask = np.zeros(exam.n_samples, bool)
    for a, b in itertools.pairwise(onsets):
        if b - a > 0.75:
            mask[int((a + 0.55) * exam.fs) : int((b - 0.05) * exam.fs)] = True
    rms = np.sqrt((f[mask] ** 2).mean(axis=0))
    by_lead = dict(zip(LEADS, rms, strict=True))
    assert by_lead["V1"] > 0.02
    assert max(by_lead["II"], by_lead["V1"]) > 2 * max(by_lead["I"], by_lead["V6"])


def test_pr_interval_long_in_first_degree_block() -> None:
    for seed in SEEDS:
        normal = synth_exam([], seed=seed, noise=0.0, heart_rate=65)
        block = synth_exam(["1dAVb"], seed=seed, noise=0.0, heart_rate=65)
        assert 120 <= normal.meta["pr_ms"] <= 200
        assert block.meta["pr_ms"] > 200
        assert pr_ms(normal) == pytest.approx(normal.meta["pr_ms"], abs=15)
        assert pr_ms(block) == pytest.approx(block.meta["pr_ms"], abs=15)
        assert pr_ms(block) > 205


@pytest.mark.parametrize("findings, lo, hi", [((), 75, 105), (("RBBB",), 120, 175), (("LBBB",), 125, 185)])
def test_qrs_duration(findings: tuple[str, ...], lo: float, hi: float) -> None:
    for seed in SEEDS:
        exam = synth_exam(findings, seed=seed, noise=0.0, heart_rate=70)
        meta_lo = 120 if findings else 80
        meta_hi = 170 if findings else 100
        assert meta_lo <= exam.meta["qrs_ms"] <= meta_hi
        assert lo <= qrs_width_ms(exam) <= hi, (exam.exam_id, qrs_width_ms(exam))


def test_rbbb_morphology() -> None:
    for seed in SEEDS:
        exam = synth_exam(["RBBB"], seed=seed, noise=0.0, heart_rate=70)
        v1 = qrs_window(exam, "V1")
        early, late = qrs_window(exam, "V1", stop=0.2), qrs_window(exam, "V1", start=0.55)
        # rsR': small initial r, an S, then a terminal R' taller than the r.
        assert early.max() > 0.05 and v1.min() < -0.1, exam.exam_id
        assert late.max() > max(0.4, early.max()), exam.exam_id
        # Wide terminal S in I and V6.
        for lead in ("I", "V6"):
            terminal = qrs_window(exam, lead, start=0.5)
            assert terminal.min() < -0.1, (exam.exam_id, lead)
            assert (terminal < -0.05).sum() / exam.fs > 0.03, (exam.exam_id, lead)


def test_lbbb_morphology() -> None:
    for seed in SEEDS:
        exam = synth_exam(["LBBB"], seed=seed, noise=0.0, heart_rate=70)
        # No septal q in I and V6; broad R there; deep broad S in V1.
        for lead in ("I", "V6"):
            assert qrs_window(exam, lead, stop=0.25).min() > -0.05, (exam.exam_id, lead)
            r = qrs_window(exam, lead)
            assert (r > 0.5 * r.max()).sum() / exam.fs > 0.05, (exam.exam_id, lead)
        v1 = qrs_window(exam, "V1")
        assert v1.min() < -0.8 and -v1.min() > 3 * max(v1.max(), 0.0), exam.exam_id
        assert (v1 < 0.5 * v1.min()).sum() / exam.fs > 0.05, exam.exam_id
        # Discordant ST-T: the T wave opposes the QRS in V6 and V1.
        t_window = qrs_window(exam, "V6", start=1.5, stop=3.0)
        assert t_window.min() < -0.1 and abs(t_window.min()) > abs(t_window.max()), exam.exam_id
        assert qrs_window(exam, "V1", start=1.5, stop=3.0).max() > 0.1, exam.exam_id


def test_amplitudes_are_realistic() -> None:
    for seed in range(10):
        exam = synth_exam([], seed=seed, noise=0.0)
        assert 0.6 <= exam.lead("V5").max() <= 2.5, exam.exam_id
        assert 0.4 <= -exam.lead("V1").min() <= 2.0, exam.exam_id
        assert np.abs(exam.signal_mv).max() < 3.0
        assert -30 <= exam.meta["qrs_axis_deg"] <= 100, exam.exam_id
        # P wave in II: 0.05-0.3 mV.
        onset = exam.meta["qrs_onsets_s"][1]
        p = exam.lead("II")[int((onset - exam.meta["pr_ms"] / 1000) * exam.fs) : int(onset * exam.fs)]
        assert 0.05 <= p.max() <= 0.3, exam.exam_id


def test_noise_is_scaled_and_realistic() -> None:
    clean = synth_exam(seed=4, noise=0.0).signal_mv
    noisy = synth_exam(seed=4, noise=1.0).signal_mv
    louder = synth_exam(seed=4, noise=2.0).signal_mv
    n1 = (noisy - clean).std(axis=0)
    n2 = (louder - clean).std(axis=0)
    np.testing.assert_allclose(n2, 2 * n1, rtol=1e-3)
    assert 0.005 < np.median(n1) < 0.2  # mV: a usable resting ECG


# -- writers ---------------------------------------------------------------------------------


def test_wfdb_round_trip(tmp_path: Path) -> None:
    import wfdb

    exam = synth_exam(["AF", "LBBB"], seed=2, fs=400.0, duration_s=7.0)
    hea = write_wfdb(exam, tmp_path, "rec")
    assert hea == tmp_path / "rec.hea" and (tmp_path / "rec.dat").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.dat", "rec.hea"]
    rec = wfdb.rdrecord(str(tmp_path / "rec"))
    assert rec.fs == 400 and rec.sig_name == list(LEADS) and rec.units == ["mV"] * 12
    assert rec.fmt == ["16"] * 12
    np.testing.assert_allclose(rec.p_signal, exam.signal_mv, atol=0.5e-3 + 1e-6)
    comments = {c.split(":")[0].strip(): c.split(":", 1)[1].strip() for c in rec.comments}
    assert comments["Dx"].split(",") == ["164909002", "164889003"]
    assert comments["Age"] == f"{exam.age:g}"
    assert comments["Sex"] == {"M": "Male", "F": "Female"}[exam.sex]


def test_dx_codes() -> None:
    assert dx_codes([]) == ["426783006"]
    assert dx_codes(["RBBB", "1dAVb"]) == ["426783006", "270492004", "59118001"]
    assert dx_codes(["SB"]) == ["426177001"]
    assert dx_codes(["ST", "LBBB"]) == ["164909002", "427084000"]
    assert dx_codes(["AF"]) == ["164889003"]


def test_bundled_example_is_the_generator_output(tmp_path: Path) -> None:
    import wfdb

    assert EXAMPLE.with_suffix(".hea").is_file(), "run: python -m ecgviewer.synth --out resources/example"
    rec = wfdb.rdrecord(str(EXAMPLE))
    exam = example_exam()
    assert rec.fs == 500 and rec.sig_len == 5000 and rec.sig_name == list(LEADS)
    # Within one quantisation step (1 µV): the committed file is what the generator makes.
    np.testing.assert_allclose(rec.p_signal, exam.signal_mv, atol=1.01e-3)
    assert any(c.replace(" ", "") == "Dx:426783006,270492004,59118001" for c in rec.comments)
    assert set(EXAMPLE_FINDINGS) == {"1dAVb", "RBBB"}
    # The regeneration command writes the same record.
    assert main(["--out", str(tmp_path)]) == 0
    again = wfdb.rdrecord(str(tmp_path / "example_exam"))
    np.testing.assert_allclose(again.p_signal, rec.p_signal, atol=1.01e-3)
    assert again.comments == rec.comments


def test_cli_writes_any_exam(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path), "--findings", "ST", "--seed", "3", "--fs", "250"]) == 0
    assert (tmp_path / "synth-ST-seed3.hea").is_file()
    assert main(["--out", str(tmp_path), "--findings", "AF", "SB"]) == 2
    assert "cannot be combined" in capsys.readouterr().err


def test_hdf5_code_layout(tmp_path: Path) -> None:
    import h5py

    path = write_hdf5_code(tmp_path / "big.hdf5", 40, n_distinct=6, labels_csv=tmp_path / "labels.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.hdf5", "labels.csv"]
    with h5py.File(path, "r") as h5:
        x = h5["tracings"]
        assert x.shape == (40, 4096, 12) and x.dtype == np.float32 and x.chunks == (1, 4096, 12)
        ids = h5["exam_id"][:]
        assert ids.tolist() == list(range(1, 41))
        block = x[:12]
    # 10 s at 400 Hz centred in 4096 samples: 48 zeros each side.
    assert np.all(block[:, :48] == 0) and np.all(block[:, -48:] == 0)
    assert np.abs(block[:, 48:-48]).max() > 0.5  # mV: an R wave of > 0.5 mV
    i, ii, iii = block[..., 0], block[..., 1], block[..., 2]
    np.testing.assert_allclose(iii, ii - i, atol=1e-4)
    assert not np.array_equal(block[0], block[6])  # tiled exams differ (window, gain)
    with open(tmp_path / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 40 and list(rows[0]) == ["exam_id", *CLASSES]
    assert rows[2]["RBBB"] == "1" and rows[0]["RBBB"] == "0" and rows[5]["AF"] == "1"


# normal, each finding alone, and a few combinations of findings
_VALID_COMBINATIONS = [
    (),
    *((c,) for c in CLASSES),
    ("AF", "RBBB"),
    ("AF", "LBBB"),
    ("1dAVb", "LBBB"),
    ("1dAVb", "SB", "RBBB"),
    ("1dAVb", "ST"),
]


@settings(max_examples=25, deadline=None)
@given(
    findings=st.sampled_from(_VALID_COMBINATIONS),
    seed=st.integers(0, 2**31 - 1),
    fs=st.sampled_from([250.0, 400.0, 500.0, 1000.0]),
    duration_s=st.sampled_from([7.0, 10.0]),
    noise=st.floats(0.0, 3.0),
)
def test_any_sensible_exam_is_well_formed(findings, seed, fs, duration_s, noise) -> None:
    exam = synth_exam(findings, seed=seed, fs=fs, duration_s=duration_s, noise=noise)
    x = exam.signal_mv
    assert x.shape == (round(fs * duration_s), 12) and np.isfinite(x).all()
    assert np.abs(x).max() < 8.0  # mV, even with an electrode motion artefact at noise 3
    np.testing.assert_array_equal(x[:, 2], x[:, 1] - x[:, 0])
    assert exam.raw_labels["synthetic"] == sorted(findings)
    expected_beats = duration_s * exam.meta["heart_rate_bpm"] / 60
    assert abs(len(exam.meta["qrs_onsets_s"]) - expected_beats) <= 2.5
