"""Hostile inputs through the public API and the CLI: a clear error or a handled note, never a
traceback, a hang, a partial output or a confident answer from a non-signal.

The corpus is written at test time by :mod:`tests.hostile.corpus` (no binaries committed). The
network is the tiny ONNX stand-in of ``test_model_runtime`` with a full contract; one test runs
the bundled model.
"""

from __future__ import annotations

import atexit
import csv as csv_module
import json
import re
import shutil
import stat
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ecgviewer.cli import main
from ecgviewer.errors import EcgViewerError, ModelError
from ecgviewer.io import open_exams
from ecgviewer.model.runtime import create_model
from tests.hostile.corpus import Case, build, contract_cases, ecg, h5, keras_cases, small_conv_net
from tests.test_model_runtime import CONTRACT, tiny_model

_ROOT = Path(tempfile.mkdtemp(prefix="ecgviewer-hostile-"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)
CASES: dict[str, Case] = {c.name: c for c in build(_ROOT / "corpus")}


@pytest.fixture(autouse=True)
def _small_memory_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """16 MB of samples per exam (the default is 64 MB): the size cases stay quick."""
    monkeypatch.setenv("ECGVIEWER_MAX_EXAM_MB", "16")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("model") / "tiny.onnx", contract=CONTRACT)


def test_corpus_is_large_and_covers_every_family() -> None:
    families = {c.family for c in CASES.values()}
    assert len(CASES) + len(contract_cases()) + 6 >= 60
    assert {
        "containment",
        "size",
        "non-finite",
        "bad-number",
        "bad-metadata",
        "quality",
        "folders",
        "names",
    } <= families


def _api(case: Case, model) -> tuple[str, list]:
    """Everything the API says about the case (errors, notes), and the predictions it made."""
    texts: list[str] = []
    predictions = []
    try:
        exams = open_exams(case.paths)
    except EcgViewerError as err:
        return str(err), predictions
    with exams:
        texts += [str(e) for e in exams.errors]
        for i in range(min(len(exams), 4)):
            try:
                exam = exams[i]
                texts += exam.notes
                predictions.append(model.predict_exam(exam))
            except EcgViewerError as err:
                texts.append(str(err))
    return "\n".join(texts), predictions


@pytest.mark.parametrize("name", list(CASES))
def test_public_api(name: str, tiny: Path) -> None:
    case = CASES[name]
    model = create_model(tiny, prefer_cuda=False)
    text, predictions = _api(case, model)  # any other exception type fails the test
    assert re.search(case.match, text), f"{name}: {text!r} does not match {case.match!r}"
    if case.expect == "error":
        assert not predictions, f"{name}: predicted although the input is refused"
    else:
        assert predictions, f"{name}: nothing predicted ({text})"
    for p in predictions:
        assert np.isfinite(p.probabilities).all() and np.isfinite(p.input).all()
    if case.withheld:
        assert all(p.decisions_withheld and not p.decisions.any() and p.unreliable for p in predictions)
        assert all(p.quality_note for p in predictions)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv_module.DictReader(fh))


def _run(capsys, argv: list[str]) -> tuple[int, str]:
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out + err


@pytest.mark.parametrize("name", list(CASES))
def test_cli(name: str, tiny: Path, tmp_path: Path, capsys) -> None:
    case = CASES[name]
    paths = [str(p) for p in case.paths]
    rc, text = _run(capsys, ["info", *paths])
    assert "Traceback" not in text
    assert re.search(case.match, text), f"info {name}: {text!r}"
    if case.expect == "error" or case.skipped:
        assert rc != 0, f"info {name} exited 0: {text}"
    out = tmp_path / "out" / "p.csv"
    out.parent.mkdir()
    rc, text = _run(capsys, ["predict", *paths, "--out", str(out), "--model", str(tiny), "--quiet"])
    assert "Traceback" not in text
    assert not [p for p in out.parent.iterdir() if p.name != "p.csv"], "temporary files left behind"
    if case.expect == "error" or case.skipped:
        assert rc != 0, f"predict {name} exited 0: {text}"
    if out.exists():
        with open(out, newline="", encoding="utf-8") as fh:
            rows = list(csv_module.DictReader(fh))
        assert rows and all(r["error"] or r["prob_AF"] for r in rows)
        if case.withheld:
            assert all("withheld" in r["quality"] for r in rows if not r["error"])
            assert all(r["AF"] in ("", "0") for r in rows)
    else:
        assert rc != 0


def test_batch_isolates_one_bad_exam_in_predict_and_report(tiny: Path, tmp_path: Path, capsys) -> None:
    data = tmp_path / "set"
    data.mkdir()
    for k in range(3):
        h5(data / f"good{k}.h5", ecg(seed=k)[None].astype("f4"))
    bad = ecg().astype("f4")
    bad[10, 2] = 1e38
    h5(data / "bad.h5", bad[None])
    out = tmp_path / "p.csv"
    rc, text = _run(capsys, ["predict", str(data), "--out", str(out), "--model", str(tiny)])
    assert rc == 1 and "Traceback" not in text
    rows = _rows(out)
    assert len(rows) == 4
    errors = [r for r in rows if r["error"]]
    assert len(errors) == 1 and "bad.h5" in errors[0]["error"] and "1e+38" in errors[0]["error"]
    assert "tiny" not in errors[0]["error"] and "NaN" not in errors[0]["error"]
    assert sum(bool(r["prob_AF"]) for r in rows) == 3
    pdf = tmp_path / "set.pdf"
    rc, text = _run(capsys, ["report", str(data), "--all", "--out", str(pdf), "--model", str(tiny)])
    assert rc == 1 and pdf.is_file() and "Traceback" not in text and "bad.h5" in text


