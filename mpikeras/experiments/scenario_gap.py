"""How far apart a scenario's two calibrations are: the noise-free training and test signals
at the same positions.

Every position of the 19 grid (2 mm pitch, from -18 mm) is also a position
of the 37 grid (1 mm pitch, from -18 mm): test index 2i is training index i.
Both calibrations are simulated without noise and background drift
(`CalibrationConfig.noise_free`, the same seeds as the protocol's files),
band-passed and divided by their delta-sample volumes
(`mpikeras.preprocessing.voxel_signals`), and each training column is
scored against the test column at its position with the protocol's NRMSE,
`RMSE / (max - min)` of the test column. It is the error of a "predictor"
that copies the training SM: the floor any method that learns from the
training SM alone starts from.
"""

from __future__ import annotations

import numpy as np

from mpikeras.preprocessing import voxel_signals
from mpikeras.simulation.calibration import simulate_system_matrix
from mpikeras.simulation.scenarios import SEEDS, scenario


def same_position_nrmse(name: str) -> np.ndarray:
    """Per-voxel NRMSE of the noise-free training columns against the test columns.

    Example:

    >>> gap = same_position_nrmse("near-identical")   # doctest: +SKIP
    >>> round(100 * float(gap.mean()), 2)              # doctest: +SKIP
    0.45

    Args:
        name: a scenario of `mpikeras.simulation.scenarios.SCENARIOS`.

    Returns:
        float64 array, shape (19, 19): NRMSE per training voxel (a fraction).
    """
    train_cfg, test_cfg = scenario(name).configs()
    train = simulate_system_matrix(train_cfg.noise_free(), SEEDS["train_sm"])
    test = simulate_system_matrix(test_cfg.noise_free(), SEEDS["test_sm"])
    a = voxel_signals(train).signals  # (19, 19, V, C)
    b = voxel_signals(test).signals[::2, ::2]  # the 19 grid's positions
    rmse = np.sqrt(np.mean((a - b) ** 2, axis=(2, 3)))
    spread = b.max(axis=(2, 3)) - b.min(axis=(2, 3))
    return rmse / spread
