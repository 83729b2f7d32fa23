"""``ecgviewer predict``: streaming in batches, CSV and .npy outputs equal to the runtime's."""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path

import numpy as np
import pytest

from ecgviewer.classes import CLASSES
from ecgviewer.cli import main
from ecgviewer.errors import Cancelled, ExamReadError
from ecgviewer.exam import Exam, ExamHeader
from ecgviewer.model.contract import ModelContract
from ecgviewer.model.runtime import create_model, load_model
from tests.test_model_runtime import tiny_model as runtime_tiny_model


def tiny_model(path: Path) -> Path:
    """A fast stand-in network with the full contract: mean over time → (12, 6) matrix → sigmoid."""
    return runtime_tiny_model(path, contract=ModelContract(name="tiny", version="1"))


class FakeExamSet:
    """The ExamSet interface over in-memory exams; indices in ``bad`` raise ExamReadError."""

    def __init__(self, n: int, bad: set[int] = frozenset()) -> None:
        self.n, self.bad, self.errors, self.reads = n, bad, [], 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Exam:
        if i in self.bad:
            raise ExamReadError(Path(f"/data/e{i}.hea"), "damaged header")
        self.reads += 1
        rng = np.random.default_rng(i)
        # a random walk: ECG-like smoothness (white noise is flagged as not an ECG)
        return Exam(
            signal_mv=np.cumsum(rng.normal(size=(5000, 12)), axis=0) / 20 + i / 10,
            fs=500.0,
            exam_id=f"e{i}",
            source=Path(f"/data/e{i}.hea"),
        )

    def header(self, i: int) -> ExamHeader:
        return ExamHeader(f"e{i}", Path(f"/data/e{i}.hea"), "wfdb", 0, 500.0, 5000)

    def close(self) -> None:
        pass


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return tiny_model(tmp_path / "tiny.onnx")


def test_predict_exams_streams_in_order_with_failures(tiny: Path) -> None:
    from ecgviewer.commands.predict import predict_exams

    model = create_model(tiny, prefer_cuda=False)
    exams = FakeExamSet(11, bad={0, 5})
    rows: list[tuple] = []
    progress: list[tuple[int, int]] = []
    ok, failed = predict_exams(
        model, exams, lambda *r: rows.append(r), batch_size=4, progress=lambda d, t: progress.append((d, t))
    )
    assert (ok, failed) == (9, 2)
    assert [r[0] for r in rows] == list(range(11))
    assert rows[5][4] is None and "damaged header" in rows[5][6] and rows[5][1] == "e5"
    assert progress[-1] == (11, 11) and all(b[0] > a[0] for a, b in itertools.pairwise(progress))
    for i in (1, 4, 10):
        expected = model.predict_exam(exams[i]).probabilities
        np.testing.assert_allclose(rows[i][4], expected, atol=1e-6)
        np.testing.assert_array_equal(rows[i][5], model.decide(expected))


def test_predict_exams_cancel(tiny: Path) -> None:
    from ecgviewer.commands.predict import predict_exams

    model = create_model(tiny, prefer_cuda=False)
    rows: list[tuple] = []
    with pytest.raises(Cancelled):
        predict_exams(
            model, FakeExamSet(20), lambda *r: rows.append(r), batch_size=4, cancel=lambda: len(rows) >= 8
        )
    assert len(rows) == 8


def test_progress_bar_without_terminal_prints_lines() -> None:
    from ecgviewer.commands.predict import ProgressBar

    stream = io.StringIO()
    bar = ProgressBar(100, stream=stream)
    for done in range(0, 101, 5):
        bar.update(done, 100)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert lines[-1].startswith("100/100 exams (100 %") and 5 <= len(lines) <= 11


# ----------------------------------------------------------------- the command on real files


@pytest.fixture
def exam_folder(shared_data: Path) -> list[str]:
    pytest.importorskip("ecgviewer.io")
    return [
        str(shared_data / "code-test" / "exams"),
        str(shared_data / "wfdb" / "challenge2021" / "G12EC"),
        str(shared_data / "csv" / "cpsc"),
    ]


def test_predict_csv_equals_the_runtime(
    tiny: Path, exam_folder: list[str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from ecgviewer.io import open_exams

    out = tmp_path / "p.csv"
    code = main(
        [
            "predict",
            *exam_folder,
            "--out",
            str(out),
            "--model",
            str(tiny),
            "--batch-size",
            "4",
            "--threads",
            "1",
            "--cpu",
        ]
    )
    err = capsys.readouterr().err
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    exams = open_exams(exam_folder)
    from ecgviewer.io import NotAnExamError

    damaged = [e for e in exams.errors if not isinstance(e, NotAnExamError)]
    assert code == (1 if damaged else 0), err
    assert len(rows) == len(exams) >= 10
    assert "wrote" in err and "tiny (version 1) on CPU" in err
    model = load_model(tiny, prefer_cuda=False, threads=1)
    for i, row in enumerate(rows):
        exam = exams[i]
        assert row["exam_id"] == exam.exam_id and row["source"] == str(exam.source)
        pred = model.predict_exam(exam)
        got = np.array([float(row[f"prob_{c}"]) for c in CLASSES], np.float32)
        np.testing.assert_allclose(got, pred.probabilities, atol=1e-6)  # batched vs single: float rounding
        assert [int(row[c]) for c in CLASSES] == pred.decisions.astype(int).tolist()
        assert row["error"] == ""
    exams.close()
    assert not list(tmp_path.glob(".p.csv.*")), "temporary file left behind"


def test_predict_npy_is_n_by_6_float32(tiny: Path, exam_folder: list[str], tmp_path: Path) -> None:
    from ecgviewer.io import open_exams

    out = tmp_path / "p.npy"
    main(["predict", exam_folder[0], "--out", str(out), "--model", str(tiny), "--quiet"])
    probs = np.load(out)
    exams = open_exams(exam_folder[0])
    model = load_model(tiny)
    assert probs.shape == (len(exams), 6) and probs.dtype == np.float32
    x = np.stack([model.prepare(exams[i])[0] for i in range(len(exams))])
    np.testing.assert_allclose(probs, model.predict(x), atol=1e-6)
    exams.close()


def test_predict_refuses_bad_output_suffix(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["predict", str(tmp_path), "--out", str(tmp_path / "p.txt"), "--model", str(tiny)]) == 2
    assert "--out must end in .csv or .npy" in capsys.readouterr().err
