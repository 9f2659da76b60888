"""Resumable `fit`: the loop every training command shares."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import keras

from mpikeras._compat import tensorboard_available
from mpikeras.training.distribution import TrainingDistribution
from mpikeras.training.run_directory import LOGS, EpochCheckpoint, RunDirectory


class FitInputs(Protocol):
    """What a run trains on: `Streams`, or the zipped streams of a joint run."""

    def fit_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `model.fit` (data, steps; validation data if any)."""


def fit_resumable(
    run_dir: RunDirectory,
    build_model: Callable[[], keras.Model],
    make_streams: Callable[[int], FitInputs],
    epochs: int,
    *,
    batch_size: int,
    epoch_metrics: Sequence[keras.callbacks.Callback] = (),
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: str | int = "auto",
    distribution: TrainingDistribution | None = None,
) -> keras.Model:
    """Train for `epochs` epochs in total, continuing from the last checkpoint.

    A new run builds its model; a rerun in the same directory loads the last
    checkpoint (weights and optimizer state) and its input streams start at
    the epoch after it, so an interrupted run loses at most the epochs since
    that checkpoint (written every 30 seconds and after the last epoch,
    `EpochCheckpoint`) and, on the CPU with deterministic kernels, ends with
    the weights an uninterrupted run would have.

    Args:
        run_dir: where checkpoints, history and logs go.
        build_model: builds and compiles a fresh model.
        make_streams: `start_epoch -> Streams` (or other `FitInputs`).
        epochs: total epochs.
        batch_size: the global batch size of the streams, also the batch
            of the validation pass.
        epoch_metrics: callbacks that add metrics to an epoch's logs (for
            example a validation the Keras `validation_data` cannot hold); they
            run before the checkpoint, which records them and selects the best
            epoch by `val_loss`.
        callbacks: more Keras callbacks.
        verbose: Keras' `verbose` for `fit` (progress bar by default).
        distribution: where to train (`training_distribution`); the model
            is built or loaded, and fitted, inside its scope. One device if
            `None`. In a multi-worker cluster every process trains, and
            only process 0 reports progress and writes TensorBoard logs.

    Returns:
        The model after the last epoch (its history is `run_dir.history()`).
    """
    distribution = distribution or TrainingDistribution("none", keras.backend.backend())
    writer = distribution.is_writer
    start = run_dir.last_epoch()
    with distribution.scope():
        model = run_dir.load_checkpoint() if start else None
        if model is None:
            model = build_model()
        distribution.prepare_model(model)
        if start < epochs:
            fit_kwargs = distribution.fit_inputs(make_streams(start).fit_kwargs(), batch_size)
            # The processes of a cluster must write at the same epochs (a TensorFlow save
            # is a collective); a time-based choice would differ between them.
            checkpoint = EpochCheckpoint(
                run_dir, interval_s=0 if distribution.process_count > 1 else None
            )
            all_callbacks = [*epoch_metrics, checkpoint, *callbacks]
            if writer and tensorboard_available():
                all_callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir.file(LOGS))))
            model.fit(
                **fit_kwargs,
                epochs=epochs,
                initial_epoch=start,
                callbacks=all_callbacks,
                verbose=verbose if writer else 0,
            )
    return model
