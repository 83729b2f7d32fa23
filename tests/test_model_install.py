"""Installing models: the authors' zip (with a broken member), single files, re-installation by hash."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ecgviewer.cli import main
from ecgviewer.errors import Cancelled, ModelError
from ecgviewer.model.install import display_name, import_models
from ecgviewer.model.runtime import create_model, list_models, read_contract


@pytest.fixture(scope="module")
def keras_fixture(shared_data: Path) -> Path:
    path = shared_data / "keras-fixture" / "ribeiro_random_keras224.hdf5"
    if not path.is_file():
        pytest.skip("the Keras fixture is not beside the checkout")
    return path


@pytest.fixture(scope="module")
def model_zip(keras_fixture: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A zip laid out like Zenodo's model.zip: main model, a seed (a renamed copy), a truncated split."""
    folder = tmp_path_factory.mktemp("zip")
    data = keras_fixture.read_bytes()
    path = folder / "model.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("model/model.hdf5", data)
        zf.writestr("model/other_seeds/model_3.hdf5", data + b"")  # same bytes: recognised by hash
        zf.writestr("model/other_splits/model_individual_patients.hdf5", data[: len(data) // 3])
        zf.writestr("model/README.txt", b"not a model")
    return path


@pytest.fixture(scope="module")
def installed(model_zip: Path, tmp_path_factory: pytest.TempPathFactory):
    """One import of the zip into a folder of its own (the conversion takes seconds)."""
    dest = tmp_path_factory.mktemp("models")
    calls: list[tuple[int, int, str]] = []
    results = import_models(model_zip, progress=lambda d, t, label: calls.append((d, t, label)), dest=dest)
    return dest, results, calls


def test_names_say_what_each_member_is() -> None:
    assert display_name("model/model.hdf5") == "Ribeiro 2020 — main model"
    assert display_name("model/other_seeds/model_3.hdf5") == "Ribeiro 2020 — seed 3"
    assert display_name("other_splits/model_individual_patients.hdf5") == "Ribeiro 2020 — split by patient"
    assert display_name("other_splits/model_date_order.hdf5") == "Ribeiro 2020 — split by date"
    assert display_name("other_splits/model_normal_order.hdf5") == "Ribeiro 2020 — random split"


def test_zip_import_installs_good_members_and_names_the_broken_one(installed, keras_fixture: Path) -> None:
    dest, results, calls = installed
    by_source = {r.source: r for r in results}
    assert list(by_source) == [
        "model/model.hdf5",
        "model/other_seeds/model_3.hdf5",
        "model/other_splits/model_individual_patients.hdf5",
    ]
    main_model = by_source["model/model.hdf5"]
    assert main_model.status == "installed" and main_model.name == "Ribeiro 2020 — main model"
    contract, _ = read_contract(main_model.path)
    assert contract.name == "Ribeiro 2020 — main model"
    assert contract.extra["source_member"] == "model/model.hdf5"
    # the copy has the same bytes: recognised by sha256, not installed twice
    seed = by_source["model/other_seeds/model_3.hdf5"]
    assert seed.status == "already installed" and seed.path == main_model.path
    broken = by_source["model/other_splits/model_individual_patients.hdf5"]
    assert broken.status == "failed" and broken.path is None
    assert "model/other_splits/model_individual_patients.hdf5" in broken.message
    assert "member-" not in broken.message  # the temporary name never leaks
    assert sorted(p.name for p in dest.iterdir()) == [main_model.path.name]
    assert calls[0] == (0, 3, "Ribeiro 2020 — main model") and calls[-1][:2] == (3, 3)
    # the installed model runs like the fixture converted by hand
    x = np.load(keras_fixture.parent / "inputs.npy")
    got = create_model(main_model.path, prefer_cuda=False).predict(x)
    assert np.abs(got - np.load(keras_fixture.parent / "expected.npy")).max() <= 1e-4


def test_renamed_copy_is_recognised_by_hash(installed, keras_fixture: Path, tmp_path: Path) -> None:
    dest, _results, _ = installed
    # the same bytes under a seed's path in another zip: recognised by hash
    other = tmp_path / "seed.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("other_seeds/model_7.hdf5", keras_fixture.read_bytes())
    again = import_models(other, dest=dest)
    assert [r.status for r in again] == ["already installed"]
    # same file installed again as a single file: recognised too
    assert import_models(keras_fixture, dest=dest)[0].status == "already installed"


def test_onnx_with_contract_installs_and_cancel_stops(installed, tmp_path: Path) -> None:
    _dest, results, _ = installed
    src = tmp_path / "mine.onnx"
    shutil.copyfile(results[0].path, src)
    fresh = tmp_path / "fresh"
    r = import_models(src, dest=fresh, name="My model")
    assert r[0].status == "installed" and read_contract(r[0].path)[0].name == "My model"
    assert import_models(src, dest=fresh)[0].status == "already installed"
    with pytest.raises(Cancelled):
        import_models(src, dest=tmp_path / "other", cancel=lambda: True)


def test_unsafe_or_empty_zips(tmp_path: Path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../outside.hdf5", b"\x89HDF\r\n\x1a\n" + b"0" * 100)
    dest = tmp_path / "models"
    r = import_models(evil, dest=dest)
    assert r[0].status == "failed" and "../../outside.hdf5" in r[0].message
    assert not (tmp_path / "outside.hdf5").exists() and not (tmp_path.parent / "outside.hdf5").exists()
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("notes.txt", b"x")
    with pytest.raises(ModelError, match="holds no model file"):
        import_models(empty, dest=dest)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ModelError, match=r"bad\.zip"):
        import_models(bad, dest=dest)


def test_import_keras_command_takes_the_zip(model_zip: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["import-keras", str(model_zip)])
    captured = capsys.readouterr()
    assert code == 1  # one member failed
    assert "installed: Ribeiro 2020 — main model" in captured.out
    assert "failed: model/other_splits/model_individual_patients.hdf5" in captured.err
    names = [e.name for e in list_models() if not e.bundled]
    assert names == ["Ribeiro 2020 — main model"]
