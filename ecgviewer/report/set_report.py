"""The set report: a summary (counts per finding, statistics against the reference labels),
the facts of the set and one table row per exam; optionally every exam's page.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgviewer.classes import CLASS_NAMES, CLASSES
from ecgviewer.errors import Cancelled, ReportError
from ecgviewer.exam import Exam, ExamHeader
from ecgviewer.labels import align_to_classes, reference_of
from ecgviewer.metrics import binary_scores, cohen_kappa
from ecgviewer.model.contract import ModelContract
from ecgviewer.report.exam_page import draw_exam_page
from ecgviewer.report.page import (
    Footer,
    check_prediction,
    check_rhythm_lead,
    contract_for,
    header_lines,
    local_now,
)
from ecgviewer.report.paper import exam_page_geometry
from ecgviewer.report.style import (
    BOTTOM_MM,
    FOOTER_MM,
    MARGIN_MM,
    MUTED,
    POSITIVE,
    RULE,
    TEXT,
    TOP_MM,
    format_probability,
    page_size,
    paper_key,
)
from ecgviewer.report.writer import Canvas, open_pdf

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from ecgviewer.labels import LabelSet
    from ecgviewer.model.runtime import EcgModel, Prediction

# --------------------------------------------------------------------------- public: set


def _scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Precision, recall, specificity, F1 and counts (reference -1 = unknown, left out)."""
    scores = dict(binary_scores(np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)))
    scores["kappa"] = float(cohen_kappa(np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)))
    return scores


