"""`mpikeras tune`: a KerasTuner search over the augmentations, or the ablation runner.

The tuning package defines this command itself and registers it with the
`mpikeras` command line through the `mpikeras.commands` entry point group
(setup.cfg), so mpikeras never imports tuning. The search and the ablations
are imported inside `run`: the parser loads without KerasTuner.
`python -m mpikeras.tuning` takes the same options.
"""

from __future__ import annotations

import argparse

from mpikeras.cli._common import add_data_argument, add_pipeline_argument

TASK_CHOICES = ("recovery", "reconstruction")
TUNER_CHOICES = ("random", "bayesian", "hyperband")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tune",
        help="search augmentation ranges and model knobs (KerasTuner), or run the ablations",
        description="Search: each trial pretrains the encoder with the trial's augmentations, "
        "fine-tunes the --task head briefly and scores the head's validation MSE (minimised). "
        "Writes trials.csv, trials.md (ranked) and best_config.json (for mpikeras pretrain "
        "--config) into --out; rerun with a larger --max-trials to continue. With --ablation: "
        "wo-CL vs CL, CL vs more data, each augmentation left out, joint training of both "
        "heads, over --seeds seeds, as ablation.md / .csv / .json.",
    )
    add_arguments(p)
    p.set_defaults(run=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `mpikeras tune` (and `python -m mpikeras.tuning`)."""
    p.add_argument(
        "--task",
        choices=TASK_CHOICES,
        help="head whose validation MSE scores a trial (required for a search; with "
        "--ablation: only this task's heads)",
    )
    p.add_argument("--max-trials", type=int, help="trials in total, counting earlier runs")
    p.add_argument("--out", required=True, help="output directory (rerun to resume)")
    p.add_argument(
        "--tuner",
        choices=TUNER_CHOICES,
        help="random (default), bayesian (needs scikit-learn) or hyperband (pretraining "
        "epochs as its budget)",
    )
    add_data_argument(p)
    p.add_argument(
        "--config",
        help="JSON or TOML pretraining configuration: the settings that are not searched "
        "(a best_config.json of an earlier search works)",
    )
    p.add_argument(
        "--pretrain-epochs", type=int, default=10, help="pretraining epochs per trial or run"
    )
    p.add_argument(
        "--finetune-epochs", type=int, default=10, help="fine-tuning epochs per trial or run"
    )
    p.add_argument("--seed", type=int, help="seed of weights, voxel split, streams and tuner")
    p.add_argument("--ablation", action="store_true", help="run the ablation table instead")
    p.add_argument("--seeds", type=int, help="ablation: number of seeds (default 1)")
    p.add_argument(
        "--test-sm",
        help="ablation: test SM (MDF) of the paper's protocol (default: the simulated "
        "37 x 37 SM, for simulated training data only)",
    )
    p.add_argument(
        "--no-protocol",
        action="store_true",
        help="ablation: score by validation MSE only, without the paper's protocol",
    )
    add_pipeline_argument(p)
    p.add_argument("--verbose", action="store_true", help="Keras progress bars of every training")


def _base_config(args: argparse.Namespace):
    from mpikeras.config import PretrainConfig, load_config_file

    data = load_config_file(args.config) if args.config else {}
    if args.seed is not None:
        data["seed"] = args.seed
    if args.data is not None:
        data["data"] = {**data.get("data", {}), "source": args.data}
    return PretrainConfig.from_dict(data)


def run(args: argparse.Namespace) -> int:
    from mpikeras.errors import MPIKerasError

    for flag, value in (
        ("--pretrain-epochs", args.pretrain_epochs),
        ("--finetune-epochs", args.finetune_epochs),
    ):
        if value < 1:
            raise MPIKerasError(f"{flag} must be at least 1, got {value}")
    if args.ablation:
        wrong = [f for f, v in (("--max-trials", args.max_trials), ("--tuner", args.tuner)) if v]
        if wrong:
            raise MPIKerasError(f"{' and '.join(wrong)} apply to a search, not to --ablation")
        return _run_ablation(args)
    wrong = [
        flag
        for flag, value in (
            ("--seeds", args.seeds),
            ("--test-sm", args.test_sm),
            ("--no-protocol", args.no_protocol),
        )
        if value
    ]
    if wrong:
        raise MPIKerasError(f"{' and '.join(wrong)} apply to --ablation, not to a search")
    if args.task is None:
        raise MPIKerasError("a search needs --task recovery|reconstruction (or use --ablation)")
    if args.max_trials is None or args.max_trials < 1:
        raise MPIKerasError(f"a search needs --max-trials N with N >= 1, got {args.max_trials}")
    return _run_search(args)


def _require_keras_tuner() -> None:
    """Refuse with an error that says how to get KerasTuner where it is missing."""
    import importlib.util

    from mpikeras.errors import MPIKerasError

    if importlib.util.find_spec("keras_tuner") is None:
        raise MPIKerasError(
            "tune needs keras-tuner, installed with mpikeras (pip install .), which is missing"
        )


def _run_search(args: argparse.Namespace) -> int:
    _require_keras_tuner()
    from .search import run_search

    result = run_search(
        args.out,
        task=args.task,
        max_trials=args.max_trials,
        tuner=args.tuner or "random",
        base=_base_config(args),
        pretrain_epochs=args.pretrain_epochs,
        finetune_epochs=args.finetune_epochs,
        pipeline=args.pipeline,
        verbose="auto" if args.verbose else 0,
    )
    objective = result.tuner.oracle.objective.name
    ranked = [r for r in result.rows if r["rank"] is not None]
    print(
        f"wrote {result.paths['csv']} and {result.paths['markdown']} ({len(result.rows)} "
        f"trials, {len(ranked)} completed, ranked by {objective}; KerasTuner project in "
        f"{result.paths['project']}; rerun with a larger --max-trials to continue)"
    )
    if ranked:
        best = ranked[0]
        print(
            f"wrote {result.paths['best_config']} (trial {best['trial']}, {objective} "
            f"{best[objective]:.4g}): mpikeras pretrain --config {result.paths['best_config']} "
            "--out RUN_DIR"
        )
    return 0


def _run_ablation(args: argparse.Namespace) -> int:
    from mpikeras.experiments.ablation import run_ablation

    tasks = (args.task,) if args.task else TASK_CHOICES
    result = run_ablation(
        args.out,
        base=_base_config(args),
        seeds=1 if args.seeds is None else args.seeds,
        pretrain_epochs=args.pretrain_epochs,
        finetune_epochs=args.finetune_epochs,
        tasks=tasks,
        protocol=not args.no_protocol,
        test_sm=args.test_sm,
        pipeline=args.pipeline,
        verbose="auto" if args.verbose else 0,
    )
    print(result.table().text())
    print(
        f"wrote {result.paths['markdown']}, {result.paths['csv']} and {result.paths['json']} "
        f"(runs in {args.out}/seed-*; rerun to resume)"
    )
    return 0
