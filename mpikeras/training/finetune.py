"""Training the recovery and reconstruction heads, wo-CL or CL (paper section II)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import keras

from mpikeras.config import FinetuneConfig
from mpikeras.data.streams import reconstruction_streams, recovery_streams
from mpikeras.errors import ConfigError, RunDirectoryError
from mpikeras.models.augmentation import SignalAugmentation
from mpikeras.models.encoder import Encoder
from mpikeras.models.heads import BracketRecovery, DirectReconstruction, SignalRecovery
from mpikeras.models.projector import ProjectionHead
from mpikeras.models.regularized import ContrastiveRegularized
from mpikeras.models.saving import load_model
from mpikeras.preprocessing.normalization import Normalization
from mpikeras.training.distribution import training_distribution
from mpikeras.training.run_directory import RunDirectory
from mpikeras.training.runner import fit_resumable
from mpikeras.training.session import (
    NORMALIZATION,
    adam,
    configure,
    load_normalization,
    prepare_data,
    save_normalization,
)

MODEL = "model.keras"


@dataclasses.dataclass
class FinetuneResult:
    """What `finetune` produced.

    Args:
        model: the model of the best epoch (lowest validation loss).
        history: per-epoch metrics.
        run_dir: the run directory.
    """

    model: keras.Model
    history: dict[str, list[float]]
    run_dir: Path


def load_encoder(path: str | Path) -> tuple[keras.Model, Normalization | None]:
    """A pretrained encoder and the normalisation stored beside it (if any).

    Raises:
        ModelFileError: if the file is missing, damaged or not a safe Keras model.
    """
    path = Path(path)
    encoder = load_model(path)
    beside = path.parent / NORMALIZATION
    return encoder, load_normalization(path.parent) if beside.exists() else None


def build_head_model(
    config: FinetuneConfig,
    signal_shape: tuple[int, int],
    normalization: Normalization,
    encoder: keras.Model | None = None,
) -> keras.Model:
    """The compiled task model: the configured head on a fresh or given encoder.

    Args:
        config: task, head sizes, optimizer.
        signal_shape: (V, C) of the inputs.
        normalization: the scale of the training data (stored in the model).
        encoder: a pretrained encoder (CL); a fresh one is built if `None`.

    Returns:
        A `SignalRecovery`, `BracketRecovery` or `DirectReconstruction`,
        compiled with Adam and MSE; wrapped in `ContrastiveRegularized` when
        `config.contrastive_weight` > 0.
    """
    if encoder is None:
        encoder = Encoder(signal_shape, **config.encoder.to_dict())
    elif tuple(encoder.inputs[0].shape[1:]) != tuple(signal_shape):
        raise RunDirectoryError(
            f"the pretrained encoder takes inputs {tuple(encoder.inputs[0].shape[1:])}, "
            f"the data has {tuple(signal_shape)} (samples, channels)"
        )
    encoder.trainable = not config.freeze_encoder
    scale = normalization.scale
    if config.task == "reconstruction":
        head = config.reconstruction_head
        model = DirectReconstruction(
            encoder, head.image_shape, head.filters, head.kernel_size, head.elu_alpha, scale
        )
    else:
        head = config.recovery_head
        if config.recovery_input == "bracket":
            sizes = (head.bracket_filters, head.bracket_kernel_size)
            model = BracketRecovery(encoder, head.hidden_units, *sizes, scale)
        else:
            sizes = (head.filters, head.kernel_size)
            model = SignalRecovery(encoder, head.hidden_units, *sizes, scale)
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


def finetune(
    config: FinetuneConfig,
    run_dir: str | Path,
    *,
    pipeline: str = "auto",
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: str | int = "auto",
) -> FinetuneResult:
    """Train a recovery or reconstruction model; resumable like `pretrain`.

    wo-CL when `config.pretrained_encoder` is empty (encoder trained from
    scratch with the head); CL otherwise (the pretrained encoder is
    fine-tuned, or kept fixed with `freeze_encoder`). Writes `model.keras`
    (best epoch), `config.json`, `normalization.json`, checkpoints, history
    and logs into `run_dir`. `config.distribution = "data_parallel"` trains
    on every device of the machine (see `mpikeras.training.distribution`).

    Example:

    >>> cfg = FinetuneConfig(task="recovery", pretrained_encoder="runs/pre/encoder.keras")
    >>> result = finetune(cfg, "runs/recovery-cl")       # doctest: +SKIP

    Returns:
        A `FinetuneResult`.

    Raises:
        RunDirectoryError: if `run_dir` holds a run with another
            configuration, or the pretrained encoder is missing.
        ConfigError: if the backend or the batch size does not allow the
            configured `distribution`, or for `contrastive_weight` > 0 with
            "data_parallel" on TensorFlow.
    """
    distribution = training_distribution(
        config.distribution, batch_size=config.batch_size, jit_compile=config.jit_compile
    )
    tensorflow_replicas = distribution.backend == "tensorflow" and distribution.num_replicas > 1
    if config.contrastive_weight > 0 and tensorflow_replicas:
        # Its NT-Xent is an `add_loss` of `ContrastiveRegularized`: under
        # MirroredStrategy each replica contrasts only its share of the batch,
        # and the step's gradient is not the single-device one.
        raise ConfigError(
            "contrastive_weight",
            "the auxiliary NT-Xent loss does not train data-parallel on TensorFlow (each "
            "replica would contrast its own share of the batch); use the JAX backend, "
            "distribution 'none', or contrastive_weight 0",
        )
    normalization = None
    if config.pretrained_encoder:
        _, normalization = load_encoder(config.pretrained_encoder)
    data = prepare_data(config.data, config.seed, normalization)
    directory = RunDirectory(run_dir)
    directory.bind_config(config.to_dict())
    configure(config)
    save_normalization(directory.path, data.normalization)
    signal_shape = data.signals.signals.shape[2:]

    def make_streams(start_epoch: int):
        common = {
            "batch_size": config.batch_size,
            "seed": config.seed,
            "steps_per_epoch": config.steps_per_epoch,
            "start_epoch": start_epoch,
            "pipeline": pipeline,
        }
        if config.task == "reconstruction":
            return reconstruction_streams(
                data.signals, data.split, combination=config.combination, **common
            )
        bracket = config.recovery_input == "bracket"
        return recovery_streams(data.signals, data.split, bracket=bracket, **common)

    def save_model(model: keras.Model, epoch: int) -> None:
        directory.save_model(getattr(model, "task_model", model), MODEL)

    def build_model() -> keras.Model:
        # Loaded here, inside the distribution's scope, so that its variables
        # are created for the devices the model trains on.
        encoder = load_encoder(config.pretrained_encoder)[0] if config.pretrained_encoder else None
        return build_head_model(config, signal_shape, data.normalization, encoder)

    model, history = fit_resumable(
        directory,
        build_model,
        make_streams,
        config.epochs,
        on_best=save_model,
        callbacks=callbacks,
        verbose=verbose,
        validation_batch_size=config.batch_size,
        distribution=distribution,
    )
    if not directory.file(MODEL).exists():
        save_model(model, config.epochs)
    best = load_model(directory.file(MODEL))
    return FinetuneResult(best, history, directory.path)
