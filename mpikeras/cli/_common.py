"""Helpers shared by the commands: outputs, configuration files and overrides."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mpikeras.config import DISTRIBUTIONS, PRECISIONS, load_config_file
from mpikeras.errors import OutputExistsError


def add_overwrite_argument(p: argparse.ArgumentParser) -> None:
    """`--overwrite`: replace output files that exist (refused otherwise)."""
    p.add_argument(
        "--overwrite", action="store_true", help="replace output files that already exist"
    )


def refuse_existing(paths: Iterable[str | Path], overwrite: bool) -> None:
    """Refuse, before any work, to replace existing outputs unless `overwrite`.

    Raises:
        OutputExistsError: naming the files that exist.
    """
    existing = [str(p) for p in paths if Path(p).exists()]
    if existing and not overwrite:
        raise OutputExistsError(
            f"{', '.join(existing)}: exists already; pass --overwrite to replace it, or "
            "choose another --out"
        )


def add_data_argument(p: argparse.ArgumentParser) -> None:
    """`--data`: the training system matrix."""
    p.add_argument(
        "--data",
        help="training system matrix: an MDF calibration file, or "
        "simulated:<preset> (default simulated:openmpi-2d-19)",
    )


def add_pipeline_argument(p: argparse.ArgumentParser) -> None:
    """`--pipeline`: tf.data or PyDataset input streams."""
    p.add_argument(
        "--pipeline",
        choices=("auto", "tf", "python"),
        default="auto",
        help="input pipeline: tf.data where TensorFlow is installed (auto) or PyDataset",
    )


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    """Options every training command takes."""
    p.add_argument(
        "--config", help="JSON or TOML configuration file (keys as in docs/configuration.md)"
    )
    p.add_argument("--epochs", type=int, help="training epochs (paper: 1000)")
    p.add_argument("--batch-size", type=int, help="batch size (paper: 32)")
    p.add_argument("--seed", type=int, help="seed of weights, voxel split and input streams")
    add_data_argument(p)
    p.add_argument("--out", required=True, help="run directory (rerun to resume)")
    p.add_argument(
        "--distribution",
        choices=DISTRIBUTIONS,
        help="data_parallel: one replica per GPU (or logical CPU device) of this machine; "
        "multi_worker: the devices of several processes, the cluster read from "
        "KERAS_DISTRIBUTION_* (JAX) or TF_CONFIG (TensorFlow); --batch-size is the global "
        "batch (JAX or TensorFlow backend; default none)",
    )
    p.add_argument(
        "--mixed-precision",
        choices=PRECISIONS,
        help="dtype policy; losses and outputs stay float32; auto: mixed_bfloat16 where the "
        "device computes bfloat16 natively (AMX or AVX512-BF16 CPU, Ampere+ GPU, TPU), else "
        "float32, recorded in RUN_DIR/precision.json (default float32)",
    )
    p.add_argument(
        "--jit-compile",
        choices=("auto", "true", "false"),
        help="compile the train step with XLA / jax.jit (default auto: Keras decides)",
    )
    add_pipeline_argument(p)
    p.add_argument(
        "--quiet", action="store_true", help="one line per epoch instead of a progress bar"
    )


def config_dict(args: argparse.Namespace, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Configuration file (if any) with the command-line options applied on top."""
    data = load_config_file(args.config) if args.config else {}
    overrides = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "distribution": args.distribution,
        "mixed_precision": args.mixed_precision,
        "jit_compile": args.jit_compile,
    }
    data.update({k: v for k, v in overrides.items() if v is not None})
    if args.data is not None:
        table = data.get("data", {})
        # A `data` that is not a table is left for the configuration to refuse.
        data["data"] = {**table, "source": args.data} if isinstance(table, dict) else table
    data.update(extra or {})
    return data


def verbosity(args: argparse.Namespace) -> str | int:
    return 2 if args.quiet else "auto"
