"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR.

Chen et al., "A Simple Framework for Contrastive Learning of Visual
Representations", ICML 2020, eq. 1; the paper (section II) uses it with
temperature 0.5. Everything here is `keras.ops`, so it runs on every backend.
"""

from __future__ import annotations

import keras
from keras import ops

from mpikeras.errors import ConfigError

#: NT-Xent temperature tau, the paper's; `TrainingConfig.temperature` repeats it.
DEFAULT_TEMPERATURE: float = 0.5

# Logit given to an embedding's similarity with itself. A large finite number
# rather than -inf: -inf * 0 and inf - inf give NaN gradients.
_MASKED_LOGIT = -1e9

# Squared-norm floor of the L2 normalisation; keeps zero vectors finite.
_NORM_EPSILON = 1e-12


def _check_temperature(temperature: float) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        raise ConfigError(
            "temperature", f"expected a positive number, received temperature={temperature!r}"
        )
    if not temperature > 0:
        raise ConfigError(
            "temperature", f"expected a positive number, received temperature={temperature}"
        )
    return float(temperature)


def _logits_and_positives(z_a, z_b, temperature: float):
    """Masked similarity logits (2B, 2B) and each anchor's positive index (2B,)."""
    z_a = ops.cast(ops.convert_to_tensor(z_a), "float32")
    z_b = ops.cast(ops.convert_to_tensor(z_b), "float32")
    if len(z_a.shape) != 2 or len(z_b.shape) != 2:
        raise ValueError(
            "Expected two projections of shape (batch, dim). "
            f"Received shapes {tuple(z_a.shape)} and {tuple(z_b.shape)}."
        )
    z = ops.concatenate([z_a, z_b], axis=0)
    squared_norm = ops.sum(ops.square(z), axis=-1, keepdims=True)
    z = z * ops.rsqrt(ops.maximum(squared_norm, _NORM_EPSILON))
    logits = ops.matmul(z, ops.transpose(z)) / temperature

    batch = ops.shape(z_a)[0]
    is_self = ops.cast(ops.eye(2 * batch), "bool")
    logits = ops.where(is_self, ops.cast(_MASKED_LOGIT, "float32"), logits)

    index = ops.arange(batch, dtype="int32")
    positives = ops.concatenate([index + batch, index], axis=0)
    return logits, positives


def nt_xent_per_anchor(z_a, z_b, temperature: float = DEFAULT_TEMPERATURE):
    """NT-Xent of each of the 2B anchors, in float32.

    Anchor `i` of view a has the positive `i` of view b and the 2B - 2 other
    embeddings of both views as negatives; symmetrically for view b. The
    first B entries belong to the anchors of view a, the last B to view b.

    Args:
        z_a: tensor of shape `(B, D)`. Projections of the first views.
        z_b: tensor of shape `(B, D)`. Projections of the second views, row
            `i` the positive of row `i` of `z_a`.
        temperature: float. Temperature tau. Defaults to `0.5`.

    Returns:
        A float32 tensor of shape `(2B,)`.
    """
    temperature = _check_temperature(temperature)
    logits, positives = _logits_and_positives(z_a, z_b, temperature)
    positive_logits = ops.take_along_axis(logits, ops.expand_dims(positives, -1), axis=1)
    return ops.logsumexp(logits, axis=1) - ops.squeeze(positive_logits, axis=1)


def nt_xent(z_a, z_b, temperature: float = DEFAULT_TEMPERATURE):
    """NT-Xent contrastive loss of two batches of projections, in float32.

    The projections are L2-normalised and compared by cosine similarity
    divided by `temperature`. Each of the 2B embeddings is an anchor whose
    positive is the other view of the same sample and whose negatives are
    the other 2B - 2 embeddings; its loss is the cross-entropy of picking
    the positive among those 2B - 1 (computed with logsumexp, the similarity
    with itself masked out). The result is the mean over all 2B anchors.
    Inputs of any float dtype are cast to float32 first, so the loss is
    exact under mixed precision.

    Example:

    >>> z = keras.random.normal((8, 16), seed=1)
    >>> loss = nt_xent(z, z + 0.01, temperature=0.5)

    Reference: Chen et al., ICML 2020 (SimCLR), eq. 1.

    Args:
        z_a: tensor of shape `(B, D)`. Projections of the first views.
        z_b: tensor of shape `(B, D)`. Projections of the second views, row
            `i` the positive of row `i` of `z_a`.
        temperature: float. Temperature tau. Defaults to `0.5`.

    Returns:
        A float32 scalar tensor.

    Raises:
        ConfigError: if `temperature` is not a positive number.
        ValueError: if the projections are not rank 2.
    """
    return ops.mean(nt_xent_per_anchor(z_a, z_b, temperature))