def test_outputs_follow_the_umask(tiny: Path, tmp_path: Path, capsys) -> None:
    import os

    h5(tmp_path / "a.h5", ecg()[None].astype("f4"))
    old = os.umask(0o022)
    try:
        out = tmp_path / "p.csv"
        rc, _ = _run(capsys, ["predict", str(tmp_path / "a.h5"), "--out", str(out), "--model", str(tiny)])
    finally:
        os.umask(old)
    assert rc == 0 and stat.S_IMODE(out.stat().st_mode) == 0o644


@pytest.mark.parametrize(("name", "changes"), contract_cases())
def test_bad_contract_refused_on_load_naming_file_and_field(
    name: str, changes: dict, tmp_path: Path, capsys
) -> None:
    import onnx

    path = tiny_model(tmp_path / f"{name}.onnx", contract=CONTRACT)
    proto = onnx.load(str(path))
    data = json.loads(proto.metadata_props[0].value)
    data.update(changes)
    proto.metadata_props[0].value = json.dumps(data)
    onnx.save(proto, str(path))
    field = next(iter(changes))
    with pytest.raises(ModelError, match=rf"{re.escape(path.name)}.*{field}"):
        create_model(path, prefer_cuda=False)
    h5(tmp_path / "a.h5", ecg()[None].astype("f4"))
    rc, text = _run(
        capsys, ["predict", str(tmp_path / "a.h5"), "--out", str(tmp_path / "p.csv"), "--model", str(path)]
    )
    assert rc != 0 and "Traceback" not in text and field in text and not (tmp_path / "p.csv").exists()


def test_keras_foreign_files_refused_and_nothing_left(tmp_path: Path, capsys) -> None:
    from ecgviewer.paths import user_models_dir

    for name, path, match in keras_cases(tmp_path / "keras"):
        out = tmp_path / f"{name}.onnx"
        rc, text = _run(capsys, ["import-keras", str(path), "--out", str(out)])
        assert rc != 0 and "Traceback" not in text, name
        assert re.search(match, text) and str(path) in text, f"{name}: {text}"
        assert (
            not out.exists() and not list(user_models_dir().glob("*.onnx"))
            if user_models_dir().exists()
            else True
        )
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], name


def test_keras_small_conv_net_is_not_named_as_the_paper(tmp_path: Path, capsys) -> None:
    from ecgviewer.model.contract import PAPER_PROVENANCE
    from ecgviewer.paths import user_models_dir

    path = small_conv_net(tmp_path / "small.hdf5")
    out = tmp_path / "small.onnx"
    rc, text = _run(capsys, ["import-keras", str(path), "--out", str(out)])
    assert "Traceback" not in text
    if rc == 0:
        model = create_model(out, prefer_cuda=False)
        assert "Ribeiro" not in model.name and PAPER_PROVENANCE not in model.contract.provenance
        assert not model.contract.metrics and "not the architecture of Ribeiro" in model.contract.provenance
    else:  # refused as unsupported: then nothing may be left or installed
        assert str(path) in text and not out.exists()
        assert not (user_models_dir().exists() and list(user_models_dir().glob("*.onnx")))


def test_evaluate_refuses_tables_it_cannot_match(tmp_path: Path, capsys) -> None:
    header = "1dAVb,RBBB,LBBB,SB,AF,ST"
    gold = tmp_path / "gold.csv"
    gold.write_text(header + "\n" + "\n".join("0,1,0,0,0,0" for _ in range(5)) + "\n")
    preds = tmp_path / "p.csv"
    preds.write_text(header + "\n" + "\n".join("0.1,0.9,0.1,0.1,0.1,0.1" for _ in range(5)) + "\n")
    bad: dict[str, tuple[Path, Path, str]] = {}
    dup = tmp_path / "dup.csv"
    dup.write_text("RBBB,RBBB,LBBB,SB,AF,ST\n" + "\n".join("0,1,0,0,0,0" for _ in range(5)) + "\n")
    bad["duplicate"] = (dup, preds, r"appears twice|named by 2 columns")
    mangled = tmp_path / "mangled.csv"
    mangled.write_text(
        "1dAVb,RBBB,RBBB.1,LBBB,SB,AF,ST\n" + "\n".join("0,1,1,0,0,0,0" for _ in range(5)) + "\n"
    )
    bad["pandas-duplicate"] = (mangled, preds, r"named by 2 columns")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\x00\x01\x02" * 300)
    bad["binary-gold"] = (binary, preds, r"binary file")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text(header + "\n0.1,0.9\n" + "\n".join("0.1,0.9,0.1,0.1,0.1,0.1" for _ in range(4)) + "\n")
    bad["ragged-predictions"] = (gold, ragged, r"row 2 has 2 cells")
    short = tmp_path / "short.csv"
    short.write_text(header + "\n" + "\n".join("0.1,0.9,0.1,0.1,0.1,0.1" for _ in range(3)) + "\n")
    bad["row-count"] = (gold, short, r"3 rows but the reference has 5")
    for name, (g, p, match) in bad.items():
        rc, text = _run(
            capsys, ["evaluate", "--gold", str(g), "--predictions", str(p), "--out", str(tmp_path / name)]
        )
        assert rc != 0 and "Traceback" not in text and re.search(match, text), f"{name}: {text}"
        assert not (tmp_path / name).exists() or not list((tmp_path / name).iterdir())


