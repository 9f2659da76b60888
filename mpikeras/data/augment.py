"""Contrastive augmentations of MPI voltage signals (paper section II, CLMR).

The arithmetic is written once over a tiny array namespace (`ArrayOps`), so
the tf.data pipeline and the NumPy pipeline apply identical formulas to
uniform and normal draws from their own random generators, and therefore
sample from the same distributions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

#: Uniform draws per view: polarity on, noise on, noise level, gain on, gain level.
NUM_VIEW_UNIFORMS = 5


class AugmentationParameters(Protocol):
    """What `augment` reads: an `AugmentationConfig` or a `SignalAugmentation` layer."""

    polarity_probability: float
    noise_probability: float
    noise_ratio_db: tuple[float, float]
    gain_probability: float
    gain_db: tuple[float, float]


@dataclasses.dataclass(frozen=True)
class ArrayOps:
    """The few operations whose spelling differs between NumPy and TensorFlow."""

    where: Callable[[Any, Any, Any], Any]
    std: Callable[[Any], Any]  # per sample over all but the first axis, keepdims
    take: Callable[[Any, Any], Any]  # gather rows along axis 0
    sum1: Callable[[Any], Any]  # sum over axis 1
    float32: Callable[[Any], Any]  # cast to float32


NUMPY_OPS = ArrayOps(
    where=np.where,
    std=lambda x: np.std(x, axis=tuple(range(1, x.ndim)), keepdims=True),
    take=lambda x, i: np.take(x, i, axis=0),
    sum1=lambda x: np.sum(x, axis=1),
    float32=lambda x: np.asarray(x, dtype=np.float32),
)


def tensorflow_ops() -> ArrayOps:
    """`ArrayOps` for TensorFlow tensors inside tf.data."""
    import tensorflow as tf

    return ArrayOps(
        where=tf.where,
        std=lambda x: tf.math.reduce_std(x, axis=list(range(1, len(x.shape))), keepdims=True),
        take=lambda x, i: tf.gather(x, i, axis=0),
        sum1=lambda x: tf.reduce_sum(x, axis=1),
        float32=lambda x: tf.cast(x, tf.float32),
    )


def keras_ops() -> ArrayOps:
    """`ArrayOps` for `keras.ops` tensors (inside a model, any backend)."""
    from keras import ops

    return ArrayOps(
        where=ops.where,
        std=lambda x: ops.std(x, axis=tuple(range(1, len(x.shape))), keepdims=True),
        take=lambda x, i: ops.take(x, i, axis=0),
        sum1=lambda x: ops.sum(x, axis=1),
        float32=lambda x: ops.cast(x, "float32"),
    )


def augment(
    x: Any, uniforms: Any, normals: Any, config: AugmentationParameters, ops: ArrayOps = NUMPY_OPS
) -> Any:
    """Apply polarity inversion, additive noise and gain to a batch of signals.

    In CLMR's order: polarity (x -> -x), white Gaussian noise with standard
    deviation `10 ** (r / 20) * std(x)` (r uniform in `noise_ratio_db`, a
    noise-to-signal ratio of standard deviations per sample), then gain
    `10 ** (g / 20)` (g uniform in `gain_db`, no clipping). Each happens with
    its own probability.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(4, 96, 2)).astype("float32")
    >>> u = rng.random((4, NUM_VIEW_UNIFORMS))
    >>> from mpikeras.config import AugmentationConfig
    >>> augment(x, u, rng.normal(size=x.shape), AugmentationConfig()).shape
    (4, 96, 2)

    Args:
        x: signals, shape (B, V, C).
        uniforms: uniform [0, 1) draws, shape (B, NUM_VIEW_UNIFORMS).
        normals: standard normal draws, shape (B, V, C).
        config: probabilities and ranges (an `AugmentationConfig`, for example).
        ops: `NUMPY_OPS` or `tensorflow_ops()`.

    Returns:
        The augmented signals, shape (B, V, C).
    """

    def u(i: int) -> Any:
        return uniforms[:, i, None, None]

    x = x * ops.where(u(0) < config.polarity_probability, -1.0, 1.0)
    low, high = config.noise_ratio_db
    noise_std = 10.0 ** ((low + (high - low) * u(2)) / 20.0) * ops.std(x)
    x = x + ops.where(u(1) < config.noise_probability, noise_std, 0.0) * normals
    low, high = config.gain_db
    gain = 10.0 ** ((low + (high - low) * u(4)) / 20.0)
    return ops.float32(x * ops.where(u(3) < config.gain_probability, gain, 1.0))
