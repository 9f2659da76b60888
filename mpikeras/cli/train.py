"""`mpikeras train recovery|reconstruction`: a task head, wo-CL or CL (resumable)."""

from __future__ import annotations

import argparse

from mpikeras.cli._common import (
    add_training_arguments,
    config_dict,
    verbosity,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the recovery or reconstruction head (with --encoder: CL, else wo-CL)",
        description="Train a task head on the encoder. Without --encoder the encoder is trained "
        "from scratch with the head (wo-CL); with --encoder RUN_DIR/encoder.keras the "
        "pretrained encoder is fine-tuned (CL) or kept fixed (--freeze-encoder). Writes "
        "model.keras (best epoch) and the run files into --out; rerun to resume.",
    )
    p.add_argument("task", choices=("recovery", "reconstruction"))
    p.add_argument("--encoder", help="pretrained encoder (encoder.keras of a pretrain run)")
    p.add_argument("--freeze-encoder", action="store_true", help="keep the encoder's weights fixed")
    p.add_argument(
        "--bracket",
        action="store_true",
        help="recovery from the two voxels bracketing the target (beyond the paper)",
    )
    p.add_argument(
        "--contrastive-weight",
        type=float,
        help="weight of an auxiliary NT-Xent loss during fine-tuning (default 0: off)",
    )
    p.add_argument(
        "--label-fraction",
        type=float,
        help="train on this share of the labelled training pairs (recovery) or voxels "
        "(reconstruction), a seeded subset nested across fractions (default 1)",
    )
    add_training_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mpikeras.config import FinetuneConfig
    from mpikeras.errors import ConfigError
    from mpikeras.experiments.results import Task, trained_method
    from mpikeras.experiments.table import Table
    from mpikeras.training.finetune import finetune
    from mpikeras.training.run_directory import MODEL

    extra = {"task": args.task}
    if args.encoder:
        extra["pretrained_encoder"] = args.encoder
    if args.freeze_encoder:
        extra["freeze_encoder"] = True
    if args.bracket:
        if args.task != "recovery":
            raise ConfigError("recovery_input", "--bracket applies to the recovery task only")
        extra["recovery_input"] = "bracket"
    if args.contrastive_weight is not None:
        extra["contrastive_weight"] = args.contrastive_weight
    if args.label_fraction is not None:
        extra["label_fraction"] = args.label_fraction
    config = FinetuneConfig.from_dict(config_dict(args, extra))
    result = finetune(config, args.out, pipeline=args.pipeline, verbose=verbosity(args))
    method = trained_method(Task(args.task), bool(config.pretrained_encoder), args.bracket)
    losses = result.history.get("val_loss", [])
    if losses:
        best = min(range(len(losses)), key=losses.__getitem__)
        row = (args.task, method.label, str(best + 1), f"{losses[best]:.4g}")
        print(Table(("task", "method", "best epoch", "val loss"), (row,)).text())
    print(
        f"wrote {result.run_dir / MODEL} ({args.task}, {method.label}; run files in "
        f"{result.run_dir})"
    )
    return 0
