"""``ecgviewer report PATH --out FILE.pdf``: the PDF report of an exam, or of a whole set."""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ecgviewer.atomic import apply_umask
from ecgviewer.commands import add_paths, add_reading_options
from ecgviewer.errors import EcgViewerError, ExamReadError, ModelError, ReportError, exam_error

NAME = "report"
HELP = (
    "Write the PDF report of one exam (12-lead printout on ECG paper at true scale, the six findings "
    "with probabilities and thresholds, the labels attached, SHAP saliency pages) or, with --all, of a "
    "whole set (summary with statistics against the labels, one row per exam); --split writes one PDF "
    "per exam into a folder. Labels beside the files (e.g. the CODE annotations/ folder) and in WFDB "
    "headers are attached automatically."
)


def register(parser: argparse.ArgumentParser) -> None:
    add_paths(parser, "ECG file(s) or folder(s)")
    parser.add_argument("--out", metavar="FILE.pdf", help="the PDF to write (replaced atomically)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--exam",
        metavar="ID",
        help="the exam to report, by id (or #N for the N-th exam); default: the only exam",
    )
    which.add_argument(
        "--all",
        action="store_true",
        help="one set report for every exam: summary page and one table row per exam",
    )
    which.add_argument("--split", metavar="DIR", help="one exam report per exam, written into DIR")
    parser.add_argument(
        "--pages", action="store_true", help="with --all: add the 12-lead page of every exam after the table"
    )
    parser.add_argument(
        "--paper",
        type=str.lower,
        choices=["a4", "letter"],
        default="a4",
        help="paper size, landscape (default a4)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=25.0,
        metavar="MM_S",
        help="paper speed in mm/s (default 25; 50 shows 5 s)",
    )
    parser.add_argument(
        "--gain", type=float, default=10.0, metavar="MM_MV", help="gain in mm/mV (default 10; 5 or 20)"
    )
    parser.add_argument("--rhythm-lead", default="II", help="lead of the rhythm strip (default II)")
    filters = parser.add_argument_group(
        "display filters",
        "filters of the printed traces, never of the network input; default: a diagnostic cart's "
        "0.05–150 Hz, notch off (printed under the paper)",
    )
    filters.add_argument("--baseline", choices=["off", "0.05", "0.5"], help="baseline high-pass in Hz")
    filters.add_argument("--notch", choices=["off", "50", "60"], help="mains notch in Hz")
    filters.add_argument("--lowpass", choices=["off", "40", "100", "150"], help="low-pass in Hz")
    filters.add_argument(
        "--unfiltered", action="store_true", help="print the signal as recorded (no display filter)"
    )
    shap = parser.add_mutually_exclusive_group()
    shap.add_argument(
        "--no-shap",
        dest="shap",
        action="store_false",
        default=None,
        help="leave out the SHAP pages (default for --split)",
    )
    shap.add_argument(
        "--shap",
        dest="shap",
        action="store_true",
        help="add SHAP pages (default for a single exam; slow for --split)",
    )
    parser.add_argument(
        "--shap-class",
        action="append",
        metavar="CLASS",
        dest="shap_classes",
        help="class to explain (repeatable; default: the positive ones, else the most probable)",
    )
    parser.add_argument("--segments", type=int, default=32, help="SHAP time segments (default 32)")
    parser.add_argument(
        "--labels",
        nargs="+",
        action="extend",
        default=[],
        metavar="FILE",
        help="label files (CSV) to compare with; label files beside the exams are found automatically",
    )
    parser.add_argument(
        "--no-auto-labels",
        action="store_true",
        help="do not attach labels found beside the files or in their headers",
    )
    parser.add_argument(
        "--identifiers",
        action="store_true",
        help="print the patient's name, id and birth date from clinical files (default: left out; "
        "the report says which)",
    )
    parser.add_argument("--model", metavar="MODEL.onnx", help="model to use (default: the bundled model)")
    parser.add_argument("--cpu", action="store_true", help="do not try CUDA")
    parser.add_argument("--threads", type=int, default=None, help="inference threads (default: all cores)")
    add_reading_options(parser)
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")


def display_filters(args: argparse.Namespace) -> Any:
    """The :class:`~ecgviewer.display_filters.DisplayFilterSettings` of ``--baseline``, ``--notch``,
    ``--lowpass`` (the cart default for those not given); None with ``--unfiltered``."""
    from ecgviewer.display_filters import CART_DEFAULT, DisplayFilterSettings

    given = {"baseline_hz": args.baseline, "notch_hz": args.notch, "lowpass_hz": args.lowpass}
    if args.unfiltered:
        if any(v is not None for v in given.values()):
            raise ReportError("--unfiltered excludes --baseline, --notch and --lowpass")
        return None
    d = CART_DEFAULT.to_dict()
    d.update({k: (None if v == "off" else float(v)) for k, v in given.items() if v is not None})
    return DisplayFilterSettings(**d)


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr)


