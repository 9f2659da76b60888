"""Ablations for the paper's open questions, in one table (mean ± std over seeds).

The paper (section III) leaves open how much each augmentation matters,
whether contrastive pretraining beats simply more training data, and
whether training both tasks together helps. For each seed this runner
trains, on the same data and split:

- wo-CL: the encoder trained from scratch with the head.
- wo-CL, equal epochs: no pretraining, the head trained for the
  pretraining and fine-tuning epochs together (the budget CL spends).
- wo-CL, more combinations: as the row above with a larger share of
  combined samples (reconstruction only: recovery inputs are single columns).
- CL: pretraining with every augmentation, then fine-tuning.
- CL without polarity / noise / gain / combinations: the same with one
  augmentation (or the combined samples) left out of the pretraining.
- joint wo-CL, joint CL: one encoder trained with both heads at once
  (`mpikeras.training.joint`), from scratch or from the CL encoder.

Every model is scored twice: by its MSE on the seed's validation set (the
same samples for every row, drawn with the base settings) and with the
paper's protocol on a test SM (a given one, or the simulated 37 x 37 SM
for simulated training data; its every 2nd voxel must sit on the training
grid) (`mpikeras.evaluation.reproduce.evaluate_models`: NRMSE of the recovered
voxels and of the directly reconstructed single-voxel images), beside the
linear-interpolation and classic-Kaczmarz baselines. Every training is a
resumable run directory, so an interrupted ablation continues where it
stopped.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from mpikeras.config import TASKS, FinetuneConfig, PretrainConfig
from mpikeras.data.sources import load_system_matrix
from mpikeras.data.streams import reconstruction_streams, recovery_streams
from mpikeras.errors import ConfigError, PreprocessingError
from mpikeras.evaluation.protocol import ProtocolSettings
from mpikeras.evaluation.report import format_markdown as markdown_table
from mpikeras.evaluation.reproduce import ProtocolData, evaluate_models
from mpikeras.io.atomic import write_text_atomic
from mpikeras.training.finetune import finetune
from mpikeras.training.joint import train_joint
from mpikeras.training.pretrain import pretrain
from mpikeras.training.run_directory import ENCODER
from mpikeras.training.session import prepare_data

#: The simulated test SM of the protocol (the paper's 37 x 37 grid) and its seed.
DEFAULT_TEST_SM = "simulated:openmpi-2d-37"
TEST_SM_SEED = 1
#: Baselines reported beside the learned rows: task -> (protocol method, row label).
BASELINES = {
    "recovery": ("linear", "linear interpolation (baseline)"),
    "reconstruction": ("classic (train SM)", "classic Kaczmarz, training SM (baseline)"),
}
ABLATION_JSON = "ablation.json"
ABLATION_CSV = "ablation.csv"
ABLATION_MD = "ablation.md"
_PREDICT_BATCH = 64


def _without(augmentation: str) -> Callable[[PretrainConfig], PretrainConfig]:
    def apply(config: PretrainConfig) -> PretrainConfig:
        if augmentation == "combinations":
            return config.replace(combination=config.combination.replace(probability=0.0))
        key = f"{augmentation}_probability"
        return config.replace(augmentation=config.augmentation.replace(**{key: 0.0}))

    return apply


#: Pretraining variants: name -> change of the base pretraining config.
PRETRAININGS: dict[str, Callable[[PretrainConfig], PretrainConfig]] = {
    "all": lambda config: config,
    "no-polarity": _without("polarity"),
    "no-noise": _without("noise"),
    "no-gain": _without("gain"),
    "no-combinations": _without("combinations"),
}


@dataclasses.dataclass(frozen=True)
class AblationRow:
    """One setting of the ablation table.

    Args:
        name: the row label.
        slug: its run-directory name.
        description: what is trained, in a few words.
        pretraining: key of `PRETRAININGS`, or `None` (no pretraining: wo-CL).
        joint: both heads on one encoder at once.
        equal_epochs: the head also trains for the pretraining epochs.
        more_combinations: a larger share of combined samples in fine-tuning.
        tasks: the tasks the row applies to.
    """

    name: str
    slug: str
    description: str
    pretraining: str | None = None
    joint: bool = False
    equal_epochs: bool = False
    more_combinations: bool = False
    tasks: tuple[str, ...] = TASKS


ROWS: tuple[AblationRow, ...] = (
    AblationRow("wo-CL", "wo-cl", "encoder trained from scratch with the head"),
    AblationRow(
        "wo-CL, equal epochs",
        "wo-cl-equal-epochs",
        "no pretraining; the head trains for the pretraining + fine-tuning epochs",
        equal_epochs=True,
    ),
    AblationRow(
        "wo-CL, more combinations",
        "wo-cl-more-combinations",
        "as 'equal epochs', with a larger share of combined samples (more distinct data)",
        equal_epochs=True,
        more_combinations=True,
        tasks=("reconstruction",),
    ),
    AblationRow("CL", "cl", "contrastive pretraining with every augmentation", "all"),
    AblationRow(
        "CL without polarity",
        "cl-no-polarity",
        "pretraining without polarity inversion",
        "no-polarity",
    ),
    AblationRow("CL without noise", "cl-no-noise", "pretraining without added noise", "no-noise"),
    AblationRow("CL without gain", "cl-no-gain", "pretraining without gain reduction", "no-gain"),
    AblationRow(
        "CL without combinations",
        "cl-no-combinations",
        "pretraining on single SM columns only",
        "no-combinations",
    ),
    AblationRow(
        "joint wo-CL",
        "joint-wo-cl",
        "one fresh encoder trained with both heads at once",
        joint=True,
    ),
    AblationRow(
        "joint CL",
        "joint-cl",
        "the CL encoder, then both heads trained at once",
        "all",
        joint=True,
    ),
)


@dataclasses.dataclass
class AblationResult:
    """What `run_ablation` produced.

    Args:
        table: one dict per row: "setting", "description" and, per task,
            `{task}_val_mse` and `{task}_nrmse` as `{"mean", "std", "seeds"}`
            (`None` where the row does not apply or the protocol was skipped).
        per_seed: the raw values, one dict per seed.
        protocol: whether the paper's protocol scored the models.
        paths: "json", "csv", "markdown" -> path.
    """

    table: list[dict[str, Any]]
    per_seed: list[dict[str, Any]]
    protocol: bool
    paths: dict[str, Path]


def _check_epochs(key: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(key, f"expected a positive number of epochs, got {value!r}")


def _validation_sets(base: PretrainConfig, seed: int) -> tuple[float, dict[str, tuple]]:
    """The seed's validation sets with the base settings (the same for every row)."""
    data = prepare_data(base.data, seed)
    common = {
        "batch_size": base.batch_size,
        "seed": seed,
        "steps_per_epoch": base.steps_per_epoch,
        "pipeline": "python",
    }
    sets = {
        "recovery": recovery_streams(data.signals, data.split, **common).validation,
        "reconstruction": reconstruction_streams(
            data.signals, data.split, combination=base.combination, **common
        ).validation,
    }
    return data.normalization.scale, sets


