"""Input streams for pretraining, recovery and reconstruction.

Training streams are endless and indexed by global batch, so
`fit(..., steps_per_epoch=streams.steps_per_epoch)` sees a fresh random order
every epoch and a resumed run continues where it stopped (`start_epoch`).
They are tf.data pipelines where TensorFlow is installed and
`keras.utils.PyDataset`s otherwise (or when asked), with the same
semantics. Validation data is a fixed, materialised set of NumPy arrays.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from mpikeras._compat import tensorflow_available
from mpikeras.config import AugmentationConfig, CombinationConfig
from mpikeras.data.sampling import StreamSpec, assemble, epoch_permutation, numpy_draws
from mpikeras.data.split import VoxelSplit, labelled_subset
from mpikeras.errors import PreprocessingError
from mpikeras.preprocessing.geometry import y_neighbour_pairs
from mpikeras.preprocessing.signals import VoxelSignals

PIPELINES = ("auto", "tf", "python")


@dataclasses.dataclass
class Streams:
    """Training stream and validation data of one task.

    Args:
        train: endless tf.data.Dataset or PyDataset of training batches.
        validation: `(x, y)` or `(x,)` NumPy validation data for `fit`.
        steps_per_epoch: training batches per epoch.
        pipeline: "tf" or "python".
    """

    train: Any
    validation: tuple
    steps_per_epoch: int
    pipeline: str

    def fit_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `model.fit`: data, validation and steps."""
        return {
            "x": self.train,
            "validation_data": self.validation,
            "steps_per_epoch": self.steps_per_epoch,
            "shuffle": False,  # the streams shuffle themselves, per epoch
        }


def resolve_pipeline(pipeline: str = "auto") -> str:
    """'tf' when TensorFlow is importable (or asked for), else 'python'.

    Raises:
        PreprocessingError: for an unknown name, or 'tf' without TensorFlow.
    """
    if pipeline not in PIPELINES:
        raise PreprocessingError(f"pipeline must be one of {PIPELINES}, got {pipeline!r}")
    has_tf = tensorflow_available()
    if pipeline == "tf" and not has_tf:
        raise PreprocessingError("pipeline='tf' needs TensorFlow, which is not installed")
    if pipeline == "auto":
        return "tf" if has_tf else "python"
    return pipeline


def _train_stream(spec: StreamSpec, start_batch: int, pipeline: str):
    if pipeline == "tf":
        from mpikeras.data.tf_pipeline import make_dataset

        return make_dataset(spec, start_batch)
    from mpikeras.data.py_pipeline import StreamPyDataset

    return StreamPyDataset(spec, start_batch)


def materialize(spec: StreamSpec, num_samples: int) -> Any:
    """The first `num_samples` elements of a stream as NumPy arrays (fixed validation data)."""
    permutation = epoch_permutation(spec.seed, 0, spec.pool_size)
    draws = [numpy_draws(spec, i, permutation) for i in range(num_samples)]
    batch = {key: np.stack([d[key] for d in draws]) for key in draws[0]}
    return assemble(spec, batch)


def _steps(steps_per_epoch: int, pool: int, batch_size: int) -> int:
    if steps_per_epoch < 0:
        raise PreprocessingError(f"steps_per_epoch must be >= 0, got {steps_per_epoch}")
    return steps_per_epoch or max(1, math.ceil(pool / batch_size))


def _check_batch(batch_size: int) -> None:
    if batch_size < 1:
        raise PreprocessingError(f"batch_size must be positive, got {batch_size}")


def _combination_streams(
    kind: str,
    signals: VoxelSignals,
    split: VoxelSplit,
    batch_size: int,
    seed: int,
    steps_per_epoch: int,
    start_epoch: int,
    pipeline: str,
    unlabelled: np.ndarray | None = None,
    **spec: Any,
) -> Streams:
    """Streams of columns and combinations drawn from each side of the split.

    `unlabelled` columns (N, V, C) join the training side only.
    """
    _check_batch(batch_size)
    pipeline = resolve_pipeline(pipeline)
    flat = signals.flat
    train_columns = flat[split.train]
    if unlabelled is not None and len(unlabelled):
        if unlabelled.shape[1:] != flat.shape[1:]:
            raise PreprocessingError(
                f"unlabelled columns have shape {unlabelled.shape[1:]} (samples, channels), "
                f"the training SM's {flat.shape[1:]}"
            )
        train_columns = np.concatenate([train_columns, unlabelled.astype(flat.dtype)])
    steps = _steps(steps_per_epoch, len(train_columns), batch_size)
    num_val = max(batch_size, split.validation.size)
    specs = [
        StreamSpec(
            kind=kind,
            columns=columns,
            seed=stream_seed,
            batch_size=batch_size,
            epoch_length=length,
            voxel_ids=voxels if kind == "reconstruction" else None,
            **spec,
        )
        for columns, voxels, stream_seed, length in (
            (train_columns, split.train, seed, steps * batch_size),
            (flat[split.validation], split.validation, seed + 1, num_val),
        )
    ]
    validation = materialize(specs[1], num_val)
    return Streams(
        _train_stream(specs[0], start_epoch * steps, pipeline),
        validation if isinstance(validation, tuple) else (validation,),
        steps,
        pipeline,
    )


