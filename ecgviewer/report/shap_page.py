"""The SHAP page of one class: the network input with a diverging heatmap (red pushes the
probability up, blue down) and the lead-importance bars.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgviewer.classes import CLASS_NAMES, CLASSES
from ecgviewer.errors import ReportError
from ecgviewer.leads import LEADS
from ecgviewer.report.style import (
    BOTTOM_MM,
    FOOTER_MM,
    MARGIN_MM,
    MUTED,
    POSITIVE,
    TEXT,
    TOP_MM,
    TRACE,
    format_probability,
    page_size,
    shap_color,
)
from ecgviewer.report.writer import Canvas

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    pass

# --------------------------------------------------------------------------- SHAP pages


def choose_shap_classes(
    prediction: Any, saliency: Any, chosen: Sequence[str] | None
) -> list[tuple[int, str]]:
    classes = list(getattr(saliency, "classes", None) or getattr(prediction, "classes", CLASSES))
    if chosen:
        out = []
        for name in chosen:
            if name not in classes:
                raise ReportError(
                    f"unknown class {name!r} for the SHAP page: choose from " + ", ".join(classes)
                )
            out.append((classes.index(name), ""))
        return out
    dec = np.asarray(prediction.decisions, dtype=bool)
    positive = [(i, "") for i in range(len(classes)) if dec[i]]
    if positive:
        return positive
    top = int(np.nanargmax(np.asarray(prediction.probabilities, dtype=np.float64)))
    return [(top, "no finding above its threshold: the class with the highest probability is shown")]


def draw_shap_page(c: Canvas, paper: str, prediction: Any, saliency: Any, k: int, why: str) -> None:
    page_w, page_h = page_size(paper)
    classes = tuple(getattr(saliency, "classes", None) or prediction.classes)
    cls = classes[k]
    probs = np.asarray(prediction.probabilities, dtype=np.float64)
    thr = np.asarray(prediction.thresholds, dtype=np.float64)
    pos = bool(np.asarray(prediction.decisions)[k])
    values = np.asarray(saliency.values, dtype=np.float64)[k]  # (12, S)
    edges = np.asarray(saliency.segment_edges, dtype=np.int64)
    x_in = np.asarray(prediction.input, dtype=np.float64)  # (4096, 12) in mV
    n = x_in.shape[0]
    fs = float(getattr(prediction.report, "output_fs", 400.0)) if prediction.report is not None else 400.0
    y = TOP_MM + 4.5
    c.text(MARGIN_MM, y, f"SHAP saliency — {cls} ({CLASS_NAMES.get(cls, cls)})", size=12.0, bold=True)
    verdict = f"probability {format_probability(probs[k])}, threshold {format_probability(thr[k])}: " + (
        "POSITIVE" if pos else "negative"
    )
    c.text(page_w - MARGIN_MM, y, verdict, size=9.0, bold=True, rgb=POSITIVE if pos else TEXT, align="right")
    y += 4.6
    base = getattr(saliency, "base_values", None)
    total = float(np.nansum(values))
    method = getattr(saliency, "method", "")
    seg_ms = 1000.0 * n / values.shape[1] / fs
    expl = (
        f"SHAP attribution{f' ({method} explainer)' if method else ''} of the probability of {cls} to "
        f"{values.shape[1]} time segments (≈{seg_ms:.0f} ms) × 12 leads of the network's input "
        f"({n} samples at {fs:g} Hz). Red segments raise the probability, blue ones lower it, "
        "white ones do not matter."
    )
    if base is not None:
        expl += (
            f" Base value {float(np.asarray(base)[k]):.3f} + sum of attributions {total:+.3f}"
            f" ≈ {float(np.asarray(base)[k]) + total:.3f}."
        )
    nev = getattr(saliency, "n_evaluations", None)
    if nev:
        expl += f" {int(nev)} model evaluations."
    if why:
        expl += f" Shown: {why}."
    y = c.wrap(MARGIN_MM, y, page_w - 2 * MARGIN_MM, expl, size=7.0, rgb=MUTED, max_lines=3)
    # geometry of the panel
    top = y + 1.5
    bars_w = 46.0
    label_w = 9.0
    px0 = MARGIN_MM + label_w
    pw = page_w - 2 * MARGIN_MM - label_w - bars_w - 6.0
    legend_h = 16.0
    ph = page_h - top - FOOTER_MM - BOTTOM_MM - legend_h
    row_h = ph / 12

    def x_of(j: Any) -> Any:  # input sample → mm
        return px0 + pw * j / n

    vmax = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.0
    report = prediction.report
    sl = report.signal_slice if report is not None else slice(0, n)
    # zeros in every lead at the ends of the input: padding (added here, or already in the file)
    active = np.flatnonzero(np.any(x_in != 0, axis=1))
    min_run = int(0.1 * fs)
    if active.size:
        lo = int(active[0]) if active[0] >= min_run else 0
        hi = int(active[-1]) + 1 if n - 1 - active[-1] >= min_run else n
        sl = slice(max(sl.start, lo), min(sl.stop, hi))
    for lead in range(12):
        ry = top + lead * row_h
        for s in range(values.shape[1]):
            a, b = int(edges[s]), int(edges[s + 1])
            c.fill(x_of(a), ry, x_of(b) - x_of(a) + 0.02, row_h, shap_color(values[lead, s], vmax))
        # padding hatch
        if sl.start > 0:
            c.fill(x_of(0), ry, x_of(sl.start) - x_of(0), row_h, (225, 225, 225))
        if sl.stop < n:
            c.fill(x_of(sl.stop), ry, x_of(n) - x_of(sl.stop), row_h, (225, 225, 225))
        c.pen((200, 200, 200), 0.1)
        c.line(px0, ry, px0 + pw, ry)
        c.text(MARGIN_MM, ry + row_h / 2 + 1.2, LEADS[lead], size=8.0, bold=True)
        # trace in mV; gain fits the row
        mv = x_in[:, lead]
        mv = np.where((np.arange(n) >= sl.start) & (np.arange(n) < sl.stop), mv, np.nan)
        gain = min(5.0, row_h * 0.42)
        with c.clip(px0, ry, pw, row_h):
            c.pen(TRACE, 0.16)
            c.polyline(x_of(np.arange(n)), ry + row_h * 0.55 - mv * gain)
    c.pen((120, 120, 120), 0.15)
    c.rect(px0, top, pw, ph)
    # time axis (seconds of the network input, original time)
    offset = report.offset_s if report is not None else 0.0
    ty = top + ph
    c.pen(MUTED, 0.15)
    for sec in range(math.ceil(offset), math.floor(offset + n / fs) + 1):
        j = (sec - offset) * fs
        if 0 <= j <= n:
            c.line(x_of(j), ty, x_of(j), ty + 1.2)
            c.text(x_of(j), ty + 4.0, f"{sec} s", size=6.3, rgb=MUTED, align="center")
    note = f"Traces at {min(5.0, row_h * 0.42):.1f} mm/mV; time in seconds of the recording."
    if sl.start > 0 or sl.stop < n:
        note += " Grey: zero padding (no signal), as the network saw it."
    c.text(px0 + pw, ty + 4.0 + 3.0, note, size=6.3, rgb=MUTED, align="right")
    # lead importance bars, aligned with the rows
    imp = (
        saliency.lead_importance()[k] if hasattr(saliency, "lead_importance") else np.abs(values).sum(axis=1)
    )
    imp = np.asarray(imp, dtype=np.float64)
    net = values.sum(axis=1)
    bx = px0 + pw + 6.0
    bw = bars_w - 14.0
    c.text(bx, top - 1.2, "Lead importance Σ|SHAP|", size=6.8, bold=True, rgb=MUTED)
    imax = float(np.nanmax(imp)) if np.isfinite(imp).any() and np.nanmax(imp) > 0 else 1.0
    order = np.argsort(-imp)
    rank = {int(lead): r for r, lead in enumerate(order)}
    for lead in range(12):
        ry = top + lead * row_h
        h = min(row_h * 0.5, 4.0)
        w = bw * float(imp[lead]) / imax if np.isfinite(imp[lead]) else 0.0
        col = shap_color(np.sign(net[lead]) * 0.75 * vmax, vmax) if vmax else (150, 150, 150)
        c.fill(bx, ry + (row_h - h) / 2, w, h, col)
        c.pen((90, 90, 90), 0.1)
        c.rect(bx, ry + (row_h - h) / 2, max(w, 0.05), h)
        c.text(
            bx + w + 1.0,
            ry + row_h / 2 + 1.1,
            f"{imp[lead]:.2g}",
            size=6.3,
            bold=rank[lead] < 3,
            rgb=TEXT if rank[lead] < 3 else MUTED,
        )
    c.text(bx, ty + 4.0, "Bar colour: net effect of the lead", size=6.0, rgb=MUTED)
    c.text(bx, ty + 6.6, "(red raises, blue lowers).", size=6.0, rgb=MUTED)
    # colour legend
    ly = ty + 9.5
    lw = 70.0
    lx = px0
    steps = 60
    for i in range(steps):
        v = (-1 + 2 * (i + 0.5) / steps) * vmax
        c.fill(lx + lw * i / steps, ly, lw / steps + 0.02, 3.0, shap_color(v, vmax))
    c.pen((90, 90, 90), 0.1)
    c.rect(lx, ly, lw, 3.0)
    c.text(lx, ly + 5.8, f"{-vmax:+.2g}", size=6.3, rgb=MUTED)
    c.text(lx + lw / 2, ly + 5.8, "0", size=6.3, rgb=MUTED, align="center")
    c.text(lx + lw, ly + 5.8, f"{vmax:+.2g}", size=6.3, rgb=MUTED, align="right")
    c.text(
        lx + lw + 3.0,
        ly + 2.6,
        f"SHAP value per segment (probability units): lowers ← 0 → raises the probability of {cls}",
        size=6.5,
        rgb=MUTED,
    )
