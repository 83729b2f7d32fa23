"""The paper's statistics against hand-computed confusion matrices and reference implementations."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from ecgviewer.metrics import (
    UNDEFINED_REASONS,
    average_precision,
    binary_scores,
    bootstrap_ci,
    bootstrap_indices,
    bootstrap_scores,
    cohen_kappa,
    confusion_counts,
    evaluate,
    mcnemar,
    precision_recall_curve,
    roc_auc,
    scores_from_counts,
    threshold,
)


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_hand_computed_confusion_matrix() -> None:
    y_true = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    y_pred = np.array([1, 1, 0, 1, 0, 0, 0, 0, 0, 0])
    s = binary_scores(y_true, y_pred)
    assert (s["tp"], s["fp"], s["fn"], s["tn"], s["n"]) == (2, 1, 1, 6, 10)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["recall"] == pytest.approx(2 / 3)
    assert s["specificity"] == pytest.approx(6 / 7)
    assert s["f1"] == pytest.approx(2 / 3)
    assert s["undefined"] == {}


def test_multi_class_and_unknown_labels() -> None:
    y_true = np.array([[1, 0], [1, 1], [0, -1], [0, 0], [1, 0]])
    y_pred = np.array([[1, 0], [0, 1], [1, 1], [0, -1], [1, 0]])
    c = confusion_counts(y_true, y_pred)
    # class 0: tp 2 (rows 0, 4), fn 1 (row 1), fp 1 (row 2), tn 1 (row 3)
    assert c["tp"].tolist() == [2, 1] and c["fn"].tolist() == [1, 0]
    assert c["fp"].tolist() == [1, 0] and c["tn"].tolist() == [1, 2]
    assert c["n"].tolist() == [5, 3]  # rows 2 and 3 unknown for class 1
    s = binary_scores(y_true, y_pred)
    assert s["precision"][0] == pytest.approx(2 / 3) and s["specificity"][1] == 1.0


def test_zero_positive_class_is_undefined_not_an_error() -> None:
    none = np.zeros(20, dtype=int)
    s = binary_scores(none, none)
    assert np.isnan(s["precision"]) and np.isnan(s["recall"]) and np.isnan(s["f1"])
    assert s["specificity"] == 1.0
    assert s["undefined"] == {m: UNDEFINED_REASONS[m] for m in ("precision", "recall", "f1")}
    assert "TP + FN = 0" in s["undefined"]["recall"]
    # no positives in the reference but false alarms: precision 0, recall undefined, F1 0
    pred = none.copy()
    pred[:3] = 1
    s = binary_scores(none, pred)
    assert s["precision"] == 0.0 and np.isnan(s["recall"]) and s["f1"] == 0.0
    assert s["specificity"] == pytest.approx(17 / 20)
    # all positive: specificity undefined
    ones = np.ones(5, dtype=int)
    s = binary_scores(ones, ones)
    assert np.isnan(s["specificity"]) and s["f1"] == 1.0 and list(s["undefined"]) == ["specificity"]
    # the rater says no for every exam: precision undefined, F1 = 0 (as scikit-learn)
    s = binary_scores(ones, np.zeros(5, dtype=int))
    assert np.isnan(s["precision"]) and s["recall"] == 0.0 and s["f1"] == 0.0
    # an empty set
    s = binary_scores(np.zeros(0), np.zeros(0))
    assert all(np.isnan(s[m]) for m in ("precision", "recall", "specificity", "f1"))
    # 2-D: reasons per class
    s = binary_scores(np.zeros((4, 2)), np.zeros((4, 2)))
    assert len(s["undefined"]) == 2 and "recall" in s["undefined"][1]


def test_scores_from_counts_broadcasts() -> None:
    s = scores_from_counts(np.array([[1, 0]]), np.array([[1, 0]]), np.array([[0, 0]]), np.array([[3, 5]]))
    assert s["precision"].shape == (1, 2) and np.isnan(s["precision"][0, 1])


def test_against_scikit_learn() -> None:
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y_true = (rng.random((300, 6)) < 0.2).astype(int)
    y_pred = np.where(rng.random((300, 6)) < 0.85, y_true, 1 - y_true)
    s = binary_scores(y_true, y_pred)
    for k in range(6):
        assert s["precision"][k] == pytest.approx(sk.precision_score(y_true[:, k], y_pred[:, k]))
        assert s["recall"][k] == pytest.approx(sk.recall_score(y_true[:, k], y_pred[:, k]))
        assert s["f1"][k] == pytest.approx(sk.f1_score(y_true[:, k], y_pred[:, k]))
        assert cohen_kappa(y_true[:, k], y_pred[:, k]) == pytest.approx(
            sk.cohen_kappa_score(y_true[:, k], y_pred[:, k])
        )


def test_kappa_hand_computed_and_degenerate() -> None:
    # po = 3/4; pe = (2*1 + 2*3)/16 = 1/2 → kappa = 1/2
    assert cohen_kappa(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0])) == pytest.approx(0.5)
    assert cohen_kappa(np.array([1, 0, 1, 0]), np.array([1, 0, 1, 0])) == pytest.approx(1.0)
    assert np.isnan(cohen_kappa(np.zeros(10), np.zeros(10)))  # expected agreement 1
    k = cohen_kappa(np.array([[1, 0], [0, 0], [1, 0]]), np.array([[1, 0], [0, 0], [1, -1]]))
    assert k[0] == pytest.approx(1.0) and np.isnan(k[1])


def test_bootstrap_matches_the_papers_resampling_loop() -> None:
    rng = np.random.default_rng(1)
    y_true = (rng.random((120, 3)) < 0.3).astype(int)
    y_pred = np.where(rng.random((120, 3)) < 0.8, y_true, 1 - y_true)
    b = 50
    vec = bootstrap_scores(y_true, y_pred, n_resamples=b, seed=123)
    np.random.seed(123)  # the paper's own drawing
    samples = np.random.randint(120, size=120 * b).reshape(b, 120)
    assert np.array_equal(samples, bootstrap_indices(120, b, 123))
    for i in range(b):
        s = binary_scores(y_true[samples[i]], y_pred[samples[i]])
        for m in ("precision", "recall", "specificity", "f1"):
            np.testing.assert_allclose(vec[m][i], s[m])
    ci = bootstrap_ci(y_true, y_pred, n_resamples=b, seed=123)
    for m in ("precision", "recall", "specificity", "f1"):
        srt = np.sort(vec[m], axis=0)
        np.testing.assert_allclose(ci[m][:, 0], srt[int(0.025 * b)])
        np.testing.assert_allclose(ci[m][:, 1], srt[int(0.975 * b)])
    point = binary_scores(y_true, y_pred)
    assert np.all(ci["f1"][:, 0] <= point["f1"]) and np.all(point["f1"] <= ci["f1"][:, 1])
    again = bootstrap_ci(y_true, y_pred, n_resamples=b, seed=123)
    assert all(np.array_equal(ci[m], again[m]) for m in ci)


def test_bootstrap_leaves_out_undefined_resamples() -> None:
    y_true = np.zeros((30, 1), dtype=int)
    y_true[0] = 1  # one positive: many resamples miss it
    ci = bootstrap_ci(y_true, y_true, n_resamples=200, seed=0)
    assert 0 < ci["recall_undefined"][0] < 200
    assert ci["recall"][0].tolist() == [1.0, 1.0]
    none = bootstrap_ci(np.zeros((10, 1)), np.zeros((10, 1)), n_resamples=20)
    assert np.isnan(none["recall"]).all() and none["recall_undefined"][0] == 20


def test_mcnemar_exact_and_chi_square() -> None:
    y = np.zeros(60, dtype=int)
    a = y.copy()
    b = y.copy()
    b[:3] = 1  # B wrong on 3 exams where A is right
    r = mcnemar(y, a, b)
    assert r["b"][0] == 0 and r["c"][0] == 3
    assert r["method"][0] == "exact binomial" and r["p_value"][0] == pytest.approx(0.25)  # 2 * 0.5**3
    assert r["statistic"][0] == pytest.approx(3.0)
    a[3:33] = 1  # A wrong on 30 more: 33 discordant → chi-square (30 - 3)² / 33
    r = mcnemar(y, a, b)
    assert r["method"][0] == "chi-square" and r["statistic"][0] == pytest.approx(27**2 / 33)
    from scipy import stats

    assert r["p_value"][0] == pytest.approx(stats.chi2.sf(27**2 / 33, 1))
    assert r["p_exact"][0] == pytest.approx(stats.binomtest(30, 33).pvalue)
    same = mcnemar(y, y, y)
    assert same["method"][0] == "no discordant exams" and same["p_value"][0] == 1.0
    assert np.isnan(same["p_chi2"][0])


def test_pr_curve_auprc_auroc_against_scikit_learn() -> None:
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(2)
    y = (rng.random(400) < 0.1).astype(int)
    s = np.clip(y * 0.3 + rng.random(400) * 0.8, 0, 1).round(2)  # with ties
    p, r, t = precision_recall_curve(y, s)
    sp, sr, st = sk.precision_recall_curve(y, s)
    np.testing.assert_allclose(p, sp)
    np.testing.assert_allclose(r, sr)
    np.testing.assert_allclose(t, st)
    assert average_precision(y, s) == pytest.approx(sk.average_precision_score(y, s))
    assert roc_auc(y, s) == pytest.approx(sk.roc_auc_score(y, s))
    assert np.isnan(average_precision(np.zeros(10), np.linspace(0, 1, 10)))
    assert np.isnan(roc_auc(np.zeros(10), np.linspace(0, 1, 10)))


def test_threshold_is_strict() -> None:
    assert threshold(np.array([[0.5, 0.49, 0.51]]), [0.5, 0.5, 0.5]).tolist() == [[0, 0, 1]]


def test_evaluate_reproduces_the_papers_numbers(shared_data: Path) -> None:
    from ecgviewer.labels import load_label_file

    folder = shared_data / "code-test" / "annotations"
    gold = load_label_file(folder / "gold_standard.csv").values
    raters = {
        n: load_label_file(folder / f"{f}.csv").values
        for n, f in (
            ("DNN", "dnn"),
            ("cardio.", "cardiology_residents"),
            ("emerg.", "emergency_residents"),
            ("stud.", "medical_students"),
        )
    }
    ev = evaluate(gold, raters, n_resamples=100)
    published = np.genfromtxt(
        shared_data / "code-test" / "published" / "scores.csv", delimiter=",", skip_header=2
    )[:, 1:]  # (6 classes, 4 metrics × 4 raters)
    ours = np.array(
        [
            [ev.scores[r][m][k] for m in ("precision", "recall", "specificity", "f1") for r in ev.raters]
            for k in range(6)
        ]
    )
    np.testing.assert_array_equal(np.round(ours, 3), published)
    kappa = np.genfromtxt(
        shared_data / "code-test" / "published" / "kappa.csv", delimiter=",", skip_header=1
    )[:, 1:]
    np.testing.assert_array_equal(np.round([v for _, _, v in ev.kappa], 3), kappa)
    assert [f"{a} vs {b}" for a, b, _ in ev.kappa][:3] == ["DNN vs cardio.", "DNN vs emerg.", "DNN vs stud."]
    rows = ev.table2_rows()
    assert len(rows) == 24 and rows[0]["class"] == "1dAVb" and rows[0]["rater"] == "DNN"
    assert rows[0]["f1_low"] <= rows[0]["f1"] <= rows[0]["f1_high"]
    assert ev.score("DNN", "f1", "AF") == pytest.approx(0.8696, abs=1e-4)
    assert len(ev.mcnemar_rows()) == 6 * 6


def test_evaluate_with_probabilities_and_undefined_class() -> None:
    gold = np.zeros((50, 6), dtype=int)
    gold[:10, 0] = 1
    prob = np.full((50, 6), 0.01)
    prob[:10, 0] = 0.9
    prob[10:12, 0] = 0.6
    ev = evaluate(gold, {}, probabilities={"M": prob}, thresholds={"M": [0.5] * 6}, n_resamples=50)
    assert ev.raters == ["M"]
    assert ev.scores["M"]["precision"][0] == pytest.approx(10 / 12)
    assert np.isnan(ev.scores["M"]["recall"][3]) and "TP + FN = 0" in ev.undefined["M"]["recall"][3]
    assert ev.curves["M"][0].auprc == pytest.approx(1.0) and np.isnan(ev.curves["M"][3].auprc)
    assert ev.curves["M"][3].note.startswith("undefined")
    with pytest.raises(ValueError, match="shape"):
        evaluate(gold, {"X": np.zeros((3, 6))})


def test_evaluate_sets_for_an_opened_set(shared_data: Path) -> None:
    from ecgviewer.labels import discover_labels
    from ecgviewer.metrics import evaluate_sets

    found = discover_labels(shared_data / "code-test" / "exams" / "pacient_1.hdf5")
    keys = [(f"pacient_{i}", 0) for i in range(1, 11)]  # the ten single-exam files
    prob = np.load(shared_data / "code-test" / "published" / "other_seeds" / "model_1.npy")[:10]
    ev = evaluate_sets(
        keys,
        found[0],
        found,
        probabilities=prob,
        thresholds=[0.124, 0.07, 0.05, 0.278, 0.390, 0.174],
        model_name="DNN",
        n_resamples=50,
    )
    assert ev.n_exams == 10 and ev.raters[0] == "DNN" and "Gold standard" not in ev.raters
    assert len(ev.raters) == 7  # the model and six annotator files
    assert ev.raters[-1] == "DNN (dnn.csv)"  # the paper's file, renamed beside the model
    for m in ("precision", "recall", "f1"):  # the thresholded model is dnn.csv
        np.testing.assert_array_equal(ev.scores["DNN"][m], ev.scores["DNN (dnn.csv)"][m])
