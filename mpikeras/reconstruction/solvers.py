"""Classic reconstruction of many frames at once: a precomputed Tikhonov operator, or Kaczmarz.

Both take a block of frames as background-corrected, period-averaged time
signals, float array (F, C, V) in volts, and return F images. They are what
`mpikeras.reconstruction.stream.reconstruct_stream` applies to each block.

- `TikhonovOperator` (`tikhonov_operator`): the exact minimiser of
  `||S c - u||^2 + lam_eff ||c||^2` over real c (MPIReco.jl's problem,
  mpi-facts section 3, complex rows split into real and imaginary rows):
  `c = (A^T A + lam_eff I)^-1 A^T u` with `A = [Re S; Im S]`. The rfft and the
  frequency selection are linear too, so the whole map from a frame's time
  samples to its image is one real matrix `K` (C' V x N), computed once; a
  block of F frames costs one matrix product (F x C'V) @ K. Negative values
  are clipped afterwards (`enforce_positive`). This is *not* Kaczmarz with a
  few sweeps, which stops early and projects after every sweep: it is what
  Kaczmarz without projections converges to with many sweeps.
- `KaczmarzSolver` (`kaczmarz_solver`): `kaczmarz` itself on the selected
  rows, all frames of a block swept together; the images equal `reconstruct`
  frame by frame.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import scipy.linalg

from mpikeras.errors import PreprocessingError
from mpikeras.io.acquisition import Acquisition
from mpikeras.io.system_matrix import SystemMatrix
from mpikeras.reconstruction.frequency_selection import (
    DEFAULT_MIN_FREQUENCY_HZ,
    DEFAULT_SNR_THRESHOLD,
    select_frequencies,
)
from mpikeras.reconstruction.kaczmarz import effective_lambda, kaczmarz
from mpikeras.reconstruction.reconstruct import check_acquisition


@dataclasses.dataclass(frozen=True, eq=False)
class TikhonovOperator:
    """A precomputed regularised inverse from time signals to images.

    Example:

    >>> operator = tikhonov_operator(sm, lam=0.01)           # doctest: +SKIP
    >>> operator(signals).shape       # signals (F, C, V) volts  # doctest: +SKIP
    (64, 1, 19, 19)

    Args:
        sm: the system matrix it was computed from (for the acquisition check).
        kernel: array (len(channels) * V, N): image = signals[:, channels]
            flattened @ kernel.
        channels: receive channels used.
        image_shape: shape of one image, the grid's (Nz, Ny, Nx).
        lam_eff: the absolute Tikhonov weight.
        enforce_positive: clip negative concentrations at 0.
    """

    sm: SystemMatrix
    kernel: np.ndarray
    channels: tuple[int, ...]
    image_shape: tuple[int, ...]
    lam_eff: float
    enforce_positive: bool = True
    name: str = "tikhonov"

    @property
    def dtype(self) -> np.dtype:
        """The dtype the operator computes in (signals are converted to it)."""
        return self.kernel.dtype

    def check(self, acquisition: Acquisition) -> None:
        """Raise `PreprocessingError` if the measurement was not recorded like the SM."""
        check_acquisition(self.sm, acquisition, acquisition.num_receive_channels)

    def __call__(self, signals: np.ndarray, acquisition: Acquisition | None = None) -> np.ndarray:
        """Images (F, *image_shape) of signals (F, C, V), in delta-sample units.

        `acquisition` is not needed (the operator was made for the SM's).
        """
        signals = np.asarray(signals)
        first, count = self.channels[0], len(self.channels)
        if self.channels == tuple(range(first, first + count)):
            x = signals[:, first : first + count]  # a view: no copy
        else:
            x = signals[:, list(self.channels)]
        x = x.astype(self.kernel.dtype, copy=False)
        images = x.reshape(x.shape[0], -1) @ self.kernel
        if self.enforce_positive:
            np.maximum(images, 0.0, out=images)
        return images.reshape(x.shape[0], *self.image_shape)


def tikhonov_operator(
    sm: SystemMatrix,
    lam: float = 0.01,
    channels: Sequence[int] = (0, 1),
    min_frequency_hz: float = DEFAULT_MIN_FREQUENCY_HZ,
    max_frequency_hz: float | None = None,
    snr_threshold: float | None = DEFAULT_SNR_THRESHOLD,
    enforce_positive: bool = True,
    dtype: type = np.float32,
) -> TikhonovOperator:
    """The Tikhonov-regularised inverse of the selected rows, composed with the rfft.

    Rows are selected as `reconstruct` selects them (`select_frequencies`);
    `lam` is relative (`lam_eff = lam ||S||_F^2 / N`, `effective_lambda`).
    The normal matrix `A^T A + lam_eff I` (N x N) is factorised once
    (Cholesky); `lam > 0` is needed for that unless S has full column rank.

    Example:

    >>> from mpikeras.simulation import preset, simulate_system_matrix
    >>> sm = simulate_system_matrix(preset("openmpi-2d-19"))
    >>> operator = tikhonov_operator(sm, lam=0.01)
    >>> operator.kernel.shape, operator.image_shape
    ((3264, 361), (1, 19, 19))

    Args:
        sm: the system matrix (background-corrected).
        lam: relative Tikhonov weight, `> 0`. Defaults to `0.01`.
        channels: receive channels. Defaults to `(0, 1)`.
        min_frequency_hz: lowest frequency used, in Hz. Defaults to 80 kHz.
        max_frequency_hz: highest frequency, in Hz, or `None` for the bandwidth.
        snr_threshold: minimum SNR of a used row, or `None`. Defaults to 2.
        enforce_positive: clip negative concentrations at 0 after the solve.
            Defaults to `True`.
        dtype: dtype of the kernel and of the product: `np.float32` (the
            default; twice as fast, relative rounding about 1e-6) or
            `np.float64`.

    Returns:
        The `TikhonovOperator`.

    Raises:
        PreprocessingError: for a bad frequency selection (see
            `select_frequencies`), or a normal matrix that is not positive
            definite (`lam = 0` with a rank-deficient S).
        ValueError: for a negative or non-finite `lam`.
    """
    if not (np.isfinite(lam) and lam >= 0):
        raise ValueError(f"Invalid value for argument `lam`. Expected >= 0. Received lam={lam!r}")
    channels = tuple(int(c) for c in channels)
    mask = select_frequencies(
        sm,
        channels=channels,
        min_frequency_hz=min_frequency_hz,
        max_frequency_hz=max_frequency_hz,
        snr_threshold=snr_threshold,
    )
    matrix = sm.matrix(channels, mask).astype(np.complex128)  # (M, N), channel-major
    lam_eff = effective_lambda(matrix, lam)
    real, imag = matrix.real, matrix.imag
    normal = real.T @ real + imag.T @ imag
    normal[np.diag_indices_from(normal)] += lam_eff
    try:
        factor = scipy.linalg.cho_factor(normal)
    except np.linalg.LinAlgError:
        raise PreprocessingError(
            f"tikhonov_operator: S^H S + lam_eff I is not positive definite (lam={lam}); "
            "choose lam > 0"
        ) from None
    # Image = T_re Re(u) + T_im Im(u), T_re/im = (A^T A + lam_eff I)^-1 Re/Im(S)^T.
    t_re, t_im = scipy.linalg.cho_solve(factor, real.T), scipy.linalg.cho_solve(factor, imag.T)
    # u_ck = sum_n t_c[n] exp(-2 pi i k n / V): the rfft of channel c at bin k.
    v = sm.acquisition.num_sampling_points
    n = np.arange(v)
    blocks, row = [], 0
    for c_mask in mask:
        bins = np.flatnonzero(c_mask)
        phase = 2 * np.pi * np.outer(n, bins) / v  # (V, M_c)
        rows = slice(row, row + bins.size)
        blocks.append(np.cos(phase) @ t_re[:, rows].T - np.sin(phase) @ t_im[:, rows].T)
        row += bins.size
    kernel = np.ascontiguousarray(np.concatenate(blocks), dtype=dtype)  # (C' V, N)
    return TikhonovOperator(
        sm=sm,
        kernel=kernel,
        channels=channels,
        image_shape=tuple(sm.grid.shape),
        lam_eff=lam_eff,
        enforce_positive=enforce_positive,
    )


@dataclasses.dataclass(frozen=True, eq=False)
class KaczmarzSolver:
    """`kaczmarz` on the selected rows, for a block of frames at once.

    Example:

    >>> solver = kaczmarz_solver(sm, lam=0.01, iterations=3)   # doctest: +SKIP
    >>> solver(signals).shape                                  # doctest: +SKIP
    (64, 1, 19, 19)

    Args:
        sm: the system matrix.
        matrix: the selected rows, complex (M, N).
        mask: the selection, bool (len(channels), K).
        channels: receive channels used.
        image_shape: the grid's (Nz, Ny, Nx).
        options: keyword arguments of `kaczmarz` (lam, iterations, ...).
    """

    sm: SystemMatrix
    matrix: np.ndarray
    mask: np.ndarray
    channels: tuple[int, ...]
    image_shape: tuple[int, ...]
    options: dict
    name: str = "kaczmarz"
    dtype: type = np.float64

    def check(self, acquisition: Acquisition) -> None:
        """Raise `PreprocessingError` if the measurement was not recorded like the SM."""
        check_acquisition(self.sm, acquisition, acquisition.num_receive_channels)

    def __call__(self, signals: np.ndarray, acquisition: Acquisition | None = None) -> np.ndarray:
        """Images (F, *image_shape) of signals (F, C, V), in delta-sample units.

        `acquisition` is not needed (the operator was made for the SM's).
        """
        x = np.asarray(signals, dtype=np.float64)[:, list(self.channels)]
        u = np.fft.rfft(x, axis=-1)[:, self.mask]  # (F, M), channel-major like sm.matrix
        images = kaczmarz(self.matrix, u.T, **self.options)
        return images.T.reshape(x.shape[0], *self.image_shape)


def kaczmarz_solver(
    sm: SystemMatrix,
    lam: float = 0.01,
    iterations: int = 3,
    channels: Sequence[int] = (0, 1),
    min_frequency_hz: float = DEFAULT_MIN_FREQUENCY_HZ,
    max_frequency_hz: float | None = None,
    snr_threshold: float | None = DEFAULT_SNR_THRESHOLD,
    enforce_positive: bool = True,
) -> KaczmarzSolver:
    """Regularised Kaczmarz for blocks of frames, with `reconstruct`'s row selection.

    Example:

    >>> from mpikeras.simulation import preset, simulate_system_matrix
    >>> solver = kaczmarz_solver(simulate_system_matrix(preset("openmpi-2d-19")))
    >>> solver.image_shape
    (1, 19, 19)

    Args:
        sm: the system matrix.
        lam: relative Tikhonov weight. Defaults to `0.01` (the paper's).
        iterations: sweeps. Defaults to `3` (the paper's).
        channels: receive channels. Defaults to `(0, 1)`.
        min_frequency_hz: lowest frequency used, in Hz. Defaults to 80 kHz.
        max_frequency_hz: highest frequency, in Hz, or `None` for the bandwidth.
        snr_threshold: minimum SNR of a used row, or `None`. Defaults to 2.
        enforce_positive: project onto c >= 0 after each sweep. Defaults to
            `True`.

    Returns:
        The `KaczmarzSolver`.

    Raises:
        PreprocessingError: for a bad frequency selection.
    """
    channels = tuple(int(c) for c in channels)
    mask = select_frequencies(
        sm,
        channels=channels,
        min_frequency_hz=min_frequency_hz,
        max_frequency_hz=max_frequency_hz,
        snr_threshold=snr_threshold,
    )
    options = {"lam": lam, "iterations": iterations, "enforce_positive": enforce_positive}
    kaczmarz(np.zeros((1, 1)), np.zeros(1), **options)  # validates lam and iterations now
    return KaczmarzSolver(
        sm=sm,
        matrix=sm.matrix(channels, mask),
        mask=mask,
        channels=channels,
        image_shape=tuple(sm.grid.shape),
        options=options,
    )
