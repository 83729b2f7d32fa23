"""The bundled model's card: its metrics on real records it was not trained on, recomputable.

:func:`card_metrics` evaluates a model on three sets of public records (``../shared/data``):

- ``ptbxl_fold9_100hz``: PTB-XL fold 9 at 100 Hz (2,193 exams). The training run picked its
  model and thresholds on this fold, so these are **tuning** figures, stated as such.
- ``ptbxl_fold9_500hz`` / ``ptbxl_fold9_100hz_same``: the 81 fold-9 exams that also exist as
  the original 500 Hz WFDB records, read at 500 Hz and, for comparison, the same exams at 100 Hz.
  Thresholds were fixed on fold 9 beforehand; the point is the gap between the two rates.
- ``challenge2021_external``: the PhysioNet Challenge 2021 records from other hospitals
  (CPSC, Chapman-Shaoxing/Ningbo, Georgia, PTB), labels from their ``#Dx`` SNOMED codes; the
  PTB-XL ("HR") records among them are left out because PTB-XL trained the model.
- ``ludb_external``: LUDB records 1–120 (Lobachevsky University, 500 Hz), labels from the
  cardiologists' statements in ``ludb.csv`` (I degree AV block, complete RBBB/LBBB, sinus
  bradycardia, atrial fibrillation, sinus tachycardia).
- ``code_test_1_10``: the paper's own CODE test exams 1–10 against its gold standard.
- ``amplitude_scaling``: the exams of the 500 Hz fold-9 and Challenge sets with every
  amplitude multiplied by 0.6 and 1.7: how far the probabilities and decisions move from ×1
  (devices and populations differ in amplitude; CODE exams are about 1.7× PTB-XL's).

A test recomputes these from the committed model so the card cannot drift from it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ecgviewer.classes import CLASSES
from ecgviewer.exam import Exam
from ecgviewer.io import open_exams, read_exam
from ecgviewer.labels import labels_from_exam
from ecgviewer.metrics import binary_scores, roc_auc, threshold
from ecgviewer.model.runtime import EcgModel
from ecgviewer.preprocess import to_model_input

SETS = (
    "ptbxl_fold9_100hz",
    "ptbxl_fold9_500hz",
    "ptbxl_fold9_100hz_same",
    "challenge2021_external",
    "ludb_external",
    "code_test_1_10",
)
AMPLITUDE_GAINS = (0.6, 1.7)

# LUDB statements (ludb.csv, columns Rhythms and Conduction abnormalities) for the six classes
_LUDB_STATEMENTS = {
    "1dAVb": "i degree av block",
    "RBBB": "complete right bundle branch block",
    "LBBB": "complete left bundle branch block",
    "SB": "sinus bradycardia",
    "AF": "atrial fibrillation",
    "ST": "sinus tachycardia",
}
DIGITS = 4


def _ptbxl_labels(data: Path) -> dict[int, tuple[int, np.ndarray]]:
    out = {}
    with open(data / "ptbxl" / "labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            out[int(row["ecg_id"])] = (int(row["strat_fold"]), np.array([int(row[c]) for c in CLASSES]))
    return out


def _inputs(exams: Sequence[Exam] | list[Exam]) -> np.ndarray:
    return np.stack([to_model_input(e)[0] for e in exams])


def load_sets(data: Path, names: Sequence[str] = SETS) -> dict[str, tuple[np.ndarray, np.ndarray, list[str]]]:
    """Each set as (x (N, 4096, 12) model input, y (N, 6) 0/1, exam ids)."""
    labels = _ptbxl_labels(data)
    out: dict[str, tuple[np.ndarray, np.ndarray, list[str]]] = {}
    records500 = sorted((data / "ptbxl" / "records500").glob("*_hr.hea"))
    ids500 = [int(p.stem.split("_")[0]) for p in records500]
    if {"ptbxl_fold9_100hz", "ptbxl_fold9_100hz_same"} & set(names):
        with open_exams(data / "ptbxl" / "ptbxl100_train.h5") as exams:
            ids = [int(exams.header(i).exam_id) for i in range(len(exams))]
            if "ptbxl_fold9_100hz" in names:
                rows = [i for i, e in enumerate(ids) if labels[e][0] == 9]
                out["ptbxl_fold9_100hz"] = (
                    _inputs([exams[i] for i in rows]),
                    np.stack([labels[ids[i]][1] for i in rows]),
                    [str(ids[i]) for i in rows],
                )
            if "ptbxl_fold9_100hz_same" in names:
                pos = {e: i for i, e in enumerate(ids)}
                out["ptbxl_fold9_100hz_same"] = (
                    _inputs([exams[pos[e]] for e in ids500]),
                    np.stack([labels[e][1] for e in ids500]),
                    [str(e) for e in ids500],
                )
    if "ptbxl_fold9_500hz" in names:
        out["ptbxl_fold9_500hz"] = (
            _inputs([read_exam(p) for p in records500]),
            np.stack([labels[e][1] for e in ids500]),
            [str(e) for e in ids500],
        )
    if "challenge2021_external" in names:
        headers = sorted(
            p for p in (data / "wfdb" / "challenge2021").rglob("*.hea") if not p.name.startswith("HR")
        )
        exams = [read_exam(p) for p in headers]
        y = []
        for exam in exams:
            ls = labels_from_exam(exam)
            y.append(np.zeros(len(CLASSES), int) if ls is None else np.clip(ls.values[0], 0, 1))
        out["challenge2021_external"] = (_inputs(exams), np.stack(y), [e.exam_id for e in exams])
    if "ludb_external" in names and (data / "ludb" / "ludb.csv").is_file():
        with open(data / "ludb" / "ludb.csv", newline="") as f:
            statements = {
                int(r["ID"]): {
                    line.strip().lower()
                    for col in ("Rhythms", "Conduction abnormalities")
                    for line in (r.get(col) or "").splitlines()
                }
                for r in csv.DictReader(f)
            }
        folder = data / "ludb" / "data"
        ids = [i for i in range(1, 121) if i in statements and (folder / f"{i}.hea").is_file()]
        y = np.array([[int(_LUDB_STATEMENTS[c] in statements[i]) for c in CLASSES] for i in ids])
        exams = [read_exam(folder / f"{i}.hea") for i in ids]
        out["ludb_external"] = (_inputs(exams), y, [str(i) for i in ids])
    if "code_test_1_10" in names and (data / "code-test" / "exams").is_dir():
        gold = code_annotations(data / "code-test" / "annotations" / "gold_standard.csv")[:10]
        exams = [read_exam(data / "code-test" / "exams" / f"pacient_{i}.hdf5") for i in range(1, 11)]
        out["code_test_1_10"] = (_inputs(exams), gold, [str(i) for i in range(1, 11)])
    return out


def code_annotations(path: Path) -> np.ndarray:
    """(827, 6) 0/1 from one of the paper's annotation files, columns by name (dnn.csv adds an index)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return np.array([[int(float(r[c])) for c in CLASSES] for r in rows])


