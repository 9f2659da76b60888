"""Joint training: one encoder trained with the recovery and reconstruction heads at once.

The paper leaves open whether "combining both main tasks in a simultaneous
training setting" helps. Here both heads sit on one shared encoder in a
functional model with two inputs and two outputs,
`{"recovery": signal, "reconstruction": signal} -> {"recovery": neighbour
signal, "reconstruction": concentration image}`; every step takes one
recovery batch and one reconstruction batch (the same streams the separate
runs draw) and minimises the weighted sum of the two MSEs, so each update
of the encoder sees both tasks. The two heads are ordinary `SignalRecovery`
and `DirectReconstruction` models sharing the encoder's weights: after
training each is saved and evaluated exactly like a separately trained one.

Validation: the two validation sets differ in size, so Keras' own
`validation_data` cannot hold them; `JointValidation` computes each head's
validation MSE after every epoch, logs `val_recovery_loss`,
`val_reconstruction_loss` and their weighted sum `val_loss`, and restores
the weights of the epoch with the lowest sum at the end.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from mpikeras.config import FinetuneConfig
from mpikeras.data.streams import Streams, reconstruction_streams, recovery_streams
from mpikeras.errors import ConfigError, RunDirectoryError
from mpikeras.io.atomic import write_text_atomic
from mpikeras.models.encoder import Encoder
from mpikeras.models.heads import DirectReconstruction, SignalRecovery
from mpikeras.models.saving import load_model
from mpikeras.preprocessing.normalization import Normalization
from mpikeras.training.finetune import load_encoder
from mpikeras.training.run_directory import RunDirectory
from mpikeras.training.session import configure, prepare_data, save_normalization

#: Keys of the two inputs and outputs of the joint model.
HEADS = ("recovery", "reconstruction")
RECOVERY_MODEL = "recovery.keras"
RECONSTRUCTION_MODEL = "reconstruction.keras"
_STATE = "joint.json"
_HISTORY = "history.json"
_PREDICT_BATCH = 64


@dataclasses.dataclass
class JointModel:
    """A compiled two-head model and its heads.

    Args:
        model: the functional model `{"recovery", "reconstruction"}` ->
            `{"recovery", "reconstruction"}`, compiled with one MSE per output.
        recovery: the `SignalRecovery` head model (shares the encoder).
        reconstruction: the `DirectReconstruction` head model (shares the encoder).
    """

    model: keras.Model
    recovery: SignalRecovery
    reconstruction: DirectReconstruction


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
    >>> joint.model.fit(batches, steps_per_epoch=10)                 # doctest: +SKIP

    Args:
        config: head sizes and optimizer (`task` is ignored: both are built).
        signal_shape: (V, C) of the inputs.
        normalization: the scale of the training data (stored in both heads).
        encoder: a pretrained encoder (CL), or `None` for a fresh one (wo-CL).
        loss_weights: weights of the recovery and reconstruction MSEs.

    Returns:
        A `JointModel`.

    Raises:
        ConfigError: for bracket recovery inputs, an auxiliary contrastive
            loss or bad loss weights (joint training supports neither).
    """
    if config.recovery_input != "single":
        raise ConfigError("recovery_input", "joint training uses single-column recovery inputs")
    if config.contrastive_weight > 0:
        raise ConfigError("contrastive_weight", "joint training has no auxiliary contrastive loss")
    weights = _check_weights(loss_weights)
    if encoder is None:
        encoder = Encoder.from_encoder_config(config.encoder, input_shape=signal_shape)
    encoder.trainable = not config.freeze_encoder
    scale = normalization.scale
    rec_head, con_head = config.recovery_head, config.reconstruction_head
    recovery = SignalRecovery(
        encoder, rec_head.hidden_units, rec_head.filters, rec_head.kernel_size, scale
    )
    reconstruction = DirectReconstruction(
        encoder,
        con_head.image_shape,
        con_head.filters,
        con_head.kernel_size,
        con_head.elu_alpha,
        scale,
    )
    inputs = {name: keras.Input(shape=tuple(signal_shape), name=name) for name in HEADS}
    outputs = {
        "recovery": recovery(inputs["recovery"]),
        "reconstruction": reconstruction(inputs["reconstruction"]),
    }
    model = keras.Model(inputs, outputs, name="joint_heads")
    model.compile(
        optimizer=keras.optimizers.Adam(
            config.learning_rate, beta_1=config.optimizer.beta_1, beta_2=config.optimizer.beta_2
        ),
        loss={name: "mse" for name in HEADS},
        loss_weights=dict(zip(HEADS, weights, strict=True)),
        jit_compile=config.keras_jit_compile,
    )
    return JointModel(model, recovery, reconstruction)


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


