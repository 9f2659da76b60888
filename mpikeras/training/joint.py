"""Joint training: one encoder trained with the recovery and reconstruction heads at once.

The paper leaves open whether "combining both main tasks in a simultaneous
training setting" helps. Here both heads sit on one shared encoder in a
`JointModel` with two inputs and two outputs, `{"recovery": signal,
"reconstruction": signal} -> {"recovery": neighbour signal,
"reconstruction": concentration image}`; every step takes one recovery
batch and one reconstruction batch (the task streams of the separate runs,
with one epoch length for both) and minimises the weighted sum of the two
MSEs, so each update of the encoder sees both tasks. The two heads are
ordinary `SignalRecovery` and `DirectReconstruction` models sharing the
encoder's weights: each is saved and evaluated exactly like a separately
trained one.

Validation: the two validation sets differ in size, so Keras' own
`validation_data` cannot hold them; `JointValidation` computes each head's
validation MSE after every epoch and logs `val_recovery_loss`,
`val_reconstruction_loss` and their weighted sum `val_loss`, by which the
run directory selects the best epoch. A joint run is a run directory like
any other (`start_run`, `Run.fit`): it resumes after its last completed
epoch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from mpikeras.config import FinetuneConfig
from mpikeras.data.streams import Streams
from mpikeras.errors import ConfigError
from mpikeras.models.joint import HEADS, JointModel
from mpikeras.models.saving import load_model
from mpikeras.preprocessing.normalization import Normalization
from mpikeras.training.run_directory import RECONSTRUCTION_MODEL, RECOVERY_MODEL
from mpikeras.training.session import adam, load_encoder, start_run
from mpikeras.training.task import task_encoder, task_head, task_streams, task_validation

_PREDICT_BATCH = 64


def _check_weights(loss_weights: Sequence[float]) -> tuple[float, float]:
    if len(loss_weights) != 2 or min(loss_weights) < 0 or not sum(loss_weights) > 0:
        raise ConfigError(
            "loss_weights",
            f"expected two non-negative weights (recovery, reconstruction), not both 0; got "
            f"{list(loss_weights)}",
        )
    return float(loss_weights[0]), float(loss_weights[1])


def build_joint_model(
    config: FinetuneConfig,
    signal_shape: tuple[int, int],
    normalization: Normalization,
    encoder: keras.Model | None = None,
    loss_weights: Sequence[float] = (1.0, 1.0),
) -> JointModel:
    """Both task heads on one encoder, compiled for joint training.

    Example:

    >>> joint = build_joint_model(FinetuneConfig(), (1632, 2), norm)  # doctest: +SKIP
    >>> joint.fit(batches, steps_per_epoch=10)                       # doctest: +SKIP

    Args:
        config: head sizes and optimizer (`task` is ignored: both are built).
        signal_shape: (V, C) of the inputs.
        normalization: the scale of the training data (stored in both heads).
        encoder: a pretrained encoder (CL), or `None` for a fresh one (wo-CL).
        loss_weights: weights of the recovery and reconstruction MSEs.

    Returns:
        A compiled `JointModel`; its `recovery` and `reconstruction` heads
        share the encoder.

    Raises:
        ConfigError: for bracket recovery inputs, an auxiliary contrastive
            loss or bad loss weights (joint training supports neither).
        RunDirectoryError: if the given encoder takes inputs of another shape.
    """
    if config.recovery_input != "single":
        raise ConfigError("recovery_input", "joint training uses single-column recovery inputs")
    if config.contrastive_weight > 0:
        raise ConfigError("contrastive_weight", "joint training has no auxiliary contrastive loss")
    weights = _check_weights(loss_weights)
    encoder = task_encoder(config, signal_shape, encoder)
    heads = [task_head(config, task, encoder, normalization) for task in HEADS]
    model = JointModel(*heads)
    model.compile(
        optimizer=adam(config),
        loss={name: "mse" for name in HEADS},
        loss_weights=dict(zip(HEADS, weights, strict=True)),
        jit_compile=config.keras_jit_compile,
    )
    return model


class _ZippedBatches(keras.utils.PyDataset):
    """Batch i of two endless PyDatasets, packed as joint inputs and targets."""

    def __init__(self, recovery: keras.utils.PyDataset, reconstruction: keras.utils.PyDataset):
        super().__init__()
        self.recovery = recovery
        self.reconstruction = reconstruction

    @property
    def num_batches(self) -> int | None:
        return None

    def __getitem__(self, index: int):
        return _pack(self.recovery[index], self.reconstruction[index])


def _pack(recovery: tuple, reconstruction: tuple) -> tuple[dict, dict]:
    return (
        {"recovery": recovery[0], "reconstruction": reconstruction[0]},
        {"recovery": recovery[1], "reconstruction": reconstruction[1]},
    )


@dataclasses.dataclass
class JointStreams:
    """The joint training stream and each head's validation data.

    Args:
        train: endless stream of joint batches (tf.data or PyDataset).
        steps_per_epoch: joint batches per epoch.
        validation: "recovery" and "reconstruction" -> `(x, y)` NumPy arrays.
    """

    train: Any
    steps_per_epoch: int
    validation: dict[str, tuple[np.ndarray, np.ndarray]]

    def fit_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `model.fit` (validation is `JointValidation`'s)."""
        return {"x": self.train, "steps_per_epoch": self.steps_per_epoch, "shuffle": False}