def _clean(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), DIGITS)


def macro_f1(per_class: dict[str, dict]) -> float | None:
    """Mean F1 over the classes that have positives and a defined F1 (None if there are none)."""
    f1 = [v["f1"] for v in per_class.values() if v["f1"] is not None and v["positives"]]
    return _clean(np.mean(f1)) if f1 else None


def set_metrics(y: np.ndarray, p: np.ndarray, thresholds: Sequence[float]) -> dict:
    """Per-class precision, recall, specificity, F1, AUROC, positives; macro F1/AUROC over defined classes."""
    decisions = threshold(p, thresholds)
    scores = binary_scores(y, decisions)
    per_class = {}
    for k, cls in enumerate(CLASSES):
        per_class[cls] = {
            "positives": int(y[:, k].sum()),
            "precision": _clean(scores["precision"][k]),
            "recall": _clean(scores["recall"][k]),
            "specificity": _clean(scores["specificity"][k]),
            "f1": _clean(scores["f1"][k]),
            "auroc": _clean(roc_auc(y[:, k], p[:, k])),
        }
    auc = [v["auroc"] for v in per_class.values() if v["auroc"] is not None]
    return {
        "n_exams": len(y),
        "classes": per_class,
        "macro_f1": macro_f1(per_class),
        "macro_auroc": _clean(np.mean(auc)) if auc else None,
    }


