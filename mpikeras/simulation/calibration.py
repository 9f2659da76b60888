"""Simulated calibration scans: a delta sample moved through a grid."""

from __future__ import annotations

import dataclasses

import numpy as np

from mpikeras.io.acquisition import Acquisition
from mpikeras.io.grid import Grid
from mpikeras.io.metadata import Metadata
from mpikeras.io.system_matrix import SystemMatrix
from mpikeras.simulation.particles import ParticleModel, magnetite_volume_fraction
from mpikeras.simulation.receiver import ReceiveChain
from mpikeras.simulation.signal_model import (
    feedthrough_spectrum,
    field_magnitude_bound,
    moment_rate,
    noise_spectra,
    voltage_spectra,
)


@dataclasses.dataclass(frozen=True)
class CalibrationConfig:
    """Everything that defines a simulated system-matrix scan.

    Args:
        grid: the full calibration grid.
        delta_sample_size_m: edge lengths of the box-shaped delta sample.
        concentration_mol_per_l: iron molarity of the delta sample.
        slices: "central" for the z = 0 slice only (the paper's 2D use) or
            "all" for the full 3D grid.
        quadrature: Gauss-Legendre points per axis that integrate the signal
            over the delta sample volume.
        num_background_frames: empty-bore frames appended to the scan.
        acquisition: the scanner's drive field, gradient and receiver.
        particles: the tracer.
        receiver: coils, filter and noise.
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

    def __post_init__(self) -> None:
        if self.slices not in ("central", "all"):
            raise ValueError(f"CalibrationConfig: slices must be 'central' or 'all', got {self.slices!r}")
        if min(self.delta_sample_size_m) <= 0 or min(self.quadrature) < 1:
            raise ValueError("CalibrationConfig: delta sample size and quadrature must be positive")
        if self.num_background_frames < 0 or self.concentration_mol_per_l < 0:
            raise ValueError("CalibrationConfig: background frames and concentration must be >= 0")

    @property
    def scan_grid(self) -> Grid:
        """The grid actually scanned (the central slice unless slices='all')."""
        return self.grid.central_slice() if self.slices == "central" else self.grid


def box_quadrature(size_m: tuple[float, float, float], points: tuple[int, int, int]):
    """Gauss-Legendre offsets (Q, 3) and volume weights (Q,) over a centred box."""
    axes = []
    for length, n in zip(size_m, points, strict=True):
        nodes, weights = np.polynomial.legendre.leggauss(n)
        axes.append((0.5 * length * nodes, 0.5 * length * weights))
    (x, wx), (y, wy), (z, wz) = axes
    offsets = np.stack(np.meshgrid(x, y, z, indexing="ij"), axis=-1).reshape(-1, 3)
    weights = np.einsum("i,j,k->ijk", wx, wy, wz).reshape(-1)
    return offsets, weights


def simulate_signals(config: CalibrationConfig, positions_m: np.ndarray) -> np.ndarray:
    """Noise-free voltage spectra of the delta sample at each position.

    Args:
        config: the scan.
        positions_m: delta-sample centres, shape (M, 3).

    Returns:
        complex64, shape (M, C, K), volts.
    """
    offsets, weights = box_quadrature(config.delta_sample_size_m, config.quadrature)
    bound = field_magnitude_bound(config.acquisition, positions_m + np.abs(offsets).max(0))
    table = config.particles.table(bound)
    phi = magnetite_volume_fraction(config.concentration_mol_per_l)
    rate = moment_rate(config.acquisition, table, positions_m, offsets, weights * phi)
    return voltage_spectra(rate, config.acquisition, config.particles, config.receiver)


def simulate_system_matrix(config: CalibrationConfig, seed: int = 0) -> SystemMatrix:
    """Simulate a calibration scan, as the robot of a real scanner records it.

    Each foreground frame is the delta sample's signal plus the static
    background and fresh noise; the background frames hold background and
    noise only. The returned system matrix is background-corrected, like
    `read_system_matrix` returns a real one. The same seed gives the same
    data.

    Example:

    >>> from mpikeras.simulation import preset, simulate_system_matrix
    >>> sm = simulate_system_matrix(preset("openmpi-2d-19"), seed=0)  # doctest: +SKIP
    >>> sm.spectra.shape
    (3, 817, 1, 19, 19)

    Args:
        config: the scan.
        seed: seed of the noise.

    Returns:
        The `SystemMatrix` (delta sample size and the background frames kept).
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
    clean = simulate_signals(config, positions)  # (O, C, K)
    rng = np.random.default_rng(seed)
    c, k = clean.shape[1:]
    background = feedthrough_spectrum(acq, config.receiver)
    std = config.receiver.noise_std_volt
    fg_raw = clean + background + noise_spectra(rng, (positions.shape[0], c), acq, std)
    bg = background + noise_spectra(rng, (config.num_background_frames, c), acq, std)
    corrected = fg_raw - bg.mean(axis=0) if bg.shape[0] else fg_raw - background
    nz, ny, nx = grid.shape
    spectra = np.transpose(corrected.reshape(nz, ny, nx, c, k), (3, 4, 0, 1, 2))
    metadata = Metadata(
        experiment_name="simulated calibration",
        experiment_description=f"mpikeras simulation, seed {seed}",
        experiment_subject="delta sample",
        tracer_concentration_mol_per_l=config.concentration_mol_per_l,
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
    )
    return dataclasses.replace(sm, snr=sm.estimate_snr())
