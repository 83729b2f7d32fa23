"""The exam report: page 1 (header, findings table, labels, 12-lead printout) and
:func:`write_exam_report`, which adds one SHAP page per chosen class.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgviewer.classes import CLASS_NAMES, CLASSES
from ecgviewer.clinical import clinical_info
from ecgviewer.display_filters import DisplayFilterSettings
from ecgviewer.errors import ReportError
from ecgviewer.exam import Exam
from ecgviewer.labels import align_to_classes
from ecgviewer.model.contract import ModelContract
from ecgviewer.reads import overread_text
from ecgviewer.report.page import (
    Footer,
    age_sex,
    check_prediction,
    check_rhythm_lead,
    contract_for,
    header_lines,
    is_paper_class,
    label_cell,
    labels_for,
    local_now,
    none_of_text,
)
from ecgviewer.report.paper import ExamPageGeometry, display_window, draw_printout, exam_page_geometry
from ecgviewer.report.shap_page import choose_shap_classes, draw_shap_page
from ecgviewer.report.style import (
    AGREE,
    DISAGREE,
    HEADER_MM,
    MARGIN_MM,
    MUTED,
    POSITIVE,
    RULE,
    TEXT,
    format_probability,
)
from ecgviewer.report.writer import Canvas, open_pdf

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from ecgviewer.labels import LabelSet
    from ecgviewer.measure import Measurements
    from ecgviewer.model.runtime import EcgModel, Prediction

DEVICE_HEADER_MM = 11.0
"""Extra header height for a cart's file: its acquisition and own reading (the printout's rows shrink)."""


def patient_text(exam: Exam, identifiers: bool) -> tuple[str, str]:
    """The report's patient line and what it says of the identifiers.

    Returns ``("49 y, male", "not included")`` or, with ``identifiers``,
    ``("Clark, ID SBJ-123, born 1953-05-08 · 49 y, male", "included")``.
    """
    demo = age_sex(exam.age, exam.sex)
    if not identifiers:
        return demo, "not included"
    info = clinical_info(exam)
    p = info.patient if info is not None else None
    ids = []
    if p is not None:
        ids = [p.name] if p.name else []
        ids += [f"ID {p.patient_id}"] if p.patient_id else []
        ids += [f"born {p.birth_date.isoformat()}"] if p.birth_date is not None else []
    if not ids:
        return demo, "included (the file names none)"
    return f"{', '.join(ids)} · {demo}", "included"


HEADER_LEFT_MM = 104.0
"""Width of the header's left column (exam, patient, acquisition); the findings table is right of it."""


