"""Data-parallel training on one machine: the one place for the backends' distribution APIs.

`TrainingConfig.distribution = "data_parallel"` trains one model replica per
device of this machine (every GPU, or every logical CPU device where there
is no GPU). Each step takes one global batch of `batch_size` samples and
splits it evenly across the devices:

- JAX: `keras.distribution.DataParallel`. The variables are replicated on a
  one-axis device mesh and the batch is sharded along it; Keras runs the
  train step once on the global (sharded) arrays and XLA inserts the
  cross-device reductions, so BatchNorm statistics, the NT-Xent negatives
  and the gradient all span the global batch.
- TensorFlow: `tf.distribute.MirroredStrategy`. Each replica runs the step
  on its share; `SimCLR` all-gathers the projections so that every replica
  computes NT-Xent over the 2 x global batch embeddings, and the
  BatchNormalization layers are switched to synchronised statistics
  (SimCLR's "global BN"), so a step equals the single-device step on the
  same global batch.
- PyTorch: Keras has no data-parallel `fit` for it; asking for
  "data_parallel" raises `ConfigError`.

With a single device "data_parallel" trains as "none" and warns.

Example:

>>> setup = training_distribution("data_parallel", batch_size=256)   # doctest: +SKIP
>>> with setup.scope():                                               # doctest: +SKIP
...     model = build_simclr(config, (1632, 2))
...     model.fit(**streams.fit_kwargs(), epochs=10)
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import keras

from mpikeras.config import DISTRIBUTIONS
from mpikeras.errors import ConfigError


@dataclasses.dataclass(frozen=True, eq=False)
class TrainingDistribution:
    """Where and how a model trains: one device, or data-parallel over several.

    Build it with `training_distribution`, or wrap a strategy of your own
    (for example a `tf.distribute.MultiWorkerMirroredStrategy`, or a
    `keras.distribution.DataParallel` over the devices of several JAX
    processes) as `TrainingDistribution("data_parallel", backend,
    handle=strategy)`. Build (or load), compile and fit the model inside
    `scope()`, after `prepare_model`.

    Args:
        kind: "none" or "data_parallel" (what trains, after the fall-back of
            a single device to "none").
        backend: the Keras backend.
        devices: names of the devices holding a replica (empty for "none";
            informative only).
        handle: the backend object (`keras.distribution.DataParallel` or a
            `tf.distribute.Strategy`), or `None`.
    """

    kind: str
    backend: str
    devices: tuple[str, ...] = ()
    handle: Any = dataclasses.field(default=None, repr=False)

    @property
    def num_replicas(self) -> int:
        """Model replicas a global batch is split across (1 for "none")."""
        if self.handle is None:
            return 1
        if self.backend == "jax":
            return int(self.handle.device_mesh.devices.size)
        return int(self.handle.num_replicas_in_sync)

    @contextlib.contextmanager
    def scope(self) -> Iterator[TrainingDistribution]:
        """Make this distribution current: models built, loaded and fitted inside use it.

        JAX: sets the global Keras distribution and restores the previous one
        on exit. TensorFlow: enters the strategy's scope. "none": does nothing.
        """
        if self.handle is None:
            yield self
        else:
            with self.handle.scope():
                yield self

    def prepare_model(self, model: keras.Model) -> keras.Model:
        """Adapt a model built or loaded in `scope()` to the distribution; returns it.

        On TensorFlow with several replicas, switches every
        BatchNormalization layer to statistics synchronised across the
        replicas (`synchronized=True`), so BatchNorm normalises over the
        global batch as on one device (JAX does so by itself). The flag is
        not part of any saved configuration here: `Encoder` and the heads
        serialise their constructor arguments only.
        """
        if self.kind == "data_parallel" and self.backend == "tensorflow":
            for layer in model._flatten_layers(include_self=False):
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.synchronized = True
        return model

    def validation_data(self, validation: tuple) -> tuple:
        """Trim fixed validation arrays to a multiple of `num_replicas` samples.

        JAX shards every batch evenly across the devices, so no batch may
        hold a sample count the device count does not divide. With a batch
        size that is a multiple of the device count (checked by
        `training_distribution`), trimming the set does it for the last
        batch too. At most `num_replicas - 1` samples are dropped.
        """
        keep = len(keras.tree.flatten(validation)[0])
        keep -= keep % self.num_replicas
        return keras.tree.map_structure(lambda array: array[:keep], validation)


def _tensorflow_devices() -> list[str]:
    import tensorflow as tf

    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return [device.name for device in devices]


def _jax_devices() -> list[str]:
    return list(keras.distribution.list_devices())


def available_devices() -> list[str]:
    """The devices "data_parallel" would use: every GPU, else every (logical) CPU device.

    Returns:
        Device names as the backend spells them (for example
        `"/device:GPU:0"` on TensorFlow, `"cuda:0"` on JAX); empty on PyTorch.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow_devices()
    if backend == "jax":
        return _jax_devices()
    return []


