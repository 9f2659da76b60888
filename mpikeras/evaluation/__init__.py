"""The paper's evaluation: metrics, baselines, protocol, predictors and figures.

The drivers that train and score models with it (`reproduce`, `evaluate`, the
ablations) live one layer up, in `mpikeras.experiments`.
"""

from mpikeras.evaluation.baselines import recovery_baselines
from mpikeras.evaluation.metrics import mean_std, nrmse
from mpikeras.evaluation.protocol import (
    ProtocolSettings,
    evaluate_reconstruction,
    evaluate_recovery,
)

__all__ = [
    "ProtocolSettings",
    "evaluate_reconstruction",
    "evaluate_recovery",
    "mean_std",
    "nrmse",
    "recovery_baselines",
]