def _draw_exam_header(
    c: Canvas,
    g: ExamPageGeometry,
    exam: Exam,
    prediction: Any,
    title: str | None,
    identifiers: bool,
    measurements: Measurements | None,
    display_filters: DisplayFilterSettings | None,
) -> None:
    """The header's left column: heading, measurements, display filter, exam and patient facts."""
    x0 = MARGIN_MM
    y = g.header_y + 4.2
    left_w = HEADER_LEFT_MM
    heading = title or f"12-lead ECG — {exam.exam_id or (exam.source.name if exam.source else 'exam')}"
    c.text(x0, y, heading, size=12.0, bold=True, max_w=left_w)
    y += 5.0
    if measurements is not None:  # the cart's measurements line, then the filter it was drawn with
        from ecgviewer.measure import measurement_line

        line, size = measurement_line(measurements), 7.6
        while size > 6.0:  # the whole line, in the largest size that fits the header's width
            c.font(size, bold=True)
            if c.text_width(line) <= left_w:
                break
            size -= 0.2
        c.text(x0, y, line, size=size, bold=True, max_w=left_w)
        y += 3.6
    if display_filters is not None and not display_filters.is_off:
        c.text(x0, y, f"Display filter: {display_filters.describe()}", size=6.8, rgb=MUTED, max_w=left_w)
        y += 3.4

    def field(name: str, value: str, *, elide: str = "right") -> None:
        nonlocal y
        c.text(x0, y, name, size=7.0, bold=True, rgb=MUTED)
        c.text(x0 + 22, y, value, size=7.0, max_w=left_w - 22, elide=elide)
        y += 3.25

    where = f"   (exam {exam.index + 1} of its file)" if exam.index else ""
    field("Exam id", f"{exam.exam_id or '—'}{where}")
    field("Source", str(exam.source) if exam.source is not None else "in memory", elide="middle")
    patient, included = patient_text(exam, identifiers)
    info = clinical_info(exam)
    if info is not None:
        field("Patient", patient)
        field("Identifiers", f"patient identifiers: {included}")
    else:
        field("Patient", f"{patient} · patient identifiers: {included}")
    acq = f"{exam.fs:g} Hz, {exam.duration_s:.2f} s, {len(exam.leads)} leads"
    if exam.format:
        acq += f" ({exam.format})"
    if info is None and exam.recorded is not None:
        acq += f", recorded {exam.recorded:%Y-%m-%d %H:%M}"
    field("Acquisition", acq)
    if info is not None:  # a cart's file: when (ISO 8601, with its UTC offset if any), where, filters
        field("Acquired", " · ".join(b for b in (info.acquired, info.device) if b) or "not stated")
        if info.site:
            field("Site", info.site)
        if filters := info.filter_text():
            field("Cart filters", filters)
    report = getattr(prediction, "report", None)
    c.text(x0, y, "Network input", size=7.0, bold=True, rgb=MUTED)
    lines = report.describe() if report is not None else ["not available"]
    yy = y
    for line in lines:
        yy = c.wrap(x0 + 22, yy, left_w - 22, line, size=6.3, rgb=TEXT, indent=2.0)
        if yy > g.grid_y - 1.2:
            break


