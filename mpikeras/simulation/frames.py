"""The frames of a scan as the receiver records them, and their background correction.

`record_scan` turns the noise-free particle spectra of the scanned positions
into what a calibration stores: every frame (foreground and background, in
acquisition order) gets the static feed-through, the in-band background
lines at its time, the receive chain's gain at its time and the x-y
coupling, then fresh noise; the foreground is corrected with the background
frames as MPIFiles corrects a real file.
"""

from __future__ import annotations

import numpy as np

from mpikeras.io.acquisition import Acquisition
from mpikeras.io.mdf.background import subtract_background
from mpikeras.simulation.background import (
    BackgroundModel,
    background_lines,
    drifting_background,
    interleaved_order,
)
from mpikeras.simulation.coils import CoilModel
from mpikeras.simulation.receiver import ReceiveChain
from mpikeras.simulation.signal_model import feedthrough_spectrum, noise_spectra


def frame_order(
    background: BackgroundModel, num_foreground: int, row_length: int, num_background: int
) -> tuple[np.ndarray, np.ndarray]:
    """Acquisition positions of the foreground and background frames.

    Interleaved (`interleaved_order`, one background frame per row and one
    at the end) when the background model is on; otherwise the background
    frames follow the scan.

    Args:
        background: the `BackgroundModel` (its switch).
        num_foreground: foreground frames, a multiple of `row_length`.
        row_length: voxels per row (along x).
        num_background: background frames when not interleaved.

    Returns:
        `(foreground_positions, background_positions)`, int64 arrays.
    """
    if background.enabled:
        return interleaved_order(num_foreground // row_length, row_length)
    fg = np.arange(num_foreground, dtype=np.int64)
    return fg, num_foreground + np.arange(num_background, dtype=np.int64)


def receive_frames(
    clean: np.ndarray,
    order: tuple[np.ndarray, np.ndarray],
    acquisition: Acquisition,
    receiver: ReceiveChain,
    background: BackgroundModel,
    coils: CoilModel,
    rngs: dict[str, np.random.Generator],
) -> tuple[np.ndarray, np.ndarray]:
    """The raw foreground and background frames of a scan, as the receiver records them.

    Args:
        clean: complex64, shape (M, C, K) or (C, K). Particle spectra per
            foreground frame (or one for all).
        order: `(foreground_positions, background_positions)` from `frame_order`.
        acquisition: the scanner (with its transfer function set or not).
        receiver: noise level and feed-through.
        background: the in-band background model.
        coils: gain and coupling of the receive chain.
        rngs: generators "noise" (`default_rng(seed)`), "background" and
            "temperature" (the effects' streams).

    Returns:
        `(foreground, background)`: complex64 arrays of shapes (M, C, K) and
        (E, C, K), uncorrected.
    """
    fg_pos, bg_pos = order
    num_frames = fg_pos.size + bg_pos.size
    c = clean.shape[-2]
    static = feedthrough_spectrum(acquisition, receiver)
    std = receiver.noise_std_volt
    if not (background.enabled or coils.enabled):  # the simulator before these effects, exactly
        fg_raw = clean + static + noise_spectra(rngs["noise"], (fg_pos.size, c), acquisition, std)
        return fg_raw, static + noise_spectra(rngs["noise"], (bg_pos.size, c), acquisition, std)
    times_s = np.arange(num_frames) * background.frame_seconds(acquisition.period_s)
    received = np.empty((num_frames, *static.shape), np.complex64)
    received[:] = static
    if background.enabled:
        lines = background_lines(background, acquisition, rngs["background"])
        channel, bin_, values = drifting_background(background, lines, times_s, rngs["background"])
        received[:, channel, bin_] += values.astype(np.complex64)
    received[fg_pos] += clean
    if coils.enabled:
        received *= coils.gain(times_s, rngs["temperature"]).astype(np.float32)[:, None, None]
        received = np.einsum("dc,nck->ndk", coils.coupling_matrix(c).astype(np.float32), received)
    fg_raw = received[fg_pos] + noise_spectra(rngs["noise"], (fg_pos.size, c), acquisition, std)
    bg = received[bg_pos] + noise_spectra(rngs["noise"], (bg_pos.size, c), acquisition, std)
    return fg_raw.astype(np.complex64), bg.astype(np.complex64)


def record_scan(
    clean: np.ndarray,
    order: tuple[np.ndarray, np.ndarray],
    acquisition: Acquisition,
    receiver: ReceiveChain,
    background: BackgroundModel,
    coils: CoilModel,
    rngs: dict[str, np.random.Generator],
) -> tuple[np.ndarray, np.ndarray]:
    """Record the frames of a scan (`receive_frames`) and background-correct them.

    The correction is MPIFiles' (`subtract_background`): background frames
    interpolated at each foreground frame's acquisition time. Without the
    background and coil models it is the mean of the background frames, as
    before these models.

    Example:

    >>> from mpikeras.io.acquisition import Acquisition
    >>> acq = Acquisition()
    >>> clean = np.zeros((2, 3, acq.num_frequencies), np.complex64)
    >>> rngs = {k: np.random.default_rng(0) for k in ("noise", "background", "temperature")}
    >>> model = BackgroundModel(enabled=True, drift_per_sqrt_hour=0)
    >>> order = frame_order(model, 2, 2, 0)
    >>> quiet = ReceiveChain(noise_std_volt=0)
    >>> fg, bg = record_scan(clean, order, acq, quiet, model, CoilModel(), rngs)
    >>> fg.shape, bg.shape, bool(np.abs(fg).max() < 1e-9)  # a static background is removed
    ((2, 3, 817), (2, 3, 817), True)

    Args:
        clean, order, acquisition, receiver, background, coils, rngs: as for
            `receive_frames`.

    Returns:
        `(corrected, background_frames)`: complex64 arrays of shapes
        (M, C, K) and (E, C, K).
    """
    fg_raw, bg = receive_frames(clean, order, acquisition, receiver, background, coils, rngs)
    fg_pos, bg_pos = order
    static = feedthrough_spectrum(acquisition, receiver)
    if not (background.enabled or coils.enabled):  # the simulator before these effects, exactly
        return (fg_raw - bg.mean(axis=0) if bg.shape[0] else fg_raw - static), bg
    if bg.shape[0] == 0:
        return fg_raw - static, bg
    corrected = subtract_background(fg_raw, fg_pos, bg, bg_pos, fg_pos.size + bg_pos.size)
    return corrected.astype(np.complex64), bg
