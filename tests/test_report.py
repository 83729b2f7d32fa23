"""PDF reports: pages, text read back, true physical scale, trace position, atomic writes, CLI."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ecgviewer import __version__
from ecgviewer.classes import CLASS_NAMES, CLASSES, PAPER_THRESHOLDS
from ecgviewer.errors import Cancelled, ReportError
from ecgviewer.exam import Exam, ExamHeader
from ecgviewer.labels import LabelSet
from ecgviewer.leads import LEADS
from ecgviewer.model.contract import ModelContract
from ecgviewer.model.runtime import Prediction
from ecgviewer.preprocess import to_model_input
from ecgviewer.report import (
    MAJOR_MM,
    exam_page_geometry,
    format_probability,
    shap_color,
    write_exam_report,
    write_set_report,
)

POPPLER = shutil.which("pdftotext") and shutil.which("pdftoppm") and shutil.which("pdfinfo")
needs_poppler = pytest.mark.skipif(not POPPLER, reason="poppler-utils (pdftotext, pdftoppm) not installed")

DPI = 300
PX_PER_MM = DPI / 25.4
CONTRACT = ModelContract(
    name="unit-test-net",
    version="9.8.7",
    provenance="built by tests/test_report.py",
    notice="Not a medical device. Test model.",
)
PROBS = np.array([0.8734, 0.0123, 0.0301, 0.2, 0.9512, 0.0456], dtype=np.float32)


# --------------------------------------------------------------------------- helpers


def pdf_text(path: Path, page: int | None = None) -> str:
    cmd = ["pdftotext", "-layout"]
    if page is not None:
        cmd += ["-f", str(page), "-l", str(page)]
    out = subprocess.run([*cmd, str(path), "-"], check=True, capture_output=True, text=True).stdout
    return unicodedata.normalize("NFKC", out)


def class_row(text: str, cls: str) -> str:
    """The findings-table row of ``cls`` (from the class name to the end of the line)."""
    name = re.escape(CLASS_NAMES[cls])
    pattern = re.compile(rf"(?:^|\s)({re.escape(cls)}\s+(?:{name}\s+)?\d\.\d{{3}}\s.*)$")
    for line in text.splitlines():
        m = pattern.search(line)
        if m:
            return m.group(1)
    raise AssertionError(f"no row for {cls} in the text")


def pdf_pages(path: Path) -> int:
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def rasterise(path: Path, tmp_path: Path, page: int = 1) -> np.ndarray:
    """Page ``page`` at 300 dpi as (H, W, 3) uint8 (pdftoppm's binary PPM, parsed here)."""
    stem = tmp_path / f"page{page}"
    subprocess.run(
        ["pdftoppm", "-r", str(DPI), "-f", str(page), "-l", str(page), "-singlefile", str(path), str(stem)],
        check=True,
    )
    data = (stem.with_suffix(".ppm")).read_bytes()
    fields: list[bytes] = []
    pos = 0
    while len(fields) < 4:  # magic, width, height, maxval (comments are not written by pdftoppm)
        while data[pos : pos + 1].isspace():
            pos += 1
        end = pos
        while not data[end : end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    assert fields[0] == b"P6"
    w, h = int(fields[1]), int(fields[2])
    return np.frombuffer(data, dtype=np.uint8, count=w * h * 3, offset=pos + 1).reshape(h, w, 3)


def line_centres(profile: np.ndarray, threshold: float) -> np.ndarray:
    """Centroids (px) of the runs of ``profile`` above ``threshold``."""
    above = np.concatenate(([False], profile > threshold, [False]))
    edges = np.flatnonzero(np.diff(above.astype(np.int8)))
    centres = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        w = profile[a:b]
        centres.append(float((np.arange(a, b) * w).sum() / w.sum()))
    return np.array(centres)


def square_exam(exam_id: str = "SQ-0042", *, fs: float = 500.0, duration_s: float = 10.0) -> Exam:
    """Flat 12-lead exam; lead II holds a 1 mV square pulse from 4.0 to 4.4 s."""
    n = int(fs * duration_s)
    sig = np.zeros((n, 12), dtype=np.float32)
    t = np.arange(n) / fs
    sig[(t >= 4.0) & (t < 4.4), LEADS.index("II")] = 1.0
    return Exam(
        signal_mv=sig,
        fs=fs,
        exam_id=exam_id,
        source=Path("/data/square/SQ-0042.hea"),
        format="wfdb",
        age=61,
        sex="F",
    )


def make_prediction(exam: Exam, probs: np.ndarray = PROBS) -> Prediction:
    x, rep = to_model_input(exam)
    thr = np.asarray(PAPER_THRESHOLDS, dtype=np.float32)
    return Prediction(
        probabilities=probs,
        decisions=probs >= thr,
        thresholds=thr,
        classes=CLASSES,
        model_name=CONTRACT.name,
        model_version=CONTRACT.version,
        provider="CPU",
        seconds=0.01,
        input=x,
        report=rep,
    )


@dataclass
class FakeSaliency:
    """What the report reads of :class:`ecgviewer.explain.Saliency`."""

    values: np.ndarray
    segment_edges: np.ndarray
    base_values: np.ndarray
    probabilities: np.ndarray
    classes: tuple[str, ...] = CLASSES
    n_evaluations: int = 64
    method: str = "partition"

    def lead_importance(self) -> np.ndarray:
        return np.abs(self.values).sum(axis=2)


def fake_saliency(probs: np.ndarray = PROBS, segments: int = 16) -> FakeSaliency:
    rng = np.random.default_rng(3)
    values = rng.normal(scale=0.01, size=(6, 12, segments)).astype(np.float32)
    return FakeSaliency(
        values=values,
        segment_edges=np.linspace(0, 4096, segments + 1).astype(np.int64),
        base_values=probs - values.sum(axis=(1, 2)),
        probabilities=probs,
    )


# --------------------------------------------------------------------------- pure helpers


def test_geometry_true_scale_and_window() -> None:
    for paper in ("A4", "letter"):
        g = exam_page_geometry(paper)
        assert g.window_s == pytest.approx(10.0)
        assert g.trace_w == pytest.approx(250.0)
        assert g.grid_w % MAJOR_MM == pytest.approx(0.0) and g.grid_h % MAJOR_MM == pytest.approx(0.0)
        assert g.grid_x >= 5.0 and g.grid_x + g.grid_w <= g.page_w - 5.0  # fits the paper with margins
        assert g.grid_y + g.grid_h < g.footer_y
        assert g.y_of(3, 1.0) == pytest.approx(g.baselines[3] - 10.0)
    assert exam_page_geometry("A4", speed_mm_s=50).window_s == pytest.approx(5.0)
    assert exam_page_geometry("A4", gain_mm_mv=20).y_of(0, 1.0) == pytest.approx(
        exam_page_geometry("A4").baselines[0] - 20.0
    )
    with pytest.raises(ReportError, match="A4 or Letter"):
        exam_page_geometry("A3")
    with pytest.raises(ReportError, match="speed"):
        exam_page_geometry("A4", speed_mm_s=0)


def test_colour_map_is_diverging_and_centred() -> None:
    white = shap_color(0.0, 1.0)
    assert min(white) > 240
    red, blue = shap_color(1.0, 1.0), shap_color(-1.0, 1.0)
    assert red[0] > red[2] + 100 and blue[2] > blue[0] + 100
    assert shap_color(5.0, 1.0) == red  # saturates
    assert format_probability(0.87345) == "0.873" and format_probability(float("nan")) == "n/a"


# --------------------------------------------------------------------------- exam report


@needs_poppler
def test_exam_report_pages_and_text(tmp_path: Path) -> None:
    exam = square_exam()
    pred = make_prediction(exam)
    positives = [c for c, d in zip(CLASSES, pred.decisions, strict=True) if d]
    assert positives == ["1dAVb", "AF"]
    gold = LabelSet(
        name="Gold standard", values=np.array([[1, 0, 0, 0, 0, 0]], dtype=np.int8), exam_ids=["SQ-0042"]
    )
    out = write_exam_report(
        tmp_path / "r.pdf", exam, pred, saliency=fake_saliency(), labels=[gold], model=CONTRACT
    )
    assert out == tmp_path / "r.pdf"
    assert pdf_pages(out) == 1 + len(positives)  # page 1 + one SHAP page per positive class
    p1 = pdf_text(out, 1)
    for needle in (
        "SQ-0042",
        "SQ-0042.hea",
        "61 y, female",
        "500 Hz, 10.00 s",
        "Zero-padded to 4096",
        "unit-test-net 9.8.7",
        "built by tests/test_report.py",
        f"ecgviewer {__version__}",
        "Not a medical device",
        "Gold",
        "25 mm/s",
        "10 mm/mV",
        "Page 1 of 3",
    ):
        assert needle in p1, needle
    for cls, p, t in zip(CLASSES, PROBS, PAPER_THRESHOLDS, strict=True):
        assert cls in p1 and CLASS_NAMES[cls] in p1
        assert format_probability(p) in p1 and format_probability(t) in p1
    for cls, d in zip(CLASSES, pred.decisions, strict=True):
        row = class_row(p1, cls)
        assert ("POSITIVE" in row) == bool(d) and ("negative" in row) != bool(d), row
    for lead in LEADS:
        assert lead in p1
    p2, p3 = pdf_text(out, 2), pdf_text(out, 3)
    assert "SHAP saliency — 1dAVb" in p2 and "SHAP saliency — AF" in p3
    assert "Lead importance" in p2 and "unit-test-net" in p3 and "Page 3 of 3" in p3
    fonts = subprocess.run(["pdffonts", str(out)], check=True, capture_output=True, text=True).stdout
    rows = fonts.splitlines()[2:]
    assert rows and all(" yes " in row for row in rows)  # every font embedded


@needs_poppler
def test_chosen_shap_class_and_no_shap(tmp_path: Path) -> None:
    exam = square_exam()
    pred = make_prediction(exam)
    out = write_exam_report(
        tmp_path / "one.pdf", exam, pred, saliency=fake_saliency(), shap_classes=["RBBB"], model=CONTRACT
    )
    assert pdf_pages(out) == 2 and "SHAP saliency — RBBB" in pdf_text(out, 2)
    out = write_exam_report(tmp_path / "none.pdf", exam, pred, model=CONTRACT)
    assert pdf_pages(out) == 1 and "SHAP saliency not computed" in pdf_text(out, 1)
    low = np.array([0.01, 0.02, 0.01, 0.03, 0.01, 0.01], dtype=np.float32)
    negative = make_prediction(exam, low)
    out = write_exam_report(tmp_path / "neg.pdf", exam, negative, saliency=fake_saliency(low), model=CONTRACT)
    text = pdf_text(out, 2)
    assert pdf_pages(out) == 2 and "SHAP saliency — SB" in text and "highest probability" in text
    with pytest.raises(ReportError, match="other probabilities"):
        write_exam_report(tmp_path / "mismatch.pdf", exam, negative, saliency=fake_saliency(), model=CONTRACT)
    with pytest.raises(ReportError, match="unknown class"):
        write_exam_report(tmp_path / "bad.pdf", exam, pred, saliency=fake_saliency(), shap_classes=["XYZ"])


@needs_poppler
@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_grid_has_5mm_major_squares_at_true_scale(tmp_path: Path, paper: str) -> None:
    exam = square_exam()
    out = write_exam_report(tmp_path / "g.pdf", exam, make_prediction(exam), paper=paper, model=CONTRACT)
    info = subprocess.run(["pdfinfo", str(out)], check=True, capture_output=True, text=True).stdout
    assert ("842 x 595" if paper == "A4" else "792 x 612") in info  # landscape, in points
    img = rasterise(out, tmp_path).astype(np.int16)
    g = exam_page_geometry(paper)
    redness = img[:, :, 0] - img[:, :, 1]  # major lines (226,120,120) ≫ minor (246,196,196) ≫ white, black
    y0, y1 = int((g.grid_y + 2) * PX_PER_MM), int((g.grid_y + g.grid_h - 2) * PX_PER_MM)
    x0, x1 = int((g.grid_x + 2) * PX_PER_MM), int((g.grid_x + g.grid_w - 2) * PX_PER_MM)
    for axis, lo, first_mm in ((0, x0, g.grid_x), (1, y0, g.grid_y)):
        region = redness[y0:y1, x0:x1]
        profile = np.median(region, axis=axis).astype(float)
        centres = line_centres(profile, 70.0) + lo
        spacing = np.diff(centres)
        expected = MAJOR_MM * PX_PER_MM  # 59.06 px
        assert len(centres) >= 20
        assert np.all(np.abs(spacing - expected) < 1.5), spacing
        assert np.mean(spacing) == pytest.approx(expected, abs=0.1)
        # absolute position: major lines at whole 5 mm from the grid origin
        offsets = (centres / PX_PER_MM - first_mm) / MAJOR_MM
        assert np.all(np.abs(offsets - np.round(offsets)) < 0.03)
    # minor lines every 1 mm between two major lines
    minor_profile = np.median(redness[y0:y1, x0:x1], axis=0).astype(float)
    minor = line_centres(np.where(minor_profile < 70, minor_profile, 0), 20.0)
    assert np.median(np.diff(minor)) == pytest.approx(PX_PER_MM, abs=0.5)


@needs_poppler
def test_lead_ii_trace_lies_where_the_signal_says(tmp_path: Path) -> None:
    exam = square_exam()
    out = write_exam_report(tmp_path / "t.pdf", exam, make_prediction(exam), model=CONTRACT)
    img = rasterise(out, tmp_path).astype(np.int16)
    dark = img.max(axis=2) < 90  # the trace is near-black; grid and text colours are not this dark there
    g = exam_page_geometry("A4")

    def dark_rows_at(t_s: float, row: int) -> np.ndarray:
        x = round(g.x_of(t_s) * PX_PER_MM)
        top = int((g.baselines[row] - 15) * PX_PER_MM)
        bottom = int((g.baselines[row] + 8) * PX_PER_MM)
        ys = np.flatnonzero(dark[top:bottom, x - 1 : x + 2].any(axis=1)) + top
        return ys / PX_PER_MM

    # rhythm strip (row 3, lead II over 10 s): 1 mV = 10 mm above the baseline at 4.2 s, baseline at 3.0 s
    up = dark_rows_at(4.2, 3)
    assert up.size and np.mean(up) == pytest.approx(g.baselines[3] - 10.0, abs=0.25)
    flat = dark_rows_at(3.0, 3)
    assert flat.size and np.mean(flat) == pytest.approx(g.baselines[3], abs=0.25)
    # rising edge at 4.0 s: the vertical stroke half-way up lies at x(4.0)
    y_mid = round((g.baselines[3] - 5.0) * PX_PER_MM)
    x_lo, x_hi = int(g.x_of(3.5) * PX_PER_MM), int(g.x_of(4.1) * PX_PER_MM)
    xs = np.flatnonzero(dark[y_mid - 1 : y_mid + 2, x_lo:x_hi].any(axis=0)) + x_lo
    assert xs.size and np.mean(xs) / PX_PER_MM == pytest.approx(g.x_of(4.0), abs=0.25)
    # 3×4 layout: 4.2 s falls in column 2 (2.5–5 s), which shows aVL on the row of II: flat there
    row1 = dark_rows_at(4.2, 1)
    assert row1.size and np.mean(row1) == pytest.approx(g.baselines[1], abs=0.25)
    # lead II in column 1 (0–2.5 s) is flat at its baseline
    early = dark_rows_at(1.0, 1)
    assert early.size and np.mean(early) == pytest.approx(g.baselines[1], abs=0.25)
    # calibration pulse: 1 mV = 10 mm tall
    cal_x = round((g.grid_x + 1.5 + 2.5) * PX_PER_MM)
    top = int((g.baselines[0] - 15) * PX_PER_MM)
    ys = np.flatnonzero(dark[top : int((g.baselines[0] + 3) * PX_PER_MM), cal_x]) + top
    assert ys.size and ys.min() / PX_PER_MM == pytest.approx(g.baselines[0] - 10.0, abs=0.25)


@needs_poppler
def test_zero_padding_of_fixed_length_files_is_not_drawn(tmp_path: Path) -> None:
    sig = np.zeros((4096, 12), dtype=np.float32)
    t = np.arange(4096) / 400.0
    sig[400:3600] = 0.5 * np.sin(2 * np.pi * 1.0 * t[400:3600])[:, None]  # signal from 1.0 to 9.0 s
    exam = Exam(signal_mv=sig, fs=400.0, exam_id="PADDED", format="hdf5-code")
    out = write_exam_report(tmp_path / "p.pdf", exam, make_prediction(exam), model=CONTRACT)
    assert "zero padding of the file not drawn (1.00 s before, 1.24 s after)" in pdf_text(out, 1)
    dark = rasterise(out, tmp_path).max(axis=2) < 90
    g = exam_page_geometry("A4")
    band = dark[int((g.baselines[3] - 8) * PX_PER_MM) : int((g.baselines[3] + 8) * PX_PER_MM)]
    t0 = 0.12  # the 10 s shown are centred in the 10.24 s record

    def inked(t_s: float) -> bool:
        x = round(g.x_of(t_s - t0) * PX_PER_MM)
        return bool(band[:, x - 1 : x + 2].any())

    assert not inked(0.6) and inked(1.5) and inked(8.5) and not inked(9.6)


@needs_poppler
def test_speed_50_and_gain_20(tmp_path: Path) -> None:
    exam = square_exam()
    out = write_exam_report(
        tmp_path / "fast.pdf", exam, make_prediction(exam), speed_mm_s=50, gain_mm_mv=20, model=CONTRACT
    )
    text = pdf_text(out, 1)
    assert "50 mm/s" in text and "20 mm/mV" in text and "of 10.00 s" in text
    img = rasterise(out, tmp_path).astype(np.int16)
    dark = img.max(axis=2) < 90
    g = exam_page_geometry("A4", 50, 20)
    # the 5 s window is centred on the record: 2.5–7.5 s; the pulse (4.0–4.4 s) sits at 1.5–1.9 s of it
    x = round(g.x_of(1.7) * PX_PER_MM)
    top = int((g.baselines[3] - 25) * PX_PER_MM)
    ys = np.flatnonzero(dark[top : int((g.baselines[3] + 5) * PX_PER_MM), x]) + top
    assert ys.size and np.mean(ys) / PX_PER_MM == pytest.approx(g.baselines[3] - 20.0, abs=0.3)


@needs_poppler
def test_eight_lead_exam_marks_derived_leads(tmp_path: Path) -> None:
    full = square_exam()
    keep = [LEADS.index(n) for n in ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")]
    exam = Exam(
        signal_mv=full.signal_mv[:, keep],
        fs=full.fs,
        leads=("I", "II", "V1", "V2", "V3", "V4", "V5", "V6"),
        exam_id="EIGHT",
    )
    out = write_exam_report(
        tmp_path / "e.pdf", exam, make_prediction(exam), model=CONTRACT, rhythm_lead="aVF"
    )
    text = pdf_text(out, 1)
    assert "III*" in text and "aVF*" in text and "derived from I and II" in text
    assert "in memory" in text and "not recorded" in text  # no source file, no age/sex


def test_bad_arguments(tmp_path: Path) -> None:
    exam = square_exam()
    pred = make_prediction(exam)
    with pytest.raises(ReportError, match="rhythm lead"):
        write_exam_report(tmp_path / "x.pdf", exam, pred, rhythm_lead="V9")
    with pytest.raises(ReportError, match="does not exist"):
        write_exam_report(tmp_path / "missing" / "x.pdf", exam, pred)
    with pytest.raises(ReportError, match="is a folder"):
        write_exam_report(tmp_path, exam, pred)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- atomic writes


def test_failure_mid_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ecgviewer.report.exam_page as exam_page

    exam = square_exam()
    pred = make_prediction(exam)
    out = tmp_path / "r.pdf"

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated failure while drawing")

    # the first page is drawn, the failure comes while drawing the SHAP page
    monkeypatch.setattr(exam_page, "draw_shap_page", boom)
    with pytest.raises(ReportError, match="simulated failure") as err:
        write_exam_report(out, exam, pred, saliency=fake_saliency(), model=CONTRACT)
    assert str(out) in str(err.value)
    assert list(tmp_path.iterdir()) == []  # neither the PDF nor a temporary file
    # an existing report survives a failed rewrite untouched
    out.write_bytes(b"%PDF-old report")
    with pytest.raises(ReportError):
        write_exam_report(out, exam, pred, saliency=fake_saliency(), model=CONTRACT)
    assert out.read_bytes() == b"%PDF-old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.pdf"]
    monkeypatch.undo()
    write_exam_report(out, exam, pred, model=CONTRACT)
    assert out.read_bytes().startswith(b"%PDF-1") and sorted(p.name for p in tmp_path.iterdir()) == ["r.pdf"]


def test_cancelled_set_report_leaves_no_file(tmp_path: Path) -> None:
    exams = [square_exam(f"E{i}") for i in range(3)]
    preds = [make_prediction(e) for e in exams]
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))

    with pytest.raises(Cancelled):
        write_set_report(
            tmp_path / "s.pdf", exams, preds, model=CONTRACT, progress=progress, cancel=lambda: len(seen) >= 1
        )
    assert seen == [(1, 2)] and list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- set report


