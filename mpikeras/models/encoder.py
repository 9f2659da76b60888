"""The convolutional encoder of MPI time signals (paper section II)."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from mpikeras.errors import ConfigError
from mpikeras.models._arguments import positive_int, positive_ints

#: Samples and receive channels of one OpenMPIData 2D time signal (channels last).
DEFAULT_INPUT_SHAPE: tuple[int, int] = (1632, 2)

# BatchNorm as in PyTorch, which CLMR (the paper's template) uses: a running
# average with weight 0.1 on the new batch (Keras momentum 0.9) and eps 1e-5.
_BATCH_NORM_MOMENTUM = 0.9
_BATCH_NORM_EPSILON = 1e-5


def encoder_output_length(
    input_length: int, kernel_sizes: Sequence[int], strides: Sequence[int]
) -> int:
    """Length of the final feature map of "valid" convolutions.

    Each layer maps a length `L` to `floor((L - k) / s) + 1`.

    Example:

    >>> encoder_output_length(1632, (8, 5, 4, 4, 4), (4, 3, 2, 2, 2))
    15

    Args:
        input_length: int. Samples of the input signal.
        kernel_sizes: sequence of int. Kernel size of each layer.
        strides: sequence of int. Stride of each layer.

    Returns:
        The output length; zero or less if the input is too short.
    """
    length = input_length
    for kernel_size, stride in zip(kernel_sizes, strides, strict=True):
        if length < kernel_size:
            return 0
        length = (length - kernel_size) // stride + 1
    return length


def minimum_input_length(kernel_sizes: Sequence[int], strides: Sequence[int]) -> int:
    """Shortest input for which every "valid" convolution yields one sample.

    Inverts `encoder_output_length` from an output of length one:
    `L_in = (L_out - 1) * s + k`, from the last layer to the first.

    Example:

    >>> minimum_input_length((8, 5, 4, 4, 4), (4, 3, 2, 2, 2))
    276

    Args:
        kernel_sizes: sequence of int. Kernel size of each layer.
        strides: sequence of int. Stride of each layer.

    Returns:
        The minimum number of input samples.
    """
    length = 1
    for kernel_size, stride in zip(reversed(kernel_sizes), reversed(strides), strict=True):
        length = (length - 1) * stride + kernel_size
    return length


@keras.saving.register_keras_serializable(package="mpikeras")
class Encoder(keras.Model):
    """Convolutional encoder of MPI time signals: 5 x [Conv1D, BatchNorm, ReLU].

    The paper's encoder (section II, after CLMR's SampleCNN): strided "valid"
    1D convolutions with He-normal initialisation, each followed by batch
    normalisation and a ReLU. The output is the final feature map flattened
    to `(batch, length * filters)`, not pooled: flattening keeps the timing
    of the signal, which encodes the particles' position in MPI. For the
    paper's input of 1632 samples this is 15 x 256 = 3840 features.

    Convolutions have no bias: the batch normalisation that follows removes
    any constant offset, so a bias would be a redundant parameter. The
    BatchNorm momentum and epsilon are PyTorch's (CLMR's) defaults.

    Example:

    >>> encoder = Encoder(input_shape=(1632, 2))
    >>> encoder.output_shape
    (None, 3840)
    >>> small = Encoder(input_shape=(192, 2), filters=16, strides=(2, 2, 2, 2, 2))
    >>> features = small(np.zeros((4, 192, 2), "float32"))  # (4, 48)

    Args:
        input_shape: tuple of two ints. `(samples, channels)` of one signal,
            channels last. Defaults to `(1632, 2)`.
        filters: int. Filters of every convolution. Defaults to `256`.
        kernel_sizes: sequence of int. Kernel size of each convolution;
            its length is the number of blocks. Defaults to
            `(8, 5, 4, 4, 4)`.
        strides: sequence of int. Stride of each convolution. Defaults to
            `(4, 3, 2, 2, 2)`.
        dtype: str or `keras.DTypePolicy`. Dtype policy of the layers (for
            example `"mixed_bfloat16"`). Defaults to the global policy.
        **kwargs: `name` and `trainable`, passed to `keras.Model`.

    Raises:
        ConfigError: if an argument is not a positive integer (list), the
            kernel sizes and strides differ in length, or the input is
            shorter than the convolutions need (the message names the
            minimum length).
    """

    def __init__(
        self,
        input_shape: Sequence[int] = DEFAULT_INPUT_SHAPE,
        filters: int = 256,
        kernel_sizes: Sequence[int] = (8, 5, 4, 4, 4),
        strides: Sequence[int] = (4, 3, 2, 2, 2),
        dtype=None,
        **kwargs,
    ) -> None:
        # === Arguments ===
        filters = positive_int("filters", filters)
        kernel_sizes = positive_ints("kernel_sizes", kernel_sizes)
        strides = positive_ints("strides", strides, count=len(kernel_sizes))
        input_shape = positive_ints("input_shape", input_shape)
        if len(input_shape) != 2:
            raise ConfigError(
                "input_shape",
                f"expected (samples, channels), received input_shape={list(input_shape)}",
            )
        minimum = minimum_input_length(kernel_sizes, strides)
        if input_shape[0] < minimum:
            raise ConfigError(
                "input_shape",
                f"the signal has {input_shape[0]} samples but kernel sizes "
                f"{list(kernel_sizes)} with strides {list(strides)} need at least "
                f"{minimum} samples",
            )

        # === Layers ===
        blocks = []
        for index, (kernel_size, stride) in enumerate(zip(kernel_sizes, strides, strict=True)):
            blocks.append(
                (
                    keras.layers.Conv1D(
                        filters,
                        kernel_size,
                        strides=stride,
                        padding="valid",
                        use_bias=False,
                        kernel_initializer="he_normal",
                        dtype=dtype,
                        name=f"conv_{index}",
                    ),
                    keras.layers.BatchNormalization(
                        momentum=_BATCH_NORM_MOMENTUM,
                        epsilon=_BATCH_NORM_EPSILON,
                        dtype=dtype,
                        name=f"batch_norm_{index}",
                    ),
                    keras.layers.ReLU(dtype=dtype, name=f"relu_{index}"),
                )
            )
        flatten = keras.layers.Flatten(dtype=dtype, name="flatten")

        # === Functional model ===
        signals = keras.Input(shape=input_shape, name="signals")
        x = signals
        for conv, norm, relu in blocks:
            x = relu(norm(conv(x)))
        features = flatten(x)
        super().__init__(inputs=signals, outputs=features, dtype=dtype, **kwargs)

        # === Config ===
        self.signal_shape = input_shape
        self.filters = filters
        self.kernel_sizes = kernel_sizes
        self.strides = strides

    @property
    def output_length(self) -> int:
        """Length of the final feature map before flattening."""
        return encoder_output_length(self.signal_shape[0], self.kernel_sizes, self.strides)

    @property
    def num_features(self) -> int:
        """Size of the flattened output, `output_length * filters`."""
        return self.output_length * self.filters

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "input_shape": list(self.signal_shape),
            "filters": self.filters,
            "kernel_sizes": list(self.kernel_sizes),
            "strides": list(self.strides),
        }

    @classmethod
    def from_config(cls, config: dict) -> Encoder:
        return cls(**config)