def training_distribution(
    kind: str = "none",
    *,
    batch_size: int | None = None,
    jit_compile: str = "auto",
    devices: Sequence[str] | None = None,
) -> TrainingDistribution:
    """The distribution a run asks for, set up on the current Keras backend.

    Example:

    >>> setup = training_distribution("data_parallel", batch_size=64)   # doctest: +SKIP
    >>> setup.num_replicas                                               # doctest: +SKIP
    2

    Args:
        kind: "none" or "data_parallel" (`TrainingConfig.distribution`).
        batch_size: the global batch size; checked to be a multiple of the
            number of devices.
        jit_compile: `TrainingConfig.jit_compile`; "true" is refused for
            "data_parallel" on TensorFlow, where XLA cannot compile a
            `MirroredStrategy` step (Keras' "auto" does not try).
        devices: devices to use, as the backend names them; every GPU (or
            every logical CPU device) of the machine if `None`.

    Returns:
        A `TrainingDistribution`. On a single device, "data_parallel" gives
        "none" with a `UserWarning`.

    Raises:
        ConfigError: for an unknown `kind`, "data_parallel" on the PyTorch
            backend, with `jit_compile="true"` on TensorFlow, or with a batch
            size the device count does not divide.
    """
    if kind not in DISTRIBUTIONS:
        raise ConfigError("distribution", f"expected one of {list(DISTRIBUTIONS)}, got {kind!r}")
    backend = keras.backend.backend()
    if kind == "none":
        return TrainingDistribution("none", backend)
    if backend not in ("jax", "tensorflow"):
        raise ConfigError(
            "distribution",
            "'data_parallel' needs the JAX or TensorFlow backend (keras.distribution or "
            f"tf.distribute); the Keras backend is {backend!r}. Set KERAS_BACKEND=jax or "
            "KERAS_BACKEND=tensorflow, or use distribution 'none'",
        )
    if backend == "tensorflow" and jit_compile == "true":
        raise ConfigError(
            "jit_compile",
            "'true' does not combine with distribution 'data_parallel' on TensorFlow: XLA "
            "cannot compile a MirroredStrategy step whose variables live on several devices; "
            "use 'auto' (no XLA under tf.distribute) or 'false', or the JAX backend",
        )
    devices = list(devices) if devices is not None else available_devices()
    if len(devices) < 2:
        warnings.warn(
            f"distribution 'data_parallel' found {len(devices)} device ({devices}); "
            "training on one device as with 'none'",
            stacklevel=2,
        )
        return TrainingDistribution("none", backend)
    if batch_size is not None and batch_size % len(devices):
        raise ConfigError(
            "batch_size",
            f"data-parallel training splits each batch evenly over {len(devices)} devices, so "
            f"the batch size must be a multiple of {len(devices)}; got {batch_size}",
        )
    if backend == "jax":
        handle = keras.distribution.DataParallel(devices=devices)
    else:
        handle = _mirrored_strategy(tuple(devices))
    return TrainingDistribution("data_parallel", backend, tuple(devices), handle)


@functools.cache
def _mirrored_strategy(devices: tuple[str, ...]):
    # One strategy per device set and process: the collective ops of two
    # strategies over the same devices share instance keys, and a run after
    # another in the same process would fail with a shape mismatch.
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(devices=list(devices))
