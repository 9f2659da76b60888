"""Shared test helpers: one check of every Keras layer and model, tiny data.

`run_layer_test` and `run_model_test` check, in the manner of keras-hub's
`TestCase.run_layer_test`: a complete `get_config` (every named constructor
argument) that survives a round trip through JSON, an eager and a
symbolic call with the expected output shape, a `.keras` save and load
(with `safe_mode=True`) that gives the same outputs, optionally one `fit`
step that changes the weights, and optionally the `mixed_bfloat16` policy
(float32 variables, bfloat16 outputs).

`tiny_signals`, `NoisyViews` and `tiny_simclr` make the tiny contrastive
problem the SimCLR tests train on, in this process or in a subprocess.

Nothing here imports TensorFlow, so the helpers run where it is blocked.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import tree

# --- Checks of layers and models ----------------------------------------------


def _json_normalised(config: dict) -> Any:
    return json.loads(json.dumps(config))


def _to_numpy(structure):
    return tree.map_structure(keras.ops.convert_to_numpy, structure)


def _shapes(structure):
    return tree.map_structure(lambda x: tuple(x.shape), structure)


def _symbolic_inputs(input_data):
    return tree.map_structure(
        lambda x: keras.Input(shape=np.shape(x)[1:], dtype=str(np.asarray(x).dtype)), input_data
    )


def _map_shapes(fn, shape_structure):
    """Apply `fn` to each shape (a tuple of ints) in a dict or list of shapes."""
    if isinstance(shape_structure, dict):
        return {key: _map_shapes(fn, value) for key, value in shape_structure.items()}
    if isinstance(shape_structure, list):
        return [_map_shapes(fn, value) for value in shape_structure]
    return fn(tuple(shape_structure))


def _replace_batch(shape_structure):
    return _map_shapes(lambda shape: (None, *shape[1:]), shape_structure)


def run_serialization_test(instance) -> None:
    """`get_config` is complete, JSON-serialisable and survives `from_config`.

    Every named constructor argument must be a config key; the revived
    object must give the same config and, once built, the same weight
    shapes. Checks both the class's own `from_config` and Keras' generic
    `serialize_keras_object` / `deserialize_keras_object`, which is what
    nested objects and `.keras` files use.
    """
    config = instance.get_config()
    parameters = inspect.signature(type(instance).__init__).parameters.values()
    arguments = {p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD} - {"self"}
    missing = arguments - set(config)
    assert not missing, f"get_config() lacks the constructor arguments {sorted(missing)}"

    normalised = _json_normalised(config)
    revived = instance.__class__.from_config(json.loads(json.dumps(config)))
    assert _json_normalised(revived.get_config()) == normalised
    if instance.built:
        if not revived.built:
            revived.build_from_config(instance.get_build_config())
        assert [tuple(w.shape) for w in revived.weights] == [
            tuple(w.shape) for w in instance.weights
        ]

    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(instance)))
    revived = keras.saving.deserialize_keras_object(serialized, safe_mode=True)
    assert type(revived) is type(instance)
    assert _json_normalised(revived.get_config()) == normalised


def _check_calls(instance, input_data, expected_output_shape) -> Any:
    output = instance(input_data)
    assert _shapes(output) == _map_shapes(tuple, expected_output_shape)

    symbolic = instance(_symbolic_inputs(input_data))
    assert _shapes(symbolic) == _replace_batch(expected_output_shape)
    return output


def _check_save_and_load(model: keras.Model, input_data, tmp_path: Path) -> None:
    path = Path(tmp_path) / f"{model.name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is type(model)
    expected = _to_numpy(model(input_data, training=False))
    actual = _to_numpy(loaded(input_data, training=False))
    tree.map_structure(
        lambda a, e: np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-6), actual, expected
    )


def _check_training(model: keras.Model, input_data) -> None:
    output = _to_numpy(model(input_data, training=False))
    targets = tree.map_structure(lambda o: np.ones_like(o) + o, output)
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    batch = len(tree.flatten(input_data)[0])
    history = model.fit(input_data, targets, batch_size=batch, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert any(not np.allclose(b, a) for b, a in zip(before, after, strict=True)), (
        "fit changed no weight"
    )


def _check_mixed_precision(cls, init_kwargs, input_data) -> None:
    instance = cls(**init_kwargs, dtype="mixed_bfloat16")
    output = instance(input_data)
    for tensor in tree.flatten(output):
        assert keras.backend.standardize_dtype(tensor.dtype) == "bfloat16"
    for weight in instance.weights:
        assert weight.dtype == "float32", f"{weight.path} is {weight.dtype}"


def run_layer_test(
    cls,
    init_kwargs: dict,
    input_data,
    expected_output_shape,
    *,
    tmp_path: Path,
    expected_num_trainable_weights: int | None = None,
    expected_num_non_trainable_weights: int | None = None,
    run_training_check: bool = True,
    run_mixed_precision_check: bool = True,
) -> None:
    """Check a Keras layer: config, calls, saving, training, mixed precision.

    The layer is saved inside a functional model wrapping it.

    Args:
        cls: the layer class.
        init_kwargs: dict. Constructor arguments.
        input_data: array, or a dict or list of arrays, batch first.
        expected_output_shape: tuple (or matching structure) of the eager
            output's shape; the symbolic output must match with batch None.
        tmp_path: a directory for the `.keras` file.
        expected_num_trainable_weights: int. Checked when given.
        expected_num_non_trainable_weights: int. Checked when given.
        run_training_check: bool. Run one `fit` step against an MSE target
            and require a weight to change. Defaults to `True`.
        run_mixed_precision_check: bool. Build with `dtype="mixed_bfloat16"`
            and require bfloat16 outputs and float32 variables. Defaults to
            `True`.
    """
    layer = cls(**init_kwargs)
    run_serialization_test(layer)
    _check_calls(layer, input_data, expected_output_shape)
    run_serialization_test(layer)  # built layers too
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights
    if expected_num_non_trainable_weights is not None:
        assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights

    inputs = _symbolic_inputs(input_data)
    wrapper = keras.Model(inputs, cls(**init_kwargs)(inputs), name=f"{cls.__name__.lower()}_model")
    _check_save_and_load(wrapper, input_data, tmp_path)
    if run_training_check:
        _check_training(wrapper, input_data)
    if run_mixed_precision_check:
        _check_mixed_precision(cls, init_kwargs, input_data)


def run_model_test(
    cls,
    init_kwargs: dict,
    input_data,
    expected_output_shape,
    *,
    tmp_path: Path,
    run_training_check: bool = True,
    run_mixed_precision_check: bool = True,
) -> keras.Model:
    """Check a Keras model: config, calls, `.keras` round trip, training.

    Like `run_layer_test`, but the model is saved and loaded itself. A model
    with its own loss (SimCLR's `compute_loss`, which ignores targets) turns
    `run_training_check` off and tests its training separately.

    Returns:
        The model the checks were run on.
    """
    model = cls(**init_kwargs)
    run_serialization_test(model)
    _check_calls(model, input_data, expected_output_shape)
    _check_save_and_load(model, input_data, tmp_path)
    if run_training_check:
        _check_training(cls(**init_kwargs), input_data)
    if run_mixed_precision_check:
        _check_mixed_precision(cls, init_kwargs, input_data)
    return model


# --- A tiny contrastive problem -----------------------------------------------


def tiny_signals(
    num_signals: int = 64, length: int = 192, channels: int = 2, seed: int = 0
) -> np.ndarray:
    """Distinct smooth signals, float32 `(num_signals, length, channels)`.

    Each channel is a sum of three sinusoids of random frequency, phase and
    amplitude, so every signal differs from every other one.
    """
    rng = np.random.default_rng(seed)
    time = np.linspace(0.0, 1.0, length)
    shape = (num_signals, 1, channels, 3)
    frequency = rng.uniform(1.0, 20.0, shape)
    phase = rng.uniform(0.0, 2.0 * np.pi, shape)
    amplitude = rng.uniform(0.2, 1.0, shape)
    waves = amplitude * np.sin(2.0 * np.pi * frequency * time[None, :, None, None] + phase)
    return waves.sum(axis=-1).astype("float32")


def noisy_views(signals: np.ndarray, noise_std: float = 0.05, seed: int = 1) -> dict:
    """Two views of each signal: the signal plus independent Gaussian noise."""
    rng = np.random.default_rng(seed)
    return {
        key: (signals + noise_std * rng.standard_normal(signals.shape)).astype("float32")
        for key in ("view_a", "view_b")
    }


class NoisyViews(keras.utils.PyDataset):
    """A `PyDataset` of view dicts with fresh noise in every batch."""

    def __init__(self, signals: np.ndarray, batch_size: int, noise_std: float = 0.05, **kwargs):
        super().__init__(**kwargs)
        self.signals = signals
        self.batch_size = batch_size
        self.noise_std = noise_std
        self.rng = np.random.default_rng(2)

    def __len__(self) -> int:
        return len(self.signals) // self.batch_size

    def __getitem__(self, index: int) -> dict:
        batch = self.signals[index * self.batch_size : (index + 1) * self.batch_size]
        seed = int(self.rng.integers(2**31))
        return noisy_views(batch, self.noise_std, seed=seed)


def tiny_simclr(length: int = 192, channels: int = 2, filters: int = 16, seed: int = 0):
    """A small SimCLR (five blocks with stride 2) compiled with Adam(1e-3)."""
    from mpikeras.models.encoder import Encoder
    from mpikeras.models.projector import ProjectionHead
    from mpikeras.models.simclr import SimCLR

    keras.utils.set_random_seed(seed)
    encoder = Encoder(input_shape=(length, channels), filters=filters, strides=(2, 2, 2, 2, 2))
    model = SimCLR(encoder, ProjectionHead(hidden_units=32, output_units=16))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def moving_means(encoder: keras.Model) -> list[np.ndarray]:
    """Moving means of the encoder's BatchNormalization layers."""
    return [
        keras.ops.convert_to_numpy(layer.moving_mean).copy()
        for layer in encoder.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


def tiny_config(source) -> dict:
    """A training configuration small enough for a test: 8 filters, 2 steps of 8 per epoch."""
    return {
        "data": {"source": str(source)},
        "encoder": {"filters": 8},
        "projector": {"hidden_units": 16, "output_units": 8},
        "steps_per_epoch": 2,
        "batch_size": 8,
        "optimizer": {"learning_rate": 1e-3},
        "jit_compile": "false",
    }


def run_with_file_size_limit(argv: list[str], limit_bytes: int, **kwargs):
    """Run `mpikeras argv` in a fresh process whose files may not grow beyond `limit_bytes`.

    A real write failure, as a full disk gives one: the kernel refuses the
    write with EFBIG (SIGXFSZ ignored) wherever the process writes.
    """
    import resource
    import signal
    import subprocess
    import sys

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    command = [sys.executable, "-m", "mpikeras.cli.main", *argv]
    return subprocess.run(
        command, preexec_fn=limit, capture_output=True, text=True, timeout=600, **kwargs
    )


#: The backend of tests that train many tiny models: PyTorch runs them eagerly, where
#: TensorFlow traces every model's train and test steps (most of such a test's time).
EAGER_BACKEND = "torch"


def run_python(code: str, *args: str, backend: str = EAGER_BACKEND, timeout: int = 600):
    """Run Python `code` in a fresh process on a Keras backend; `sys.argv[1:]` is `args`.

    Returns:
        The `subprocess.CompletedProcess` (text output captured); fails the
        test with the end of stderr if the process fails.
    """
    import os
    import subprocess
    import sys

    import pytest

    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        pytest.fail(f"the process failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done