def contrastive_streams(
    signals: VoxelSignals,
    split: VoxelSplit,
    *,
    batch_size: int = 32,
    augmentation: AugmentationConfig | None = None,
    combination: CombinationConfig | None = None,
    seed: int = 0,
    steps_per_epoch: int = 0,
    start_epoch: int = 0,
    pipeline: str = "auto",
    unlabelled: np.ndarray | None = None,
) -> Streams:
    """Two augmented views of SM columns and of weighted combinations of columns.

    Example:

    >>> split = VoxelSplit.random(signals.num_voxels)           # doctest: +SKIP
    >>> streams = contrastive_streams(signals, split)           # doctest: +SKIP
    >>> model.fit(**streams.fit_kwargs(), epochs=10)            # doctest: +SKIP

    Args:
        signals: normalised voxel signals.
        split: training and validation voxels.
        batch_size: samples per batch (both views of a sample in one batch).
        augmentation: view augmentations (paper defaults).
        combination: combination sampling (defaults from `CombinationConfig`).
        seed: stream seed; the same seed gives the same batches.
        steps_per_epoch: 0 for one pass over the training voxels.
        start_epoch: first epoch (for resumed runs).
        pipeline: "auto", "tf" or "python".
        unlabelled: more normalised columns (N, V, C) for the training side
            only (for example the other z slices of the calibration); with
            `steps_per_epoch` 0 an epoch is one pass over all of them.

    Returns:
        `Streams` whose elements are `{"view_a", "view_b"}` dicts (inputs only).
    """
    return _combination_streams(
        "contrastive",
        signals,
        split,
        batch_size,
        seed,
        steps_per_epoch,
        start_epoch,
        pipeline,
        unlabelled,
        augmentation=augmentation or AugmentationConfig(),
        combination=combination or CombinationConfig(),
    )


def reconstruction_streams(
    signals: VoxelSignals,
    split: VoxelSplit,
    *,
    batch_size: int = 32,
    combination: CombinationConfig | None = None,
    seed: int = 0,
    steps_per_epoch: int = 0,
    start_epoch: int = 0,
    pipeline: str = "auto",
) -> Streams:
    """Weighted combinations of SM columns and their concentration images.

    A sample's image holds each combined voxel's weight at the voxel's
    position on the (Ny, Nx) grid of `signals` (a single column is a
    one-hot image, as in the paper's test).

    Returns:
        `Streams` of `(signal (B, V, C), image (B, Ny, Nx, 1))`; arguments as
        in `contrastive_streams`.
    """
    return _combination_streams(
        "reconstruction",
        signals,
        split,
        batch_size,
        seed,
        steps_per_epoch,
        start_epoch,
        pipeline,
        combination=combination or CombinationConfig(),
        image_shape=signals.shape_yx,
    )


def recovery_streams(
    signals: VoxelSignals,
    split: VoxelSplit,
    *,
    dy: int = 1,
    bracket: bool = False,
    batch_size: int = 32,
    seed: int = 0,
    steps_per_epoch: int = 0,
    start_epoch: int = 0,
    pipeline: str = "auto",
    label_fraction: float = 1.0,
) -> Streams:
    """Pairs of an SM column and its neighbour `dy` voxels further in y.

    With `bracket`, inputs are the voxels `dy` below and above the target
    instead (beyond the paper; see `BracketRecovery`). Training pairs have
    all their voxels in `split.train`; every other pair (with a validation
    voxel) is validation data, each pair once. With `label_fraction` < 1
    training uses a seeded subset of the training pairs (`labelled_subset`,
    nested across fractions); validation keeps every validation pair.

    Returns:
        `Streams` of `(source (B, V, C), target (B, V, C))`, or with
        `bracket` of `({"lower", "upper"}, target)`; other arguments as in
        `contrastive_streams`.

    Raises:
        PreprocessingError: if either side of the split has no pair.
    """
    _check_batch(batch_size)
    pipeline = resolve_pipeline(pipeline)
    ny, nx = signals.shape_yx
    if bracket:
        lower, upper = y_neighbour_pairs(ny, nx, 2 * dy)
        pairs = (lower, lower + dy * nx, upper)
    else:
        pairs = y_neighbour_pairs(ny, nx, dy)
    train_mask = np.logical_and.reduce([np.isin(p, split.train) for p in pairs])
    val_mask = ~train_mask if split.disjoint else np.ones_like(train_mask)
    if not train_mask.any() or not val_mask.any():
        raise PreprocessingError(
            f"the voxel split leaves {int(train_mask.sum())} training and {int(val_mask.sum())} "
            "validation neighbour pairs; both need at least one"
        )
    if label_fraction < 1.0:
        labelled = np.flatnonzero(train_mask)
        train_mask = np.zeros_like(train_mask)
        train_mask[labelled[labelled_subset(labelled.size, label_fraction, seed)]] = True
    flat = signals.flat
    steps = _steps(steps_per_epoch, int(train_mask.sum()), batch_size)
    kind = "bracket" if bracket else "recovery"
    train = StreamSpec(
        kind=kind,
        columns=flat,
        seed=seed,
        batch_size=batch_size,
        epoch_length=steps * batch_size,
        pairs=tuple(p[train_mask] for p in pairs),
    )
    val_pairs = tuple(p[val_mask] for p in pairs)
    validation = assemble(
        dataclasses.replace(train, pairs=val_pairs), {"pair": np.arange(val_pairs[0].size)}
    )
    return Streams(_train_stream(train, start_epoch * steps, pipeline), validation, steps, pipeline)