def card_metrics(
    model: EcgModel, data: Path, names: Sequence[str] = SETS, progress: Callable[[str], None] | None = None
) -> dict:
    """Recompute the card's metrics of ``model`` on the public records in ``data`` (``../shared/data``)."""
    out: dict = {}
    probabilities = {}
    inputs: dict[str, np.ndarray] = {}
    for name, (x, y, _ids) in load_sets(data, names).items():
        inputs[name] = x
        if progress:
            progress(f"{name}: {len(x)} exams")
        probabilities[name] = model.predict(x, batch_size=64)
        out[name] = set_metrics(y, probabilities[name], model.contract.thresholds)
    scaled_sets = [n for n in ("ptbxl_fold9_500hz", "challenge2021_external") if n in probabilities]
    if scaled_sets:
        x1 = np.concatenate([inputs[n] for n in scaled_sets])
        p1 = np.concatenate([probabilities[n] for n in scaled_sets])
        thr = np.asarray(model.contract.thresholds)
        gains = {}
        for gain in AMPLITUDE_GAINS:
            pg = model.predict(x1 * np.float32(gain), batch_size=64)
            gains[f"x{gain:g}"] = {
                "mean_abs_probability_difference": _clean(np.mean(np.abs(pg - p1))),
                "max_abs_probability_difference": _clean(np.max(np.abs(pg - p1))),
                "decision_agreement": _clean(np.mean((pg > thr) == (p1 > thr))),
            }
        out["amplitude_scaling"] = {"n_exams": len(x1), "sets": scaled_sets, "vs_x1": gains}
    if {"ptbxl_fold9_500hz", "ptbxl_fold9_100hz_same"} <= probabilities.keys():
        p500, p100 = probabilities["ptbxl_fold9_500hz"], probabilities["ptbxl_fold9_100hz_same"]
        thr = np.asarray(model.contract.thresholds)
        out["rate_gap_500_vs_100hz"] = {
            "n_exams": len(p500),
            "mean_abs_probability_difference": _clean(np.mean(np.abs(p500 - p100))),
            "max_abs_probability_difference": _clean(np.max(np.abs(p500 - p100))),
            "decision_agreement": _clean(np.mean((p500 > thr) == (p100 > thr))),
        }
    return out


