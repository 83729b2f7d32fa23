"""The amplitude contract: exams and the canonical network input are mV; each model states its scale."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt

from ecgviewer.errors import ModelError
from ecgviewer.io import open_exams
from ecgviewer.leads import LEADS
from ecgviewer.model.contract import CONTRACT_VERSION, METADATA_KEY, PAPER_PROVENANCE, ModelContract
from ecgviewer.model.runtime import create_model
from ecgviewer.preprocess import to_model_input
from ecgviewer.synth import synth_exam
from tests.test_model_runtime import tiny_model


def _no_cuda() -> str:
    return "tests"


class _RecordingSession:
    """Wraps an onnxruntime session and keeps every batch it is fed."""

    def __init__(self, session) -> None:
        self.session = session
        self.fed: list[np.ndarray] = []

    def run(self, names, feeds):
        self.fed.append(next(iter(feeds.values())).copy())
        return self.session.run(names, feeds)


def _legacy_json(contract: ModelContract) -> str:
    """The contract as version 1 wrote it: no contract_version, no input_scale_per_mv."""
    data = asdict(contract)
    del data["contract_version"], data["input_scale_per_mv"]
    return json.dumps(data)


def _model_with_contract_json(path: Path, text: str) -> Path:
    import onnx
    from onnx import helper

    tiny_model(path)
    proto = onnx.load(str(path))
    helper.set_model_props(proto, {METADATA_KEY: text})
    onnx.save(proto, str(path))
    return path


@pytest.mark.parametrize("number", range(1, 11))
def test_code_exams_read_as_millivolts(shared_data: Path, number: int) -> None:
    path = shared_data / "code-test" / "exams" / f"pacient_{number}.hdf5"
    with open_exams(path) as exams:
        exam = exams[0]
    assert exam.fs == 400 and exam.signal_mv.shape == (4096, 12)
    assert any("read as mV" in note for note in exam.notes)
    ii = exam.signal_mv[:, exam.leads.index("II")].astype(np.float64)
    nonzero = np.flatnonzero(ii != 0)
    ii = ii[nonzero[0] : nonzero[-1] + 1]  # the zero padding is not signal
    ii = sosfiltfilt(butter(2, 0.5, "highpass", fs=400, output="sos"), ii)
    windows = [ii[i : i + 400] for i in range(0, len(ii) - 399, 400)]
    median_pp = float(np.median([w.max() - w.min() for w in windows]))
    assert 0.5 <= median_pp <= 5.0, median_pp


def test_explicit_units_still_override_the_code_default(shared_data: Path) -> None:
    path = shared_data / "code-test" / "exams" / "pacient_2.hdf5"
    with open_exams(path) as mv, open_exams(path, units="1e-4 V") as tenth:
        np.testing.assert_allclose(tenth[0].signal_mv, mv[0].signal_mv * 0.1, rtol=1e-6)


def test_models_get_their_own_scale_of_the_same_exam(tmp_path: Path) -> None:
    exam = synth_exam(("RBBB",), fs=500, seed=3)
    mv = create_model(tiny_model(tmp_path / "mv.onnx", contract=ModelContract("mv", "1")), probe=_no_cuda)
    tenth_contract = ModelContract("tenth", "1", units="1e-4 V", input_scale_per_mv=10.0)
    tenth = create_model(tiny_model(tmp_path / "tenth.onnx", contract=tenth_contract), probe=_no_cuda)
    for model in (mv, tenth):
        model.session = _RecordingSession(model.session)
        model.predict_exam(exam)
    fed_mv, fed_tenth = mv.session.fed[0], tenth.session.fed[0]
    np.testing.assert_array_equal(fed_tenth, fed_mv * np.float32(10))
    x, _ = to_model_input(exam)
    np.testing.assert_array_equal(fed_mv[0], x)  # the canonical input is mV, passed unchanged
    # the preprocessing report says what the runtime did for each model
    assert mv.predict_exam(exam).report.notes[-1] == "The model reads mV: amplitudes passed unchanged."
    assert "mV × 10" in tenth.predict_exam(exam).report.notes[-1]


def test_contract_scale_must_agree_with_its_units(tmp_path: Path) -> None:
    bad = ModelContract("bad", "1", units="1e-4 V", input_scale_per_mv=1.0)
    with pytest.raises(ModelError, match=r"bad\.onnx.*contradicts units '1e-4 V'"):
        create_model(tiny_model(tmp_path / "bad.onnx", contract=bad), probe=_no_cuda)
    odd = ModelContract("odd", "1", units="furlongs", input_scale_per_mv=1.0)
    with pytest.raises(ModelError, match=r"odd\.onnx.*'furlongs'"):
        create_model(tiny_model(tmp_path / "odd.onnx", contract=odd), probe=_no_cuda)


def test_new_contracts_carry_a_version_and_an_explicit_scale() -> None:
    data = json.loads(ModelContract("m", "1").to_json())
    assert data["contract_version"] == CONTRACT_VERSION == 2
    assert data["units"] == "mV" and data["input_scale_per_mv"] == 1.0


def test_old_published_import_is_read_as_millivolts_with_a_notice(tmp_path: Path) -> None:
    old = ModelContract(
        "Ribeiro et al. 2020 (model)",
        "keras-0123456789ab",
        units="1e-4 V",
        input_scale_per_mv=10.0,
        provenance=f"{PAPER_PROVENANCE}; converted from model.hdf5",
        extra={"converter": "ecgviewer 0.1.0 (ecgviewer.model.keras_import)", "source_file": "model.hdf5"},
    )
    path = _model_with_contract_json(tmp_path / "old.onnx", _legacy_json(old))
    model = create_model(path, probe=_no_cuda)
    assert model.contract.contract_version == 1
    assert model.contract.units == "mV" and model.input_scale_per_mv == 1.0
    assert any("import-keras model.hdf5" in w and "'1e-4 V'" in w for w in model.warnings)


def test_old_own_model_keeps_the_scale_it_was_trained_with(tmp_path: Path) -> None:
    own = ModelContract("ecgviewer-resnet-ptbxl", "1.0", units="1e-4 V", provenance="Trained by the project")
    path = _model_with_contract_json(tmp_path / "own.onnx", _legacy_json(own))
    model = create_model(path, probe=_no_cuda)
    assert model.contract.units == "1e-4 V" and model.input_scale_per_mv == 10.0
    assert model.warnings == []


def test_bundled_mv_model_predictions_on_wfdb(shared_data: Path) -> None:
    """Bundled model 2 (mV, no conversion) on three WFDB records; values from its export, to float
    rounding (onnxruntime's kernels differ between CPUs). A new bundled model brings new values."""
    expected = {
        "wfdb/challenge2021/CPSC_CPSC-Extra/A0001.hea": [
            0.022667,
            0.983283,
            0.000355,
            0.000203,
            0.009941,
            0.563876,
        ],
        "wfdb/challenge2021/CPSC_CPSC-Extra/A0003.hea": [
            0.002902,
            0.000112,
            0.004262,
            0.000355,
            0.873917,
            0.016638,
        ],
        "ptbxl/records500/00008_hr.hea": [0.000741, 0.0, 0.0, 0.000013, 0.000011, 0.000002],
    }
    from ecgviewer.model.runtime import bundled_model_path

    model = create_model(bundled_model_path(), probe=_no_cuda)
    assert (model.contract.units, model.contract.version) == ("mV", "2.0"), "values are model 2.0's"
    assert model.input_scale_per_mv == 1.0 and model.warnings == []
    # the graph as exported; the load-time Conv2D rewrite is exact to float rounding
    exported = create_model(bundled_model_path(), probe=_no_cuda, conv2d=False)
    for rel, probs in expected.items():
        with open_exams(shared_data / rel) as exams:
            got = model.predict_exam(exams[0]).probabilities
            as_exported = exported.predict_exam(exams[0]).probabilities
        np.testing.assert_allclose(got, probs, atol=2e-5, err_msg=rel)
        np.testing.assert_allclose(got, as_exported, atol=1e-6, err_msg=rel)


def test_convert_round_trips_code_files(shared_data: Path, tmp_path: Path) -> None:
    from ecgviewer.cli import main

    src = [str(shared_data / "code-test" / "exams" / f"pacient_{i}.hdf5") for i in (1, 2, 3)]
    out = tmp_path / "code.hdf5"
    assert main(["convert", *src, "--out", str(out)]) == 0
    with open_exams(out) as back:
        assert len(back) == 3
        for i, path in enumerate(src):
            with open_exams(path) as orig:
                want = orig[0].signal_mv.astype(np.float32)
            got = back[i].signal_mv
            assert back[i].leads == LEADS
            np.testing.assert_array_equal(got, want)
    import h5py

    with h5py.File(out, "r") as h:  # what the paper's predict.py reads: mV, unscaled
        assert h.attrs["units"] == "mV"
        with h5py.File(src[0], "r") as o:
            np.testing.assert_array_equal(h["tracings"][0], o["tracings"][0].astype(np.float32))
