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
grid) (`mpikeras.experiments.evaluate.evaluate_models`: NRMSE of the recovered
voxels and of the directly reconstructed single-voxel images), beside the
strongest simple baselines (the training SM looked up at the target, and
template matching against the training SM). The scores are a
`Results` (every seed's values kept), written as `ablation.json`; the table is
a `Table`, written as `ablation.md` and `ablation.csv`. Every training is a
resumable run directory, so an interrupted ablation continues where it
stopped.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np

from mpikeras.config import FinetuneConfig, PretrainConfig
from mpikeras.data.sources import load_system_matrix
from mpikeras.errors import ConfigError, PreprocessingError
from mpikeras.evaluation.protocol import ProtocolSettings
from mpikeras.experiments.ablation_table import (
    BASELINES,
    ROWS,
    AblationEntry,
    AblationRow,
    ablation_entries,
    ablation_markdown,
    csv_table,
    display_table,
    tasks_of,
)
from mpikeras.experiments.evaluate import evaluate_models
from mpikeras.experiments.protocol_data import ProtocolData
from mpikeras.experiments.results import (
    TEST_VOXELS,
    VALIDATION,
    Method,
    Results,
    Score,
    Target,
    Task,
)
from mpikeras.experiments.table import Table
from mpikeras.io.atomic import write_text_atomic
from mpikeras.training.finetune import finetune
from mpikeras.training.joint import train_joint
from mpikeras.training.pretrain import pretrain
from mpikeras.training.run_directory import ENCODER
from mpikeras.training.session import prepare_data
from mpikeras.training.task import task_config, task_validation

#: The simulated test SM of the protocol (the paper's 37 x 37 grid) and its seed.
DEFAULT_TEST_SM = "simulated:openmpi-2d-37"
TEST_SM_SEED = 1
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


@dataclasses.dataclass(frozen=True, eq=False)
class AblationResult:
    """What `run_ablation` produced.

    Args:
        results: every score (validation MSE and, with the protocol, per-voxel
            NRMSE) of every row's method over the seeds.
        entries: the table's rows (`ablation_entries`).
        protocol: whether the paper's protocol scored the models.
        paths: "json", "csv", "markdown" -> path.
    """

    results: Results
    entries: list[AblationEntry]
    protocol: bool
    paths: dict[str, Path]

    def table(self) -> Table:
        """The table as shown ("mean ± std" over seeds, NRMSE in %)."""
        return display_table(self.entries, tasks_of(self.results))


def _check_epochs(key: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(key, f"expected a positive number of epochs, got {value!r}")


def _validation_sets(base: PretrainConfig, seed: int) -> tuple[float, dict[Task, tuple]]:
    """The seed's validation sets with the base settings (the same for every row)."""
    data = prepare_data(base.data, seed)
    base = base.replace(seed=seed)
    sets = {task: task_validation(task_config(base, task.value), data) for task in Task}
    return data.normalization.scale, sets


def _validation_mse(model: keras.Model, task: Task, scale: float, x, y) -> float:
    """MSE on validation data normalised by `scale`, in that unit (any model scale)."""
    ratio = scale / float(model.normalization_scale)
    prediction = np.asarray(model.predict(x * ratio, batch_size=_PREDICT_BATCH, verbose=0))
    if task is Task.RECOVERY:
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


def run_ablation(
    out_dir: str | Path,
    *,
    base: PretrainConfig | None = None,
    seeds: int = 1,
    pretrain_epochs: int = 10,
    finetune_epochs: int = 10,
    tasks: Sequence[Task | str] = tuple(Task),
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
    >>> [entry.setting for entry in result.entries][:2]                    # doctest: +SKIP
    ['wo-CL', 'wo-CL, equal epochs']

    Args:
        out_dir: output directory (one folder per seed holds the runs).
        base: settings of every training (data, encoder, batch, learning
            rate, augmentations); seeds are `base.seed`, `base.seed + 1`, ...
        seeds: number of seeds.
        pretrain_epochs: epochs of each contrastive pretraining.
        finetune_epochs: epochs of each head (and of each joint) training.
        tasks: the tasks whose heads are trained (`Task`s or their values).
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
        An `AblationResult`; `ablation.json` (the `Results`), `ablation.csv`
        and `ablation.md` are written into `out_dir`.

    Raises:
        ConfigError: for bad seeds, epochs, tasks or combination share.
        PreprocessingError: if a given test SM does not match the training grid.
    """
    base = base or PretrainConfig()
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError("seeds", f"expected a positive number of seeds, got {seeds!r}")
    _check_epochs("pretrain_epochs", pretrain_epochs)
    _check_epochs("finetune_epochs", finetune_epochs)
    values = [t.value for t in Task]
    if not tasks or any(getattr(t, "value", t) not in values for t in tasks):
        raise ConfigError("tasks", f"expected some of {values}, got {list(tasks)}")
    chosen = tuple(Task(getattr(t, "value", t)) for t in tasks)
    if not 0.0 <= more_combination_probability <= 1.0:
        raise ConfigError(
            "more_combination_probability",
            f"must be a probability in [0, 1], got {more_combination_probability}",
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    data = _protocol_data(base, test_sm, log) if protocol else None
    rows = [r for r in ROWS if set(r.tasks) & set(chosen)]
    per_seed = []
    for index in range(seeds):
        seed = base.seed + index
        per_seed.append(
            _run_seed(
                out / f"seed-{seed}",
                base.replace(seed=seed),
                rows,
                chosen,
                pretrain_epochs,
                finetune_epochs,
                more_combination_probability,
                data,
                pipeline,
                verbose,
                lambda line, seed=seed: log(f"[seed {seed}] {line}"),
            )
        )
    results = Results(
        study="ablation",
        description="ablations of the paper's open questions",
        seeds=tuple(base.seed + i for i in range(seeds)),
        backend=keras.backend.backend(),
        data={"train_sm": str(base.data.source)}
        | ({"test_sm": str(test_sm or DEFAULT_TEST_SM)} if data is not None else {}),
        scores=_scores(per_seed),
        settings={
            "pretrain_epochs": pretrain_epochs,
            "finetune_epochs": finetune_epochs,
            "tasks": [t.value for t in chosen],
            "protocol": data is not None,
            "base": base.to_dict(),
        },
        elapsed_s=round(time.time() - started, 1),
    )
    entries = ablation_entries(results, rows)
    paths = {"json": out / ABLATION_JSON, "csv": out / ABLATION_CSV, "markdown": out / ABLATION_MD}
    results.save(paths["json"])
    write_text_atomic(paths["csv"], csv_table(entries, chosen).csv())
    write_text_atomic(paths["markdown"], ablation_markdown(results, entries, rows))
    return AblationResult(results, entries, data is not None, paths)


#: One seed's scores: (method, target) -> that seed's values.
SeedScores = dict[tuple[Method, Target], np.ndarray]


def _run_seed(
    seed_dir: Path,
    base: PretrainConfig,
    rows: list[AblationRow],
    tasks: tuple[Task, ...],
    pretrain_epochs: int,
    finetune_epochs: int,
    more_combination_probability: float,
    data: ProtocolData | None,
    pipeline: str,
    verbose: str | int,
    log: Callable[[str], None],
) -> SeedScores:
    """Every run of one seed; returns its validation MSEs and per-voxel protocol NRMSEs."""
    run = {"pipeline": pipeline, "verbose": verbose}
    encoders: dict[str, str] = {}
    for key in dict.fromkeys(r.pretraining for r in rows if r.pretraining):
        config = PRETRAININGS[key](base).replace(epochs=pretrain_epochs)
        path = seed_dir / f"pretrain-{key}"
        log(f"pretraining ({key}) -> {path}")
        encoders[key] = str(pretrain(config, path, **run).run_dir / ENCODER)

    scale, validation = _validation_sets(base, base.seed)
    models: dict[Task, dict[Method, keras.Model]] = {task: {} for task in tasks}
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
                models[task][row.method(task)] = getattr(result, task.value)
            continue
        for task in (t for t in tasks if t in row.tasks):
            path = seed_dir / f"{row.slug}-{task.value}"
            log(f"{row.name}: {task.value} -> {path}")
            config = FinetuneConfig.from_dict({**settings, "task": task.value})
            models[task][row.method(task)] = finetune(config, path, **run).model

    scores: SeedScores = {}
    for task in tasks:
        for method, model in models[task].items():
            mse = _validation_mse(model, task, scale, *validation[task])
            scores[method, VALIDATION] = np.asarray([mse])
    if data is not None:
        log("evaluating with the paper's protocol on the test SM")
        settings = ProtocolSettings(band_hz=base.data.band_hz, channels=base.data.channels)
        # The table reports template matching for reconstruction: no Kaczmarz tuning needed.
        evaluations = evaluate_models(
            models.get(Task.RECOVERY, {}),
            models.get(Task.RECONSTRUCTION, {}),
            data,
            settings,
            kaczmarz=False,
        )
        for index, task in enumerate(Task):
            if task in tasks:
                for method in [*models[task], BASELINES[task]]:
                    scores[method, TEST_VOXELS] = evaluations[index].voxel_nrmse[method.label]
    for task in tasks:
        val_mse = {m: float(scores[m, VALIDATION][0]) for m in models[task]}
        best = min(val_mse, key=val_mse.get)
        log(f"{task.value}: lowest validation MSE {val_mse[best]:.4g} ({best.label})")
    return scores


def _scores(per_seed: list[SeedScores]) -> tuple[Score, ...]:
    """The seeds' values of each (method, target), in the order of the first seed."""
    return tuple(
        Score(
            method,
            target,
            tuple(seed[method, target] for seed in per_seed if (method, target) in seed),
        )
        for method, target in per_seed[0]
    )
