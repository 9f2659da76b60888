"""Fine-tuning with an additional contrastive loss (the paper's "additional NT-Xent")."""

from __future__ import annotations

import keras
from keras import ops

from mpikeras.losses.nt_xent import DEFAULT_TEMPERATURE, _check_temperature, nt_xent
from mpikeras.models.augmentation import SignalAugmentation


@keras.saving.register_keras_serializable(package="mpikeras")
class ContrastiveRegularized(keras.Model):
    """A task model trained with its loss plus `weight` times NT-Xent on its encoder.

    In training, two augmented views of each input signal pass through the
    task model's encoder and a projector; their NT-Xent loss, times `weight`,
    is added with `add_loss`, so Keras' own train step (every backend) sums
    it with the task loss. At inference the model is the task model.

    Example:

    >>> task = SignalRecovery(encoder)                                  # doctest: +SKIP
    >>> model = ContrastiveRegularized(task, ProjectionHead(), 0.1)     # doctest: +SKIP
    >>> model.compile(optimizer="adam", loss="mse")                     # doctest: +SKIP

    Args:
        task_model: a head model with an `encoder` attribute (SignalRecovery,
            BracketRecovery or DirectReconstruction).
        projector: projection head for the contrastive loss.
        weight: weight of the contrastive term.
        temperature: NT-Xent temperature.
        augmentation: the view augmentation layer.
    """

    def __init__(
        self,
        task_model: keras.Model,
        projector: keras.layers.Layer,
        weight: float = 0.1,
        temperature: float = DEFAULT_TEMPERATURE,
        augmentation: SignalAugmentation | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not weight >= 0:
            raise ValueError(
                f"Invalid value for argument `weight`. Expected >= 0. Received weight={weight}"
            )
        self.task_model = task_model
        self.projector = projector
        self.weight = float(weight)
        self.temperature = _check_temperature(temperature)
        self.augmentation = augmentation or SignalAugmentation()

    def build(self, input_shape=None) -> None:
        if not self.projector.built:
            self.projector.build(self.task_model.encoder.output_shape)
        self.built = True

    def call(self, inputs, training=None):
        outputs = self.task_model(inputs, training=training)
        if training and self.weight > 0:
            signal = inputs["lower"] if isinstance(inputs, dict) else inputs
            views = ops.concatenate(
                [
                    self.augmentation(signal, training=True),
                    self.augmentation(signal, training=True),
                ],
                axis=0,
            )
            z = self.projector(self.task_model.encoder(views, training=True), training=True)
            z_a, z_b = ops.split(z, 2, axis=0)
            self.add_loss(self.weight * nt_xent(z_a, z_b, self.temperature))
        return outputs

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "task_model": keras.saving.serialize_keras_object(self.task_model),
                "projector": keras.saving.serialize_keras_object(self.projector),
                "weight": self.weight,
                "temperature": self.temperature,
                "augmentation": keras.saving.serialize_keras_object(self.augmentation),
            }
        )
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        for key in ("task_model", "projector", "augmentation"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
