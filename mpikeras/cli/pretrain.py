"""`mpikeras pretrain`: contrastive pretraining of the encoder (resumable)."""

from __future__ import annotations

import argparse

from mpikeras.cli._common import add_training_arguments, config_dict, verbosity


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pretrain",
        help="pretrain the encoder with NT-Xent on augmented SM columns and combinations",
        description="SimCLR-style pretraining (paper defaults: batch 32, Adam 1e-4, 1000 "
        "epochs). Writes encoder.keras (best epoch), config.json, normalization.json, "
        "history.json, checkpoints/ and logs/ (TensorBoard) into --out. Rerunning the same "
        "command resumes after the last checkpoint (every 30 s and after the last epoch).",
    )
    p.add_argument(
        "--unlabelled",
        nargs="+",
        metavar="MDF",
        help="more calibration files: every column of every z slice joins the training side "
        "of pretraining (same frequencies and channels as --data)",
    )
    add_training_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mpikeras.config import PretrainConfig
    from mpikeras.training.pretrain import pretrain
    from mpikeras.training.run_directory import ENCODER

    config = config_dict(args)
    if args.unlabelled:
        table = config.get("data", {})
        if isinstance(table, dict):  # anything else is left for the configuration to refuse
            config["data"] = {**table, "unlabelled": args.unlabelled}
    config = PretrainConfig.from_dict(config)
    result = pretrain(config, args.out, pipeline=args.pipeline, verbose=verbosity(args))
    epochs = len(result.history.get("loss", []))
    print(
        f"wrote {result.run_dir / ENCODER} ({epochs} epochs; history, checkpoints and "
        f"TensorBoard logs in {result.run_dir})"
    )
    return 0
