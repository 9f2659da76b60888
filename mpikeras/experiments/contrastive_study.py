"""Does contrastive pretraining help? Label efficiency and unlabelled pools, with paired seeds.

The paper's claim (SM recovery 2.2 % -> 1.9 % NRMSE with pretraining) is
tested where self-supervised learning should earn its keep: few labels and
more unlabelled data. For each seed of one scenario (`mpikeras.simulation.scenarios`)
the study

- pretrains one encoder per unlabelled pool (`POOLS`) with NT-Xent, for
  the same number of steps whatever the pool's size;
- trains the recovery head on 5, 10, 25, 50 and 100 % of the labelled
  training pairs (seeded subsets, nested across fractions; every run of a
  seed uses the same subset at a fraction) for the same number of steps
  per fraction, in two modes: the encoder fine-tuned with the head, and
  the encoder frozen (wo-CL frozen: a random encoder);
- trains the paper's other reading of "CL": the head from scratch with the
  NT-Xent loss kept on beside it (`FinetuneConfig.contrastive_weight`);
- scores every head with the paper's recovery protocol on the test
  calibration (NRMSE per recovered voxel), beside the protocol's baselines.

Epochs are chosen on validation data only (the best epoch by validation
loss is kept, in pretraining and fine-tuning); the validation pairs are the
same for every fraction. Every training is a resumable run directory and
every score is cached, so an interrupted study continues where it stopped.
`mpikeras.experiments.contrastive_report` turns the `StudyResults` into tables,
paired comparisons and the figure.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from mpikeras.config import (
    EncoderConfig,
    FinetuneConfig,
    PretrainConfig,
    ProjectorConfig,
    RecoveryHeadConfig,
)
from mpikeras.errors import ConfigError
from mpikeras.evaluation.predictors import recovery_predictor
from mpikeras.evaluation.protocol import ProtocolSettings, evaluate_recovery
from mpikeras.experiments.contrastive_results import POOLS, Arm, RunScore, StudyResults
from mpikeras.experiments.protocol_data import ProtocolData, prepare_protocol_data
from mpikeras.io import write_system_matrix
from mpikeras.io.atomic import write_text_atomic
from mpikeras.models.encoder import Encoder
from mpikeras.simulation.calibration import simulate_system_matrix
from mpikeras.simulation.scenarios import DEFAULT_SCENARIO, SEEDS
from mpikeras.simulation.scenarios import scenario as simulation_scenario
from mpikeras.training.finetune import finetune
from mpikeras.training.pretrain import pretrain
from mpikeras.training.run_directory import ENCODER


@dataclasses.dataclass(frozen=True)
class StudyPreset:
    """Sizes and budget of a study.

    Args:
        name: preset name.
        encoder, projector, recovery_head: model sizes.
        learning_rate: Adam's learning rate.
        batch_size: samples per step.
        pretrain_epochs, pretrain_steps: pretraining epochs and steps per epoch.
        finetune_epochs, finetune_steps: fine-tuning epochs and steps per epoch
            (the same for every label fraction).
        fractions: label fractions.
        pools: unlabelled pools, each pretraining one encoder (`POOLS`).
        frozen: whether to train the frozen-encoder mode too.
        contrastive_weight: weight of the NT-Xent loss kept on during
            fine-tuning in the "wo-CL + NT-Xent" arm (0: no such arm).
        seeds: default number of paired seeds.
        description: one line for the report.
    """

    name: str
    encoder: EncoderConfig
    projector: ProjectorConfig
    recovery_head: RecoveryHeadConfig
    learning_rate: float
    batch_size: int
    pretrain_epochs: int
    pretrain_steps: int
    finetune_epochs: int
    finetune_steps: int
    fractions: tuple[float, ...]
    pools: tuple[str, ...]
    frozen: bool
    contrastive_weight: float
    seeds: int
    description: str

    def arms(self) -> tuple[Arm, ...]:
        """The arms trained per seed and fraction, wo-CL first in each mode."""
        modes = (False, True) if self.frozen else (False,)
        arms = []
        for frozen in modes:
            arms.append(Arm(None, frozen))
            arms.extend(Arm(pool, frozen) for pool in self.pools)
        if self.contrastive_weight > 0:
            arms.append(Arm(None, False, self.contrastive_weight))
        return tuple(arms)

    def settings(self) -> dict:
        return {
            key: value.to_dict() if hasattr(value, "to_dict") else value
            for key, value in dataclasses.asdict(self).items()
            if key not in ("encoder", "projector", "recovery_head")
        } | {
            "encoder": self.encoder.to_dict(),
            "projector": self.projector.to_dict(),
            "recovery_head": self.recovery_head.to_dict(),
        }


STUDY_PRESETS = {
    "smoke": StudyPreset(
        "smoke",
        EncoderConfig(filters=4, kernel_sizes=(8, 5), strides=(8, 6)),
        ProjectorConfig(hidden_units=16, output_units=8),
        RecoveryHeadConfig(hidden_units=16, filters=2),
        1e-3,
        16,
        1,
        2,
        1,
        2,
        (0.1, 1.0),
        tuple(POOLS),
        True,
        1.0,
        2,
        "a check that the study works (tiny sizes, 2 seeds: every verdict is 'undetermined')",
    ),
    "cpu": StudyPreset(
        "cpu",
        EncoderConfig(filters=16),
        ProjectorConfig(hidden_units=64, output_units=32),
        RecoveryHeadConfig(hidden_units=128),
        1e-3,
        32,
        10,
        20,
        6,
        25,
        (0.05, 0.1, 0.25, 0.5, 1.0),
        tuple(POOLS),
        True,
        1.0,
        6,
        "a CPU-sized study: 16 encoder filters (the paper: 256), 200 pretraining and 150 "
        "fine-tuning steps of 32 at learning rate 1e-3 (the paper: 1000 epochs at 1e-4)",
    ),
    "paper": StudyPreset(
        "paper",
        EncoderConfig(),
        ProjectorConfig(),
        RecoveryHeadConfig(),
        1e-4,
        32,
        1000,
        10,
        1000,
        10,
        (0.05, 0.1, 0.25, 0.5, 1.0),
        tuple(POOLS),
        True,
        1.0,
        8,
        "the paper's sizes and budget: 256 filters, learning rate 1e-4, 1000 epochs of 10 "
        "steps of 32 in pretraining and in every fine-tuning (meant for a GPU)",
    ),
}

#: Where a study keeps the data it simulates.
DATA = "data"


def pool_files(pool: str, data: ProtocolData, data_dir: Path, settings: ProtocolSettings) -> tuple:
    """The MDF files whose columns join pretraining for `pool` (written once into `data_dir`).

    "slice": none (the training slice's training voxels only, as in the
    paper). "calibration": every z slice of the training calibration (the
    scenario's training calibration simulated on its whole 19 x 19 x 19 grid,
    same seed). "test-scan": the measured voxels of the test calibration, the
    recovery protocol's inputs (every 2nd voxel in x, every 4th in y); its
    targets are never among them.

    Raises:
        ConfigError: for an unknown pool, or a pool that needs a simulated
            scenario on given files.
    """
    if pool not in POOLS:
        raise ConfigError("pool", f"expected one of {list(POOLS)}, got {pool!r}")
    if pool == "slice":
        return ()
    if pool == "test-scan":
        path = data_dir / "test-scan-inputs.mdf"
        if not path.exists():
            write_system_matrix(path, data.test_sm.subsample(settings.step_x, settings.step_y))
        return (str(path),)
    if data.scenario is None:
        raise ConfigError("pool", "'calibration' needs a simulated scenario (its 3D calibration)")
    path = data_dir / "train-calibration-3d.mdf"
    if not path.exists():
        train, _ = simulation_scenario(data.scenario).configs()
        full = dataclasses.replace(train, slices="all")
        write_system_matrix(path, simulate_system_matrix(full, SEEDS["train_sm"]))
    return (str(path),)


def _configs(preset: StudyPreset, seed: int, train_path: Path) -> tuple[dict, dict]:
    common = {
        "seed": seed,
        "batch_size": preset.batch_size,
        "encoder": preset.encoder.to_dict(),
        "projector": preset.projector.to_dict(),
        "optimizer": {"learning_rate": preset.learning_rate},
        "data": {"source": str(train_path)},
    }
    pre = {**common, "epochs": preset.pretrain_epochs, "steps_per_epoch": preset.pretrain_steps}
    head = {
        **common,
        "task": "recovery",
        "epochs": preset.finetune_epochs,
        "steps_per_epoch": preset.finetune_steps,
        "recovery_head": preset.recovery_head.to_dict(),
    }
    return pre, head


def _random_encoder(preset: StudyPreset, seed: int, signal_shape, path: Path) -> Path:
    """A randomly initialised encoder (the frozen wo-CL arm), saved once per seed."""
    if not path.exists():
        keras.utils.set_random_seed(seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        Encoder(signal_shape, **preset.encoder.to_dict()).save(path)
    return path


def _score(path: Path, compute: Callable[[], RunScore]) -> RunScore:
    """A run's cached score, or `compute()` cached into `path`."""
    if path.exists():
        return RunScore.from_dict(json.loads(path.read_text()))
    score = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(score.to_dict()) + "\n")
    return score


