"""Render the README's model screenshots offscreen: a two-class model in the viewer, an ensemble's findings.

    QT_QPA_PLATFORM=offscreen PYTHONPATH=$PWD python docs/model_screenshots.py two-class \\
        --model /tmp/ftdemo/normal-abnormal-pretrained.onnx --exams EXAM... [--labels L.csv]
    QT_QPA_PLATFORM=offscreen PYTHONPATH=$PWD python docs/model_screenshots.py ensemble \\
        --member "NAME=M1.onnx" --member "NAME=M2.onnx" --exam EXAM [--exam-id ID]

``two-class`` writes ``docs/screenshot-two-class-model.png`` (the whole window, 1500×950) and
``ensemble`` writes ``docs/screenshot-ensemble-findings.png`` (the findings panel). The models are
installed into a temporary per-user folder (``ECGVIEWER_HOME``), so the user's own models and
settings are never touched; the exams are read where they are.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from offscreen_window import shown_window, wait_until

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _settle(app, n: int = 30) -> None:
    for _ in range(n):
        app.processEvents()
        time.sleep(0.01)


def _analysed_with(w, name: str):
    """The exam on screen analysed by the model ``name`` and measured."""
    return lambda: (
        w.current_prediction is not None
        and w.current_prediction.model_name == name
        and w.model is not None
        and w.model.contract.name == name
        and not w.measurements.pending()
    )


def two_class(
    model: Path, exams: list[Path], labels: list[tuple[str, Path]], select: str | None, out: Path
) -> None:
    from PySide6.QtCore import Qt

    from ecgviewer.model.install import install_file

    installed = install_file(model)
    if installed.path is None:
        raise SystemExit(installed.message)
    app, w = shown_window((1500, 950))
    w.open_paths([str(p) for p in exams])
    wait_until(app, lambda: len(w.ws) == len(exams) and w.current_prediction is not None)
    for name, path in labels:
        w.label_sources.load_labels(path, name, scope=None)
    w.set_model(installed.path)
    name = installed.name
    wait_until(app, _analysed_with(w, name))
    w.analyse_all()
    wait_until(app, lambda: bool(w.ws.analysed().all()) and _analysed_with(w, name)())
    if select is not None:
        row = next(r for r in range(len(w.ws)) if w.ws.header(r).exam_id == select)
        w.browser.select_ws_row(row)
        wait_until(app, lambda: w.current_row == row and _analysed_with(w, name)())
    w.label_sources.dock.show()
    w.label_sources.dock.raise_()
    w.resizeDocks([w.browser_dock], [230], Qt.Orientation.Vertical)
    w.resizeDocks([w.findings_dock], [430], Qt.Orientation.Horizontal)
    w.grid.fit()
    _settle(app)
    out.parent.mkdir(parents=True, exist_ok=True)
    w.grab().save(str(out))
    w.close()
    print(f"wrote {out}")


def pick_disagreement(members: list[Path], exams: list[Path]) -> tuple[Path, str]:
    """The exam (file, id) where the members disagree most: the largest spread of a class's
    probability, preferring classes whose members split on the decision, then classes where
    they are all positive (so the bar is not empty)."""
    from ecgviewer.io import open_exams
    from ecgviewer.model.ensemble import load_ensemble

    model = load_ensemble([str(p) for p in members], prefer_cuda=False)
    best = (-1.0, exams[0], "")
    with open_exams([str(p) for p in exams]) as es:
        for i in range(len(es)):
            exam = es[i]
            x, _ = model.prepare(exam)
            m = model.predict_members(x[None])[:, 0]  # (M, C)
            spread = m.max(axis=0) - m.min(axis=0)
            votes = (m > model.member_thresholds).sum(axis=0)  # members above their own threshold
            split = (votes > 0) & (votes < len(members))  # "1 of 2 positive"
            score = float((spread * np.where(split, 1.0, np.where(votes > 0, 0.5, 0.25))).max())
            k = int(np.argmax(spread))
            print(f"  {exam.exam_id}: largest spread {spread[k]:.3f} ({model.classes[k]}), score {score:.3f}")
            if score > best[0]:
                best = (score, Path(es.source_of(i).path), exam.exam_id)
    return best[1], best[2]


def ensemble(
    members: list[tuple[str, Path]], exams: list[Path], select: str | None, out: Path, pick: bool
) -> None:
    from PySide6.QtCore import Qt

    from ecgviewer.model.install import install_file
    from ecgviewer.ui.findings import EnsembleChoice

    if pick:
        path, select = pick_disagreement([p for _, p in members], exams)
        print(f"the members disagree most on {select} ({path})")
        exams = [path]

    paths = []
    for name, path in members:
        result = install_file(path, name=name)
        if result.path is None:
            raise SystemExit(result.message)
        paths.append(result.path)
    app, w = shown_window((1500, 1000))
    w.open_paths([str(p) for p in exams])
    wait_until(app, lambda: len(w.ws) >= 1 and w.current_prediction is not None)
    if select is not None:
        row = next(r for r in range(len(w.ws)) if w.ws.header(r).exam_id == select)
        w.browser.select_ws_row(row)
        wait_until(app, lambda: w.current_row == row and w.current_prediction is not None)
    w.analysis.refresh_models()
    ens_name = " + ".join(name for name, _ in members)
    w.findings.ensemble_selected.emit(EnsembleChoice(ens_name, tuple(paths), save=True))
    wait_until(
        app,
        lambda: _analysed_with(w, ens_name)() and getattr(w.current_prediction, "n_members", 1) == len(paths),
    )
    # the findings panel alone on the right: the other panels there are hidden for the picture
    for dock in (w.label_sources.dock, w.explanation.dock, w.info_dock):
        dock.hide()
    w.resizeDocks([w.findings_dock], [440], Qt.Orientation.Horizontal)
    _settle(app)
    out.parent.mkdir(parents=True, exist_ok=True)
    w.findings_dock.grab().save(str(out))
    bars = w.findings.bars
    for b in bars:
        lo, hi = b.spread or (b.value, b.value)
        print(f"  {b.cls}: mean {b.value:.3f}, members {lo:.3f}–{hi:.3f}, {b.agreement}")
    w.close()
    print(f"wrote {out}")


def _named(spec: str) -> tuple[str, Path]:
    name, sep, path = spec.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{spec}: expected NAME=PATH")
    return name.strip(), Path(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="which", required=True)
    two = sub.add_parser("two-class", help="a two-class model in the whole window")
    two.add_argument("--model", type=Path, required=True)
    two.add_argument("--exams", type=Path, nargs="+", required=True)
    two.add_argument("--labels", type=_named, action="append", default=[], metavar="NAME=FILE")
    two.add_argument("--exam-id", help="the exam on screen (default: the first)")
    two.add_argument("--out", type=Path, default=DOCS / "screenshot-two-class-model.png")
    ens = sub.add_parser("ensemble", help="an ensemble's findings panel")
    ens.add_argument("--member", type=_named, action="append", required=True, metavar="NAME=FILE")
    ens.add_argument("--exams", type=Path, nargs="+", required=True)
    ens.add_argument("--exam-id", help="the exam on screen (default: the first)")
    ens.add_argument("--pick", action="store_true", help="show the exam where the members disagree most")
    ens.add_argument("--out", type=Path, default=DOCS / "screenshot-ensemble-findings.png")
    args = ap.parse_args(argv)
    # a private per-user folder: the models installed here and the settings written vanish with it
    os.environ["ECGVIEWER_HOME"] = tempfile.mkdtemp(prefix="ecgviewer-screenshots-")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if args.which == "two-class":
        two_class(args.model, args.exams, args.labels, args.exam_id, args.out.resolve())
    else:
        ensemble(args.member, args.exams, args.exam_id, args.out.resolve(), args.pick)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
