"""Running a search: the tuner, resuming, progress, the ranked table and the best config.

Layout of OUT:

- `search.json`: the settings of the search (task, tuner, budgets, base
  config, ranges); a rerun with other settings is refused.
- `search/`: the KerasTuner project (oracle state, one folder per trial).
- `trials.csv`, `trials.md`: every trial ranked by the objective.
- `best_config.json`: the best trial's pretraining configuration, a file
  `mpikeras pretrain --config` takes.

A rerun in the same OUT reloads the project (`overwrite=False`): finished
trials are kept, and the search continues up to the new `max_trials`.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import io
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras_tuner as kt

from mpikeras.config import PretrainConfig
from mpikeras.errors import ConfigError
from mpikeras.io.atomic import write_text_atomic
from mpikeras.training.run_directory import bind_settings

from .hypermodel import ContrastiveHyperModel, SearchSpace, describe, objective

#: Tuner names accepted by `run_search` (and `mpikeras tune --tuner`).
TUNERS = ("random", "bayesian", "hyperband")
SETTINGS = "search.json"
PROJECT = "search"
TRIALS_CSV = "trials.csv"
TRIALS_MD = "trials.md"
BEST_CONFIG = "best_config.json"


class _Progress:
    """Tuner mixin: one line when a trial starts and one when it ends."""

    log: Callable[[str], None] = print

    def on_trial_begin(self, trial: kt.engine.trial.Trial) -> None:
        super().on_trial_begin(trial)
        self._trial_started = time.monotonic()
        hp = trial.hyperparameters
        total = self.oracle.max_trials
        count = f"{len(self.oracle.trials)} of {total}" if total else f"{len(self.oracle.trials)}"
        budget = ""
        if "tuner/epochs" in hp.values:
            budget = (
                f" [pretraining epochs {hp.values['tuner/initial_epoch']}"
                f"..{hp.values['tuner/epochs']}]"
            )
        self.log(f"trial {trial.trial_id} ({count}){budget}: {describe(hp.values, hp.is_active)}")

    def on_trial_end(self, trial: kt.engine.trial.Trial) -> None:
        super().on_trial_end(trial)
        elapsed = time.monotonic() - getattr(self, "_trial_started", time.monotonic())
        name = self.oracle.objective.name
        if trial.status == kt.engine.trial.TrialStatus.COMPLETED and trial.score is not None:
            best = self.oracle.get_best_trials(1)[0]
            self.log(
                f"trial {trial.trial_id} done in {elapsed:.0f} s: {name} {trial.score:.4g} "
                f"(best so far {best.score:.4g}, trial {best.trial_id})"
            )
        else:
            self.log(f"trial {trial.trial_id} {trial.status.lower()} after {elapsed:.0f} s")


class RandomSearch(_Progress, kt.RandomSearch):
    """`keras_tuner.RandomSearch` printing one line per trial."""


class BayesianOptimization(_Progress, kt.BayesianOptimization):
    """`keras_tuner.BayesianOptimization` printing one line per trial."""


class Hyperband(_Progress, kt.Hyperband):
    """`keras_tuner.Hyperband` printing one line per trial."""


def build_tuner(
    hypermodel: ContrastiveHyperModel,
    kind: str,
    out_dir: str | Path,
    *,
    max_trials: int,
    seed: int = 0,
    initial_points: int = 5,
    log: Callable[[str], None] = print,
) -> kt.Tuner:
    """A tuner over `hypermodel` whose project lives in `out_dir/search` (reloaded if there).

    Args:
        hypermodel: the hypermodel.
        kind: "random", "bayesian" or "hyperband".
        out_dir: the search's output directory.
        max_trials: trials in total (Hyperband stops there too).
        seed: the oracle's seed.
        initial_points: random trials before Bayesian optimisation models
            the objective.
        log: where progress lines go.

    Returns:
        The tuner (`overwrite=False`: an existing project is resumed).

    Raises:
        ConfigError: for an unknown tuner or a non-positive `max_trials`.
    """
    if kind not in TUNERS:
        raise ConfigError("tuner", f"expected one of {list(TUNERS)}, got {kind!r}")
    if isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < 1:
        raise ConfigError("max_trials", f"expected a positive number of trials, got {max_trials!r}")
    common = {
        "objective": objective(hypermodel.task),
        "seed": seed + 1,  # KerasTuner replaces a seed of 0 by a random one
        "directory": str(out_dir),
        "project_name": PROJECT,
        "overwrite": False,
    }
    if kind == "random":
        tuner = RandomSearch(hypermodel, max_trials=max_trials, **common)
    elif kind == "bayesian":
        if importlib.util.find_spec("sklearn") is None:
            raise ConfigError(
                "tuner",
                "the bayesian tuner needs scikit-learn, which is not installed "
                "(pip install scikit-learn, or keras-tuner[bayesian])",
            )
        tuner = BayesianOptimization(
            hypermodel, max_trials=max_trials, num_initial_points=initial_points, **common
        )
    else:
        tuner = Hyperband(hypermodel, max_epochs=hypermodel.pretrain_epochs, factor=3, **common)
        # Hyperband's oracle has no trial cap of its own and stops after its iterations
        # (also restored from a reloaded project): sweep on, up to max_trials.
        tuner.oracle.max_trials = max_trials
        tuner.oracle.hyperband_iterations = float("inf")
    tuner.log = log
    return tuner


@dataclasses.dataclass
class SearchResult:
    """What `run_search` produced.

    Args:
        tuner: the tuner (its oracle holds every trial).
        rows: the ranked trials, best first (as in `trials.csv`).
        best_config: the best trial's pretraining config, or `None` if no
            trial completed.
        paths: "csv", "markdown", "best_config", "project" -> path.
    """

    tuner: kt.Tuner
    rows: list[dict[str, Any]]
    best_config: PretrainConfig | None
    paths: dict[str, Path]


def run_search(
    out_dir: str | Path,
    *,
    task: str,
    max_trials: int,
    tuner: str = "random",
    base: PretrainConfig | None = None,
    pretrain_epochs: int = 10,
    finetune_epochs: int = 10,
    space: SearchSpace | None = None,
    initial_points: int = 5,
    pipeline: str = "auto",
    verbose: str | int = 0,
    log: Callable[[str], None] = print,
) -> SearchResult:
    """Search augmentation ranges and model knobs for the best downstream validation MSE.

    Resumable: a rerun with the same settings reloads the KerasTuner project
    in `out_dir/search` and runs only the trials still missing up to
    `max_trials`; the tables and the best config are rewritten at the end.

    Example:

    >>> result = run_search("runs/tune", task="recovery", max_trials=20)   # doctest: +SKIP
    >>> result.rows[0]["val_recovery_mse"]                                 # doctest: +SKIP

    Args:
        out_dir: output directory.
        task: "recovery" or "reconstruction" (the head that scores trials).
        max_trials: trials in total, counting those of earlier runs.
        tuner: "random", "bayesian" or "hyperband".
        base: everything not searched; `PretrainConfig()` by default.
        pretrain_epochs: pretraining epochs per trial (Hyperband's maximum).
        finetune_epochs: fine-tuning epochs per trial.
        space: the search ranges.
        initial_points: random trials before Bayesian optimisation starts.
        pipeline: "auto", "tf" or "python".
        verbose: Keras verbosity of every training (0: only the trial lines).
        log: where progress lines go.

    Returns:
        A `SearchResult`.

    Raises:
        ConfigError: for an unknown task or tuner, or bad budgets.
        RunDirectoryError: if `out_dir` holds a search with other settings.
    """
    base = base or PretrainConfig()
    space = space or SearchSpace()
    out = Path(out_dir)
    hypermodel = ContrastiveHyperModel(
        task,
        base,
        pretrain_epochs=pretrain_epochs,
        finetune_epochs=finetune_epochs,
        space=space,
        pipeline=pipeline,
        verbose=verbose,
    )
    if tuner not in TUNERS:
        raise ConfigError("tuner", f"expected one of {list(TUNERS)}, got {tuner!r}")
    settings = {
        "task": task,
        "tuner": tuner,
        "objective": hypermodel.objective_name,
        "direction": "min",
        "pretrain_epochs": pretrain_epochs,
        "finetune_epochs": finetune_epochs,
        "initial_points": initial_points if tuner == "bayesian" else None,
        "base": base.to_dict(),
        "space": space.to_dict(),
    }
    bind_settings(out / SETTINGS, settings, what="a search with other settings")
    search_tuner = build_tuner(
        hypermodel,
        tuner,
        out,
        max_trials=max_trials,
        seed=base.seed,
        initial_points=initial_points,
        log=log,
    )
    done = sum(t.status == "COMPLETED" for t in search_tuner.oracle.trials.values())
    log(
        f"{tuner} search on {task} ({hypermodel.objective_name}, minimised): "
        f"{len(search_tuner.oracle.trials)} trial(s) so far ({done} completed), up to "
        f"{max_trials}; pretraining {pretrain_epochs} and fine-tuning {finetune_epochs} "
        f"epochs per trial; KerasTuner project in {out / PROJECT}"
    )
    search_tuner.search(verbose=verbose)
    return write_results(search_tuner, hypermodel, out)


def write_results(
    tuner: kt.Tuner, hypermodel: ContrastiveHyperModel, out_dir: str | Path
) -> SearchResult:
    """Write `trials.csv`, `trials.md` and `best_config.json` for a tuner's trials."""
    out = Path(out_dir)
    rows = ranked_trials(tuner)
    paths = {
        "csv": out / TRIALS_CSV,
        "markdown": out / TRIALS_MD,
        "project": out / PROJECT,
    }
    columns = trial_columns(tuner)
    write_text_atomic(paths["csv"], format_csv(rows, columns))
    write_text_atomic(
        paths["markdown"], format_trials_markdown(rows, columns, tuner.oracle.objective.name)
    )
    best = None
    ranked = [r for r in rows if r["rank"] is not None]
    if ranked:
        trial = tuner.oracle.get_trial(ranked[0]["trial"])
        best = hypermodel.trial_config(trial.hyperparameters.copy())
        paths["best_config"] = out / BEST_CONFIG
        write_text_atomic(paths["best_config"], json.dumps(best.to_dict(), indent=2) + "\n")
    return SearchResult(tuner, rows, best, paths)


def trial_columns(tuner: kt.Tuner) -> list[str]:
    """Columns of the trial table: rank, id, status, metrics, then every hyperparameter."""
    name = tuner.oracle.objective.name
    metrics = [name, f"{name}_last", "pretrain_val_loss"]
    hps = [hp.name for hp in tuner.oracle.get_space().space]
    trials = tuner.oracle.trials.values()
    hyperband = any("tuner/epochs" in t.hyperparameters.values for t in trials)
    extra = ["tuner/epochs"] if hyperband else []
    return ["rank", "trial", "status", *metrics, *hps, *extra]


def ranked_trials(tuner: kt.Tuner) -> list[dict[str, Any]]:
    """Every trial as a row, completed ones sorted by the objective (best first).

    Trials that failed or did not finish follow, in the order they started;
    their rank is empty. Inactive hyperparameters (an augmentation switched
    off) are empty cells.
    """
    oracle = tuner.oracle
    name = oracle.objective.name
    reverse = oracle.objective.direction == "max"
    order = {trial_id: i for i, trial_id in enumerate(oracle.start_order)}
    completed, others = [], []
    for trial in oracle.trials.values():
        hp = trial.hyperparameters
        row: dict[str, Any] = {"rank": None, "trial": trial.trial_id, "status": trial.status}
        for metric in (name, f"{name}_last", "pretrain_val_loss"):
            value = None
            if trial.metrics.exists(metric):
                value = trial.metrics.get_last_value(metric)
            row[metric] = value
        if trial.score is not None:
            row[name] = trial.score
        for key, value in hp.values.items():
            if key == "tuner/epochs" or (not key.startswith("tuner/") and hp.is_active(key)):
                row[key] = value
        usable = (
            trial.status == "COMPLETED"
            and row[name] is not None
            and math.isfinite(float(row[name]))
        )
        (completed if usable else others).append(row)
    completed.sort(key=lambda r: (float(r[name]), order.get(r["trial"], 0)), reverse=reverse)
    others.sort(key=lambda r: order.get(r["trial"], 0))
    for rank, row in enumerate(completed, start=1):
        row["rank"] = rank
    return completed + others


def format_csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in columns})
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_trials_markdown(rows: list[dict[str, Any]], columns: list[str], objective: str) -> str:
    """The ranked trials as a Markdown table, with a line on how to read it."""
    lines = [
        "# Trials",
        "",
        f"Ranked by `{objective}` (validation MSE of the task head after a short fine-tune on "
        "the pretrained encoder; lower is better). Empty cells: an augmentation switched off "
        "(its other settings unused) or a trial that did not complete.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"