def joint_streams(recovery: Streams, reconstruction: Streams) -> JointStreams:
    """Zip a recovery and a reconstruction stream into joint batches.

    Batch i of the joint stream is batch i of each; an epoch is the longer
    of the two streams' epochs.
    """
    steps = max(recovery.steps_per_epoch, reconstruction.steps_per_epoch)
    if recovery.pipeline == "tf":
        import tensorflow as tf

        train = tf.data.Dataset.zip((recovery.train, reconstruction.train)).map(_pack)
    else:
        train = _ZippedBatches(recovery.train, reconstruction.train)
    validation = {"recovery": recovery.validation, "reconstruction": reconstruction.validation}
    return JointStreams(train, steps, validation)


def _mse(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    prediction = np.asarray(model.predict(x, batch_size=_PREDICT_BATCH, verbose=0), np.float64)
    return float(np.mean((prediction - np.asarray(y, np.float64)) ** 2))


class JointValidation(keras.callbacks.Callback):
    """Each head's validation MSE per epoch, and their weighted sum as `val_loss`.

    Args:
        validation: "recovery" and "reconstruction" -> `(x, y)` NumPy arrays.
        loss_weights: weights of the two MSEs in `val_loss`.
    """

    def __init__(
        self,
        validation: dict[str, tuple[np.ndarray, np.ndarray]],
        loss_weights: Sequence[float] = (1.0, 1.0),
    ) -> None:
        super().__init__()
        self.validation = validation
        self.loss_weights = _check_weights(loss_weights)

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if logs is None:
            return
        values = {name: _mse(getattr(self.model, name), *self.validation[name]) for name in HEADS}
        logs["val_recovery_loss"] = values["recovery"]
        logs["val_reconstruction_loss"] = values["reconstruction"]
        logs["val_loss"] = sum(w * values[n] for w, n in zip(self.loss_weights, HEADS, strict=True))


@dataclasses.dataclass
class JointResult:
    """What `train_joint` produced.

    Args:
        recovery: the recovery head model of the best epoch.
        reconstruction: the reconstruction head model of the same epoch.
        history: per-epoch metrics (`loss`, `recovery_loss`,
            `reconstruction_loss`, `val_recovery_loss`,
            `val_reconstruction_loss`, `val_loss`).
        best_epoch: the epoch kept (lowest `val_loss`).
        run_dir: the run directory.
    """

    recovery: keras.Model
    reconstruction: keras.Model
    history: dict[str, list[float]]
    best_epoch: int | None
    run_dir: Path


def train_joint(
    config: FinetuneConfig,
    run_dir: str | Path,
    *,
    loss_weights: Sequence[float] = (1.0, 1.0),
    pipeline: str = "auto",
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: str | int = "auto",
) -> JointResult:
    """Train one encoder with both heads at once; wo-CL, or CL with `pretrained_encoder`.

    Writes `recovery.keras` and `reconstruction.keras` (the best epoch's
    heads, loadable by `mpikeras evaluate`) and the run files (`config.json`
    with the loss weights, `normalization.json`, checkpoints, history) into
    `run_dir`. Resumable like `finetune`: a rerun continues after the last
    completed epoch, and a finished run is loaded instead of retrained.

    Example:

    >>> result = train_joint(FinetuneConfig(epochs=100), "runs/joint")   # doctest: +SKIP
    >>> result.recovery, result.reconstruction                           # doctest: +SKIP

    Args:
        config: data, encoder, heads, optimizer, epochs (`task` is ignored).
        run_dir: output directory.
        loss_weights: weights of the recovery and reconstruction MSEs.
        pipeline: "auto", "tf" or "python".
        callbacks: more Keras callbacks.
        verbose: `fit`'s verbosity.

    Returns:
        A `JointResult`.

    Raises:
        RunDirectoryError: if `run_dir` holds a run with another
            configuration or other loss weights.
        ConfigError: for bad loss weights, bracket recovery inputs, an
            auxiliary contrastive loss, or several devices.
    """
    weights = _check_weights(loss_weights)
    run = start_run(config, run_dir, settings={"loss_weights": list(weights)})
    if run.distribution.num_replicas > 1:
        run.release()
        raise ConfigError(
            "distribution",
            "joint training trains on one device (its per-epoch validation of both heads is "
            "not distributed); use distribution 'none'",
        )
    configs = {task: config.replace(task=task) for task in HEADS}
    # One epoch length for both streams, so that a resumed run continues each where it stopped.
    steps = max(
        task_streams(c, run.data, pipeline="python").steps_per_epoch for c in configs.values()
    )
    configs = {task: c.replace(steps_per_epoch=steps) for task, c in configs.items()}

    def make_streams(start_epoch: int) -> JointStreams:
        recovery, reconstruction = (
            task_streams(configs[task], run.data, start_epoch, pipeline) for task in HEADS
        )
        return joint_streams(recovery, reconstruction)

    def build_model() -> JointModel:
        encoder = load_encoder(config.pretrained_encoder)[0] if config.pretrained_encoder else None
        return build_joint_model(config, run.signal_shape, run.data.normalization, encoder, weights)

    validation = {task: task_validation(c, run.data) for task, c in configs.items()}
    _, history = run.fit(
        build_model,
        make_streams,
        {
            RECOVERY_MODEL: lambda model: model.recovery,
            RECONSTRUCTION_MODEL: lambda model: model.reconstruction,
        },
        epoch_metrics=[JointValidation(validation, weights)],
        callbacks=callbacks,
        verbose=verbose,
    )
    return JointResult(
        load_model(run.directory.file(RECOVERY_MODEL)),
        load_model(run.directory.file(RECONSTRUCTION_MODEL)),
        history,
        run.directory.state().get("best_epoch"),
        run.directory.path,
    )
