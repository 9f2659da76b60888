"""Task heads on the shared encoder: SM recovery and direct reconstruction.

Functional-model subclasses in the keras-hub task style: each takes an
encoder instance (pretrained or fresh) and builds its head on it, so the
same encoder serves both tasks. The normalisation scale of the training
data travels in each model's config (`normalization_scale`), so a saved
model knows the unit of its inputs and outputs. The defaults are the
paper's values (and ours where the paper is silent), which
`mpikeras.config.RecoveryHeadConfig` and `ReconstructionHeadConfig` repeat.
"""

from __future__ import annotations

import keras


def _signal_shape(encoder: keras.Model) -> tuple[int, int]:
    shape = tuple(encoder.inputs[0].shape[1:])
    if len(shape) != 2 or None in shape:
        raise ValueError(f"the encoder must take (samples, channels) inputs; it takes {shape}")
    return shape


class _Head(keras.Model):
    """Shared config handling: the encoder is serialised with the head."""

    def _remember(self, encoder: keras.Model, normalization_scale: float | None, **config) -> None:
        self.encoder = encoder
        self.normalization_scale = normalization_scale
        self._head_config = config

    def get_config(self) -> dict:
        return {
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "normalization_scale": self.normalization_scale,
            "name": self.name,
            "trainable": self.trainable,
            **self._head_config,
        }

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)


def _recovery_decoder(features, signal_shape, hidden_units, filters, kernel_size, raw=()):
    """Dense, ReLU, Dense, reshape, Conv1D, ReLU, Conv1D; `raw` signals join before the convs."""
    samples, channels = signal_shape
    x = keras.layers.Dense(hidden_units, name="head_dense_1")(features)
    x = keras.layers.ReLU(name="head_relu_1")(x)
    x = keras.layers.Dense(samples * channels, name="head_dense_2")(x)
    x = keras.layers.Reshape((samples, channels), name="head_reshape")(x)
    if raw:
        x = keras.layers.Concatenate(name="head_with_inputs")([x, *raw])
    x = keras.layers.Conv1D(filters, kernel_size, padding="same", name="head_conv_1")(x)
    x = keras.layers.ReLU(name="head_relu_2")(x)
    return keras.layers.Conv1D(channels, 1, name="head_conv_2", dtype="float32")(x)


@keras.saving.register_keras_serializable(package="mpikeras")
class SignalRecovery(_Head):
    """Predict the signal of the neighbouring voxel in y from one SM column.

    Paper section II: encoder, then Dense, ReLU, Dense, reshape to the signal,
    Conv1D(8, kernel 3), ReLU, Conv1D(kernel 1) back to the input channels.
    Convolutions use "same" padding so the output has the input's shape
    (the paper does not say). Trained with MSE.

    Example:

    >>> model = SignalRecovery(Encoder(input_shape=(1632, 2)))   # doctest: +SKIP
    >>> model.compile(optimizer="adam", loss="mse")             # doctest: +SKIP

    Args:
        encoder: the (pretrained or fresh) encoder, input (V, C).
        hidden_units: int. Width of the first Dense layer (the paper is
            silent). Defaults to `512`.
        filters: int. Filters of the first Conv1D. Defaults to `8`.
        kernel_size: int. Kernel of the first Conv1D. Defaults to `3`.
        normalization_scale: float. Scale the training signals were divided
            by. Defaults to `None` (unknown).
        **kwargs: `name`, `trainable`, passed to `keras.Model`.
    """

    def __init__(
        self,
        encoder: keras.Model,
        hidden_units: int = 512,
        filters: int = 8,
        kernel_size: int = 3,
        normalization_scale: float | None = None,
        **kwargs,
    ) -> None:
        # === Functional model ===
        signal_shape = _signal_shape(encoder)
        inputs = keras.Input(shape=signal_shape, name="signal")
        outputs = _recovery_decoder(
            encoder(inputs), signal_shape, hidden_units, filters, kernel_size
        )
        kwargs.setdefault("name", "signal_recovery")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        # === Config ===
        self._remember(
            encoder,
            normalization_scale,
            hidden_units=hidden_units,
            filters=filters,
            kernel_size=kernel_size,
        )


