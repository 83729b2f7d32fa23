"""Fine-tuning: base weights read back exactly, a 2-class model end to end on synthetic exams."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from conftest import run_evaluate  # noqa: E402

from ecgviewer.cli import main  # noqa: E402
from ecgviewer.model.runtime import create_model, read_contract  # noqa: E402
from ecgviewer.synth import write_hdf5_code  # noqa: E402
from ecgviewer.training.base_weights import load_base  # noqa: E402
from ecgviewer.training.finetune import (  # noqa: E402
    FinetuneConfig,
    best_f1_thresholds,
    finetune,
    parse_classes,
    read_labels,
)


def test_keras_and_imported_onnx_weights_read_back_exactly(
    keras_fixture_onnx: Path, keras_fixture_dir: Path
) -> None:
    x = np.load(keras_fixture_dir / "inputs.npy")
    expected = create_model(keras_fixture_onnx, prefer_cuda=False).predict(x)
    for source in (keras_fixture_dir / "ribeiro_random_keras224.hdf5", keras_fixture_onnx):
        model, contract = load_base(source)
        with torch.no_grad():
            got = model(torch.as_tensor(x)).numpy()
        assert np.abs(got - expected).max() <= 1e-5, source.name
        assert contract.classes[0] == "1dAVb"


def test_labels_missing_class_is_not_available(tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    path.write_text("exam_id,NORM\n1,1\n2,0\n3,\n")
    table = read_labels(path, parse_classes(["normal=NORM,abnormal=!NORM", "AF"]))
    assert table.classes == ("normal", "abnormal", "AF")
    np.testing.assert_array_equal(table.values["2"][:2], [0, 1])
    assert np.isnan(table.values["3"]).all() and np.isnan(table.values["1"][2])
    assert table.missing_columns == ("AF",)


def test_six_class_labels_aligned_to_a_models_classes() -> None:
    from ecgviewer.labels import align_to_classes

    six = np.array([[0, 0, 0, 0, 1, 0], [0, 1, 0, 0, 0, 0]], np.int8)
    got = align_to_classes(six, ("AF", "abnormal", "RBBB"))
    np.testing.assert_array_equal(got, [[1, -1, 0], [0, -1, 1]])  # a class the labels lack: unknown


def test_best_f1_thresholds_separate_perfectly() -> None:
    y = np.array([[0], [0], [1], [1]], np.float32)
    p = np.array([[0.1], [0.3], [0.6], [0.9]], np.float32)
    t = best_f1_thresholds(y, p)
    assert 0.3 < t[0] < 0.6


@pytest.mark.slow  # the full network runs on 16 exams (features, export check, predict): ~20 s idle
def test_two_class_model_end_to_end(keras_fixture_onnx: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    data = write_hdf5_code(tmp_path / "set.h5", 16, seed=5, n_distinct=8, labels_csv=labels)
    out = tmp_path / "af.onnx"
    cfg = FinetuneConfig(
        base=str(keras_fixture_onnx),
        data=[str(data)],
        labels=str(labels),
        classes=["AF", "no_AF=!AF"],
        out=str(out),
        epochs=3,
        batch_size=8,
        valid_fraction=0.3,
    )
    stages: list[str] = []
    result = finetune(cfg, progress=lambda stage, d, t: stages.append(stage))
    assert {"features", "epoch", "export"} <= set(stages)
    contract, _ = read_contract(out)
    assert contract.classes == ("AF", "no_AF") and len(contract.thresholds) == 2
    assert contract.provenance.startswith(f"fine-tuned from {read_contract(keras_fixture_onnx)[0].name}")
    assert "by exam" in contract.metrics["validation"]["split"]  # no patient ids in these labels
    assert set(contract.metrics["validation"]["auroc"]) == {"AF", "no_AF"}
    assert contract.units == "mV"
    assert result.n_train + result.n_valid == 16
    # resume: a second run with the same settings starts from the checkpoint (no epoch left to run)
    again = finetune(cfg)
    assert again.contract.thresholds == result.contract.thresholds
    # predict shows its two classes
    pred = tmp_path / "p.csv"
    assert main(["predict", str(data), "--model", str(out), "--out", str(pred), "--quiet"]) == 0
    with open(pred, newline="") as fh:
        header = next(csv.reader(fh))
    assert header[3:7] == ["prob_AF", "prob_no_AF", "AF", "no_AF"]
    # the report lists the model's two classes (without SHAP, to stay fast), for an exam without
    # six-class labels beside it (report.py's label table still assumes the paper's six classes)
    bare = tmp_path / "bare"
    bare.mkdir()
    single = write_hdf5_code(bare / "one.h5", 1, seed=5, n_distinct=1)
    pdf = tmp_path / "r.pdf"
    assert main(["report", str(single), "--out", str(pdf), "--no-shap", "--model", str(out)]) == 0
    assert pdf.stat().st_size > 1000
    # evaluate scores the model's own classes, with its thresholds; a class the labels lack is not available
    ev = tmp_path / "ev"
    fast = ("--no-figures", "--bootstrap", "0")
    assert run_evaluate(pred, labels, ev, "--model", str(out), "--classes", "AF", "no_AF=!AF", *fast) == 0
    assert (ev / "decisions.csv").read_text().splitlines()[0] == "AF,no_AF"
    # no_AF is not a column of the labels: not available, not negative
    assert run_evaluate(pred, labels, ev, "--model", str(out), *fast) == 0
