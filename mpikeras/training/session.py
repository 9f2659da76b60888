"""Setting up a training process: precision, seeds, determinism, data."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import keras

from mpikeras.config import DataConfig, TrainingConfig
from mpikeras.data.sources import load_system_matrix
from mpikeras.data.split import VoxelSplit
from mpikeras.errors import RunDirectoryError
from mpikeras.preprocessing.normalization import Normalization
from mpikeras.preprocessing.signals import VoxelSignals, voxel_signals

NORMALIZATION = "normalization.json"


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
    keras.mixed_precision.set_global_policy(config.mixed_precision)
    keras.utils.set_random_seed(config.seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if deterministic and not tensorflow_uses_xla(config):
            tf.config.experimental.enable_op_determinism()
        else:
            _disable_tensorflow_op_determinism()


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
    """Normalised voxel signals of the training SM, their scale and the voxel split."""

    signals: VoxelSignals
    normalization: Normalization
    split: VoxelSplit


def prepare_data(
    data: DataConfig, seed: int, normalization: Normalization | None = None
) -> TrainingData:
    """Load, band-pass and normalise the training SM, and split it 80:20 (`data.split`).

    Args:
        data: source, band, channels and validation share.
        seed: seed of the voxel split.
        normalization: a scale to re-use (for example the pretraining run's);
            fitted on this SM (half its peak, paper section II) if `None`.

    Returns:
        The `TrainingData`.
    """
    sm = load_system_matrix(data.source, seed=data.seed)
    signals = voxel_signals(sm, band_hz=data.band_hz, channels=data.channels)
    normalization = normalization or Normalization.fit(signals.signals)
    split = VoxelSplit.build(data.split, signals.num_voxels, data.validation_fraction, seed)
    return TrainingData(signals.normalized(normalization), normalization, split)


def save_normalization(run_dir: Path, normalization: Normalization) -> None:
    from mpikeras.io.atomic import write_text_atomic

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


def adam(config: TrainingConfig) -> keras.optimizers.Optimizer:
    """Adam with the configured learning rate (scaled with the batch if asked) and betas."""
    return keras.optimizers.Adam(
        config.learning_rate, beta_1=config.optimizer.beta_1, beta_2=config.optimizer.beta_2
    )
