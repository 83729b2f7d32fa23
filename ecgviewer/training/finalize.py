"""Turn a training run into the bundled model: thresholds, ONNX export, metrics, card.

``python -m ecgviewer.training.finalize --run runs/bundled --data ../shared/data --out models``

1. loads the run's best checkpoint (highest macro AUROC on PTB-XL fold 9);
2. picks per-class thresholds on fold 9 by a rule that is stable on new patients: the median,
   over 200 bootstrap resamples of fold 9, of the threshold that maximises F1 (a single F1
   maximum of one fold jumps between nearby peaks of a noisy curve);
3. exports ONNX with the contract (thresholds, provenance, recipe) and checks it against the
   PyTorch module on the Keras fixture inputs;
4. computes the card's metrics through onnxruntime (:mod:`ecgviewer.model.card`), stores them in
   the ONNX metadata and writes the Markdown card beside the model, with a side-by-side table
   against a previous model (``--compare``) and the paper's published network where comparable.
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

import numpy as np
import onnx
import torch

from ecgviewer.classes import CLASSES, PAPER_THRESHOLDS
from ecgviewer.model.card import aim_report, card_metrics, code_annotations, metrics_table
from ecgviewer.model.contract import METADATA_KEY, ModelContract
from ecgviewer.model.runtime import clear_model_cache, load_model
from ecgviewer.training.architecture import RibeiroResNet
from ecgviewer.training.data import VALID_FOLD, load_ptbxl
from ecgviewer.training.export import export_onnx, max_abs_difference
from ecgviewer.training.train import best_f1_threshold, cpu_has_bf16, lowpass_taps, predict

MODEL_NAME = "ecgviewer-resnet-ptbxl"
NOTICE = (
    "Demonstration model trained by the ecgviewer project on PTB-XL. Not a medical device; "
    "not for diagnosis. For the published network, import the Zenodo weights (ecgviewer import-keras)."
)


def _set_contract(path: Path, contract: ModelContract) -> None:
    proto = onnx.load(str(path))
    for entry in proto.metadata_props:
        if entry.key == METADATA_KEY:
            entry.value = contract.to_json()
    tmp = path.with_suffix(".onnx.tmp")
    onnx.save(proto, str(tmp))
    tmp.replace(path)


BOOTSTRAP_RESAMPLES = 200


def stable_threshold(
    y: np.ndarray, p: np.ndarray, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> float:
    """Median over bootstrap resamples of the F1-maximising threshold of ``p > t`` for labels ``y``."""
    rng = np.random.default_rng(seed)
    picks = []
    for _ in range(resamples):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].sum() == 0:
            continue
        picks.append(best_f1_threshold(y[idx], p[idx])[0])
    return float(np.median(picks)) if picks else best_f1_threshold(y, p)[0]


def comparison_table(current: dict, previous: dict | None, data: Path, labels: tuple[str, str]) -> str:
    """Markdown: macro F1 / AUROC per set for the previous and this model, and the paper's DNN on CODE."""
    lines = [
        f"| set | {labels[0]} macro F1 | {labels[1]} macro F1 | {labels[0]} macro AUROC | "
        f"{labels[1]} macro AUROC |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, m in current.items():
        if not isinstance(m, dict) or "classes" not in m:
            continue
        old = (previous or {}).get(name) or {}
        lines.append(
            f"| {name} | {old.get('macro_f1', '—')} | {m['macro_f1']} | {old.get('macro_auroc', '—')} | "
            f"{m['macro_auroc']} |"
        )
    code = data / "code-test"
    if (code / "annotations" / "dnn.csv").is_file() and "code_test_1_10" in current:
        from ecgviewer.metrics import binary_scores

        gold = code_annotations(code / "annotations" / "gold_standard.csv")
        dnn = code_annotations(code / "annotations" / "dnn.csv")
        f1 = binary_scores(gold[:10], dnn[:10])["f1"]
        known = [float(v) for v, n in zip(f1, gold[:10].sum(0), strict=True) if n and np.isfinite(v)]
        lines.append(
            f"| code_test_1_10, the paper's published DNN (dnn.csv) | | "
            f"{round(float(np.mean(known)), 4) if known else '—'} | | |"
        )
        f1_all = binary_scores(gold, dnn)["f1"]
        lines.append("")
        lines.append(
            "The paper's DNN on all 827 CODE test exams (its scores.csv): F1 "
            + ", ".join(f"{c} {float(v):.3f}" for c, v in zip(CLASSES, f1_all, strict=True))
            + f"; macro {float(np.mean(f1_all)):.3f}. Not comparable with the sets above (other patients, "
            "other devices); the CODE 1–10 row is the only one on the same exams."
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, default=Path("runs/bundled"))
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("models"))
    ap.add_argument("--version", default="2.0")
    ap.add_argument("--compare", type=Path, default=None, help="a previous model for the side-by-side table")
    args = ap.parse_args(argv)

    saved = torch.load(args.run / "best.pt", weights_only=False)
    model = RibeiroResNet(lowpass_taps=lowpass_taps())
    model.load_state_dict(saved["model"])
    model.eval()
    history_file = args.run / "history.json"
    history = json.loads(history_file.read_text()) if history_file.exists() else []

    ptb = args.data / "ptbxl"
    valid = load_ptbxl(ptb / "ptbxl100_train.h5", ptb / "labels.csv", (VALID_FOLD,), args.run / "cache")
    # float32, as the exported model computes: thresholds must fit the probabilities users get
    p = predict(model, valid.x, bf16=False)
    thresholds = tuple(
        round(stable_threshold(valid.y[:, k], p[:, k], seed=k), 4) for k in range(len(CLASSES))
    )
    print("thresholds", dict(zip(CLASSES, thresholds, strict=True)))

    record = saved.get("record", {})
    recipe = saved.get("recipe") or recipe_of(args.run)
    warm_start = ""
    if recipe.get("init"):
        from ecgviewer.model.runtime import read_contract

        try:
            init_contract, _ = read_contract(recipe["init"])
            warm_start = f"; warm-started from {init_contract.name} {init_contract.version}"
        except Exception:  # the run's start file may be gone: name it as recorded
            warm_start = f"; warm-started from {Path(recipe['init']).name}"
    contract = ModelContract(
        name=MODEL_NAME,
        version=args.version,
        thresholds=thresholds,
        units="mV",
        input_scale_per_mv=1.0,
        provenance=(
            "Trained by the ecgviewer project (python -m ecgviewer.training.train, seed 20200101) "
            "on PTB-XL folds 1-8 at 100 Hz (Wagner et al., Sci Data 2020, CC BY 4.0); "
            "model and thresholds (bootstrap median of the F1 maximum) chosen on fold 9"
            f"{warm_start}."
        ),
        notice=NOTICE,
        extra={
            "architecture": "Ribeiro et al. (2020) ResNet (Keras graph), preceded by a fixed 101-tap "
            "40 Hz low-pass FIR",
            "trained": str(date.today()),
            "epochs": record.get("epoch"),
            "paper_thresholds": list(PAPER_THRESHOLDS),
            "training_history": history,
        },
    )
    out = args.out / f"{MODEL_NAME}.onnx"
    export_onnx(model, contract, out)
    fixture = np.load(args.data / "keras-fixture" / "inputs.npy")
    parity = max_abs_difference(model, out, fixture)
    print(f"ONNX vs PyTorch on the fixture inputs: max |diff| = {parity:.2e}")

    clear_model_cache()
    metrics = card_metrics(load_model(out, prefer_cuda=False), args.data, progress=print)
    metrics["onnx_vs_pytorch_max_abs_difference"] = float(f"{parity:.2e}")
    previous = None
    if args.compare is not None:
        clear_model_cache()
        old_model = load_model(args.compare, prefer_cuda=False)
        stored = old_model.contract.metrics or {}
        if all(isinstance(stored.get(k), dict) for k in metrics if isinstance(metrics[k], dict)):
            previous = stored  # its card's figures, computed by the same pipeline (test_model_card)
        else:
            previous = card_metrics(old_model, args.data, progress=print)
        compare_label = f"{old_model.contract.name} {old_model.contract.version}"
    else:
        compare_label = "previous"
    contract = ModelContract(**{**contract.__dict__, "metrics": metrics})
    _set_contract(out, contract)
    print(record_bf16_check(out, np.asarray(valid.x[:BF16_CHECK_EXAMS], np.float32)))
    card = args.out / f"{MODEL_NAME}.md"
    template = (Path(__file__).parent / "card_template.md").read_text()
    card.write_text(
        template.format(
            name=MODEL_NAME,
            version=args.version,
            thresholds=", ".join(f"{c} {t}" for c, t in zip(CLASSES, thresholds, strict=True)),
            metrics=metrics_table(metrics),
            aim=aim_report(metrics, thresholds),
            gap=json.dumps(metrics.get("rate_gap_500_vs_100hz"), indent=1),
            amplitude=json.dumps(metrics.get("amplitude_scaling"), indent=1),
            comparison=comparison_table(
                metrics, previous, args.data, (compare_label, f"{MODEL_NAME} {args.version}")
            ),
            recipe=json.dumps(recipe, indent=1),
            parity=f"{parity:.1e}",
            minutes=float(recipe.get("max_minutes", 100)),
            recipe_text=recipe_text(recipe),
            train_args=train_arguments(recipe),
            precision=(
                f"bfloat16 autocast on this CPU (native bfloat16: {bf16_hardware()}), with the low-pass "
                "and the first convolution in float32 (oneDNN's bfloat16 kernel for that 12-channel "
                "convolution is wrong on AMX); the thresholds and every figure below are float32, as "
                "exported"
                if recipe.get("precision", "auto") != "fp32" and cpu_has_bf16()
                else "Float32 (this CPU has no native bfloat16; bfloat16 autocast where it has)"
            ),
            epochs=record.get("epoch"),
            epochs_run=max((h.get("epoch", 0) for h in history), default=record.get("epoch")),
            date=date.today(),
        )
    )
    print(f"wrote {out} and {card}")
    return 0


