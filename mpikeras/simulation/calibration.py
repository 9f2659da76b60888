"""Simulated calibration scans: a delta sample moved through a grid."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from mpikeras.errors import ConfigError
from mpikeras.io.acquisition import Acquisition
from mpikeras.io.grid import Grid
from mpikeras.io.metadata import Metadata
from mpikeras.io.system_matrix import SystemMatrix
from mpikeras.simulation.background import BACKGROUND_STREAM, BackgroundModel
from mpikeras.simulation.coils import TEMPERATURE_STREAM, CoilModel
from mpikeras.simulation.frames import frame_order, record_scan
from mpikeras.simulation.particles import ParticleModel, magnetite_volume_fraction
from mpikeras.simulation.receiver import ReceiveChain
from mpikeras.simulation.relaxation import FieldDependentRelaxation, effective_relaxation_time_s
from mpikeras.simulation.signal_model import (
    field_magnitude_bound,
    moment_rate,
    voltage_spectra,
)
from mpikeras.simulation.variation import (
    BATCH_STREAM,
    SAMPLE_STREAM,
    DeltaSampleErrors,
    TracerBatch,
)


@dataclasses.dataclass(frozen=True)
class CalibrationConfig:
    """Everything that defines a simulated system-matrix scan.

    A robot moves a box-shaped delta sample through `grid`; each position
    gives one system-matrix column. Named scans live in
    `mpikeras.simulation.presets`.

    Example:

    >>> from mpikeras.io import Grid
    >>> cfg = CalibrationConfig(Grid((19, 19, 19), (0.038, 0.038, 0.019)), (0.002, 0.002, 0.001))
    >>> cfg.scan_grid.size
    (19, 19, 1)

    Args:
        grid: `Grid`. The full calibration grid.
        delta_sample_size_m: tuple of 3 floats. Edge lengths of the delta
            sample along x, y, z (m).
        concentration_mol_per_l: float. Iron molarity of the delta sample.
            Defaults to 0.1 (OpenMPIData's perimag delta sample).
        slices: str. `"central"` for the z = 0 slice only (the paper's 2D
            use) or `"all"` for the full 3D grid. Defaults to `"central"`.
        quadrature: tuple of 3 ints. Gauss-Legendre points per axis that
            integrate the signal over the delta-sample volume. Defaults to
            `(2, 2, 2)`.
        num_background_frames: int. Empty-bore frames appended to the scan.
            Defaults to 20.
        acquisition: `Acquisition`. Drive field, gradient and receiver
            sampling. Defaults to the OpenMPIData 2D scanner.
        particles: `ParticleModel`. The tracer. Defaults to perimag-like.
        receiver: `ReceiveChain`. Coils, filter, noise and feed-through.
        background: `BackgroundModel`. In-band lines, their drift and
            interleaved background frames (off by default).
        coils: `CoilModel`. Coil sensitivity map, x-y coupling, gain drift
            with temperature (off by default).
        relaxation: `FieldDependentRelaxation`. A Debye time per voxel
            that shortens in strong fields (off by default).
        sample_errors: `DeltaSampleErrors`. Concentration error and robot
            jitter (off by default).
        batch: `TracerBatch`. Batch-to-batch size distribution (off by
            default).

    Every effect is drawn per calibration from `numpy.random.default_rng((seed,
    stream))` with a stream of its own (the noise keeps `default_rng(seed)`),
    so a calibration's draws depend on its seed only, and with every effect
    off the scan is the simulator's without them, bit for bit.

    Raises:
        ConfigError: for an unknown `slices`, a non-positive sample size or
            quadrature, or a negative frame count or concentration.
    """

    grid: Grid
    delta_sample_size_m: tuple[float, float, float]
    concentration_mol_per_l: float = 0.1
    slices: str = "central"
    quadrature: tuple[int, int, int] = (2, 2, 2)
    num_background_frames: int = 20
    acquisition: Acquisition = dataclasses.field(default_factory=Acquisition)
    particles: ParticleModel = dataclasses.field(default_factory=ParticleModel)
    receiver: ReceiveChain = dataclasses.field(default_factory=ReceiveChain)
    background: BackgroundModel = dataclasses.field(default_factory=BackgroundModel)
    coils: CoilModel = dataclasses.field(default_factory=CoilModel)
    relaxation: FieldDependentRelaxation = dataclasses.field(
        default_factory=FieldDependentRelaxation
    )
    sample_errors: DeltaSampleErrors = dataclasses.field(default_factory=DeltaSampleErrors)
    batch: TracerBatch = dataclasses.field(default_factory=TracerBatch)

    def __post_init__(self) -> None:
        if self.slices not in ("central", "all"):
            raise ConfigError(
                "CalibrationConfig.slices", f"expected 'central' or 'all', received {self.slices!r}"
            )
        if len(self.delta_sample_size_m) != 3 or not min(self.delta_sample_size_m) > 0:
            raise ConfigError(
                "CalibrationConfig.delta_sample_size_m",
                f"expected 3 positive lengths, received {self.delta_sample_size_m}",
            )
        if len(self.quadrature) != 3 or min(self.quadrature) < 1:
            raise ConfigError(
                "CalibrationConfig.quadrature",
                f"expected 3 point counts >= 1, received {self.quadrature}",
            )
        for name in ("num_background_frames", "concentration_mol_per_l"):
            value = getattr(self, name)
            if not value >= 0:
                raise ConfigError(f"CalibrationConfig.{name}", f"expected >= 0, received {value}")

    @property
    def scan_grid(self) -> Grid:
        """The grid actually scanned (the central slice unless slices='all')."""
        return self.grid.central_slice() if self.slices == "central" else self.grid

    def noise_free(self) -> CalibrationConfig:
        """The same calibration without receiver noise and background drift: with
        the same seed, the simulated SM differs from this one's by the noise and
        the drift left by the background correction alone (every other draw,
        the gain's course included, is the same)."""
        receiver = dataclasses.replace(self.receiver, noise_std_volt=0.0)
        background = dataclasses.replace(self.background, drift_per_sqrt_hour=0.0)
        return dataclasses.replace(self, receiver=receiver, background=background)

    def with_effects(self, enabled: bool = True) -> CalibrationConfig:
        """This calibration with every effect switched on (or off), magnitudes unchanged."""
        return dataclasses.replace(
            self,
            **{
                name: dataclasses.replace(getattr(self, name), enabled=enabled)
                for name in ("background", "coils", "relaxation", "sample_errors", "batch")
            },
        )


def box_quadrature(
    size_m: tuple[float, float, float], points: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre offsets and volume weights over a box centred at the origin.

    The tensor product of `points[i]`-point Gauss-Legendre rules on
    `[-size_m[i] / 2, size_m[i] / 2]`: exact for polynomials of degree
    `2 points[i] - 1` per axis; the weights sum to the box volume.

    Args:
        size_m: edge lengths along x, y, z (m).
        points: quadrature points per axis.

    Returns:
        `(offsets, weights)`: shape (Q, 3) in metres and shape (Q,) in m^3,
        Q = prod(points).
    """
    axes = []
    for length, n in zip(size_m, points, strict=True):
        nodes, weights = np.polynomial.legendre.leggauss(n)
        axes.append((0.5 * length * nodes, 0.5 * length * weights))
    (x, wx), (y, wy), (z, wz) = axes
    offsets = np.stack(np.meshgrid(x, y, z, indexing="ij"), axis=-1).reshape(-1, 3)
    weights = np.einsum("i,j,k->ijk", wx, wy, wz).reshape(-1)
    return offsets, weights


#: Positions simulated per chunk: bounds memory (a 3D 37^3 scan is 50653 voxels) and paces
#: progress reports.
_POSITIONS_PER_CHUNK = 4096


def simulate_signals(
    config: CalibrationConfig,
    positions_m: np.ndarray,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Noise-free voltage spectra of the delta sample at each position.

    The signal of the sample volume is integrated with `box_quadrature`
    and scales linearly with `config.concentration_mol_per_l`; no
    background and no noise are added.

    Args:
        config: `CalibrationConfig`. The scan (its grid is not used).
        positions_m: array, shape (M, 3). Delta-sample centres (m).
        progress: called as `progress(done, total)` after each chunk of
            positions, for long (3D) scans.

    Returns:
        complex64 array, shape (M, C, K): unnormalised rfft of one period,
        volts, seen by coils of the sensitivity `config.coils.sensitivity_map`.
    """
    positions_m = np.asarray(positions_m, np.float64).reshape(-1, 3)
    offsets, weights = box_quadrature(config.delta_sample_size_m, config.quadrature)
    # The table must cover every quadrature point of every sample position.
    points = positions_m[:, None, :] + offsets[None, :, :]
    table = config.particles.table(field_magnitude_bound(config.acquisition, points))
    phi = magnetite_volume_fraction(config.concentration_mol_per_l)
    total = positions_m.shape[0]
    chunks = []
    for start in range(0, total, _POSITIONS_PER_CHUNK):
        chunk = positions_m[start : start + _POSITIONS_PER_CHUNK]
        rate = moment_rate(config.acquisition, table, chunk, offsets, weights * phi)
        tau = None
        if config.relaxation.enabled:
            tau = effective_relaxation_time_s(
                config.relaxation, config.particles, config.acquisition, chunk, rate
            )
        spectra = voltage_spectra(rate, config.acquisition, config.particles, config.receiver, tau)
        if config.coils.enabled:
            channels = spectra.shape[1]
            spectra *= config.coils.sensitivity_map(chunk, channels)[..., None].astype(np.float32)
        chunks.append(spectra)
        if progress is not None:
            progress(min(start + _POSITIONS_PER_CHUNK, total), total)
    return np.concatenate(chunks) if len(chunks) != 1 else chunks[0]


def simulate_system_matrix(
    config: CalibrationConfig,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> SystemMatrix:
    """Simulate a calibration scan, as the robot of a real scanner records it.

    Each foreground frame is the delta sample's signal plus the background
    and fresh noise; the background frames hold background and noise only
    (`mpikeras.simulation.frames.record_scan`; with the realism effects of
    `config` on, the calibration's tracer batch, sample and positions are
    drawn first, `realise`). The returned system matrix is
    background-corrected, like `read_system_matrix` returns a real one. The
    same seed gives the same data.

    Example:

    >>> from mpikeras.simulation import preset, simulate_system_matrix
    >>> sm = simulate_system_matrix(preset("openmpi-2d-19"), seed=0)
    >>> sm.spectra.shape
    (3, 817, 1, 19, 19)

    Args:
        config: `CalibrationConfig`. The scan.
        seed: int. Seed of the noise. Defaults to 0.
        progress: optional `progress(done, total)` callback over the voxels.

    Returns:
        The `SystemMatrix` on `config.scan_grid`, with the delta-sample size,
        the background frames (shape (C, K, E)), the receive chain's
        transfer function and the SNR estimated from the background.
    """
    grid = config.scan_grid
    acq = dataclasses.replace(
        config.acquisition,
        transfer_function=np.tile(
            config.receiver.transfer_function(config.acquisition.frequencies_hz),
            (config.acquisition.num_receive_channels, 1),
        ),
    )
    positions = grid.positions_m().reshape(-1, 3)
    realised, actual = realise(config, seed, positions)
    clean = simulate_signals(realised, actual, progress)  # (O, C, K)
    rngs = effect_generators(seed)
    order = frame_order(
        config.background, positions.shape[0], grid.shape[2], config.num_background_frames
    )
    corrected, bg = record_scan(
        clean, order, acq, config.receiver, config.background, config.coils, rngs
    )
    c, k = clean.shape[1:]
    nz, ny, nx = grid.shape
    spectra = np.transpose(corrected.reshape(nz, ny, nx, c, k), (3, 4, 0, 1, 2))
    metadata = Metadata(
        experiment_name="simulated calibration",
        experiment_description=f"mpikeras simulation, seed {seed}",
        experiment_subject="delta sample",
        tracer_concentration_mol_per_l=config.concentration_mol_per_l,  # nominal, as labelled
        tracer_volume_l=float(np.prod(config.delta_sample_size_m)) * 1e3,
    )
    sm = SystemMatrix(
        spectra=np.ascontiguousarray(spectra),
        grid=grid,
        acquisition=acq,
        background=np.ascontiguousarray(np.transpose(bg, (1, 2, 0))),
        delta_sample_size_m=tuple(config.delta_sample_size_m),
        metadata=metadata,
        method="simulation",
        # Interleaved background frames: the file records when each frame was taken.
        frame_positions=order if config.background.enabled else None,
    )
    return dataclasses.replace(sm, snr=sm.estimate_snr())


def effect_generators(seed: int) -> dict[str, np.random.Generator]:
    """The generators of one calibration: "noise" (`default_rng(seed)`) and one per effect.

    Example:

    >>> sorted(effect_generators(0))
    ['background', 'batch', 'noise', 'sample', 'temperature']
    """
    streams = {
        "background": BACKGROUND_STREAM,
        "temperature": TEMPERATURE_STREAM,
        "sample": SAMPLE_STREAM,
        "batch": BATCH_STREAM,
    }
    rngs = {name: np.random.default_rng((seed, stream)) for name, stream in streams.items()}
    return {"noise": np.random.default_rng(seed), **rngs}


def realise(
    config: CalibrationConfig, seed: int, positions_m: np.ndarray
) -> tuple[CalibrationConfig, np.ndarray]:
    """The calibration as it happened: its tracer batch, its sample's iron content, its positions.

    Args:
        config: the nominal calibration.
        seed: the calibration's seed.
        positions_m: nominal delta-sample positions, shape (M, 3).

    Returns:
        `(config, positions_m)`: the nominal ones when `sample_errors` and
        `batch` are off.
    """
    rngs = effect_generators(seed)
    factor, offsets = config.sample_errors.draw(rngs["sample"], positions_m.shape[0])
    particles = config.batch.draw(config.particles, rngs["batch"])
    if not (config.sample_errors.enabled or config.batch.enabled):
        return config, positions_m
    realised = dataclasses.replace(
        config, particles=particles, concentration_mol_per_l=config.concentration_mol_per_l * factor
    )
    return realised, positions_m + offsets
