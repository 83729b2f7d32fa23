"""Speed and size of the PDF reports.

Prints, for A4 (best of ``--repeat`` runs, after a warm-up):
* the baseline: an empty one-page PDF through the same writer (Qt start-up excluded,
  file creation, atomic rename) — every other figure is also given as a ratio to it;
* one exam report, page 1 only (12-lead printout on ECG paper, header, findings);
* one exam report with two SHAP pages (saliency precomputed: drawing only);
* a 100-exam set report (summary + table), predictions precomputed;
* the same with one 12-lead page per exam (``--pages``): 102 pages;
* optionally (``--shap``) one exam report including the SHAP computation itself;
* the end-to-end time for 100 exams: preprocessing + inference + set report.

Exams are synthetic (``ecgviewer.synth``), 10 s at 500 Hz. Usage:
``python benchmarks/report_bench.py [--repeat 3] [--shap] [--paper letter]``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _best(fn, repeat: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--paper", default="A4")
    parser.add_argument("--shap", action="store_true", help="also time a report with the SHAP computation")
    args = parser.parse_args()

    import ecgviewer.report as report
    from ecgviewer.explain import Saliency
    from ecgviewer.model.runtime import load_model
    from ecgviewer.report import writer
    from ecgviewer.synth import synth_exam

    model = load_model(prefer_cuda=False)
    findings = [(), ("RBBB",), ("AF",), ("LBBB",), ("SB",), ("ST",), ("1dAVb",)]
    exams = []
    for i in range(100):
        e = synth_exam(findings[i % len(findings)], seed=i)
        e.exam_id = f"SYN{i:03d}"
        exams.append(e)
    t = time.perf_counter()
    prepared = [model.prepare(e) for e in exams]
    t_prep = time.perf_counter() - t
    t = time.perf_counter()
    probs = model.predict(np.stack([x for x, _ in prepared]))
    t_pred = time.perf_counter() - t
    preds = [model.prediction(p, x, r) for p, (x, r) in zip(probs, prepared, strict=True)]
    exam, pred = exams[1], preds[1]
    rng = np.random.default_rng(0)
    values = rng.normal(scale=0.01, size=(6, 12, 32)).astype(np.float32)
    sal = Saliency(
        values=values,
        segment_edges=np.linspace(0, 4096, 33).astype(np.int64),
        base_values=np.zeros(6, np.float32),
        probabilities=pred.probabilities,
        classes=pred.classes,
    )

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)

        def empty() -> None:
            with writer.open_pdf(out / "empty.pdf", args.paper, "empty") as c:
                c.text(10, 10, "empty")

        def page1() -> None:
            report.write_exam_report(out / "p1.pdf", exam, pred, model=model, paper=args.paper)

        def with_shap_pages() -> None:
            report.write_exam_report(
                out / "shap.pdf",
                exam,
                pred,
                saliency=sal,
                model=model,
                paper=args.paper,
                shap_classes=["RBBB", "AF"],
            )

        def set100() -> None:
            report.write_set_report(out / "set.pdf", exams, preds, model=model, paper=args.paper)

        def set100_pages() -> None:
            report.write_set_report(
                out / "setp.pdf", exams, preds, model=model, paper=args.paper, exam_pages=True
            )

        writer.ensure_gui_app()
        base = _best(empty, args.repeat)
        rows = [("baseline: empty 1-page PDF", base, out / "empty.pdf")]
        for name, fn, f in (
            ("exam report, page 1 (no SHAP)", page1, "p1.pdf"),
            ("exam report + 2 SHAP pages (drawing only)", with_shap_pages, "shap.pdf"),
            ("set report, 100 exams (summary + table)", set100, "set.pdf"),
            ("set report, 100 exams + 100 exam pages", set100_pages, "setp.pdf"),
        ):
            rows.append((name, _best(fn, args.repeat), out / f))
        print(f"PDF reports on {args.paper} ({args.repeat} runs, best), CPU threads {os.cpu_count()}")
        print(f"{'':46s} {'seconds':>9s} {'× base':>8s} {'pages':>6s} {'KB':>8s}")
        for name, sec, f in rows:
            pages = len(re.findall(rb"/Type\s*/Page(?!s)", f.read_bytes()))
            print(f"{name:46s} {sec:9.3f} {sec / base:8.1f} {pages:6d} {f.stat().st_size / 1024:8.0f}")
        per_page = rows[4][1] / 102
        print(f"\n12-lead page inside a set report: {per_page * 1000:.0f} ms/page")
        print(
            f"100 exams end to end (preprocess {t_prep:.2f} s + inference {t_pred:.2f} s + report "
            f"{rows[3][1]:.2f} s): {t_prep + t_pred + rows[3][1]:.2f} s"
        )
        if args.shap:
            from ecgviewer.explain import explain

            def shap_full() -> None:
                s = explain(model, pred.input, report=pred.report)
                report.write_exam_report(
                    out / "full.pdf", exam, pred, saliency=s, model=model, paper=args.paper
                )

            t = time.perf_counter()
            shap_full()
            full = time.perf_counter() - t
            print(
                f"exam report with the SHAP computation (explain, default budget): {full:.1f} s "
                f"({full / rows[1][1]:.0f} × page 1 alone)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
