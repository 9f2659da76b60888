"""Backend-specific train and test steps of `SimCLR`: the one place for them.

Keras 3 runs a custom `train_step` differently on each backend (Keras guides
"Customizing what happens in `fit()`" with TensorFlow, JAX and PyTorch):

- TensorFlow: a `tf.GradientTape` records the forward pass and
  `optimizer.apply` updates the trainable variables in place.
- PyTorch: `zero_grad`, `loss.backward()`, then `optimizer.apply` with the
  variables' `.grad` inside `torch.no_grad()`.
- JAX: stateless. `train_step(state, data)` receives the values of the
  trainable, non-trainable (BatchNorm moving statistics), optimizer and
  metric variables, and returns the new ones; nothing is assigned in place.

Everything else (the forward pass `model(x)`, the loss and accuracy of
`model.compute_contrastive_loss`) is backend-agnostic and lives in `SimCLR`.
Each backend module is imported inside its own step only, so training on
JAX or PyTorch never imports TensorFlow.

Data-parallel training (`mpikeras.training.distribution`) needs one more
backend branch, `gather_across_replicas`: under `tf.distribute` each replica
holds only its share of the batch, so the projections of all replicas are
gathered before NT-Xent. JAX runs the step on the global arrays and needs
nothing.
"""

from __future__ import annotations

import keras
from keras import ops


def _views(data):
    """The model input of a batch: `data` is `x`, `(x,)` or `(x, y[, w])`."""
    x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
    return x


