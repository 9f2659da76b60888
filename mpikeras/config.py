"""Configuration: the paper's hyperparameters, as frozen dataclasses.

The command line, the training functions and the tuner read their settings
from these dataclasses. Configs convert to and from plain dicts (JSON or
TOML files) with strict checking: an unknown key, a wrong type or an
impossible range raises `ConfigError` naming the key.

The Keras layers and losses carry their own defaults in their signatures
(`Encoder`, `ProjectionHead`, the task heads, `SignalAugmentation`,
`nt_xent`), so they are usable without this module; the fields that mirror
them repeat those defaults. This module sits below the data layer, which
reads `AugmentationConfig`, so it cannot import the layers above it;
tests/test_config_defaults.py checks that each mirrored default equals the
layer's.

Example:

>>> cfg = PretrainConfig.from_dict({"epochs": 5, "augmentation": {"gain_db": [-10, -1]}})
>>> cfg.augmentation.gain_db
(-10.0, -1.0)
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from mpikeras.errors import ConfigError

T = TypeVar("T", bound="_Config")


class _Config:
    """Mixin: strict conversion from and to plain dicts."""

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
        if not isinstance(data, Mapping):
            key = prefix.rstrip(".") or "<root>"
            raise ConfigError(key, f"expected a table of keys, got {_shown(data)}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for key, value in data.items():
            name = f"{prefix}{key}"
            if key not in fields:
                raise ConfigError(name, f"unknown key; known keys are {sorted(fields)}")
            kwargs[key] = _coerce(hints[key], value, name)
        try:
            return cls(**kwargs)
        except ConfigError as exc:
            if prefix and not exc.key.startswith(prefix):
                raise ConfigError(prefix + exc.key, exc.problem) from None
            raise

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def replace(self: T, **changes: Any) -> T:
        return dataclasses.replace(self, **changes)


def _coerce(hint: Any, value: Any, name: str) -> Any:
    """Convert a JSON/TOML value to the annotated type, or raise ConfigError."""
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and issubclass(hint, _Config):
        return hint.from_dict(value, prefix=f"{name}.")
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, name)
            except ConfigError:
                continue
        raise ConfigError(name, f"expected {hint}, got {_shown(value)}")
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, list | tuple):
            raise ConfigError(name, f"expected a list, got {_shown(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{name}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(name, f"expected {len(args)} values, got {len(value)}")
        pairs = enumerate(zip(args, value, strict=True))
        return tuple(_coerce(a, v, f"{name}[{i}]") for i, (a, v) in pairs)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(name, f"expected true or false, got {_shown(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(name, f"expected an integer, got {_shown(value)}")
        if not -(2**63) <= value < 2**63:
            raise ConfigError(name, f"expected a 64-bit integer, got {_shown(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(name, f"expected a number, got {_shown(value)}")
        if isinstance(value, int) and abs(value) >= 2**1023:  # float(value) would overflow
            raise ConfigError(name, f"expected a finite number, got {_shown(value)}")
        if not math.isfinite(value):
            raise ConfigError(name, f"expected a finite number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(name, f"expected a string, got {_shown(value)}")
        return value
    raise ConfigError(name, f"unsupported type {hint}")  # pragma: no cover


def _shown(value: Any, limit: int = 80) -> str:
    """`repr(value)` for an error message, shortened (and safe for integers of any size)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    try:
        text = repr(value)
    except ValueError:  # a nested integer too long to convert to text
        text = f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_probability(key: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(key, f"must be a probability in [0, 1], got {value}")


def _check_range(key: str, value: tuple[float, float]) -> None:
    if value[0] > value[1]:
        raise ConfigError(key, f"range minimum exceeds maximum: {list(value)}")


def _check_positive(key: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(key, f"must be positive, got {value}")


def _check_seed(key: str, value: int) -> None:
    # The range numpy's legacy seeding (keras.utils.set_random_seed) accepts.
    if not 0 <= value < 2**32:
        raise ConfigError(key, f"must be in [0, 2**32 - 1], got {value}")


@dataclasses.dataclass(frozen=True)
class AugmentationConfig(_Config):
    """The contrastive augmentations (paper section II; CLMR conventions).

    Noise: additive white Gaussian noise with standard deviation
    `10 ** (r / 20) * std(signal)`, r drawn uniformly in `noise_ratio_db`
    (a noise-to-signal ratio of standard deviations, as CLMR defines it;
    r in [-25, -15] dB is a true SNR of 15 to 25 dB). Gain: multiply by
    `10 ** (g / 20)`, g uniform in `gain_db`, no clipping. Polarity: multiply
    by -1. Each is applied independently with its probability.
    """

    polarity_probability: float = 0.5
    noise_probability: float = 0.5
    noise_ratio_db: tuple[float, float] = (-25.0, -15.0)
    gain_probability: float = 0.5
    gain_db: tuple[float, float] = (-20.0, -1.0)

    def __post_init__(self) -> None:
        for key in ("polarity_probability", "noise_probability", "gain_probability"):
            _check_probability(key, getattr(self, key))
        _check_range("noise_ratio_db", self.noise_ratio_db)
        _check_range("gain_db", self.gain_db)


@dataclasses.dataclass(frozen=True)
class CombinationConfig(_Config):
    """Weighted linear combinations of SM columns (paper section II).

    A sample is a combination with probability `probability`, else a single
    column. A combination sums `n` distinct columns, n uniform in
    `num_voxels`, each weighted by a number uniform in `weight_range`.
    """

    probability: float = 0.5
    num_voxels: tuple[int, int] = (2, 8)
    weight_range: tuple[float, float] = (0.1, 1.0)

    def __post_init__(self) -> None:
        _check_probability("probability", self.probability)
        _check_range("num_voxels", self.num_voxels)
        _check_range("weight_range", self.weight_range)
        if self.num_voxels[0] < 1:
            raise ConfigError("num_voxels", f"must be at least 1, got {list(self.num_voxels)}")
        if self.weight_range[0] < 0:
            raise ConfigError(
                "weight_range", f"weights must be >= 0, got {list(self.weight_range)}"
            )


@dataclasses.dataclass(frozen=True)
class DataConfig(_Config):
    """Which data, and how it is preprocessed (paper section II).

    Args:
        source: an MDF calibration file, or `simulated:<preset>` for the
            embedded simulator.
        seed: seed of the simulated data.
        band_hz: band-pass limits.
        channels: receive channels fed to the network (x and y for 2D).
        validation_fraction: share of voxels held out (80:20 in the paper).
        split: "voxel": validation voxels never appear in training, alone or
            in a combination; "sample": both sides draw from every voxel and
            validation samples are fresh combinations (the reconstruction
            task needs every position in training; see docs/concepts.md).
        unlabelled: more MDF calibration files for contrastive pretraining:
            every column of every z slice joins the training side of the
            pretraining stream (never validation, never a task's labels).
            They must share the training SM's frequencies and channels.
    """

    source: str = "simulated:openmpi-2d-19"
    unlabelled: tuple[str, ...] = ()
    seed: int = 0
    band_hz: tuple[float, float] = (80e3, 600e3)
    channels: tuple[int, ...] = (0, 1)
    validation_fraction: float = 0.2
    split: str = "voxel"

    def __post_init__(self) -> None:
        _check_range("band_hz", self.band_hz)
        if self.band_hz[0] < 0:
            raise ConfigError("band_hz", f"frequencies must be >= 0, got {list(self.band_hz)}")
        if not self.channels:
            raise ConfigError("channels", "at least one receive channel is needed")
        if min(self.channels) < 0:
            raise ConfigError("channels", f"must be >= 0, got {list(self.channels)}")
        _check_seed("seed", self.seed)
        if not 0.0 < self.validation_fraction < 1.0:
            raise ConfigError(
                "validation_fraction", f"must be in (0, 1), got {self.validation_fraction}"
            )
        if self.split not in ("voxel", "sample"):
            raise ConfigError("split", f"expected 'voxel' or 'sample', got {self.split!r}")


@dataclasses.dataclass(frozen=True)
class EncoderConfig(_Config):
    """Encoder: 5 x [Conv1D, BatchNorm, ReLU] (paper section II)."""

    filters: int = 256
    kernel_sizes: tuple[int, ...] = (8, 5, 4, 4, 4)
    strides: tuple[int, ...] = (4, 3, 2, 2, 2)

    def __post_init__(self) -> None:
        _check_positive("filters", self.filters)
        if len(self.kernel_sizes) != len(self.strides) or not self.kernel_sizes:
            raise ConfigError(
                "kernel_sizes",
                f"needs one entry per stride; got {len(self.kernel_sizes)} "
                f"kernel sizes and {len(self.strides)} strides",
            )
        for key in ("kernel_sizes", "strides"):
            if min(getattr(self, key)) < 1:
                raise ConfigError(key, f"entries must be positive, got {list(getattr(self, key))}")


@dataclasses.dataclass(frozen=True)
class ProjectorConfig(_Config):
    """Projector: Dense, ReLU, Dense(64) (paper section II; hidden width ours)."""

    hidden_units: int = 256
    output_units: int = 64

    def __post_init__(self) -> None:
        _check_positive("hidden_units", self.hidden_units)
        _check_positive("output_units", self.output_units)


@dataclasses.dataclass(frozen=True)
class OptimizerConfig(_Config):
    """Adam, learning rate 1e-4, betas 0.9 / 0.999 (paper section II)."""

    learning_rate: float = 1e-4
    beta_1: float = 0.9
    beta_2: float = 0.999
    scale_learning_rate_with_batch: bool = False

    def __post_init__(self) -> None:
        _check_positive("learning_rate", self.learning_rate)
        for key in ("beta_1", "beta_2"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise ConfigError(key, f"must be in [0, 1), got {getattr(self, key)}")


@dataclasses.dataclass(frozen=True)
class RecoveryHeadConfig(_Config):
    """Recovery head: Dense, ReLU, Dense, Conv1D(8, 3), ReLU, Conv1D(1) (paper section II).

    `hidden_units`, the first Dense layer's width, is ours (the paper is silent).
    `bracket_filters` and `bracket_kernel_size` size the convolutions of the
    two-voxel variant (`BracketRecovery`, beyond the paper).
    """

    hidden_units: int = 512
    filters: int = 8
    kernel_size: int = 3
    bracket_filters: int = 32
    bracket_kernel_size: int = 9

    def __post_init__(self) -> None:
        keys = ("hidden_units", "filters", "kernel_size", "bracket_filters", "bracket_kernel_size")
        for key in keys:
            _check_positive(key, getattr(self, key))


@dataclasses.dataclass(frozen=True)
class ReconstructionHeadConfig(_Config):
    """Reconstruction head: Dense(19^2), ELU(0.1), 2 x [Conv2D(8, 3), ELU(0.1)] (paper II)."""

    image_shape: tuple[int, int] = (19, 19)
    filters: int = 8
    kernel_size: int = 3
    elu_alpha: float = 0.1

    def __post_init__(self) -> None:
        for key in ("filters", "kernel_size", "elu_alpha"):
            _check_positive(key, getattr(self, key))
        if min(self.image_shape) < 1:
            raise ConfigError("image_shape", f"must be positive, got {list(self.image_shape)}")


#: The paper's reference batch size, against which learning rates are scaled.
REFERENCE_BATCH_SIZE = 32

#: Values of `TrainingConfig.mixed_precision` ("auto": see `mpikeras._system.automatic_precision`).
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16", "auto")

#: Values of `TrainingConfig.distribution` (see `mpikeras.training.distribution`).
DISTRIBUTIONS = ("none", "data_parallel", "multi_worker")


@dataclasses.dataclass(frozen=True)
class TrainingConfig(_Config):
    """Settings shared by pretraining and fine-tuning (paper section II).

    Args:
        epochs: training epochs (1000 in the paper; the best epoch by
            validation loss is kept).
        batch_size: samples per step (32); batches drop their remainder.
        steps_per_epoch: steps per epoch; 0 means one pass over the training
            voxels (or pairs), `ceil(items / batch)`.
        temperature: NT-Xent temperature tau.
        seed: seed of weights, voxel split and input streams.
        jit_compile: compile the train step ("auto" lets Keras decide per
            backend, "true" or "false" force it).
        mixed_precision: "float32", "mixed_bfloat16", "mixed_float16", or
            "auto": bfloat16 where the device computes it natively (AMX or
            AVX512-BF16 CPUs, Ampere-or-newer GPUs, TPUs), else float32 (the
            choice is recorded in the run's `precision.json`); losses and
            logits stay float32.
        distribution: "none" (one device), "data_parallel" (every GPU, or
            every logical CPU device, of this machine: JAX
            `keras.distribution.DataParallel`, TensorFlow `MirroredStrategy`)
            or "multi_worker" (the devices of several processes, the cluster
            read from the engine's environment variables: JAX
            `KERAS_DISTRIBUTION_*`, TensorFlow `TF_CONFIG`); `batch_size` is
            the global batch, split across the devices.
    """

    epochs: int = 1000
    batch_size: int = 32
    steps_per_epoch: int = 0
    temperature: float = 0.5
    seed: int = 0
    jit_compile: str = "auto"
    mixed_precision: str = "float32"
    distribution: str = "none"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    augmentation: AugmentationConfig = dataclasses.field(default_factory=AugmentationConfig)
    combination: CombinationConfig = dataclasses.field(default_factory=CombinationConfig)
    encoder: EncoderConfig = dataclasses.field(default_factory=EncoderConfig)
    projector: ProjectorConfig = dataclasses.field(default_factory=ProjectorConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)

    def __post_init__(self) -> None:
        _check_positive("epochs", self.epochs)
        _check_positive("batch_size", self.batch_size)
        _check_seed("seed", self.seed)
        if self.steps_per_epoch < 0:
            raise ConfigError("steps_per_epoch", f"must be >= 0, got {self.steps_per_epoch}")
        _check_positive("temperature", self.temperature)
        if self.jit_compile not in ("auto", "true", "false"):
            raise ConfigError(
                "jit_compile", f"expected 'auto', 'true' or 'false', got {self.jit_compile!r}"
            )
        if self.mixed_precision not in PRECISIONS:
            raise ConfigError(
                "mixed_precision",
                f"expected one of {list(PRECISIONS)}, got {self.mixed_precision!r}",
            )
        if self.distribution not in DISTRIBUTIONS:
            raise ConfigError(
                "distribution",
                f"expected one of {list(DISTRIBUTIONS)}, got {self.distribution!r}",
            )

    @property
    def learning_rate(self) -> float:
        """Adam's learning rate, scaled linearly with the batch if asked."""
        lr = self.optimizer.learning_rate
        if self.optimizer.scale_learning_rate_with_batch:
            lr *= self.batch_size / REFERENCE_BATCH_SIZE
        return lr

    @property
    def keras_jit_compile(self) -> bool | str:
        return {"auto": "auto", "true": True, "false": False}[self.jit_compile]


@dataclasses.dataclass(frozen=True)
class PretrainConfig(TrainingConfig):
    """Contrastive pretraining of encoder and projector with NT-Xent."""


TASKS = ("recovery", "reconstruction")
RECOVERY_INPUTS = ("single", "bracket")


@dataclasses.dataclass(frozen=True)
class FinetuneConfig(TrainingConfig):
    """Training a task head on the encoder: wo-CL (fresh encoder) or CL (pretrained).

    Args:
        task: "recovery" or "reconstruction".
        recovery_input: "single" (the paper: one SM column) or "bracket"
            (beyond the paper: both voxels that bracket the target in y).
        pretrained_encoder: path of a pretrained `encoder.keras` (CL); empty
            for an encoder trained from scratch with the head (wo-CL).
        freeze_encoder: keep the pretrained encoder's weights fixed.
        contrastive_weight: weight of an auxiliary NT-Xent loss on augmented
            views of the inputs during fine-tuning (0 disables it).
        label_fraction: share of the labelled training pairs (recovery) or
            voxels (reconstruction) the head trains on, a seeded subset
            nested across fractions (`mpikeras.data.split.labelled_subset`);
            validation data is unchanged.
    """

    task: str = "recovery"
    recovery_input: str = "single"
    pretrained_encoder: str = ""
    freeze_encoder: bool = False
    contrastive_weight: float = 0.0
    label_fraction: float = 1.0
    recovery_head: RecoveryHeadConfig = dataclasses.field(default_factory=RecoveryHeadConfig)
    reconstruction_head: ReconstructionHeadConfig = dataclasses.field(
        default_factory=ReconstructionHeadConfig
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.task not in TASKS:
            raise ConfigError("task", f"expected one of {list(TASKS)}, got {self.task!r}")
        if self.recovery_input not in RECOVERY_INPUTS:
            raise ConfigError(
                "recovery_input",
                f"expected one of {list(RECOVERY_INPUTS)}, got {self.recovery_input!r}",
            )
        if self.contrastive_weight < 0:
            raise ConfigError("contrastive_weight", f"must be >= 0, got {self.contrastive_weight}")
        if not 0.0 < self.label_fraction <= 1.0:
            raise ConfigError("label_fraction", f"must be in (0, 1], got {self.label_fraction}")
        if self.freeze_encoder and not self.pretrained_encoder:
            raise ConfigError("freeze_encoder", "needs a pretrained_encoder to freeze")


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON or TOML configuration file into a dict.

    Raises:
        ConfigError: if the file is missing, unreadable, not UTF-8, not valid
            JSON (TOML for a `.toml` file) or not a table.
    """
    path = Path(path)
    kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            str(path), f"cannot read the configuration file ({exc.strerror or exc})"
        ) from None
    try:
        text = content.decode("utf-8")
        data = tomllib.loads(text) if kind == "TOML" else json.loads(text)
    except (ValueError, RecursionError) as exc:
        # ValueError: also UnicodeDecodeError, JSONDecodeError, TOMLDecodeError and
        # integers longer than Python converts; RecursionError: absurdly deep nesting.
        problem = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise ConfigError(str(path), f"not valid {kind}: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            str(path), f"expected a table of keys at the top, got {type(data).__name__}"
        )
    return data
