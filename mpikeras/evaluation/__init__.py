"""The paper's evaluation: metrics, baselines, protocol, figures, report and `reproduce`."""

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
