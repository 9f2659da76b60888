"""Hyperparameter search and ablations for mpikeras (KerasTuner).

- `tuning.hypermodel`: `ContrastiveHyperModel`, whose trials pretrain with
  their own augmentation ranges and probabilities and are scored by the
  downstream validation MSE after a short fine-tune; `SearchSpace`.
- `tuning.search`: `run_search` (random, Bayesian or Hyperband; resumable),
  the ranked trial tables and the best configuration.
- `tuning.ablation`: `run_ablation`, the table of the paper's open questions.
- `tuning.joint`: one encoder trained with both heads at once.

This package imports mpikeras, never the other way round; `mpikeras tune`
and `python -m tuning` are its command lines.
"""

from tuning.ablation import ROWS, AblationResult, run_ablation
from tuning.hypermodel import (
    ContrastiveHyperModel,
    SearchSpace,
    declare_hyperparameters,
    objective,
    objective_name,
)
from tuning.joint import JointModel, JointResult, build_joint_model, train_joint
from tuning.search import TUNERS, SearchResult, build_tuner, run_search

__all__ = [
    "ROWS",
    "TUNERS",
    "AblationResult",
    "ContrastiveHyperModel",
    "JointModel",
    "JointResult",
    "SearchResult",
    "SearchSpace",
    "build_joint_model",
    "build_tuner",
    "declare_hyperparameters",
    "objective",
    "objective_name",
    "run_ablation",
    "run_search",
    "train_joint",
]
