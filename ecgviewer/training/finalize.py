"""Turn a training run into the bundled model: thresholds, ONNX export, metrics, card.

``python -m ecgviewer.training.finalize --run runs/bundled --data ../shared/data --out models``

1. loads the run's best checkpoint (highest macro AUROC on PTB-XL fold 9);
2. picks per-class thresholds maximising F1 on fold 9 (as the paper picked its thresholds on
   its validation set);
3. exports ONNX with the contract (thresholds, provenance, recipe) and checks it against the
   PyTorch module on the Keras fixture inputs;
4. computes the card's metrics through onnxruntime (:mod:`ecgviewer.model.card`), stores them in
   the ONNX metadata and writes the Markdown card beside the model.
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
from ecgviewer.model.card import card_metrics, metrics_table
from ecgviewer.model.contract import METADATA_KEY, ModelContract
from ecgviewer.model.runtime import clear_model_cache, load_model
from ecgviewer.training.architecture import RibeiroResNet
from ecgviewer.training.data import VALID_FOLD, load_ptbxl
from ecgviewer.training.export import export_onnx, max_abs_difference
from ecgviewer.training.train import best_f1_threshold, lowpass_taps, predict

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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, default=Path("runs/bundled"))
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("models"))
    ap.add_argument("--version", default="1.0")
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
    thresholds = tuple(round(best_f1_threshold(valid.y[:, k], p[:, k])[0], 4) for k in range(len(CLASSES)))
    print("thresholds", dict(zip(CLASSES, thresholds, strict=True)))

    record = saved.get("record", {})
    contract = ModelContract(
        name=MODEL_NAME,
        version=args.version,
        thresholds=thresholds,
        provenance=(
            "Trained by the ecgviewer project (python -m ecgviewer.training.train, seed 20200101) "
            "on PTB-XL folds 1-8 at 100 Hz (Wagner et al., Sci Data 2020, CC BY 4.0); "
            "model and thresholds chosen on fold 9."
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
    contract = ModelContract(**{**contract.__dict__, "metrics": metrics})
    _set_contract(out, contract)
    card = args.out / f"{MODEL_NAME}.md"
    template = (Path(__file__).parent / "card_template.md").read_text()
    card.write_text(
        template.format(
            name=MODEL_NAME,
            version=args.version,
            thresholds=", ".join(f"{c} {t}" for c, t in zip(CLASSES, thresholds, strict=True)),
            metrics=metrics_table(metrics),
            gap=json.dumps(metrics.get("rate_gap_500_vs_100hz"), indent=1),
            parity=f"{parity:.1e}",
            epochs=record.get("epoch"),
            date=date.today(),
        )
    )
    print(f"wrote {out} and {card}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