def _labelled_set(n: int) -> tuple[list[Exam], list[Prediction], LabelSet, LabelSet]:
    exams, preds = [], []
    rng = np.random.default_rng(0)
    for i in range(n):
        e = square_exam(f"S{i:03d}")
        exams.append(e)
        preds.append(make_prediction(e, rng.uniform(0, 1, 6).astype(np.float32)))
    decisions = np.array([p.decisions for p in preds], dtype=np.int8)
    gold = decisions.copy()
    gold[0] = 1 - gold[0]  # one exam disagrees on every class
    other = decisions.copy()
    return (
        exams,
        preds,
        LabelSet(name="Gold standard", values=gold, exam_ids=[e.exam_id for e in exams]),
        LabelSet(name="Cardiologist 1", values=other, exam_ids=[e.exam_id for e in exams]),
    )


@needs_poppler
def test_set_report_summary_statistics_and_table(tmp_path: Path) -> None:
    exams, preds, gold, card = _labelled_set(6)
    out = write_set_report(
        tmp_path / "set.pdf",
        exams,
        preds,
        labels=[card, gold],
        model=CONTRACT,
        errors=[ReportError("/x/broken.hea: damaged")],
    )
    assert pdf_pages(out) == 2
    summary = pdf_text(out, 1)
    for needle in (
        "ECG set report — 6 exams",
        "Network vs Gold standard",
        "Precision",
        "Specificity",
        "Cardiol",
        "1 file(s) could not be read",
        "broken.hea",
        "unit-test-net 9.8.7",
        "Not a medical device",
        "The set",
        "female 6",
    ):
        assert needle in summary, needle
    dec = np.array([p.decisions for p in preds])
    for k, cls in enumerate(CLASSES):
        assert cls in summary and CLASS_NAMES[cls] in summary
        assert str(int(dec[:, k].sum())) in summary
    table = pdf_text(out, 2)
    for e, p in zip(exams, preds, strict=True):
        assert e.exam_id in table
        for v in p.probabilities:
            assert format_probability(v) in table
    assert "≠" in table  # S000 disagrees with the gold standard


