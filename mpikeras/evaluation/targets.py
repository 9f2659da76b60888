"""Subsets of the protocol's targets: inside and outside the drive-field FOV.

The calibration grid of OpenMPIData is overscanned beyond the 24 x 24 mm
that the field-free point sweeps (mpi-facts section 1): outside it a delta
sample gives a weaker signal and a worse SNR, so errors there differ in kind
and are reported apart.
"""

from __future__ import annotations

import numpy as np

from mpikeras.io.acquisition import Acquisition
from mpikeras.io.grid import Grid

#: Names of the target sets, in report order.
ALL, INSIDE_FOV, OUTSIDE_FOV = "all", "inside FOV", "outside FOV"
TARGET_SETS = (ALL, INSIDE_FOV, OUTSIDE_FOV)


def inside_drive_field(
    grid: Grid, acquisition: Acquisition, tolerance_m: float = 1e-9
) -> np.ndarray:
    """Which voxel centres of a single-slice grid lie inside the drive-field FOV.

    Example:

    >>> from mpikeras.io.acquisition import Acquisition
    >>> grid = Grid((19, 19, 1), (0.038, 0.038, 0.001))
    >>> int(inside_drive_field(grid, Acquisition()).sum())    # 13 x 13 voxels within +-12 mm
    169

    Args:
        grid: the grid (one z slice).
        acquisition: its drive field and gradient.
        tolerance_m: centres this close to the edge count as inside.

    Returns:
        bool array, shape (Ny, Nx).
    """
    hx, hy, _ = acquisition.drive_field_half_width_m
    x = np.abs(grid.axis_m(0)) <= hx + tolerance_m
    y = np.abs(grid.axis_m(1)) <= hy + tolerance_m
    return y[:, None] & x[None, :]


def target_masks(inside: np.ndarray) -> dict[str, np.ndarray]:
    """Flat boolean masks of every target set from the inside-FOV mask (x fastest)."""
    flat = np.asarray(inside, bool).reshape(-1)
    return {ALL: np.ones_like(flat), INSIDE_FOV: flat, OUTSIDE_FOV: ~flat}
