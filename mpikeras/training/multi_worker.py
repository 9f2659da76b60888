"""Several processes, one model: the engines' own multi-process set-up, and each process's data.

`TrainingConfig.distribution = "multi_worker"` runs the same command as N
processes (one per machine, or several on one machine), each with the devices
it sees, and trains one model data-parallel over all of them. The cluster is
described the way each engine expects it, by environment variables the
launcher sets (docs/scaling.md has Slurm and Kubernetes recipes):

- JAX: `KERAS_DISTRIBUTION_JOB_ADDRESSES` (the coordinator's `host:port`
  first), `KERAS_DISTRIBUTION_NUM_PROCESSES` and
  `KERAS_DISTRIBUTION_PROCESS_ID`, read by `keras.distribution.initialize`,
  which starts `jax.distributed`; CPU processes exchange gradients over Gloo.
  Without the variables, JAX's own cluster detection (Slurm, Open MPI,
  Cloud TPU) is tried.
- TensorFlow: `TF_CONFIG` (the cluster's workers and this process's task),
  read by `tf.distribute.MultiWorkerMirroredStrategy`.

Process 0 (TensorFlow: the chief, or worker 0) is the one that writes the
run directory; every process trains, reads the directory to resume, and the
others write their checkpoints into a private copy that is removed at the end
(`mpikeras.training.session.start_run`).

Each step still takes one global batch of `batch_size` samples. On JAX every
process feeds its own rows of it (`process_rows`): global batch `k` is the
concatenation, in process order, of row block `p` of batch `k` of every
process `p`, exactly the batch one process would train on. On TensorFlow the
strategy shards the global batches itself (tf.data's `DATA` auto-shard
policy, the same rows).
"""

from __future__ import annotations

import functools
import os
from operator import itemgetter
from typing import Any

import keras
import numpy as np

from mpikeras.errors import ConfigError

#: The environment variables `keras.distribution.initialize` reads (JAX).
KERAS_CLUSTER_VARIABLES = (
    "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "KERAS_DISTRIBUTION_PROCESS_ID",
)


@functools.cache
def jax_cluster() -> tuple[list[Any], int, int]:
    """Join the JAX cluster (once per process): its global devices, this process's index, count.

    Raises:
        ConfigError: if the cluster cannot be formed (variables missing or
            malformed, coordinator unreachable, or JAX already computing).
    """
    import jax

    if not jax.distributed.is_initialized():
        if jax.config.jax_cpu_collectives_implementation is None:
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
        try:
            keras.distribution.initialize()
        except (RuntimeError, ValueError, TypeError) as exc:
            shown = ", ".join(
                f"{name}={os.environ.get(name)!r}" for name in KERAS_CLUSTER_VARIABLES
            )
            raise ConfigError(
                "distribution",
                f"'multi_worker' could not join the JAX cluster ({shown}): {exc}. Set the three "
                "variables in every process (the coordinator's host:port first), see "
                "docs/scaling.md",
            ) from None
    return list(keras.distribution.list_devices()), jax.process_index(), jax.process_count()


def _keras_multi_worker_strategy_class():
    import tensorflow as tf

    class KerasMultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        """`MultiWorkerMirroredStrategy` answering the reductions Keras 3 asks of it.

        Keras' TensorFlow trainer reduces whole structures of per-replica
        values (`strategy.reduce` of a batch tuple when it first builds the
        model) and scalar metrics along `axis=0`; this strategy takes
        neither (keras-team/keras#20585). Here each value is reduced on its
        own, and a scalar across replicas only.
        """

        def reduce(self, reduce_op, value, axis):
            def one(item):
                local = self.experimental_local_results(item)[0]
                rank = getattr(getattr(local, "shape", None), "rank", None)
                return super(KerasMultiWorkerMirroredStrategy, self).reduce(
                    reduce_op, item, None if rank == 0 else axis
                )

            return tf.nest.map_structure(one, value)

    return KerasMultiWorkerMirroredStrategy


