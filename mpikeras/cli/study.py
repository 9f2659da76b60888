"""`mpikeras study contrastive`: does contrastive pretraining help? (label efficiency, pools)."""

from __future__ import annotations

import argparse

from mpikeras.cli._common import add_pipeline_argument


def add_parser(sub: argparse._SubParsersAction) -> None:
    from mpikeras.experiments.contrastive_results import POOLS
    from mpikeras.experiments.contrastive_study import STUDY_PRESETS
    from mpikeras.simulation.scenarios import DEFAULT_SCENARIO, SCENARIOS

    p = sub.add_parser(
        "study",
        help="studies beyond the paper's protocol (contrastive: does pretraining help?)",
        description="contrastive: on a simulated scenario, pretrain one encoder per unlabelled "
        f"pool ({', '.join(POOLS)}), train the recovery head wo-CL and CL on 5 to 100 %% of "
        "the labelled pairs (encoder fine-tuned or frozen; and with NT-Xent kept on), over "
        "paired seeds, and write results.json, study.md (tables, paired 95 %% intervals) and "
        "contrastive.png into OUT. Rerunning resumes an interrupted study.",
    )
    p.add_argument("study", choices=("contrastive",))
    p.add_argument(
        "--preset",
        choices=sorted(STUDY_PRESETS),
        default="cpu",
        help="smoke: a few minutes, to check it works; cpu: the CPU-sized study (default); "
        "paper: the paper's sizes and 1000 epochs everywhere (for a GPU)",
    )
    p.add_argument("--seeds", type=int, help="paired seeds (default: the preset's)")
    p.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        default=DEFAULT_SCENARIO,
        help=f"simulated training/test pair (default {DEFAULT_SCENARIO}; see docs/simulator.md)",
    )
    p.add_argument("--out", required=True, help="output directory (rerun to resume)")
    add_pipeline_argument(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mpikeras.experiments.contrastive_report import study_markdown, write_study_outputs
    from mpikeras.experiments.contrastive_study import contrastive_study

    results = contrastive_study(
        args.out, args.preset, args.seeds, scenario=args.scenario, pipeline=args.pipeline
    )
    written = write_study_outputs(results, args.out)
    print()
    print(study_markdown(results))
    names = ", ".join(p.name for p in written)
    print(f"\nwrote {args.out}/results.json, {names} ({results.elapsed_s:.0f} s)")
    return 0
