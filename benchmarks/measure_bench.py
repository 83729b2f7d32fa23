"""Accuracy and speed of ecgviewer.measure against cardiologists (LUDB) and GE MUSE (Chapman).

Run from the repository root (needs ../shared/data and openpyxl, the ``dev`` extra)::

    python benchmarks/measure_bench.py            # all tables
    python benchmarks/measure_bench.py --quick    # LUDB and MUSE only, no cross-check

Prints, per interval, the mean difference (measured − reference), its SD and n against the
IEC 60601-2-25 tolerances, on LUDB records 1–60 (tuning), 61–120 (held out) and all 120, and
on the 14 Chapman exams with MUSE values; then ms per exam; then the findings cross-check on
the CODE exams 1–10 and PTB-XL fold 9 (500 Hz records) with the bundled model.

LUDB reference per record: beats matched across the 12 leads by their annotated QRS peaks
(within 80 ms); per beat the earliest onset and latest offset over the leads that annotated
it; PR = QRS onset − P onset, P = P offset − P onset, QRS = QRS offset − onset, QT = T offset
− QRS onset; the median over beats. HR = 60 / mean RR of the annotated beats.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"

from ecgviewer.classes import CLASSES  # noqa: E402
from ecgviewer.exam import Exam  # noqa: E402
from ecgviewer.leads import LEADS  # noqa: E402
from ecgviewer.measure import cross_check, measure  # noqa: E402

LUDB_LEADS = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")
TOLERANCE = {"pr": (10, 10), "qrs": (6, 10), "qt": (12, 30), "p": (10, 15), "hr": (2, None)}


def ludb_exam(n: int) -> Exam:
    import wfdb

    rec = wfdb.rdrecord(str(DATA / "ludb" / "data" / str(n)))
    return Exam(signal_mv=rec.p_signal.astype(np.float32), fs=rec.fs, leads=LEADS, exam_id=f"ludb-{n}")


def ludb_reference(n: int) -> dict[str, float]:
    """Reference global HR, PR, P, QRS, QT of LUDB record ``n`` (ms, bpm; NaN when absent)."""
    import wfdb

    waves: dict[str, list[tuple[int, int, int]]] = {"p": [], "N": [], "t": []}
    per_lead = []
    for lead in LUDB_LEADS:
        a = wfdb.rdann(str(DATA / "ludb" / "data" / str(n)), lead)
        s, sym = a.sample, a.symbol
        lw: dict[str, list[tuple[int, int, int]]] = {"p": [], "N": [], "t": []}
        for i, c in enumerate(sym):
            if c in lw and 0 < i < len(sym) - 1 and sym[i - 1] == "(" and sym[i + 1] == ")":
                lw[c].append((int(s[i - 1]), int(s[i]), int(s[i + 1])))
        per_lead.append(lw)
        for k in waves:
            waves[k].extend(lw[k])
    # beats: clusters of QRS peaks across leads
    peaks = sorted(waves["N"], key=lambda w: w[1])
    beats: list[list[tuple[int, int, int]]] = []
    for w in peaks:
        if beats and w[1] - np.median([b[1] for b in beats[-1]]) < 40:
            beats[-1].append(w)
        else:
            beats.append([w])
    beats = [b for b in beats if len(b) >= 6]
    fs = 500.0
    out = {"pr": [], "p": [], "qrs": [], "qt": []}
    centres = [int(np.median([w[1] for w in b])) for b in beats]
    for k, b in enumerate(beats):
        on, off = min(w[0] for w in b), max(w[2] for w in b)
        out["qrs"].append(off - on)
        prev_c = centres[k - 1] if k else on - int(0.6 * fs)
        nxt_c = centres[k + 1] if k + 1 < len(beats) else off + int(0.8 * fs)
        ps = [w for w in waves["p"] if prev_c < w[1] < on]
        ts = [w for w in waves["t"] if off < w[1] < nxt_c]
        if len(ps) >= 3:
            p_on, p_off = min(w[0] for w in ps), max(w[2] for w in ps)
            out["pr"].append(on - p_on)
            out["p"].append(p_off - p_on)
        if len(ts) >= 3:
            out["qt"].append(max(w[2] for w in ts) - on)
    ref = {k: float(np.median(v)) * 1000 / fs if v else np.nan for k, v in out.items()}
    rr = np.diff(centres) / fs
    ref["hr"] = 60.0 / float(np.mean(rr)) if rr.size else np.nan
    return ref


def got(m) -> dict[str, float]:
    f = lambda v: np.nan if v is None else float(v)  # noqa: E731
    return {
        "hr": f(m.hr_bpm),
        "pr": f(m.pr_ms),
        "p": f(m.p_ms),
        "qrs": f(m.qrs_ms),
        "qt": f(m.qt_ms),
        "qtc": f(m.qtc_bazett_ms),
        "qrs_axis": f(m.qrs_axis_deg),
        "t_axis": f(m.t_axis_deg),
        "irregular": f(m.rr_irregular),
    }


def table(title: str, pairs: list[tuple[dict, dict]], keys: tuple[str, ...]) -> str:
    lines = [
        f"{title}",
        "| interval | mean diff | SD | n | missed | tolerance (mean/SD) | within |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for k in keys:
        d = np.array([g[k] - r[k] for g, r in pairs if np.isfinite(r.get(k, np.nan)) and np.isfinite(g[k])])
        missed = sum(1 for g, r in pairs if np.isfinite(r.get(k, np.nan)) and not np.isfinite(g[k]))
        if k.endswith("axis"):
            d = (d + 180) % 360 - 180
        tol = TOLERANCE.get(k)
        if d.size == 0:
            lines.append(f"| {k} | – | – | 0 | {missed} | | |")
            continue
        mean, sd = float(d.mean()), float(d.std(ddof=1)) if d.size > 1 else 0.0
        within = ""
        tol_s = ""
        if tol:
            tol_s = f"±{tol[0]} / {tol[1]}" if tol[1] else f"±{tol[0]}"
            ok = abs(mean) <= tol[0] and (tol[1] is None or sd <= tol[1])
            within = "yes" if ok else "no"
        lines.append(f"| {k} | {mean:+.1f} | {sd:.1f} | {d.size} | {missed} | {tol_s} | {within} |")
    return "\n".join(lines)


def ludb_paced() -> set[int]:
    """LUDB records with a pacemaker (``Cardiac pacing`` filled in ludb.csv)."""
    import csv

    with open(DATA / "ludb" / "ludb.csv", newline="", encoding="utf-8") as fh:
        return {int(r["ID"]) for r in csv.DictReader(fh) if r["Cardiac pacing"].strip()}


def run_ludb(records: range) -> list[tuple[dict, dict, str, int]]:
    rows = []
    for n in records:
        m = measure(ludb_exam(n))
        rows.append((got(m), ludb_reference(n), m.note, n))
    return rows


def chapman_pairs(calibrated: bool = True) -> list[tuple[dict, dict, str]]:
    import openpyxl

    from ecgviewer.io import read_exam

    wb = openpyxl.load_workbook(DATA / "csv" / "chapman" / "Diagnostics.xlsx", read_only=True)
    ws = wb.active
    it = ws.iter_rows(values_only=True)
    header = list(next(it))
    rows = [dict(zip(header, r, strict=False)) for r in it]
    by_name = {str(r["FileName"]): r for r in rows}
    exams: list[tuple[Path, dict]] = []
    for p in sorted((DATA / "csv" / "chapman").glob("MUSE_*.csv")):
        exams.append((p, by_name[p.stem]))
    for p in sorted((DATA / "wfdb" / "challenge2021").rglob("JS*.hea")):
        k = int(p.stem[2:])
        if 1 <= k <= len(rows) and (p.with_suffix(".mat").exists() or p.with_suffix(".dat").exists()):
            exams.append((p, rows[k - 1]))
    seen = set()
    out = []
    for p, r in exams:
        if r["FileName"] in seen:
            continue
        seen.add(r["FileName"])
        exam = read_exam(p, fs=500.0, units="mV") if p.suffix == ".csv" else read_exam(p)
        m = measure(exam, calibrated=calibrated)
        ref = {
            "hr": float(r["VentricularRate"]),
            "qrs": float(r["QRSDuration"]),
            "qt": float(r["QTInterval"]),
            "qtc": float(r["QTCorrected"]),
            "qrs_axis": float(r["RAxis"]),
            "t_axis": float(r["TAxis"]),
        }
        out.append((got(m), ref, f"{p.stem} ({r['Rhythm']}): {m.note}"))
    return out


def timing(n_exams: int = 20) -> tuple[float, float]:
    """ms per exam of measure(), and of a baseline in the same run: one zero-phase 0.5–100 Hz
    band-pass of the 12 leads (scipy sosfiltfilt), to read the figure on a loaded machine."""
    from scipy.signal import butter, sosfiltfilt

    exams = [ludb_exam(n) for n in range(61, 61 + n_exams)]
    measure(exams[0])  # warm NeuroKit's imports
    sos = butter(2, (0.5, 100.0), btype="bandpass", fs=500.0, output="sos")
    t0 = time.perf_counter()
    for e in exams:
        sosfiltfilt(sos, e.signal_mv.astype(np.float64), axis=0)
    base = (time.perf_counter() - t0) / len(exams) * 1000
    t0 = time.perf_counter()
    for e in exams:
        measure(e)
    return (time.perf_counter() - t0) / len(exams) * 1000, base


def crosscheck_tables() -> None:
    import csv

    from ecgviewer.io import open_exams
    from ecgviewer.model.runtime import load_model

    model = load_model()
    print(f"\n## Findings cross-check ({model.describe()})\n")
    for title, paths in (
        ("CODE exams 1-10", [DATA / "code-test" / "exams" / f"pacient_{i}.hdf5" for i in range(1, 11)]),
        ("PTB-XL fold 9, 500 Hz records", sorted((DATA / "ptbxl" / "records500").glob("*.hea"))),
    ):
        labels: dict[int, list[str]] = {}
        if "CODE" in title:
            with open(DATA / "code-test" / "annotations" / "gold_standard.csv") as fh:
                for i, row in enumerate(csv.DictReader(fh), 1):
                    labels[i] = [c for c in CLASSES if row[c] == "1"]
        if "PTB" in title:
            with open(DATA / "ptbxl" / "labels.csv") as fh:
                for row in csv.DictReader(fh):
                    labels[int(row["ecg_id"])] = [
                        c for c in ("1dAVb", "RBBB", "LBBB", "SB", "AF", "ST") if row[c] == "1"
                    ]
        counts: dict[str, list[str]] = {}
        n = 0
        with open_exams([str(p) for p in paths]) as exams:
            for i in range(len(exams)):
                exam = exams[i]
                pred = model.predict_exam(exam)
                m = measure(exam)
                n += 1
                for f in cross_check(m, pred.decisions, pred.classes):
                    # PTB-XL "00008_hr" -> ecg_id 8; CODE "pacient_9" -> row 9 of the gold standard
                    key = int(exam.exam_id.split("_")[0 if "PTB" in title else -1])
                    extra = f" [label: {','.join(labels.get(key, [])) or 'none'}]"
                    counts.setdefault(f.finding, []).append(f"{exam.exam_id}: {f.message}{extra}")
        print(f"### {title}: {n} exams\n")
        if not counts:
            print("no flag fired\n")
        for finding, items in sorted(counts.items()):
            print(f"- {finding}: {len(items)} of {n} exams")
            for s in items:
                print(f"  - {s}")
        print()


def main() -> int:
    import csv

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    keys = ("hr", "pr", "p", "qrs", "qt")
    train = run_ludb(range(1, 61))
    test = run_ludb(range(61, 121))
    paced = ludb_paced()
    print("## LUDB (cardiologists' annotations), measured − reference\n")
    for title, rows in (
        ("LUDB 1–60 (tuning set)", train),
        ("LUDB 61–120 (held out)", test),
        ("LUDB 1–120", train + test),
    ):
        print(table(f"{title}:\n", [(g, r) for g, r, _, _ in rows], keys))
        print()
        unpaced = [(g, r) for g, r, _, n in rows if n not in paced]
        print(table(f"{title}, without the {len(rows) - len(unpaced)} paced records:\n", unpaced, keys))
        print()
    with open(DATA / "ludb" / "ludb.csv", newline="", encoding="utf-8") as fh:
        af = {int(r["ID"]) for r in csv.DictReader(fh) if "fibrillation" in r["Rhythms"].lower()}
    flagged = {n for g, _, _, n in train + test if g["irregular"] == 1}
    print(
        f"RR irregularity flag against LUDB's atrial fibrillation (1–120): {len(flagged & af)} of {len(af)} "
        f"AF records flagged (missed: {sorted(af - flagged)}, paced: {sorted((af - flagged) & paced)}); "
        f"{len(flagged - af)} of {120 - len(af)} others flagged: {sorted(flagged - af)}\n"
    )
    if args.verbose:
        for g, r, note, n in train + test:
            print(n, {k: round(g[k] - r[k]) if np.isfinite(g[k] - r[k]) else None for k in keys}, note)
    ch = chapman_pairs()
    print()
    print(
        table(
            "## Chapman-Shaoxing, 14 exams, against GE MUSE\n",
            [(g, r) for g, r, _ in ch],
            ("hr", "qrs", "qt", "qtc", "qrs_axis", "t_axis"),
        )
    )
    print()
    print(
        table(
            "Chapman, raw edges (measure(exam, calibrated=False), without the LUDB shifts):\n",
            [(g, r) for g, r, _ in chapman_pairs(calibrated=False)],
            ("hr", "qrs", "qt", "qtc"),
        )
    )
    if args.verbose:
        for g, r, note in ch:
            print(note, {k: (round(g[k]), round(r[k])) if np.isfinite(g[k]) else None for k in r})
    ms, base = timing()
    print(
        f"\nspeed: {ms:.1f} ms per 10-s 500 Hz exam (LUDB 61–80, this machine, as loaded now); "
        f"{ms / base:.1f}× one 12-lead sosfiltfilt band-pass ({base:.1f} ms) in the same run"
    )
    if not args.quick:
        crosscheck_tables()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
