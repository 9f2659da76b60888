"""Both task heads on one shared encoder, as one model (joint training).

A functional model with two inputs and two outputs, `{"recovery": signal,
"reconstruction": signal} -> {"recovery": neighbour signal,
"reconstruction": concentration image}`, whose two heads are ordinary
`SignalRecovery` and `DirectReconstruction` models on the same encoder
instance. It is saved with that encoder once, so a loaded model (a resumed
joint run's checkpoint) still trains one encoder for both heads.
"""

from __future__ import annotations

import keras

from mpikeras.models.heads import DirectReconstruction, SignalRecovery

#: Keys of the two inputs and outputs of a `JointModel`.
HEADS = ("recovery", "reconstruction")


def _head_config(head: keras.Model) -> dict:
    return {key: value for key, value in head.get_config().items() if key != "encoder"}


@keras.saving.register_keras_serializable(package="mpikeras")
class JointModel(keras.Model):
    """A recovery and a reconstruction head on one encoder, trained together.

    Example:

    >>> encoder = Encoder(input_shape=(1632, 2))                           # doctest: +SKIP
    >>> joint = JointModel(SignalRecovery(encoder), DirectReconstruction(encoder))  # doctest: +SKIP
    >>> joint.compile("adam", {"recovery": "mse", "reconstruction": "mse"})  # doctest: +SKIP

    Args:
        recovery: the recovery head model.
        reconstruction: the reconstruction head model, on the same encoder.

    Raises:
        ValueError: if the two heads sit on different encoders.
    """

    def __init__(
        self, recovery: SignalRecovery, reconstruction: DirectReconstruction, **kwargs
    ) -> None:
        if recovery.encoder is not reconstruction.encoder:
            raise ValueError("the recovery and reconstruction heads must share one encoder")
        # === Functional model ===
        shape = tuple(recovery.encoder.inputs[0].shape[1:])
        inputs = {name: keras.Input(shape=shape, name=name) for name in HEADS}
        outputs = {
            "recovery": recovery(inputs["recovery"]),
            "reconstruction": reconstruction(inputs["reconstruction"]),
        }
        kwargs.setdefault("name", "joint_heads")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        # === Config ===
        self.recovery = recovery
        self.reconstruction = reconstruction

    def get_config(self) -> dict:
        return {
            "encoder": keras.saving.serialize_keras_object(self.recovery.encoder),
            "recovery": _head_config(self.recovery),
            "reconstruction": _head_config(self.reconstruction),
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
        recovery = SignalRecovery(encoder, **config.pop("recovery"))
        reconstruction = DirectReconstruction(encoder, **config.pop("reconstruction"))
        return cls(recovery, reconstruction, **config)