BF16_CHECK_EXAMS = 300


def bf16_hardware() -> str:
    """Which native bfloat16 this CPU has, for the card."""
    from ecgviewer.model.backends import cpu_flags

    flags = cpu_flags()
    return "AMX" if any(f.startswith("amx") for f in flags) else "AVX-512 BF16"


def record_bf16_check(path: Path, exams: np.ndarray) -> str:
    """Check OpenVINO bf16 against fp32 on real (fold-9) exams and record it in the contract.

    The viewer runs a model in bf16 only when its contract records a passed check; without
    OpenVINO or a bf16 CPU the check is skipped and the model stays fp32-only.
    """
    from ecgviewer.model.backends import check_and_record_bf16

    try:
        r = check_and_record_bf16(path, exams)
    except RuntimeError as err:
        return f"bf16 check skipped: {err}"
    return (
        f"bf16 ({r['engine']}) vs fp32 on {r['n_exams']} fold-9 exams: max |Δp| {r['max_abs_dp']:.3g} "
        f"(tolerance {r['tolerance']:g}): {'passed' if r['passed'] else 'failed, fp32 only'}"
    )


def train_arguments(recipe: dict) -> str:
    """The ``train`` options that differ from their defaults, as a command-line fragment.

    ``--init`` is written as ``model1.onnx`` (the file the card's reproduce command extracts).
    """
    from ecgviewer.training.train import build_parser

    defaults = vars(build_parser().parse_args([]))
    parts = []
    for key in ("max_minutes", "lr", "batch_size", "ema", "label_smoothing", "aux_weight", "balance", "gain"):
        if key not in recipe:
            continue
        value, default = recipe[key], defaults[key]
        same = list(value) == list(default) if isinstance(value, list | tuple) else value == default
        if key == "max_minutes" or not same:  # the budget is always written: it sets the schedule
            shown = " ".join(f"{v:g}" for v in value) if isinstance(value, list | tuple) else f"{value:g}"
            parts.append(f"--{key.replace('_', '-')} {shown}")
    if recipe.get("init"):
        parts.append("--init model1.onnx")
    return " ".join(parts)


