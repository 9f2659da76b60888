"""Classic Kaczmarz reconstruction of single voxels, its settings chosen on training data only.

The paper reconstructs with the training SM at lambda = 0 and one sweep; a
practitioner would tune lambda, the number of sweeps and the SNR threshold
of the frequency selection (MPIReco.jl's knobs, mpi-facts section 3). Here
they are chosen without the test SM: every 2nd column of the training SM in
x and y, plus
fresh complex Gaussian noise whose spread per channel and frequency is
sqrt(2) times that of the training file's background frames (so that the
validation signal differs from its own SM column as an independent
measurement would), is reconstructed with the training SM for each
candidate, and the setting with the lowest mean NRMSE against the one-hot
truth wins.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from mpikeras.errors import PreprocessingError
from mpikeras.evaluation.metrics import nrmse
from mpikeras.io.system_matrix import SystemMatrix
from mpikeras.preprocessing.bandpass import band_mask
from mpikeras.preprocessing.signals import MM3
from mpikeras.reconstruction import kaczmarz, select_frequencies


@dataclasses.dataclass(frozen=True)
class ClassicSettings:
    """One setting of classic Kaczmarz reconstruction.

    Args:
        lam: relative Tikhonov weight (MPIReco's convention).
        iterations: sweeps over the selected rows.
        snr_threshold: rows with a lower SNR are left out.
    """

    lam: float
    iterations: int
    snr_threshold: float


#: The paper's setting for classic single-voxel reconstruction (Figure 3: lambda 0, 1 sweep).
PAPER_CLASSIC = ClassicSettings(lam=0.0, iterations=1, snr_threshold=2.0)

#: Candidates of `tune_classic`: the usual ranges of MPIReco users (mpi-facts section 3).
CANDIDATES = tuple(
    ClassicSettings(lam, iterations, snr)
    for lam, iterations, snr in itertools.product(
        (0.0, 1e-3, 1e-2, 1e-1), (1, 3, 10), (1.25, 2.0, 5.0)
    )
)


#: `tune_classic` lights every 2nd training voxel in x and y.
VALIDATION_STEP = 2


@dataclasses.dataclass(frozen=True)
class ClassicTuning:
    """The chosen setting and the validation score of every candidate (NRMSE, mean)."""

    best: ClassicSettings
    scores: tuple[tuple[ClassicSettings, float], ...]


def per_volume_spectra(sm: SystemMatrix, band_hz: tuple[float, float]) -> np.ndarray:
    """Band-limited spectra of every voxel of the central slice per unit volume, (N, C, K)."""
    spectra = sm.spectra[:, :, 0] / (sm.delta_sample_volume_m3 / MM3)  # (C, K, Ny, Nx)
    c, k = spectra.shape[:2]
    mask = band_mask(sm.frequencies_hz, band_hz)
    return np.moveaxis(spectra.reshape(c, k, -1), 2, 0) * mask[None, None, :]


def reconstruct_voxels(
    sm: SystemMatrix,
    spectra: np.ndarray,
    settings: ClassicSettings,
    channels: tuple[int, ...],
    band_hz: tuple[float, float],
) -> np.ndarray:
    """Images of per-volume spectra (N, C, K) reconstructed with `sm`, shape (N, Ny, Nx)."""
    rows = select_frequencies(sm, channels, band_hz[0], band_hz[1], settings.snr_threshold)
    if not rows.any():
        raise PreprocessingError(
            f"classic reconstruction: no frequency passes SNR >= {settings.snr_threshold} in "
            f"{band_hz[0]:g}-{band_hz[1]:g} Hz"
        )
    volume = sm.delta_sample_volume_m3 / MM3
    matrix = sm.matrix(channels, rows) / volume
    measured = spectra[:, list(channels)].reshape(len(spectra), -1)[:, rows.reshape(-1)]
    x = kaczmarz(matrix, measured.T, lam=settings.lam, iterations=settings.iterations)
    _, ny, nx = sm.grid.shape
    return x.T.reshape(-1, ny, nx)


def validation_spectra(
    train_sm: SystemMatrix, band_hz: tuple[float, float], seed: int = 0
) -> np.ndarray:
    """Training columns plus fresh noise at the training file's background level, (N, C, K).

    Raises:
        PreprocessingError: if the file has fewer than 2 background frames
            (no noise level can be estimated).
    """
    background = train_sm.background
    if background.shape[-1] < 2:
        raise PreprocessingError(
            "classic tuning: the training SM has fewer than 2 background frames, so its noise "
            "level cannot be estimated; pass the classic settings explicitly"
        )
    volume = train_sm.delta_sample_volume_m3 / MM3
    sigma = np.std(background, axis=-1) / volume  # complex spread per (C, K)
    clean = per_volume_spectra(train_sm, band_hz)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(clean.shape) + 1j * rng.standard_normal(clean.shape)
    mask = band_mask(train_sm.frequencies_hz, band_hz)
    return clean + noise * sigma[None] * mask[None, None, :]  # |n| spread sqrt(2) sigma


def tune_classic(
    train_sm: SystemMatrix,
    channels: tuple[int, ...],
    band_hz: tuple[float, float],
    candidates: tuple[ClassicSettings, ...] = CANDIDATES,
    seed: int = 0,
) -> ClassicTuning:
    """Choose lambda, sweeps and SNR threshold on the training SM alone (see the module).

    Example:

    >>> tuning = tune_classic(train_sm, (0, 1), (80e3, 600e3))   # doctest: +SKIP
    >>> tuning.best                                                   # doctest: +SKIP
    ClassicSettings(lam=0.001, iterations=10, snr_threshold=1.25)

    Returns:
        A `ClassicTuning`; ties go to the earlier candidate.
    """
    _, ny, nx = train_sm.grid.shape
    # Every VALIDATION_STEP-th voxel in x and y is lit (100 of 19 x 19): enough columns
    # to rank the candidates, at about a quarter of the cost of all of them.
    lit = np.arange(ny * nx).reshape(ny, nx)[::VALIDATION_STEP, ::VALIDATION_STEP].ravel()
    spectra = validation_spectra(train_sm, band_hz, seed)[lit]
    truth = np.eye(ny * nx)[lit].reshape(-1, ny, nx)
    scores = []
    for settings in candidates:
        images = reconstruct_voxels(train_sm, spectra, settings, channels, band_hz)
        scores.append((settings, float(nrmse(images, truth).mean())))
    best = min(scores, key=lambda item: item[1])[0]
    return ClassicTuning(best, tuple(scores))
