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

from mpikeras.errors import ModelFileError
from mpikeras.evaluation.classic import ClassicSettings
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
    INSIDE_FOV,
    NOISE_FLOOR,
    NOISE_FREE,
    OUTSIDE_FOV,
    TEST_VOXELS,
    Method,
    PhantomScore,
    Results,
    Score,
    Task,
    learned_method,
    protocol_method,
)
from mpikeras.models.heads import BracketRecovery, DirectReconstruction, SignalRecovery

#: One seed's evaluations.
Evaluations = tuple[RecoveryEvaluation, ReconstructionEvaluation]


def evaluate_models(
    recovery_models: Mapping[Method, keras.Model],
    reconstruction_models: Mapping[Method, keras.Model],
    data: ProtocolData,
    settings: ProtocolSettings | None = None,
    truth: np.ndarray | None = None,
    classic: ClassicSettings | None = None,
    kaczmarz: bool = True,
) -> Evaluations:
    """Evaluate trained models with the protocol (used by `evaluate`, `reproduce`, the ablations).

    Args:
        recovery_models, reconstruction_models: method -> trained model.
        data: the protocol's SMs (and phantom and noise-free test SM, if any).
        settings: protocol settings.
        truth: the phantom's true amount, for the phantom NRMSE against it.
        classic: the tuned Kaczmarz setting, if already chosen (else chosen
            on the training SM).
        kaczmarz: whether to score the Kaczmarz reconstructions (and tune them).

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
        train_sm=data.train_sm,
        noise_free_test_sm=data.noise_free_test_sm,
    )
    reconstruction = evaluate_reconstruction(
        {m.label: reconstruction_predictor(model) for m, model in reconstruction_models.items()},
        data.test_sm,
        data.train_sm,
        settings,
        classic=classic,
        kaczmarz=kaczmarz,
    )
    return recovery, reconstruction


def _subsets(
    method: Method, values: Sequence[np.ndarray], inside: Sequence[np.ndarray | None]
) -> list[Score]:
    """The scores of `method` on all test voxels and inside and outside the FOV."""
    scores = [Score(method, TEST_VOXELS, tuple(values))]
    if all(mask is not None for mask in inside):
        for target, keep in ((INSIDE_FOV, True), (OUTSIDE_FOV, False)):
            subset = tuple(v[m == keep] for v, m in zip(values, inside, strict=True))
            if all(s.size for s in subset):
                scores.append(Score(method, target, subset))
    return scores


def protocol_scores(
    per_seed: Sequence[Evaluations], learned: Sequence[Method]
) -> tuple[Score, ...]:
    """Per-voxel NRMSE of every method over the seeds, in the protocol's order.

    Args:
        per_seed: the evaluations of each seed.
        learned: the learned methods that were evaluated (the rest are the protocol's own).

    Returns:
        Per method: a `Score` on `TEST_VOXELS`, `INSIDE_FOV` and `OUTSIDE_FOV`,
        and on `NOISE_FREE` where a noise-free test SM was given; the noise
        floor as its own method. Recovery methods first.
    """
    scores: list[Score] = []
    for index, task in enumerate(Task):
        by_label = {m.label: m for m in learned if m.task is task}
        evaluations = [seed[index] for seed in per_seed]
        inside = [e.inside_fov for e in evaluations]
        # Only recovery has a noisy target (a reconstruction's is the one-hot image).
        noise_free = task is Task.RECOVERY and all(e.noise_floor is not None for e in evaluations)
        for label in evaluations[0].voxel_nrmse:
            method = by_label.get(label) or protocol_method(label, task)
            scores += _subsets(method, [e.voxel_nrmse[label] for e in evaluations], inside)
            if noise_free:
                clean = tuple(e.noise_free_nrmse[label] for e in evaluations)
                scores.append(Score(method, NOISE_FREE, clean))
        if noise_free:
            scores += _subsets(NOISE_FLOOR, [e.noise_floor for e in evaluations], inside)
    return tuple(scores)


def phantom_scores(recovery: RecoveryEvaluation) -> dict[str, PhantomScore]:
    """The phantom reconstruction scores of one recovery evaluation."""
    return {
        name: PhantomScore(score["vs_gt_sm"], score.get("vs_truth"))
        for name, score in recovery.phantom_nrmse.items()
    }


def model_method(label: str, model: keras.Model) -> Method:
    """The learned method of a trained model given under `label` (its task read from the model).

    Raises:
        ModelFileError: if the model is not a task head (an encoder, for example).
    """
    if not isinstance(model, SignalRecovery | BracketRecovery | DirectReconstruction):
        raise ModelFileError(
            f"model {label!r} is a {type(model).__name__}, not a task head: give a head's "
            "model.keras (SignalRecovery, BracketRecovery or DirectReconstruction), not an "
            "encoder or a SimCLR model"
        )
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
