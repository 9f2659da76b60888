"""The typed results of the contrastive study (`mpikeras study contrastive`) and their file.

Example:

>>> arm = Arm("calibration", frozen=True)
>>> arm.label, arm.mode, arm.slug
('CL (calibration)', 'frozen encoder', 'cl-calibration-frozen')
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from mpikeras.errors import ResultsFileError
from mpikeras.experiments.results import read_json
from mpikeras.io.atomic import write_text_atomic

#: Unlabelled pools of pretraining: name -> what it holds.
POOLS = {
    "slice": "the training slice's training voxels (the paper's pool)",
    "calibration": "every z slice of the training calibration (19 x 19 x 19 columns)",
    "test-scan": "the training slice's training voxels plus the measured voxels of the test "
    "calibration (the recovery inputs, available at test time; never a target)",
}

#: Version of the study's `results.json` layout.
SCHEMA_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Arm:
    """One way of training the recovery head.

    Args:
        pool: the pretraining pool (`POOLS`), or `None`: no pretraining (wo-CL).
        frozen: the encoder is kept fixed (wo-CL: a random encoder).
        contrastive_weight: weight of NT-Xent kept on during fine-tuning.
    """

    pool: str | None = None
    frozen: bool = False
    contrastive_weight: float = 0.0

    @property
    def label(self) -> str:
        if self.pool:
            return f"CL ({self.pool})"
        return "wo-CL + NT-Xent" if self.contrastive_weight else "wo-CL"

    @property
    def mode(self) -> str:
        return "frozen encoder" if self.frozen else "fine-tuned"

    @property
    def slug(self) -> str:
        name = f"cl-{self.pool}" if self.pool else "wo-cl"
        if self.contrastive_weight:
            name += "-ntxent"
        return name + ("-frozen" if self.frozen else "")

    @property
    def baseline(self) -> Arm:
        """The wo-CL arm this arm is compared with (same mode)."""
        return Arm(None, self.frozen)


@dataclasses.dataclass(frozen=True)
class RunScore:
    """One trained head's test score.

    Args:
        arm: how it was trained.
        fraction: the share of labelled training pairs.
        seed: the training seed (split, subset, weights, streams).
        nrmse: NRMSE per recovered test voxel (the protocol's order).
        best_epoch: the epoch kept (lowest validation loss), 1-based.
        epochs: epochs trained.
    """

    arm: Arm
    fraction: float
    seed: int
    nrmse: tuple[float, ...]
    best_epoch: int
    epochs: int

    def to_dict(self) -> dict[str, Any]:
        # Six significant digits: far below any difference the study can resolve.
        return {**dataclasses.asdict(self), "nrmse": [float(f"{v:.6g}") for v in self.nrmse]}

    @classmethod
    def from_dict(cls, content: dict[str, Any]) -> RunScore:
        return cls(
            Arm(**content["arm"]),
            float(content["fraction"]),
            int(content["seed"]),
            tuple(float(v) for v in content["nrmse"]),
            int(content["best_epoch"]),
            int(content["epochs"]),
        )


@dataclasses.dataclass(frozen=True, eq=False)
class StudyResults:
    """Everything the study measured on one scenario.

    Args:
        scenario, scenario_description: the simulated world.
        preset, description: the study's sizes and budget.
        settings: the preset's settings (JSON values).
        seeds: the paired seeds.
        backend: the Keras backend.
        baselines: protocol baseline -> NRMSE per test voxel (same targets).
        runs: every trained head's score.
        elapsed_s: seconds of the call that produced it.
    """

    scenario: str
    scenario_description: str
    preset: str
    description: str
    settings: dict[str, Any]
    seeds: tuple[int, ...]
    backend: str
    baselines: dict[str, tuple[float, ...]]
    runs: tuple[RunScore, ...]
    elapsed_s: float

    def arms(self) -> list[Arm]:
        """The arms in the order they were trained."""
        return list(dict.fromkeys(run.arm for run in self.runs))

    def fractions(self) -> list[float]:
        return sorted({run.fraction for run in self.runs})

    def per_seed(self, arm: Arm, fraction: float) -> list[tuple[float, ...]]:
        """Per seed (in seed order), the arm's NRMSE per test voxel at `fraction`."""
        found = {r.seed: r.nrmse for r in self.runs if r.arm == arm and r.fraction == fraction}
        return [found[seed] for seed in self.seeds if seed in found]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "study": "contrastive",
            **{
                field.name: getattr(self, field.name)
                for field in dataclasses.fields(self)
                if field.name not in ("runs", "seeds", "baselines")
            },
            "seeds": list(self.seeds),
            "baselines": {k: list(v) for k, v in self.baselines.items()},
            "runs": [run.to_dict() for run in self.runs],
        }

    def save(self, path: str | Path) -> Path:
        """Write `results.json` (atomically)."""
        path = Path(path)
        write_text_atomic(path, json.dumps(self.to_dict()) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> StudyResults:
        """Read a study's `results.json`.

        Raises:
            ResultsFileError: naming the file and the field that is missing or malformed.
        """
        path = Path(path)
        content = read_json(path)
        if not isinstance(content, dict) or content.get("study") != "contrastive":
            raise ResultsFileError(path, "study", "expected the results of 'contrastive'")
        if content.get("schema_version") != SCHEMA_VERSION:
            raise ResultsFileError(
                path,
                "schema_version",
                f"expected {SCHEMA_VERSION}, got {content.get('schema_version')!r}",
            )
        field = "<top>"
        try:
            runs = []
            for i, run in enumerate(content["runs"]):
                field = f"runs[{i}]"
                runs.append(RunScore.from_dict(run))
            field = "baselines"
            baselines = {str(k): tuple(map(float, v)) for k, v in content["baselines"].items()}
            field = "seeds"
            seeds = tuple(int(s) for s in content["seeds"])
            scalars = {}
            for field in ("scenario", "scenario_description", "preset", "description", "backend"):
                scalars[field] = str(content[field])
            field = "settings"
            settings = dict(content["settings"])
            field = "elapsed_s"
            elapsed = float(content["elapsed_s"])
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ResultsFileError(path, field, f"missing or malformed ({error!r})") from None
        return cls(
            **scalars,
            settings=settings,
            seeds=seeds,
            baselines=baselines,
            runs=tuple(runs),
            elapsed_s=elapsed,
        )
