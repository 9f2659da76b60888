"""Error measures of the paper (mpi-facts section 5)."""

from __future__ import annotations

import numpy as np


def nrmse(prediction: np.ndarray, truth: np.ndarray, sample_axes: int = 1) -> np.ndarray:
    """Normalised root-mean-square error per sample.

    `NRMSE = sqrt(mean((pred - gt)^2)) / (max(gt) - min(gt))`, computed over
    all but the first `sample_axes` axes (for example over every time step
    and channel of each voxel's signal).

    Example:

    >>> nrmse(np.array([[1.0, 2.0]]), np.array([[1.0, 3.0]]))
    array([0.35355339])

    Args:
        prediction: predictions, shape (N, ...).
        truth: ground truth of the same shape.
        sample_axes: number of leading axes that index samples.

    Returns:
        NRMSE per sample, shape `prediction.shape[:sample_axes]`; `inf` where
        the truth is constant.

    Raises:
        ValueError: if the shapes differ.
    """
    prediction = np.asarray(prediction, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if prediction.shape != truth.shape:
        raise ValueError(f"nrmse: prediction shape {prediction.shape} != truth shape {truth.shape}")
    lead = prediction.shape[:sample_axes]
    p = prediction.reshape(*lead, -1)
    g = truth.reshape(*lead, -1)
    rmse = np.sqrt(np.mean((p - g) ** 2, axis=-1))
    span = g.max(axis=-1) - g.min(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(span > 0, rmse / span, np.inf)


def mean_std(values: np.ndarray) -> dict[str, float]:
    """Mean and standard deviation (the paper's "mean +- std") with the count."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    return {"mean": float(values.mean()), "std": float(values.std()), "n": int(values.size)}
