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
import json
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from mpikeras.config import EncoderConfig, FinetuneConfig, PretrainConfig, RecoveryHeadConfig
from mpikeras.evaluation.figures import figure_reconstruction, figure_recovery
from mpikeras.evaluation.metrics import nrmse
from mpikeras.evaluation.predictors import reconstruction_predictor, recovery_predictor
from mpikeras.evaluation.protocol import (
    ProtocolSettings,
    ReconstructionEvaluation,
    RecoveryEvaluation,
    evaluate_reconstruction,
    evaluate_recovery,
)
from mpikeras.evaluation.report import (
    PAPER_RESULTS,
    aggregate,
    baselines_table,
    format_markdown,
    format_text,
    phantom_table,
    results_table,
    verdict,
)
from mpikeras.evaluation.truth import projected_amount
from mpikeras.io.atomic import write_text_atomic
from mpikeras.io.mdf import (
    read_measurement,
    read_system_matrix,
    write_measurement,
    write_system_matrix,
)
from mpikeras.io.measurement import Measurement
from mpikeras.io.system_matrix import SystemMatrix
from mpikeras.simulation import preset as simulation_preset
from mpikeras.simulation import simulate_system_matrix
from mpikeras.simulation.phantoms import resolution_phantom, simulate_measurement
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

#: The heads trained per seed: run name -> (task, recovery input, uses the pretrained encoder).
HEADS = {
    "recovery-wo-cl": ("recovery", "single", False),
    "recovery-cl": ("recovery", "single", True),
    "bracket-wo-cl": ("recovery", "bracket", False),
    "bracket-cl": ("recovery", "bracket", True),
    "reconstruction-wo-cl": ("reconstruction", "single", False),
    "reconstruction-cl": ("reconstruction", "single", True),
}
#: Method labels in the tables.
LABELS = {
    "recovery-wo-cl": "wo-CL",
    "recovery-cl": "CL",
    "bracket-wo-cl": "bracket wo-CL",
    "bracket-cl": "bracket CL",
    "reconstruction-wo-cl": "wo-CL",
    "reconstruction-cl": "CL",
}


@dataclasses.dataclass(frozen=True, eq=False)
class ProtocolData:
    """The three files of the protocol, loaded."""

    train_sm: SystemMatrix
    test_sm: SystemMatrix
    measurement: Measurement
    paths: dict[str, Path]


def prepare_protocol_data(data_dir: Path, log: Callable[[str], None] = print) -> ProtocolData:
    """Simulate (once) and load the training SM, test SM and resolution phantom."""
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "train_sm": data_dir / "calibration-openmpi-2d-19.mdf",
        "test_sm": data_dir / "calibration-openmpi-2d-37.mdf",
        "measurement": data_dir / "phantom-resolution.mdf",
    }
    if not paths["train_sm"].exists():
        write_system_matrix(
            paths["train_sm"], simulate_system_matrix(simulation_preset("openmpi-2d-19"), seed=0)
        )
    if not paths["test_sm"].exists():
        write_system_matrix(
            paths["test_sm"], simulate_system_matrix(simulation_preset("openmpi-2d-37"), seed=1)
        )
    if not paths["measurement"].exists():
        meas = simulate_measurement("resolution", simulation_preset("openmpi-2d-37"), seed=2)
        write_measurement(paths["measurement"], meas)
    log(f"data: {', '.join(str(p) for p in paths.values())}")
    return ProtocolData(
        read_system_matrix(paths["train_sm"], z_slice="central"),
        read_system_matrix(paths["test_sm"], z_slice="central"),
        read_measurement(paths["measurement"]),
        paths,
    )


def evaluate_models(
    recovery_models: dict[str, keras.Model],
    reconstruction_models: dict[str, keras.Model],
    data: ProtocolData,
    settings: ProtocolSettings | None = None,
    truth: np.ndarray | None = None,
) -> tuple[RecoveryEvaluation, ReconstructionEvaluation]:
    """Evaluate trained models with the protocol (used by `evaluate` and `reproduce`)."""
    recovery = evaluate_recovery(
        {k: recovery_predictor(m) for k, m in recovery_models.items()},
        data.test_sm,
        data.measurement,
        truth,
        settings,
    )
    reconstruction = evaluate_reconstruction(
        {k: reconstruction_predictor(m) for k, m in reconstruction_models.items()},
        data.test_sm,
        data.train_sm,
        settings,
    )
    return recovery, reconstruction


