"""Named worlds for a training/test pair of calibrations, and the one path from a scenario to files.

The paper trains on one calibration (the 19 grid) and tests on another (the
37 grid), measured at another time. What differs between the two decides
what a test result means, so each scenario says it: `near-identical` (the
simulator before its realism effects: the pair differs by noise and the
delta sample alone), `paper` (the same tracer calibrated again later: every
effect on, drawn independently per calibration), `new-tracer` (another
particle system for the test calibration) and `drift` (the same tracer
batch after background, temperature and gain have moved).
`write_scenario` writes a scenario's files; `mpikeras simulate --scenario`
and `mpikeras reproduce --scenario` both go through it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

from mpikeras.errors import ConfigError, MPIKerasError
from mpikeras.io import write_measurement, write_system_matrix
from mpikeras.io.atomic import write_text_atomic
from mpikeras.simulation.calibration import CalibrationConfig, simulate_system_matrix
from mpikeras.simulation.particles import ParticleModel
from mpikeras.simulation.phantoms import simulate_measurement
from mpikeras.simulation.presets import preset


@dataclasses.dataclass(frozen=True)
class CalibrationChange:
    """How one calibration of a scenario departs from its preset.

    Example:

    >>> cfg = CalibrationChange(effects=True).apply(preset("openmpi-2d-19"))
    >>> cfg.background.enabled, cfg.coils.enabled, cfg.batch.enabled
    (True, True, True)

    Args:
        effects: bool. Every effect of `CalibrationConfig` on (background,
            coils, relaxation, sample errors, tracer batch) at its default
            magnitude. Defaults to False.
        batch: bool. With `effects`: whether the tracer batch is drawn
            (False: the nominal tracer, shared by both calibrations).
        delta_sample_size_m: the delta sample, or `None` for the preset's.
        particles: the tracer, or `None` for the preset's.
        temperature_offset_kelvin: a fixed temperature shift of this
            calibration (gain drift).
        background_drift_per_sqrt_hour: the background drift rate, or
            `None` for the default.
    """

    effects: bool = False
    batch: bool = True
    delta_sample_size_m: tuple[float, float, float] | None = None
    particles: ParticleModel | None = None
    temperature_offset_kelvin: float = 0.0
    background_drift_per_sqrt_hour: float | None = None

    def apply(self, config: CalibrationConfig) -> CalibrationConfig:
        """`config` with this change."""
        config = config.with_effects(self.effects)
        if self.effects and not self.batch:
            config = dataclasses.replace(
                config, batch=dataclasses.replace(config.batch, enabled=False)
            )
        if self.delta_sample_size_m is not None:
            config = dataclasses.replace(config, delta_sample_size_m=self.delta_sample_size_m)
        if self.particles is not None:
            config = dataclasses.replace(config, particles=self.particles)
        if self.temperature_offset_kelvin:
            coils = dataclasses.replace(
                config.coils, temperature_offset_kelvin=self.temperature_offset_kelvin
            )
            config = dataclasses.replace(config, coils=coils)
        if self.background_drift_per_sqrt_hour is not None:
            background = dataclasses.replace(
                config.background, drift_per_sqrt_hour=self.background_drift_per_sqrt_hour
            )
            config = dataclasses.replace(config, background=background)
        return config


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A training/test pair of calibrations (and the phantom, measured on the test scanner).

    Example:

    >>> train, test = SCENARIOS["paper"].configs()
    >>> test.delta_sample_size_m, test.background.enabled
    ((0.002, 0.002, 0.001), True)

    Args:
        name: the scenario's name.
        description: one line on what differs between the two calibrations.
        train: the training calibration's change from `openmpi-2d-19`.
        test: the test calibration's change from `openmpi-2d-37`.
    """

    name: str
    description: str
    train: CalibrationChange
    test: CalibrationChange

    def configs(self) -> tuple[CalibrationConfig, CalibrationConfig]:
        """`(training, test)` calibration configurations."""
        return self.train.apply(preset(TRAIN_PRESET)), self.test.apply(preset(TEST_PRESET))


TRAIN_PRESET, TEST_PRESET = "openmpi-2d-19", "openmpi-2d-37"
#: Seeds of the calibrations and the phantom: each calibration draws its effects from its own.
SEEDS = {"train_sm": 0, "test_sm": 1, "measurement": 2}
#: The files of a scenario: role -> file name.
FILES = {
    "train_sm": "calibration-openmpi-2d-19.mdf",
    "test_sm": "calibration-openmpi-2d-37.mdf",
    "measurement": "phantom-resolution.mdf",
    "noise_free_test_sm": "calibration-openmpi-2d-37-noise-free.mdf",
}
#: The record of which scenario a data folder holds.
SCENARIO_RECORD = "scenario.json"

#: OpenMPIData.jl docs/src/calibration.md: the delta sample is 2 x 2 x 1 mm (no other size given).
OPENMPI_DELTA_SAMPLE_M = (0.002, 0.002, 0.001)
#: Another particle system: smaller median, broader sizes, slower relaxation. An illustration
#: of "a different tracer" (multi-core-like breadth), not a fit to any product.
OTHER_TRACER = ParticleModel(median_diameter_m=18e-9, sigma=0.35, relaxation_time_s=3e-6)

