"""Non-learned baselines: copy, interpolation, training-SM lookup and template matching."""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline, RegularGridInterpolator

from mpikeras.io.grid import Grid
from mpikeras.preprocessing.geometry import RecoveryGeometry


def recovery_baselines(fine: np.ndarray, geometry: RecoveryGeometry) -> dict[str, np.ndarray]:
    """Predictions of the target voxels from the measured rows alone.

    - copy: the nearest input voxel (the one below; both are 2 mm away).
    - linear: the mean of the two input voxels that bracket the target.
    - cubic: a cubic spline along y through each column's input voxels
      ("not-a-knot" ends), evaluated at the target row.

    Args:
        fine: signals of the fine test grid, shape (Ny, Nx, V, C); only the
            input rows are read.
        geometry: the protocol's index sets.

    Returns:
        name -> predictions, shape (targets, columns, V, C).
    """
    cols = geometry.columns
    lower = fine[geometry.source_rows][:, cols]
    upper = fine[geometry.upper_rows][:, cols]
    rows = geometry.input_rows
    spline = CubicSpline(rows, fine[rows][:, cols], axis=0)
    return {
        "copy": lower.astype(np.float32),
        "linear": (0.5 * (lower + upper)).astype(np.float32),
        "cubic": spline(geometry.target_rows).astype(np.float32),
    }


def training_sm_lookup(
    train: np.ndarray,
    train_grid: Grid,
    target_grid: Grid,
) -> np.ndarray:
    """Each target predicted by the training SM at the target's position.

    Where a target coincides with a training voxel (the paper's protocol: the
    2 mm training grid is the test grid's every second voxel), this is that
    voxel's measured column; between training voxels the columns are
    interpolated bilinearly in (y, x), and beyond the training grid they are
    extrapolated linearly. It uses the other calibration and no learning.

    Example:

    >>> g = Grid((3, 3, 1), (0.003, 0.003, 0.001))
    >>> s = np.arange(9.0).reshape(3, 3, 1, 1)
    >>> float(training_sm_lookup(s, g, g.subsample(1, 2, offset_y=1))[0, 2, 0, 0])
    5.0

    Args:
        train: training signals (per unit volume), shape (Ny', Nx', V, C).
        train_grid: their grid (one slice).
        target_grid: the targets' grid (one slice), shape (Ny, Nx).

    Returns:
        float32 predictions, shape (Ny, Nx, V, C).
    """
    axes = (train_grid.axis_m(1), train_grid.axis_m(0))
    interpolate = RegularGridInterpolator(
        axes, np.asarray(train, np.float64), bounds_error=False, fill_value=None
    )
    y, x = np.meshgrid(target_grid.axis_m(1), target_grid.axis_m(0), indexing="ij")
    points = np.stack([y.ravel(), x.ravel()], axis=-1)
    ny, nx = y.shape
    return interpolate(points).reshape(ny, nx, *train.shape[2:]).astype(np.float32)


def nearest_template_images(signals: np.ndarray, templates: np.ndarray, shape) -> np.ndarray:
    """Reconstruction by matching each signal to its most similar training column.

    The column with the highest cosine similarity to the signal names the
    lit voxel; its amplitude is the least-squares fit `<u, s> / <s, s>`. A
    baseline for direct reconstruction of single voxels: it uses the training
    SM and nothing else.

    Example:

    >>> t = np.eye(4)[:, :, None]                  # 4 templates, 4 samples, 1 channel
    >>> nearest_template_images(2 * t[[2]], t, (2, 2))[0]
    array([[0., 0.],
           [2., 0.]], dtype=float32)

    Args:
        signals: test signals, shape (N, V, C).
        templates: training columns in the image's voxel order (x fastest),
            shape (Ny * Nx, V, C), same units as `signals`.
        shape: the image shape (Ny, Nx).

    Returns:
        float32 images, shape (N, Ny, Nx).
    """
    u = np.asarray(signals, np.float64).reshape(len(signals), -1)
    s = np.asarray(templates, np.float64).reshape(len(templates), -1)
    norms = np.linalg.norm(s, axis=1)
    inner = u @ s.T  # (N, M)
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = inner / (np.linalg.norm(u, axis=1, keepdims=True) * norms[None])
    best = np.nanargmax(np.nan_to_num(cosine, nan=-np.inf), axis=1)
    rows = np.arange(len(u))
    energy = norms[best] ** 2
    amplitude = np.where(energy > 0, inner[rows, best] / np.where(energy > 0, energy, 1.0), 0.0)
    images = np.zeros((len(u), len(s)), np.float32)
    images[rows, best] = amplitude
    return images.reshape(len(u), *shape)
