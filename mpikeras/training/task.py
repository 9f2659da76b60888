"""A task from a configuration: its streams and its model, defined once.

Fine-tuning, joint training, the tuner's trials and the ablations all train
the recovery or reconstruction head the same way; they take the task's
configuration (`task_config`), its input streams (`task_streams`) and its
compiled model (`build_task_model`) from here.

Example:

>>> config = task_config(PretrainConfig(), "recovery", epochs=10)   # doctest: +SKIP
>>> model = build_task_model(config, signal_shape, data.normalization, encoder)  # doctest: +SKIP
>>> model.fit(**task_streams(config, data).fit_kwargs(), epochs=10)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras

from mpikeras.config import FinetuneConfig, TrainingConfig
from mpikeras.data.split import labelled_subset
from mpikeras.data.streams import Streams, reconstruction_streams, recovery_streams
from mpikeras.errors import RunDirectoryError
from mpikeras.models.augmentation import SignalAugmentation
from mpikeras.models.encoder import Encoder
from mpikeras.models.heads import BracketRecovery, DirectReconstruction, SignalRecovery
from mpikeras.models.projector import ProjectionHead
from mpikeras.models.regularized import ContrastiveRegularized
from mpikeras.preprocessing.normalization import Normalization
from mpikeras.training.session import TrainingData, adam


def task_config(base: TrainingConfig, task: str, **changes: Any) -> FinetuneConfig:
    """The fine-tuning configuration of `task` with the settings of `base` (any training config).

    Example:

    >>> from mpikeras.config import PretrainConfig
    >>> task_config(PretrainConfig(), "reconstruction", epochs=5).epochs
    5

    Args:
        base: the shared settings (data, encoder, batch, seed, optimizer, ...).
        task: "recovery" or "reconstruction".
        **changes: more `FinetuneConfig` fields (e.g. `epochs`, `recovery_input`).

    Raises:
        ConfigError: for an unknown task or field.
    """
    return FinetuneConfig.from_dict({**base.to_dict(), "task": task, **changes})


def task_streams(
    config: FinetuneConfig, data: TrainingData, start_epoch: int = 0, pipeline: str = "auto"
) -> Streams:
    """The training streams and validation data of the configured task.

    With `config.label_fraction` < 1 the training side keeps a seeded,
    nested subset of its pairs (recovery) or voxels (reconstruction).
    Recovery draws single SM columns, or the two columns that bracket the
    target with `recovery_input = "bracket"`; reconstruction draws columns
    and their combinations (`config.combination`).

    Args:
        config: task, recovery input, combinations, batch size, steps, seed.
        data: the prepared training data.
        start_epoch: the first epoch the training stream serves (resuming).
        pipeline: "auto", "tf" (tf.data) or "python" (PyDataset).

    Returns:
        The task's `Streams`.
    """
    common = {
        "batch_size": config.batch_size,
        "seed": config.seed,
        "steps_per_epoch": config.steps_per_epoch,
        "start_epoch": start_epoch,
        "pipeline": pipeline,
    }
    if config.task == "reconstruction":
        split = data.split
        if config.label_fraction < 1.0:
            kept = labelled_subset(split.train.size, config.label_fraction, config.seed)
            split = dataclasses.replace(split, train=split.train[kept])
        return reconstruction_streams(data.signals, split, combination=config.combination, **common)
    bracket = config.recovery_input == "bracket"
    return recovery_streams(
        data.signals, data.split, bracket=bracket, label_fraction=config.label_fraction, **common
    )


def task_validation(config: FinetuneConfig, data: TrainingData) -> tuple:
    """The fixed validation data `(x, y)` of the configured task (the same for every epoch)."""
    return task_streams(config, data, pipeline="python").validation


def task_encoder(
    config: FinetuneConfig, signal_shape: tuple[int, int], encoder: keras.Model | None = None
) -> keras.Model:
    """The encoder a task head trains on: `encoder`, or a fresh one; frozen if configured.

    Raises:
        RunDirectoryError: if the given encoder takes inputs of another shape.
    """
    if encoder is None:
        encoder = Encoder(signal_shape, **config.encoder.to_dict())
    elif tuple(encoder.inputs[0].shape[1:]) != tuple(signal_shape):
        raise RunDirectoryError(
            f"the pretrained encoder takes inputs {tuple(encoder.inputs[0].shape[1:])}, "
            f"the data has {tuple(signal_shape)} (samples, channels)"
        )
    encoder.trainable = not config.freeze_encoder
    return encoder


def task_head(
    config: FinetuneConfig, task: str, encoder: keras.Model, normalization: Normalization
) -> keras.Model:
    """The head model of `task` on `encoder`, sized by the configuration (not compiled).

    Returns:
        A `DirectReconstruction`, or a `SignalRecovery` (`BracketRecovery`
        with `recovery_input = "bracket"`).
    """
    scale = normalization.scale
    if task == "reconstruction":
        head = config.reconstruction_head
        return DirectReconstruction(
            encoder, head.image_shape, head.filters, head.kernel_size, head.elu_alpha, scale
        )
    head = config.recovery_head
    if config.recovery_input == "bracket":
        sizes = (head.bracket_filters, head.bracket_kernel_size)
        return BracketRecovery(encoder, head.hidden_units, *sizes, scale)
    return SignalRecovery(encoder, head.hidden_units, head.filters, head.kernel_size, scale)


def build_task_model(
    config: FinetuneConfig,
    signal_shape: tuple[int, int],
    normalization: Normalization,
    encoder: keras.Model | None = None,
) -> keras.Model:
    """The compiled task model: the configured head on a fresh or given encoder.

    Example:

    >>> model = build_task_model(FinetuneConfig(), (1632, 2), normalization)  # doctest: +SKIP

    Args:
        config: task, head sizes, optimizer.
        signal_shape: (V, C) of the inputs.
        normalization: the scale of the training data (stored in the model).
        encoder: a pretrained encoder (CL); a fresh one is built if `None`.

    Returns:
        A `SignalRecovery`, `BracketRecovery` or `DirectReconstruction`,
        compiled with Adam and MSE; wrapped in `ContrastiveRegularized` when
        `config.contrastive_weight` > 0.

    Raises:
        RunDirectoryError: if the given encoder takes inputs of another shape.
    """
    encoder = task_encoder(config, signal_shape, encoder)
    model = task_head(config, config.task, encoder, normalization)
    if config.contrastive_weight > 0:
        model = ContrastiveRegularized(
            model,
            ProjectionHead(**config.projector.to_dict()),
            config.contrastive_weight,
            config.temperature,
            SignalAugmentation(**config.augmentation.to_dict(), seed=config.seed),
        )
    model.compile(
        optimizer=adam(config),
        loss="mse",
        jit_compile=config.keras_jit_compile,
    )
    return model
