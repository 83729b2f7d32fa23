"""``ecgviewer evaluate``: the paper's comparison of a model with annotators against a gold standard.

Writes to ``--out DIR``: Table 2 (precision, recall, specificity and F1 per class and rater with
bootstrap 95 % intervals) as ``table2.csv``/``table2.md`` and in the paper's own layout
``scores.csv``; Cohen's kappa between every pair of raters (``kappa.csv``/``.md``); McNemar's
test between every pair (``mcnemar.csv``/``.md``); confusion counts (``confusion.csv``); the
model's decisions (``decisions.csv``); precision-recall curves per class with each rater as a
point (``pr_curves.png``, the paper's Fig. 2); and everything in one ``evaluation.md``.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgviewer.atomic import apply_umask
from ecgviewer.classes import CLASSES, PAPER_THRESHOLDS
from ecgviewer.errors import EcgViewerError, LabelError
from ecgviewer.labels import LabelSet, check_row_lengths, check_table_header, load_label_file, source_name
from ecgviewer.labels.files import _class_columns, _find_column, _read_rows, class_values
from ecgviewer.metrics import METRIC_LABELS, METRICS, Evaluation, evaluate, threshold
from ecgviewer.reads import ReaderFile, find_reader_files, reading_study

NAME = "evaluate"
HELP = (
    "compare a model's predictions and annotators with a gold standard: the paper's Table 2 "
    "with bootstrap intervals, Cohen's kappa, McNemar's test and precision-recall curves"
)

K = len(CLASSES)


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--predictions",
        required=True,
        metavar="P.csv|P.npy",
        help="the model's output: (N, 6) probabilities (.npy, or a CSV such as "
        "'ecgviewer predict' writes, for an ensemble its mean columns) thresholded with --thresholds, "
        "or 0/1 decisions; an (M, N, 6) .npy of ensemble members is scored as their mean",
    )
    parser.add_argument(
        "--gold",
        required=True,
        metavar="G.csv",
        help="the reference labels (annotator CSV, SPH metadata.csv or a generic CSV)",
    )
    parser.add_argument(
        "--annotator",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="an annotator's labels to score as well (repeatable); NAME defaults to one "
        "derived from the file name (cardiology_residents.csv → Cardiology residents)",
    )
    parser.add_argument(
        "--reader",
        action="append",
        default=[],
        metavar="FILE|DIR",
        help="a reader's file saved by the viewer (annotations/<reader>.csv), or a folder of them "
        "(repeatable): scored like an annotator under the reader's name, plus readers.md/readers.csv "
        "(readers against each other and the model, and the F1 change from blinded to revised reads)",
    )
    parser.add_argument(
        "--thresholds",
        metavar="t1,...,t6",
        help="per-class thresholds for probabilities, in the order "
        + ",".join(CLASSES)
        + " (default: the paper's "
        + ",".join(f"{t:g}" for t in PAPER_THRESHOLDS)
        + ")",
    )
    parser.add_argument("--model-name", default="DNN", help="name of the model in the tables (default DNN)")
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        metavar="B",
        help="bootstrap resamples for the 95%% intervals (default 1000, 0: none)",
    )
    parser.add_argument(
        "--seed", type=int, default=123, help="seed of the bootstrap (default 123, the paper's)"
    )
    parser.add_argument("--no-figures", action="store_true", help="write the tables only (no PNG)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    parser.add_argument(
        "--classes",
        nargs="+",
        metavar="NAME[,NAME...]",
        help="score these classes instead of the paper's six (e.g. a fine-tuned model's): predictions "
        "columns prob_NAME (or an (N, C) .npy in this order), reference columns NAME, NAME=COLUMN or "
        "NAME=!COLUMN; a class the reference lacks is not available, never negative",
    )
    parser.add_argument(
        "--model",
        metavar="MODEL.onnx",
        help="take the classes and thresholds from this model's contract (with or instead of --classes)",
    )


# --------------------------------------------------------------------------- reading


@dataclass
class Predictions:
    """A model's output read from a file: (N, 6) values, NaN where missing."""

    path: Path
    values: np.ndarray
    kind: str  # "probabilities" or "decisions"
    exam_ids: list[str] | None = None
    index: list[int] | None = None
    note: str = ""