def _validation_mse(model: keras.Model, task: str, scale: float, x, y) -> float:
    """MSE on validation data normalised by `scale`, in that unit (any model scale)."""
    ratio = scale / float(model.normalization_scale)
    prediction = np.asarray(model.predict(x * ratio, batch_size=_PREDICT_BATCH, verbose=0))
    if task == "recovery":
        prediction = prediction / ratio
    return float(np.mean((prediction.astype(np.float64) - np.asarray(y, np.float64)) ** 2))


def _protocol_data(
    base: PretrainConfig, test_sm: str | Path | None, log: Callable[[str], None]
) -> ProtocolData | None:
    """The protocol's SMs, or `None` (with the reason logged) where the protocol cannot run.

    Without a `test_sm`, the simulated 37 x 37 SM is the test SM, but only
    for simulated training data: a model trained on measured data says
    nothing useful about simulated signals.
    """
    train = load_system_matrix(base.data.source, seed=base.data.seed)
    if test_sm is None and not train.metadata.is_simulation:
        log(
            "protocol skipped (measured training data and no --test-sm); the table reports "
            "validation MSE only"
        )
        return None
    test = load_system_matrix(test_sm or DEFAULT_TEST_SM, seed=TEST_SM_SEED)
    step = ProtocolSettings().step_x
    subgrid = test.subsample(step, step).grid.shape[1:]
    if subgrid != train.grid.shape[1:]:
        problem = (
            f"every {step}nd voxel of the test SM forms a {subgrid} grid, the training SM "
            f"has {train.grid.shape[1:]}; the protocol needs the same positions"
        )
        if test_sm is not None:
            raise PreprocessingError(problem)
        log(f"protocol skipped ({problem}); the table reports validation MSE only")
        return None
    paths = {"train_sm": Path(base.data.source), "test_sm": Path(str(test_sm or DEFAULT_TEST_SM))}
    return ProtocolData(train, test, None, paths)


