"""Setting up a training process: precision, seeds, determinism, data, and the run prelude.

`start_run` is the one prelude of every training run (pretraining,
fine-tuning, joint training): the distribution, the prepared data, the
configuration bound to the run directory, the global Keras state and the
stored normalisation. `Run.fit` is its resumable training loop.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from mpikeras._system import automatic_precision
from mpikeras.config import DataConfig, FinetuneConfig, TrainingConfig
from mpikeras.data.sources import load_system_matrix, load_unlabelled_columns
from mpikeras.data.split import VoxelSplit
from mpikeras.errors import (
    ConfigError,
    ModelFileError,
    RunDirectoryError,
    TrainingDivergedError,
)
from mpikeras.io.atomic import write_text_atomic
from mpikeras.models.saving import load_model
from mpikeras.preprocessing.normalization import Normalization
from mpikeras.preprocessing.signals import VoxelSignals, voxel_signals
from mpikeras.training.distribution import TrainingDistribution, training_distribution
from mpikeras.training.memory import check_training_memory
from mpikeras.training.run_directory import NORMALIZATION, PRECISION, RunDirectory, RunLock
from mpikeras.training.runner import FitInputs, fit_resumable


def configure(config: TrainingConfig, deterministic: bool = True) -> None:
    """Global Keras state for a run: dtype policy, seeds, deterministic ops.

    On TensorFlow, deterministic kernels and XLA exclude each other (Keras
    turns `jit_compile` off while op determinism is on), so determinism is
    requested only where the train step is not XLA-compiled, and turned
    off where it is (`tensorflow_uses_xla`).

    Args:
        config: the run's configuration (`mixed_precision`, `seed`,
            `jit_compile`, `distribution`).
        deterministic: ask the backend for deterministic kernels, so that on
            the CPU the same seed reproduces the same weights.
    """
    keras.mixed_precision.set_global_policy(dtype_policy(config)[0])
    keras.utils.set_random_seed(config.seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if deterministic and not tensorflow_uses_xla(config):
            tf.config.experimental.enable_op_determinism()
        else:
            _disable_tensorflow_op_determinism()


def dtype_policy(config: TrainingConfig) -> tuple[str, str]:
    """The Keras dtype policy of a run, and why: the configured one, or the hardware's for "auto".

    Example:

    >>> dtype_policy(TrainingConfig(mixed_precision="mixed_bfloat16"))
    ('mixed_bfloat16', 'configured')
    """
    if config.mixed_precision != "auto":
        return config.mixed_precision, "configured"
    return automatic_precision(keras.backend.backend())


def save_precision(run_dir: Path, config: TrainingConfig) -> None:
    """Record the dtype policy a run trains in (`precision.json`: requested, policy, reason)."""
    policy, reason = dtype_policy(config)
    record = {"requested": config.mixed_precision, "policy": policy, "reason": reason}
    write_text_atomic(Path(run_dir) / PRECISION, json.dumps(record, indent=1) + "\n")


def tensorflow_uses_xla(config: TrainingConfig) -> bool:
    """Whether a TensorFlow run with `config` compiles its train step with XLA.

    "true" always; "false" never; "auto" as Keras decides it: on a machine
    with a GPU or TPU and without a `tf.distribute` strategy (Keras never
    uses XLA for "auto" on a CPU-only machine or under `MirroredStrategy`).
    """
    if config.jit_compile != "auto":
        return config.jit_compile == "true"
    import tensorflow as tf

    accelerators = [d for d in tf.config.list_physical_devices() if d.device_type != "CPU"]
    return bool(accelerators) and config.distribution == "none"


def _disable_tensorflow_op_determinism() -> None:
    # TensorFlow has no public switch back; an earlier run in this process may
    # have turned determinism on.
    from tensorflow.python.framework import config as tf_config

    if tf_config.is_op_determinism_enabled():
        tf_config.disable_op_determinism()


@dataclasses.dataclass(frozen=True, eq=False)
class TrainingData:
    """Normalised voxel signals of the training SM, their scale and the voxel split.

    `unlabelled` holds the normalised columns of `DataConfig.unlabelled`
    (N, V, C), for pretraining only.
    """

    signals: VoxelSignals
    normalization: Normalization
    split: VoxelSplit
    unlabelled: np.ndarray | None = None


def prepare_data(
    data: DataConfig,
    seed: int,
    normalization: Normalization | None = None,
    unlabelled: bool = True,
) -> TrainingData:
    """Load, band-pass and normalise the training SM, and split it 80:20 (`data.split`).

    Args:
        data: source, band, channels and validation share.
        seed: seed of the voxel split.
        normalization: a scale to re-use (for example the pretraining run's);
            fitted on this SM (half its peak, paper section II) if `None`.
        unlabelled: load `data.unlabelled` (only pretraining draws from it).

    Returns:
        The `TrainingData`.
    """
    sm = load_system_matrix(data.source, seed=data.seed)
    signals = voxel_signals(sm, band_hz=data.band_hz, channels=data.channels)
    normalization = normalization or Normalization.fit(signals.signals)
    split = VoxelSplit.build(data.split, signals.num_voxels, data.validation_fraction, seed)
    columns = None
    if unlabelled and data.unlabelled:
        shape = signals.flat.shape[1:]
        raw = load_unlabelled_columns(data.unlabelled, data.band_hz, data.channels, shape)
        columns = normalization(raw)
    return TrainingData(signals.normalized(normalization), normalization, split, columns)


def save_normalization(run_dir: Path, normalization: Normalization) -> None:
    write_text_atomic(Path(run_dir) / NORMALIZATION, json.dumps(normalization.to_dict()) + "\n")


def load_normalization(run_dir: Path) -> Normalization:
    """The normalisation stored in a run directory.

    Raises:
        RunDirectoryError: if it is missing or unreadable.
    """
    path = Path(run_dir) / NORMALIZATION
    try:
        return Normalization.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RunDirectoryError(f"{path}: missing or unreadable normalisation ({exc})") from None


def load_encoder(path: str | Path) -> tuple[keras.Model, Normalization | None]:
    """A pretrained encoder and the normalisation stored beside it (if any).

    Raises:
        ModelFileError: if the file is missing, damaged, not a safe Keras model, or
            a task head or SimCLR model rather than an encoder.
    """
    path = Path(path)
    encoder = load_model(path)
    if hasattr(encoder, "encoder"):  # a head, a SimCLR or joint model: it holds an encoder
        raise ModelFileError(
            f"{path}: is a {type(encoder).__name__}, not an encoder; give the encoder.keras "
            "of a pretraining run"
        )
    beside = path.parent / NORMALIZATION
    return encoder, load_normalization(path.parent) if beside.exists() else None


@dataclasses.dataclass(frozen=True, eq=False)
class Run:
    """A training run set up by `start_run`.

    Args:
        config: the run's configuration.
        directory: its run directory (configuration bound, normalisation stored).
        data: the prepared training data.
        distribution: where it trains.
        signal_shape: (V, C) of the model inputs.
        lock: the directory's lock, held from `start_run` to the end of `fit`
            (`None` in the processes of a cluster that do not write).
        workspace: where this process writes while it trains: `directory`,
            or, in the other processes of a multi-worker cluster, a private
            copy of it in a temporary directory (TensorFlow needs every
            process to save when one does; the copy is removed by `fit`).
    """

    config: TrainingConfig
    directory: RunDirectory
    data: TrainingData
    distribution: TrainingDistribution
    signal_shape: tuple[int, int]
    lock: RunLock | None
    workspace: RunDirectory

    def fit(
        self,
        build_model: Callable[[], keras.Model],
        make_streams: Callable[[int], FitInputs],
        products: Mapping[str, Callable[[keras.Model], keras.Model]],
        *,
        epoch_metrics: Sequence[keras.callbacks.Callback] = (),
        callbacks: Sequence[keras.callbacks.Callback] = (),
        verbose: str | int = "auto",
    ) -> tuple[keras.Model, dict[str, list[float]]]:
        """Train for `config.epochs` epochs in total, resuming (`fit_resumable`).

        Args:
            build_model: builds and compiles a fresh model (inside the
                distribution's scope; load a pretrained encoder there too).
            make_streams: `start_epoch -> Streams`.
            products: the run's products, file name -> the part of the
                trained model saved there (for example the encoder); saved
                from the best epoch when the run ends or diverges (from the
                last epoch if no epoch was best).
            epoch_metrics: callbacks that add validation metrics to an
                epoch's logs (run before the checkpoint that reads them).
            callbacks: more Keras callbacks.
            verbose: `fit`'s verbosity.

        Returns:
            `(model, history)`: the model after the last epoch and the full history.
        """
        workspace = self.workspace

        def save(last: keras.Model | None) -> None:
            # Once, from the best epoch: saving the products at every new best epoch
            # took about a fifth of a quick-preset head's training time (profiled).
            best = workspace.load_best()
            model = best if best is not None else last
            if model is not None:
                for name, part in products.items():
                    workspace.save_model(part(model), name)

        trained_before = workspace.last_epoch()
        try:
            try:
                model = fit_resumable(
                    workspace,
                    build_model,
                    make_streams,
                    self.config.epochs,
                    batch_size=self.config.batch_size,
                    epoch_metrics=epoch_metrics,
                    callbacks=callbacks,
                    verbose=verbose,
                    distribution=self.distribution,
                )
            except TrainingDivergedError:
                save(None)  # what the finite epochs before it reached
                raise
            missing = not all(workspace.file(name).exists() for name in products)
            if workspace.last_epoch() > trained_before or missing:
                save(model)
            # The other processes of a cluster read the products once process 0 wrote them.
            self.distribution.barrier("mpikeras-run-written")
        finally:
            self.release()
        return model, self.directory.history()

    def release(self) -> None:
        """Release the directory's lock, or remove this process's private copy."""
        if self.lock is not None:
            self.lock.release()
        if self.workspace is not self.directory:
            shutil.rmtree(self.workspace.path, ignore_errors=True)


def start_run(
    config: TrainingConfig,
    run_dir: str | Path,
    *,
    settings: Mapping[str, Any] | None = None,
) -> Run:
    """The prelude of every training run: distribution, data, bound configuration, state.

    Sets up the configured distribution (refusing what it cannot train),
    loads the training data (normalised with the pretrained encoder's scale
    where `config.pretrained_encoder` names one), records the configuration
    in the run directory (or refuses a run with another one), sets the
    global Keras state (`configure`) and stores the normalisation.

    Example:

    >>> run = start_run(PretrainConfig(epochs=5), "runs/pretrain")   # doctest: +SKIP
    >>> run.signal_shape                                               # doctest: +SKIP
    (1632, 2)

    Args:
        config: the run's configuration.
        run_dir: the run directory (created if missing).
        settings: more settings the run depends on, recorded with the
            configuration (for example the loss weights of a joint run).

    Returns:
        The `Run`.

    Raises:
        ConfigError: if the backend, the devices or the batch size do not
            allow the configured `distribution`, or for an auxiliary
            contrastive loss data-parallel on TensorFlow.
        ConfigError: also if the model and batch cannot fit in memory
            (`check_training_memory`), before anything is written.
        RunDirectoryError: if `run_dir` holds a run with another configuration.
        ModelFileError: if the pretrained encoder is missing or unsafe.
    """
    distribution = training_distribution(
        config.distribution, batch_size=config.batch_size, jit_compile=config.jit_compile
    )
    finetuning = isinstance(config, FinetuneConfig)
    tensorflow_replicas = distribution.backend == "tensorflow" and distribution.num_replicas > 1
    if finetuning and config.contrastive_weight > 0 and tensorflow_replicas:
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
    if finetuning and config.pretrained_encoder:
        _, normalization = load_encoder(config.pretrained_encoder)
    data = prepare_data(config.data, config.seed, normalization, unlabelled=not finetuning)
    signal_shape = tuple(data.signals.signals.shape[2:])
    check_training_memory(config, signal_shape)
    if not distribution.is_writer:
        # Process 0 of the cluster writes the run directory; this one trains on a private copy.
        configure(config)
        directory = RunDirectory(run_dir, create=False)
        return Run(
            config, directory, data, distribution, signal_shape, None, directory.private_copy()
        )
    directory = RunDirectory(run_dir)
    lock = RunLock(directory.path).acquire()
    try:
        directory.check_resumable()
        directory.bind_config({**config.to_dict(), **(settings or {})})
        configure(config)
        save_normalization(directory.path, data.normalization)
        save_precision(directory.path, config)
    except BaseException:
        lock.release()
        raise
    return Run(config, directory, data, distribution, signal_shape, lock, directory)


def adam(config: TrainingConfig) -> keras.optimizers.Optimizer:
    """Adam with the configured learning rate (scaled with the batch if asked) and betas."""
    return keras.optimizers.Adam(
        config.learning_rate, beta_1=config.optimizer.beta_1, beta_2=config.optimizer.beta_2
    )