SCENARIOS: dict[str, Scenario] = {
    "near-identical": Scenario(
        "near-identical",
        "the simulator without its realism effects: the pair differs by noise and the test "
        "SM's 1 x 1 x 0.5 mm delta sample only",
        CalibrationChange(),
        CalibrationChange(),
    ),
    "paper": Scenario(
        "paper",
        "the same tracer calibrated again later: every effect on, drawn independently per "
        "calibration; both with OpenMPIData's 2 x 2 x 1 mm delta sample",
        CalibrationChange(effects=True, delta_sample_size_m=OPENMPI_DELTA_SAMPLE_M),
        CalibrationChange(effects=True, delta_sample_size_m=OPENMPI_DELTA_SAMPLE_M),
    ),
    "new-tracer": Scenario(
        "new-tracer",
        "as paper, but the test calibration uses another particle system (median 18 nm, "
        "sigma 0.35, tau 3 us)",
        CalibrationChange(effects=True, delta_sample_size_m=OPENMPI_DELTA_SAMPLE_M),
        CalibrationChange(
            effects=True, delta_sample_size_m=OPENMPI_DELTA_SAMPLE_M, particles=OTHER_TRACER
        ),
    ),
    "drift": Scenario(
        "drift",
        "the same tracer batch after background, temperature and gain have moved: the test "
        "calibration 5 K warmer and its background drifting 4x faster",
        CalibrationChange(effects=True, batch=False, delta_sample_size_m=OPENMPI_DELTA_SAMPLE_M),
        CalibrationChange(
            effects=True,
            batch=False,
            delta_sample_size_m=OPENMPI_DELTA_SAMPLE_M,
            # No source found (docs/simulator.md, Sources); conservative: 5 K (1 % gain at
            # 0.2 %/K), 4x the default drift.
            temperature_offset_kelvin=5.0,
            background_drift_per_sqrt_hour=0.2,
        ),
    ),
}
#: The scenario of `mpikeras reproduce` and `simulate --scenario` unless one is named.
DEFAULT_SCENARIO = "paper"


def scenario(name: str) -> Scenario:
    """The named scenario.

    Raises:
        ConfigError: for an unknown name, listing the known ones.
    """
    if name not in SCENARIOS:
        raise ConfigError("scenario", f"expected one of {sorted(SCENARIOS)}, received {name!r}")
    return SCENARIOS[name]


def write_scenario(
    name: str,
    out_dir: str | Path,
    log: Callable[[str], None] = print,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Simulate a scenario's files into `out_dir` (those not there yet) and record its name.

    The training SM, the test SM, the test SM without noise and background
    drift (same seed: the noise-free target), and the resolution phantom
    measured on the test scanner. A folder that holds another scenario's
    files is refused (a folder of files without a record is taken as
    `near-identical`, which wrote them before scenarios existed).

    Example:

    >>> paths = write_scenario("paper", "data")   # doctest: +SKIP

    Args:
        name: a scenario of `SCENARIOS`.
        out_dir: the folder.
        log: where progress lines go.
        overwrite: simulate every file again, replacing what is there.

    Returns:
        role -> path, the roles of `FILES`.

    Raises:
        ConfigError: for an unknown scenario.
        MPIKerasError: when the folder holds another scenario's files.
    """
    spec = scenario(name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {role: out / file for role, file in FILES.items()}
    record = out / SCENARIO_RECORD
    held = recorded_scenario(out)
    if held is not None and held != name and not overwrite:
        raise MPIKerasError(
            f"{out}: holds the files of scenario {held!r}, not {name!r}; choose another folder "
            "or pass overwrite"
        )
    train, test = spec.configs()
    jobs = {
        "train_sm": lambda: write_system_matrix(
            paths["train_sm"], simulate_system_matrix(train, SEEDS["train_sm"])
        ),
        "test_sm": lambda: write_system_matrix(
            paths["test_sm"], simulate_system_matrix(test, SEEDS["test_sm"])
        ),
        "noise_free_test_sm": lambda: write_system_matrix(
            paths["noise_free_test_sm"], simulate_system_matrix(test.noise_free(), SEEDS["test_sm"])
        ),
        "measurement": lambda: write_measurement(
            paths["measurement"], simulate_measurement("resolution", test, SEEDS["measurement"])
        ),
    }
    for role, job in jobs.items():
        if overwrite or not paths[role].exists():
            log(f"simulating {role} of scenario {name} -> {paths[role]}")
            job()
    content = {"scenario": name, "description": spec.description, "seeds": SEEDS}
    write_text_atomic(record, json.dumps(content, indent=1) + "\n")
    return paths


def recorded_scenario(folder: str | Path) -> str | None:
    """The scenario a data folder holds: its record, `near-identical` for files without one,
    `None` for a folder without files."""
    folder = Path(folder)
    record = folder / SCENARIO_RECORD
    if record.exists():
        try:
            return str(json.loads(record.read_text())["scenario"])
        except (ValueError, KeyError, TypeError):
            raise MPIKerasError(f"{record}: not a scenario record") from None
    if any((folder / file).exists() for file in FILES.values()):
        return "near-identical"
    return None
