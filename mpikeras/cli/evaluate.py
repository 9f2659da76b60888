"""`mpikeras evaluate`: the paper's protocol for trained models."""

from __future__ import annotations

import argparse


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
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import keras

    from mpikeras.errors import MPIKerasError
    from mpikeras.evaluation.protocol import ProtocolSettings
    from mpikeras.evaluation.report import aggregate
    from mpikeras.evaluation.reproduce import (
        ProtocolData,
        evaluate_models,
        print_tables,
        write_outputs,
    )
    from mpikeras.io import read_measurement, read_system_matrix
    from mpikeras.models.heads import DirectReconstruction
    from mpikeras.models.saving import load_model

    recovery, reconstruction = {}, {}
    for item in args.model:
        label, sep, path = item.partition("=")
        if not sep or not label or not path:
            raise MPIKerasError(f"--model expects LABEL=PATH, got {item!r}")
        model = load_model(path)
        (reconstruction if isinstance(model, DirectReconstruction) else recovery)[label] = model
    data = ProtocolData(
        read_system_matrix(args.train_sm, z_slice="central"),
        read_system_matrix(args.test_sm, z_slice="central"),
        read_measurement(args.measurement) if args.measurement else None,
        {"train_sm": Path(args.train_sm), "test_sm": Path(args.test_sm)},
    )
    rec, con = evaluate_models(recovery, reconstruction, data, ProtocolSettings())
    results = {
        "preset": "evaluate",
        "description": "models given on the command line",
        "seeds": 1,
        "backend": keras.backend.backend(),
        "data": {k: str(v) for k, v in data.paths.items()},
        "recovery": {
            "voxel_nrmse": aggregate([rec.voxel_nrmse]),
            "phantom_nrmse": rec.phantom_nrmse,
        },
        "reconstruction": {
            "voxel_nrmse": aggregate([con.voxel_nrmse]),
            "example_voxel": list(con.example_voxel),
        },
        "elapsed_s": 0.0,
    }
    out = Path(args.out)
    write_outputs(out, results, (rec, con))
    print_tables(results)
    print(f"\nwrote {out}/results.json, figure2.png, figure3.png and report.md")
    return 0