def simulated_truth(test_sm: SystemMatrix, settings: ProtocolSettings) -> np.ndarray:
    """The resolution phantom's amount on the recovered 2 mm grid (delta-sample units)."""
    grid = test_sm.grid.subsample(settings.step_x, settings.target_offset_y)
    concentration = test_sm.metadata.tracer_concentration_mol_per_l or 0.1
    return projected_amount(
        resolution_phantom(), grid, test_sm.delta_sample_volume_m3, concentration
    )


def _configs(preset: ReproducePreset, seed: int, train_path: Path) -> tuple[PretrainConfig, dict]:
    common = {
        "seed": seed,
        "encoder": preset.encoder.to_dict(),
        "optimizer": {"learning_rate": preset.learning_rate},
        "data": {"source": str(train_path)},
    }
    pre = PretrainConfig.from_dict({**common, "epochs": preset.pretrain_epochs})
    heads = {}
    for run, (task, recovery_input, _) in HEADS.items():
        # Reconstruction maps signals to positions: it must see every position lit in
        # training, so its validation samples are fresh combinations (docs/concepts.md).
        split = "sample" if task == "reconstruction" else "voxel"
        heads[run] = FinetuneConfig.from_dict(
            {
                **common,
                "data": {**common["data"], "split": split},
                "epochs": preset.finetune_epochs,
                "task": task,
                "recovery_input": recovery_input,
                "recovery_head": preset.recovery_head.to_dict(),
            }
        )
    return pre, heads


