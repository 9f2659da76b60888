"""The contrastive augmentations as a Keras layer (in-graph, any backend)."""

from __future__ import annotations

import keras
from keras import ops

from mpikeras.data.augment import NUM_VIEW_UNIFORMS, augment, keras_ops
from mpikeras.models._arguments import ordered_range, probability

_PROBABILITIES = ("polarity_probability", "noise_probability", "gain_probability")
_RANGES = ("noise_ratio_db", "gain_db")


@keras.saving.register_keras_serializable(package="mpikeras")
class SignalAugmentation(keras.layers.Layer):
    """Polarity inversion, additive noise and gain on (B, V, C) signals, in training only.

    The same formulas as the input pipelines (`mpikeras.data.augment.augment`),
    drawn with `keras.random` from the layer's seed generator.

    Example:

    >>> layer = SignalAugmentation(seed=1)
    >>> tuple(layer(np.ones((2, 96, 2), "float32"), training=True).shape)
    (2, 96, 2)

    The defaults are the paper's (CLMR's) values, which
    `mpikeras.config.AugmentationConfig` repeats.

    Args:
        polarity_probability: float. Probability of multiplying a view by -1.
            Defaults to `0.5`.
        noise_probability: float. Probability of adding white Gaussian
            noise. Defaults to `0.5`.
        noise_ratio_db: pair of floats. Range of the noise-to-signal ratio
            r of standard deviations, in dB: the noise has standard
            deviation `10 ** (r / 20) * std(signal)`. Defaults to
            `(-25.0, -15.0)`.
        gain_probability: float. Probability of a gain. Defaults to `0.5`.
        gain_db: pair of floats. Range of the gain g in dB: the signal is
            multiplied by `10 ** (g / 20)`. Defaults to `(-20.0, -1.0)`.
        seed: int. Seed of the layer's random draws. Defaults to `None`.
        **kwargs: `name`, `dtype`, passed to `keras.layers.Layer`.

    Raises:
        ConfigError: if a probability is not in [0, 1] or a range is not
            `[low, high]` with `low <= high`.
    """

    def __init__(
        self,
        polarity_probability: float = 0.5,
        noise_probability: float = 0.5,
        noise_ratio_db: tuple[float, float] = (-25.0, -15.0),
        gain_probability: float = 0.5,
        gain_db: tuple[float, float] = (-20.0, -1.0),
        seed: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.polarity_probability = probability("polarity_probability", polarity_probability)
        self.noise_probability = probability("noise_probability", noise_probability)
        self.noise_ratio_db = ordered_range("noise_ratio_db", noise_ratio_db)
        self.gain_probability = probability("gain_probability", gain_probability)
        self.gain_db = ordered_range("gain_db", gain_db)
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
        return ops.cast(augment(x, uniforms, normals, self, keras_ops()), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({name: getattr(self, name) for name in _PROBABILITIES})
        config.update({name: list(getattr(self, name)) for name in _RANGES})
        config["seed"] = self.seed
        return config
