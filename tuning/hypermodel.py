"""A KerasTuner `HyperModel` over the contrastive augmentations and the usual knobs.

A trial pretrains the encoder with SimCLR on augmented SM columns and
combinations drawn with the trial's augmentation ranges and probabilities,
then fine-tunes a task head (recovery or reconstruction) on the pretrained
encoder for a few epochs and reports the head's best validation MSE. That
downstream error is the objective (minimised): the contrastive loss itself
cannot be, since the weakest augmentation always makes the two views
easiest to match.

The augmentation reaches the data inside `HyperModel.fit`: the trial's
`AugmentationConfig` and `CombinationConfig` are handed to
`mpikeras.data.contrastive_streams` (a tf.data pipeline where TensorFlow is
installed), so every trial draws its own views.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import keras
import keras_tuner as kt
import numpy as np

from mpikeras.config import RECOVERY_INPUTS, TASKS, FinetuneConfig, PretrainConfig
from mpikeras.data.streams import Streams
from mpikeras.errors import ConfigError
from mpikeras.models.simclr import SimCLR
from mpikeras.training.pretrain import build_simclr, pretraining_streams
from mpikeras.training.session import TrainingData, configure, prepare_data
from mpikeras.training.task import build_task_model, task_config, task_streams

#: The augmentations a trial switches on or off (each has a probability when on).
AUGMENTATIONS = ("polarity", "noise", "gain")


def objective_name(task: str) -> str:
    """Name of the objective of a search on `task`, e.g. "val_recovery_mse".

    Raises:
        ConfigError: for an unknown task.
    """
    if task not in TASKS:
        raise ConfigError("task", f"expected one of {list(TASKS)}, got {task!r}")
    return f"val_{task}_mse"


def objective(task: str) -> kt.Objective:
    """The search objective: the task's validation MSE after fine-tuning, minimised."""
    return kt.Objective(objective_name(task), direction="min")


def _clip(value: float, bounds: tuple[float, float]) -> float:
    return float(min(max(value, bounds[0]), bounds[1]))


