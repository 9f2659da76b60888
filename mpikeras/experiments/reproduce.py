"""The whole paper protocol, from simulated (or given) data to the results table.

`reproduce` simulates the training SM (19 x 19), the test SM (37 x 37) and
the resolution phantom once (cached in `OUT/data`), then for each seed
pretrains the encoder, trains every head wo-CL and CL, evaluates them with
the protocol, and writes `results.json`, the figures and `report.md`. Every
training is a resumable run directory, so an interrupted `reproduce`
continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import keras

from mpikeras.config import EncoderConfig, FinetuneConfig, PretrainConfig, RecoveryHeadConfig
from mpikeras.evaluation.classic import ClassicSettings, tune_classic
from mpikeras.evaluation.protocol import ProtocolSettings
from mpikeras.experiments.evaluate import (
    Evaluations,
    evaluate_models,
    phantom_scores,
    protocol_scores,
)
from mpikeras.experiments.protocol_data import prepare_protocol_data, simulated_truth
from mpikeras.experiments.report import write_outputs
from mpikeras.experiments.results import (
    BRACKET_CL,
    BRACKET_WO_CL,
    RECONSTRUCTION_CL,
    RECONSTRUCTION_WO_CL,
    RECOVERY_CL,
    RECOVERY_WO_CL,
    Method,
    Results,
    Task,
)
from mpikeras.io.atomic import write_text_atomic
from mpikeras.simulation.scenarios import DEFAULT_SCENARIO
from mpikeras.simulation.scenarios import scenario as simulation_scenario
from mpikeras.training.finetune import finetune
from mpikeras.training.pretrain import pretrain
from mpikeras.training.run_directory import ENCODER


@dataclasses.dataclass(frozen=True)
class ReproducePreset:
    """Training budget of a `reproduce` run.

    Args:
        name: preset name.
        pretrain_epochs, finetune_epochs: epochs of each training.
        learning_rate: Adam's learning rate (the paper's 1e-4 for "paper").
        encoder: encoder sizes.
        recovery_head: recovery head sizes.
        description: one line for the report.
    """

    name: str
    pretrain_epochs: int
    finetune_epochs: int
    learning_rate: float
    encoder: EncoderConfig
    recovery_head: RecoveryHeadConfig
    description: str


REPRODUCE_PRESETS = {
    "quick": ReproducePreset(
        "quick",
        60,
        100,
        1e-3,
        EncoderConfig(filters=64),
        RecoveryHeadConfig(),
        "a CPU-sized run: 64 encoder filters, 60 pretraining and 100 fine-tuning epochs at "
        "learning rate 1e-3 (10x the paper's, to make up for 10x fewer epochs)",
    ),
    "paper": ReproducePreset(
        "paper",
        1000,
        1000,
        1e-4,
        EncoderConfig(),
        RecoveryHeadConfig(),
        "the paper's settings: 256 filters, learning rate 1e-4, 1000 epochs everywhere "
        "(meant for a GPU)",
    ),
}


@dataclasses.dataclass(frozen=True)
class Head:
    """A head trained per seed.

    Args:
        method: the method it is scored as (its task included).
        recovery_input: "single" or "bracket".
        pretrained: whether it starts from the pretrained encoder (CL).
    """

    method: Method
    recovery_input: str
    pretrained: bool


#: The heads trained per seed: run name -> head.
HEADS: dict[str, Head] = {
    "recovery-wo-cl": Head(RECOVERY_WO_CL, "single", False),
    "recovery-cl": Head(RECOVERY_CL, "single", True),
    "bracket-wo-cl": Head(BRACKET_WO_CL, "bracket", False),
    "bracket-cl": Head(BRACKET_CL, "bracket", True),
    "reconstruction-wo-cl": Head(RECONSTRUCTION_WO_CL, "single", False),
    "reconstruction-cl": Head(RECONSTRUCTION_CL, "single", True),
}


def _configs(preset: ReproducePreset, seed: int, train_path: Path) -> tuple[PretrainConfig, dict]:
    common = {
        "seed": seed,
        "encoder": preset.encoder.to_dict(),
        "optimizer": {"learning_rate": preset.learning_rate},
        "data": {"source": str(train_path)},
    }
    pre = PretrainConfig.from_dict({**common, "epochs": preset.pretrain_epochs})
    heads = {}
    for run, head in HEADS.items():
        task = head.method.task
        # Reconstruction maps signals to positions: it must see every position lit in
        # training, so its validation samples are fresh combinations (docs/concepts.md).
        split = "sample" if task is Task.RECONSTRUCTION else "voxel"
        heads[run] = FinetuneConfig.from_dict(
            {
                **common,
                "data": {**common["data"], "split": split},
                "epochs": preset.finetune_epochs,
                "task": task.value,
                "recovery_input": head.recovery_input,
                "recovery_head": preset.recovery_head.to_dict(),
            }
        )
    return pre, heads


#: The Kaczmarz tuning of the training SM, cached beside the data (a pure function of it).
KACZMARZ_TUNING = "kaczmarz-tuning.json"


def _classic_setting(data, settings: ProtocolSettings, data_dir: Path) -> ClassicSettings:
    """`tune_classic` on the training SM, or its cached result for the same file."""
    path = data_dir / KACZMARZ_TUNING
    digest = hashlib.sha256(data.paths["train_sm"].read_bytes()).hexdigest()
    try:
        cached = json.loads(path.read_text())
        if cached["train_sm_sha256"] == digest:
            return ClassicSettings(**cached["chosen"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no cache, or not ours: tune again
    tuning = tune_classic(data.train_sm, settings.channels, settings.band_hz)
    record = {
        "train_sm_sha256": digest,
        "chosen": dataclasses.asdict(tuning.best),
        "validation_nrmse": [
            {**dataclasses.asdict(candidate), "nrmse": score} for candidate, score in tuning.scores
        ],
    }
    write_text_atomic(path, json.dumps(record, indent=1) + "\n")
    return tuning.best


def reproduce(
    out_dir: str | Path,
    preset: str | ReproducePreset = "quick",
    seeds: int = 1,
    *,
    pipeline: str = "auto",
    verbose: str | int = 2,
    log: Callable[[str], None] = print,
    scenario: str = DEFAULT_SCENARIO,
) -> Results:
    """Run the paper's protocol end to end and write results, figures and report.

    Example:

    >>> results = reproduce("results", preset="quick")   # doctest: +SKIP

    Args:
        out_dir: output directory (also holds the cached data and all runs).
        preset: "quick", "paper" (see `REPRODUCE_PRESETS`) or a `ReproducePreset`.
        seeds: number of training seeds (0, 1, ...).
        pipeline: input pipeline, "auto", "tf" or "python".
        verbose: Keras verbosity of the trainings.
        log: where progress lines go.
        scenario: the simulated world (`mpikeras.simulation.scenarios`);
            recorded in the results' settings as "scenario".

    Returns:
        The `Results` written to `results.json`.
    """
    if isinstance(preset, str) and preset not in REPRODUCE_PRESETS:
        raise ValueError(
            f"unknown reproduce preset {preset!r}; expected one of {sorted(REPRODUCE_PRESETS)}"
        )
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, got {seeds}")
    scenario_spec = simulation_scenario(scenario)  # an unknown name fails before any work
    spec = REPRODUCE_PRESETS[preset] if isinstance(preset, str) else preset
    out = Path(out_dir)
    started = time.time()
    data = prepare_protocol_data(out / "data", log, scenario)
    settings = ProtocolSettings()
    truth = simulated_truth(data.test_sm, settings)
    classic = _classic_setting(data, settings, out / "data")
    log(f"Kaczmarz setting chosen on the training SM: {classic}")
    per_seed: list[Evaluations] = []
    for seed in range(seeds):
        seed_dir = out / f"seed-{seed}"
        pre_cfg, head_cfgs = _configs(spec, seed, data.paths["train_sm"])
        log(f"[seed {seed}] contrastive pretraining -> {seed_dir / 'pretrain'}")
        encoder_path = (
            pretrain(pre_cfg, seed_dir / "pretrain", pipeline=pipeline, verbose=verbose).run_dir
            / ENCODER
        )
        models: dict[Method, keras.Model] = {}
        for run, cfg in head_cfgs.items():
            if HEADS[run].pretrained:
                cfg = dataclasses.replace(cfg, pretrained_encoder=str(encoder_path))
            log(f"[seed {seed}] training {run} -> {seed_dir / run}")
            model = finetune(cfg, seed_dir / run, pipeline=pipeline, verbose=verbose).model
            models[HEADS[run].method] = model
        log(f"[seed {seed}] evaluating")
        per_seed.append(
            evaluate_models(
                {m: model for m, model in models.items() if m.task is Task.RECOVERY},
                {m: model for m, model in models.items() if m.task is Task.RECONSTRUCTION},
                data,
                settings,
                truth,
                classic,
            )
        )
    recovery, reconstruction = per_seed[0]
    results = Results(
        study="reproduce",
        description=spec.description,
        preset=spec.name,
        seeds=tuple(range(seeds)),
        backend=keras.backend.backend(),
        data={k: str(v) for k, v in data.paths.items()},
        scores=protocol_scores(per_seed, [head.method for head in HEADS.values()]),
        phantom=phantom_scores(recovery),
        example_voxel=reconstruction.example_voxel,
        settings={
            "kaczmarz_tuned": dataclasses.asdict(classic),
            "scenario": scenario,
            "scenario_description": scenario_spec.description,
        },
        elapsed_s=round(time.time() - started, 1),
    )
    write_outputs(out, results, recovery, reconstruction)
    return results
