"""Frequency selection: the rows of the system matrix a reconstruction uses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mpikeras.errors import PreprocessingError
from mpikeras.io.system_matrix import SystemMatrix

#: Default SNR threshold of `select_frequencies` (MPIReco.jl users pick 1.25 to 2;
#: mpi-facts section 3). 2 keeps the clearly resolved harmonics and mixing
#: products: a few hundred complex rows for the simulated 37 x 37 system matrix.
DEFAULT_SNR_THRESHOLD = 2.0

#: Default lower frequency limit: the receive filter makes data below about
#: 80 kHz unreliable (mpi-facts section 4).
DEFAULT_MIN_FREQUENCY_HZ = 80e3


def select_frequencies(
    sm: SystemMatrix,
    channels: Sequence[int] = (0, 1),
    min_frequency_hz: float = DEFAULT_MIN_FREQUENCY_HZ,
    max_frequency_hz: float | None = None,
    snr_threshold: float | None = DEFAULT_SNR_THRESHOLD,
    snr: np.ndarray | None = None,
) -> np.ndarray:
    """Boolean mask of the (channel, frequency) rows to reconstruct with.

    A row (c, k) is kept when `min_frequency_hz <= f_k <= max_frequency_hz`
    and `SNR[c, k] >= snr_threshold`, as MPIReco.jl selects frequencies
    (mpi-facts section 3). The SNR comes from `snr`, else `sm.snr`
    (`/calibration/snr`), else `sm.estimate_snr()`. The mask is what
    `SystemMatrix.matrix(channels, frequency_mask)` takes.

    Example:

    >>> from mpikeras.simulation import preset, simulate_system_matrix
    >>> sm = simulate_system_matrix(preset("openmpi-2d-19"))
    >>> mask = select_frequencies(sm, channels=(0, 1), min_frequency_hz=80e3)
    >>> mask.shape
    (2, 817)
    >>> sm.matrix((0, 1), mask).shape == (mask.sum(), 19 * 19)
    True

    Args:
        sm: the system matrix.
        channels: receive channels to use (0-based). Defaults to `(0, 1)`,
            the x and y channels of 2D excitation.
        min_frequency_hz: lowest frequency kept, in Hz. Defaults to 80 kHz.
        max_frequency_hz: highest frequency kept, in Hz, or `None` for the
            receiver's bandwidth. Defaults to `None`.
        snr_threshold: minimum SNR of a kept row, or `None` for no SNR
            criterion. Defaults to `DEFAULT_SNR_THRESHOLD` (2.0).
        snr: SNR per channel and frequency, shape (C, K) over all channels of
            `sm`, overriding the system matrix's own. Defaults to `None`.

    Returns:
        bool array, shape (len(channels), K).

    Raises:
        PreprocessingError: if a channel does not exist, a frequency limit
            lies outside the receiver's range [0, bandwidth] or the limits are
            reversed, `snr` has the wrong shape, or no row is left.
    """
    channels = _check_channels(channels, sm.num_channels)
    frequencies_hz = np.asarray(sm.frequencies_hz, dtype=np.float64)
    top_hz = float(frequencies_hz[-1])
    high_hz = top_hz if max_frequency_hz is None else float(max_frequency_hz)
    for name, value in (("min_frequency_hz", min_frequency_hz), ("max_frequency_hz", high_hz)):
        if not (0.0 <= float(value) <= top_hz * (1 + 1e-9)):
            raise PreprocessingError(
                f"select_frequencies: {name}={float(value):g} Hz lies outside the receiver's "
                f"range [0, {top_hz:g}] Hz (bandwidth of the system matrix)"
            )
    if float(min_frequency_hz) > high_hz:
        raise PreprocessingError(
            f"select_frequencies: min_frequency_hz={float(min_frequency_hz):g} Hz exceeds "
            f"max_frequency_hz={high_hz:g} Hz"
        )
    in_band = (frequencies_hz >= float(min_frequency_hz)) & (frequencies_hz <= high_hz)
    if not in_band.any():
        raise PreprocessingError(
            f"select_frequencies: no frequency bin in [{float(min_frequency_hz):g}, {high_hz:g}] "
            f"Hz (bin spacing {frequencies_hz[1] - frequencies_hz[0]:g} Hz)"
        )
    mask = np.broadcast_to(in_band, (len(channels), in_band.size)).copy()

    if snr_threshold is not None:
        if snr is None:
            snr = sm.snr if sm.snr is not None else sm.estimate_snr()
        snr = np.asarray(snr, dtype=np.float64)
        expected = (sm.num_channels, frequencies_hz.size)
        if snr.shape != expected:
            raise PreprocessingError(
                f"select_frequencies: expected an SNR array of shape {expected} (channels, "
                f"frequencies of the system matrix), received shape {snr.shape}"
            )
        channel_snr = snr[list(channels)]
        mask &= channel_snr >= float(snr_threshold)  # NaN compares False: dropped
        if not mask.any():
            best = np.nanmax(np.where(in_band, channel_snr, np.nan))
            raise PreprocessingError(
                f"select_frequencies: no row of channels {tuple(channels)} in "
                f"[{float(min_frequency_hz):g}, {high_hz:g}] Hz reaches snr_threshold="
                f"{float(snr_threshold):g}; the highest SNR there is {best:.3g}"
            )
    return mask


def _check_channels(channels: Sequence[int], num_channels: int) -> tuple[int, ...]:
    channels = tuple(channels)
    if not channels:
        raise PreprocessingError("select_frequencies: expected at least one channel, received ()")
    bad = [c for c in channels if not isinstance(c, int | np.integer) or not 0 <= c < num_channels]
    if bad:
        raise PreprocessingError(
            f"select_frequencies: channels {bad} do not exist; the system matrix has "
            f"{num_channels} receive channels (0..{num_channels - 1})"
        )
    if len(set(channels)) != len(channels):
        raise PreprocessingError(
            f"select_frequencies: channels must not repeat, received {channels}"
        )
    return tuple(int(c) for c in channels)