def _train_and_score(
    arm: Arm,
    config: FinetuneConfig,
    run_dir: Path,
    data: ProtocolData,
    settings: ProtocolSettings,
    pipeline: str,
    log: Callable[[str], None],
) -> RunScore:
    """Train one head and score it with the recovery protocol on the test calibration."""
    log(f"[seed {config.seed}] {arm.label}, {arm.mode}, {config.label_fraction:.0%} of the labels")
    result = finetune(config, run_dir, pipeline=pipeline, verbose=0)
    predictor = recovery_predictor(result.model)
    evaluation = evaluate_recovery({"head": predictor}, data.test_sm, None, None, settings)
    val = result.history["val_loss"]
    return RunScore(
        arm,
        config.label_fraction,
        config.seed,
        tuple(map(float, evaluation.voxel_nrmse["head"])),
        int(np.argmin(val)) + 1,
        len(val),
    )


def contrastive_study(
    out_dir: str | Path,
    preset: str | StudyPreset = "cpu",
    seeds: int | None = None,
    *,
    scenario: str = DEFAULT_SCENARIO,
    pipeline: str = "auto",
    log: Callable[[str], None] = print,
) -> StudyResults:
    """Run the contrastive study on one scenario and write `results.json`.

    Example:

    >>> results = contrastive_study("study-paper", "smoke", scenario="paper")  # doctest: +SKIP

    Args:
        out_dir: output folder (data, runs, cached scores, results).
        preset: "smoke", "cpu" (`STUDY_PRESETS`) or a `StudyPreset`.
        seeds: paired seeds (0, 1, ...); the preset's number by default.
        scenario: the simulated training/test pair.
        pipeline: input pipeline, "auto", "tf" or "python".
        log: where progress lines go.

    Returns:
        The `StudyResults`, also written to `OUT/results.json`.

    Raises:
        ConfigError: for an unknown preset, scenario or pool, or seeds < 1.
    """
    if isinstance(preset, str):
        if preset not in STUDY_PRESETS:
            raise ConfigError("preset", f"expected one of {sorted(STUDY_PRESETS)}, got {preset!r}")
        preset = STUDY_PRESETS[preset]
    seeds = preset.seeds if seeds is None else seeds
    if seeds < 1:
        raise ConfigError("seeds", f"must be at least 1, got {seeds}")
    spec = simulation_scenario(scenario)
    out = Path(out_dir)
    started = time.time()
    data = prepare_protocol_data(out / DATA, log, scenario)
    settings = ProtocolSettings()
    base = evaluate_recovery({}, data.test_sm, None, None, settings, train_sm=data.train_sm)
    baselines = {name: tuple(map(float, v)) for name, v in base.voxel_nrmse.items()}
    pools = {pool: pool_files(pool, data, out / DATA, settings) for pool in preset.pools}
    scores: list[RunScore] = []
    for seed in range(seeds):
        seed_dir = out / f"seed-{seed}"
        pre_common, head_common = _configs(preset, seed, data.paths["train_sm"])
        encoders = {}
        for pool, files in pools.items():
            log(f"[seed {seed}] pretraining on pool {pool}")
            config = PretrainConfig.from_dict(
                {**pre_common, "data": {**pre_common["data"], "unlabelled": list(files)}}
            )
            result = pretrain(config, seed_dir / f"pretrain-{pool}", pipeline=pipeline, verbose=0)
            encoders[pool] = result.run_dir / ENCODER
        for arm in preset.arms():
            encoder = encoders[arm.pool] if arm.pool else ""
            if arm.frozen and not arm.pool:
                shape = (data.train_sm.acquisition.num_sampling_points, len(settings.channels))
                encoder = _random_encoder(preset, seed, shape, seed_dir / "random" / ENCODER)
            for fraction in preset.fractions:
                name = f"{arm.slug}-f{round(100 * fraction):03d}"
                config = FinetuneConfig.from_dict(
                    {
                        **head_common,
                        "pretrained_encoder": str(encoder),
                        "freeze_encoder": arm.frozen,
                        "contrastive_weight": arm.contrastive_weight,
                        "label_fraction": fraction,
                    }
                )

                train = functools.partial(
                    _train_and_score, arm, config, seed_dir / name, data, settings, pipeline, log
                )
                score = _score(seed_dir / "scores" / f"{name}.json", train)
                scores.append(score)
    results = StudyResults(
        scenario=scenario,
        scenario_description=spec.description,
        preset=preset.name,
        description=preset.description,
        settings=preset.settings(),
        seeds=tuple(range(seeds)),
        backend=keras.backend.backend(),
        baselines=baselines,
        runs=tuple(scores),
        elapsed_s=round(time.time() - started, 1),
    )
    results.save(out / "results.json")
    return results