@functools.cache
def tensorflow_cluster() -> tuple[Any, int, int]:
    """The cluster of `TF_CONFIG` (once per process): its strategy, this task's index, count.

    Raises:
        ConfigError: if `TF_CONFIG` is missing or malformed.
    """
    import json

    raw = os.environ.get("TF_CONFIG")
    try:
        spec = json.loads(raw) if raw else None
        cluster, task = spec["cluster"], spec["task"]
        workers = [*cluster.get("chief", []), *cluster["worker"]]
        index = int(task["index"]) + (
            len(cluster.get("chief", [])) if task["type"] == "worker" else 0
        )
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError(
            "distribution",
            "'multi_worker' on TensorFlow reads the cluster from the environment variable "
            'TF_CONFIG, a JSON object {"cluster": {"worker": ["host:port", ...]}, '
            f'"task": {{"type": "worker", "index": i}}}}; got {raw!r} ({exc!r})',
        ) from None
    strategy = _keras_multi_worker_strategy_class()()
    return strategy, index, len(workers)


def barrier(backend: str, handle: Any, name: str) -> None:
    """Wait until every process of the cluster has reached this point."""
    if backend == "jax":
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
        return
    import tensorflow as tf

    ones = handle.run(lambda: tf.ones(()))
    handle.reduce("SUM", ones, axis=None).numpy()


def process_rows(batch: Any, index: int, count: int) -> Any:
    """Row block `index` of `count` equal blocks of every array of a batch structure."""

    def block(array):
        rows = array.shape[0]
        if rows % count:
            raise ConfigError(
                "batch_size",
                f"multi-worker training splits every batch over {count} processes; a batch of "
                f"{rows} samples does not split evenly",
            )
        share = rows // count
        return array[index * share : (index + 1) * share]

    return keras.tree.map_structure(block, batch)


class ProcessShard(keras.utils.PyDataset):
    """This process's rows of every batch of a `PyDataset` (`process_rows`).

    Args:
        dataset: the stream of global batches.
        index: this process's index.
        count: the number of processes.
    """

    def __init__(self, dataset: keras.utils.PyDataset, index: int, count: int) -> None:
        super().__init__()
        self.dataset, self.index, self.count = dataset, index, count

    @property
    def num_batches(self) -> int | None:
        return self.dataset.num_batches

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, position: int):
        return process_rows(self.dataset[position], self.index, self.count)


def shard_training_stream(stream: Any, index: int, count: int) -> Any:
    """This process's rows of each global batch of a tf.data dataset or a `PyDataset`."""
    if isinstance(stream, keras.utils.PyDataset):
        return ProcessShard(stream, index, count)
    import tensorflow as tf

    if not isinstance(stream, tf.data.Dataset):
        raise TypeError(f"expected a tf.data.Dataset or a PyDataset, got {type(stream).__name__}")
    first = tf.nest.flatten(stream.element_spec)[0]
    batch_size = first.shape[0]
    if batch_size is None or batch_size % count:
        raise ConfigError(
            "batch_size",
            f"multi-worker training splits every batch over {count} processes; the stream's "
            f"batch size is {batch_size}",
        )
    return stream.rebatch(batch_size // count).shard(count, index)


def shard_validation(arrays: tuple, batch_size: int, index: int, count: int) -> tuple:
    """This process's rows of each validation batch of `batch_size` (the last one may be short).

    Every batch's length must split evenly over the processes
    (`TrainingDistribution.validation_data` trims the set so that it does).
    """
    rows = len(keras.tree.flatten(arrays)[0])
    blocks = [
        process_rows(
            keras.tree.map_structure(itemgetter(slice(start, start + batch_size)), arrays),
            index,
            count,
        )
        for start in range(0, rows, batch_size)
    ]
    return keras.tree.map_structure(lambda *parts: np.concatenate(parts), *blocks)
