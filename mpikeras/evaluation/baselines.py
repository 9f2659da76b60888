"""Non-learned recovery baselines: copying and interpolating along y."""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline

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
