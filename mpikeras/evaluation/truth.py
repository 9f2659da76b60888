"""The true concentration a 2D reconstruction should find (simulation only)."""

from __future__ import annotations

import numpy as np

from mpikeras.io.grid import Grid
from mpikeras.simulation.phantoms import Phantom


def projected_amount(
    phantom: Phantom,
    grid: Grid,
    delta_sample_volume_m3: float,
    delta_concentration_mol_per_l: float,
    spacing_m: float = 1e-4,
) -> np.ndarray:
    """The phantom's iron in each voxel's full-height column, in delta-sample units.

    A 2D system matrix explains every particle by the in-plane voxel above
    or below it, so the amount a 2D reconstruction should find in a voxel is
    the iron in the voxel's column (all z), divided by the delta sample's
    iron (volume times concentration): the unit of reconstructed images.

    Args:
        phantom: the phantom.
        grid: a single-slice grid.
        delta_sample_volume_m3: volume of the SM's delta sample.
        delta_concentration_mol_per_l: its iron molarity.
        spacing_m: integration spacing.

    Returns:
        float array, shape (Ny, Nx).
    """
    nx, ny, _ = grid.size
    dx, dy, _ = grid.voxel_size_m
    (x0, y0, z0), (x1, y1, z1) = phantom.bounds_m
    z = np.arange(z0 + spacing_m / 2, z1, spacing_m)
    fx = np.arange(-dx / 2 + spacing_m / 2, dx / 2, spacing_m)
    fy = np.arange(-dy / 2 + spacing_m / 2, dy / 2, spacing_m)
    out = np.zeros((ny, nx))
    centres = grid.positions_m()[0]
    for iy in range(ny):
        for ix in range(nx):
            cx, cy = centres[iy, ix, :2]
            if cx + dx / 2 < x0 or cx - dx / 2 > x1 or cy + dy / 2 < y0 or cy - dy / 2 > y1:
                continue
            pts = np.stack(np.meshgrid(cx + fx, cy + fy, z, indexing="ij"), -1).reshape(-1, 3)
            out[iy, ix] = phantom.concentration(pts).sum() * spacing_m**3
    return out / (delta_sample_volume_m3 * delta_concentration_mol_per_l)
