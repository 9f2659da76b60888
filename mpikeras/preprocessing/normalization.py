"""Amplitude normalisation by half of the dataset's maximum (paper section II)."""

from __future__ import annotations

import dataclasses

import numpy as np

from mpikeras.errors import PreprocessingError


@dataclasses.dataclass(frozen=True)
class Normalization:
    """Divide signals by a fixed scale.

    The paper divides by half of the total maximum absolute amplitude of the
    training data; that scale is kept and re-used for test data and travels
    with trained models (`to_dict` / `from_dict`).

    Example:

    >>> norm = Normalization.fit(np.array([[-4.0, 2.0]]))
    >>> norm.scale, norm(np.array([2.0])).tolist()
    (2.0, [1.0])

    Args:
        scale: the divisor, in the unit of the raw signals (volts, or volts
            per cubic millimetre after `per_unit_volume`).
    """

    scale: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise PreprocessingError(
                f"normalisation scale must be positive and finite, got {self.scale}"
            )

    @classmethod
    def fit(cls, signals: np.ndarray) -> Normalization:
        """Half of the maximum absolute amplitude of `signals`."""
        peak = float(np.max(np.abs(signals))) if np.size(signals) else 0.0
        if peak == 0.0:
            raise PreprocessingError("cannot normalise: the signals are all zero (or empty)")
        return cls(scale=peak / 2.0)

    def __call__(self, signals: np.ndarray) -> np.ndarray:
        return (np.asarray(signals) / self.scale).astype(np.float32)

    def invert(self, normalized: np.ndarray) -> np.ndarray:
        return np.asarray(normalized, dtype=np.float64) * self.scale

    def to_dict(self) -> dict[str, float]:
        return {"scale": float(self.scale)}

    @classmethod
    def from_dict(cls, data: dict) -> Normalization:
        return cls(scale=float(data["scale"]))