def reproduce(
    out_dir: str | Path,
    preset: str | ReproducePreset = "quick",
    seeds: int = 1,
    *,
    pipeline: str = "auto",
    verbose: str | int = 2,
    log: Callable[[str], None] = print,
) -> dict:
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

    Returns:
        The results dict written to `results.json`.
    """
    if isinstance(preset, str) and preset not in REPRODUCE_PRESETS:
        raise ValueError(
            f"unknown reproduce preset {preset!r}; expected one of {sorted(REPRODUCE_PRESETS)}"
        )
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, got {seeds}")
    spec = REPRODUCE_PRESETS[preset] if isinstance(preset, str) else preset
    out = Path(out_dir)
    started = time.time()
    data = prepare_protocol_data(out / "data", log)
    settings = ProtocolSettings()
    truth = simulated_truth(data.test_sm, settings)
    per_seed = []
    first: tuple[RecoveryEvaluation, ReconstructionEvaluation] | None = None
    for seed in range(seeds):
        seed_dir = out / f"seed-{seed}"
        pre_cfg, head_cfgs = _configs(spec, seed, data.paths["train_sm"])
        log(f"[seed {seed}] contrastive pretraining -> {seed_dir / 'pretrain'}")
        encoder_path = (
            pretrain(pre_cfg, seed_dir / "pretrain", pipeline=pipeline, verbose=verbose).run_dir
            / ENCODER
        )
        models: dict[str, keras.Model] = {}
        for run, cfg in head_cfgs.items():
            if HEADS[run][2]:
                cfg = dataclasses.replace(cfg, pretrained_encoder=str(encoder_path))
            log(f"[seed {seed}] training {run} -> {seed_dir / run}")
            models[run] = finetune(cfg, seed_dir / run, pipeline=pipeline, verbose=verbose).model
        log(f"[seed {seed}] evaluating")
        recovery, reconstruction = evaluate_models(
            {LABELS[r]: m for r, m in models.items() if HEADS[r][0] == "recovery"},
            {LABELS[r]: m for r, m in models.items() if HEADS[r][0] == "reconstruction"},
            data,
            settings,
            truth,
        )
        per_seed.append((recovery, reconstruction))
        first = first or (recovery, reconstruction)
    results = {
        "preset": spec.name,
        "description": spec.description,
        "seeds": seeds,
        "backend": keras.backend.backend(),
        "data": {k: str(v) for k, v in data.paths.items()},
        "recovery": {
            "voxel_nrmse": aggregate([r.voxel_nrmse for r, _ in per_seed]),
            "phantom_nrmse": first[0].phantom_nrmse,
        },
        "reconstruction": {
            "voxel_nrmse": aggregate([c.voxel_nrmse for _, c in per_seed]),
            "example_voxel": list(first[1].example_voxel),
        },
        "elapsed_s": round(time.time() - started, 1),
    }
    write_outputs(out, results, first)
    return results


def write_outputs(
    out: Path, results: dict, first: tuple[RecoveryEvaluation, ReconstructionEvaluation]
) -> None:
    """results.json, figure2.png, figure3.png and report.md (all atomic)."""
    recovery, reconstruction = first
    write_text_atomic(out / "results.json", json.dumps(results, indent=2) + "\n")
    rec_means = {k: float(np.mean(v)) for k, v in recovery.voxel_nrmse.items()}
    figure_recovery(
        recovery.sm_slices,
        recovery.phantom_images,
        recovery.phantom_nrmse,
        rec_means,
        out / "figure2.png",
        methods=tuple(m for m in recovery.learned if not m.startswith("bracket"))
        or recovery.learned,
    )
    truth = reconstruction.examples["ground truth"][None]
    example_nrmse = {k: float(nrmse(v[None], truth)[0]) for k, v in reconstruction.examples.items()}
    figure_reconstruction(
        reconstruction.examples, reconstruction.example_voxel, example_nrmse, out / "figure3.png"
    )
    write_text_atomic(out / "report.md", markdown_report(results))


def markdown_report(results: dict) -> str:
    paper = PAPER_RESULTS
    lines = [
        f"# mpikeras reproduce: preset `{results['preset']}`",
        "",
        f"{results['description']}; {results['seeds']} seed(s); Keras backend "
        f"`{results['backend']}`; {results['elapsed_s']:.0f} s in the last call (runs finished "
        "by an earlier call are resumed, not retrained).",
        "",
        "## Results (NRMSE in %, mean ± std over voxels and seeds)",
        "",
        format_markdown(results_table(results)),
        "",
        "The paper (real OpenMPIData): recovery "
        f"{paper['recovery']['wo-CL'][0]} ± {paper['recovery']['wo-CL'][1]} (wo-CL), "
        f"{paper['recovery']['CL'][0]} ± {paper['recovery']['CL'][1]} (CL); reconstruction "
        f"{paper['reconstruction']['wo-CL'][0]} ± {paper['reconstruction']['wo-CL'][1]} (wo-CL), "
        f"{paper['reconstruction']['CL'][0]} ± {paper['reconstruction']['CL'][1]} (CL).",
        "",
        "## Every method, baselines included",
        "",
        format_markdown(baselines_table(results)),
        "",
        "## Resolution phantom reconstructed with each SM (Kaczmarz, λ = 0.01, 3 sweeps)",
        "",
        format_markdown(phantom_table(results)),
        "",
        "## What this says",
        "",
        *verdict(results),
        "",
        "Figures (first seed): Figure 2 shows the SM at time step 80 (mean NRMSE over the",
        "predicted voxels in the titles) and the phantom reconstructed with each SM (NRMSE",
        "against the ground-truth-SM image); Figure 3 shows one reconstructed voxel (its own",
        "NRMSE).",
        "",
        "![Figure 2](figure2.png)",
        "",
        "![Figure 3](figure3.png)",
        "",
    ]
    return "\n".join(lines)


def print_tables(results: dict, log: Callable[[str], None] = print) -> None:
    log(format_text(results_table(results)))
    log("")
    log(format_text(baselines_table(results)))
    log("")
    log(format_text(phantom_table(results)))
    log("")
    for line in verdict(results):
        log(line)
