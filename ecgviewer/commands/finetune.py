"""``ecgviewer finetune --base MODEL --data PATH... --labels L.csv --classes NAME[,NAME...] --out NEW.onnx``.

Needs the ``train`` extra (PyTorch), imported only when the command runs.
"""

from __future__ import annotations

import argparse
import sys

from ecgviewer.errors import ModelError

NAME = "finetune"
HELP = (
    "Fine-tune a model of the paper's architecture (an installed model, an .onnx or a Keras .hdf5) to new "
    "classes, as the autoECG study did: a new head, the early layers frozen, class-weighted loss, a "
    "validation split by patient where the labels have patient ids, thresholds chosen on it; exports ONNX "
    "with a full contract. Needs the 'train' extra (pip install 'ecgviewer[train]')."
)


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base", required=True, metavar="MODEL", help="base model: .onnx, .hdf5 or an installed name"
    )
    parser.add_argument("--data", required=True, nargs="+", metavar="PATH", help="ECG files or folders")
    parser.add_argument(
        "--labels",
        required=True,
        metavar="LABELS.csv",
        help="CSV: an exam id column and a 0/1 column per class",
    )
    parser.add_argument(
        "--classes",
        required=True,
        nargs="+",
        metavar="NAME[,NAME...]",
        help="the new model's classes: NAME (the column of that name), NAME=COLUMN, or NAME=!COLUMN "
        "(1 where COLUMN is 0), e.g. normal=NORM,abnormal=!NORM",
    )
    parser.add_argument("--out", required=True, metavar="NEW.onnx", help="the fine-tuned model")
    parser.add_argument("--name", help="the new model's name (default: '<base> fine-tuned (<classes>)')")
    parser.add_argument(
        "--freeze",
        type=int,
        default=4,
        metavar="K",
        help="freeze the first convolution and residual blocks 1..K (0-4; default 4: the whole backbone, "
        "only the new head is trained)",
    )
    parser.add_argument("--epochs", type=int, default=30, help="epochs (default 30)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    parser.add_argument("--no-class-weights", action="store_true", help="unweighted loss")
    parser.add_argument(
        "--valid-fraction",
        type=float,
        default=0.15,
        help="share of patients (or exams) held out (default 0.15)",
    )
    parser.add_argument("--valid-where", metavar="COL=VALUES", help="validation rows, e.g. strat_fold=9")
    parser.add_argument("--train-where", metavar="COL=VALUES", help="training rows, e.g. strat_fold=1-8")
    parser.add_argument("--limit", type=int, help="at most this many training exams (a random subset)")
    parser.add_argument(
        "--valid-limit", type=int, help="at most this many validation exams (a random subset)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--checkpoint",
        metavar="DIR",
        help="cached features and per-epoch checkpoint (default: NEW.finetune/)",
    )
    parser.add_argument("--threads", type=int, help="PyTorch threads")
    parser.add_argument(
        "--random-init",
        action="store_true",
        help="baseline: the base's architecture with random weights (to measure what pre-training brings)",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ecgviewer.model.ensemble import resolve_model

    try:  # the train extra; the frozen app leaves it out
        from ecgviewer.training.finetune import FinetuneConfig, finetune
    except ImportError as err:
        raise ModelError(
            f"finetune needs PyTorch, which is in the 'train' extra: pip install 'ecgviewer[train]' ({err})"
        ) from None

    base = args.base
    if not Path(base).is_file():
        base = str(resolve_model(base))
    cfg = FinetuneConfig(
        base=base,
        data=list(args.data),
        labels=args.labels,
        classes=list(args.classes),
        out=args.out,
        freeze=args.freeze,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        class_weights=not args.no_class_weights,
        valid_fraction=args.valid_fraction,
        valid_where=args.valid_where,
        train_where=args.train_where,
        limit=args.limit,
        valid_limit=args.valid_limit,
        seed=args.seed,
        name=args.name,
        checkpoint=args.checkpoint,
        threads=args.threads,
        random_init=args.random_init,
    )
    last = {"features": -1}

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "features":
            tenth = done * 20 // max(total, 1)
            if tenth > last["features"]:
                last["features"] = tenth
                print(f"features: {done}/{total} exams", file=sys.stderr, flush=True)

    result = finetune(cfg, progress=progress, log=lambda m: print(m, file=sys.stderr, flush=True))
    c = result.contract
    v = result.metrics
    print(f"wrote {result.out}: {c.name}, classes {', '.join(c.classes)}")
    print(f"  validation ({result.split}; {result.n_valid} exams), training {result.n_train} exams")
    for name, t in zip(c.classes, c.thresholds, strict=True):
        print(
            f"  {name}: threshold {t:.4f}, AUROC {v['auroc'][name]}, F1 {v['f1'][name]}, "
            f"precision {v['precision'][name]}, recall {v['recall'][name]} ({v['n_positive'][name]} positive)"
        )
    print(f"  {result.seconds:.0f} s")
    return 0
