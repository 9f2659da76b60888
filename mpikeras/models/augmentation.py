"""The contrastive augmentations as a Keras layer (in-graph, any backend)."""

from __future__ import annotations

import keras
from keras import ops

from mpikeras.config import AugmentationConfig
from mpikeras.data.augment import NUM_VIEW_UNIFORMS, augment, keras_ops


@keras.saving.register_keras_serializable(package="mpikeras")
class SignalAugmentation(keras.layers.Layer):
    """Polarity inversion, additive noise and gain on (B, V, C) signals, in training only.

    The same formulas as the input pipelines (`mpikeras.data.augment.augment`),
    drawn with `keras.random` from the layer's seed generator.

    Example:

    >>> layer = SignalAugmentation(seed=1)
    >>> layer(np.ones((2, 96, 2), "float32"), training=True).shape
    (2, 96, 2)

    Args:
        polarity_probability, noise_probability, noise_ratio_db,
        gain_probability, gain_db: as in `AugmentationConfig`.
        seed: seed of the layer's random draws.
    """

    def __init__(
        self,
        polarity_probability: float = AugmentationConfig.polarity_probability,
        noise_probability: float = AugmentationConfig.noise_probability,
        noise_ratio_db: tuple[float, float] = AugmentationConfig.noise_ratio_db,
        gain_probability: float = AugmentationConfig.gain_probability,
        gain_db: tuple[float, float] = AugmentationConfig.gain_db,
        seed: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.config = AugmentationConfig(
            polarity_probability=polarity_probability,
            noise_probability=noise_probability,
            noise_ratio_db=tuple(noise_ratio_db),
            gain_probability=gain_probability,
            gain_db=tuple(gain_db),
        )
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = False

    def call(self, inputs, training=None):
        if not training:
            return inputs
        x = ops.cast(inputs, "float32")
        batch = ops.shape(x)[0]
        uniforms = keras.random.uniform((batch, NUM_VIEW_UNIFORMS), seed=self.seed_generator)
        normals = keras.random.normal(ops.shape(x), seed=self.seed_generator)
        return ops.cast(augment(x, uniforms, normals, self.config, keras_ops()), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({**self.config.to_dict(), "seed": self.seed})
        return config
