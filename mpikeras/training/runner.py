"""Resumable `fit`: the loop every training command shares."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import keras

from mpikeras._compat import tensorboard_available
from mpikeras.data.streams import Streams
from mpikeras.training.run_directory import EpochCheckpoint, RunDirectory


def fit_resumable(
    run_dir: RunDirectory,
    build_model: Callable[[], keras.Model],
    make_streams: Callable[[int], Streams],
    epochs: int,
    *,
    on_best: Callable[[keras.Model, int], None] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: str | int = "auto",
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Train for `epochs` epochs in total, continuing from the last completed one.

    A new run builds its model; a rerun in the same directory loads the last
    checkpoint (weights and optimizer state) and its input streams start at
    the next epoch, so an interrupted run loses at most the epoch in progress
    and, on the CPU with deterministic kernels, ends with the weights an
    uninterrupted run would have.

    Args:
        run_dir: where checkpoints, history and logs go.
        build_model: builds and compiles a fresh model.
        make_streams: `start_epoch -> Streams`.
        epochs: total epochs.
        on_best: called with `(model, epoch)` whenever validation loss improves.
        callbacks: more Keras callbacks.
        verbose: Keras' `verbose` for `fit` (progress bar by default).

    Returns:
        `(model, history)`: the model after the last epoch and the full
        per-epoch history.
    """
    start = run_dir.last_epoch()
    model = run_dir.load_checkpoint() if start else None
    if model is None:
        model = build_model()
    if start < epochs:
        streams = make_streams(start)
        all_callbacks = [EpochCheckpoint(run_dir, on_best=on_best), *callbacks]
        if tensorboard_available():
            all_callbacks.append(
                keras.callbacks.TensorBoard(log_dir=str(Path(run_dir.path) / "logs"))
            )
        model.fit(
            **streams.fit_kwargs(),
            epochs=epochs,
            initial_epoch=start,
            callbacks=all_callbacks,
            verbose=verbose,
        )
    return model, run_dir.history()
