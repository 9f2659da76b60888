"""What a training run will need in memory, checked before anything is built.

A setting such as `batch_size = 100000` or `projector.output_units = 1e8`
would otherwise end in the kernel's out-of-memory kill (no message) or an
allocator traceback minutes into a run. `check_training_memory` counts the
model's parameters exactly from the configuration and estimates the
activations of one training step, and refuses a run that cannot fit, naming
the setting that dominates and the figure it would need.
"""

from __future__ import annotations

import dataclasses
import os

from mpikeras.config import FinetuneConfig, TrainingConfig
from mpikeras.errors import ConfigError
from mpikeras.models.encoder import encoder_output_length

#: Overrides the memory a run may use (bytes), e.g. on a machine shared with others.
MAX_TRAINING_BYTES_ENV = "MPIKERAS_MAX_TRAINING_BYTES"

#: Bytes of a float32 number.
_FLOAT_BYTES = 4
#: Copies of every parameter during training: weights, gradients, Adam's two moments.
_PARAMETER_COPIES = 4
#: Copies of every activation: forward values (Conv/Dense, BatchNorm, ReLU) and gradients.
_ACTIVATION_COPIES = 4


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
    """What one training run needs: its parameters and one step's activations.

    Args:
        parameters: int. Trainable and non-trainable parameters of the model
            (exact: `keras.Model.count_params()` of the built model).
        largest_layer: str. The configuration key of the layer with the most
            parameters (e.g. `projector.output_units`).
        largest_layer_parameters: int. Its parameters.
        activation_bytes: int. Estimated activations of one training step.
    """

    parameters: int
    largest_layer: str
    largest_layer_parameters: int
    activation_bytes: int

    @property
    def parameter_bytes(self) -> int:
        """Weights, gradients and the optimizer's moments."""
        return self.parameters * _FLOAT_BYTES * _PARAMETER_COPIES

    @property
    def total_bytes(self) -> int:
        return self.parameter_bytes + self.activation_bytes


def _dense(inputs: int, units: int) -> int:
    return inputs * units + units


def estimate_training_memory(
    config: TrainingConfig, signal_shape: tuple[int, int]
) -> MemoryEstimate:
    """Count the parameters and estimate the activations of a run's model.

    Example:

    >>> from mpikeras.config import PretrainConfig
    >>> estimate = estimate_training_memory(PretrainConfig(), (1632, 2))
    >>> estimate.parameters, estimate.largest_layer
    (2123072, 'encoder.filters')

    Args:
        config: a `PretrainConfig` (encoder and projector) or a
            `FinetuneConfig` (encoder and the task's head, plus the
            projector when `contrastive_weight` > 0).
        signal_shape: (V, C) of the training signals.

    Returns:
        The `MemoryEstimate`.
    """
    samples, channels = (int(n) for n in signal_shape)
    encoder = config.encoder
    layers: dict[str, int] = {}
    length, width, encoder_parameters, encoder_activations = samples, channels, 0, 0
    for kernel, stride in zip(encoder.kernel_sizes, encoder.strides, strict=True):
        length = encoder_output_length(length, (kernel,), (stride,))
        # Conv1D without bias, then BatchNorm's gamma, beta, moving mean and variance.
        encoder_parameters += kernel * width * encoder.filters + 4 * encoder.filters
        encoder_activations += 3 * length * encoder.filters  # conv, norm, relu
        width = encoder.filters
    features = length * encoder.filters
    layers["encoder.filters"] = encoder_parameters
    views, step_values = 2, 0  # contrastive views, or (input, target) pairs
    finetuning = isinstance(config, FinetuneConfig)
    if finetuning:
        views = 1
        if config.task == "reconstruction":
            head = config.reconstruction_head
            pixels = head.image_shape[0] * head.image_shape[1]
            k2 = head.kernel_size**2
            layers["reconstruction_head.image_shape"] = _dense(features, pixels)
            layers["reconstruction_head.filters"] = (
                (k2 + 1) * head.filters + (k2 * head.filters + 1) * head.filters + head.filters + 1
            )
            step_values = 2 * pixels + 4 * pixels * head.filters
        else:
            head = config.recovery_head
            bracket = config.recovery_input == "bracket"
            filters = head.bracket_filters if bracket else head.filters
            kernel = head.bracket_kernel_size if bracket else head.kernel_size
            inputs_per_sample = 2 if bracket else 1
            width_in = channels * (3 if bracket else 1)
            layers["recovery_head.hidden_units"] = _dense(
                features * inputs_per_sample, head.hidden_units
            )
            layers["recovery_head.output"] = _dense(head.hidden_units, samples * channels)
            layers["recovery_head.filters"] = _dense(kernel * width_in, filters) + _dense(
                filters, channels
            )
            views = inputs_per_sample
            step_values = head.hidden_units + samples * (3 * channels + 2 * filters)
    if not finetuning or config.contrastive_weight > 0:
        projector = config.projector
        layers["projector.hidden_units"] = _dense(features, projector.hidden_units)
        layers["projector.output_units"] = _dense(projector.hidden_units, projector.output_units)
        if finetuning:
            views += 2
        step_values += 2 * (projector.hidden_units + projector.output_units)
    per_sample = views * (samples * channels + encoder_activations) + step_values
    activation_bytes = config.batch_size * per_sample * _FLOAT_BYTES * _ACTIVATION_COPIES
    largest = max(layers, key=layers.get)
    return MemoryEstimate(sum(layers.values()), largest, layers[largest], activation_bytes)


def available_memory_bytes() -> int:
    """Memory a run may use: `MPIKERAS_MAX_TRAINING_BYTES`, else what the system has free now."""
    if os.environ.get(MAX_TRAINING_BYTES_ENV):
        return int(float(os.environ[MAX_TRAINING_BYTES_ENV]))
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - no sysconf
        return 2**62


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_training_memory(
    config: TrainingConfig, signal_shape: tuple[int, int], available_bytes: int | None = None
) -> MemoryEstimate:
    """Refuse a run whose model and batch cannot fit in memory, before building anything.

    Example:

    >>> from mpikeras.config import PretrainConfig
    >>> check_training_memory(PretrainConfig(batch_size=100000), (1632, 2), 2**34)
    Traceback (most recent call last):
    ...
    mpikeras.errors.ConfigError: configuration key 'batch_size': training would need about ...

    Args:
        config: the run's configuration.
        signal_shape: (V, C) of the training signals.
        available_bytes: the memory the run may use; defaults to
            `available_memory_bytes()`.

    Returns:
        The `MemoryEstimate` of a run that fits.

    Raises:
        ConfigError: naming the setting that dominates (`batch_size`, or the
            layer with the most parameters), what the run would need and
            what is available.
    """
    estimate = estimate_training_memory(config, signal_shape)
    available = available_memory_bytes() if available_bytes is None else available_bytes
    if estimate.total_bytes <= available:
        return estimate
    if estimate.activation_bytes >= estimate.parameter_bytes:
        key = "batch_size"
        cause = f"the activations of a batch of {config.batch_size} need about " + _gib(
            estimate.activation_bytes
        )
    else:
        key = estimate.largest_layer
        cause = (
            f"{estimate.parameters:,} parameters ({estimate.largest_layer_parameters:,} in "
            f"{key}) need about {_gib(estimate.parameter_bytes)} with gradients and Adam's moments"
        )
    raise ConfigError(
        key,
        f"training would need about {_gib(estimate.total_bytes)} of memory ({cause}), but "
        f"{_gib(available)} is available; lower {key} (or set {MAX_TRAINING_BYTES_ENV} to "
        "raise the limit)",
    )
