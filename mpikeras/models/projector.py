"""The projection head of contrastive pretraining (paper section II)."""

from __future__ import annotations

import keras

from mpikeras.models._arguments import positive_int


@keras.saving.register_keras_serializable(package="mpikeras")
class ProjectionHead(keras.layers.Layer):
    """Projection head: Dense, ReLU, Dense.

    Maps encoder features to the space where NT-Xent compares views
    (SimCLR's g(.)): a hidden Dense layer with a ReLU, then a linear Dense
    layer with `output_units` outputs (64 in the paper). Only pretraining
    uses it; the downstream heads read the encoder's features.

    Example:

    >>> head = ProjectionHead(hidden_units=256, output_units=64)
    >>> z = head(np.zeros((4, 3840), "float32"))  # (4, 64)

    Args:
        hidden_units: int. Width of the hidden layer (the paper does not
            give it). Defaults to `256`.
        output_units: int. Size of the projections. Defaults to `64`, the
            paper's.
        **kwargs: `name`, `dtype`, `trainable`, passed to `keras.layers.Layer`.

    Raises:
        ConfigError: if a width is not a positive integer.
    """

    def __init__(
        self,
        hidden_units: int = 256,
        output_units: int = 64,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.hidden_units = positive_int("hidden_units", hidden_units)
        self.output_units = positive_int("output_units", output_units)
        self.hidden = keras.layers.Dense(self.hidden_units, dtype=self.dtype_policy, name="hidden")
        self.activation = keras.layers.ReLU(dtype=self.dtype_policy, name="relu")
        self.output_dense = keras.layers.Dense(
            self.output_units, dtype=self.dtype_policy, name="output_dense"
        )

    def build(self, input_shape) -> None:
        self.hidden.build(input_shape)
        hidden_shape = self.hidden.compute_output_shape(input_shape)
        self.activation.build(hidden_shape)
        self.output_dense.build(hidden_shape)

    def call(self, inputs):
        return self.output_dense(self.activation(self.hidden(inputs)))

    def compute_output_shape(self, input_shape) -> tuple:
        return (*tuple(input_shape)[:-1], self.output_units)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"hidden_units": self.hidden_units, "output_units": self.output_units})
        return config
