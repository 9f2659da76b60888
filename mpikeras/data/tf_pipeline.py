"""tf.data pipelines for the streams of `mpikeras.data.sampling`.

Element index -> stateless per-element draws (parallel map, deterministic)
-> batch (drop remainder) -> vectorised assembly per batch -> prefetch.
"""

from __future__ import annotations

import dataclasses
import os

import tensorflow as tf

from mpikeras.data.augment import NUM_VIEW_UNIFORMS, tensorflow_ops
from mpikeras.data.sampling import StreamSpec, assemble

#: Parallel calls of each map: one per CPU core (what autotuning starts from).
PARALLEL_CALLS = max(1, os.cpu_count() or 1)
#: Batches prepared ahead of the training step.
PREFETCH_BATCHES = 2


def _options() -> tf.data.Options:
    """tf.data options of every stream: fixed parallelism, no autotuning.

    tf.data's autotuning runs an optimisation thread per iterator that sleeps
    between rounds for up to 60 s, and destroying the iterator waits for it:
    at the end of every `fit` longer than about a minute the endless training
    stream's iterator took up to 60 s to release (measured: 0 to 59 s after
    each of the 7 trainings of a quick-preset `reproduce` seed, about 3
    minutes per seed; 42 s for a bare three-stage pipeline after 100 s of use,
    0 s without autotuning).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def _seed(spec: StreamSpec, index: tf.Tensor, salt: int) -> tf.Tensor:
    return tf.stack([tf.constant(spec.seed, tf.int64), index * 4 + salt])


def _draws(spec: StreamSpec, index: tf.Tensor) -> dict[str, tf.Tensor]:
    """Stateless draws of one element, seeded by (seed, index)."""
    epoch = index // spec.epoch_length
    position = (index % spec.epoch_length) % spec.pool_size
    base = tf.random.experimental.index_shuffle(
        position, tf.stack([tf.constant(spec.seed, tf.int64), epoch]), spec.pool_size - 1
    )
    if spec.is_paired:
        return {"pair": base}
    n = spec.columns.shape[0]
    order = tf.random.stateless_uniform([n], _seed(spec, index, 0))
    order = tf.tensor_scatter_nd_update(order, [[base]], [2.0])
    others = tf.argsort(order, stable=True)[: spec.max_voxels - 1]
    draws = {
        "indices": tf.concat([[base], tf.cast(others, tf.int64)], 0),
        "uniforms": tf.random.stateless_uniform([2 + spec.max_voxels], _seed(spec, index, 1)),
    }
    if spec.kind == "contrastive":
        v, c = spec.signal_shape
        draws["view_uniforms"] = tf.random.stateless_uniform(
            [2, NUM_VIEW_UNIFORMS], _seed(spec, index, 2)
        )
        draws["normals"] = tf.random.stateless_normal([2, v, c], _seed(spec, index, 3))
    return draws


def _captured(spec: StreamSpec) -> StreamSpec:
    """`spec` with its arrays as eager tensors, which the map functions capture as inputs.

    A NumPy array used inside a tf.data function is copied into it as a
    constant, and every new iterator (one per epoch) instantiates the function
    again: with a 3D calibration pool (7,148 columns, 93 MB) building the
    stream took 5.9 s and starting each epoch 8.7 s, captured 1.1 s and 0.2 s
    (`python benchmarks/bench_pipeline.py --quick`, "large_pool_epoch_start_s").
    """
    pairs = None if spec.pairs is None else tuple(tf.constant(p) for p in spec.pairs)
    voxel_ids = None if spec.voxel_ids is None else tf.constant(spec.voxel_ids)
    return dataclasses.replace(
        spec, columns=tf.constant(spec.columns), pairs=pairs, voxel_ids=voxel_ids
    )


def make_dataset(spec: StreamSpec, start_batch: int = 0, num_batches: int | None = None):
    """A tf.data.Dataset of batches `start_batch`, `start_batch + 1`, ... of a stream.

    Args:
        spec: the stream.
        start_batch: first global batch (a resumed run starts at
            `epoch * steps_per_epoch`).
        num_batches: number of batches, or `None` for an endless stream
            (give `steps_per_epoch` to `fit`).

    Returns:
        The dataset.
    """
    ops = tensorflow_ops()
    spec = _captured(spec)
    batch = spec.batch_size
    stop = (start_batch + num_batches) * batch if num_batches is not None else 2**62
    return (
        tf.data.Dataset.range(start_batch * batch, stop)
        .map(lambda i: _draws(spec, i), num_parallel_calls=PARALLEL_CALLS, deterministic=True)
        .batch(batch, drop_remainder=True)
        .map(
            lambda d: assemble(spec, d, ops), num_parallel_calls=PARALLEL_CALLS, deterministic=True
        )
        .prefetch(PREFETCH_BATCHES)
        .with_options(_options())
    )
