"""Where system matrices come from: an MDF file, or the embedded simulator."""

from __future__ import annotations

from pathlib import Path

from mpikeras.io.mdf import read_system_matrix
from mpikeras.io.system_matrix import SystemMatrix

SIMULATED_PREFIX = "simulated:"


def load_system_matrix(source: str | Path, seed: int = 0) -> SystemMatrix:
    """The central z slice of a system matrix from a file or the simulator.

    Example:

    >>> sm = load_system_matrix("simulated:openmpi-2d-19")   # doctest: +SKIP
    >>> sm = load_system_matrix("/data/openmpi/calibrations/2.mdf")  # doctest: +SKIP

    Args:
        source: an MDF calibration file, or `simulated:<preset>` with a preset
            of `mpikeras.simulation.PRESETS`.
        seed: noise seed of simulated data.

    Returns:
        The `SystemMatrix` of the central slice.

    Raises:
        MDFError: if the file is not a readable calibration file.
        ValueError: for an unknown preset.
    """
    source = str(source)
    if source.startswith(SIMULATED_PREFIX):
        from mpikeras.simulation import preset, simulate_system_matrix

        return simulate_system_matrix(preset(source[len(SIMULATED_PREFIX) :]), seed=seed)
    return read_system_matrix(source, z_slice="central")
