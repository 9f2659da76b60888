"""Hyperparameter search for mpikeras (KerasTuner).

- `tuning.hypermodel`: `ContrastiveHyperModel`, whose trials pretrain with
  their own augmentation ranges and probabilities and are scored by the
  downstream validation MSE after a short fine-tune; `SearchSpace`.
- `tuning.search`: `run_search` (random, Bayesian or Hyperband; resumable),
  the ranked trial tables and the best configuration.

This package imports mpikeras, never the other way round; `mpikeras tune`
and `python -m tuning` are its command lines.
"""

from tuning.hypermodel import (
    ContrastiveHyperModel,
    SearchSpace,
    declare_hyperparameters,
    objective,
    objective_name,
)
from tuning.search import TUNERS, SearchResult, build_tuner, run_search

__all__ = [
    "TUNERS",
    "ContrastiveHyperModel",
    "SearchResult",
    "SearchSpace",
    "build_tuner",
    "declare_hyperparameters",
    "objective",
    "objective_name",
    "run_search",
]
