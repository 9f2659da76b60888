"""Contrastive pretraining of the encoder (paper section II)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import keras

from mpikeras.config import PretrainConfig
from mpikeras.data.streams import Streams, contrastive_streams
from mpikeras.models.encoder import Encoder
from mpikeras.models.projector import ProjectionHead
from mpikeras.models.saving import load_model
from mpikeras.models.simclr import SimCLR
from mpikeras.training.run_directory import ENCODER
from mpikeras.training.session import TrainingData, adam, start_run


@dataclasses.dataclass
class PretrainResult:
    """What `pretrain` produced.

    Args:
        encoder: the encoder of the best epoch (lowest validation loss).
        model: the SimCLR model after the last epoch.
        history: per-epoch metrics.
        run_dir: the run directory.
    """

    encoder: keras.Model
    model: keras.Model
    history: dict[str, list[float]]
    run_dir: Path


def build_simclr(config: PretrainConfig, signal_shape: tuple[int, int]) -> SimCLR:
    """A compiled SimCLR model with the configured encoder, projector and Adam.

    Example:

    >>> model = build_simclr(PretrainConfig(), (1632, 2))   # doctest: +SKIP
    >>> model.fit(streams.train, steps_per_epoch=10)         # doctest: +SKIP
    """
    encoder = Encoder(signal_shape, **config.encoder.to_dict())
    projector = ProjectionHead(**config.projector.to_dict())
    model = SimCLR(encoder, projector, temperature=config.temperature)
    model.compile(
        optimizer=adam(config),
        jit_compile=config.keras_jit_compile,
    )
    return model


def pretraining_streams(
    config: PretrainConfig, data: TrainingData, start_epoch: int = 0, pipeline: str = "auto"
) -> Streams:
    """The contrastive streams of a configuration: its augmentations, combinations and batches."""
    return contrastive_streams(
        data.signals,
        data.split,
        batch_size=config.batch_size,
        augmentation=config.augmentation,
        combination=config.combination,
        seed=config.seed,
        steps_per_epoch=config.steps_per_epoch,
        start_epoch=start_epoch,
        pipeline=pipeline,
        unlabelled=data.unlabelled,
    )


def pretrain(
    config: PretrainConfig,
    run_dir: str | Path,
    *,
    pipeline: str = "auto",
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: str | int = "auto",
) -> PretrainResult:
    """Pretrain encoder and projector with NT-Xent; resumable.

    Writes into `run_dir`: `config.json`, `normalization.json`,
    `encoder.keras` (best epoch), checkpoints, history and TensorBoard logs
    (see `RunDirectory`). Rerunning with the same configuration resumes
    after its last checkpoint (also with another `distribution`).
    With `config.distribution = "data_parallel"` the model trains on every
    device of the machine (see `mpikeras.training.distribution`).

    Example:

    >>> result = pretrain(PretrainConfig(epochs=5), "runs/pretrain")  # doctest: +SKIP
    >>> result.encoder.output_shape                                   # doctest: +SKIP
    (None, 3840)

    Args:
        config: the run's configuration.
        run_dir: output directory.
        pipeline: "auto", "tf" (tf.data) or "python" (PyDataset).
        callbacks: extra Keras callbacks.
        verbose: `fit`'s verbosity.

    Returns:
        A `PretrainResult`.

    Raises:
        RunDirectoryError: if `run_dir` holds a run with another configuration.
        ConfigError: if the backend or the batch size does not allow the
            configured `distribution`.
    """
    run = start_run(config, run_dir)

    def make_streams(start_epoch: int) -> Streams:
        return pretraining_streams(config, run.data, start_epoch, pipeline)

    model, history = run.fit(
        lambda: build_simclr(config, run.signal_shape),
        make_streams,
        {ENCODER: lambda model: model.encoder},
        callbacks=callbacks,
        verbose=verbose,
    )
    encoder = load_model(run.directory.file(ENCODER))
    return PretrainResult(encoder, model, history, run.directory.path)