def _draw_findings(
    c: Canvas,
    g: ExamPageGeometry,
    x0: float,
    exam: Exam,
    prediction: Any,
    labels: Sequence[LabelSet],
    saliency: Any | None,
    identifiers: bool = False,
    reads: Sequence[Any] = (),
) -> None:
    right = g.page_w - MARGIN_MM
    y_top = g.header_y + 4.2
    classes = tuple(getattr(prediction, "classes", CLASSES))
    probs = np.asarray(prediction.probabilities, dtype=np.float64)
    thr = np.asarray(prediction.thresholds, dtype=np.float64)
    dec = np.asarray(prediction.decisions, dtype=bool)
    # label sources know the paper's six: aligned to the model's classes by name, a class they
    # lack is not available (-1, "n/a"), never negative
    rows = [(ls, align_to_classes(v, classes)) for ls, v in labels_for(labels, exam.exam_id, exam.index)]
    positives = [cl for cl, d in zip(classes, dec, strict=True) if d]
    summary = (
        ("Findings of the network: " + ", ".join(positives))
        if positives
        else f"Findings of the network: {none_of_text(classes)} above threshold"
    )
    members = tuple(getattr(prediction, "member_names", ()) or ())
    lo = np.asarray(getattr(prediction, "spread_min", np.zeros(0)), dtype=np.float64)
    hi = np.asarray(getattr(prediction, "spread_max", np.zeros(0)), dtype=np.float64)
    spread = bool(members) and len(lo) == len(classes) and len(hi) == len(classes)
    c.text(x0, y_top, summary, size=9.0, bold=True, rgb=POSITIVE if positives else TEXT, max_w=right - x0)
    # columns: fixed part, then one column per label source; the probability bar and then the
    # full names give way when many label sources are attached
    label_w = 11.0
    c.font(7.2)
    name_w = max(c.text_width(CLASS_NAMES.get(cl, cl)) for cl in classes) + 2.0
    c.font(7.5, bold=True)
    class_w = max(12.0, max(c.text_width(cl) for cl in classes) + 2.0)  # a model's own names can be long
    extra = class_w - 12.0
    with_bar = right - x0 - (93.0 + extra + name_w) >= label_w * len(rows)
    # the full names column only when some class has one (a model's own class is its own name)
    has_names = any(CLASS_NAMES.get(cl, cl) != cl for cl in classes)
    with_name = has_names and (with_bar or right - x0 - (66.0 + extra + name_w) >= label_w * len(rows))
    col_x: dict[str, float] = {"class": x0}
    x = x0 + class_w
    if with_name:
        col_x["name"] = x
        x += name_w
    col_x["prob"] = x
    x += 18.0
    if with_bar:
        col_x["bar"] = x
        x += 27.0
    col_x["thr"] = x
    x += 16.0
    col_x["dec"] = x
    x += 18.0
    lx0 = x
    max_label_cols = int(max(0.0, right - lx0 + 0.01) // label_w)
    shown_rows = rows[:max_label_cols]
    y = y_top + 6.0
    c.text(col_x["class"], y, "Class", size=6.8, bold=True, rgb=MUTED)
    if with_name:
        c.text(col_x["name"], y, "Finding", size=6.8, bold=True, rgb=MUTED)
    c.text(col_x["prob"] + 14, y, "Probability", size=6.8, bold=True, rgb=MUTED, align="right")
    c.text(col_x["thr"] + 13, y, "Threshold", size=6.8, bold=True, rgb=MUTED, align="right")
    c.text(col_x["dec"] + 1, y, "Decision", size=6.8, bold=True, rgb=MUTED)
    for j, (ls, _) in enumerate(shown_rows):
        parts = header_lines(c, ls.name, label_w - 0.8, 5.8)
        for k, part in enumerate(parts):
            c.text(
                lx0 + j * label_w + label_w / 2,
                y - 2.5 * (len(parts) - 1 - k),
                part,
                size=5.8,
                bold=True,
                rgb=MUTED,
                align="center",
            )
    c.pen(RULE, 0.15)
    c.line(x0, y + 1.2, right, y + 1.2)
    row_h = 4.25
    for i, cl in enumerate(classes):
        yb = y + 1.2 + row_h * (i + 1) - 1.2
        pos = bool(dec[i])
        rgb = POSITIVE if pos else TEXT
        c.text(col_x["class"], yb, cl, size=7.5, bold=True, rgb=rgb)
        if with_name:
            c.text(col_x["name"], yb, CLASS_NAMES.get(cl, cl), size=7.2, rgb=rgb)
        c.text(
            col_x["prob"] + 14, yb, format_probability(probs[i]), size=7.5, bold=pos, rgb=rgb, align="right"
        )
        if with_bar:  # probability bar with a tick at the threshold
            bx, bw, bh = col_x["bar"] + 1.5, 23.0, 2.2
            c.fill(bx, yb - bh, bw, bh, (236, 236, 236))
            if np.isfinite(probs[i]):
                c.fill(
                    bx,
                    yb - bh,
                    bw * float(np.clip(probs[i], 0, 1)),
                    bh,
                    (196, 60, 60) if pos else (120, 120, 120),
                )
            if spread and np.isfinite(lo[i]) and np.isfinite(hi[i]):  # the members' min–max
                x_lo, x_hi = (bx + bw * float(np.clip(v, 0, 1)) for v in (lo[i], hi[i]))
                ym = yb - bh / 2
                c.pen((38, 50, 56), 0.3)
                c.line(x_lo, ym, x_hi, ym)
                c.line(x_lo, ym - 0.8, x_lo, ym + 0.8)
                c.line(x_hi, ym - 0.8, x_hi, ym + 0.8)
            if np.isfinite(thr[i]):
                tx = bx + bw * float(np.clip(thr[i], 0, 1))
                c.pen(TEXT, 0.25)
                c.line(tx, yb - bh - 0.7, tx, yb + 0.5)
        c.text(col_x["thr"] + 13, yb, format_probability(thr[i]), size=7.5, rgb=MUTED, align="right")
        decision = "POSITIVE" if pos else "negative"
        if getattr(prediction, "decisions_withheld", False):
            decision = "withheld"
        elif getattr(prediction, "unreliable", False):
            decision += "?"
        c.text(col_x["dec"] + 1, yb, decision, size=7.2, bold=pos, rgb=rgb)
        for j, (_ls, vals) in enumerate(shown_rows):
            v = int(vals[i]) if i < len(vals) else -1
            cx = lx0 + j * label_w
            if v in (0, 1):
                c.fill(cx + 0.5, yb - 3.0, label_w - 1.0, 3.9, AGREE if bool(v) == pos else DISAGREE)
            c.text(
                cx + label_w / 2,
                yb,
                "n/a" if v < 0 and not is_paper_class(cl) else label_cell(v if v in (0, 1) else None),
                size=7.0,
                bold=v == 1,
                rgb=POSITIVE if v == 1 else TEXT,
                align="center",
            )
    y_end = y + 1.2 + row_h * len(classes) + 0.6
    c.pen(RULE, 0.15)
    c.line(x0, y_end - 1.0, right, y_end - 1.0)
    y = y_end + 2.4
    y = _draw_device_reading(c, g, x0, right, y, exam, identifiers)
    ensemble_notes: list[str] = []
    if members:  # an ensemble: every member by name, then the spread and agreement per class
        n_pos = np.asarray(getattr(prediction, "n_positive", np.zeros(0)), dtype=np.int64)
        note = str(getattr(prediction, "threshold_note", "") or "")
        ensemble_notes.append(
            f"Ensemble: the mean of {len(members)} members — {members_text(members)}."
            + (f" {note[:1].upper() + note[1:]}." if note else "")
        )
        if spread and len(n_pos) == len(classes):
            ensemble_notes.append(
                "Members' min–max and positive members: "
                + "; ".join(
                    f"{cl} {format_probability(lo[k])}–{format_probability(hi[k])}, "
                    f"{int(n_pos[k])} of {len(members)}"
                    for k, cl in enumerate(classes)
                )
                + "."
            )
    # an ensemble's members first, then the clinicians' over-reads (ecgviewer.reads.Read): who,
    # when, blinded or not
    notes: list[str] = ensemble_notes[:1] + [overread_text(r) for r in reads]
    quality = getattr(prediction, "quality_note", "")
    if quality:  # the signal-quality check (ecgviewer.quality): said on every output
        withheld = getattr(prediction, "decisions_withheld", False)
        notes.insert(0, f"Signal quality: {quality}" + (" — decisions withheld." if withheld else ""))
    if rows:
        agree = []
        for ls, vals in shown_rows:
            known = (vals == 0) | (vals == 1)
            n_ok = int(((vals == 1) == dec)[known].sum())
            # a source labelling none of the model's classes: not available, not "0 of 0"
            agree.append(f"{ls.name} {n_ok}/{int(known.sum())}" if known.any() else f"{ls.name} n/a")
        notes.append(
            "Agreement of the network with the labels (classes): "
            + "; ".join(agree)
            + ". Green: same as the network; amber: different."
        )
        if len(rows) > len(shown_rows):
            notes.append(
                f"{len(rows) - len(shown_rows)} more label source(s) not shown: "
                + ", ".join(ls.name for ls, _ in rows[len(shown_rows) :])
                + "."
            )
        for ls, _ in rows:
            other = []
            try:
                row = ls.row_of(exam.exam_id, exam.index)
                if row is not None and ls.other_findings:
                    other = list(ls.other_findings[row])
            except Exception:
                other = []
            if other:
                notes.append(f"{ls.name}, other findings: " + ", ".join(other) + ".")
    elif labels:
        notes.append("No attached label source has a row for this exam.")
    else:
        notes.append("No labels attached.")
    seconds = getattr(prediction, "seconds", None)
    prov = getattr(prediction, "provider", "")
    decision_rule = "Decision: POSITIVE when probability > threshold."
    if seconds:
        decision_rule += f" Inference {seconds * 1000:.0f} ms on {prov or 'CPU'}."
    if saliency is None:
        decision_rule += " SHAP saliency not computed for this report."
    notes.append(decision_rule)
    notes += ensemble_notes[1:]  # the members' spread, if there is room left
    for note in notes:
        if y > g.grid_y - 1.5:  # no room left above the printout
            break
        y = c.wrap(x0, y, right - x0, note, size=6.3, rgb=MUTED, max_lines=2)


def members_text(names: Sequence[str]) -> str:
    """Member names with their shared leading words said once: "Ribeiro 2020 — seed 1; seed 2; …"."""
    names = [str(n) for n in names]
    prefix = ""
    if len(names) > 1:  # the shared leading characters, then back to a word boundary
        n = min(len(x) for x in names)
        k = next((i for i in range(n) if len({x[i] for x in names}) > 1), n)
        prefix = names[0][:k]
    prefix = prefix[: prefix.rstrip().rfind(" ") + 1] if " " in prefix.rstrip() else ""
    if len(prefix) < 6:
        return "; ".join(names)
    return "; ".join([names[0]] + [n[len(prefix) :] for n in names[1:]])


def _draw_device_reading(
    c: Canvas, g: ExamPageGeometry, x0: float, right: float, y: float, exam: Exam, identifiers: bool
) -> float:
    """The cart's own reading under the network's findings, each line ``device (<name>): …``;
    returns the next baseline (``y`` unchanged when the file has none)."""
    info = clinical_info(exam)
    report = info.device_report if info is not None else None
    if report is None or report.empty:
        return y
    who = "automatic analysis" if report.source == "machine" else ""  # else each line says who
    if identifiers and report.interpreter:
        who = f"{report.source or 'read'} by {report.interpreter}"
    heading = "The cart's own reading" + (f", {who}" if who else "") + " — not the network's:"

    def room() -> int:  # lines left above the printout (the set report's exam pages have less)
        return int((g.grid_y - 1.5 - y) // 2.8)

    if room() < 2:
        return y
    c.text(x0, y, heading, size=6.8, bold=True, rgb=TEXT, max_w=right - x0)
    y += 3.0
    lines = report.lines()  # "device (GE MAC55): ATRIAL FIBRILLATION", ...
    who_prefix = lines[0].split(": ", 1)[0] + ": " if lines else ""
    if lines and all(line.startswith(who_prefix) for line in lines):  # one paragraph, the device named once
        text = who_prefix + " · ".join(line[len(who_prefix) :] for line in lines)
        y = c.wrap(x0, y, right - x0, text, size=6.6, rgb=TEXT, max_lines=min(4, room()), indent=3.0)
    else:
        for line in lines[: min(4, room())]:
            y = c.wrap(x0, y, right - x0, line, size=6.6, rgb=TEXT, max_lines=1)
    if report.measurements and room() >= 1:
        who = f"device ({report.device})" if report.device and report.device != "device" else "device"
        text = f"{who} measurements: " + " · ".join(report.measurement_lines())
        y = c.wrap(x0, y, right - x0, text, size=6.3, rgb=MUTED, max_lines=min(2, room()), indent=3.0)
    return y + 0.8


def draw_exam_page(
    c: Canvas,
    exam: Exam,
    prediction: Any,
    labels: Sequence[LabelSet],
    saliency: Any | None,
    g: ExamPageGeometry,
    rhythm_lead: str,
    title: str | None,
    identifiers: bool = False,
    reads: Sequence[Any] = (),
    measurements: Measurements | None = None,
    display_filters: DisplayFilterSettings | None = None,
) -> None:
    if clinical_info(exam) is not None and g.grid_y < g.header_y + HEADER_MM + DEVICE_HEADER_MM - 1e-6:
        # a cart's file (e.g. a page of the set report): room for its acquisition and own reading
        g = exam_page_geometry(g.paper, g.speed_mm_s, g.gain_mm_mv, extra_header_mm=DEVICE_HEADER_MM)
    _draw_exam_header(c, g, exam, prediction, title, identifiers, measurements, display_filters)
    findings_x = MARGIN_MM + HEADER_LEFT_MM + 4
    _draw_findings(c, g, findings_x, exam, prediction, labels, saliency, identifiers, reads)
    t0 = display_window(exam, prediction, g.window_s)
    draw_printout(c, g, exam, t0, rhythm_lead, display_filters)


def write_exam_report(
    out: str | Path,
    exam: Exam,
    prediction: Prediction,
    *,
    saliency: Any | None = None,
    labels: Sequence[LabelSet] = (),
    paper: str = "A4",
    gain_mm_mv: float = 10,
    speed_mm_s: float = 25,
    rhythm_lead: str = "II",
    model: EcgModel | ModelContract | None = None,
    shap_classes: Sequence[str] | None = None,
    title: str | None = None,
    when: datetime | None = None,
    identifiers: bool = False,
    reads: Sequence[Any] = (),
    display_filters: DisplayFilterSettings | None = None,
    measurements: Measurements | None = None,
) -> Path:
    """Write the PDF report of one exam.

    Args:
        out: destination ``.pdf``; replaced atomically (a failure leaves the old file, or none).
        exam: the exam as read (signal in mV at its own rate).
        prediction: the network's output for it (``model.predict_exam(exam)``); its
            ``input`` (4096, 12) in mV and ``report`` are used for the SHAP page and header.
        saliency: SHAP values (:class:`ecgviewer.explain.Saliency`); adds one page per shown class.
        labels: label sources; each with a row for the exam becomes a column of the findings table.
        paper: "A4" or "Letter" (landscape).
        gain_mm_mv, speed_mm_s: printout scale (10 mm/mV and 25 mm/s by default).
        rhythm_lead: lead of the rhythm strip.
        model: the model (or its contract) for the footer's provenance and notice; by
            default the bundled model's when the prediction names it.
        shap_classes: classes to explain (default: the positive ones, else the most probable).
        title: heading of page 1 (default "12-lead ECG — <exam id>").
        when: the report date (default now).
        identifiers: print the patient's name, id and birth date from a clinical file (off by
            default); the header says either way whether they are included. The cart's own
            statements (``exam.clinical.device_report``) are printed under the findings as
            ``device (<name>): …`` lines.
        reads: clinicians' over-reads of the exam (:class:`ecgviewer.reads.Read`): each is printed
            under the findings table (reader, time, blinded or not, the call and statement).
        display_filters: filters of the printed traces, never of the network input (e.g.
            :data:`~ecgviewer.display_filters.CART_DEFAULT`, 0.05–150 Hz, notch off, as the viewer
            and ``ecgviewer report`` use); None prints the signal as recorded. Named on the page.
        measurements: the exam's :class:`~ecgviewer.measure.Measurements` for the header line
            (HR, PR, QRS, QT/QTc, axes); measured from ``exam`` when None.

    Returns:
        ``out`` as a Path.

    Raises:
        ReportError: bad arguments, or the file could not be written (message names it).
    """
    out = Path(out)
    check_prediction(prediction, str(out))
    rhythm = check_rhythm_lead(rhythm_lead)
    extra = DEVICE_HEADER_MM if clinical_info(exam) is not None else 0.0
    g = exam_page_geometry(paper, speed_mm_s, gain_mm_mv, extra_header_mm=extra)
    if saliency is not None:
        sp = np.asarray(getattr(saliency, "probabilities", prediction.probabilities), dtype=np.float64)
        pp = np.asarray(prediction.probabilities, dtype=np.float64)
        if sp.shape != pp.shape or not np.allclose(sp, pp, atol=2e-3, equal_nan=True):
            raise ReportError(
                f"{out}: the SHAP values were computed for other probabilities "
                f"({', '.join(f'{v:.3f}' for v in sp)}) than the prediction's "
                f"({', '.join(f'{v:.3f}' for v in pp)}): another exam or model; recompute them"
            )
    if measurements is None:
        from ecgviewer.measure import measure

        measurements = measure(exam)
    shap = choose_shap_classes(prediction, saliency, shap_classes) if saliency is not None else []
    footer = Footer(contract_for(model, prediction), when or local_now(), getattr(prediction, "provider", ""))
    pages = 1 + len(shap)
    doc_title = f"ECG report {exam.exam_id}".strip()
    with open_pdf(out, paper, doc_title) as c:
        draw_exam_page(
            c,
            exam,
            prediction,
            labels,
            saliency,
            g,
            rhythm,
            title,
            identifiers=identifiers,
            reads=reads,
            measurements=measurements,
            display_filters=display_filters,
        )
        footer.draw(c, g.page_w, g.page_h, 1, pages)
        for i, (k, why) in enumerate(shap, start=2):
            c.new_page()
            draw_shap_page(c, paper, prediction, saliency, k, why)
            footer.draw(c, g.page_w, g.page_h, i, pages)
    return out
