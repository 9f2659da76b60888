"""`mpikeras reproduce`: the whole paper protocol, from simulation to the results table."""

from __future__ import annotations

import argparse

from mpikeras.cli._common import add_pipeline_argument


def add_parser(sub: argparse._SubParsersAction) -> None:
    from mpikeras.simulation.scenarios import DEFAULT_SCENARIO, SCENARIOS

    p = sub.add_parser(
        "reproduce",
        help="run the paper's protocol end to end on simulated data",
        description="Simulate the OpenMPIData training and test system matrices and the "
        "resolution phantom (cached in OUT/data), pretrain the encoder, train the recovery and "
        "reconstruction heads without (wo-CL) and with (CL) contrastive pretraining, evaluate "
        "them against baselines and classic Kaczmarz, and write results.json, figure2.png, "
        "figure3.png and report.md into OUT. Rerunning resumes an interrupted run.",
    )
    p.add_argument(
        "--preset",
        choices=("quick", "paper"),
        default="quick",
        help="quick: minutes on a CPU; paper: the paper's 1000 epochs (for a GPU)",
    )
    p.add_argument("--seeds", type=int, default=1, help="training seeds (default 1)")
    p.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        default=DEFAULT_SCENARIO,
        help=f"simulated training/test pair (default {DEFAULT_SCENARIO}; see docs/simulator.md)",
    )
    p.add_argument("--out", default="results", help="output directory (default ./results)")
    add_pipeline_argument(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mpikeras.errors import MPIKerasError
    from mpikeras.experiments.report import print_tables
    from mpikeras.experiments.reproduce import reproduce

    if args.seeds < 1:
        raise MPIKerasError(f"--seeds must be at least 1, got {args.seeds}")
    results = reproduce(
        args.out, args.preset, args.seeds, pipeline=args.pipeline, scenario=args.scenario
    )
    print()
    print_tables(results)
    print(
        f"\nwrote {args.out}/results.json, figure2.png, figure3.png and report.md "
        f"({results.elapsed_s:.0f} s)"
    )
    return 0
