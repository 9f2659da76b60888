"""Hyperparameter search for mpikeras (KerasTuner); the ablation runner lives in
`mpikeras.experiments.ablation`.

Installed as `mpikeras.tuning` (setup.cfg); its modules import each other
relatively and import mpikeras, never the other way round.

- `mpikeras.tuning.hypermodel`: `ContrastiveHyperModel`, whose trials
  pretrain with their own augmentation ranges and probabilities and are
  scored by the downstream validation MSE after a short fine-tune;
  `SearchSpace`.
- `mpikeras.tuning.search`: `run_search` (random, Bayesian or Hyperband;
  resumable), the ranked trial tables and the best configuration.
- `mpikeras.tuning.cli`: the `mpikeras tune` command, registered through the
  `mpikeras.commands` entry point group; `python -m mpikeras.tuning` takes
  the same options.

Nothing is imported here, so that loading the command (every `mpikeras`
invocation does) stays as light as the other commands.
"""