def test_cli_guard_turns_a_bug_into_one_line(monkeypatch, tmp_path: Path, capsys) -> None:
    import ecgviewer.commands.info as info

    def boom(args):
        raise RuntimeError("something odd\nsecond line")

    monkeypatch.setattr(info, "run", boom)
    rc, text = _run(capsys, ["info", str(tmp_path / "x.csv")])
    assert rc == 3 and "Traceback" not in text and "x.csv" in text and "ECGVIEWER_DEBUG=1" in text
    assert len(text.strip().splitlines()) == 1
    monkeypatch.setenv("ECGVIEWER_DEBUG", "1")
    with pytest.raises(RuntimeError):
        main(["info", str(tmp_path / "x.csv")])


def test_bundled_model_withholds_decisions_on_non_signals(capsys, tmp_path: Path) -> None:
    paths = [str(p) for name in ("wfdb-all-zero", "wfdb-0.1s") for p in CASES[name].paths]
    out = tmp_path / "p.csv"
    rc, text = _run(capsys, ["predict", *paths, "--out", str(out), "--quiet"])
    assert rc == 0 and "Traceback" not in text
    rows = _rows(out)
    assert len(rows) == 2 and all("withheld" in r["quality"] for r in rows)
    assert all(r[c] == "0" for r in rows for c in ("1dAVb", "RBBB", "LBBB", "SB", "AF", "ST"))


def test_quality_marks_predictions_of_in_memory_exams() -> None:
    from ecgviewer.exam import Exam
    from ecgviewer.preprocess import to_model_input

    _x, report = to_model_input(Exam(np.zeros((5000, 12), np.float32), 500.0))
    assert report.quality.withhold and "flat" in report.quality.note()
    _x, report = to_model_input(Exam(ecg().astype(np.float32), 500.0))
    assert not report.quality.unreliable, report.quality


def test_contract_replace_keeps_valid(tmp_path: Path) -> None:
    path = tiny_model(tmp_path / "ok.onnx", contract=replace(CONTRACT, thresholds=(0.5,) * 6))
    assert create_model(path, prefer_cuda=False).contract.thresholds == (0.5,) * 6


@pytest.mark.parametrize(("fs", "n"), [(500, 60_000), (257, 40_000), (360, 33_333), (100, 20_000)])
def test_long_recording_resamples_only_the_window_with_identical_values(fs: float, n: int) -> None:
    from ecgviewer.exam import Exam
    from ecgviewer.preprocess import fit_length, resample, to_model_input

    sig = (np.cumsum(np.random.default_rng(0).normal(size=(n, 12)), axis=0) / 30).astype(np.float32)
    full = resample(sig, fs)
    for start_s in (None, 3.0):
        x, report = to_model_input(Exam(sig, fs), start_s=start_s)
        want, _, _, crop_l, crop_r = fit_length(full, 4096, None if start_s is None else round(start_s * 400))
        np.testing.assert_array_equal(x, want)
        assert (report.crop_left, report.crop_right, report.resampled_samples) == (
            crop_l,
            crop_r,
            full.shape[0],
        )


def test_folder_of_links_to_a_record_opens(tmp_path: Path) -> None:
    from tests.hostile.corpus import wfdb_pair

    real = tmp_path / "real"
    real.mkdir()
    wfdb_pair(real, "rec", ecg())
    links = tmp_path / "links"
    links.mkdir()
    for name in ("rec.hea", "rec.dat"):
        (links / name).symlink_to(real / name)
    with open_exams(links) as exams:
        assert len(exams) == 1 and exams[0].n_samples == 5000


def test_keras_changed_first_kernel_is_blamed_on_its_own_layer(tmp_path: Path, capsys) -> None:
    import h5py

    path = small_conv_net(tmp_path / "small.hdf5")
    with h5py.File(path, "r+") as f:
        del f["model_weights/c1/c1/kernel:0"]
        f["model_weights/c1/c1/kernel:0"] = np.zeros((3, 12, 5), "f4")  # 5 filters where the config says 4
    rc, text = _run(capsys, ["import-keras", str(path), "--out", str(tmp_path / "s.onnx")])
    assert rc != 0 and "Traceback" not in text and "layer 'c1'" in text and "4 filters" in text
    assert not (tmp_path / "s.onnx").exists()
