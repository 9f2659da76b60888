import numpy as np
import pytest

from mpikeras.io import Grid
from mpikeras.preprocessing import VoxelSignals


@pytest.fixture
def coded_signals():
    """A 6 x 5 grid whose voxel v has a 1 at time sample v only: combinations stay decodable."""
    ny, nx, v = 6, 5, 64
    signals = np.zeros((ny, nx, v, 2), np.float32)
    for voxel in range(ny * nx):
        signals.reshape(ny * nx, v, 2)[voxel, voxel, :] = 1.0
    grid = Grid((nx, ny, 1), (0.010, 0.012, 0.001))
    return VoxelSignals(signals, grid, unit="1")