def _labels(args: argparse.Namespace) -> list[Any]:
    from ecgviewer.errors import LabelError
    from ecgviewer.labels import discover_labels, load_label_file

    found: list[Any] = [load_label_file(p) for p in args.labels]
    if not args.no_auto_labels:
        seen = {ls.source.resolve() for ls in found if ls.source is not None}
        errors: list[LabelError] = []
        for p in args.paths:
            for ls in discover_labels(p, errors=errors):
                if ls.source is None or ls.source.resolve() not in seen:
                    found.append(ls)
                    if ls.source is not None:
                        seen.add(ls.source.resolve())
        for err in errors:
            _say(args, f"ecgviewer report: warning: label file skipped: {err}")
    return found


def _pick(exams: Any, wanted: str | None) -> int:
    n = len(exams)
    if wanted is None:
        if n == 1:
            return 0
        ids = ", ".join(exams.header(i).exam_id for i in range(min(n, 5)))
        raise ReportError(
            f"{n} exams found ({ids}{', …' if n > 5 else ''}): choose one with --exam ID, "
            "or report them all with --all (one PDF) or --split DIR (one PDF each)"
        )
    m = re.fullmatch(r"#(\d+)", wanted.strip())
    if m:
        i = int(m.group(1)) - 1
        if not 0 <= i < n:
            raise ReportError(f"--exam {wanted}: there are {n} exams (#1–#{n})")
        return i
    try:
        return int(exams.index_of(wanted))
    except (KeyError, ValueError, IndexError, ExamReadError):
        ids = ", ".join(exams.header(i).exam_id for i in range(min(n, 8)))
        raise ReportError(
            f"--exam {wanted}: no exam with that id among the {n} opened ({ids}"
            f"{', …' if n > 8 else ''}); use #N for the N-th exam"
        ) from None


def _safe_name(text: str) -> str:
    name = re.sub(r"[^\w.\-]+", "_", text).strip("._")
    return name or "exam"


def _exam_report(
    args: argparse.Namespace, model: Any, exam: Any, out: Path, labels: list[Any], shap: bool
) -> tuple[Path, Any]:
    from ecgviewer.labels import labels_from_exam
    from ecgviewer.report import write_exam_report

    prediction = model.predict_exam(exam)
    saliency = None
    if shap:
        from ecgviewer.explain import explain_cached

        saliency = explain_cached(model, prediction.input, report=prediction.report, segments=args.segments)
    own = [] if args.no_auto_labels else [ls for ls in [labels_from_exam(exam)] if ls is not None]
    write_exam_report(
        out,
        exam,
        prediction,
        saliency=saliency,
        labels=[*labels, *own],
        paper=args.paper,
        gain_mm_mv=args.gain,
        speed_mm_s=args.speed,
        rhythm_lead=args.rhythm_lead,
        model=model,
        shap_classes=args.shap_classes,
        identifiers=bool(getattr(args, "identifiers", False)),
        display_filters=display_filters(args),
    )
    apply_umask(out)
    return out, prediction


@dataclass
class _Light:
    """What the set table needs of one exam (the signal itself is not kept)."""

    exam_id: str
    source: Path | None
    index: int
    fs: float
    duration_s: float
    age: float | None
    sex: str | None
    raw_labels: dict
    format: str