@needs_poppler
def test_set_report_paginates_headers_and_adds_exam_pages(tmp_path: Path) -> None:
    headers = [
        ExamHeader(
            exam_id=f"H{i:04d}",
            source=Path("/d/big.h5"),
            format="hdf5-code",
            index=i,
            fs=400.0,
            n_samples=4096,
        )
        for i in range(100)
    ]
    exam = square_exam()
    pred = make_prediction(exam)
    out = write_set_report(tmp_path / "big.pdf", headers, [pred] * 100, model=CONTRACT, paper="letter")
    pages = pdf_pages(out)
    assert pages >= 4
    text = pdf_text(out)
    assert all(f"H{i:04d}" in text for i in range(100))
    assert f"Page {pages} of {pages}" in text and "No labels attached" in text
    exams = [square_exam(f"P{i}") for i in range(3)]
    out = write_set_report(
        tmp_path / "pages.pdf", exams, [make_prediction(e) for e in exams], exam_pages=True, model=CONTRACT
    )
    assert pdf_pages(out) == 2 + 3
    assert "12-lead ECG — P2" in pdf_text(out, 5)
    with pytest.raises(ReportError, match="signals"):
        write_set_report(tmp_path / "h.pdf", headers[:2], [pred] * 2, exam_pages=True)
    with pytest.raises(ReportError, match="2 exams but 1 predictions"):
        write_set_report(tmp_path / "h.pdf", headers[:2], [pred])


