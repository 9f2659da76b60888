"""Classic MPI image reconstruction: frequency selection plus regularised Kaczmarz."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mpikeras.errors import PreprocessingError
from mpikeras.io.acquisition import Acquisition
from mpikeras.io.measurement import Measurement
from mpikeras.io.system_matrix import SystemMatrix
from mpikeras.reconstruction.frequency_selection import (
    DEFAULT_MIN_FREQUENCY_HZ,
    DEFAULT_SNR_THRESHOLD,
    select_frequencies,
)
from mpikeras.reconstruction.kaczmarz import kaczmarz


def reconstruct(
    sm: SystemMatrix,
    measurement: Measurement | np.ndarray,
    lam: float = 0.01,
    iterations: int = 3,
    channels: Sequence[int] = (0, 1),
    min_frequency_hz: float = DEFAULT_MIN_FREQUENCY_HZ,
    max_frequency_hz: float | None = None,
    snr_threshold: float | None = DEFAULT_SNR_THRESHOLD,
    row_weighting: bool = False,
    enforce_real: bool = True,
    enforce_positive: bool = True,
    average_frames: bool = True,
) -> np.ndarray:
    """Reconstruct a particle-concentration image from a measurement, as MPIReco.jl does.

    Selects the (channel, frequency) rows of the system matrix with
    `select_frequencies`, takes the same rows of the measured spectra and
    solves `min ||S c - u||^2 + lam_eff ||c||^2` with `kaczmarz` (relative
    `lam`, real and non-negative c by default; mpi-facts section 3). The
    defaults, `lam = 0.01` and 3 iterations, are the paper's.

    The image is in units of the system matrix's delta sample: a voxel value
    of 1 is the signal of the delta sample (concentration
    `sm.metadata.tracer_concentration_mol_per_l`, volume
    `sm.delta_sample_volume_m3`) in that voxel. For mol/L multiply by that
    concentration times the delta-sample volume over the voxel volume.

    Example:

    >>> from mpikeras.simulation import preset, simulate_system_matrix
    >>> from mpikeras.simulation.phantoms import simulate_measurement
    >>> cfg = preset("openmpi-2d-19")
    >>> sm = simulate_system_matrix(cfg)
    >>> image = reconstruct(sm, simulate_measurement("resolution", cfg))
    >>> image.shape
    (1, 19, 19)

    Args:
        sm: the system matrix (background-corrected).
        measurement: a `Measurement`, whose background-corrected spectra are
            used (see `average_frames`), or complex spectra on the system
            matrix's channels and frequencies, shape (C, K) or (F, C, K).
        lam: relative Tikhonov weight (`lam_eff = lam ||S||_F^2 / N`).
            Defaults to `0.01`.
        iterations: Kaczmarz sweeps. Defaults to `3`.
        channels: receive channels to use. Defaults to `(0, 1)`.
        min_frequency_hz: lowest frequency used, in Hz. Defaults to 80 kHz.
        max_frequency_hz: highest frequency used, in Hz, or `None` for the
            receiver's bandwidth. Defaults to `None`.
        snr_threshold: minimum SNR of a used row (`sm.snr`, or estimated from
            the system matrix's background frames), or `None` for all rows.
            Defaults to `DEFAULT_SNR_THRESHOLD` (2.0).
        row_weighting: weight each row by `1 / ||s_i||`. Defaults to `False`.
        enforce_real: keep the concentration real. Defaults to `True`.
        enforce_positive: keep the concentration non-negative. Defaults to
            `True`.
        average_frames: for a `Measurement`, reconstruct the mean of its
            foreground frames (`True`) or every foreground frame. Defaults to
            `True`.

    Returns:
        float64 array shaped like the grid, (Nz, Ny, Nx), or (F, Nz, Ny, Nx)
        for several frames (complex128 if `enforce_real` is False).

    Raises:
        PreprocessingError: if the measurement and the system matrix disagree
            (receive channels, number of frequencies, sampling, drive field),
            or the frequency selection leaves no row (see `select_frequencies`).
        ValueError: for a negative `lam` or `iterations < 1`.
    """
    spectra = _measurement_spectra(sm, measurement, average_frames)
    mask = select_frequencies(
        sm,
        channels=channels,
        min_frequency_hz=min_frequency_hz,
        max_frequency_hz=max_frequency_hz,
        snr_threshold=snr_threshold,
    )
    matrix = sm.matrix(tuple(channels), mask)
    # (..., C', K)[..., mask] -> (..., rows), channel-major like `sm.matrix`.
    u = spectra[..., list(channels), :][..., mask]
    x = kaczmarz(
        matrix,
        u.T,
        lam=lam,
        iterations=iterations,
        enforce_real=enforce_real,
        enforce_positive=enforce_positive,
        row_weighting=row_weighting,
    )
    return x.T.reshape(u.shape[:-1] + sm.grid.shape)


def _measurement_spectra(
    sm: SystemMatrix, measurement: Measurement | np.ndarray, average_frames: bool
) -> np.ndarray:
    """Spectra (C, K) or (F, C, K) of the measurement, checked against the system matrix."""
    num_frequencies = sm.spectra.shape[1]
    if isinstance(measurement, Measurement):
        check_acquisition(sm, measurement.acquisition, measurement.data.shape[2])
        spectra = measurement.spectra(average_frames=average_frames)
        source = "measurement"
    else:
        spectra = np.asarray(measurement)
        source = "measurement array"
        if spectra.ndim not in (2, 3) or not np.issubdtype(spectra.dtype, np.number):
            raise PreprocessingError(
                "reconstruct: expected complex spectra of shape (channels, frequencies) or "
                f"(frames, channels, frequencies), received a {spectra.dtype} array of "
                f"shape {spectra.shape}"
            )
    if spectra.shape[-2:] != (sm.num_channels, num_frequencies):
        raise PreprocessingError(
            f"reconstruct: the {source} has {spectra.shape[-2]} receive channels and "
            f"{spectra.shape[-1]} frequencies (shape {spectra.shape}), the system matrix has "
            f"{sm.num_channels} channels and {num_frequencies} frequencies"
        )
    return spectra


#: Relative difference of drive-field strengths or gradients that `reconstruct` refuses.
FIELD_RTOL = 0.01


def check_acquisition(sm: SystemMatrix, acquisition: Acquisition, num_channels: int) -> None:
    """Raise if a measurement was not recorded like the system matrix.

    Example:

    >>> check_acquisition(sm, measurement.acquisition, 3)   # doctest: +SKIP

    Args:
        sm: the system matrix.
        acquisition: the measurement's drive field and receiver.
        num_channels: receive channels of the measurement's data.

    Raises:
        PreprocessingError: naming the first quantity that differs (receive
            channels, samples, bandwidth, drive field, gradient).
    """
    sm_acq, meas_acq = sm.acquisition, acquisition
    sm_field, meas_field = sm_acq.drivefield, meas_acq.drivefield
    checks = [
        ("receive channels", sm.num_channels, int(num_channels)),
        ("samples per period", sm_acq.num_sampling_points, meas_acq.num_sampling_points),
        ("receiver bandwidth (Hz)", sm_acq.bandwidth_hz, meas_acq.bandwidth_hz),
        (
            "drive-field base frequency (Hz)",
            sm_field.base_frequency_hz,
            meas_field.base_frequency_hz,
        ),
        ("drive-field dividers", tuple(sm_field.dividers), tuple(meas_field.dividers)),
    ]
    # Field amplitudes as recorded may differ by a calibration's rounding; a
    # difference beyond FIELD_RTOL moves the trajectory, and the SM no longer fits.
    fields = [
        ("drive-field strength (T/mu0)", sm_field.strength_tesla, meas_field.strength_tesla),
        (
            "selection-field gradient (T/m)",
            sm_acq.gradient_tesla_per_m,
            meas_acq.gradient_tesla_per_m,
        ),
    ]
    for what, sm_value, meas_value in fields:
        a, b = np.asarray(sm_value, np.float64), np.asarray(meas_value, np.float64)
        if a.shape != b.shape or not np.allclose(a, b, rtol=FIELD_RTOL, atol=1e-9):
            raise PreprocessingError(
                f"reconstruct: the system matrix and the measurement disagree in {what} "
                f"(beyond {FIELD_RTOL:.0%}): system matrix {a.tolist()}, measurement {b.tolist()}"
            )
    for what, sm_value, meas_value in checks:
        same = (
            np.isclose(sm_value, meas_value, rtol=1e-9)
            if isinstance(sm_value, float)
            else sm_value == meas_value
        )
        if not same:
            raise PreprocessingError(
                f"reconstruct: the system matrix and the measurement disagree in {what}: "
                f"system matrix {sm_value}, measurement {meas_value}"
            )
