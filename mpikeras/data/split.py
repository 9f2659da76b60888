"""The train/validation split by voxel (paper section II: 80:20)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from mpikeras.errors import PreprocessingError

#: How training and validation data are separated.
SPLITS = ("voxel", "sample")


@dataclasses.dataclass(frozen=True, eq=False)
class VoxelSplit:
    """Training and validation voxels (flat indices, x fastest).

    With a voxel split (`disjoint`, the default) every stream draws
    training samples, single columns and combinations alike, from `train`
    voxels only, so no validation voxel is ever seen in training. A sample
    split (`VoxelSplit.shared`) lets both sides use every voxel; validation
    samples are then fresh draws (other combinations, weights and noise).
    """

    train: np.ndarray
    validation: np.ndarray
    disjoint: bool = True

    def __post_init__(self) -> None:
        if self.disjoint and np.intersect1d(self.train, self.validation).size:
            raise PreprocessingError("VoxelSplit: training and validation voxels overlap")

    @classmethod
    def shared(cls, num_voxels: int) -> VoxelSplit:
        """Both sides draw from every voxel (the paper's split of combined samples)."""
        everything = np.arange(num_voxels)
        return cls(train=everything, validation=everything, disjoint=False)

    @classmethod
    def build(cls, kind: str, num_voxels: int, validation_fraction: float, seed: int) -> VoxelSplit:
        """A "voxel" (`random`) or "sample" (`shared`) split.

        Raises:
            PreprocessingError: for an unknown kind.
        """
        if kind == "voxel":
            return cls.random(num_voxels, validation_fraction, seed)
        if kind == "sample":
            return cls.shared(num_voxels)
        raise PreprocessingError(f"split must be one of {SPLITS}, got {kind!r}")

    @classmethod
    def random(cls, num_voxels: int, validation_fraction: float = 0.2, seed: int = 0) -> VoxelSplit:
        """A seeded random split holding out `round(fraction * num_voxels)` voxels.

        Raises:
            PreprocessingError: if either side would be empty.
        """
        num_val = round(validation_fraction * num_voxels)
        if not 0 < num_val < num_voxels:
            raise PreprocessingError(
                f"validation_fraction={validation_fraction} of {num_voxels} voxels leaves an "
                "empty training or validation set"
            )
        order = np.random.default_rng([seed, 0x5B1]).permutation(num_voxels)
        return cls(train=np.sort(order[num_val:]), validation=np.sort(order[:num_val]))


def labelled_subset(count: int, fraction: float, seed: int) -> np.ndarray:
    """The first `ceil(fraction * count)` of a seeded order of `count` items, sorted.

    Subsets of one seed are nested: a smaller fraction keeps a subset of a
    larger one's items (label-efficiency studies train on 5 %, 10 %, ...
    of the same labelled pairs).

    Example:

    >>> labelled_subset(10, 0.2, seed=0).size
    2
    >>> set(labelled_subset(10, 0.2, 0)) <= set(labelled_subset(10, 0.5, 0))
    True

    Args:
        count: number of labelled items.
        fraction: share kept, in (0, 1]; at least one item is kept.
        seed: seed of the order.

    Returns:
        Sorted indices into the `count` items.

    Raises:
        PreprocessingError: for a fraction outside (0, 1] or no items.
    """
    if not 0.0 < fraction <= 1.0:
        raise PreprocessingError(f"label fraction must be in (0, 1], got {fraction}")
    if count < 1:
        raise PreprocessingError("label fraction: there are no labelled items to choose from")
    order = np.random.default_rng([seed, 0x1ABE1]).permutation(count)
    return np.sort(order[: max(1, math.ceil(fraction * count - 1e-9))])
