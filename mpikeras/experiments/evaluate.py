"""Trained models scored with the paper's protocol, as typed `Results`.

`evaluate_models` runs the protocol for recovery and reconstruction models;
`protocol_scores` turns the evaluations of one or more seeds into `Score`s;
`evaluate` is the `mpikeras evaluate` command's driver.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import keras
import numpy as np

from mpikeras.evaluation.predictors import reconstruction_predictor, recovery_predictor
from mpikeras.evaluation.protocol import (
    ProtocolSettings,
    ReconstructionEvaluation,
    RecoveryEvaluation,
    evaluate_reconstruction,
    evaluate_recovery,
)
from mpikeras.experiments.protocol_data import ProtocolData
from mpikeras.experiments.report import write_outputs
from mpikeras.experiments.results import (
    TEST_VOXELS,
    Method,
    PhantomScore,
    Results,
    Score,
    Task,
    learned_method,
    protocol_method,
)
from mpikeras.models.heads import BracketRecovery, DirectReconstruction

#: One seed's evaluations.
Evaluations = tuple[RecoveryEvaluation, ReconstructionEvaluation]


def evaluate_models(
    recovery_models: Mapping[Method, keras.Model],
    reconstruction_models: Mapping[Method, keras.Model],
    data: ProtocolData,
    settings: ProtocolSettings | None = None,
    truth: np.ndarray | None = None,
) -> Evaluations:
    """Evaluate trained models with the protocol (used by `evaluate`, `reproduce`, the ablations).

    Args:
        recovery_models, reconstruction_models: method -> trained model.
        data: the protocol's SMs (and phantom, if any).
        settings: protocol settings.
        truth: the phantom's true amount, for the phantom NRMSE against it.

    Returns:
        The recovery and the reconstruction evaluation; their dicts are keyed by
        the methods' labels.
    """
    recovery = evaluate_recovery(
        {m.label: recovery_predictor(model) for m, model in recovery_models.items()},
        data.test_sm,
        data.measurement,
        truth,
        settings,
    )
    reconstruction = evaluate_reconstruction(
        {m.label: reconstruction_predictor(model) for m, model in reconstruction_models.items()},
        data.test_sm,
        data.train_sm,
        settings,
    )
    return recovery, reconstruction


def protocol_scores(
    per_seed: Sequence[Evaluations], learned: Sequence[Method]
) -> tuple[Score, ...]:
    """Per-voxel NRMSE of every method over the seeds, in the protocol's order.

    Args:
        per_seed: the evaluations of each seed.
        learned: the learned methods that were evaluated (the rest are the protocol's own).

    Returns:
        One `Score` on `TEST_VOXELS` per method: recovery methods first.
    """
    scores = []
    for index, task in enumerate(Task):
        by_label = {m.label: m for m in learned if m.task is task}
        evaluations = [seed[index].voxel_nrmse for seed in per_seed]
        for label in evaluations[0]:
            method = by_label.get(label) or protocol_method(label, task)
            values = tuple(e[label] for e in evaluations if label in e)
            scores.append(Score(method, TEST_VOXELS, values))
    return tuple(scores)


def phantom_scores(recovery: RecoveryEvaluation) -> dict[str, PhantomScore]:
    """The phantom reconstruction scores of one recovery evaluation."""
    return {
        name: PhantomScore(score["vs_gt_sm"], score.get("vs_truth"))
        for name, score in recovery.phantom_nrmse.items()
    }


def model_method(label: str, model: keras.Model) -> Method:
    """The learned method of a trained model given under `label` (its task read from the model)."""
    if isinstance(model, DirectReconstruction):
        return learned_method(label, Task.RECONSTRUCTION)
    return learned_method(label, Task.RECOVERY, paper=not isinstance(model, BracketRecovery))


def evaluate(
    models: Mapping[str, keras.Model],
    data: ProtocolData,
    out_dir: str | Path,
    settings: ProtocolSettings | None = None,
) -> Results:
    """Score trained models with the protocol; write results.json, the figures and report.md.

    Example:

    >>> data = ProtocolData.read("train.mdf", "test.mdf")  # doctest: +SKIP
    >>> results = evaluate({"CL": model}, data, "eval")     # doctest: +SKIP

    Args:
        models: label -> trained recovery or reconstruction model.
        data: the protocol's SMs (and phantom, if any).
        out_dir: where the outputs go.
        settings: protocol settings.

    Returns:
        The `Results` written to `results.json`.
    """
    methods = {model_method(label, model): model for label, model in models.items()}
    recovery, reconstruction = evaluate_models(
        {m: model for m, model in methods.items() if m.task is Task.RECOVERY},
        {m: model for m, model in methods.items() if m.task is Task.RECONSTRUCTION},
        data,
        settings or ProtocolSettings(),
    )
    results = Results(
        study="evaluate",
        description="models given on the command line",
        preset="evaluate",
        seeds=(0,),
        backend=keras.backend.backend(),
        data={k: str(v) for k, v in data.paths.items()},
        scores=protocol_scores([(recovery, reconstruction)], list(methods)),
        phantom=phantom_scores(recovery),
        example_voxel=reconstruction.example_voxel,
    )
    write_outputs(Path(out_dir), results, recovery, reconstruction)
    return results