def _check_bounds(name: str, bounds: tuple[float, float], low: float, high: float) -> None:
    if not low <= bounds[0] <= bounds[1] <= high:
        raise ConfigError(
            f"space.{name}", f"expected {low} <= min <= max <= {high}, got {list(bounds)}"
        )


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The ranges a search draws from (the defaults of each hyperparameter are the base config's).

    Ranges are written as the maximum and the width of an interval, so every
    drawn interval is valid: the noise-to-signal ratio is drawn from
    `[noise_ratio_db_max - noise_ratio_db_width, noise_ratio_db_max]` (the
    paper's [-25, -15] dB is max -15, width 10) and the gain likewise (the
    paper's [-20, -1] dB is max -1, width 19).

    Args:
        learning_rate: Adam's learning rate of the pretraining (log scale).
        temperature: NT-Xent temperature (log scale).
        projector_hidden_units: widths of the projector's hidden layer.
        probability: probability of each augmentation that is switched on.
        noise_ratio_db_max, noise_ratio_db_width: noise-to-signal ratio in dB.
        gain_db_max, gain_db_width: gain in dB.
        combination_probability: share of combined samples when combinations are on.
        combination_max_voxels: most SM columns in one combination.
    """

    learning_rate: tuple[float, float] = (1e-5, 1e-2)
    temperature: tuple[float, float] = (0.05, 1.0)
    projector_hidden_units: tuple[int, ...] = (64, 128, 256, 512)
    probability: tuple[float, float] = (0.1, 1.0)
    noise_ratio_db_max: tuple[float, float] = (-35.0, -5.0)
    noise_ratio_db_width: tuple[float, float] = (0.0, 20.0)
    gain_db_max: tuple[float, float] = (-12.0, 0.0)
    gain_db_width: tuple[float, float] = (0.0, 24.0)
    combination_probability: tuple[float, float] = (0.1, 1.0)
    combination_max_voxels: tuple[int, int] = (2, 16)

    def __post_init__(self) -> None:
        _check_bounds("learning_rate", self.learning_rate, 1e-12, 10.0)
        _check_bounds("temperature", self.temperature, 1e-6, 100.0)
        _check_bounds("probability", self.probability, 0.0, 1.0)
        _check_bounds("combination_probability", self.combination_probability, 0.0, 1.0)
        _check_bounds("noise_ratio_db_max", self.noise_ratio_db_max, -math.inf, math.inf)
        _check_bounds("noise_ratio_db_width", self.noise_ratio_db_width, 0.0, math.inf)
        _check_bounds("gain_db_max", self.gain_db_max, -math.inf, math.inf)
        _check_bounds("gain_db_width", self.gain_db_width, 0.0, math.inf)
        _check_bounds("combination_max_voxels", self.combination_max_voxels, 1, math.inf)
        if not self.projector_hidden_units or min(self.projector_hidden_units) < 1:
            raise ConfigError(
                "space.projector_hidden_units",
                f"expected positive widths, got {list(self.projector_hidden_units)}",
            )

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) for k, v in dataclasses.asdict(self).items()}


def declare_hyperparameters(
    hp: kt.HyperParameters, base: PretrainConfig, space: SearchSpace | None = None
) -> PretrainConfig:
    """Register the search space on `hp` and return the trial's pretraining config.

    Every hyperparameter's default is the base config's value (clipped into
    its range), so `declare_hyperparameters(kt.HyperParameters(), base)`
    returns `base` whenever its values lie inside the space (the paper's
    do). An augmentation switched off has probability 0; its other
    hyperparameters are then inactive (KerasTuner conditional scopes) and
    the base config's ranges are kept.

    Example:

    >>> hp = kt.HyperParameters()
    >>> declare_hyperparameters(hp, PretrainConfig()) == PretrainConfig()
    True
    >>> sorted(hp.values)[:3]
    ['combination', 'combination_max_voxels', 'combination_probability']

    Args:
        hp: the trial's hyperparameters (or an empty set to register the space).
        base: everything that is not searched (data, encoder, batch, seed, ...).
        space: the ranges; `SearchSpace()` by default.

    Returns:
        `base` with the trial's learning rate, temperature, projector width,
        augmentation and combination settings.
    """
    space = space or SearchSpace()
    aug, comb = base.augmentation, base.combination
    learning_rate = hp.Float(
        "learning_rate",
        *space.learning_rate,
        sampling="log",
        default=_clip(base.optimizer.learning_rate, space.learning_rate),
    )
    temperature = hp.Float(
        "temperature",
        *space.temperature,
        sampling="log",
        default=_clip(base.temperature, space.temperature),
    )
    widths = sorted(set(space.projector_hidden_units))
    if base.projector.hidden_units not in widths:
        widths = [*widths, base.projector.hidden_units]
    hidden_units = hp.Choice(
        "projector_hidden_units", sorted(widths), default=base.projector.hidden_units
    )

    augmentation: dict[str, Any] = {}
    for name in AUGMENTATIONS:
        base_probability = getattr(aug, f"{name}_probability")
        on = hp.Boolean(name, default=base_probability > 0)
        with hp.conditional_scope(name, [True]):
            probability = hp.Float(
                f"{name}_probability",
                *space.probability,
                default=_clip(base_probability or 0.5, space.probability),
            )
            if name == "noise":
                augmentation["noise_ratio_db"] = _interval(
                    hp,
                    "noise_ratio_db",
                    aug.noise_ratio_db,
                    space.noise_ratio_db_max,
                    space.noise_ratio_db_width,
                )
            elif name == "gain":
                augmentation["gain_db"] = _interval(
                    hp, "gain_db", aug.gain_db, space.gain_db_max, space.gain_db_width
                )
        augmentation[f"{name}_probability"] = float(probability) if on else 0.0

    combine = hp.Boolean("combination", default=comb.probability > 0)
    with hp.conditional_scope("combination", [True]):
        share = hp.Float(
            "combination_probability",
            *space.combination_probability,
            default=_clip(comb.probability or 0.5, space.combination_probability),
        )
        max_voxels = hp.Int(
            "combination_max_voxels",
            *space.combination_max_voxels,
            default=int(_clip(comb.num_voxels[1], space.combination_max_voxels)),
        )
    if combine:
        max_voxels = int(max_voxels)
        combination = comb.replace(
            probability=float(share), num_voxels=(min(comb.num_voxels[0], max_voxels), max_voxels)
        )
    else:
        combination = comb.replace(probability=0.0)

    return base.replace(
        temperature=float(temperature),
        optimizer=base.optimizer.replace(learning_rate=float(learning_rate)),
        projector=base.projector.replace(hidden_units=int(hidden_units)),
        augmentation=aug.replace(**augmentation),
        combination=combination,
    )


def _interval(
    hp: kt.HyperParameters,
    name: str,
    base: tuple[float, float],
    max_bounds: tuple[float, float],
    width_bounds: tuple[float, float],
) -> tuple[float, float]:
    """An interval [max - width, max] drawn as its maximum and width (`base` if inactive)."""
    high = hp.Float(f"{name}_max", *max_bounds, default=_clip(base[1], max_bounds))
    width = hp.Float(f"{name}_width", *width_bounds, default=_clip(base[1] - base[0], width_bounds))
    if high is None or width is None:
        return base
    return (float(high) - float(width), float(high))


@dataclasses.dataclass
class TrialOutcome:
    """What the last `ContrastiveHyperModel.fit` did (for inspection and tests).

    Args:
        config: the trial's pretraining configuration.
        pretrain_streams: the contrastive streams the pretraining drew from.
        pretrain_history: per-epoch pretraining metrics (NT-Xent).
        finetune_history: per-epoch fine-tuning metrics (MSE).
        head_model: the fine-tuned task model after its last epoch.
        finetune_streams: the task streams (validation data included).
        metrics: what `fit` returned to the tuner.
    """

    config: PretrainConfig
    pretrain_streams: Streams
    pretrain_history: dict[str, list[float]]
    finetune_history: dict[str, list[float]]
    head_model: keras.Model
    finetune_streams: Streams
    metrics: dict[str, float]


class ContrastiveHyperModel(kt.HyperModel):
    """Pretrain with a trial's augmentations, fine-tune a head, report its validation MSE.

    `build(hp)` returns the compiled `SimCLR` model (encoder, projector of
    the trial's width, the trial's temperature and learning rate).
    `fit(hp, model, ...)` pretrains it on `contrastive_streams` drawn with
    the trial's augmentation and combination settings, then trains the
    task head on the pretrained encoder for `finetune_epochs` epochs with
    the base learning rate and returns `{objective_name(task): best
    validation MSE, ...}`. The tuner's callbacks watch the pretraining (so
    KerasTuner checkpoints the pretrained SimCLR weights, which Hyperband
    continues from); under Hyperband the pretraining epochs are the budget
    it allocates (`epochs`, `initial_epoch`).

    Example:

    >>> hypermodel = ContrastiveHyperModel("recovery", PretrainConfig(), pretrain_epochs=5)
    >>> tuner = kt.RandomSearch(hypermodel, objective=objective("recovery"), max_trials=10)
    >>> tuner.search()                                   # doctest: +SKIP

    Args:
        task: "recovery" or "reconstruction": the head that scores a trial.
        base: the settings that are not searched (data, encoder, batch size,
            steps per epoch, seed, fine-tuning learning rate).
        pretrain_epochs: pretraining epochs per trial (Hyperband's maximum).
        finetune_epochs: fine-tuning epochs per trial.
        space: the search ranges.
        recovery_input: the recovery head's inputs, "single" (the paper) or
            "bracket" (see `mpikeras.models.BracketRecovery`).
        pipeline: input pipeline, "auto" (tf.data where TensorFlow is
            installed), "tf" or "python".
        verbose: Keras verbosity of the trainings.
        data: prepared training data (loaded from `base.data` if `None`).
    """

    def __init__(
        self,
        task: str,
        base: PretrainConfig | None = None,
        *,
        pretrain_epochs: int = 10,
        finetune_epochs: int = 10,
        space: SearchSpace | None = None,
        recovery_input: str = "single",
        pipeline: str = "auto",
        verbose: str | int = 0,
        data: TrainingData | None = None,
    ) -> None:
        super().__init__(name=f"contrastive_{task}", tunable=True)
        self.objective_name = objective_name(task)
        for key, value in (
            ("pretrain_epochs", pretrain_epochs),
            ("finetune_epochs", finetune_epochs),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(key, f"expected a positive number of epochs, got {value!r}")
        if recovery_input not in RECOVERY_INPUTS or (
            recovery_input != "single" and task != "recovery"
        ):
            raise ConfigError(
                "recovery_input",
                f"expected one of {list(RECOVERY_INPUTS)} ('bracket' for the recovery task "
                f"only), got {recovery_input!r} for {task!r}",
            )
        self.task = task
        self.recovery_input = recovery_input
        self.base = base or PretrainConfig()
        self.pretrain_epochs = pretrain_epochs
        self.finetune_epochs = finetune_epochs
        self.space = space or SearchSpace()
        self.pipeline = pipeline
        self.verbose = verbose
        self.data = data or prepare_data(self.base.data, self.base.seed)
        self.last_trial: TrialOutcome | None = None

    @property
    def signal_shape(self) -> tuple[int, int]:
        return tuple(self.data.signals.signals.shape[2:])

    def trial_config(self, hp: kt.HyperParameters) -> PretrainConfig:
        """The pretraining configuration of a trial (registers the space on `hp`)."""
        return declare_hyperparameters(hp, self.base, self.space)

    def build(self, hp: kt.HyperParameters) -> SimCLR:
        config = self.trial_config(hp)
        configure(config)  # dtype policy and seed: every trial starts from the same weights
        return build_simclr(config, self.signal_shape)

    def pretrain_streams(self, config: PretrainConfig, start_epoch: int = 0) -> Streams:
        """The contrastive streams of a trial: its augmentation and combinations, base batches."""
        return pretraining_streams(config, self.data, start_epoch, self.pipeline)

    def head_config(self) -> FinetuneConfig:
        """The fine-tuning run every trial ends with: the base settings, the task, its inputs.

        The learning rate is the base config's, the same for every trial, so
        trials differ only in how the encoder was pretrained.
        """
        return task_config(
            self.base, self.task, epochs=self.finetune_epochs, recovery_input=self.recovery_input
        )

    def fit(
        self,
        hp: kt.HyperParameters,
        model: SimCLR,
        *args: Any,
        callbacks: list[keras.callbacks.Callback] | None = None,
        epochs: int | None = None,
        initial_epoch: int = 0,
        **kwargs: Any,
    ) -> dict[str, float]:
        """Pretrain `model`, fine-tune the task head, return the validation MSE.

        Args:
            hp: the trial's hyperparameters.
            model: the SimCLR model `build(hp)` returned (Hyperband may have
                loaded a previous trial's weights into it).
            callbacks: the tuner's callbacks, run during the pretraining.
            epochs, initial_epoch: pretraining epochs (Hyperband's budget);
                `pretrain_epochs` and 0 by default.
            **kwargs: other `search` keyword arguments (ignored: `verbose`).

        Returns:
            `{objective: best validation MSE of the fine-tuning, objective +
            "_last": its last epoch's, "pretrain_val_loss": the last
            contrastive validation loss}`.

        Raises:
            TypeError: if data is passed: the hypermodel draws its own.
            keras_tuner.errors.FailedTrialError: if the fine-tuning diverged.
        """
        unknown = set(kwargs) - {"verbose"}
        if args or unknown:
            raise TypeError(
                "ContrastiveHyperModel draws its own input streams; call search() without data "
                f"(received {len(args)} positional and the keyword arguments {sorted(unknown)})"
            )
        config = self.trial_config(hp)
        epochs = epochs or self.pretrain_epochs
        streams = self.pretrain_streams(config, start_epoch=initial_epoch)
        pretrain_history = model.fit(
            **streams.fit_kwargs(),
            epochs=epochs,
            initial_epoch=initial_epoch,
            callbacks=list(callbacks or []),
            verbose=self.verbose,
            validation_batch_size=config.batch_size,
        ).history

        head_config = self.head_config()
        keras.utils.set_random_seed(head_config.seed)  # the same head weights in every trial
        head = build_task_model(
            head_config, self.signal_shape, self.data.normalization, model.encoder
        )
        # The base combination settings, not the trial's.
        finetune_streams = task_streams(head_config, self.data, pipeline=self.pipeline)
        history = head.fit(
            **finetune_streams.fit_kwargs(),
            epochs=self.finetune_epochs,
            verbose=self.verbose,
            validation_batch_size=head_config.batch_size,
        ).history
        val_mse = np.asarray(history["val_loss"], dtype=float)
        if not np.isfinite(val_mse).any():
            raise kt.errors.FailedTrialError(
                f"the {self.task} fine-tuning diverged (validation MSE {val_mse.tolist()})"
            )
        metrics = {
            self.objective_name: float(np.nanmin(val_mse)),
            f"{self.objective_name}_last": float(val_mse[-1]),
            "pretrain_val_loss": float(pretrain_history.get("val_loss", [math.nan])[-1]),
        }
        self.last_trial = TrialOutcome(
            config, streams, pretrain_history, history, head, finetune_streams, metrics
        )
        return metrics


def describe(values: Mapping[str, Any], is_active: Callable[[str], bool] | None = None) -> str:
    """One line of a trial's hyperparameters, e.g. 'lr 3.1e-04, tau 0.42, noise p 0.5 ...'."""
    parts = []
    for name, value in values.items():
        if name.startswith("tuner/") or (is_active is not None and not is_active(name)):
            continue
        if isinstance(value, bool):
            parts.append(f"{name} {'on' if value else 'off'}")
        elif isinstance(value, float):
            parts.append(f"{name} {value:.3g}")
        else:
            parts.append(f"{name} {value}")
    return ", ".join(parts)