def _loose_class_columns(header: Sequence[str]) -> dict[int, int]:
    """Class columns of a predictions CSV, ``prob_<class>`` preferred over ``<class>``."""
    probs = _class_columns([h[5:] if h.lower().startswith("prob_") else "" for h in header])
    return probs or _class_columns(header)


def _probability(cell: str) -> float | None:
    """A predictions cell: its number, None when empty or NaN/NA (ValueError when not a number)."""
    return float(cell) if cell and cell.lower() not in ("nan", "na") else None


def read_predictions(path: str | Path) -> Predictions:
    """Read a model's output (.npy (N, 6), or a CSV with class or ``prob_<class>`` columns).

    Raises:
        LabelError: missing file, wrong shape, values outside [0, 1], no class columns.
    """
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"{path}: no such file")
    ids: list[str] | None = None
    index: list[int] | None = None
    note = ""
    if path.suffix.lower() == ".npy":
        try:
            values = np.load(path, allow_pickle=False).astype(np.float64)
        except (OSError, ValueError) as err:
            raise LabelError(f"{path}: not a readable .npy array ({err})") from err
        if values.ndim == 3 and values.shape[2] == K:
            # an ensemble's members (M, N, C), as 'predict --npy-members' writes: scored as their mean
            note = f"{path.name}: {values.shape[0]} members' probabilities, scored as their mean"
            values = values.mean(axis=0)
        if values.ndim != 2 or values.shape[1] != K:
            raise LabelError(
                f"{path}: expected an (N, {K}) array of {', '.join(CLASSES)}, got {values.shape}"
            )
    else:
        rows = _read_rows(path)
        header, body = rows[0], rows[1:]
        cols = _loose_class_columns(header)
        if not cols:
            raise LabelError(f"{path}: no column named after a class ({', '.join(CLASSES)}) or prob_<class>")
        check_table_header(path, header, cols)
        check_table_header(path, [h[5:] for h in header if h.lower().startswith("prob_")], cols)
        check_row_lengths(path, header, body)
        values = class_values(path, header, body, cols, _probability, "a number")
        id_col = _find_column(header, ("exam_id", "ecg_id", "id", "record", "filename"))
        if id_col is None and header[0].strip() == "" and 0 not in cols:
            first = [r[0] for r in body]
            if not all(c.strip().isdigit() for c in first):
                id_col = 0
        if id_col is not None:
            ids = [r[id_col].strip() if id_col < len(r) else "" for r in body]
        ix_col = _find_column(header, ("index",))
        if ix_col is not None:
            try:
                index = [int(r[ix_col]) for r in body]
            except (ValueError, IndexError):
                index = None
    finite = values[np.isfinite(values)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        raise LabelError(
            f"{path}: values outside [0, 1] (min {finite.min():g}, max {finite.max():g}); "
            "expected probabilities or 0/1 decisions"
        )
    kind = "decisions" if finite.size and np.isin(finite, (0.0, 1.0)).all() else "probabilities"
    return Predictions(path, values, kind, ids, index, note)


def _align(
    reference: LabelSet, ids: list[str] | None, index: list[int] | None, n: int, what: str
) -> tuple[np.ndarray, list[str]]:
    """Reference row → row of the other source (-1 where none), and notes."""
    notes: list[str] = []
    if ids is None and reference.exam_ids is None and n != len(reference):
        raise LabelError(
            f"{what}: {n} rows but the reference has {len(reference)}; without exam ids "
            "the rows are matched by position, so the counts must agree (add an exam_id column)"
        )
    rows = np.full(len(reference), -1, dtype=np.int64)
    unmatched = 0
    for j in range(n):
        key_id = ids[j] if ids is not None else None
        r = reference.row_of(key_id, index[j] if index is not None else j)
        if r is None:
            unmatched += 1
        elif rows[r] < 0:
            rows[r] = j
    if unmatched:
        notes.append(f"{what}: {unmatched} of {n} rows match no exam of the reference (left out)")
    missing = int((rows < 0).sum())
    if missing:
        notes.append(f"{what}: {missing} of {len(reference)} reference exams have no row (unknown)")
    if missing == len(reference):
        raise LabelError(
            f"{what}: no row matches an exam of the reference {reference.source or ''} (check the exam ids)"
        )
    return rows, notes


def _take(values: np.ndarray, rows: np.ndarray, fill: float) -> np.ndarray:
    out = np.full((len(rows), values.shape[1]), fill, dtype=values.dtype)
    ok = rows >= 0
    out[ok] = values[rows[ok]]
    return out


def _parse_thresholds(text: str | None) -> np.ndarray:
    if not text:
        return np.asarray(PAPER_THRESHOLDS, dtype=np.float64)
    try:
        values = [float(t) for t in text.replace(";", ",").split(",") if t.strip()]
    except ValueError:
        raise LabelError(f"--thresholds {text}: not numbers; give {K} comma-separated values") from None
    if len(values) != K or not all(0 <= v <= 1 for v in values):
        raise LabelError(f"--thresholds {text}: give {K} values in [0, 1], in the order {','.join(CLASSES)}")
    return np.asarray(values)


def _parse_annotator(spec: str) -> tuple[str | None, Path]:
    if "=" in spec:
        name, _, file = spec.partition("=")
        if name.strip() and not Path(spec).exists():
            return name.strip(), Path(file)
    return None, Path(spec)


def _load_readers(
    specs: Sequence[str], gold: LabelSet, raters: dict[str, np.ndarray], notes: list[str]
) -> dict[str, ReaderFile]:
    """Reader files (``--reader FILE|DIR``), each added to ``raters`` under the reader's name."""
    readers: dict[str, ReaderFile] = {}
    for spec in specs:
        p = Path(spec)
        files = find_reader_files([p]) if p.is_dir() else [p]
        if p.is_dir() and not files:
            raise LabelError(f"--reader {spec}: no reader file (exam_id, reader, blinded columns) there")
        for f in files:
            if not f.is_file():
                raise LabelError(f"--reader {f}: no such file")
            rf = ReaderFile.load(f)
            label = rf.reader or source_name(f)
            if label in raters:
                raise LabelError(f"--reader {f}: the name '{label}' is used twice")
            ls = load_label_file(f, name=label)
            rows, rnotes = _align(gold, ls.exam_ids, None, len(ls), f.name)
            notes += rnotes
            raters[label] = _take(ls.values, rows, -1)
            readers[label] = rf
    return readers


def _write_reading_study(
    readers: dict[str, ReaderFile],
    gold: LabelSet,
    decisions: np.ndarray,
    out: Path,
    model: str,
    reference: str,
) -> list[Path]:
    """readers.md and readers.csv: the reading study over the gold standard's exams."""
    if gold.exam_ids is None:
        raise LabelError("--reader: the gold standard needs an exam id column to match the readers' reads")
    study = reading_study(gold.exam_ids, readers, gold=gold.values, network=decisions, reference=reference)
    written = []
    for name, data in (
        ("readers.md", study.markdown(model).encode("utf-8")),
        ("readers.csv", _csv_bytes(study.rows(model))),
    ):
        _atomic_write(out / name, data)
        written.append(out / name)
    return written


# --------------------------------------------------------------------------- writing


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        apply_umask(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _csv_bytes(rows: Sequence[Sequence[object]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode("utf-8")


def _f3(x: float) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def _md_num(x: float) -> str:
    return "undefined" if math.isnan(x) else f"{x:.3f}"


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def scores_paper_rows(ev: Evaluation) -> list[list[str]]:
    """Table 2 in the layout of the paper's ``scores.csv`` (two header rows, 3 decimals)."""
    rows = [
        [""] + [METRIC_LABELS[m] for m in METRICS for _ in ev.raters],
        [""] + [r for _ in METRICS for r in ev.raters],
    ]
    for k, cls in enumerate(ev.classes):
        rows.append([cls] + [_f3(ev.scores[r][m][k]) for m in METRICS for r in ev.raters])
    return rows


def kappa_paper_rows(ev: Evaluation) -> list[list[str]]:
    """Kappa in the layout of the paper's ``kappa.csv``."""
    return [["", *ev.classes]] + [[f"{a} vs {b}"] + [_f3(v) for v in vals] for a, b, vals in ev.kappa]


def table2_markdown(ev: Evaluation) -> str:
    """Table 2 as Markdown: one table per metric, rows the classes, columns the raters, each cell
    the score and its bootstrap interval."""
    pct = f"{ev.level * 100:g} %"
    parts: list[str] = []
    footnotes: dict[str, int] = {}
    for m in METRICS:
        rows = []
        for k, cls in enumerate(ev.classes):
            cells = [cls]
            for r in ev.raters:
                v = float(ev.scores[r][m][k])
                if math.isnan(v):
                    note = ev.undefined[r][m][k]
                    n = footnotes.setdefault(note, len(footnotes) + 1)
                    cells.append(f"undefined [{n}]")
                    continue
                ci = ev.ci.get(r, {}).get(m)
                cell = f"{v:.3f}"
                if ci is not None and not np.isnan(ci[k]).any():
                    cell += f" ({ci[k, 0]:.3f}–{ci[k, 1]:.3f})"
                cells.append(cell)
            rows.append(cells)
        title = f"**{METRIC_LABELS[m]}**"
        if ev.ci:
            title += f" (bootstrap {pct} interval, {ev.n_resamples} resamples)"
        parts.append(title + "\n\n" + _md_table(["", *ev.raters], rows))
    if footnotes:
        parts.append("\n".join(f"[{n}] {note}" for note, n in footnotes.items()) + "\n")
    return "\n".join(parts)


def kappa_markdown(ev: Evaluation) -> str:
    rows = [[f"{a} vs {b}"] + [_md_num(float(v)) for v in vals] for a, b, vals in ev.kappa]
    return _md_table(["", *ev.classes], rows)


def mcnemar_markdown(ev: Evaluation) -> str:
    rows = []
    for a, b, res in ev.mcnemar:
        cells = [f"{a} vs {b}"]
        for k in range(len(ev.classes)):
            p = float(res["p_value"][k])
            mark = "ᵉ" if res["method"][k] == "exact binomial" else ""
            cells.append(f"{p:.3f}{mark} ({int(res['b'][k])}/{int(res['c'][k])})")
        rows.append(cells)
    return (
        _md_table(["", *ev.classes], rows)
        + "\nEach cell: p-value (exams only the first rater gets wrong / only the second gets wrong); "
        "ᵉ exact binomial test (fewer than 25 discordant exams), otherwise χ² without continuity "
        "correction as in the paper. `mcnemar.csv` has both p-values.\n"
    )


def plot_pr_curves(ev: Evaluation, out: Path, *, dpi: int = 110) -> Path:
    """Precision-recall curves per class (2 × 3 panels) with each rater as a point with its
    bootstrap intervals and iso-F1 lines; the paper's Fig. 2. Written atomically as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 8), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 3)
    markers = ["o", "v", "s", "D", "^", "P", "X", "*", "<", ">"]
    colors = ["#1f4e9c", "#c0392b", "#2e8b57", "#333333", "#8e44ad", "#d35400", "#16a085", "#7f8c8d"]
    for k, (ax, cls) in enumerate(zip(axes.ravel(), ev.classes, strict=False)):
        for f in np.linspace(0.2, 0.9, 8):
            x = np.linspace(f / 2 + 1e-3, 1, 200)
            y = f * x / (2 * x - f)
            ok = (y >= 0) & (y <= 1.02)
            ax.plot(x[ok], y[ok], color="0.75", ls=":", lw=0.7)
        title = cls
        for name, curves in ev.curves.items():
            c = curves[k]
            if c.n_positive:
                ax.plot(
                    c.recall,
                    c.precision,
                    color=colors[0],
                    lw=1.6,
                    alpha=0.85,
                    label=f"{name} (curve)" if k == 0 else None,
                )
                title += f"   AUPRC {c.auprc:.3f}, AUROC {c.auroc:.3f}"
        for i, r in enumerate(ev.raters):
            rec, prec = ev.scores[r]["recall"][k], ev.scores[r]["precision"][k]
            if np.isnan(rec) or np.isnan(prec):
                continue
            kw = {}
            ci = ev.ci.get(r)
            if ci is not None:
                kw = {
                    "xerr": np.abs(ci["recall"][k][:, None] - rec),
                    "yerr": np.abs(ci["precision"][k][:, None] - prec),
                }
                if np.isnan(kw["xerr"]).any() or np.isnan(kw["yerr"]).any():
                    kw = {}
            ax.errorbar(
                [rec],
                [prec],
                fmt=markers[i % len(markers)],
                color=colors[i % len(colors)],
                ms=7,
                elinewidth=0.8,
                capsize=2,
                label=r if k == 0 else None,
                clip_on=False,
                zorder=3,
                **kw,
            )
        n_pos = int(ev.counts[ev.raters[0]]["tp"][k] + ev.counts[ev.raters[0]]["fn"][k])
        ax.set_title(f"{title}\n{n_pos} positive of {int(ev.counts[ev.raters[0]]['n'][k])}", fontsize=9)
        ax.set_xlim(0, 1.03)
        ax.set_ylim(0, 1.03)
        ax.grid(alpha=0.25)
        if k >= 3:
            ax.set_xlabel("Recall (sensitivity)")
        if k % 3 == 0:
            ax.set_ylabel("Precision (PPV)")
    axes.ravel()[0].legend(loc="lower left", fontsize=8)
    fig.suptitle(
        f"Precision-recall against: {ev.reference} (N = {ev.n_exams}); "
        f"points with bootstrap {ev.level * 100:g} % intervals",
        fontsize=11,
    )
    fig.subplots_adjust(left=0.06, right=0.985, bottom=0.07, top=0.89, wspace=0.18, hspace=0.32)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    _atomic_write(out, buf.getvalue())
    return out


def write_evaluation(
    ev: Evaluation,
    out_dir: str | Path,
    *,
    decisions: np.ndarray | None = None,
    figures: bool = True,
    header: str = "",
) -> list[Path]:
    """Write every table and figure of an :class:`Evaluation` into ``out_dir`` (created if
    missing), each file atomically. Returns the written paths."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise EcgViewerError(f"{out}: cannot create the output folder ({err.strerror or err})") from err
    written: list[Path] = []

    def put(name: str, data: bytes) -> None:
        _atomic_write(out / name, data)
        written.append(out / name)

    t2 = ev.table2_rows()
    cols = (
        ["class", "rater"]
        + [f"{m}{s}" for m in METRICS for s in ("", "_low", "_high")]
        + ["tp", "fp", "fn", "tn", "n"]
        + [f"{m}_note" for m in METRICS]
    )
    put(
        "table2.csv",
        _csv_bytes([cols] + [[_f3(r[c]) if isinstance(r[c], float) else r[c] for c in cols] for r in t2]),
    )
    put("scores.csv", _csv_bytes(scores_paper_rows(ev)))
    put("kappa.csv", _csv_bytes(kappa_paper_rows(ev)))
    mc = ev.mcnemar_rows()
    mcols = [
        "pair",
        "class",
        "a_wrong_b_right",
        "a_right_b_wrong",
        "statistic",
        "p_value",
        "method",
        "p_exact",
        "p_chi2",
    ]
    put(
        "mcnemar.csv",
        _csv_bytes([mcols] + [[_f3(r[c]) if isinstance(r[c], float) else r[c] for c in mcols] for r in mc]),
    )
    put(
        "confusion.csv",
        _csv_bytes(
            [["rater", "class", "tp", "fp", "fn", "tn", "n"]]
            + [[r["rater"], r["class"], r["tp"], r["fp"], r["fn"], r["tn"], r["n"]] for r in t2]
        ),
    )
    if decisions is not None:
        put(
            "decisions.csv",
            _csv_bytes([list(ev.classes)] + [[("" if v < 0 else int(v)) for v in row] for row in decisions]),
        )
    t2md, kmd, mmd = table2_markdown(ev), kappa_markdown(ev), mcnemar_markdown(ev)
    put("table2.md", t2md.encode())
    put("kappa.md", kmd.encode())
    put("mcnemar.md", mmd.encode())
    fig_md = ""
    if figures:
        written.append(plot_pr_curves(ev, out / "pr_curves.png"))
        fig_md = "## Precision-recall curves\n\n![precision-recall curves](pr_curves.png)\n\n"
    curves_md = ""
    for name, curves in ev.curves.items():
        curves_md += (
            f"Areas of {name}'s curves: "
            + "; ".join(f"{c.cls} AUPRC {_md_num(c.auprc)}, AUROC {_md_num(c.auroc)}" for c in curves)
            + ".\n\n"
        )
    notes = "".join(f"- {n}\n" for n in ev.notes)
    md = (
        f"# Comparison against the {ev.reference}\n\n{header}"
        f"{ev.n_exams} exams. Raters: {', '.join(ev.raters)}\n\n"
        + (f"## Notes\n\n{notes}\n" if notes else "")
        + "## Table 2: scores against the reference\n\n"
        + t2md
        + "\n"
        + "## Cohen's kappa between raters\n\n"
        + kmd
        + "\n"
        + "## McNemar's test (p-values)\n\n"
        + mmd
        + "\n"
        + fig_md
        + curves_md
    )
    put("evaluation.md", md.encode())
    return written


# --------------------------------------------------------------------------- command


def _run_classes(args: argparse.Namespace) -> int:
    """``evaluate`` for a model's own classes (not the paper's six)."""
    from ecgviewer.class_labels import parse_classes, read_labels

    thresholds = None
    specs = list(args.classes or [])
    if args.model:
        from ecgviewer.model.runtime import read_contract

        contract, _ = read_contract(args.model)
        if not specs:
            specs = list(contract.classes)
        names = [s.partition("=")[0].strip() for part in specs for s in part.split(",") if s.strip()]
        if names != list(contract.classes):
            raise LabelError(
                f"--classes {','.join(names)} differ from {args.model}'s {','.join(contract.classes)}"
            )
        thresholds = np.asarray(contract.thresholds, dtype=np.float64)
    classes = parse_classes(specs)
    names = [n for n, _, _ in classes]
    table = read_labels(args.gold, classes)
    notes = [
        f"{Path(args.gold).name} has no column {c!r}: that class is not available"
        for c in table.missing_columns
    ]
    path = Path(args.predictions)
    if not path.is_file():
        raise LabelError(f"{path}: no such file")
    if path.suffix.lower() == ".npy":
        values = np.load(path, allow_pickle=False).astype(np.float64)
        if values.ndim == 3:
            notes.append(f"{path.name}: {values.shape[0]} members' probabilities, scored as their mean")
            values = values.mean(axis=0)
        if values.ndim != 2 or values.shape[1] != len(names):
            raise LabelError(
                f"{path}: expected an (N, {len(names)}) array of {', '.join(names)}, got {values.shape}"
            )
        pred_ids = list(table.values)[: len(values)]
        if len(values) != len(table.values):
            raise LabelError(
                f"{path}: {len(values)} rows but the reference has {len(table.values)} (no exam ids)"
            )
    else:
        rows = _read_rows(path)
        header, body = rows[0], rows[1:]
        cols = []
        for n in names:
            col = next((j for j, h in enumerate(header) if h.strip() in (f"prob_{n}", n)), None)
            if col is None:
                raise LabelError(f"{path}: no column prob_{n} or {n}")
            cols.append(col)
        id_col = _find_column(header, ("exam_id", "ecg_id", "id", "record", "filename"))
        if id_col is None:
            raise LabelError(f"{path}: no exam_id column to match the reference")
        pred_ids = [r[id_col].strip() for r in body]
        values = np.array([[float(r[j]) if r[j].strip() else np.nan for j in cols] for r in body])
    ref_ids = [i for i in pred_ids if i in table.values]
    if not ref_ids:
        raise LabelError(f"{path}: no exam id matches the reference {args.gold}")
    if len(ref_ids) < len(pred_ids):
        notes.append(
            f"{path.name}: {len(pred_ids) - len(ref_ids)} rows match no exam of the reference (left out)"
        )
    keep = [k for k, i in enumerate(pred_ids) if i in table.values]
    probs = values[keep]
    ref = np.stack([table.values[i] for i in ref_ids])
    reference = np.where(np.isfinite(ref), ref, -1).astype(np.int8)
    if args.thresholds:
        try:
            thresholds = np.asarray([float(t) for t in args.thresholds.split(",")], dtype=np.float64)
        except ValueError:
            raise LabelError(f"--thresholds {args.thresholds}: not numbers") from None
        if len(thresholds) != len(names):
            raise LabelError(f"--thresholds: give {len(names)} values, for {', '.join(names)}")
    if thresholds is None:
        thresholds = np.full(len(names), 0.5)
        notes.append("no thresholds given (--thresholds or --model): 0.5 for every class")
    model = args.model_name
    decisions = threshold(np.nan_to_num(probs, nan=-1.0), thresholds)
    decisions[~np.isfinite(probs)] = -1
    ev = evaluate(
        reference,
        {model: decisions},
        probabilities={model: np.nan_to_num(probs, nan=0.0)},
        thresholds={model: thresholds},
        reference_name=source_name(args.gold),
        classes=names,
        n_resamples=max(0, args.bootstrap),
        seed=args.seed,
    )
    ev.notes = notes + ev.notes
    header_text = (
        f"{model}: probabilities from `{path.name}`, decisions = probability > threshold "
        f"({', '.join(f'{c} {t:g}' for c, t in zip(names, thresholds, strict=True))}).\n\n"
    )
    written = write_evaluation(
        ev, args.out, decisions=decisions, header=header_text, figures=not getattr(args, "no_figures", False)
    )
    out = sys.stdout
    out.write(f"{ev.n_exams} exams, reference: {ev.reference} ({Path(args.gold).name})\n")
    for k, cls in enumerate(ev.classes):
        curve = ev.curves[model][k]
        out.write(
            f"{cls:<10} F1 {_md_num(float(ev.scores[model]['f1'][k]))}  "
            f"AUROC {_md_num(curve.auroc)}  AUPRC {_md_num(curve.auprc)}\n"
        )
    for n in ev.notes:
        out.write(f"note: {n}\n")
    out.write(f"wrote {len(written)} files to {Path(args.out)}\n")
    return 0


def run(args: argparse.Namespace) -> int:
    if getattr(args, "classes", None) or getattr(args, "model", None):
        return _run_classes(args)
    gold = load_label_file(args.gold)
    pred = read_predictions(args.predictions)
    rows, notes = _align(gold, pred.exam_ids, pred.index, len(pred.values), f"{pred.path.name}")
    if pred.note:
        notes.insert(0, pred.note)
    values = _take(pred.values, rows, np.nan)
    thresholds = _parse_thresholds(args.thresholds)
    model = args.model_name
    probabilities: dict[str, np.ndarray] = {}
    header = ""
    if pred.kind == "probabilities":
        probabilities[model] = values
        decisions = threshold(np.nan_to_num(values, nan=-1.0), thresholds)
        decisions[~np.isfinite(values)] = -1
        header = (
            f"{model}: probabilities from `{pred.path.name}`, decisions = probability > threshold "
            f"({', '.join(f'{c} {t:g}' for c, t in zip(CLASSES, thresholds, strict=True))}).\n\n"
        )
    else:
        decisions = np.where(np.isfinite(values), values, -1).astype(np.int8)
        header = f"{model}: 0/1 decisions from `{pred.path.name}`.\n\n"
        if args.thresholds:
            notes.append("--thresholds ignored: the predictions are already 0/1 decisions")
    raters: dict[str, np.ndarray] = {model: decisions}
    for spec in args.annotator:
        name, file = _parse_annotator(spec)
        ls = load_label_file(file, name=name)
        label = name or ls.name
        if label in raters:
            raise LabelError(f"--annotator {spec}: the name '{label}' is used twice; give NAME=FILE")
        arows, anotes = _align(gold, ls.exam_ids, None, len(ls), file.name)
        notes += anotes
        raters[label] = _take(ls.values, arows, -1)
    readers = _load_readers(getattr(args, "reader", []), gold, raters, notes)
    ev = evaluate(
        gold.values,
        raters,
        probabilities=probabilities,
        thresholds={model: thresholds} if probabilities else None,
        reference_name=gold.name if gold.name else source_name(args.gold),
        n_resamples=max(0, args.bootstrap),
        seed=args.seed,
    )
    ev.notes = notes + ev.notes
    written = write_evaluation(
        ev, args.out, decisions=decisions, header=header, figures=not getattr(args, "no_figures", False)
    )
    if readers:
        written += _write_reading_study(readers, gold, decisions, Path(args.out), model, ev.reference)
    out = sys.stdout
    out.write(f"{ev.n_exams} exams, reference: {ev.reference} ({Path(args.gold).name})\n")
    out.write("F1 score" + "".join(f"  {r:>12}" for r in ev.raters) + "\n")
    for k, cls in enumerate(ev.classes):
        f1 = [_md_num(float(ev.scores[r]["f1"][k])) for r in ev.raters]
        out.write(f"{cls:<8}" + "".join(f"  {v:>12}" for v in f1) + "\n")
    for n in ev.notes:
        out.write(f"note: {n}\n")
    out.write(f"wrote {len(written)} files to {Path(args.out)}: {', '.join(p.name for p in written)}\n")
    return 0
