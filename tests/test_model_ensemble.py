"""Ensembles: mean, spread and agreement equal numpy's; predict and evaluate; SHAP of the mean."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest
from conftest import run_evaluate

from ecgviewer.cli import main
from ecgviewer.errors import ModelError
from ecgviewer.model.contract import ModelContract
from ecgviewer.model.ensemble import (
    EnsembleModel,
    ensemble_thresholds,
    list_ensembles,
    load_ensemble,
    save_ensemble,
    summarize,
)
from ecgviewer.model.runtime import create_model
from ecgviewer.paths import user_models_dir
from ecgviewer.synth import synth_exam
from tests.onnx_models import save_mean_linear_model


def member_model(path: Path, seed: int, contract: ModelContract) -> Path:
    """A fast stand-in member: mean over time, a (12, C) matrix drawn from ``seed``, sigmoid."""
    w = np.random.default_rng(seed).normal(0, 2, (12, len(contract.classes))).astype(np.float32)
    member = dataclasses.replace(contract, name=path.stem)
    return save_mean_linear_model(path, w, graph_name="member", contract=member)


PAPER = ModelContract(name="m", version="1", provenance="tests")


@pytest.fixture
def members() -> list[Path]:
    folder = user_models_dir()
    return [member_model(folder / f"seed{i}.onnx", i, PAPER) for i in range(1, 5)]


def _inputs(n: int = 7) -> np.ndarray:
    return np.random.default_rng(0).normal(0, 0.3, (n, 4096, 12)).astype(np.float32) + np.linspace(
        -0.5, 0.5, 12, dtype=np.float32
    )


def test_mean_spread_and_agreement_equal_numpy(members: list[Path]) -> None:
    ens = load_ensemble([str(p) for p in members])
    x = _inputs()
    each = np.stack([create_model(p, prefer_cuda=False).predict(x) for p in members])
    np.testing.assert_allclose(ens.predict_members(x), each, atol=1e-7)
    np.testing.assert_allclose(ens.predict(x), each.mean(axis=0), atol=1e-7)
    s = summarize(each, ens.member_thresholds)
    t = np.asarray(PAPER.thresholds, np.float32)
    np.testing.assert_array_equal(s.spread_min, each.min(axis=0))
    np.testing.assert_array_equal(s.spread_max, each.max(axis=0))
    np.testing.assert_array_equal(s.n_positive, (each > t).sum(axis=0))
    np.testing.assert_array_equal(s.decisions, each.mean(axis=0) > t)
    assert ens.thresholds.tolist() == pytest.approx(list(PAPER.thresholds))
    assert ens.threshold_note == "thresholds shared by all members"
    pred = ens.predict_exam(synth_exam("normal", seed=1))
    assert pred.member_probabilities.shape == (4, 6) and pred.member_names == tuple(p.stem for p in members)
    np.testing.assert_allclose(pred.probabilities, pred.member_probabilities.mean(axis=0), atol=1e-7)
    np.testing.assert_array_equal(pred.spread_min, pred.member_probabilities.min(axis=0))
    k = int(np.argmax(pred.n_positive))
    assert pred.agreement(k) == f"{int(pred.n_positive[k])} of 4 members positive"


def test_thresholds_differing_are_averaged_and_said_so() -> None:
    t, note = ensemble_thresholds(np.array([[0.2, 0.4], [0.4, 0.4]]))
    assert t.tolist() == pytest.approx([0.3, 0.4]) and "mean" in note


def test_members_of_other_classes_are_refused(members: list[Path], tmp_path: Path) -> None:
    two = dataclasses.replace(PAPER, classes=("normal", "abnormal"), thresholds=(0.5, 0.5))
    other = member_model(tmp_path / "two.onnx", 9, two)
    with pytest.raises(ModelError, match=r"two\.onnx cannot join an ensemble.*classes"):
        EnsembleModel([create_model(members[0], prefer_cuda=False), create_model(other, prefer_cuda=False)])


def test_shap_explains_the_ensemble_mean(members: list[Path]) -> None:
    from ecgviewer.explain import explain

    ens = load_ensemble([str(p) for p in members])
    x, _ = ens.prepare(synth_exam("normal", seed=2))
    sal = explain(ens, x, segments=4, max_evals=64)
    np.testing.assert_allclose(sal.probabilities, ens.predict(x[None])[0], atol=1e-6)
    # efficiency: the values of each class add up to f(x) - f(baseline) of the mean
    np.testing.assert_allclose(sal.values.sum(axis=(1, 2)), sal.probabilities - sal.base_values, atol=1e-4)


def test_predict_cli_writes_mean_and_member_columns_and_evaluate_reads_them(
    members: list[Path], tmp_path: Path
) -> None:
    from ecgviewer.synth import write_hdf5_code

    data = write_hdf5_code(tmp_path / "set.h5", 5, seed=3, n_distinct=5, labels_csv=tmp_path / "gold.csv")
    out = tmp_path / "p.csv"
    args = ["predict", str(data), "--out", str(out), "--quiet"]
    args += [a for p in members[:3] for a in ("--model", p.name)]
    assert main([*args, "--save-ensemble", "three seeds"]) == 0
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    m = np.array([[float(r[f"prob_AF@{p.stem}"]) for p in members[:3]] for r in rows])
    assert [float(r["prob_AF"]) for r in rows] == pytest.approx(m.mean(axis=1).tolist(), abs=1e-6)
    assert [float(r["min_AF"]) for r in rows] == pytest.approx(m.min(axis=1).tolist())
    assert [e.name for e in list_ensembles()] == ["three seeds"]
    npy = tmp_path / "members.npy"
    assert main(["predict", str(data), "--out", str(npy), "--ensemble", "three seeds", "--npy-members"]) == 0
    every = np.load(npy)
    assert every.shape == (3, 5, 6)
    np.testing.assert_allclose(every.mean(axis=0)[:, 4], [float(r["prob_AF"]) for r in rows], atol=1e-6)
    # evaluate reads the CSV's mean columns and the (M, N, C) array as their mean: the same scores
    fast = ("--no-figures", "--bootstrap", "0")
    for pred in (out, npy):
        assert run_evaluate(pred, tmp_path / "gold.csv", tmp_path / pred.stem, *fast) == 0
    a = (tmp_path / "p" / "scores.csv").read_text()
    b = (tmp_path / "members" / "scores.csv").read_text()
    assert a == b


def test_saved_ensemble_round_trip(members: list[Path]) -> None:
    path = save_ensemble("Seeds 1–4", [p.name for p in members])
    assert path.parent == user_models_dir() / "ensembles"
    ens = load_ensemble("Seeds 1–4")
    assert ens.name == "Seeds 1–4" and ens.member_names == tuple(p.stem for p in members)
    with pytest.raises(ModelError, match="no saved ensemble"):
        load_ensemble("absent")
