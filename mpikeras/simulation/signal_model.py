"""The forward model: particle positions -> induced voltage spectra.

For points r in a homogeneous drive field and a linear selection field the
field is `B(r, t) = B_D(t) - G r` (mpi-facts section 4), the ensemble
magnetisation follows the tabulated Langevin response and the voltage is
`u_c(t) = -mu0 p_c . dM/dt`, then relaxed (Debye) and filtered. The time
loop is vectorised; points are processed in chunks that fit in cache, on a
few threads (numpy releases the GIL).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from mpikeras.io.acquisition import Acquisition
from mpikeras.simulation.particles import MU0_T_M_PER_A, MagnetizationTable, ParticleModel
from mpikeras.simulation.receiver import ReceiveChain

_CHUNK_POINTS = 192


def _max_drive_tesla(acquisition: Acquisition) -> float:
    """Largest drive-field magnitude |B_D(t)| over the sampled period (T)."""
    drive, _ = acquisition.drivefield.field_tesla(acquisition.times_s)
    return float(np.sqrt((drive**2).sum(axis=-1)).max())


def field_magnitude_bound(acquisition: Acquisition, points_m: np.ndarray) -> float:
    """An upper bound of |B| (tesla) at the given points over the sampled period.

    By the triangle inequality `|B_D(t) - G r| <= max_r |G r| + max_t |B_D(t)|`;
    5 % (and 1 uT) are added so that a table built for this bound covers
    every field that `moment_rate` looks up at these points.

    Args:
        acquisition: drive field, gradient and sampling times.
        points_m: positions, shape (..., 3), metres.

    Returns:
        The bound in tesla.
    """
    points = np.asarray(points_m, np.float64).reshape(-1, 3)
    static = np.sqrt(((points @ acquisition.gradient.T) ** 2).sum(axis=-1))
    static_max = float(static.max()) if static.size else 0.0
    return (static_max + _max_drive_tesla(acquisition)) * 1.05 + 1e-6


def moment_rate(
    acquisition: Acquisition,
    table: MagnetizationTable,
    centers_m: np.ndarray,
    offsets_m: np.ndarray,
    offset_weights: np.ndarray,
    threads: int | None = None,
) -> np.ndarray:
    """dM/dt integrated over a small volume around each centre.

    `rate[m] = sum_q w_q dM/dt(centers_m[m] + offsets_m[q])` where dM/dt is
    per unit magnetite volume fraction (A/m/s), so with volume weights `w_q`
    (m^3) the result is a moment rate in A m^2 / s per unit volume fraction
    (fold the volume fraction into the weights for a physical moment rate).
    dM/dt follows the chain rule of `MagnetizationTable`,
    `g(|B|) dB/dt + q(|B|) (B . dB/dt) B` with `B = B_D(t) - G r`, evaluated
    in float32 at the sampling times of `acquisition`.

    Args:
        acquisition: `Acquisition`. Drive field, gradient and sampling.
        table: `MagnetizationTable` covering `field_magnitude_bound` of all
            points `centers_m[m] + offsets_m[q]`.
        centers_m: array, shape (M, 3). Centres (m).
        offsets_m: array, shape (Q, 3). Quadrature offsets (m).
        offset_weights: array, shape (Q,). Quadrature weights.
        threads: int or `None`. Worker threads; `None` uses up to 4 (the CPU
            count if smaller).

    Returns:
        float32 array, shape (M, V, 3): x, y, z components over the period.

    Raises:
        ValueError: if the table does not cover the fields at the points.
    """
    centers_m = np.asarray(centers_m, np.float64).reshape(-1, 3)
    offsets_m = np.asarray(offsets_m, np.float64).reshape(-1, 3)
    weights = np.asarray(offset_weights, np.float32).reshape(-1)
    field, rate = acquisition.drivefield.field_tesla(acquisition.times_s)
    field = field.astype(np.float32)
    rate = rate.astype(np.float32)
    active = [d for d in range(3) if np.any(rate[:, d] != 0)]
    num_points, num_q, num_t = centers_m.shape[0], offsets_m.shape[0], field.shape[0]
    out = np.empty((num_points, num_t, 3), np.float32)
    # Static part of the field, -G r, for every quadrature point: (M, Q, 3).
    static = -((centers_m[:, None, :] + offsets_m[None, :, :]) @ acquisition.gradient.T)
    static = static.astype(np.float32)
    if static.size:
        b_max = np.sqrt((static**2).sum(-1)).max() + np.sqrt((field**2).sum(-1)).max()
        if b_max > table.b_max_tesla:
            raise ValueError(
                "moment_rate: the magnetisation table does not cover the field range; expected "
                f"|B| <= {table.b_max_tesla:.4g} T, the points reach up to {b_max:.4g} T "
                "(build the table with field_magnitude_bound over all points)"
            )
    step = max(1, _CHUNK_POINTS // num_q)

    def work(start: int) -> None:
        stop = min(start + step, num_points)
        s = static[start:stop].reshape(-1, 1, 3)  # (P, 1, 3)
        bx = field[:, 0] + s[..., 0]
        by = field[:, 1] + s[..., 1]
        bz = field[:, 2] + s[..., 2]
        b = np.sqrt(bx * bx + by * by + bz * bz)
        g, q = table.lookup(b)
        b_dot = sum((bx, by, bz)[d] * rate[:, d] for d in active)
        qb = q * b_dot
        n = stop - start
        for axis, component in enumerate((bx, by, bz)):
            r = qb * component
            if axis in active:
                r += g * rate[:, axis]
            out[start:stop, :, axis] = np.tensordot(weights, r.reshape(n, num_q, num_t), ([0], [1]))

    starts = range(0, num_points, step)
    workers = threads or min(4, os.cpu_count() or 1)
    if workers > 1 and num_points > step:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(work, starts))
    else:
        for start in starts:
            work(start)
    return out


def voltage_spectra(
    rate: np.ndarray,
    acquisition: Acquisition,
    particles: ParticleModel,
    receiver: ReceiveChain,
    relaxation_time_s: np.ndarray | None = None,
) -> np.ndarray:
    """Induced, relaxed and filtered voltage spectra from moment rates.

    Args:
        rate: moment rate, shape (..., V, 3), A m^2 / s.
        acquisition: sampling and number of receive channels.
        particles: for the Debye relaxation.
        receiver: coil sensitivities and filter.
        relaxation_time_s: optional Debye time per row of `rate` (shape (M,)
            for a rate of shape (M, V, 3)), in place of the particles' one
            (`mpikeras.simulation.relaxation`).

    Returns:
        complex64 spectra (unnormalised rfft), shape (..., C, K), volts.
    """
    num_channels = acquisition.num_receive_channels
    sensitivity = np.asarray(receiver.coil_sensitivity_per_m[:num_channels], np.float32)
    spectra = np.fft.rfft(rate[..., :num_channels], axis=-2)  # (..., K, C)
    freqs = acquisition.frequencies_hz
    if relaxation_time_s is None:
        chain = particles.debye(freqs) * receiver.transfer_function(freqs)  # (K,)
        factor = (-MU0_T_M_PER_A * chain[:, None] * sensitivity[None, :]).astype(np.complex64)
    else:  # one Debye factor 1 / (1 + i 2 pi f tau) per row
        tau = np.asarray(relaxation_time_s, np.float64).reshape(-1, 1)
        chain = receiver.transfer_function(freqs) / (1.0 + 2j * np.pi * freqs * tau)  # (M, K)
        factor = (-MU0_T_M_PER_A * chain[..., None] * sensitivity).astype(np.complex64)
    return np.swapaxes(spectra * factor, -1, -2).astype(np.complex64)


def noise_spectra(
    rng: np.random.Generator, shape: tuple[int, ...], acquisition: Acquisition, std_volt: float
) -> np.ndarray:
    """Spectra of white Gaussian noise with `std_volt` per time sample, shape (*shape, K).

    Drawn directly in the frequency domain with the distribution of the rfft
    of V samples of N(0, std^2): independent real and imaginary parts of
    variance V std^2 / 2, purely real bins of variance V std^2 at 0 and V/2.
    """
    v = acquisition.num_sampling_points
    k = acquisition.num_frequencies
    parts = rng.standard_normal((*shape, k, 2), dtype=np.float32)
    parts *= np.float32(std_volt * np.sqrt(v / 2.0))
    parts[..., 0, 1] = 0.0
    parts[..., 0, 0] *= np.float32(np.sqrt(2.0))
    if v % 2 == 0:
        parts[..., -1, 1] = 0.0
        parts[..., -1, 0] *= np.float32(np.sqrt(2.0))
    return parts.view(np.complex64)[..., 0]


def feedthrough_spectrum(acquisition: Acquisition, receiver: ReceiveChain) -> np.ndarray:
    """Static background: filtered drive-field feed-through, shape (C, K).

    Each driven channel d leaks a sine at its drive frequency into receive
    channel d (rfft bin `V / divider_d`), plus a weak third harmonic.
    """
    num_channels = acquisition.num_receive_channels
    v = acquisition.num_sampling_points
    out = np.zeros((num_channels, acquisition.num_frequencies), np.complex128)
    tf = receiver.transfer_function(acquisition.frequencies_hz)
    df = acquisition.drivefield
    for d in df.active_channels:
        if d >= num_channels:
            continue
        cycles = v * df.frequencies_hz[d] / acquisition.sampling_rate_hz
        base = round(cycles)
        for harmonic, level in ((1, 1.0), (3, 1e-3)):
            k = harmonic * base
            if k < out.shape[1]:
                # A sin of amplitude a has rfft coefficient -i a V / 2.
                out[d, k] += -0.5j * v * receiver.feedthrough_volt * level * tf[k]
    return out.astype(np.complex64)
