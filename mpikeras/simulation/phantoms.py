"""The OpenMPIData phantoms as solid geometry, and their simulated measurements.

Geometry from mpi-facts section 1 (OpenMPIData, perimag). Orientation
choices the facts leave open are stated per phantom. Coordinates are
metres with the origin at the centre of the field of view.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from mpikeras.errors import ConfigError
from mpikeras.io.grid import Grid
from mpikeras.io.measurement import Measurement
from mpikeras.io.metadata import Metadata
from mpikeras.simulation.calibration import CalibrationConfig, effect_generators
from mpikeras.simulation.frames import receive_frames
from mpikeras.simulation.particles import magnetite_volume_fraction
from mpikeras.simulation.relaxation import effective_relaxation_time_s
from mpikeras.simulation.signal_model import (
    field_magnitude_bound,
    moment_rate,
    voltage_spectra,
)


def _segment_distance(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    axis = end - start
    t = np.clip((points - start) @ axis / (axis @ axis), 0.0, 1.0)
    return np.linalg.norm(points - (start + t[:, None] * axis), axis=1)


@dataclasses.dataclass(frozen=True)
class Phantom:
    """A phantom: concentration (mol/L iron) as a function of position.

    Example:

    >>> def cube(points):
    ...     return np.where(np.all(np.abs(points) < 0.001, axis=1), 0.1, 0.0)
    >>> box = Phantom("cube", "a 2 mm cube", cube, ((-0.001,) * 3, (0.001,) * 3))
    >>> points, conc = box.sample(0.5e-3)
    >>> points.shape, round(float(conc.sum() * 0.5e-3**3 * 1e3), 12)  # mol of iron
    ((64, 3), 8e-07)

    Args:
        name: str. Short name.
        description: str. What it is, with the orientation chosen.
        concentration_fn: callable mapping points, shape (N, 3) in metres,
            to concentrations in mol/L, shape (N,).
        bounds_m: `(lower corner, upper corner)` of a box enclosing the
            phantom (m); the concentration is zero outside it.
    """

    name: str
    description: str
    concentration_fn: Callable[[np.ndarray], np.ndarray]
    bounds_m: tuple[tuple[float, float, float], tuple[float, float, float]]

    def concentration(self, points_m: np.ndarray) -> np.ndarray:
        """Concentration (mol/L) at `points_m` (reshaped to (N, 3)), shape (N,)."""
        return self.concentration_fn(np.asarray(points_m, np.float64).reshape(-1, 3))

    def sample(self, spacing_m: float) -> tuple[np.ndarray, np.ndarray]:
        """Midpoint-rule samples of the phantom on a cubic lattice.

        The lattice fills `bounds_m` with cells of edge `spacing_m`; cells
        whose centre has zero concentration are dropped, so
        `sum(conc) * spacing_m**3` approximates the integral of the
        concentration.

        Args:
            spacing_m: float. Lattice spacing (m).

        Returns:
            `(points, conc)`: cell centres, shape (P, 3), and their mol/L,
            shape (P,).
        """
        lo, hi = np.asarray(self.bounds_m[0]), np.asarray(self.bounds_m[1])
        axes = [np.arange(a + spacing_m / 2, b, spacing_m) for a, b in zip(lo, hi, strict=True)]
        points = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
        conc = self.concentration(points)
        keep = conc > 0
        return points[keep], conc[keep]

    def concentration_on(self, grid: Grid, supersample: int = 8) -> np.ndarray:
        """Mean concentration (mol/L) in each voxel of `grid`.

        Each voxel is averaged over `supersample` points per axis at the
        centres of equal sub-cells (the midpoint rule). With an even count no
        sub-sample lies on a voxel centre plane or face, where the faces of
        grid-aligned phantoms (the cubes of the concentration phantom) lie,
        so such faces are not counted twice; an odd count can put them on
        sub-samples and overcount their voxels.

        Args:
            grid: `Grid`. Voxels to average over.
            supersample: int. Sub-samples per axis and voxel. Defaults to 8.

        Returns:
            float64 array, shape `grid.shape` (Nz, Ny, Nx).

        Raises:
            ConfigError: if `supersample` is below 1.
        """
        n = int(supersample)
        if n < 1:
            raise ConfigError("supersample", f"expected an integer >= 1, received {supersample}")
        frac = (np.arange(n) + 0.5) / n - 0.5
        voxel = np.asarray(grid.voxel_size_m)
        sub = np.stack(np.meshgrid(frac, frac, frac, indexing="ij"), -1).reshape(-1, 3) * voxel
        centres = grid.positions_m().reshape(-1, 3)
        # Only voxels that overlap the bounding box can hold tracer.
        lo, hi = np.asarray(self.bounds_m[0]), np.asarray(self.bounds_m[1])
        overlap = np.all((centres + voxel / 2 > lo) & (centres - voxel / 2 < hi), axis=1)
        inside = centres[overlap, None, :]
        values = np.empty(inside.shape[0])
        chunk = max(1, 2**18 // sub.shape[0])  # voxels per evaluation: bounded memory
        for start in range(0, inside.shape[0], chunk):
            points = (inside[start : start + chunk] + sub[None]).reshape(-1, 3)
            values[start : start + chunk] = self.concentration(points).reshape(-1, n**3).mean(1)
        out = np.zeros(centres.shape[0])
        out[overlap] = values
        return out.reshape(grid.shape)


def resolution_phantom() -> Phantom:
    """Five 1 mm tubes, 22 mm long, from one origin; 50 mmol/L.

    Orientation (chosen): the central tube runs along +y from
    (0, -11, 0) mm; two tubes tilt by 10 and 15 degrees towards +z (in YZ),
    two by 20 and 30 degrees towards +x (in XY), so the central slice shows
    three lines fanning out from a point.
    """
    origin = np.array([0.0, -0.011, 0.0])
    length, radius = 0.022, 0.0005
    directions = [np.array([0.0, 1.0, 0.0])]
    for deg in (10.0, 15.0):
        a = np.deg2rad(deg)
        directions.append(np.array([0.0, np.cos(a), np.sin(a)]))
    for deg in (20.0, 30.0):
        a = np.deg2rad(deg)
        directions.append(np.array([np.sin(a), np.cos(a), 0.0]))
    ends = [origin + length * d for d in directions]

    def fn(points: np.ndarray) -> np.ndarray:
        inside = np.zeros(points.shape[0], bool)
        for end in ends:
            inside |= _segment_distance(points, origin, end) <= radius
        return np.where(inside, 0.05, 0.0)

    return Phantom(
        "resolution",
        resolution_phantom.__doc__.split("\n")[0],
        fn,
        ((-0.001, -0.0116, -0.001), (0.0125, 0.0116, 0.0065)),
    )


def concentration_phantom() -> Phantom:
    """Eight 2 mm cubes, 12 mm apart in x and y and 6 mm in z, 100 to 5.85 mmol/L.

    Order (chosen): concentrations fall x fastest, then y, then z, starting
    at (-6, -6, -3) mm.
    """
    levels = [0.100, 0.0666, 0.0444, 0.0296, 0.0197, 0.0131, 0.00877, 0.00585]
    centres = [
        np.array([x, y, z])
        for z in (-0.003, 0.003)
        for y in (-0.006, 0.006)
        for x in (-0.006, 0.006)
    ]

    def fn(points: np.ndarray) -> np.ndarray:
        out = np.zeros(points.shape[0])
        for centre, level in zip(centres, levels, strict=True):
            inside = np.all(np.abs(points - centre) <= 0.001, axis=1)
            out[inside] = level
        return out

    return Phantom(
        "concentration",
        concentration_phantom.__doc__.split("\n")[0],
        fn,
        ((-0.0071, -0.0071, -0.0041), (0.0071, 0.0071, 0.0041)),
    )


def shape_phantom() -> Phantom:
    """A cone, 1 mm tip radius, 10 degree apex angle, 22 mm high, 50 mmol/L.

    Orientation (chosen): the axis runs along +y from the tip at (0, -11, 0) mm.
    """
    tip_y, height, tip_radius = -0.011, 0.022, 0.001
    slope = np.tan(np.deg2rad(5.0))

    def fn(points: np.ndarray) -> np.ndarray:
        s = points[:, 1] - tip_y
        r = np.hypot(points[:, 0], points[:, 2])
        inside = (s >= 0) & (s <= height) & (r <= tip_radius + s * slope)
        return np.where(inside, 0.05, 0.0)

    rmax = tip_radius + height * slope + 1e-4
    return Phantom(
        "shape",
        shape_phantom.__doc__.split("\n")[0],
        fn,
        ((-rmax, tip_y - 1e-4, -rmax), (rmax, tip_y + height + 1e-4, rmax)),
    )


PHANTOMS: dict[str, Callable[[], Phantom]] = {
    "resolution": resolution_phantom,
    "concentration": concentration_phantom,
    "shape": shape_phantom,
}


def phantom(name: str) -> Phantom:
    """The named phantom.

    Args:
        name: str. One of `PHANTOMS`: "resolution", "concentration", "shape".

    Returns:
        The `Phantom`.

    Raises:
        ConfigError: for an unknown name, listing the known ones.
    """
    if name not in PHANTOMS:
        raise ConfigError("phantom", f"expected one of {sorted(PHANTOMS)}, received {name!r}")
    return PHANTOMS[name]()


def phantom_spectra(
    config: CalibrationConfig, target: Phantom, spacing_m: float = 0.25e-3
) -> np.ndarray:
    """Noise-free voltage spectra of a phantom on the scanner of `config`.

    The phantom is sampled with `Phantom.sample(spacing_m)` and each cell
    contributes its magnetite volume `phi(c) spacing^3` to the moment rate
    (the same forward model as `simulate_signals`, with the midpoint rule in
    place of the delta sample's Gauss-Legendre rule).

    Args:
        config: `CalibrationConfig`. Scanner, tracer and receive chain.
        target: `Phantom`. The phantom.
        spacing_m: float. Integration spacing (m). Defaults to 0.25 mm.

    Returns:
        complex64 array, shape (C, K), volts.
    """
    points, conc = target.sample(spacing_m)
    acq = config.acquisition
    table = config.particles.table(field_magnitude_bound(acq, points))
    weights = magnetite_volume_fraction(conc) * spacing_m**3
    origin = np.zeros((1, 3))
    if config.relaxation.enabled or config.coils.enabled:
        return _point_by_point(config, table, points, weights)
    rate = np.zeros((acq.num_sampling_points, 3), np.float32)
    # The cells are the quadrature points of one "sample" at the origin.
    for start in range(0, points.shape[0], 512):
        chunk = slice(start, start + 512)
        rate += moment_rate(acq, table, origin, points[chunk], weights[chunk], threads=1)[0]
    return voltage_spectra(rate, acq, config.particles, config.receiver)


def _point_by_point(config: CalibrationConfig, table, points: np.ndarray, weights: np.ndarray):
    """`phantom_spectra` with a relaxation time and coil sensitivity of each cell's own."""
    acq = config.acquisition
    total = np.zeros((acq.num_receive_channels, acq.num_frequencies), np.complex128)
    for start in range(0, points.shape[0], 1024):
        cells = points[start : start + 1024]
        rate = moment_rate(acq, table, cells, np.zeros((1, 3)), np.ones(1))
        rate *= weights[start : start + 1024, None, None].astype(np.float32)
        tau = None
        if config.relaxation.enabled:
            tau = effective_relaxation_time_s(config.relaxation, config.particles, acq, cells, rate)
        spectra = voltage_spectra(rate, acq, config.particles, config.receiver, tau)
        sensitivity = config.coils.sensitivity_map(cells, spectra.shape[1])
        total += np.einsum("mck,mc->ck", spectra, sensitivity)
    return total.astype(np.complex64)


def simulate_measurement(
    target: Phantom | str,
    config: CalibrationConfig,
    seed: int = 0,
    num_frames: int = 10,
    num_background_frames: int = 10,
    spacing_m: float = 0.25e-3,
) -> Measurement:
    """Simulate a phantom measurement on the scanner of `config`.

    Each foreground frame is the phantom's signal (`phantom_spectra`) plus
    the background (drive-field feed-through, and the in-band lines of
    `config.background` when on) through the receive chain
    (`mpikeras.simulation.frames.receive_frames`) and fresh noise;
    background frames have no phantom. The true concentration on
    `config.scan_grid` (`Phantom.concentration_on`) is attached as ground
    truth. The same seed gives the same data.

    Example:

    >>> from mpikeras.simulation import preset
    >>> meas = simulate_measurement("resolution", preset("openmpi-2d-37"))
    >>> meas.data.shape, meas.ground_truth[0].shape
    ((20, 1, 3, 1632), (1, 37, 37))

    Args:
        target: `Phantom` or str. A phantom or the name of one (see
            `PHANTOMS`).
        config: `CalibrationConfig`. Scanner, tracer and receive chain, and
            the ground-truth grid (`config.scan_grid`).
        seed: int. Seed of the noise. Defaults to 0.
        num_frames: int. Foreground frames. Defaults to 10.
        num_background_frames: int. Background frames, stored after the
            foreground. Defaults to 10.
        spacing_m: float. Integration spacing over the phantom volume (m).
            Defaults to 0.25 mm.

    Returns:
        The `Measurement` (time domain, N x 1 x C x V, volts).

    Raises:
        ConfigError: for an unknown phantom name.
    """
    target = phantom(target) if isinstance(target, str) else target
    acq = config.acquisition
    clean = phantom_spectra(config, target, spacing_m)
    order = (np.arange(num_frames), num_frames + np.arange(num_background_frames))
    rngs = effect_generators(seed)
    fg, bg = receive_frames(
        clean, order, acq, config.receiver, config.background, config.coils, rngs
    )
    c = acq.num_receive_channels
    spectra = np.concatenate([fg, bg])[:, None]  # (N, 1, C, K)
    transfer_function = np.tile(config.receiver.transfer_function(acq.frequencies_hz), (c, 1))
    data = np.fft.irfft(spectra, n=acq.num_sampling_points, axis=-1).astype(np.float32)
    grid = config.scan_grid
    return Measurement(
        data=data,
        is_background_frame=np.r_[np.zeros(num_frames, bool), np.ones(num_background_frames, bool)],
        acquisition=dataclasses.replace(acq, transfer_function=transfer_function),
        metadata=Metadata(
            experiment_name=f"{target.name} phantom",
            experiment_description=f"mpikeras simulation, seed {seed}: {target.description}",
            experiment_subject=f"{target.name} phantom",
        ),
        ground_truth=(target.concentration_on(grid), grid),
    )
