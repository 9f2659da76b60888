"""Data-parallel training: the one place for the backends' distribution APIs.

`TrainingConfig.distribution = "data_parallel"` trains one model replica per
device of this machine (every GPU, or every logical CPU device where there
is no GPU); "multi_worker" does the same over the devices of several
processes, on one or several machines (`mpikeras.training.multi_worker`).
Each step takes one global batch of `batch_size` samples and splits it
evenly across the devices:

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
- Several processes: JAX as above over the devices of every process
  (`jax.distributed`); TensorFlow with `MultiWorkerMirroredStrategy`, the
  rest as with `MirroredStrategy`.
- PyTorch: Keras has no data-parallel `fit` for it; asking for
  "data_parallel" or "multi_worker" raises `ConfigError`.

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
from mpikeras.training import multi_worker


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
        kind: "none", "data_parallel" or "multi_worker" (what trains, after
            the fall-back of a single device to "none").
        backend: the Keras backend.
        devices: names of the devices holding a replica (empty for "none";
            informative only).
        handle: the backend object (`keras.distribution.DataParallel` or a
            `tf.distribute.Strategy`), or `None`.
        process_index: this process's index in a multi-worker cluster (0
            otherwise); process 0 writes the run directory.
        process_count: the number of processes training together.
    """

    kind: str
    backend: str
    devices: tuple[str, ...] = ()
    handle: Any = dataclasses.field(default=None, repr=False)
    process_index: int = 0
    process_count: int = 1

    @property
    def is_writer(self) -> bool:
        """Whether this process writes the run directory (process 0 of a cluster)."""
        return self.process_index == 0

    def barrier(self, name: str) -> None:
        """Wait for every process of a multi-worker cluster (no-op in a single process)."""
        if self.process_count > 1:
            multi_worker.barrier(self.backend, self.handle, name)

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
        if self.kind != "none" and self.backend == "tensorflow":
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

    def fit_inputs(self, fit_kwargs: dict[str, Any], batch_size: int) -> dict[str, Any]:
        """`fit`'s data for this process: validation trimmed, and on JAX clusters its rows only.

        Args:
            fit_kwargs: `Streams.fit_kwargs()` (global batches).
            batch_size: the global batch size (also the validation batch).

        Returns:
            The keyword arguments, with `validation_batch_size` set.
        """
        fit_kwargs = dict(fit_kwargs)
        validation = fit_kwargs.get("validation_data")
        if validation is not None:
            validation = self.validation_data(validation)
        if self.backend == "jax" and self.process_count > 1:
            index, count = self.process_index, self.process_count
            fit_kwargs["x"] = multi_worker.shard_training_stream(fit_kwargs["x"], index, count)
            if validation is not None:
                validation = multi_worker.shard_validation(validation, batch_size, index, count)
            batch_size //= count
        if validation is not None:
            fit_kwargs["validation_data"] = validation
        fit_kwargs["validation_batch_size"] = batch_size
        return fit_kwargs


@contextlib.contextmanager
def this_process_only() -> Iterator[None]:
    """Inside a distribution's scope, compute on this process alone (for saving a model).

    On JAX a value created while a distribution is set is placed on the
    devices of every process, a collective the other processes would have
    to join; each process of a multi-worker cluster saves on its own
    (process 0 into the run directory, the others into their private
    copies), so it saves without it. Elsewhere this does nothing.
    """
    if keras.backend.backend() != "jax":
        yield
        return
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)


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
        kind: "none", "data_parallel" or "multi_worker" (`TrainingConfig.distribution`).
        batch_size: the global batch size; checked to be a multiple of the
            number of devices.
        jit_compile: `TrainingConfig.jit_compile`; "true" is refused for
            both distributions on TensorFlow, where XLA cannot compile a
            mirrored step (Keras' "auto" does not try).
        devices: devices to use, as the backend names them; every GPU (or
            every logical CPU device) of the machine if `None` (not used by
            "multi_worker", which takes every device of every process).

    Returns:
        A `TrainingDistribution`. On a single device, "data_parallel" gives
        "none" with a `UserWarning`.

    Raises:
        ConfigError: for an unknown `kind`, a distribution on the PyTorch
            backend, with `jit_compile="true"` on TensorFlow, a batch size
            the device count does not divide, or a cluster that cannot be
            formed from the environment (`mpikeras.training.multi_worker`).
    """
    if kind not in DISTRIBUTIONS:
        raise ConfigError("distribution", f"expected one of {list(DISTRIBUTIONS)}, got {kind!r}")
    backend = keras.backend.backend()
    if kind == "none":
        return TrainingDistribution("none", backend)
    if backend not in ("jax", "tensorflow"):
        raise ConfigError(
            "distribution",
            f"{kind!r} needs the JAX or TensorFlow backend (keras.distribution or "
            f"tf.distribute); the Keras backend is {backend!r}. Set KERAS_BACKEND=jax or "
            "KERAS_BACKEND=tensorflow, or use distribution 'none'",
        )
    if backend == "tensorflow" and jit_compile == "true":
        raise ConfigError(
            "jit_compile",
            f"'true' does not combine with distribution {kind!r} on TensorFlow: XLA cannot "
            "compile a step whose variables are mirrored over several devices; use 'auto' (no "
            "XLA under tf.distribute) or 'false', or the JAX backend",
        )
    if kind == "multi_worker":
        return _multi_worker(backend, batch_size)
    devices = list(devices) if devices is not None else available_devices()
    if len(devices) < 2:
        warnings.warn(
            f"distribution 'data_parallel' found {len(devices)} device ({devices}); "
            "training on one device as with 'none'",
            stacklevel=2,
        )
        return TrainingDistribution("none", backend)
    _check_batch(batch_size, len(devices), "devices")
    if backend == "jax":
        handle = keras.distribution.DataParallel(devices=devices)
    else:
        handle = _mirrored_strategy(tuple(devices))
    return TrainingDistribution("data_parallel", backend, tuple(devices), handle)


def _check_batch(batch_size: int | None, parts: int, what: str) -> None:
    if batch_size is not None and batch_size % parts:
        raise ConfigError(
            "batch_size",
            f"data-parallel training splits each batch evenly over {parts} {what}, so the "
            f"batch size must be a multiple of {parts}; got {batch_size}",
        )


def _multi_worker(backend: str, batch_size: int | None) -> TrainingDistribution:
    if backend == "jax":
        devices, index, count = multi_worker.jax_cluster()
        handle = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
        names = tuple(str(device) for device in devices)
    else:
        handle, index, count = multi_worker.tensorflow_cluster()
        names = tuple(handle.extended.worker_devices)
    distribution = TrainingDistribution("multi_worker", backend, names, handle, index, count)
    _check_batch(batch_size, distribution.num_replicas, "devices of all processes")
    return distribution


@functools.cache
def _mirrored_strategy(devices: tuple[str, ...]):
    # One strategy per device set and process: the collective ops of two
    # strategies over the same devices share instance keys, and a run after
    # another in the same process would fail with a shape mismatch.
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(devices=list(devices))