# --------------------------------------------------------------------------- real data and the CLI


@needs_poppler
def test_cli_report_real_wfdb_exam(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from ecgviewer.cli import main

    src = shared_data / "wfdb" / "challenge2021" / "CPSC_CPSC-Extra" / "A0001.hea"
    out = tmp_path / "A0001.pdf"
    assert main(["report", str(src), "--out", str(out), "--no-shap", "--paper", "letter", "--cpu"]) == 0
    assert pdf_pages(out) == 1
    text = pdf_text(out, 1)
    assert "A0001" in text and "74 y, male" in text and "Dx" in text and "Cropped to 4096" in text
    assert "ecgviewer-resnet-ptbxl" in text and "Not a medical device" in text
    assert "A0001" in capsys.readouterr().err
    # the RBBB of the #Dx line shows as "yes" in the Dx (header) column
    assert class_row(text, "RBBB").rstrip().endswith("yes")
    assert class_row(text, "AF").rstrip().endswith("no")


@needs_poppler
def test_cli_code_exam_with_annotators(shared_data: Path, tmp_path: Path) -> None:
    from ecgviewer.cli import main

    src = shared_data / "code-test" / "exams" / "pacient_2.hdf5"
    out = tmp_path / "p2.pdf"
    assert main(["report", str(src), "--out", str(out), "--no-shap", "--cpu", "--quiet"]) == 0
    text = pdf_text(out, 1)
    assert "pacient_2" in text and "Gold" in text and "DNN" in text
    assert "zero padding of the file not drawn" in text
    # exam 2 is LBBB for the gold standard: the LBBB row has a "yes"
    assert "yes" in class_row(text, "LBBB") and "yes" not in class_row(text, "AF")


@needs_poppler
def test_cli_set_split_and_errors(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from ecgviewer.cli import main

    folder = tmp_path / "in"
    folder.mkdir()
    src = shared_data / "wfdb" / "challenge2021" / "CPSC_CPSC-Extra"
    for name in ("A0001", "A0002", "A0003"):
        for f in src.glob(f"{name}.*"):
            os.symlink(f, folder / f.name)
    assert main(["report", str(folder), "--out", str(tmp_path / "x.pdf"), "--cpu"]) == 2
    assert "3 exams found" in capsys.readouterr().err  # must choose
    assert main(["report", str(folder), "--all", "--out", str(tmp_path / "set.pdf"), "--cpu", "--quiet"]) == 0
    text = pdf_text(tmp_path / "set.pdf")
    assert all(n in text for n in ("A0001", "A0002", "A0003")) and "Network vs Dx (header)" in text
    assert main(["report", str(folder), "--split", str(tmp_path / "each"), "--cpu", "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "each").iterdir()) == ["A0001.pdf", "A0002.pdf", "A0003.pdf"]
    assert (
        main(
            [
                "report",
                str(folder),
                "--exam",
                "A0002",
                "--no-shap",
                "--out",
                str(tmp_path / "2.pdf"),
                "--cpu",
                "--quiet",
            ]
        )
        == 0
    )
    assert "A0002" in pdf_text(tmp_path / "2.pdf", 1)
    assert main(["report", str(folder), "--exam", "nope", "--out", str(tmp_path / "n.pdf"), "--cpu"]) == 2
    assert "no exam with that id" in capsys.readouterr().err
    assert main(["report", str(folder), "--all", "--out", str(tmp_path / "n.txt")]) == 2
    assert "ending in .pdf" in capsys.readouterr().err
