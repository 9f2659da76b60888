"""The train/validation split by voxel (paper section II: 80:20)."""

from __future__ import annotations

import dataclasses

import numpy as np

from mpikeras.errors import PreprocessingError


@dataclasses.dataclass(frozen=True, eq=False)
class VoxelSplit:
    """Disjoint training and validation voxels (flat indices, x fastest).

    Every stream built on a split draws training samples, single columns
    and combinations alike, from `train` voxels only, so no validation voxel
    is ever seen in training.
    """

    train: np.ndarray
    validation: np.ndarray

    def __post_init__(self) -> None:
        if np.intersect1d(self.train, self.validation).size:
            raise PreprocessingError("VoxelSplit: training and validation voxels overlap")

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
