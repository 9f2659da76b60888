"""The same streams as `tf_pipeline`, as a `keras.utils.PyDataset` (no TensorFlow needed)."""

from __future__ import annotations

import functools

import keras
import numpy as np

from mpikeras.data.sampling import StreamSpec, assemble, epoch_permutation, numpy_draws


class StreamPyDataset(keras.utils.PyDataset):
    """Batches of a stream, generated with NumPy, for any Keras backend.

    Batch `i` of the dataset is global batch `start_batch + i` of the stream,
    exactly as in `tf_pipeline.make_dataset`; the same seed gives the same
    batches (the tf.data pipeline draws from the same distributions with
    TensorFlow's generators, not the same numbers).

    Args:
        spec: the stream.
        start_batch: first global batch.
        num_batches: number of batches, or `None` for an endless stream.
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size`.
    """

    def __init__(
        self, spec: StreamSpec, start_batch: int = 0, num_batches: int | None = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.start_batch = start_batch
        self._num_batches = num_batches

    @property
    def num_batches(self) -> int | None:
        return self._num_batches

    def __len__(self) -> int:
        if self._num_batches is None:
            raise TypeError("an endless StreamPyDataset has no length")
        return self._num_batches

    @functools.lru_cache(maxsize=4)  # noqa: B019 - a few epochs' permutations per dataset
    def _permutation(self, epoch: int) -> np.ndarray:
        return epoch_permutation(self.spec.seed, epoch, self.spec.pool_size)

    def __getitem__(self, index: int):
        if self._num_batches is not None and not 0 <= index < self._num_batches:
            raise IndexError(f"batch {index} out of range 0..{self._num_batches - 1}")
        spec = self.spec
        first = (self.start_batch + index) * spec.batch_size
        elements = [
            numpy_draws(spec, i, self._permutation(i // spec.epoch_length))
            for i in range(first, first + spec.batch_size)
        ]
        batch = {key: np.stack([e[key] for e in elements]) for key in elements[0]}
        return assemble(spec, batch)