def _stats(values: list[float]) -> dict[str, float] | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    array = np.asarray(values, dtype=np.float64)
    return {"mean": float(array.mean()), "std": float(array.std()), "seeds": len(values)}


def run_ablation(
    out_dir: str | Path,
    *,
    base: PretrainConfig | None = None,
    seeds: int = 1,
    pretrain_epochs: int = 10,
    finetune_epochs: int = 10,
    tasks: Sequence[str] = TASKS,
    more_combination_probability: float = 0.9,
    protocol: bool = True,
    test_sm: str | Path | None = None,
    pipeline: str = "auto",
    verbose: str | int = 0,
    log: Callable[[str], None] = print,
) -> AblationResult:
    """Train every row of the ablation for each seed and write the table.

    Example:

    >>> result = run_ablation("runs/ablation", seeds=3, pretrain_epochs=60)  # doctest: +SKIP
    >>> [row["setting"] for row in result.table][:2]                      # doctest: +SKIP
    ['wo-CL', 'wo-CL, equal epochs']

    Args:
        out_dir: output directory (one folder per seed holds the runs).
        base: settings of every training (data, encoder, batch, learning
            rate, augmentations); seeds are `base.seed`, `base.seed + 1`, ...
        seeds: number of seeds.
        pretrain_epochs: epochs of each contrastive pretraining.
        finetune_epochs: epochs of each head (and of each joint) training.
        tasks: the tasks whose heads are trained ("recovery", "reconstruction").
        more_combination_probability: combination share of the "more
            combinations" row.
        protocol: score the models with the paper's protocol as well.
        test_sm: the protocol's test SM (MDF); if `None`, the simulated
            37 x 37 one for simulated training data, and no protocol for
            measured training data.
        pipeline: "auto", "tf" or "python".
        verbose: Keras verbosity of the trainings.
        log: where progress lines go.

    Returns:
        An `AblationResult`; `ablation.json`, `ablation.csv` and
        `ablation.md` are written into `out_dir`.

    Raises:
        ConfigError: for bad seeds, epochs, tasks or combination share.
        PreprocessingError: if a given test SM does not match the training grid.
    """
    base = base or PretrainConfig()
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError("seeds", f"expected a positive number of seeds, got {seeds!r}")
    _check_epochs("pretrain_epochs", pretrain_epochs)
    _check_epochs("finetune_epochs", finetune_epochs)
    tasks = tuple(tasks)
    if not tasks or any(t not in TASKS for t in tasks):
        raise ConfigError("tasks", f"expected some of {list(TASKS)}, got {list(tasks)}")
    if not 0.0 <= more_combination_probability <= 1.0:
        raise ConfigError(
            "more_combination_probability",
            f"must be a probability in [0, 1], got {more_combination_probability}",
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    data = _protocol_data(base, test_sm, log) if protocol else None
    rows = [r for r in ROWS if set(r.tasks) & set(tasks)]
    per_seed = []
    for index in range(seeds):
        seed = base.seed + index
        per_seed.append(
            _run_seed(
                out / f"seed-{seed}",
                base.replace(seed=seed),
                rows,
                tasks,
                pretrain_epochs,
                finetune_epochs,
                more_combination_probability,
                data,
                pipeline,
                verbose,
                lambda line, seed=seed: log(f"[seed {seed}] {line}"),
            )
        )
    table = _table(rows, tasks, per_seed)
    results = {
        "seeds": [base.seed + i for i in range(seeds)],
        "pretrain_epochs": pretrain_epochs,
        "finetune_epochs": finetune_epochs,
        "tasks": list(tasks),
        "protocol": data is not None,
        "test_sm": str(test_sm or DEFAULT_TEST_SM) if data is not None else None,
        "backend": keras.backend.backend(),
        "base": base.to_dict(),
        "table": table,
        "per_seed": per_seed,
        "elapsed_s": round(time.time() - started, 1),
    }
    paths = {"json": out / ABLATION_JSON, "csv": out / ABLATION_CSV, "markdown": out / ABLATION_MD}
    write_text_atomic(paths["json"], json.dumps(results, indent=2) + "\n")
    write_text_atomic(paths["csv"], format_csv(table, tasks))
    write_text_atomic(paths["markdown"], format_markdown(results, rows))
    return AblationResult(table, per_seed, data is not None, paths)


def _run_seed(
    seed_dir: Path,
    base: PretrainConfig,
    rows: list[AblationRow],
    tasks: tuple[str, ...],
    pretrain_epochs: int,
    finetune_epochs: int,
    more_combination_probability: float,
    data: ProtocolData | None,
    pipeline: str,
    verbose: str | int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Every run of one seed; returns its validation MSEs and protocol NRMSEs."""
    run = {"pipeline": pipeline, "verbose": verbose}
    encoders: dict[str, str] = {}
    for key in dict.fromkeys(r.pretraining for r in rows if r.pretraining):
        config = PRETRAININGS[key](base).replace(epochs=pretrain_epochs)
        path = seed_dir / f"pretrain-{key}"
        log(f"pretraining ({key}) -> {path}")
        encoders[key] = str(pretrain(config, path, **run).run_dir / ENCODER)

    scale, validation = _validation_sets(base, base.seed)
    models: dict[str, dict[str, keras.Model]] = {task: {} for task in tasks}
    for row in rows:
        epochs = finetune_epochs + (pretrain_epochs if row.equal_epochs else 0)
        settings = {**base.to_dict(), "epochs": epochs}
        if row.pretraining:
            settings["pretrained_encoder"] = encoders[row.pretraining]
        if row.more_combinations:
            settings["combination"] = {
                **settings["combination"],
                "probability": max(base.combination.probability, more_combination_probability),
            }
        if row.joint:
            path = seed_dir / row.slug
            log(f"{row.name}: both heads -> {path}")
            result = train_joint(FinetuneConfig.from_dict(settings), path, **run)
            for task in tasks:
                models[task][row.name] = getattr(result, task)
            continue
        for task in (t for t in tasks if t in row.tasks):
            path = seed_dir / f"{row.slug}-{task}"
            log(f"{row.name}: {task} -> {path}")
            config = FinetuneConfig.from_dict({**settings, "task": task})
            models[task][row.name] = finetune(config, path, **run).model

    val_mse = {
        task: {
            name: _validation_mse(model, task, scale, *validation[task])
            for name, model in models[task].items()
        }
        for task in tasks
    }
    nrmse: dict[str, dict[str, float]] = {task: {} for task in tasks}
    if data is not None:
        log("evaluating with the paper's protocol on the test SM")
        settings = ProtocolSettings(band_hz=base.data.band_hz, channels=base.data.channels)
        recovery, reconstruction = evaluate_models(
            models.get("recovery", {}), models.get("reconstruction", {}), data, settings
        )
        evaluations = {"recovery": recovery, "reconstruction": reconstruction}
        for task in tasks:
            method, _ = BASELINES[task]
            names = [*models[task], method]
            for name in names:
                nrmse[task][name] = float(np.mean(evaluations[task].voxel_nrmse[name]))
    for task in tasks:
        best = min(val_mse[task], key=val_mse[task].get)
        log(f"{task}: lowest validation MSE {val_mse[task][best]:.4g} ({best})")
    return {"seed": base.seed, "val_mse": val_mse, "nrmse": nrmse}


def _table(
    rows: list[AblationRow], tasks: tuple[str, ...], per_seed: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    table = []
    for row in rows:
        entry: dict[str, Any] = {"setting": row.name, "description": row.description}
        for task in tasks:
            applies = row.joint or task in row.tasks
            for metric in ("val_mse", "nrmse"):
                values = [s[metric][task].get(row.name) for s in per_seed] if applies else []
                entry[f"{task}_{metric}"] = _stats(values)
        table.append(entry)
    for task in tasks:
        method, label = BASELINES[task]
        entry = {"setting": label, "description": f"protocol method '{method}'"}
        for other in tasks:
            values = [s["nrmse"][other].get(method) for s in per_seed] if other == task else []
            entry[f"{other}_val_mse"] = None
            entry[f"{other}_nrmse"] = _stats(values)
        if entry[f"{task}_nrmse"] is not None:
            table.append(entry)
    return table


def _columns(tasks: Sequence[str]) -> list[tuple[str, str, str]]:
    """(key, Markdown heading, CSV prefix) of each metric column."""
    columns = []
    for task in tasks:
        columns.append((f"{task}_val_mse", f"{task} val MSE", f"{task}_val_mse"))
        columns.append((f"{task}_nrmse", f"{task} NRMSE (%)", f"{task}_nrmse_percent"))
    return columns


def _format_cell(stats: dict[str, float] | None, percent: bool) -> str:
    if stats is None:
        return "-"
    factor = 100.0 if percent else 1.0
    mean, std = factor * stats["mean"], factor * stats["std"]
    if percent:
        return f"{mean:.1f} ± {std:.1f}"
    return f"{mean:.3g} ± {std:.2g}"


def format_csv(table: list[dict[str, Any]], tasks: Sequence[str]) -> str:
    """The table with separate mean and std columns (NRMSE in %)."""
    header = ["setting"]
    for _, _, prefix in _columns(tasks):
        header += [f"{prefix}_mean", f"{prefix}_std"]
    header += ["seeds", "description"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for entry in table:
        line: list[Any] = [entry["setting"]]
        seeds = 0
        for key, _, _ in _columns(tasks):
            stats = entry.get(key)
            factor = 100.0 if key.endswith("nrmse") else 1.0
            if stats is None:
                line += ["", ""]
            else:
                line += [factor * stats["mean"], factor * stats["std"]]
                seeds = max(seeds, stats["seeds"])
        writer.writerow([*line, seeds, entry["description"]])
    return buffer.getvalue()


def table_rows(table: list[dict[str, Any]], tasks: Sequence[str]) -> list[list[str]]:
    """The table as rows of strings, a heading row first ("mean ± std", NRMSE in %)."""
    columns = _columns(tasks)
    rows = [["setting", *(heading for _, heading, _ in columns)]]
    for entry in table:
        cells = [entry["setting"]]
        cells += [_format_cell(entry.get(key), key.endswith("nrmse")) for key, _, _ in columns]
        rows.append(cells)
    return rows


def format_markdown(results: dict[str, Any], rows: Sequence[AblationRow]) -> str:
    """The ablation table in Markdown, with the settings and how to read it."""
    lines = [
        "# Ablation",
        "",
        f"Seeds {', '.join(str(s) for s in results['seeds'])}; pretraining "
        f"{results['pretrain_epochs']} and fine-tuning {results['finetune_epochs']} epochs; "
        f"Keras backend `{results['backend']}`; {results['elapsed_s']:.0f} s. Each cell is the "
        "mean ± std over seeds.",
        "",
        markdown_table(table_rows(results["table"], results["tasks"])),
    ]
    protocol = (
        f"NRMSE: the paper's protocol on the test SM ({results['test_sm']}), mean over the "
        "tested voxels: recovered signals against the measured ones, and directly "
        "reconstructed single-voxel images against the one-hot truth."
        if results["protocol"]
        else "NRMSE: not computed (the protocol was off or the grids did not allow it)."
    )
    lines += [
        "",
        "val MSE: mean squared error of the kept (best-epoch) model on the seed's validation "
        "set, drawn with the base settings and the same for every row (normalised units; "
        "reconstruction images in units of the delta sample). " + protocol + " Lower is "
        "better everywhere; '-': the row does not apply to the task.",
        "",
        "Settings:",
        "",
    ]
    lines += [f"- {row.name}: {row.description}." for row in rows]
    return "\n".join(lines) + "\n"