def _fmt_score(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "—"
    return "undef." if not np.isfinite(f) else f"{f:.3f}"


@dataclass
class _SetRow:
    number: int
    exam_id: str
    source: str
    age: str
    sex: str
    fs: str
    duration: str
    probs: np.ndarray
    decisions: np.ndarray
    reference: np.ndarray | None


def _draw_set_summary(
    c: Canvas,
    paper: str,
    items: Sequence[Any],
    predictions: Sequence[Any],
    labels: Sequence[LabelSet],
    errors: Sequence[Any],
    source_text: str,
    title: str | None,
    contract: ModelContract,
) -> None:
    page_w = page_size(paper)[0]
    n = len(items)
    right = page_w - MARGIN_MM
    x0 = MARGIN_MM
    y = TOP_MM + 5.0
    c.text(x0, y, title or f"ECG set report — {n} exam{'s' if n != 1 else ''}", size=13.0, bold=True)
    y += 5.5
    c.text(x0, y, f"Source: {source_text}", size=7.5, max_w=right - x0, elide="middle")
    y += 3.6
    prov = contract.provenance or "provenance not stated"
    c.text(x0, y, f"Model: {contract.name} {contract.version} — {prov}", size=7.5, max_w=right - x0)
    y += 3.6
    if errors:
        msgs = "; ".join(str(e) for e in list(errors)[:3]) + (" …" if len(errors) > 3 else "")
        y = c.wrap(
            x0,
            y,
            right - x0,
            f"{len(errors)} file(s) could not be read and are not in this report: {msgs}",
            size=7.0,
            rgb=POSITIVE,
            max_lines=3,
        )
    y += 2.0
    probs = np.array([np.asarray(p.probabilities, dtype=np.float64) for p in predictions]).reshape(n, -1)
    dec = np.array([np.asarray(p.decisions, dtype=bool) for p in predictions]).reshape(n, -1)
    classes = tuple(predictions[0].classes) if predictions else CLASSES
    thr = (
        np.asarray(predictions[0].thresholds, dtype=np.float64)
        if predictions
        else np.full(len(classes), np.nan)
    )
    keys = [(getattr(it, "exam_id", None), int(getattr(it, "index", i) or 0)) for i, it in enumerate(items)]
    # label sources know the paper's six: aligned to the model's classes (a class they lack is -1)
    aligned = [(ls, align_to_classes(ls.align(keys), classes)) for ls in labels]
    aligned = [(ls, a) for ls, a in aligned if (a >= 0).any()]
    ref = reference_of([ls for ls, _ in aligned]) if aligned else None
    ref_vals = next((a for ls, a in aligned if ls is ref), None)
    # -- counts per finding
    facts_y = y
    c.text(x0, y, "Findings of the network", size=9.5, bold=True)
    y += 5.0
    cols = [x0, x0 + 14, x0 + 62, x0 + 80, x0 + 102, x0 + 124]
    heads = ["Class", "Finding", "Threshold", "Positive", "Share", "Mean probability"]
    for cx, h in zip(cols, heads, strict=True):
        c.text(cx, y, h, size=6.8, bold=True, rgb=MUTED)
    ref_x = x0 + 150
    if ref is not None:
        c.text(ref_x, y, f"Positive in {ref.name}", size=6.8, bold=True, rgb=MUTED)
    c.pen(RULE, 0.15)
    c.line(x0, y + 1.2, x0 + 190, y + 1.2)
    for k, cl in enumerate(classes):
        y += 4.2
        npos = int(dec[:, k].sum()) if n else 0
        c.text(cols[0], y, cl, size=7.5, bold=True, rgb=POSITIVE if npos else TEXT)
        c.text(cols[1], y, CLASS_NAMES.get(cl, cl), size=7.2, max_w=46)
        c.text(cols[2], y, format_probability(thr[k]), size=7.2, rgb=MUTED)
        c.text(cols[3], y, f"{npos}", size=7.5, bold=bool(npos))
        c.text(cols[4], y, f"{100 * npos / n:.1f} %" if n else "—", size=7.2)
        c.text(cols[5], y, format_probability(float(np.nanmean(probs[:, k]))) if n else "—", size=7.2)
        if ref is not None and ref_vals is not None:
            known = ref_vals[:, k] >= 0
            c.text(ref_x, y, f"{int((ref_vals[:, k] == 1).sum())} of {int(known.sum())} labelled", size=7.2)
    y += 2.0
    _draw_set_facts(c, x0 + 205, facts_y, right, items, errors, aligned)
    anyp = int(dec.any(axis=1).sum()) if n else 0
    c.text(x0, y + 3.0, f"Exams with at least one finding: {anyp} of {n}; with none: {n - anyp}.", size=7.2)
    y += 8.5
    # -- statistics against the reference
    if ref is not None and ref_vals is not None:
        c.text(x0, y, f"Network vs {ref.name}", size=9.5, bold=True)
        c.text(
            x0 + 62,
            y,
            f"(exams with a {ref.name} label for the class; source "
            f"{ref.source.name if ref.source is not None else 'exam headers'})",
            size=7.0,
            rgb=MUTED,
        )
        y += 5.0
        heads = ["Class", "n", "TP", "FP", "FN", "TN", "Precision", "Recall", "Specificity", "F1", "κ"]
        xs = [x0, x0 + 14, x0 + 25, x0 + 35, x0 + 45, x0 + 55, x0 + 68, x0 + 86, x0 + 102, x0 + 121, x0 + 136]
        for cx, h in zip(xs, heads, strict=True):
            c.text(cx, y, h, size=6.8, bold=True, rgb=MUTED)
        others = [(ls, a) for ls, a in aligned if ls is not ref]
        ox = x0 + 156
        if others:
            c.text(
                ox, y - 4.0, f"F1 of the other label sources vs {ref.name}", size=6.8, bold=True, rgb=MUTED
            )
        ow = 20.0
        max_others = int((right - ox) // ow)
        for j, (ls, _) in enumerate(others[:max_others]):
            parts = header_lines(c, ls.name, ow - 1.0, 6.2)
            for q, part in enumerate(parts):
                c.text(ox + j * ow, y - 2.7 * (len(parts) - 1 - q), part, size=6.2, bold=True, rgb=MUTED)
        c.pen(RULE, 0.15)
        c.line(x0, y + 1.2, right, y + 1.2)
        for k, cl in enumerate(classes):
            y += 4.2
            known = ref_vals[:, k] >= 0
            s = _scores(ref_vals[known, k] == 1, dec[known, k]) if known.any() else {}
            counts = [str(int(s[q])) if q in s else "—" for q in ("tp", "fp", "fn", "tn")]
            cells = [
                cl,
                str(int(known.sum())),
                *counts,
                *[_fmt_score(s.get(q)) for q in ("precision", "recall", "specificity", "f1", "kappa")],
            ]
            for cx, text in zip(xs, cells, strict=True):
                c.text(cx, y, text, size=7.2, bold=cx == x0)
            for j, (_ls, a) in enumerate(others[:max_others]):
                both = known & (a[:, k] >= 0)
                so = _scores(ref_vals[both, k] == 1, a[both, k] == 1) if both.any() else {}
                c.text(ox + j * ow, y, _fmt_score(so.get("f1")), size=7.2)
        y += 3.5
        y = c.wrap(
            x0,
            y + 1.0,
            right - x0,
            "“undef.”: the statistic has a zero denominator (e.g. no positive exam for the class). "
            "Small sets give wide uncertainty: read these figures with their counts.",
            size=6.3,
            rgb=MUTED,
        )
    elif labels:
        c.text(x0, y, "The attached labels match none of these exams: no statistics.", size=7.2, rgb=MUTED)
    else:
        c.text(x0, y, "No labels attached: no statistics against a reference.", size=7.2, rgb=MUTED)


def _range_text(values: Sequence[float], unit: str, fmt: str = "g") -> str:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return "not recorded"
    lo, med, hi = np.min(v), np.median(v), np.max(v)
    if lo == hi:
        return f"{lo:{fmt}} {unit}".strip()
    return f"{lo:{fmt}}–{hi:{fmt}} {unit} (median {med:{fmt}})".strip()


def _draw_set_facts(
    c: Canvas,
    x: float,
    y: float,
    right: float,
    items: Sequence[Any],
    errors: Sequence[Any],
    aligned: Sequence[tuple[Any, np.ndarray]],
) -> None:
    """The set at a glance: files, formats, rates, durations, age, sex, label sources."""
    c.text(x, y, "The set", size=9.5, bold=True)
    n = len(items)
    files = {str(getattr(it, "source", "")) for it in items}
    formats = Counter(str(getattr(it, "format", "") or "?") for it in items)
    rates = Counter(float(getattr(it, "fs", 0.0) or 0.0) for it in items)
    sexes = Counter(str(getattr(it, "sex", None) or "unknown") for it in items)
    ages = [getattr(it, "age", None) for it in items]
    n_age = sum(a is not None and np.isfinite(a) for a in ages)
    rows = [
        (
            "Exams",
            f"{n} in {len(files)} file{'s' if len(files) != 1 else ''}"
            + (f"; {len(errors)} unreadable" if errors else ""),
        ),
        ("Formats", ", ".join(f"{k} {v}" for k, v in formats.most_common())),
        ("Rates", ", ".join(f"{k:g} Hz ({v})" for k, v in sorted(rates.items()))),
        ("Durations", _range_text([getattr(it, "duration_s", None) for it in items], "s", ".1f")),
        ("Age", _range_text(ages, "y") + (f"; {n - n_age} unknown" if n_age and n_age < n else "")),
        ("Sex", ", ".join(f"{ {'M': 'male', 'F': 'female'}.get(k, k) } {v}" for k, v in sexes.most_common())),
    ]
    for ls, a in aligned:
        rows.append(("Labels", f"{ls.name}: {int((a >= 0).any(axis=1).sum())} of {n} exams"))
    if not aligned:
        rows.append(("Labels", "none attached"))
    y += 5.0
    for key, value in rows:
        c.text(x, y, key, size=7.0, bold=True, rgb=MUTED)
        c.text(x + 17, y, value, size=7.0, max_w=right - x - 17)
        y += 3.6


_TABLE_COLS = (
    ("#", 8.0),
    ("Exam id", 34.0),
    ("File", 30.0),
    ("Age", 9.0),
    ("Sex", 7.0),
    ("Rate", 12.0),
    ("Dur.", 12.0),
)


def _set_rows(
    items: Sequence[Any], predictions: Sequence[Any], labels: Sequence[LabelSet]
) -> tuple[list[_SetRow], str | None]:
    classes = tuple(predictions[0].classes) if predictions else CLASSES
    keys = [(getattr(it, "exam_id", None), int(getattr(it, "index", i) or 0)) for i, it in enumerate(items)]
    # label sources know the paper's six: aligned to the model's classes (a class they lack is -1)
    aligned = [(ls, align_to_classes(ls.align(keys), classes)) for ls in labels]
    aligned = [(ls, a) for ls, a in aligned if (a >= 0).any()]
    ref = reference_of([ls for ls, _ in aligned]) if aligned else None
    ref_vals = next((a for ls, a in aligned if ls is ref), None)
    rows = []
    for i, (it, p) in enumerate(zip(items, predictions, strict=True)):
        src = getattr(it, "source", None)
        age = getattr(it, "age", None)
        fs = float(getattr(it, "fs", 0.0) or 0.0)
        dur = getattr(it, "duration_s", None)
        rows.append(
            _SetRow(
                number=i + 1,
                exam_id=str(getattr(it, "exam_id", "") or ""),
                source=Path(src).name if src is not None else "",
                age=f"{age:g}" if age is not None and np.isfinite(age) else "",
                sex=str(getattr(it, "sex", "") or ""),
                fs=f"{fs:g}" if fs else "",
                duration=f"{dur:.1f} s" if dur else "",
                probs=np.asarray(p.probabilities, dtype=np.float64),
                decisions=np.asarray(p.decisions, dtype=bool),
                reference=None if ref_vals is None else ref_vals[i],
            )
        )
    return rows, (ref.name if ref is not None else None)


def _draw_set_table(
    c: Canvas,
    paper: str,
    rows: Sequence[_SetRow],
    start: int,
    classes: Sequence[str],
    ref_name: str | None,
    first_y: float,
) -> int:
    """Draw table rows from ``start`` until the page is full; returns the next row index."""
    page_w, page_h = page_size(paper)
    right = page_w - MARGIN_MM
    x = MARGIN_MM
    y = first_y
    xs = []
    for _name, w in _TABLE_COLS:
        xs.append(x)
        x += w
    prob_x = x
    prob_w = 14.0
    find_x = prob_x + prob_w * len(classes) + 2.0
    ref_x = find_x + (right - find_x) / 2 if ref_name else right
    for (name, _w), cx in zip(_TABLE_COLS, xs, strict=True):
        c.text(cx, y, name, size=6.8, bold=True, rgb=MUTED)
    for k, cl in enumerate(classes):
        c.text(prob_x + prob_w * (k + 1) - 1.0, y, cl, size=6.8, bold=True, rgb=MUTED, align="right")
    c.text(find_x, y, "Network findings", size=6.8, bold=True, rgb=MUTED)
    if ref_name:
        c.text(ref_x, y, ref_name, size=6.8, bold=True, rgb=MUTED, max_w=right - ref_x)
    c.pen(RULE, 0.2)
    c.line(MARGIN_MM, y + 1.3, right, y + 1.3)
    row_h = 4.3
    bottom = page_h - FOOTER_MM - BOTTOM_MM - 1.0
    i = start
    while i < len(rows) and y + row_h <= bottom:
        r = rows[i]
        y += row_h
        if (i - start) % 2 == 1:
            c.fill(MARGIN_MM, y - 3.1, right - MARGIN_MM, row_h, (246, 246, 246))
        cells = [str(r.number), r.exam_id, r.source, r.age, r.sex, f"{r.fs} Hz" if r.fs else "", r.duration]
        for (_name, w), cx, text in zip(_TABLE_COLS, xs, cells, strict=True):
            c.text(cx, y, text, size=7.0, max_w=w - 1.2, elide="middle" if w > 20 else "right")
        for k in range(len(classes)):
            pos = bool(r.decisions[k])
            cx = prob_x + prob_w * k
            if pos:
                c.fill(cx + 0.8, y - 3.0, prob_w - 1.0, 3.9, (250, 214, 214))
            c.text(
                cx + prob_w - 1.0,
                y,
                format_probability(r.probs[k]),
                size=7.0,
                bold=pos,
                rgb=POSITIVE if pos else TEXT,
                align="right",
            )
        found = [cl for cl, d in zip(classes, r.decisions, strict=True) if d]
        c.text(
            find_x,
            y,
            ", ".join(found) if found else "—",
            size=7.0,
            bold=bool(found),
            rgb=POSITIVE if found else MUTED,
            max_w=ref_x - find_x - 1.5,
        )
        if ref_name:
            if r.reference is None or not (r.reference >= 0).any():
                text, rgb = "no label", MUTED
            else:
                ref_pos = [cl for cl, v in zip(classes, r.reference, strict=True) if v == 1]
                agree = all(
                    bool(v == 1) == bool(d) for v, d in zip(r.reference, r.decisions, strict=True) if v >= 0
                )
                text = (", ".join(ref_pos) if ref_pos else "none") + ("" if agree else "  ≠")
                rgb = TEXT if agree else (170, 90, 0)
            c.text(ref_x, y, text, size=7.0, rgb=rgb, max_w=right - ref_x)
        i += 1
    return i


def write_set_report(
    out: str | Path,
    exams: Sequence[Exam | ExamHeader | Any],
    predictions: Sequence[Prediction],
    *,
    labels: Sequence[LabelSet] = (),
    paper: str = "A4",
    model: EcgModel | ModelContract | None = None,
    exam_pages: bool = False,
    gain_mm_mv: float = 10,
    speed_mm_s: float = 25,
    rhythm_lead: str = "II",
    errors: Sequence[Any] = (),
    source: str | Path | Sequence[str | Path] | None = None,
    title: str | None = None,
    when: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Path:
    """Write the PDF report of a set of exams: a summary page and one table row per exam.

    Args:
        out: destination ``.pdf`` (replaced atomically).
        exams: the exams in order; :class:`~ecgviewer.exam.ExamHeader` objects are enough for the
            table (id, file, age, sex, rate, duration); ``exam_pages`` needs full :class:`Exam` objects.
        predictions: one Prediction per exam, same order.
        labels: label sources; the reference (the gold standard, else the first that matches)
            gives the set statistics, the others their F1 against it.
        paper: "A4" or "Letter" (landscape).
        model: model or contract for the footer (default: the bundled model's when it made them).
        exam_pages: also add the 12-lead page of every exam (as in the exam report).
        errors: files that could not be read (listed on the summary page).
        source: the opened path(s), shown on the summary page.
        progress: called with (pages done, pages total); cancel: return True to stop
            (raises :class:`~ecgviewer.errors.Cancelled`, nothing is written).

    Returns:
        ``out`` as a Path.
    """
    out = Path(out)
    if len(exams) != len(predictions):
        raise ReportError(f"{out}: {len(exams)} exams but {len(predictions)} predictions")
    if not len(exams):
        raise ReportError(f"{out}: no exams to report (the set is empty or none could be read)")
    for p in predictions:
        check_prediction(p, str(out))
    rhythm = check_rhythm_lead(rhythm_lead)
    if exam_pages and not all(isinstance(e, Exam) for e in exams):
        raise ReportError(
            f"{out}: one page per exam needs the exams' signals (Exam objects), not headers only"
        )
    key = paper_key(paper)
    page_w, page_h = page_size(key)
    contract = contract_for(model, predictions[0])
    footer = Footer(contract, when or local_now(), getattr(predictions[0], "provider", ""))
    classes = tuple(predictions[0].classes)
    rows, ref_name = _set_rows(exams, predictions, labels)
    if source is None:
        srcs = sorted(
            {
                str(Path(e.source).parent if Path(e.source).is_file() and len(exams) > 1 else e.source)
                for e in exams
                if getattr(e, "source", None) is not None
            }
        )
        more = f" and {len(srcs) - 3} more" if len(srcs) > 3 else ""
        source_text = (", ".join(srcs[:3]) + more) or "in memory"
    elif isinstance(source, (str, Path)):
        source_text = str(source)
    else:
        source_text = ", ".join(str(s) for s in source)
    # paginate the table (dry run to count pages)
    first_y_cont = TOP_MM + 8.0
    row_h = 4.3
    bottom = page_h - FOOTER_MM - BOTTOM_MM - 1.0
    per_page = int((bottom - first_y_cont) // row_h)
    table_pages = max(1, math.ceil(len(rows) / per_page))
    g = exam_page_geometry(key, speed_mm_s, gain_mm_mv) if exam_pages else None
    pages = 1 + table_pages + (len(exams) if exam_pages else 0)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, pages)
        if cancel is not None and cancel():
            raise Cancelled("report cancelled; no file written")

    with open_pdf(out, key, title or f"ECG set report ({len(exams)} exams)") as c:
        _draw_set_summary(c, key, exams, predictions, labels, errors, source_text, title, contract)
        footer.draw(c, page_w, page_h, 1, pages)
        tick()
        i = 0
        page = 1
        while i < len(rows):
            c.new_page()
            page += 1
            c.text(
                MARGIN_MM,
                TOP_MM + 3.0,
                f"Exams {i + 1}–{min(len(rows), i + per_page)} of {len(rows)}",
                size=9.5,
                bold=True,
            )
            c.text(
                page_w - MARGIN_MM,
                TOP_MM + 3.0,
                "Probabilities; shaded bold = above the class threshold",
                size=6.8,
                rgb=MUTED,
                align="right",
            )
            i = _draw_set_table(c, key, rows, i, classes, ref_name, first_y_cont)
            footer.draw(c, page_w, page_h, page, pages)
            tick()
        if exam_pages and g is not None:
            for exam, p in zip(exams, predictions, strict=True):
                c.new_page()
                page += 1
                draw_exam_page(c, exam, p, labels, None, g, rhythm, None)  # type: ignore[arg-type]
                footer.draw(c, page_w, page_h, page, pages)
                tick()
    return out
