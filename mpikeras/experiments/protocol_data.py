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
    """The three files of the protocol, loaded.

    Args:
        train_sm: the training SM (central slice).
        test_sm: the test SM (central slice).
        measurement: the resolution phantom measured on the test scanner, or `None`.
        paths: role ("train_sm", "test_sm", "measurement") -> file.
    """

    train_sm: SystemMatrix
    test_sm: SystemMatrix
    measurement: Measurement | None
    paths: dict[str, Path]

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


def prepare_protocol_data(data_dir: Path, log: Callable[[str], None] = print) -> ProtocolData:
    """Simulate (once) and load the training SM, test SM and resolution phantom."""
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "train_sm": data_dir / "calibration-openmpi-2d-19.mdf",
        "test_sm": data_dir / "calibration-openmpi-2d-37.mdf",
        "measurement": data_dir / "phantom-resolution.mdf",
    }
    if not paths["train_sm"].exists():
        write_system_matrix(
            paths["train_sm"], simulate_system_matrix(simulation_preset("openmpi-2d-19"), seed=0)
        )
    if not paths["test_sm"].exists():
        write_system_matrix(
            paths["test_sm"], simulate_system_matrix(simulation_preset("openmpi-2d-37"), seed=1)
        )
    if not paths["measurement"].exists():
        meas = simulate_measurement("resolution", simulation_preset("openmpi-2d-37"), seed=2)
        write_measurement(paths["measurement"], meas)
    log(f"data: {', '.join(str(p) for p in paths.values())}")
    return ProtocolData.read(paths["train_sm"], paths["test_sm"], paths["measurement"])


def simulated_truth(test_sm: SystemMatrix, settings: ProtocolSettings) -> np.ndarray:
    """The resolution phantom's amount on the recovered 2 mm grid (delta-sample units)."""
    grid = test_sm.grid.subsample(settings.step_x, settings.target_offset_y)
    concentration = test_sm.metadata.tracer_concentration_mol_per_l or 0.1
    return projected_amount(
        resolution_phantom(), grid, test_sm.delta_sample_volume_m3, concentration
    )
