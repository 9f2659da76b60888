"""SimCLR: contrastive pretraining of the encoder (paper section II)."""

from __future__ import annotations

from collections.abc import Mapping

import keras
from keras import ops

from mpikeras.losses.nt_xent import (
    DEFAULT_TEMPERATURE,
    NTXent,
    contrastive_accuracy,
    gather_across_replicas,
    split_views,
)

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

    Training runs Keras' own train and test steps on every backend; the
    model overrides `compute_loss` (the `NTXent` loss of the projections,
    which gathers the negatives across replicas in data-parallel training)
    and `compute_metrics`, so compile with an optimizer only. The logs hold
    `loss` (NT-Xent) and `top1_accuracy` (the fraction of the 2B anchors
    whose most similar other embedding is their positive); with validation
    data also `val_loss` and `val_top1_accuracy`. Losses added by layers
    (`add_loss`, regularizers) are not included.

    Example:

    >>> from mpikeras.models import Encoder, ProjectionHead
    >>> encoder = Encoder(input_shape=(192, 2), filters=8, strides=(2, 2, 2, 2, 2))
    >>> model = SimCLR(encoder, ProjectionHead(hidden_units=16, output_units=8))
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
    >>> signals = np.random.default_rng(0).normal(size=(32, 192, 2)).astype("float32")
    >>> views = {"view_a": signals, "view_b": -signals}
    >>> history = model.fit(views, batch_size=16, epochs=2, verbose=0)
    >>> sorted(history.history)
    ['loss', 'top1_accuracy']

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
        self.contrastive_loss = NTXent(temperature)
        self.temperature = self.contrastive_loss.temperature
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

    def call(self, inputs, training=None):
        """Project both views; returns the projections stacked, shape `(2B, D)`."""
        view_a, view_b = _unpack_views(inputs)
        signals = ops.concatenate([view_a, view_b], axis=0)
        features = self.encoder(signals, training=training)
        return self.projector(features, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """NT-Xent of the stacked projections `y_pred` over the global batch.

        Keras' train and test steps call it on every backend. `x`, `y` and
        `sample_weight` are not used (SimCLR's targets are the views
        themselves); losses added by layers are not included.

        Args:
            x: the input views (unused).
            y: unused; SimCLR has no targets.
            y_pred: tensor of shape `(2b, D)`, the output of `call` (`b`
                samples on this replica).
            sample_weight: unused.
            training: unused.

        Returns:
            A float32 scalar: NT-Xent over the global batch, divided by the
            number of replicas under a `tf.distribute` strategy (Keras'
            convention; its loss tracker multiplies it back).
        """
        del x, y, sample_weight, training
        return self.contrastive_loss(None, y_pred)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update the top-1 accuracy over the global batch; return every metric's result.

        Args:
            x: the input views (unused).
            y: unused.
            y_pred: tensor of shape `(2b, D)`, the output of `call`.
            sample_weight: unused.

        Returns:
            The logs `{"loss": ..., "top1_accuracy": ...}`.
        """
        del x, y, sample_weight
        z_a, z_b = gather_across_replicas(*split_views(y_pred))
        batch_size = ops.cast(ops.shape(y_pred)[0] // 2, "float32")
        self.accuracy_tracker.update_state(contrastive_accuracy(z_a, z_b), sample_weight=batch_size)
        return self.get_metrics_result()

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
