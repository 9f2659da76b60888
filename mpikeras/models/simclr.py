"""SimCLR: contrastive pretraining of the encoder (paper section II)."""

from __future__ import annotations

from collections.abc import Mapping

import keras
from keras import ops

from mpikeras.losses.nt_xent import (
    DEFAULT_TEMPERATURE,
    _check_temperature,
    contrastive_accuracy,
    nt_xent,
    split_views,
)
from mpikeras.models import _backend_steps

#: Keys of the two augmented views in a SimCLR input dict.
VIEW_KEYS: tuple[str, str] = ("view_a", "view_b")


def _unpack_views(inputs):
    if not isinstance(inputs, Mapping) or set(inputs) != set(VIEW_KEYS):
        if isinstance(inputs, Mapping):
            received = f"a dict with the keys {sorted(inputs)}"
        elif hasattr(inputs, "shape"):
            received = f"a tensor of shape {tuple(inputs.shape)}"
        else:
            received = f"an object of type {type(inputs).__name__}"
        raise ValueError(
            "SimCLR expects its input as a dict with the keys 'view_a' and 'view_b', "
            f"each of shape (batch, samples, channels). Received {received}."
        )
    return inputs["view_a"], inputs["view_b"]


@keras.saving.register_keras_serializable(package="mpikeras")
class SimCLR(keras.Model):
    """SimCLR: an encoder and a projection head trained with NT-Xent.

    Two augmented views of each signal go through the same encoder and
    projection head; NT-Xent pulls the two projections of a signal together
    and pushes those of the other signals in the batch apart (Chen et al.,
    2020; CLMR for audio). After pretraining, `model.encoder` is the part
    the downstream heads reuse.

    Input: a dict `{"view_a": (B, V, C), "view_b": (B, V, C)}`, given to
    `fit`/`evaluate` as `x` alone (a `tf.data.Dataset` or
    `keras.utils.PyDataset` yielding such dicts, or a dict of NumPy arrays).
    `call` returns the projections of both views stacked along the batch
    axis, shape `(2B, D)`: view a in the first half, view b in the second,
    which is what `NTXent` takes as `y_pred`. Both views go through the
    encoder as one batch of 2B, so BatchNorm normalises with statistics of
    both views together, as in SimCLR's reference implementation.

    Training uses its own `train_step` and `test_step` (backend-specific
    code in `mpikeras.models._backend_steps`), so compile with an optimizer
    only. The logs hold `loss` (NT-Xent) and `top1_accuracy` (the fraction
    of the 2B anchors whose most similar other embedding is their
    positive); with validation data also `val_loss` and `val_top1_accuracy`.
    Losses added by layers (`add_loss`, regularizers) are not included.

    Example:

    >>> encoder = Encoder(input_shape=(192, 2), filters=16, strides=(2, 2, 2, 2, 2))
    >>> model = SimCLR(encoder, ProjectionHead(hidden_units=32, output_units=16))
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-4))
    >>> views = {"view_a": signals + noise_a, "view_b": signals + noise_b}
    >>> history = model.fit(views, batch_size=16, epochs=10)

    Args:
        encoder: `keras.Model`. Maps signals `(B, V, C)` to features
            `(B, F)`; usually an `Encoder`.
        projector: `keras.layers.Layer`. Maps features to projections
            `(B, D)`; usually a `ProjectionHead`.
        temperature: float. NT-Xent temperature. Defaults to `0.5`.
        **kwargs: `name`, `trainable`, passed to `keras.Model`.

    Raises:
        ConfigError: if `temperature` is not a positive number.
        TypeError: if the encoder or projector is not a Keras layer.
    """

    def __init__(
        self,
        encoder: keras.Model,
        projector: keras.layers.Layer,
        temperature: float = DEFAULT_TEMPERATURE,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        for name, layer in (("encoder", encoder), ("projector", projector)):
            if not isinstance(layer, keras.layers.Layer):
                raise TypeError(
                    f"Expected `{name}` to be a Keras layer or model. "
                    f"Received {name}={layer!r} of type {type(layer).__name__}."
                )
        self.encoder = encoder
        self.projector = projector
        self.temperature = _check_temperature(temperature)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name="top1_accuracy")
        if self.encoder.built:
            self.build()

    def build(self, input_shape=None) -> None:
        """Build the projector on the encoder's output shape.

        Args:
            input_shape: the input dict's shapes; only needed when the
                encoder is not built yet.
        """
        view_shape = None
        if isinstance(input_shape, Mapping) and VIEW_KEYS[0] in input_shape:
            view_shape = tuple(input_shape[VIEW_KEYS[0]])
        if view_shape is None and self.encoder.built:
            view_shape = tuple(self.encoder.input_shape)
        if view_shape is None:
            raise ValueError(
                "SimCLR needs a built encoder, or the input shapes "
                f"{{'view_a': ..., 'view_b': ...}} to build it. Received {input_shape!r}."
            )
        if not self.encoder.built:
            self.encoder.build(view_shape)
        if not self.projector.built:
            self.projector.build(self.encoder.compute_output_shape(view_shape))
        self.built = True

    @property
    def metrics(self) -> list:
        return [self.loss_tracker, self.accuracy_tracker]

    def call(self, inputs, training=None):
        """Project both views; returns the projections stacked, shape `(2B, D)`."""
        view_a, view_b = _unpack_views(inputs)
        signals = ops.concatenate([view_a, view_b], axis=0)
        features = self.encoder(signals, training=training)
        return self.projector(features, training=training)

    def compute_contrastive_loss(self, projections):
        """NT-Xent loss and top-1 accuracy of stacked projections.

        The one place the loss is computed: the train and test steps of every
        backend call it. In data-parallel training on TensorFlow each replica
        gathers the projections of all replicas first, so the negatives are
        those of the whole global batch, as on one device (JAX steps see
        the global batch already).

        Args:
            projections: tensor of shape `(2b, D)`, the output of `call`
                (`b` samples on this replica).

        Returns:
            A tuple `(loss, top1_accuracy)` of float32 scalars over the
            global batch.
        """
        z_a, z_b = _backend_steps.gather_across_replicas(*split_views(projections))
        return nt_xent(z_a, z_b, self.temperature), contrastive_accuracy(z_a, z_b)

    def train_step(self, *args):
        """One optimizer step; `(data)`, or `(state, data)` on JAX."""
        return _backend_steps.train_step(self, *args)

    def test_step(self, *args):
        """One evaluation step; `(data)`, or `(state, data)` on JAX."""
        return _backend_steps.test_step(self, *args)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "projector": keras.saving.serialize_keras_object(self.projector),
                "temperature": self.temperature,
            }
        )
        return config

    @classmethod
    def from_config(cls, config: dict) -> SimCLR:
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        config["projector"] = keras.saving.deserialize_keras_object(config["projector"])
        return cls(**config)
