"""The bundled model's card cannot drift from the model: its metrics are recomputed here."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ecgviewer.model.card import SETS, aim_report, card_metrics
from ecgviewer.model.runtime import bundled_model_path, load_model
from ecgviewer.paths import models_dir


def _same(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, abs_tol=2e-4)
    return a == b


def _pair_tolerance(positives: int, n_exams: int) -> float:
    """AUROC counts ordered (positive, negative) pairs. Near-saturated probabilities differ only in
    float round-off, whose order changes with onnxruntime's thread count and graph (the load-time
    Conv2D rewrite), so a tied pair may flip: allow one pair, plus the card's 4-decimal rounding."""
    negatives = n_exams - positives
    return (1.0 / (positives * negatives) if positives and negatives else 0.0) + 1.5e-4


def _same_set(fresh: dict, stored: dict) -> bool:
    """One set's figures; AUROCs within one flipped pair of ties, everything else as :func:`_same`."""
    if "classes" not in fresh or "n_exams" not in fresh:
        return _same(fresh, stored)
    if fresh.keys() != stored.keys() or fresh["classes"].keys() != stored["classes"].keys():
        return False
    tolerances = []
    for cls, f in fresh["classes"].items():
        s = stored["classes"][cls]
        tol = _pair_tolerance(int(f["positives"]), int(fresh["n_exams"]))
        if isinstance(f.get("auroc"), float) and isinstance(s.get("auroc"), float):
            tolerances.append(tol)
            if abs(f["auroc"] - s["auroc"]) > tol:
                return False
        rest = [k for k in f if k != "auroc"]
        if f.keys() != s.keys() or not all(_same(f[k], s[k]) for k in rest):
            return False
    others = [k for k in fresh if k not in ("classes", "macro_auroc")]
    macro_tol = sum(tolerances) / len(tolerances) if tolerances else 2e-4
    return all(_same(fresh[k], stored[k]) for k in others) and _close_or_equal(
        fresh.get("macro_auroc"), stored.get("macro_auroc"), macro_tol
    )


def _close_or_equal(a: object, b: object, tol: float) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= tol
    return a == b


def test_auroc_tolerance_is_one_pair_of_ties() -> None:
    stored = {
        "n_exams": 120,
        "macro_f1": 0.5,
        "macro_auroc": 0.8261,
        "classes": {"RBBB": {"positives": 4, "auroc": 0.8222, "f1": 0.75}},
    }
    one_pair = {
        **stored,
        "macro_auroc": 0.8263,
        "classes": {"RBBB": {"positives": 4, "auroc": 0.8244, "f1": 0.75}},
    }
    drift = {**stored, "macro_auroc": 0.84, "classes": {"RBBB": {"positives": 4, "auroc": 0.84, "f1": 0.75}}}
    other = {**stored, "classes": {"RBBB": {"positives": 4, "auroc": 0.8222, "f1": 0.70}}}
    assert _same_set(one_pair, stored)
    assert not _same_set(drift, stored)
    assert not _same_set(other, stored)


@pytest.mark.slow
def test_card_metrics_are_recomputed_from_the_committed_model(shared_data: Path) -> None:
    model = load_model(bundled_model_path(), prefer_cuda=False)
    stored = model.contract.metrics
    assert set(SETS) <= stored.keys(), "the bundled model carries no card metrics"
    fresh = card_metrics(model, shared_data)
    for name in fresh:
        assert _same_set(fresh[name], stored[name]), name


def test_card_file_states_what_the_model_is() -> None:
    model = load_model(bundled_model_path(), prefer_cuda=False)
    card = (models_dir() / f"{model.contract.name}.md").read_text()
    assert "Not a medical device" in card
    assert "import-keras" in card
    assert "not a medical device" in model.contract.notice.lower()
    for cls, thr in zip(model.contract.classes, model.contract.thresholds, strict=True):
        assert f"{cls} {thr}" in card
    external = model.contract.metrics["challenge2021_external"]
    assert f"macro AUROC {external['macro_auroc']}" in card
    # where it falls short, by how much, from the model's own figures
    assert aim_report(model.contract.metrics, model.contract.thresholds, model.contract.classes) in card


def _set(n: int, macro_f1: float, **classes: tuple[int, float, float, float, float | None]) -> dict:
    """A card set: class → (positives, F1, AUROC, recall, precision)."""
    return {
        "n_exams": n,
        "macro_f1": macro_f1,
        "macro_auroc": 0.9,
        "classes": {
            c: {"positives": k, "f1": f1, "auroc": auc, "recall": rec, "precision": prec}
            for c, (k, f1, auc, rec, prec) in classes.items()
        },
    }


def test_aim_report_says_by_how_much_and_why() -> None:
    metrics = {
        "ptbxl_fold9_100hz": _set(100, 0.75, SB=(20, 0.9, 0.99, 0.9, 0.9), AF=(30, 0.6, 0.95, 0.6, 0.6)),
        "challenge2021_external": _set(
            50,
            0.4,
            SB=(10, 0.0, 0.97, 0.0, None),  # ranks well, nobody passes the threshold
            AF=(6, 0.5, 0.8, 0.5, 0.5),  # ranks poorly
            ST=(2, 0.0, 0.5, 0.0, 0.0),  # too few positives to count
        ),
        "code_test_1_10": _set(10, 0.0, SB=(1, 0.0, 1.0, 0.0, None)),
    }
    text = aim_report(metrics, (0.8, 0.5), classes=("SB", "AF"))
    lines = text.splitlines()
    assert (
        lines[0]
        == "- `ptbxl_fold9_100hz`, class AUROC ≥ 0.97: missed by AF 0.95 (short by 0.020); met by SB."
    )
    assert "macro F1 ≥ 0.80: 0.75 (short by 0.050; weakest class AF, F1 0.6)" in lines[1]
    assert "(SB 10, AF 6): 0.250 (short by 0.450)" in lines[2]
    assert "SB ranks well (AUROC 0.97) but 0 of its 10 positives pass the fold-9 threshold 0.8" in lines[2]
    assert "AF ranks poorly here (AUROC 0.8)" in lines[2] and "ST" not in lines[2]
    assert (
        lines[3]
        == "- `code_test_1_10`: no class has 5 positives (at most 1): too few to score against the aim."
    )
    met = {"ptbxl_fold9_100hz": _set(100, 0.85, SB=(20, 0.9, 0.99, 0.9, 0.9))}
    assert aim_report(met, (0.5,), classes=("SB",)).splitlines() == [
        "- `ptbxl_fold9_100hz`, class AUROC ≥ 0.97: met by SB.",
        "- `ptbxl_fold9_100hz`, macro F1 ≥ 0.80: 0.85 (met; weakest class SB, F1 0.9).",
    ]
