"""The typed results of an experiment: tasks, methods, scores, and `results.json`.

Every driver (`reproduce`, `evaluate`, the ablations) produces one `Results`:
the scores of each method on each target set, with every seed's per-voxel
values kept, and writes it with `Results.save` (`results.json`, versioned by
`SCHEMA_VERSION`). Tables and the report read aggregated statistics from it
(`Score.stats`, `Score.seed_stats`), never from string-keyed dicts.

Example:

>>> score = Score(LINEAR, TEST_VOXELS, (np.array([0.02, 0.04]),))
>>> round(score.stats().mean, 3)
0.03
>>> Results("evaluate", scores=(score,)).score(LINEAR).method.label
'linear'
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from mpikeras.errors import ResultsFileError
from mpikeras.io.atomic import write_text_atomic

#: Version of the `results.json` layout written by `Results.save`.
SCHEMA_VERSION = 2


class Task(enum.Enum):
    """What a method predicts."""

    RECOVERY = "recovery"
    RECONSTRUCTION = "reconstruction"


class Kind(enum.Enum):
    """What a method is.

    LEARNED: a trained network. BASELINE: no learning, the same information
    as the learned methods. CLASSIC: model-based reconstruction with the
    training SM. ORACLE: uses the test data's own answer (a bound, never a
    competitor). REFERENCE: not a method, a level to read the others against
    (the noise floor).
    """

    LEARNED = "learned"
    BASELINE = "baseline"
    CLASSIC = "classic"
    ORACLE = "oracle"
    REFERENCE = "reference"

    @property
    def competes(self) -> bool:
        """Whether a method of this kind is a candidate for the strongest baseline."""
        return self in (Kind.BASELINE, Kind.CLASSIC)


@dataclasses.dataclass(frozen=True)
class Method:
    """A method of one task, as it appears in the results.

    Args:
        name: identifier, unique within its task (for files and run names).
        label: its name in the tables, the figures and the protocol's dicts.
        task: the task it solves.
        kind: learned, baseline or classic.
        description: a few words for the tables that explain the label.
        paper: whether the paper has it (Figure 2 shows the paper's learned methods).
        uses: the information it uses, for the tables.
    """

    name: str
    label: str
    task: Task
    kind: Kind
    description: str = ""
    paper: bool = True
    uses: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "task": self.task.value,
            "kind": self.kind.value,
            "description": self.description,
            "paper": self.paper,
            "uses": self.uses,
        }


#: What the methods use, in the tables' words.
_INPUT_ROWS = "test SM input rows"
_LEARNED_RECOVERY = "training SM (learned), test SM input rows"
_TRAIN_SM = "training SM"


def _learned(name: str, label: str, task: Task, paper: bool = True, uses: str = "") -> Method:
    if not uses:
        uses = _LEARNED_RECOVERY if task is Task.RECOVERY else "training SM (learned)"
    return Method(name, label, task, Kind.LEARNED, label, paper, uses)


# The recovery methods: the protocol's baselines and the heads trained by `reproduce`.
COPY = Method(
    "copy", "copy", Task.RECOVERY, Kind.BASELINE, "copy the voxel 2 mm below", uses=_INPUT_ROWS
)
LINEAR = Method(
    "linear", "linear", Task.RECOVERY, Kind.BASELINE, "linear interpolation", uses=_INPUT_ROWS
)
CUBIC = Method(
    "cubic", "cubic", Task.RECOVERY, Kind.BASELINE, "cubic interpolation", uses=_INPUT_ROWS
)
LOOKUP = Method(
    "lookup",
    "lookup",
    Task.RECOVERY,
    Kind.BASELINE,
    "the training SM's column at the target position",
    paper=False,
    uses=_TRAIN_SM,
)
RECOVERY_WO_CL = _learned("wo-cl", "wo-CL", Task.RECOVERY)
RECOVERY_CL = _learned("cl", "CL", Task.RECOVERY)
BRACKET_WO_CL = _learned("bracket-wo-cl", "bracket wo-CL", Task.RECOVERY, paper=False)
BRACKET_CL = _learned("bracket-cl", "bracket CL", Task.RECOVERY, paper=False)
NOISE_FLOOR = Method(
    "noise-floor",
    "noise floor",
    Task.RECOVERY,
    Kind.REFERENCE,
    "the measured target against its noise-free version",
    paper=False,
    uses="the simulator's noise-free test SM",
)
# The reconstruction methods.
ZERO_IMAGE = Method(
    "zero-image", "zero image", Task.RECONSTRUCTION, Kind.BASELINE, "all-zero image", uses="nothing"
)
NEAREST = Method(
    "nearest",
    "nearest",
    Task.RECONSTRUCTION,
    Kind.BASELINE,
    "the most similar training-SM column (cosine), least-squares amplitude",
    paper=False,
    uses=_TRAIN_SM,
)
KACZMARZ_TUNED = Method(
    "kaczmarz-tuned",
    "Kaczmarz (tuned)",
    Task.RECONSTRUCTION,
    Kind.CLASSIC,
    "Kaczmarz, training SM; lambda, sweeps and SNR threshold chosen on training data",
    paper=False,
    uses=_TRAIN_SM,
)
KACZMARZ_PAPER = Method(
    "kaczmarz-paper",
    "Kaczmarz (paper setting)",
    Task.RECONSTRUCTION,
    Kind.CLASSIC,
    "Kaczmarz, training SM, the paper's lambda = 0 and 1 sweep",
    uses=_TRAIN_SM,
)
KACZMARZ_ORACLE = Method(
    "kaczmarz-test-sm-oracle",
    "oracle: Kaczmarz (test SM)",
    Task.RECONSTRUCTION,
    Kind.ORACLE,
    "Kaczmarz with the test SM's own columns (an inverse crime), tuned setting",
    paper=False,
    uses="the test SM itself (the answer)",
)
RECONSTRUCTION_WO_CL = _learned("wo-cl", "wo-CL", Task.RECONSTRUCTION)
RECONSTRUCTION_CL = _learned("cl", "CL", Task.RECONSTRUCTION)

#: The methods the protocol scores by itself (besides the learned ones), per task.
PROTOCOL_METHODS: dict[Task, tuple[Method, ...]] = {
    Task.RECOVERY: (COPY, LINEAR, CUBIC, LOOKUP, NOISE_FLOOR),
    Task.RECONSTRUCTION: (ZERO_IMAGE, NEAREST, KACZMARZ_TUNED, KACZMARZ_PAPER, KACZMARZ_ORACLE),
}
#: Every named method.
METHODS: tuple[Method, ...] = (
    *PROTOCOL_METHODS[Task.RECOVERY],
    RECOVERY_WO_CL,
    RECOVERY_CL,
    BRACKET_WO_CL,
    BRACKET_CL,
    *PROTOCOL_METHODS[Task.RECONSTRUCTION],
    RECONSTRUCTION_WO_CL,
    RECONSTRUCTION_CL,
)


def trained_method(task: Task, pretrained: bool, bracket: bool = False) -> Method:
    """The named method of a head trained for `task`: wo-CL or CL (bracket or not, for recovery)."""
    if task is Task.RECONSTRUCTION:
        return RECONSTRUCTION_CL if pretrained else RECONSTRUCTION_WO_CL
    if bracket:
        return BRACKET_CL if pretrained else BRACKET_WO_CL
    return RECOVERY_CL if pretrained else RECOVERY_WO_CL


def learned_method(label: str, task: Task, *, paper: bool = True, name: str = "") -> Method:
    """A learned method: a named constant if one has this label and task, else a new one."""
    for method in METHODS:
        if method.label == label and method.task is task and method.kind is Kind.LEARNED:
            return method
    return _learned(name or label, label, task, paper)


def protocol_method(label: str, task: Task) -> Method:
    """The protocol's own method (baseline or classic) with this label."""
    for method in PROTOCOL_METHODS[task]:
        if method.label == label:
            return method
    raise KeyError(f"the {task.value} protocol has no method labelled {label!r}")


@dataclasses.dataclass(frozen=True)
class Target:
    """A set of targets a method is scored on, with the error measure used there.

    Args:
        name: identifier.
        metric: the error measure ("nrmse", "mse").
        description: a few words for the tables.
    """

    name: str
    metric: str
    description: str


#: The protocol's test voxels (recovered voxels or single-voxel images), NRMSE.
TEST_VOXELS = Target("test-voxels", "nrmse", "the protocol's test voxels")
#: The test voxels inside and outside the drive-field FOV.
INSIDE_FOV = Target("inside-fov", "nrmse", "test voxels inside the drive-field FOV")
OUTSIDE_FOV = Target("outside-fov", "nrmse", "test voxels outside the drive-field FOV")
#: The test voxels scored against the noise-free target (simulated data only).
NOISE_FREE = Target("noise-free", "nrmse", "test voxels against the noise-free target")
#: The training data's validation set, MSE in normalised units.
VALIDATION = Target("validation", "mse", "the seed's validation set")
TARGETS: tuple[Target, ...] = (TEST_VOXELS, INSIDE_FOV, OUTSIDE_FOV, NOISE_FREE, VALIDATION)


@dataclasses.dataclass(frozen=True)
class Stats:
    """Mean ± std with the number of values and of seeds.

    Args:
        mean, std: over the values.
        n: number of values.
        seed_std: std of the per-seed means.
        seeds: number of seeds.
    """

    mean: float
    std: float
    n: int
    seed_std: float
    seeds: int

    def percent(self) -> str:
        """'2.2 ± 0.4': mean ± std in percent."""
        return f"{100 * self.mean:.1f} ± {100 * self.std:.1f}"


@dataclasses.dataclass(frozen=True, eq=False)
class Score:
    """One method on one target set: every seed's values (per voxel for the protocol).

    Args:
        method: the method.
        target: the target set.
        per_seed: one 1-D array per seed.
    """

    method: Method
    target: Target
    per_seed: tuple[np.ndarray, ...]

    def stats(self) -> Stats:
        """Pooled over values and seeds (the paper's mean ± std over voxels)."""
        values = [np.asarray(v).reshape(-1) for v in self.per_seed]
        pooled = np.asarray(np.concatenate(values), dtype=np.float64)
        return Stats(
            float(pooled.mean()),
            float(pooled.std()),
            int(pooled.size),
            float(np.std([v.mean() for v in values])),
            len(values),
        )

    def seed_means(self) -> list[float]:
        """The mean of each seed's values."""
        return [float(np.mean(v)) for v in self.per_seed]

    def seed_stats(self) -> Stats:
        """Mean ± std of the per-seed means (one value per seed)."""
        means = np.asarray(self.seed_means(), dtype=np.float64)
        std = float(means.std())
        return Stats(float(means.mean()), std, len(means), std, len(means))


@dataclasses.dataclass(frozen=True)
class PhantomScore:
    """A phantom reconstructed with one SM: NRMSE against the ground-truth-SM image and truth."""

    vs_gt_sm: float
    vs_truth: float | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class Results:
    """What an experiment measured.

    Args:
        study: the driver ("reproduce", "evaluate", "ablation").
        description: one line on what was run.
        preset: the preset name, where the driver has presets.
        seeds: the training seeds.
        backend: the Keras backend.
        data: role -> path of the data used.
        scores: every method on every target set.
        phantom: SM label -> phantom reconstruction scores (first seed).
        example_voxel: (iy, ix) of the voxel shown in Figure 3.
        settings: the driver's own settings (JSON values).
        elapsed_s: seconds of the call that produced it.
    """

    study: str
    description: str = ""
    preset: str = ""
    seeds: tuple[int, ...] = (0,)
    backend: str = ""
    data: dict[str, str] = dataclasses.field(default_factory=dict)
    scores: tuple[Score, ...] = ()
    phantom: dict[str, PhantomScore] = dataclasses.field(default_factory=dict)
    example_voxel: tuple[int, int] | None = None
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    elapsed_s: float = 0.0

    def score(self, method: Method, target: Target = TEST_VOXELS) -> Score | None:
        """The score of `method` on `target`, or `None`."""
        for score in self.scores:
            if score.method == method and score.target == target:
                return score
        return None

    def stats(self, method: Method, target: Target = TEST_VOXELS) -> Stats | None:
        """Pooled statistics of `method` on `target`, or `None`."""
        score = self.score(method, target)
        return None if score is None else score.stats()

    def methods(self, task: Task, target: Target = TEST_VOXELS) -> list[Method]:
        """The methods of `task` scored on `target`, in the order they were scored."""
        return [s.method for s in self.scores if s.method.task is task and s.target == target]

    def to_dict(self) -> dict[str, Any]:
        """The `results.json` content (per-seed values and, for reading, their statistics)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "study": self.study,
            "description": self.description,
            "preset": self.preset,
            "seeds": list(self.seeds),
            "backend": self.backend,
            "data": dict(self.data),
            "scores": [
                {
                    "method": s.method.to_dict(),
                    "target": s.target.name,
                    "stats": dataclasses.asdict(s.stats()),
                    "per_seed": [
                        np.asarray(v, np.float64).reshape(-1).tolist() for v in s.per_seed
                    ],
                }
                for s in self.scores
            ],
            "phantom": {k: dataclasses.asdict(v) for k, v in self.phantom.items()},
            "example_voxel": None if self.example_voxel is None else list(self.example_voxel),
            "settings": self.settings,
            "elapsed_s": self.elapsed_s,
        }

    def save(self, path: str | Path) -> Path:
        """Write `results.json` (atomically)."""
        path = Path(path)
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def from_dict(cls, content: Any, source: str | Path = "<results>") -> Results:
        """Read `to_dict`'s content; `ResultsFileError` names `source` and the bad field."""
        reader = _Reader(source)
        if not isinstance(content, dict):
            raise ResultsFileError(source, "<top>", f"expected an object, got {_kind(content)}")
        version = content.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ResultsFileError(
                source,
                "schema_version",
                f"expected {SCHEMA_VERSION}, got {version!r} (written by another version of "
                "mpikeras?)",
            )
        scores = tuple(
            reader.score(entry, f"scores[{i}]")
            for i, entry in enumerate(reader.get(content, "scores", list))
        )
        phantom = {
            str(k): reader.phantom(v, f"phantom.{k}")
            for k, v in reader.get(content, "phantom", dict).items()
        }
        voxel = content.get("example_voxel")
        if voxel is not None:
            voxel = tuple(reader.integers(voxel, "example_voxel", 2))
        return cls(
            study=reader.get(content, "study", str),
            description=reader.get(content, "description", str),
            preset=reader.get(content, "preset", str),
            seeds=tuple(reader.integers(reader.get(content, "seeds", list), "seeds")),
            backend=reader.get(content, "backend", str),
            data={str(k): str(v) for k, v in reader.get(content, "data", dict).items()},
            scores=scores,
            phantom=phantom,
            example_voxel=voxel,
            settings=reader.get(content, "settings", dict),
            elapsed_s=float(reader.get(content, "elapsed_s", (int, float))),
        )

    @classmethod
    def load(cls, path: str | Path) -> Results:
        """Read a `results.json` written by `save`."""
        return cls.from_dict(read_json(path), path)


def read_json(path: str | Path) -> Any:
    """The JSON content of a results file; `ResultsFileError` if it cannot be read or parsed."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise ResultsFileError(path, "<file>", f"cannot be read: {error}") from None
    except json.JSONDecodeError as error:
        raise ResultsFileError(path, "<file>", f"is not JSON: {error}") from None


def _kind(value: Any) -> str:
    return type(value).__name__


class _Reader:
    """Field access with errors that name the file and the field."""

    def __init__(self, source: str | Path) -> None:
        self.source = source

    def fail(self, field: str, problem: str) -> ResultsFileError:
        return ResultsFileError(self.source, field, problem)

    def get(self, content: dict, key: str, kind: type | tuple[type, ...], prefix: str = "") -> Any:
        field = f"{prefix}{key}"
        if key not in content:
            raise self.fail(field, "missing")
        value = content[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            expected = kind.__name__ if isinstance(kind, type) else "a number"
            raise self.fail(field, f"expected {expected}, got {_kind(value)}")
        return value

    def integers(self, values: Any, field: str, length: int | None = None) -> list[int]:
        if not isinstance(values, list) or any(
            isinstance(v, bool) or not isinstance(v, int) for v in values
        ):
            raise self.fail(field, f"expected a list of integers, got {values!r}")
        if length is not None and len(values) != length:
            raise self.fail(field, f"expected {length} integers, got {len(values)}")
        return values

    def enum(self, kind: type[enum.Enum], value: Any, field: str) -> Any:
        try:
            return kind(value)
        except ValueError:
            allowed = [m.value for m in kind]
            raise self.fail(field, f"expected one of {allowed}, got {value!r}") from None

    def method(self, content: Any, field: str) -> Method:
        if not isinstance(content, dict):
            raise self.fail(field, f"expected an object, got {_kind(content)}")
        prefix = f"{field}."
        return Method(
            self.get(content, "name", str, prefix),
            self.get(content, "label", str, prefix),
            self.enum(Task, content.get("task"), f"{prefix}task"),
            self.enum(Kind, content.get("kind"), f"{prefix}kind"),
            self.get(content, "description", str, prefix),
            content.get("paper", True) is True,
            self.get(content, "uses", str, prefix),
        )

    def score(self, content: Any, field: str) -> Score:
        if not isinstance(content, dict):
            raise self.fail(field, f"expected an object, got {_kind(content)}")
        prefix = f"{field}."
        name = self.get(content, "target", str, prefix)
        target = next((t for t in TARGETS if t.name == name), None)
        if target is None:
            allowed = [t.name for t in TARGETS]
            raise self.fail(f"{prefix}target", f"expected one of {allowed}, got {name!r}")
        per_seed = []
        for i, values in enumerate(self.get(content, "per_seed", list, prefix)):
            if not isinstance(values, list) or not values or not _numbers(values):
                raise self.fail(f"{prefix}per_seed[{i}]", "expected a non-empty list of numbers")
            per_seed.append(np.asarray(values, dtype=np.float64))
        if not per_seed:
            raise self.fail(f"{prefix}per_seed", "expected the values of at least one seed")
        return Score(self.method(content.get("method"), f"{prefix}method"), target, tuple(per_seed))

    def phantom(self, content: Any, field: str) -> PhantomScore:
        if not isinstance(content, dict):
            raise self.fail(field, f"expected an object, got {_kind(content)}")
        truth = content.get("vs_truth")
        if truth is not None and not _numbers([truth]):
            raise self.fail(f"{field}.vs_truth", f"expected a number, got {truth!r}")
        vs_gt = self.get(content, "vs_gt_sm", (int, float), f"{field}.")
        return PhantomScore(float(vs_gt), None if truth is None else float(truth))


def _numbers(values: Iterable[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
