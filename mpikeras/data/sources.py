"""Where system matrices come from: an MDF file, or the embedded simulator."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mpikeras.errors import PreprocessingError
from mpikeras.io.mdf import read_system_matrix
from mpikeras.io.system_matrix import SystemMatrix
from mpikeras.preprocessing.signals import voxel_signals

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


def load_unlabelled_columns(
    paths: Sequence[str | Path],
    band_hz: tuple[float, float],
    channels: tuple[int, ...],
    signal_shape: tuple[int, int],
) -> np.ndarray:
    """Every column of every z slice of MDF calibrations, band-passed per unit volume.

    The unlabelled pool of contrastive pretraining (`DataConfig.unlabelled`):
    the same preprocessing as the training SM (`voxel_signals`), not yet
    normalised.

    Example:

    >>> shape = (1632, 2)                                   # (samples, channels)
    >>> cols = load_unlabelled_columns(["3d.mdf"], (80e3, 600e3), (0, 1), shape)  # doctest: +SKIP
    >>> cols.shape                                          # doctest: +SKIP
    (6859, 1632, 2)

    Args:
        paths: MDF calibration files.
        band_hz, channels: as for the training SM.
        signal_shape: (samples, channels) of the training SM's columns.

    Returns:
        float32 columns (N, V, C).

    Raises:
        MDFError: if a file is not a readable calibration.
        PreprocessingError: naming the file, if its columns have another
            shape than the training SM's.
    """
    columns = []
    for path in paths:
        sm = read_system_matrix(str(path))
        for z in range(sm.grid.size[2]):
            flat = voxel_signals(sm, band_hz, channels, z_index=z).flat
            if flat.shape[1:] != tuple(signal_shape):
                raise PreprocessingError(
                    f"{path}: unlabelled columns have shape {flat.shape[1:]} (samples, "
                    f"channels); the training SM's have {tuple(signal_shape)}"
                )
            columns.append(flat)
    if not columns:
        return np.zeros((0, *signal_shape), np.float32)
    return np.concatenate(columns)