def _set_report(args: argparse.Namespace, model: Any, exams: Any, labels: list[Any]) -> int:
    from ecgviewer.labels import labels_from_exams
    from ecgviewer.report import write_set_report

    n = len(exams)
    items: list[Any] = []
    predictions: list[Any] = []
    errors: list[Any] = list(exams.errors)
    start = time.perf_counter()
    batch: list[tuple[Any, np.ndarray, Any]] = []
    keep_exams = bool(args.pages)
    empty = np.zeros((0, 12), dtype=np.float32)

    def flush() -> None:
        if not batch:
            return
        try:
            probs = list(model.predict(np.stack([x for _, x, _ in batch]), batch_size=32))
        except ModelError:  # one exam the model cannot take must not cost the others: one at a time
            probs = []
            for item, x, _ in batch:
                try:
                    probs.append(model.predict(x[None], batch_size=1)[0])
                except ModelError as err:
                    probs.append(None)
                    errors.append(exam_error(item.source, item.exam_id, err))
        for (item, x, rep), p in zip(batch, probs, strict=True):
            if p is None:
                continue
            items.append(item)
            predictions.append(model.prediction(p, x if keep_exams else empty, rep))
        batch.clear()

    for i in range(n):
        try:
            exam = exams[i]
            x, rep = model.prepare(exam)
        except EcgViewerError as err:
            errors.append(err)
            continue
        item = (
            exam
            if keep_exams
            else _Light(
                exam.exam_id,
                exam.source,
                exam.index,
                exam.fs,
                exam.duration_s,
                exam.age,
                exam.sex,
                dict(exam.raw_labels),
                exam.format,
            )
        )
        batch.append((item, x, rep))
        if len(batch) >= 32:
            flush()
            _say(args, f"  {i + 1}/{n} exams analysed")
    flush()
    if not items:
        raise ReportError("none of the exams could be read: " + "; ".join(str(e) for e in errors[:3]))
    all_labels = list(labels)
    if not args.no_auto_labels:
        own = labels_from_exams(items)
        if own is not None:
            all_labels.append(own)
    out = Path(args.out)
    write_set_report(
        out,
        items,
        predictions,
        labels=all_labels,
        paper=args.paper,
        model=model,
        exam_pages=keep_exams,
        gain_mm_mv=args.gain,
        speed_mm_s=args.speed,
        rhythm_lead=args.rhythm_lead,
        errors=errors,
        source=", ".join(args.paths),
    )
    apply_umask(out)
    for err in errors[:10]:
        _say(args, f"ecgviewer report: not reported: {err}")
    positive = sum(bool(np.asarray(p.decisions).any()) for p in predictions)
    unreliable = [(it, p) for it, p in zip(items, predictions, strict=True) if p.unreliable]
    for it, p in unreliable[:10]:
        _say(args, f"ecgviewer report: {it.source}: exam {it.exam_id}: {p.quality_note}")
    if unreliable:
        _say(args, f"{len(unreliable)} exam(s) of unreliable signal quality (flagged in the table's notes)")
    _say(
        args,
        f"{out}: {len(items)} exams ({positive} with a finding), {len(errors)} unreadable, "
        f"{time.perf_counter() - start:.1f} s",
    )
    return 1 if errors else 0


def _split_reports(args: argparse.Namespace, model: Any, exams: Any, labels: list[Any]) -> int:
    folder = Path(args.split)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ReportError(f"{folder}: cannot create the folder ({err.strerror or err})") from None
    shap = bool(args.shap)  # off unless asked: SHAP takes seconds per exam
    n = len(exams)
    failed = list(exams.errors)
    used: set[str] = set()
    start = time.perf_counter()
    for i in range(n):
        try:
            exam = exams[i]
            stem = _safe_name(exam.exam_id or (exam.source.stem if exam.source else f"exam_{i + 1}"))
            name, k = stem, 2
            while name.lower() in used:
                name, k = f"{stem}_{k}", k + 1
            used.add(name.lower())
            _exam_report(args, model, exam, folder / f"{name}.pdf", labels, shap)
        except ReportError:
            raise
        except EcgViewerError as err:
            failed.append(err)
            _say(args, f"ecgviewer report: skipped: {err}")
            continue
        if (i + 1) % 10 == 0:
            _say(args, f"  {i + 1}/{n} reports written")
    for err in failed:
        _say(args, f"ecgviewer report: not reported: {err}")
    _say(
        args,
        f"{folder}: {len(used)} reports, {len(failed)} exams could not be reported, "
        f"{time.perf_counter() - start:.1f} s",
    )
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    from ecgviewer.io import open_exams
    from ecgviewer.model.runtime import load_model

    if args.split is None and not args.out:
        raise ReportError("give the PDF to write with --out FILE.pdf (or a folder with --split DIR)")
    if args.out and args.split:
        raise ReportError("--out and --split exclude each other: --split writes one PDF per exam into DIR")
    if args.pages and not args.all:
        raise ReportError("--pages goes with --all (the set report)")
    if args.out and Path(args.out).suffix.lower() != ".pdf":
        raise ReportError(f"{args.out}: the report is a PDF; give a file name ending in .pdf")
    from ecgviewer.report import exam_page_geometry

    exam_page_geometry(args.paper, args.speed, args.gain)  # checks the scale before any work
    display_filters(args)  # checks the filter options before any work
    labels = _labels(args)
    exams = open_exams(args.paths, fs=args.fs, units=args.units)
    try:
        if len(exams) == 0:
            problems = "; ".join(str(e) for e in exams.errors[:3])
            raise ReportError(
                "no ECG exam found in " + ", ".join(args.paths) + (f" ({problems})" if problems else "")
            )
        model = load_model(
            Path(args.model) if args.model else None, prefer_cuda=not args.cpu, threads=args.threads
        )
        if args.all:
            return _set_report(args, model, exams, labels)
        if args.split:
            return _split_reports(args, model, exams, labels)
        i = _pick(exams, args.exam)
        exam = exams[i]
        shap = True if args.shap is None else bool(args.shap)
        out, prediction = _exam_report(args, model, exam, Path(args.out), labels, shap)
        found = ", ".join(prediction.positive()) or "none"
        _say(args, f"{out}: exam {exam.exam_id}, findings: {found}")
        if prediction.unreliable:
            _say(args, f"ecgviewer report: {exam.source}: exam {exam.exam_id}: {prediction.quality_note}")
        return 0
    finally:
        exams.close()
