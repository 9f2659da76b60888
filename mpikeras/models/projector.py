"""The projection head of contrastive pretraining (paper section II)."""

from __future__ import annotations

from numbers import Integral

import keras

from mpikeras.config import ProjectorConfig
from mpikeras.errors import ConfigError


def _check_units(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ConfigError(name, f"expected a positive integer, received {name}={value!r}")
    return int(value)


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
        hidden_units: int. Width of the hidden layer. Defaults to
            `ProjectorConfig.hidden_units`.
        output_units: int. Size of the projections. Defaults to
            `ProjectorConfig.output_units`.
        **kwargs: `name`, `dtype`, `trainable`, passed to `keras.layers.Layer`.

    Raises:
        ConfigError: if a width is not a positive integer.
    """

    def __init__(
        self,
        hidden_units: int = ProjectorConfig.hidden_units,
        output_units: int = ProjectorConfig.output_units,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.hidden_units = _check_units("hidden_units", hidden_units)
        self.output_units = _check_units("output_units", output_units)
        self.hidden = keras.layers.Dense(self.hidden_units, dtype=self.dtype_policy, name="hidden")
        self.activation = keras.layers.ReLU(dtype=self.dtype_policy, name="relu")
        self.output_dense = keras.layers.Dense(
            self.output_units, dtype=self.dtype_policy, name="output_dense"
        )

    @classmethod
    def from_projector_config(cls, config: ProjectorConfig, **kwargs) -> ProjectionHead:
        """Build a projection head from a `ProjectorConfig`.

        Args:
            config: `ProjectorConfig`. Hidden and output widths.
            **kwargs: further constructor arguments (`name`, `dtype`).

        Returns:
            A `ProjectionHead`.
        """
        return cls(hidden_units=config.hidden_units, output_units=config.output_units, **kwargs)

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