def recipe_text(recipe: dict) -> str:
    """The card's description of what the run did, from the recipe it recorded."""
    smoothing = float(recipe.get("label_smoothing", 0.02))
    aux = float(recipe.get("aux_weight", 0.3))
    balance = float(recipe.get("balance", 0.5))
    gain = recipe.get("gain", (0.5, 2.0))
    n_aux = len(recipe.get("aux_codes", ())) or 45
    start = (
        "Model 2 is **warm-started from model 1** (version 1.0, trained on 1e-4 V; its first "
        "convolution is multiplied by 10 so it reads mV — the low-pass in front is linear, so the "
        "function is unchanged; its folded batch norms are re-expanded with statistics measured on "
        "256 training exams, `ecgviewer.training.onnx_weights`) and trained further with"
        if recipe.get("init")
        else f"Model 2 is **trained from scratch** (seed {recipe.get('seed', 20200101)}) with"
    )
    parts = [
        f"Adam (peak learning rate {float(recipe.get('lr', 1e-3)):g}, batch {recipe.get('batch_size', 32)}), "
        f"warm-up then cosine decay over a {float(recipe.get('max_minutes', 100)):g}-minute budget",
        (
            f"binary cross-entropy with label smoothing {smoothing:g} (PTB-XL's labels are noisy)"
            if smoothing
            else "binary cross-entropy without label smoothing"
        ),
    ]
    if aux:
        parts.append(
            f"auxiliary outputs for PTB-XL's {n_aux} other SCP statements with at least 40 training "
            f"records (weight {aux:g}, dropped at export)"
        )
    else:
        parts.append("no auxiliary outputs")
    if balance:
        parts.append(
            "class-balanced sampling (an exam with a rare class drawn up to "
            f"(median count / class count)^{balance:g} times as often)"
        )
    else:
        parts.append("plain shuffling (no class-balanced sampling)")
    parts.append(
        f"an exponential moving average of the weights (decay {float(recipe.get('ema', 0.998)):g}; "
        "the evaluated and exported weights)"
    )
    parts.append(
        f"augmentation: gain log-uniform ×{float(gain[0]):g}–×{float(gain[1]):g} per exam and ±10 % per "
        "lead, recordings shortened to 7–10 s (as in the CODE exams), baseline wander, white noise, "
        "shifts of ±40 ms"
    )
    return f"{start}: " + "; ".join(parts) + "."


def recipe_of(run: Path) -> dict:
    """The training recipe a run recorded (``recipe.json``), or {}."""
    path = run / "recipe.json"
    return json.loads(path.read_text()) if path.is_file() else {}


if __name__ == "__main__":
    raise SystemExit(main())
