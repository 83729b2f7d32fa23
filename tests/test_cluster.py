"""``predict --cluster``: partitions, a 2-process LocalCluster on loopback, a worker killed mid-job."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

from ecgviewer import cluster
from ecgviewer.classes import CLASSES
from ecgviewer.cli import main
from ecgviewer.commands.predict import PredictPartition

N_HDF5 = 2000
DAMAGED = (7, 1500)  # exams of the HDF5 file with NaN / infinite samples


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """2,000 exams in one HDF5 file (2.5 s, 400 Hz, mV, float16; two damaged), 3 WFDB records, tiny model."""
    import h5py
    from test_model_predict import tiny_model

    from ecgviewer.synth import synth_exam, write_wfdb

    root = tmp_path_factory.mktemp("cluster")
    rng = np.random.default_rng(0)
    t = np.arange(1000) / 400.0
    base = np.sin(2 * np.pi * 1.2 * t)[:, None] * np.linspace(0.2, 1.5, 12)[None, :]
    x = (base[None] * rng.uniform(0.5, 1.5, (N_HDF5, 1, 12))).astype(np.float16)
    x += rng.normal(0, 0.05, x.shape).astype(np.float16)
    x[DAMAGED[0], 10, 3] = np.nan
    x[DAMAGED[1], :, 0] = np.inf
    data = root / "data"
    data.mkdir()
    with h5py.File(data / "archive.h5", "w") as h5:
        ds = h5.create_dataset("signal", data=x, chunks=(64, 1000, 12))
        ds.attrs["fs"] = 400.0
        ds.attrs["units"] = "mV"
        h5.create_dataset("exam_id", data=np.arange(100, 100 + N_HDF5))
    for k in range(3):
        write_wfdb(synth_exam((), fs=500.0, duration_s=10.0, seed=k), data / "wfdb", f"rec{k}")
    model = tiny_model(root / "tiny.onnx")
    single = root / "single.csv"
    assert main(["predict", str(data), "--out", str(single), "--model", str(model), "--cpu", "--quiet"]) == 1
    return {"data": data, "model": model, "single": single}


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of 2 worker processes (1 thread each, loopback, no dashboard), always closed."""
    import logging
    import warnings

    import distributed

    with warnings.catch_warnings():  # "Port 8787 is already in use" when another cluster runs here
        warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
        local = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
    try:
        with distributed.Client(local, timeout=120) as c:
            c.wait_for_workers(2, timeout=120)
            yield c
    finally:
        local.close(timeout=60)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def assert_same_rows(got: list[dict[str, str]], want: list[dict[str, str]]) -> None:
    """Same exams, sources, errors and decisions; probabilities equal to float32 rounding.

    (onnxruntime may round a row differently in batches of other sizes, as partitions make them.)"""
    assert len(got) == len(want)
    probs = [f"prob_{c}" for c in CLASSES]
    for g, w in zip(got, want, strict=True):
        assert {k: v for k, v in g.items() if k not in probs} == {
            k: v for k, v in w.items() if k not in probs
        }
        if not w["error"]:
            np.testing.assert_allclose([float(g[p]) for p in probs], [float(w[p]) for p in probs], atol=1e-6)


