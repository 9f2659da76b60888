"""The data of the paper's protocol: the training SM, the test SM and the phantom, loaded."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mpikeras.evaluation.protocol import ProtocolSettings
from mpikeras.evaluation.truth import projected_amount
from mpikeras.io import read_measurement, read_system_matrix
from mpikeras.io.measurement import Measurement
from mpikeras.io.system_matrix import SystemMatrix
from mpikeras.simulation.phantoms import resolution_phantom
from mpikeras.simulation.scenarios import DEFAULT_SCENARIO, write_scenario


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
        scenario: the simulation scenario the data comes from
            (`mpikeras.simulation.scenarios`), `None` for measured data.
    """

    train_sm: SystemMatrix
    test_sm: SystemMatrix
    measurement: Measurement | None
    paths: dict[str, Path]
    noise_free_test_sm: SystemMatrix | None = None
    scenario: str | None = None

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


def prepare_protocol_data(
    data_dir: Path, log: Callable[[str], None] = print, scenario: str = DEFAULT_SCENARIO
) -> ProtocolData:
    """Simulate (once) and load a scenario's training SM, test SM, resolution phantom and
    noise-free test SM (`mpikeras.simulation.scenarios.write_scenario`).

    The noise-free test SM is the test calibration simulated with the same
    seed and the receiver noise (and background drift) switched off, so that
    it differs from the test SM by the noise alone.
    """
    paths = write_scenario(scenario, data_dir, log)
    log(f"data (scenario {scenario}): {', '.join(str(p) for p in paths.values())}")
    data = ProtocolData.read(paths["train_sm"], paths["test_sm"], paths["measurement"])
    clean = read_system_matrix(paths["noise_free_test_sm"], z_slice="central")
    return dataclasses.replace(data, noise_free_test_sm=clean, paths=paths, scenario=scenario)


def simulated_truth(test_sm: SystemMatrix, settings: ProtocolSettings) -> np.ndarray:
    """The resolution phantom's amount on the recovered 2 mm grid (delta-sample units)."""
    grid = test_sm.grid.subsample(settings.step_x, settings.target_offset_y)
    concentration = test_sm.metadata.tracer_concentration_mol_per_l or 0.1
    return projected_amount(
        resolution_phantom(), grid, test_sm.delta_sample_volume_m3, concentration
    )
