"""Helpers shared by the training commands: configuration files and overrides."""

from __future__ import annotations

import argparse
from typing import Any

from mpikeras.config import load_config_file


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    """Options every training command takes."""
    p.add_argument(
        "--config", help="JSON or TOML configuration file (keys as in docs/configuration.md)"
    )
    p.add_argument("--epochs", type=int, help="training epochs (paper: 1000)")
    p.add_argument("--batch-size", type=int, help="batch size (paper: 32)")
    p.add_argument("--seed", type=int, help="seed of weights, voxel split and input streams")
    p.add_argument(
        "--data",
        help="training system matrix: an MDF calibration file, or "
        "simulated:<preset> (default simulated:openmpi-2d-19)",
    )
    p.add_argument("--out", required=True, help="run directory (rerun to resume)")
    p.add_argument(
        "--pipeline",
        choices=("auto", "tf", "python"),
        default="auto",
        help="input pipeline: tf.data where TensorFlow is installed (auto) or PyDataset",
    )
    p.add_argument(
        "--quiet", action="store_true", help="one line per epoch instead of a progress bar"
    )


def config_dict(args: argparse.Namespace, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Configuration file (if any) with the command-line options applied on top."""
    data = load_config_file(args.config) if args.config else {}
    overrides = {"epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed}
    data.update({k: v for k, v in overrides.items() if v is not None})
    if args.data is not None:
        data["data"] = {**data.get("data", {}), "source": args.data}
    data.update(extra or {})
    return data


def verbosity(args: argparse.Namespace) -> str | int:
    return 2 if args.quiet else "auto"