def metrics_table(metrics: dict) -> str:
    """The card's Markdown table: one block per set, one row per class."""
    lines = []
    for name, m in metrics.items():
        if not isinstance(m, dict) or "classes" not in m:
            continue
        lines.append(
            f"**{name}** ({m['n_exams']} exams; macro F1 {m['macro_f1']}, macro AUROC {m['macro_auroc']})"
        )
        lines.append("")
        lines.append("| class | positives | precision | recall | specificity | F1 | AUROC |")
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for cls, v in m["classes"].items():
            cells = [
                v[k] if v[k] is not None else "undef."
                for k in ("precision", "recall", "specificity", "f1", "auroc")
            ]
            lines.append(f"| {cls} | {v['positives']} | " + " | ".join(str(c) for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def dumps(metrics: dict) -> str:
    return json.dumps(metrics, indent=1, sort_keys=True)


# The bundled model's aim (its issue): on patients never seen, every class AUROC ≥ 0.97 and macro
# F1 ≥ 0.80; on other hospitals' exams, macro F1 ≥ 0.70 over the classes with ≥ 5 positives.
AIM_AUROC = 0.97
AIM_MACRO_F1_UNSEEN = 0.80
AIM_MACRO_F1_EXTERNAL = 0.70
AIM_MIN_POSITIVES = 5
UNSEEN_SET = "ptbxl_fold9_100hz"
EXTERNAL_SETS = ("challenge2021_external", "ludb_external", "code_test_1_10")


def _shortfall(value: float | None, aim: float) -> str:
    if value is None:
        return "undefined"
    return "met" if value >= aim else f"short by {aim - value:.3f}"


def _decimals(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"


def _why_class_falls_short(cls: str, v: dict, threshold_value: float) -> str:
    """One class's F1 below the external aim, told from its own figures."""
    auroc, recall, precision, n = v.get("auroc"), v.get("recall"), v.get("precision"), v["positives"]
    if auroc is None or auroc < 0.90:
        return f"{cls} ranks poorly here (AUROC {auroc})"
    found = round((recall or 0.0) * n)
    if precision is None or (recall is not None and recall <= precision):
        return (
            f"{cls} ranks well (AUROC {auroc}) but {found} of its {n} positives pass the fold-9 "
            f"threshold {threshold_value}"
        )
    return (
        f"{cls} ranks well (AUROC {auroc}) but the fold-9 threshold {threshold_value} flags too "
        f"many negatives (precision {precision})"
    )


def aim_report(metrics: dict, thresholds: Sequence[float], classes: Sequence[str] = CLASSES) -> str:
    """The card's 'aim and where it falls short' list, computed from its own metrics: each aim
    figure, the measured value, by how much it is missed, and what the figures say about why."""
    thr = dict(zip(classes, thresholds, strict=True))

    def in_order(m: dict) -> dict:  # the stored JSON sorts its keys; the card speaks in class order
        return {c: m["classes"][c] for c in classes if c in m["classes"]}

    lines = []
    unseen = metrics.get(UNSEEN_SET)
    if unseen:
        unseen = {**unseen, "classes": in_order(unseen)}
        short = [
            f"{c} {v['auroc']} ({_shortfall(v['auroc'], AIM_AUROC)})"
            for c, v in unseen["classes"].items()
            if v["auroc"] is None or v["auroc"] < AIM_AUROC
        ]
        met = [c for c, v in unseen["classes"].items() if v["auroc"] is not None and v["auroc"] >= AIM_AUROC]
        lines.append(
            f"- `{UNSEEN_SET}`, class AUROC ≥ {AIM_AUROC}: "
            + (f"missed by {', '.join(short)}; " if short else "")
            + (f"met by {', '.join(met)}." if met else "met by no class.")
        )
        weakest = min(
            unseen["classes"].items(), key=lambda kv: kv[1]["f1"] if kv[1]["f1"] is not None else 0.0
        )
        lines.append(
            f"- `{UNSEEN_SET}`, macro F1 ≥ {AIM_MACRO_F1_UNSEEN:.2f}: {unseen['macro_f1']} "
            f"({_shortfall(unseen['macro_f1'], AIM_MACRO_F1_UNSEEN)}; weakest class {weakest[0]}, "
            f"F1 {weakest[1]['f1']})."
        )
    for name in EXTERNAL_SETS:
        m = metrics.get(name)
        if not m:
            continue
        counted = {c: v for c, v in in_order(m).items() if v["positives"] >= AIM_MIN_POSITIVES}
        if not counted:
            most = max(v["positives"] for v in m["classes"].values())
            lines.append(
                f"- `{name}`: no class has {AIM_MIN_POSITIVES} positives (at most {most}): "
                "too few to score against the aim."
            )
            continue
        macro = macro_f1(counted)
        why = [
            _why_class_falls_short(c, v, thr[c])
            for c, v in counted.items()
            if (v["f1"] or 0.0) < AIM_MACRO_F1_EXTERNAL
        ]
        positives = ", ".join(f"{c} {v['positives']}" for c, v in counted.items())
        lines.append(
            f"- `{name}`, macro F1 ≥ {AIM_MACRO_F1_EXTERNAL:.2f} over the classes with ≥ "
            f"{AIM_MIN_POSITIVES} positives ({positives}): {_decimals(macro)} "
            f"({_shortfall(macro, AIM_MACRO_F1_EXTERNAL)})" + (f"; {'; '.join(why)}." if why else ".")
        )
    return "\n".join(lines)