def joint_streams(
    recovery: Streams, reconstruction: Streams
) -> tuple[Any, int, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Zip a recovery and a reconstruction stream into joint batches.

    Returns:
        `(train, steps_per_epoch, validation)`: the endless joint stream
        (tf.data or PyDataset, like its inputs), the larger of the two
        streams' epoch lengths, and each head's validation `(x, y)`.
    """
    steps = max(recovery.steps_per_epoch, reconstruction.steps_per_epoch)
    if recovery.pipeline == "tf":
        import tensorflow as tf

        train = tf.data.Dataset.zip((recovery.train, reconstruction.train)).map(_pack)
    else:
        train = _ZippedBatches(recovery.train, reconstruction.train)
    validation = {"recovery": recovery.validation, "reconstruction": reconstruction.validation}
    return train, steps, validation


def _mse(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    prediction = np.asarray(model.predict(x, batch_size=_PREDICT_BATCH, verbose=0), np.float64)
    return float(np.mean((prediction - np.asarray(y, np.float64)) ** 2))


class JointValidation(keras.callbacks.Callback):
    """Each head's validation MSE per epoch; restores the best epoch's weights at the end.

    Args:
        joint: the `JointModel` being trained.
        validation: "recovery" and "reconstruction" -> `(x, y)` NumPy arrays.
        loss_weights: weights of the two MSEs in `val_loss`.
    """

    def __init__(
        self,
        joint: JointModel,
        validation: dict[str, tuple[np.ndarray, np.ndarray]],
        loss_weights: Sequence[float] = (1.0, 1.0),
    ) -> None:
        super().__init__()
        self.joint = joint
        self.validation = validation
        self.loss_weights = _check_weights(loss_weights)
        self.best_value = float("inf")
        self.best_epoch: int | None = None
        self._best_weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if logs is None:
            return
        values = {name: _mse(getattr(self.joint, name), *self.validation[name]) for name in HEADS}
        logs["val_recovery_loss"] = values["recovery"]
        logs["val_reconstruction_loss"] = values["reconstruction"]
        total = sum(w * values[n] for w, n in zip(self.loss_weights, HEADS, strict=True))
        logs["val_loss"] = total
        if np.isfinite(total) and total < self.best_value:
            self.best_value, self.best_epoch = total, epoch + 1
            self._best_weights = self.joint.model.get_weights()

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        if self._best_weights is not None:
            self.joint.model.set_weights(self._best_weights)


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
    heads, loadable by `mpikeras evaluate`), `config.json`,
    `normalization.json`, `history.json` and `joint.json` into `run_dir`. A
    finished run with the same configuration is loaded instead of
    retrained; an unfinished one, or one asked for another number of
    epochs, starts again (a joint run is as short as a fine-tuning run;
    there are no epoch checkpoints).

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
        RunDirectoryError: if `run_dir` holds a finished joint run with
            another configuration (other than its epochs).
    """
    weights = _check_weights(loss_weights)
    record = {"config": config.to_dict(), "loss_weights": list(weights)}
    directory = RunDirectory(run_dir)
    state_path = directory.file(_STATE)
    finished = state_path.exists() and all(
        directory.file(n).exists() for n in (RECOVERY_MODEL, RECONSTRUCTION_MODEL, _HISTORY)
    )
    if finished:
        try:
            state = json.loads(state_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise RunDirectoryError(f"{state_path}: unreadable joint run state ({exc})") from None
        old = state.get("record", {})
        if old == record:
            return JointResult(
                load_model(directory.file(RECOVERY_MODEL)),
                load_model(directory.file(RECONSTRUCTION_MODEL)),
                json.loads(directory.file(_HISTORY).read_text()),
                state.get("best_epoch"),
                directory.path,
            )
        other = {**old, "config": {**old.get("config", {}), "epochs": config.epochs}}
        if other != record:
            raise RunDirectoryError(
                f"{directory.path}: holds a finished joint run with another configuration; "
                "choose another directory to start a new run"
            )
    encoder, normalization = None, None
    if config.pretrained_encoder:
        encoder, normalization = load_encoder(config.pretrained_encoder)
    data = prepare_data(config.data, config.seed, normalization)
    directory.bind_config(config.to_dict())
    configure(config)
    save_normalization(directory.path, data.normalization)
    signal_shape = tuple(data.signals.signals.shape[2:])
    joint = build_joint_model(config, signal_shape, data.normalization, encoder, weights)

    common = {
        "batch_size": config.batch_size,
        "seed": config.seed,
        "steps_per_epoch": config.steps_per_epoch,
        "pipeline": pipeline,
    }
    rec = recovery_streams(data.signals, data.split, **common)
    con = reconstruction_streams(data.signals, data.split, combination=config.combination, **common)
    train, steps, validation = joint_streams(rec, con)
    validator = JointValidation(joint, validation, weights)
    history = joint.model.fit(
        train,
        steps_per_epoch=steps,
        epochs=config.epochs,
        callbacks=[validator, *callbacks],
        shuffle=False,
        verbose=verbose,
    ).history
    history = {k: [float(v) for v in values] for k, values in history.items()}
    directory.save_model(joint.recovery, RECOVERY_MODEL)
    directory.save_model(joint.reconstruction, RECONSTRUCTION_MODEL)
    write_text_atomic(directory.file(_HISTORY), json.dumps(history, indent=1) + "\n")
    write_text_atomic(
        state_path,
        json.dumps({"record": record, "best_epoch": validator.best_epoch}, indent=2) + "\n",
    )
    return JointResult(
        joint.recovery, joint.reconstruction, history, validator.best_epoch, directory.path
    )
