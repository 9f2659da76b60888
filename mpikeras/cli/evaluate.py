"""`mpikeras evaluate`: the paper's protocol for trained models."""

from __future__ import annotations

import argparse
from pathlib import Path

from mpikeras.cli._common import add_overwrite_argument, refuse_existing


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate trained recovery / reconstruction models with the paper's protocol",
        description="Run the test protocol (recovery on every 2nd x / 4th y voxel of the test "
        "SM, phantom reconstructions, direct reconstruction of single voxels) for the given "
        "models beside copy / interpolation baselines and classic Kaczmarz, and write "
        "results.json, figure2.png, figure3.png and report.md into --out.",
    )
    p.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="LABEL=PATH",
        help="a trained model.keras, repeatable (e.g. wo-CL=runs/rec/model.keras); "
        "the task is read from the model",
    )
    p.add_argument("--train-sm", required=True, help="training SM (MDF), for classic baselines")
    p.add_argument("--test-sm", required=True, help="test SM (MDF), e.g. the 37 x 37 calibration")
    p.add_argument("--measurement", help="resolution phantom measured on the test scanner")
    p.add_argument("--out", required=True, help="output directory")
    add_overwrite_argument(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mpikeras.errors import MPIKerasError
    from mpikeras.experiments.evaluate import evaluate
    from mpikeras.experiments.protocol_data import ProtocolData
    from mpikeras.experiments.report import (
        FIGURE_RECONSTRUCTION,
        FIGURE_RECOVERY,
        REPORT_MD,
        RESULTS_JSON,
        print_tables,
    )
    from mpikeras.models.saving import load_model

    names = (RESULTS_JSON, REPORT_MD, FIGURE_RECOVERY, FIGURE_RECONSTRUCTION)
    refuse_existing([Path(args.out) / name for name in names], args.overwrite)
    models = {}
    for item in args.model:
        label, sep, path = item.partition("=")
        if not sep or not label or not path:
            raise MPIKerasError(f"--model expects LABEL=PATH, got {item!r}")
        models[label] = load_model(path)
    data = ProtocolData.read(args.train_sm, args.test_sm, args.measurement)
    results = evaluate(models, data, args.out)
    print_tables(results)
    print(f"\nwrote {args.out}/results.json, figure2.png, figure3.png and report.md")
    return 0