def _batch_size(projections):
    """Samples per view, as a float32 weight for the metric means."""
    return ops.cast(ops.shape(projections)[0] // 2, "float32")


def _update_metrics(model, loss, accuracy, batch_size) -> dict:
    model.loss_tracker.update_state(loss, sample_weight=batch_size)
    model.accuracy_tracker.update_state(accuracy, sample_weight=batch_size)
    return {metric.name: metric.result() for metric in model.metrics}


# --- TensorFlow ---------------------------------------------------------------


def tensorflow_train_step(model, data) -> dict:
    import tensorflow as tf

    x = _views(data)
    # Under tf.distribute every replica computes the same global-batch loss L
    # (see gather_across_replicas). Each divides it by the number of replicas
    # R: the all-gather's gradient sums the R upstream gradients (R x dL/dz / R
    # for its own rows) and the optimizer sums the replicas' weight gradients,
    # which adds up to dL/dw on one device.
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    with tf.GradientTape() as tape:
        projections = model(x, training=True)
        loss, accuracy = model.compute_contrastive_loss(projections)
        scaled_loss = model.optimizer.scale_loss(loss / replicas)
    weights = model.trainable_weights
    gradients = tape.gradient(scaled_loss, weights)
    model.optimizer.apply(gradients, weights)
    return _update_metrics(model, loss, accuracy, _batch_size(projections))


def _tensorflow_gather(tensors):
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return tensors
    # all_gather has a gradient: the sum over replicas of their upstream
    # gradients, sliced back to this replica's rows. Its collective has no
    # bfloat16 kernel, so mixed-precision values travel as float32 (NT-Xent
    # casts to float32 anyway).
    return tuple(
        context.all_gather(tf.cast(tensor, "float32") if tensor.dtype.is_floating else tensor, 0)
        for tensor in tensors
    )


def tensorflow_test_step(model, data) -> dict:
    x = _views(data)
    projections = model(x, training=False)
    loss, accuracy = model.compute_contrastive_loss(projections)
    return _update_metrics(model, loss, accuracy, _batch_size(projections))


# --- PyTorch ------------------------------------------------------------------


def torch_train_step(model, data) -> dict:
    import torch

    x = _views(data)
    model.zero_grad()
    projections = model(x, training=True)
    loss, accuracy = model.compute_contrastive_loss(projections)
    model.optimizer.scale_loss(loss).backward()
    weights = list(model.trainable_weights)
    gradients = [weight.value.grad for weight in weights]
    with torch.no_grad():
        model.optimizer.apply(gradients, weights)
    return _update_metrics(model, loss, accuracy, _batch_size(projections))


def torch_test_step(model, data) -> dict:
    import torch

    x = _views(data)
    with torch.no_grad():
        projections = model(x, training=False)
        loss, accuracy = model.compute_contrastive_loss(projections)
    return _update_metrics(model, loss, accuracy, _batch_size(projections))


# --- JAX ----------------------------------------------------------------------


def _stateless_metrics(model, metrics_variables, loss, accuracy, batch_size):
    """Update the metric variables' values without assigning them."""
    values = {model.loss_tracker.name: loss, model.accuracy_tracker.name: accuracy}
    logs = {}
    new_variables = []
    for metric in model.metrics:
        start = len(new_variables)
        variables = metrics_variables[start : start + len(metric.variables)]
        if metric.name in values:
            variables = metric.stateless_update_state(
                variables, values[metric.name], sample_weight=batch_size
            )
        logs[metric.name] = metric.stateless_result(variables)
        new_variables.extend(variables)
    return logs, new_variables


def jax_train_step(model, state, data):
    import jax

    trainable, non_trainable, optimizer_variables, metrics_variables = state
    x = _views(data)

    def scaled_loss(trainable, non_trainable):
        projections, non_trainable = model.stateless_call(
            trainable, non_trainable, x, training=True
        )
        loss, accuracy = model.compute_contrastive_loss(projections)
        # Loss scaling (mixed_float16) reads the optimizer's scale variable.
        mapping = list(zip(model.optimizer.variables, optimizer_variables, strict=True))
        with keras.StatelessScope(state_mapping=mapping):
            scaled = model.optimizer.scale_loss(loss)
        return scaled, (loss, accuracy, _batch_size(projections), non_trainable)

    gradient_fn = jax.value_and_grad(scaled_loss, has_aux=True)
    (_, (loss, accuracy, batch_size, non_trainable)), gradients = gradient_fn(
        trainable, non_trainable
    )
    trainable, optimizer_variables = model.optimizer.stateless_apply(
        optimizer_variables, gradients, trainable
    )
    logs, metrics_variables = _stateless_metrics(
        model, metrics_variables, loss, accuracy, batch_size
    )
    return logs, (trainable, non_trainable, optimizer_variables, metrics_variables)


def jax_test_step(model, state, data):
    trainable, non_trainable, metrics_variables = state
    x = _views(data)
    projections, non_trainable = model.stateless_call(trainable, non_trainable, x, training=False)
    loss, accuracy = model.compute_contrastive_loss(projections)
    logs, metrics_variables = _stateless_metrics(
        model, metrics_variables, loss, accuracy, _batch_size(projections)
    )
    return logs, (trainable, non_trainable, metrics_variables)


# --- Dispatch -----------------------------------------------------------------

_TRAIN_STEPS = {
    "tensorflow": tensorflow_train_step,
    "torch": torch_train_step,
    "jax": jax_train_step,
}
_TEST_STEPS = {
    "tensorflow": tensorflow_test_step,
    "torch": torch_test_step,
    "jax": jax_test_step,
}


def _step_for_backend(steps: dict):
    backend = keras.backend.backend()
    if backend not in steps:
        raise NotImplementedError(
            f"SimCLR trains on the backends {sorted(steps)}; the Keras backend is {backend!r}. "
            "Set KERAS_BACKEND to one of them."
        )
    return steps[backend]


def gather_across_replicas(*tensors):
    """The tensors of every replica, concatenated along the batch axis, in replica order.

    Under a `tf.distribute` strategy with several replicas, each replica
    holds its share of the global batch; this all-gathers each tensor, so
    every replica sees the global batch (the same rows in the same order).
    Gradients flow back to each replica's own rows. Anywhere else (one
    device, JAX, whose steps see the global arrays, PyTorch) the tensors
    are returned unchanged.

    Args:
        *tensors: tensors of shape `(b, ...)`, `b` this replica's share.

    Returns:
        A tuple of tensors of shape `(B, ...)`, `B` the global batch;
        floating tensors gathered are float32.
    """
    if keras.backend.backend() != "tensorflow":
        return tensors
    return _tensorflow_gather(tensors)


def train_step(model, *args):
    """One training step of `model` on the current backend.

    Args:
        model: a `SimCLR` model.
        *args: `(data,)` on TensorFlow and PyTorch, `(state, data)` on JAX.

    Returns:
        The logs `{metric name: value}`; on JAX `(logs, new_state)`.
    """
    return _step_for_backend(_TRAIN_STEPS)(model, *args)


def test_step(model, *args):
    """One evaluation step of `model` on the current backend (see `train_step`)."""
    return _step_for_backend(_TEST_STEPS)(model, *args)
