"""Experiment drivers: `reproduce`, `evaluate` and the ablations, on typed `Results`.

This layer sits above training, evaluation and export and below the command
line: a driver trains (or loads) models, scores them with the protocol of
`mpikeras.evaluation`, collects the scores in a `Results`
(`mpikeras.experiments.results`: tasks and methods as named constants, every
seed's per-voxel values, one `results.json` with a schema version) and
renders them with the one `Table` type. New studies go here.
"""

from mpikeras.experiments.ablation import AblationResult, run_ablation
from mpikeras.experiments.evaluate import evaluate, evaluate_models
from mpikeras.experiments.protocol_data import ProtocolData, prepare_protocol_data
from mpikeras.experiments.reproduce import REPRODUCE_PRESETS, ReproducePreset, reproduce
from mpikeras.experiments.results import Method, Results, Score, Stats, Target, Task
from mpikeras.experiments.table import Table

__all__ = [
    "REPRODUCE_PRESETS",
    "AblationResult",
    "Method",
    "ProtocolData",
    "ReproducePreset",
    "Results",
    "Score",
    "Stats",
    "Table",
    "Target",
    "Task",
    "evaluate",
    "evaluate_models",
    "prepare_protocol_data",
    "reproduce",
    "run_ablation",
]