def test_the_cli_does_not_import_dask() -> None:
    import subprocess
    import sys

    code = (
        "import sys, ecgviewer.cli as c; c._command_modules(); "
        "print(sorted(m for m in ('dask', 'distributed', 'pyarrow', 'ecgviewer.cluster') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]"


def test_plan_partitions_cuts_large_files_and_groups_small_ones() -> None:
    parts = cluster.plan_partitions(
        [("big.h5", 1000), ("a.hea", 1), ("b.hea", 1), ("c.hea", 1), ("d.h5", 3)], exams_per_partition=400
    )
    spans = [[(Path(s.shown).name, s.start, s.stop) for s in p.segments] for p in parts]
    assert spans == [
        [("big.h5", 0, 333)],
        [("big.h5", 333, 667)],
        [("big.h5", 667, 1000)],
        [("a.hea", 0, 1), ("b.hea", 0, 1), ("c.hea", 0, 1), ("d.h5", 0, 3)],
    ]
    assert [p.first for p in parts] == [0, 333, 667, 1000]
    assert [p.index for p in parts] == [0, 1, 2, 3]
    assert all(Path(s.path).is_absolute() for p in parts for s in p.segments)


@pytest.mark.slow  # a 2-process cluster and a 2,000-exam archive: minutes on a loaded 2-core machine
def test_cluster_predict_equals_single_process(
    inputs: dict[str, Path], client, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    single = read_csv(inputs["single"])
    assert len(single) == N_HDF5 + 3
    assert [i for i, r in enumerate(single) if r["error"]] == list(DAMAGED)
    assert "NaN or infinite" in single[DAMAGED[0]]["error"]

    # a running scheduler (a LocalCluster of 2 processes) by its address: the rows of single-process
    args = [
        "predict",
        str(inputs["data"]),
        "--model",
        str(inputs["model"]),
        "--cpu",
        "--exams-per-task",
        "256",
    ]
    out = tmp_path / "scores.csv"
    assert main([*args, "--out", str(out), "--cluster", client.scheduler.address]) == 1
    err = capsys.readouterr().err
    assert "2 workers, 9 tasks" in err and "2 could not be read" in err
    assert_same_rows(read_csv(out), single)

    # to a Parquet dataset: the same rows
    import pyarrow.parquet as pq

    out = tmp_path / "scores.parquet"
    assert main([*args, "--out", str(out), "--cluster", client.scheduler.address, "--quiet"]) == 1
    assert len(list(out.glob("part-*.parquet"))) == 1
    table = pq.read_table(out).to_pylist()
    assert len(table) == len(single)
    for row, ref in zip(table, single, strict=True):
        assert (row["exam_id"], row["source"], str(row["index"]), row["error"] or "") == (
            ref["exam_id"],
            ref["source"],
            ref["index"],
            ref["error"],
        )
        for c in CLASSES:
            if ref["error"]:
                assert row[f"prob_{c}"] is None and row[c] is None
            else:
                assert abs(row[f"prob_{c}"] - float(ref[f"prob_{c}"])) <= 1e-6
                assert row[c] == int(ref[c])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary output left behind"


@pytest.mark.slow  # a 2-process cluster and a 2,000-exam archive: minutes on a loaded 2-core machine
def test_local_cluster_started_by_the_command(inputs: dict[str, Path], tmp_path: Path) -> None:
    """``--cluster local:2`` starts (and stops) its own 2-process cluster; rows equal single-process."""
    wfdb = inputs["data"] / "wfdb"
    single, out = tmp_path / "single.csv", tmp_path / "local.csv"
    args = [
        "predict",
        str(wfdb),
        "--model",
        str(inputs["model"]),
        "--cpu",
        "--quiet",
        "--exams-per-task",
        "1",
    ]
    assert main([*args, "--out", str(single)]) == 0
    assert main([*args, "--out", str(out), "--cluster", "local:2"]) == 0
    assert len(read_csv(out)) == 3
    assert_same_rows(read_csv(out), read_csv(single))


@dataclass(frozen=True)
class DieOnce:
    """Kills its worker process the first time it meets partition ``victim`` (a marker file remembers)."""

    inner: PredictPartition
    marker: str
    victim: int

    def __call__(self, exams) -> list[tuple]:
        if exams.partition.index == self.victim and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(1)
        return self.inner(exams)


@pytest.mark.slow  # a 2-process cluster and a 2,000-exam archive: minutes on a loaded 2-core machine
def test_a_dying_worker_is_retried_and_every_exam_comes_back_once(
    inputs: dict[str, Path], client, tmp_path: Path
) -> None:
    import cloudpickle

    from ecgviewer.io import open_exams

    cloudpickle.register_pickle_by_value(__import__(__name__))  # workers need not import this module
    marker = tmp_path / "died"
    with open_exams(inputs["data"]) as exams:
        parts = cluster.plan_partitions([(s.path, s.n_exams) for s in exams.sources], exams_per_partition=200)
        n = len(exams)
    fn = DieOnce(PredictPartition(str(inputs["model"])), str(marker), victim=3)
    positions: list[int] = []
    rows: list[tuple] = []
    seen: list[int] = []
    for part, part_rows in cluster.map_partitions(client, parts, fn, retries=1, progress=lambda d, t: None):
        seen.append(part.index)
        positions += [part.first + i for i, *_ in part_rows]
        rows += part_rows
    assert marker.exists(), "the worker was not killed"
    assert seen == list(range(len(parts))) and positions == list(range(n))
    single = read_csv(inputs["single"])
    for (_, exam_id, _source, _index, probs, _decisions, error, _quality), ref in zip(
        rows, single, strict=True
    ):
        assert exam_id == ref["exam_id"] and error == ref["error"]
        if not error:
            np.testing.assert_allclose(probs, [float(ref[f"prob_{c}"]) for c in CLASSES], atol=1e-6)
    # one model per worker process, however many tasks it ran
    from ecgviewer.model import runtime

    assert set(client.run(lambda: len(runtime._cache)).values()) == {1}


@pytest.mark.slow  # a 2-process cluster and a 2,000-exam archive: minutes on a loaded 2-core machine
def test_a_path_a_worker_cannot_see_is_named(client, tmp_path: Path) -> None:
    missing = tmp_path / "elsewhere" / "archive.h5"
    with pytest.raises(
        cluster.ClusterError, match=r"archive\.h5: worker tcp://127\.0\.0\.1:\d+ .*cannot read"
    ):
        cluster.check_workers_see(client, [str(missing)])


def test_parquet_writer_round_trip_replace_and_refuse(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from ecgviewer.commands.predict import open_writer
    from ecgviewer.errors import EcgViewerError

    out = tmp_path / "p.parquet"
    probs = np.linspace(0.1, 0.6, 6, dtype=np.float32)
    for run in range(2):  # the second run replaces the first dataset
        w = open_writer(out, CLASSES, 3)
        w.rows_per_file = 2
        w.write(0, "a", "a.hea", 0, probs, probs > 0.3)
        w.write(1, "b", "b.hea", 0, None, None, "damaged header")
        w.write(2, f"c{run}", "c.h5", 5, probs, probs > 0.3)
        w.finish()
    assert sorted(p.name for p in out.iterdir()) == ["part-00000.parquet", "part-00001.parquet"]
    rows = pq.read_table(out).to_pylist()
    assert [r["exam_id"] for r in rows] == ["a", "b", "c1"] and rows[2]["index"] == 5
    assert rows[1]["error"] == "damaged header" and rows[1]["prob_AF"] is None and rows[1]["AF"] is None
    assert [rows[0][f"prob_{c}"] for c in CLASSES] == pytest.approx(probs.tolist())
    assert [rows[0][c] for c in CLASSES] == [0, 0, 0, 1, 1, 1]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    (tmp_path / "notes.parquet").mkdir()
    (tmp_path / "notes.parquet" / "mine.txt").write_text("keep")
    with pytest.raises(EcgViewerError, match="not a Parquet dataset written by ecgviewer"):
        open_writer(tmp_path / "notes.parquet", CLASSES, 1)


@pytest.mark.slow  # a 2-process cluster and a 2,000-exam archive: minutes on a loaded 2-core machine
def test_cluster_measure_equals_single_process(inputs: dict[str, Path], client, tmp_path: Path) -> None:
    """``measure --cluster``: the rows of a single-process run, in input order (one bad file included)."""
    wfdb_dir = inputs["data"] / "wfdb"
    single, clustered = tmp_path / "single.csv", tmp_path / "cluster.csv"
    assert main(["measure", str(wfdb_dir), "--out", str(single), "--quiet"]) == 0
    args = ["measure", str(wfdb_dir), "--out", str(clustered), "--quiet", "--exams-per-task", "1"]
    assert main([*args, "--cluster", client.scheduler.address]) == 0
    rows = read_csv(clustered)
    assert rows == read_csv(single)
    assert [r["exam_id"] for r in rows] == ["rec0", "rec1", "rec2"] and all(r["hr_bpm"] for r in rows)
