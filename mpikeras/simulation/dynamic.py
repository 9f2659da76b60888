"""A dynamic phantom: a tracer bolus moving through a vessel, measured frame by frame.

Physics: the particles' signal is linear in their concentration (no
particle interactions; mpi-facts section 4), so frame f measures
`u_f = S c(t_f) + background + noise`, with S the forward model of each
piece of the vessel. Here S is computed once per vessel segment with the
phantom code path (`phantom_spectra`: the simulator's particle, drive-field
and receive-chain physics over the segment's volume, not the system matrix a
reconstruction uses, so reconstructing it is no inverse crime), and each
frame passes the receive chain of the static phantom measurements
(`receive_frames`: feed-through, background, coils and noise, with the
effects `config` switches on).

Python use (there is no `mpikeras simulate` choice for it):

    from mpikeras.io import write_measurement
    from mpikeras.simulation import preset, simulate_bolus

    bolus = simulate_bolus(preset("openmpi-2d-19"), num_frames=1530)  # 1 s of scanning
    write_measurement("bolus.mdf", bolus.measurement)
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np

from mpikeras.errors import ConfigError
from mpikeras.io.grid import Grid
from mpikeras.io.measurement import Measurement
from mpikeras.io.metadata import Metadata
from mpikeras.simulation.calibration import CalibrationConfig, effect_generators
from mpikeras.simulation.frames import receive_frames
from mpikeras.simulation.phantoms import Phantom, phantom_spectra


@dataclasses.dataclass(frozen=True)
class Bolus:
    """A straight vessel along y and the Gaussian bolus that travels through it.

    The bolus centre moves at constant speed from `y_start_m` to `y_end_m`
    over the foreground frames; the concentration along the vessel is
    `peak_mol_per_l * exp(-(y - y_centre)^2 / (2 width_m^2))` inside the
    vessel's radius and 0 outside it (so the bolus enters and leaves the
    vessel at its ends).

    Args:
        x_m: x of the vessel axis (m). Defaults to 0.
        z_m: z of the vessel axis (m). Defaults to 0 (the central slice).
        y_start_m: where the vessel and the bolus start (m). Defaults to -9 mm.
        y_end_m: where they end (m). Defaults to +9 mm (inside the 24 mm
            drive-field FOV).
        radius_m: vessel radius (m). Defaults to 1 mm.
        width_m: standard deviation of the bolus along the vessel (m).
            Defaults to 2 mm.
        peak_mol_per_l: iron concentration at the bolus centre (mol/L).
            Defaults to 0.05 (the OpenMPIData phantoms' 50 mmol/L).
    """

    x_m: float = 0.0
    z_m: float = 0.0
    y_start_m: float = -0.009
    y_end_m: float = 0.009
    radius_m: float = 1e-3
    width_m: float = 2e-3
    peak_mol_per_l: float = 0.05

    def __post_init__(self) -> None:
        if not self.y_end_m > self.y_start_m:
            raise ConfigError("y_end_m", f"must exceed y_start_m={self.y_start_m}")
        for name in ("radius_m", "width_m", "peak_mol_per_l"):
            if not getattr(self, name) > 0:
                raise ConfigError(name, f"must be positive, received {getattr(self, name)}")

    def centres_m(self, num_frames: int) -> np.ndarray:
        """Bolus centre of each of `num_frames` frames, (num_frames, 3), metres."""
        y = np.linspace(self.y_start_m, self.y_end_m, num_frames)
        return np.stack([np.full_like(y, self.x_m), y, np.full_like(y, self.z_m)], axis=1)

    def segment(self, y0_m: float, y1_m: float) -> Phantom:
        """The vessel between `y0_m` and `y1_m` filled at `peak_mol_per_l`."""
        x, z, r, peak = self.x_m, self.z_m, self.radius_m, self.peak_mol_per_l

        def fn(points: np.ndarray) -> np.ndarray:
            inside = (points[:, 1] >= y0_m) & (points[:, 1] < y1_m)
            inside &= np.hypot(points[:, 0] - x, points[:, 2] - z) <= r
            return np.where(inside, peak, 0.0)

        return Phantom(
            "vessel segment",
            f"y in [{y0_m * 1e3:.2f}, {y1_m * 1e3:.2f}) mm",
            fn,
            ((x - r, y0_m, z - r), (x + r, y1_m, z + r)),
        )


@dataclasses.dataclass(frozen=True, eq=False)
class DynamicMeasurement:
    """A simulated dynamic measurement and its truth, frame by frame.

    Args:
        measurement: the `Measurement`: foreground frames in time order, then
            the background frames; its `ground_truth` is the time-mean
            concentration (an MDF file holds one image).
        concentrations: float64 (N, Nz, Ny, Nx), mol/L on `grid`, per
            foreground frame.
        centres_m: float64 (N, 3): the bolus centre in each frame, metres.
        times_s: float64 (N,): start of each frame, seconds.
        grid: the ground-truth grid (`config.scan_grid`).
        speed_m_per_s: the bolus speed.
    """

    measurement: Measurement
    concentrations: np.ndarray
    centres_m: np.ndarray
    times_s: np.ndarray
    grid: Grid
    speed_m_per_s: float


def simulate_bolus(
    config: CalibrationConfig,
    num_frames: int = 200,
    bolus: Bolus | None = None,
    seed: int = 0,
    num_background_frames: int = 10,
    segment_m: float = 0.5e-3,
    spacing_m: float = 0.25e-3,
) -> DynamicMeasurement:
    """Simulate a bolus travelling through a vessel, one frame per drive-field period.

    The vessel is cut into segments of length `segment_m`; each segment's
    spectrum at the peak concentration is computed once (`phantom_spectra`)
    and each frame sums them weighted by the bolus profile at that time (the
    profile is taken constant over a segment). Background, noise and the
    receive chain are those of `simulate_measurement` (`receive_frames`). Memory grows with
    `num_frames` (about 20 kB per frame with 3 channels of 1632 samples);
    write it with `write_measurement` and reconstruct the file in blocks.

    Example:

    >>> from mpikeras.simulation import preset
    >>> bolus = simulate_bolus(preset("openmpi-2d-19"), num_frames=20, segment_m=1e-3)
    >>> bolus.measurement.data.shape, bolus.concentrations.shape
    ((30, 1, 3, 1632), (20, 1, 19, 19))

    Args:
        config: `CalibrationConfig`. Scanner, tracer, receive chain and the
            ground-truth grid (`config.scan_grid`).
        num_frames: foreground frames. Defaults to 200.
        bolus: the vessel and bolus. Defaults to `Bolus()`.
        seed: seed of the noise. Defaults to 0.
        num_background_frames: background frames, stored after the
            foreground. Defaults to 10.
        segment_m: vessel segment length (m). Defaults to 0.5 mm.
        spacing_m: integration spacing in each segment (m); `segment_m`
            should be a multiple of it. Defaults to 0.25 mm.

    Returns:
        The `DynamicMeasurement`.

    Raises:
        ConfigError: for fewer than 2 frames or a segment length that is not
            positive.
    """
    bolus = Bolus() if bolus is None else bolus
    if int(num_frames) < 2:
        raise ConfigError("num_frames", f"expected at least 2 frames, received {num_frames}")
    if not segment_m > 0:
        raise ConfigError("segment_m", f"must be positive, received {segment_m}")
    num_frames = int(num_frames)
    length = bolus.y_end_m - bolus.y_start_m
    edges = np.linspace(bolus.y_start_m, bolus.y_end_m, math.ceil(length / segment_m - 1e-9) + 1)
    segments = [bolus.segment(a, b) for a, b in itertools.pairwise(edges)]
    grid = config.scan_grid
    # Per segment at the peak concentration: spectra (S, C, K) and mol/L on the grid.
    segment_spectra = np.stack([phantom_spectra(config, s, spacing_m) for s in segments])
    on_grid = np.stack([s.concentration_on(grid) for s in segments])

    centres = bolus.centres_m(num_frames)
    mids = (edges[:-1] + edges[1:]) / 2
    weights = np.exp(-((mids[None, :] - centres[:, 1:2]) ** 2) / (2 * bolus.width_m**2))
    clean = np.tensordot(weights, segment_spectra, axes=1)  # (N, C, K) volts
    concentrations = np.tensordot(weights, on_grid, axes=1)  # (N, Nz, Ny, Nx) mol/L

    # Background, noise and the receive chain exactly as for the static phantoms.
    acq = config.acquisition
    order = (np.arange(num_frames), num_frames + np.arange(num_background_frames))
    fg, bg = receive_frames(
        clean.astype(np.complex64),
        order,
        acq,
        config.receiver,
        config.background,
        config.coils,
        effect_generators(seed),
    )
    spectra = np.concatenate([fg, bg])[:, None]  # (N, 1, C, K)
    data = np.fft.irfft(spectra, n=acq.num_sampling_points, axis=-1).astype(np.float32)
    c = acq.num_receive_channels
    transfer_function = np.tile(config.receiver.transfer_function(acq.frequencies_hz), (c, 1))
    times = np.arange(num_frames) * acq.period_s
    description = (
        f"mpikeras simulation, seed {seed}: a bolus (peak {bolus.peak_mol_per_l * 1e3:g} mmol/L, "
        f"width {bolus.width_m * 1e3:g} mm) through a vessel of radius {bolus.radius_m * 1e3:g} mm "
        f"along y from {bolus.y_start_m * 1e3:g} to {bolus.y_end_m * 1e3:g} mm at "
        f"x = {bolus.x_m * 1e3:g} mm, z = {bolus.z_m * 1e3:g} mm, over {num_frames} frames"
    )
    measurement = Measurement(
        data=data,
        is_background_frame=np.r_[np.zeros(num_frames, bool), np.ones(num_background_frames, bool)],
        acquisition=dataclasses.replace(acq, transfer_function=transfer_function),
        metadata=Metadata(
            experiment_name="bolus phantom",
            experiment_description=description,
            experiment_subject="bolus phantom",
        ),
        ground_truth=(concentrations.mean(axis=0), grid),
    )
    return DynamicMeasurement(
        measurement=measurement,
        concentrations=concentrations,
        centres_m=centres,
        times_s=times,
        grid=grid,
        speed_m_per_s=length / times[-1],
    )
