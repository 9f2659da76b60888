"""Where system matrices come from: an MDF file, or the embedded simulator."""

from __future__ import annotations

from pathlib import Path

from mpikeras.io.mdf import read_system_matrix
from mpikeras.io.system_matrix import SystemMatrix

#: The prefix of a simulated source: `simulated:<preset>`.
SIMULATED_PREFIX = "simulated:"


def simulated_preset(source: str | Path) -> str | None:
    """The simulation preset a source names, or `None` for a file.

    Example:

    >>> simulated_preset("simulated:openmpi-2d-19")
    'openmpi-2d-19'
    >>> simulated_preset("/data/openmpi/calibrations/2.mdf") is None
    True
    """
    source = str(source)
    return source[len(SIMULATED_PREFIX) :] if source.startswith(SIMULATED_PREFIX) else None


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
    name = simulated_preset(source)
    if name is not None:
        from mpikeras.simulation import preset, simulate_system_matrix

        return simulate_system_matrix(preset(name), seed=seed)
    return read_system_matrix(str(source), z_slice="central")
