"""Voxel index geometry of the paper's tasks: y-neighbours and the recovery protocol."""

from __future__ import annotations

import dataclasses

import numpy as np

from mpikeras.errors import PreprocessingError


def y_neighbour_pairs(ny: int, nx: int, dy: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Flat voxel indices (x fastest) of every voxel and its neighbour `dy` further in y.

    Returns:
        `(source, target)`, int arrays of length `(ny - dy) * nx`.

    Raises:
        PreprocessingError: if `dy` does not fit the grid.
    """
    if not 1 <= dy < ny:
        raise PreprocessingError(f"dy={dy} must be in 1..{ny - 1} for a grid with {ny} rows in y")
    y, x = np.meshgrid(np.arange(ny - dy), np.arange(nx), indexing="ij")
    source = (y * nx + x).reshape(-1)
    return source, source + dy * nx


@dataclasses.dataclass(frozen=True)
class RecoveryGeometry:
    """Index sets of the recovery protocol on a fine test grid (paper section II).

    From an `ny` x `nx` fine grid take every `step_x`-th voxel in x and every
    `step_y`-th in y as the measured input; predict the voxels
    `target_offset_y` further in y than an input row. With the paper's
    37 x 37 test grid (1 mm) and steps (2, 4), offset 2, the input is 19 x 10
    at 2 mm x 4 mm and input plus predictions form a 19 x 19 grid at 2 mm.
    Only targets bracketed by an input row below and above are kept, so every
    method (network, copy, interpolation) predicts the same voxels.

    Example:

    >>> geo = RecoveryGeometry(37, 37)
    >>> geo.input_rows.size, geo.target_rows.size, geo.columns.size
    (10, 9, 19)

    Args:
        ny, nx: fine grid size.
        step_x, step_y: input sampling steps.
        target_offset_y: distance of a target row above its source row.

    Raises:
        PreprocessingError: if the steps do not fit the grid.
    """

    ny: int
    nx: int
    step_x: int = 2
    step_y: int = 4
    target_offset_y: int = 2

    def __post_init__(self) -> None:
        if not (1 <= self.step_x <= self.nx and 1 <= self.step_y <= self.ny):
            raise PreprocessingError(
                f"steps (x={self.step_x}, y={self.step_y}) do not fit a {self.nx} x {self.ny} grid"
            )
        if not 0 < self.target_offset_y < self.step_y:
            raise PreprocessingError(
                f"target_offset_y={self.target_offset_y} must lie strictly between input rows "
                f"(0 < offset < step_y={self.step_y})"
            )
        if self.target_rows.size == 0:
            raise PreprocessingError(
                f"no target row is bracketed by input rows on a grid with {self.ny} rows"
            )

    @property
    def input_rows(self) -> np.ndarray:
        """Fine-grid y indices of the measured rows."""
        return np.arange(0, self.ny, self.step_y)

    @property
    def source_rows(self) -> np.ndarray:
        """For each target row, the input row below it (the network's input)."""
        rows = self.input_rows
        return rows[rows + self.step_y < self.ny]

    @property
    def upper_rows(self) -> np.ndarray:
        """For each target row, the input row above it."""
        return self.source_rows + self.step_y

    @property
    def target_rows(self) -> np.ndarray:
        """Fine-grid y indices of the predicted rows."""
        return self.source_rows + self.target_offset_y

    @property
    def columns(self) -> np.ndarray:
        """Fine-grid x indices of the measured (and predicted) columns."""
        return np.arange(0, self.nx, self.step_x)
