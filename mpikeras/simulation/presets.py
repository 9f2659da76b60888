"""Named scans of the OpenMPIData initiative (mpi-facts section 1)."""

from __future__ import annotations

import dataclasses

from mpikeras.errors import ConfigError
from mpikeras.io.grid import Grid
from mpikeras.simulation.calibration import CalibrationConfig

#: Calibration presets: OpenMPIData's 2D-excitation system matrices with
#: perimag (calibrations 2 and 5 of mpi-facts section 1), 0.1 mol/L delta
#: samples. The 19 grid uses the real 2 x 2 x 1 mm delta sample; the 37 grid
#: uses a voxel-sized (1 x 1 x 0.5 mm) sample. Both scan the central z = 0
#: slice unless `slices="all"` is passed.
PRESETS: dict[str, dict] = {
    "openmpi-2d-19": {
        "grid": Grid(size=(19, 19, 19), fov_m=(0.038, 0.038, 0.019)),
        "delta_sample_size_m": (0.002, 0.002, 0.001),
    },
    "openmpi-2d-37": {
        "grid": Grid(size=(37, 37, 37), fov_m=(0.037, 0.037, 0.0185)),
        "delta_sample_size_m": (0.001, 0.001, 0.0005),
    },
}


def preset(name: str, **overrides) -> CalibrationConfig:
    """The `CalibrationConfig` of a named preset, with optional overrides.

    Example:

    >>> cfg = preset("openmpi-2d-37", slices="all")
    >>> cfg.grid.size
    (37, 37, 37)

    Args:
        name: str. One of `PRESETS`.
        **overrides: fields of `CalibrationConfig` to replace (for example
            `slices="all"` for the full 3D grid, or another `particles`).

    Returns:
        The `CalibrationConfig`.

    Raises:
        ConfigError: for an unknown name, listing the known ones, or an
            invalid override value.
    """
    if name not in PRESETS:
        raise ConfigError(
            "preset",
            f"unknown simulation preset; expected one of {sorted(PRESETS)}, received {name!r}",
        )
    fields = sorted(f.name for f in dataclasses.fields(CalibrationConfig))
    for key in overrides:
        if key not in fields:
            raise ConfigError(f"preset.{key}", f"unknown field; expected one of {fields}")
    return dataclasses.replace(CalibrationConfig(**PRESETS[name]), **overrides)