def contrastive_accuracy(z_a, z_b):
    """Contrastive top-1 accuracy of two batches of projections.

    The fraction of the 2B anchors whose most cosine-similar other
    embedding is their positive (the other view of the same sample). No
    gradient flows through it; the temperature does not change it.

    Args:
        z_a: tensor of shape `(B, D)`. Projections of the first views.
        z_b: tensor of shape `(B, D)`. Projections of the second views.

    Returns:
        A float32 scalar tensor in [0, 1].

    Raises:
        ValueError: if the projections are not rank 2.
    """
    z_a = ops.stop_gradient(ops.convert_to_tensor(z_a))
    z_b = ops.stop_gradient(ops.convert_to_tensor(z_b))
    logits, positives = _logits_and_positives(z_a, z_b, temperature=1.0)
    hits = ops.equal(ops.cast(ops.argmax(logits, axis=1), "int32"), positives)
    return ops.mean(ops.cast(hits, "float32"))


def gather_across_replicas(*tensors):
    """The tensors of every replica, concatenated along the batch axis, in replica order.

    Under a `tf.distribute` strategy with several replicas (data-parallel
    training on TensorFlow, `mpikeras.training.distribution`), each replica
    holds its share of the global batch; this all-gathers each tensor, so
    every replica sees the global batch (the same rows in the same order)
    and NT-Xent compares each anchor with the negatives of the whole batch,
    as on one device. Gradients flow back to each replica's own rows: the
    all-gather's gradient is the sum over replicas of their upstream
    gradients, sliced to this replica's rows. Anywhere else (one device;
    JAX, whose steps see the global arrays; PyTorch) the tensors are
    returned unchanged.

    Args:
        *tensors: tensors of shape `(b, ...)`, `b` this replica's share.

    Returns:
        A tuple of tensors of shape `(B, ...)`, `B` the global batch;
        floating tensors gathered are float32.
    """
    if keras.backend.backend() != "tensorflow":
        return tensors
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return tensors
    # The collective has no bfloat16 kernel, so mixed-precision values travel
    # as float32 (NT-Xent casts to float32 anyway).
    return tuple(
        context.all_gather(tf.cast(tensor, "float32") if tensor.dtype.is_floating else tensor, 0)
        for tensor in tensors
    )


def split_views(projections):
    """Split projections stacked along the batch axis into the two views.

    Args:
        projections: tensor of shape `(2B, D)`, view a in the first half,
            view b in the second.

    Returns:
        A tuple `(z_a, z_b)` of two tensors of shape `(B, D)`.

    Raises:
        ValueError: if the tensor is not rank 2 or its static batch size is odd.
    """
    projections = ops.convert_to_tensor(projections)
    if len(projections.shape) != 2:
        raise ValueError(
            "Expected projections of shape (2 * batch, dim). "
            f"Received shape {tuple(projections.shape)}."
        )
    stacked = projections.shape[0]
    if stacked is not None and stacked % 2:
        raise ValueError(
            "Expected the two views stacked along the batch axis, an even number of "
            f"rows. Received {stacked} rows."
        )
    z_a, z_b = ops.split(projections, 2, axis=0)
    return z_a, z_b


@keras.saving.register_keras_serializable(package="mpikeras")
class NTXent(keras.losses.Loss):
    """NT-Xent (SimCLR) loss as a Keras `Loss`.

    The loss `SimCLR` trains with (`SimCLR.compute_loss`). The two views
    reach it through `y_pred`: the projections of both views stacked along
    the batch axis, shape `(2b, D)`, view a in the first half and view b in
    the second (what `SimCLR.call` returns). `y_true` is ignored; pass
    `None`. In data-parallel training on TensorFlow each replica first
    gathers the projections of all replicas (`gather_across_replicas`), so
    the negatives are those of the global batch of B samples; Keras' loss
    reduction then divides by the number of replicas, whose gradients the
    optimizer sums, which adds up to the gradient on one device. `call`
    returns the loss of each of the 2B anchors, so the default reduction
    `"sum_over_batch_size"` gives `nt_xent`'s mean and a `sample_weight`
    has shape `(2B,)`.

    Example:

    >>> z_a = keras.random.normal((8, 64), seed=1)
    >>> z_b = z_a + 0.1 * keras.random.normal((8, 64), seed=2)
    >>> loss = NTXent(temperature=0.5)(None, keras.ops.concatenate([z_a, z_b]))

    Reference: Chen et al., ICML 2020 (SimCLR), eq. 1.

    Args:
        temperature: float. Temperature tau. Defaults to `0.5`.
        reduction: str. Keras reduction over the 2B anchors. Defaults to
            `"sum_over_batch_size"`.
        name: str. Name of the loss. Defaults to `"nt_xent"`.
        dtype: ignored beyond Keras' conversion of the inputs; the loss is
            always computed in float32. Defaults to `None`.

    Raises:
        ConfigError: if `temperature` is not a positive number.
    """

    def __init__(
        self,
        temperature: float = DEFAULT_TEMPERATURE,
        reduction: str = "sum_over_batch_size",
        name: str = "nt_xent",
        dtype=None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.temperature = _check_temperature(temperature)

    def __call__(self, y_true, y_pred, sample_weight=None):
        # y_true is ignored; accept None, which Keras cannot convert to a tensor.
        if y_true is None:
            y_true = ops.zeros((), dtype=self.dtype)
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true, y_pred):
        z_a, z_b = gather_across_replicas(*split_views(y_pred))
        return nt_xent_per_anchor(z_a, z_b, self.temperature)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"temperature": self.temperature})
        return config
