"""The projection head and the SimCLR model on the current backend."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from helpers import (
    NoisyViews,
    moving_means,
    noisy_views,
    run_layer_test,
    run_model_test,
    tiny_signals,
    tiny_simclr,
)

from mpikeras.config import PretrainConfig, ProjectorConfig
from mpikeras.errors import ConfigError
from mpikeras.losses.nt_xent import contrastive_accuracy, nt_xent
from mpikeras.models.encoder import Encoder
from mpikeras.models.projector import ProjectionHead
from mpikeras.models.simclr import SimCLR

# --- Projection head ----------------------------------------------------------


def test_projection_head_layer_test(tmp_path):
    features = np.random.default_rng(0).standard_normal((4, 48)).astype("float32")
    run_layer_test(
        ProjectionHead,
        {"hidden_units": 32, "output_units": 16},
        features,
        (4, 16),
        tmp_path=tmp_path,
        expected_num_trainable_weights=4,
        expected_num_non_trainable_weights=0,
    )


def test_projection_head_is_dense_relu_dense():
    head = ProjectionHead(hidden_units=5, output_units=3)
    features = np.random.default_rng(1).standard_normal((6, 4)).astype("float32")
    output = keras.ops.convert_to_numpy(head(features))
    w1, b1, w2, b2 = (keras.ops.convert_to_numpy(w) for w in head.weights)
    expected = np.maximum(features @ w1 + b1, 0.0) @ w2 + b2
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-6)


def test_projection_head_defaults_are_the_projector_configs():
    config = ProjectorConfig()
    head = ProjectionHead()
    assert (head.hidden_units, head.output_units) == (256, 64)
    assert (head.hidden_units, head.output_units) == (config.hidden_units, config.output_units)
    small = ProjectionHead(**ProjectorConfig(hidden_units=8, output_units=2).to_dict())
    assert (small.hidden_units, small.output_units) == (8, 2)


@pytest.mark.parametrize(
    "kwargs", [{"hidden_units": 0}, {"output_units": -3}, {"output_units": 2.0}]
)
def test_projection_head_rejects_bad_widths(kwargs):
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        ProjectionHead(**kwargs)


# --- SimCLR: structure, config, saving ----------------------------------------


def _tiny_parts():
    encoder = Encoder(input_shape=(192, 2), filters=8, strides=(2, 2, 2, 2, 2))
    return encoder, ProjectionHead(hidden_units=32, output_units=16)


def test_simclr_model_test(tmp_path):
    encoder, projector = _tiny_parts()
    views = noisy_views(tiny_signals(4))
    model = run_model_test(
        SimCLR,
        {"encoder": encoder, "projector": projector, "temperature": 0.2},
        views,
        (8, 16),
        tmp_path=tmp_path,
        run_training_check=False,  # its own loss (compute_loss): tested below
        run_mixed_precision_check=False,  # the dtype policy belongs to the parts
    )
    assert model.get_config()["temperature"] == 0.2


def test_call_stacks_projections_of_view_a_then_view_b():
    encoder, projector = _tiny_parts()
    model = SimCLR(encoder, projector)
    views = noisy_views(tiny_signals(5))
    stacked = keras.ops.convert_to_numpy(model(views, training=False))
    for half, key in ((stacked[:5], "view_a"), (stacked[5:], "view_b")):
        alone = projector(encoder(views[key], training=False))
        np.testing.assert_allclose(half, keras.ops.convert_to_numpy(alone), rtol=1e-5, atol=1e-6)


def test_compute_loss_and_metrics_are_nt_xent_and_accuracy_of_the_halves():
    model = SimCLR(*_tiny_parts(), temperature=0.3)
    projections = np.random.default_rng(0).standard_normal((10, 16)).astype("float32")
    loss = model.compute_loss(y_pred=projections)
    expected = nt_xent(projections[:5], projections[5:], 0.3)
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)
    accuracy = float(model.compute_metrics(None, None, projections)["top1_accuracy"])
    assert accuracy == pytest.approx(float(contrastive_accuracy(projections[:5], projections[5:])))
    # Identical views: every anchor's most similar other projection is its own partner.
    aligned = np.concatenate([projections[:5], projections[:5]])
    fresh = SimCLR(*_tiny_parts())  # the metric is a running mean: start a new one
    assert float(fresh.compute_metrics(None, None, aligned)["top1_accuracy"]) == 1.0


def test_default_temperature_comes_from_pretrain_config():
    assert SimCLR(*_tiny_parts()).temperature == PretrainConfig().temperature


def test_metrics_are_loss_and_top1_accuracy():
    model = SimCLR(*_tiny_parts())
    model.compile(optimizer="adam")  # Keras' loss tracker comes with compile
    assert [m.name for m in model.metrics] == ["loss", "top1_accuracy"]


def test_rejects_inputs_that_are_not_a_view_dict():
    model = SimCLR(*_tiny_parts())
    signals = tiny_signals(2)
    with pytest.raises(
        ValueError, match=r"keys 'view_a' and 'view_b'.*Received a tensor of shape \(2, 192, 2\)"
    ):
        model(signals)
    with pytest.raises(ValueError, match=r"Received a dict with the keys \['a', 'view_a'\]"):
        model({"view_a": signals, "a": signals})


def test_rejects_bad_arguments():
    encoder, projector = _tiny_parts()
    with pytest.raises(ConfigError, match="temperature"):
        SimCLR(encoder, projector, temperature=0.0)
    with pytest.raises(TypeError, match="`projector` to be a Keras layer"):
        SimCLR(encoder, lambda x: x)


def test_unbuilt_encoder_is_built_on_first_call():
    encoder = keras.Sequential(
        [keras.layers.Conv1D(4, 8, strides=4), keras.layers.Flatten()], name="plain"
    )
    model = SimCLR(encoder, ProjectionHead(hidden_units=8, output_units=4))
    output = model(noisy_views(tiny_signals(3, length=64)))
    assert tuple(output.shape) == (6, 4)
    assert model.built and model.projector.built


# --- SimCLR: training ---------------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    """The tiny model after 12 epochs on 64 signals (numpy dict input)."""
    model = tiny_simclr()
    signals = tiny_signals()
    views = noisy_views(signals)
    means_before = moving_means(model.encoder)
    history = model.fit(views, batch_size=16, epochs=12, verbose=0, validation_data=(views,))
    return model, views, history.history, means_before


def test_fit_lowers_the_loss(trained):
    _, _, history, _ = trained
    assert history["loss"][-1] < 0.9 * history["loss"][0]
    assert history["val_loss"][-1] < history["val_loss"][0]


def test_history_and_evaluate_hold_both_metrics(trained):
    model, views, history, _ = trained
    assert set(history) == {"loss", "top1_accuracy", "val_loss", "val_top1_accuracy"}
    assert all(len(values) == 12 for values in history.values())
    results = model.evaluate(views, batch_size=16, verbose=0, return_dict=True)
    assert set(results) == {"loss", "top1_accuracy"}
    # Evaluation in inference mode on the training views: the last validation values.
    assert results["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-4)
    assert results["top1_accuracy"] == pytest.approx(history["val_top1_accuracy"][-1], rel=1e-5)
    # ... and the accuracy is that of the projections, batch by batch.
    n = len(views["view_a"])
    z = keras.ops.convert_to_numpy(model(views, training=False))
    per_batch = [
        float(contrastive_accuracy(z[:n][i : i + 16], z[n:][i : i + 16])) for i in range(0, n, 16)
    ]
    assert results["top1_accuracy"] == pytest.approx(np.mean(per_batch), rel=1e-5)


def test_fit_updates_batch_norm_moving_statistics(trained):
    model, _, _, means_before = trained
    means_after = moving_means(model.encoder)
    assert len(means_after) == 5
    for before, after in zip(means_before, means_after, strict=True):
        assert not np.allclose(before, after)


def test_save_and_load_after_training(trained, tmp_path):
    model, views, _, _ = trained
    path = tmp_path / "simclr.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(views, training=False)),
        keras.ops.convert_to_numpy(model(views, training=False)),
        rtol=1e-6,
        atol=1e-6,
    )
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations)
    # The loaded model is compiled and trains on.
    history = loaded.fit(views, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_encoder_alone_round_trips_after_training(trained, tmp_path):
    model, views, _, _ = trained
    path = tmp_path / "encoder.keras"
    model.encoder.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, Encoder)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(views["view_a"], training=False)),
        keras.ops.convert_to_numpy(model.encoder(views["view_a"], training=False)),
        rtol=1e-6,
        atol=1e-6,
    )


def test_fit_on_py_dataset_with_fresh_noise():
    model = tiny_simclr(seed=1)
    history = model.fit(NoisyViews(tiny_signals(), batch_size=16), epochs=10, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert set(history.history) == {"loss", "top1_accuracy"}


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="needs tf.data")
def test_fit_on_tf_data_with_a_partial_last_batch():
    import tensorflow as tf

    model = tiny_simclr(seed=2)
    dataset = (
        tf.data.Dataset.from_tensor_slices(noisy_views(tiny_signals(60)))
        .shuffle(60, seed=0)
        .batch(16)  # 16, 16, 16, 12: the graph sees an unknown batch size
    )
    history = model.fit(dataset, epochs=10, verbose=0, validation_data=dataset, shuffle=False)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert set(history.history) == {"loss", "top1_accuracy", "val_loss", "val_top1_accuracy"}


def test_mixed_precision_training_keeps_a_float32_loss():
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = tiny_simclr(seed=3)
        views = noisy_views(tiny_signals(32))
        projections = model(views)
        assert keras.backend.standardize_dtype(projections.dtype) == "bfloat16"
        loss = model.compute_loss(y_pred=projections)
        assert keras.backend.standardize_dtype(loss.dtype) == "float32"
        history = model.fit(views, batch_size=16, epochs=3, verbose=0)
        assert all(np.isfinite(history.history["loss"]))
    finally:
        keras.config.set_dtype_policy(policy)


def test_saved_model_loads_in_a_fresh_process(tmp_path):
    # Only `import mpikeras.models` (registration), safe_mode on, no lambdas.
    model = tiny_simclr()
    views = noisy_views(tiny_signals(4))
    model.save(tmp_path / "simclr.keras")
    np.save(tmp_path / "view_a.npy", views["view_a"])
    np.save(tmp_path / "view_b.npy", views["view_b"])
    np.save(tmp_path / "expected.npy", keras.ops.convert_to_numpy(model(views, training=False)))
    script = (
        "import sys, numpy as np, keras, mpikeras.models\n"
        "d = sys.argv[1]\n"
        "m = keras.saving.load_model(d + '/simclr.keras', safe_mode=True)\n"
        "v = {k: np.load(f'{d}/{k}.npy') for k in ('view_a', 'view_b')}\n"
        "out = keras.ops.convert_to_numpy(m(v, training=False))\n"
        "np.testing.assert_allclose(out, np.load(d + '/expected.npy'), rtol=1e-6, atol=1e-6)\n"
        "print(type(m).__name__, type(m.encoder).__name__, type(m.projector).__name__)\n"
    )
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend(), "TF_CPP_MIN_LOG_LEVEL": "3"}
    completed = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.split() == ["SimCLR", "Encoder", "ProjectionHead"]
