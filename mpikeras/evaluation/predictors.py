"""Trained Keras models as predictors for the protocol (normalisation applied inside)."""

from __future__ import annotations

import keras
import numpy as np

from mpikeras.evaluation.protocol import ImagePredictor, RecoveryPredictor
from mpikeras.models.heads import BracketRecovery

_BATCH = 64


def _scale(model: keras.Model) -> float:
    scale = getattr(model, "normalization_scale", None)
    if not scale:
        raise ValueError(
            f"model {model.name!r} carries no normalization_scale; train it with mpikeras or "
            "set the scale it was trained with"
        )
    return float(scale)


def recovery_predictor(model: keras.Model) -> RecoveryPredictor:
    """Wrap a `SignalRecovery` or `BracketRecovery` model for `evaluate_recovery`.

    Inputs and outputs are in V/mm^3; the model's `normalization_scale` is
    applied on the way in and undone on the way out.
    """
    scale = _scale(model)
    bracket = isinstance(model, BracketRecovery)

    def predict(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        x = {"lower": lower / scale, "upper": upper / scale} if bracket else lower / scale
        return np.asarray(model.predict(x, batch_size=_BATCH, verbose=0)) * scale

    return predict


def reconstruction_predictor(model: keras.Model) -> ImagePredictor:
    """Wrap a `DirectReconstruction` model for `evaluate_reconstruction` (images (N, Ny, Nx))."""
    scale = _scale(model)

    def predict(signals: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(signals / scale, batch_size=_BATCH, verbose=0))[..., 0]

    return predict
