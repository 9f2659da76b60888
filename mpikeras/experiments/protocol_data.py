"""The data of the paper's protocol: the training SM, the test SM and the phantom, loaded."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mpikeras.evaluation.protocol import ProtocolSettings
from mpikeras.evaluation.truth import projected_amount
from mpikeras.io import (
    read_measurement,
    read_system_matrix,
    write_measurement,
    write_system_matrix,
)
from mpikeras.io.measurement import Measurement
from mpikeras.io.system_matrix import SystemMatrix
from mpikeras.simulation import preset as simulation_preset
from mpikeras.simulation import simulate_system_matrix
from mpikeras.simulation.phantoms import resolution_phantom, simulate_measurement


@dataclasses.dataclass(frozen=True, eq=False)
class ProtocolData:
    """The files of the protocol, loaded.

    Args:
        train_sm: the training SM (central slice).
        test_sm: the test SM (central slice).
        measurement: the resolution phantom measured on the test scanner, or `None`.
        paths: role ("train_sm", "test_sm", "measurement", "noise_free_test_sm") -> file.
        noise_free_test_sm: the test SM without receiver noise, where the data
            is simulated (`None` for measured data).
    """

    train_sm: SystemMatrix
    test_sm: SystemMatrix
    measurement: Measurement | None
    paths: dict[str, Path]
    noise_free_test_sm: SystemMatrix | None = None

    @classmethod
    def read(
        cls, train_sm: str | Path, test_sm: str | Path, measurement: str | Path | None = None
    ) -> ProtocolData:
        """Load given MDF files (central z slices)."""
        paths = {"train_sm": Path(train_sm), "test_sm": Path(test_sm)}
        if measurement is not None:
            paths["measurement"] = Path(measurement)
        return cls(
            read_system_matrix(train_sm, z_slice="central"),
            read_system_matrix(test_sm, z_slice="central"),
            read_measurement(measurement) if measurement is not None else None,
            paths,
        )


#: The simulated calibrations of the protocol: role -> (preset, seed).
SIMULATED_CALIBRATIONS = {"train_sm": ("openmpi-2d-19", 0), "test_sm": ("openmpi-2d-37", 1)}
#: Seed of the simulated phantom measurement.
PHANTOM_SEED = 2


def prepare_protocol_data(data_dir: Path, log: Callable[[str], None] = print) -> ProtocolData:
    """Simulate (once) and load the training SM, test SM, resolution phantom and noise-free test SM.

    The noise-free test SM is the test calibration simulated with the same
    seed and the receiver noise switched off, so that it differs from the
    test SM by the noise alone.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "train_sm": data_dir / "calibration-openmpi-2d-19.mdf",
        "test_sm": data_dir / "calibration-openmpi-2d-37.mdf",
        "measurement": data_dir / "phantom-resolution.mdf",
        "noise_free_test_sm": data_dir / "calibration-openmpi-2d-37-noise-free.mdf",
    }
    for role, (name, seed) in SIMULATED_CALIBRATIONS.items():
        if not paths[role].exists():
            write_system_matrix(paths[role], simulate_system_matrix(simulation_preset(name), seed))
    if not paths["noise_free_test_sm"].exists():
        name, seed = SIMULATED_CALIBRATIONS["test_sm"]
        clean = simulate_system_matrix(simulation_preset(name).noise_free(), seed)
        write_system_matrix(paths["noise_free_test_sm"], clean)
    if not paths["measurement"].exists():
        meas = simulate_measurement(
            "resolution", simulation_preset(SIMULATED_CALIBRATIONS["test_sm"][0]), PHANTOM_SEED
        )
        write_measurement(paths["measurement"], meas)
    log(f"data: {', '.join(str(p) for p in paths.values())}")
    data = ProtocolData.read(paths["train_sm"], paths["test_sm"], paths["measurement"])
    clean = read_system_matrix(paths["noise_free_test_sm"], z_slice="central")
    return dataclasses.replace(data, noise_free_test_sm=clean, paths=paths)


def simulated_truth(test_sm: SystemMatrix, settings: ProtocolSettings) -> np.ndarray:
    """The resolution phantom's amount on the recovered 2 mm grid (delta-sample units)."""
    grid = test_sm.grid.subsample(settings.step_x, settings.target_offset_y)
    concentration = test_sm.metadata.tracer_concentration_mol_per_l or 0.1
    return projected_amount(
        resolution_phantom(), grid, test_sm.delta_sample_volume_m3, concentration
    )