@keras.saving.register_keras_serializable(package="mpikeras")
class BracketRecovery(_Head):
    """Predict a voxel's signal from the two measured voxels that bracket it in y.

    Beyond the paper: the shared encoder reads the lower and the upper
    neighbour and their features are concatenated and decoded as in the
    recovery head, except that the two measured signals join the decoded
    signal as extra channels before the convolutions, so these can combine
    the inputs locally in time. The result is a correction added to the
    linear interpolation `(lower + upper) / 2`: the model starts from the
    interpolation baseline and learns what it misses. The convolutions are
    wider than the paper's single-column head (32 filters, kernel 9), which
    measured better here (docs/results.md).

    Inputs are a dict `{"lower": (B, V, C), "upper": (B, V, C)}`.

    Args:
        encoder: the shared encoder.
        hidden_units: int. As in `SignalRecovery`. Defaults to `512`.
        filters: int. Filters of the first Conv1D. Defaults to `32`.
        kernel_size: int. Kernel of the first Conv1D. Defaults to `9`.
        normalization_scale: float. Scale the training signals were divided
            by. Defaults to `None` (unknown).
        **kwargs: `name`, `trainable`, passed to `keras.Model`.
    """

    def __init__(
        self,
        encoder: keras.Model,
        hidden_units: int = 512,
        filters: int = 32,
        kernel_size: int = 9,
        normalization_scale: float | None = None,
        **kwargs,
    ) -> None:
        # === Functional model ===
        signal_shape = _signal_shape(encoder)
        lower = keras.Input(shape=signal_shape, name="lower")
        upper = keras.Input(shape=signal_shape, name="upper")
        features = keras.layers.Concatenate(name="bracket_features")(
            [encoder(lower), encoder(upper)]
        )
        correction = _recovery_decoder(
            features, signal_shape, hidden_units, filters, kernel_size, raw=(lower, upper)
        )
        interpolation = keras.layers.Average(name="linear_interpolation", dtype="float32")(
            [lower, upper]
        )
        outputs = keras.layers.Add(name="prediction", dtype="float32")([interpolation, correction])
        kwargs.setdefault("name", "bracket_recovery")
        super().__init__(inputs={"lower": lower, "upper": upper}, outputs=outputs, **kwargs)
        # === Config ===
        self._remember(
            encoder,
            normalization_scale,
            hidden_units=hidden_units,
            filters=filters,
            kernel_size=kernel_size,
        )


@keras.saving.register_keras_serializable(package="mpikeras")
class DirectReconstruction(_Head):
    """Reconstruct a concentration image directly from a voltage signal.

    Paper section II: encoder, Dense(Ny * Nx), ELU(0.1), reshape to
    (Ny, Nx), 2 x [Conv2D(8, kernel 3), ELU(0.1)]. Choices where the paper
    is silent: "same" padding, and a final linear 1 x 1 Conv2D to one
    concentration channel. Trained with MSE against the concentration
    image (in units of the delta sample's concentration).

    Args:
        encoder: the (pretrained or fresh) encoder, input (V, C).
        image_shape: pair of ints. (Ny, Nx) of the output image. Defaults
            to the paper's `(19, 19)`.
        filters: int. Filters of the two Conv2D layers. Defaults to `8`.
        kernel_size: int. Their kernel size. Defaults to `3`.
        elu_alpha: float. ELU alpha. Defaults to `0.1`.
        normalization_scale: float. Scale the training signals were divided
            by. Defaults to `None` (unknown).
        **kwargs: `name`, `trainable`, passed to `keras.Model`.
    """

    def __init__(
        self,
        encoder: keras.Model,
        image_shape: tuple[int, int] = (19, 19),
        filters: int = 8,
        kernel_size: int = 3,
        elu_alpha: float = 0.1,
        normalization_scale: float | None = None,
        **kwargs,
    ) -> None:
        # === Functional model ===
        ny, nx = (int(n) for n in image_shape)
        inputs = keras.Input(shape=_signal_shape(encoder), name="signal")
        x = keras.layers.Dense(ny * nx, name="head_dense")(encoder(inputs))
        x = keras.layers.ELU(elu_alpha, name="head_elu_0")(x)
        x = keras.layers.Reshape((ny, nx, 1), name="head_reshape")(x)
        for i in (1, 2):
            x = keras.layers.Conv2D(filters, kernel_size, padding="same", name=f"head_conv_{i}")(x)
            x = keras.layers.ELU(elu_alpha, name=f"head_elu_{i}")(x)
        outputs = keras.layers.Conv2D(1, 1, name="concentration", dtype="float32")(x)
        kwargs.setdefault("name", "direct_reconstruction")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        # === Config ===
        self._remember(
            encoder,
            normalization_scale,
            image_shape=(ny, nx),
            filters=filters,
            kernel_size=kernel_size,
            elu_alpha=elu_alpha,
        )
