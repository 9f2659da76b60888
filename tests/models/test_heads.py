import keras
import numpy as np
import pytest
from helpers import run_layer_test, run_model_test

from mpikeras.config import AugmentationConfig
from mpikeras.errors import ConfigError
from mpikeras.models import (
    BracketRecovery,
    ContrastiveRegularized,
    DirectReconstruction,
    Encoder,
    ProjectionHead,
    SignalAugmentation,
    SignalRecovery,
)

LENGTH, CHANNELS = 288, 2


def _encoder():
    return Encoder(input_shape=(LENGTH, CHANNELS), filters=8)


def _signals(n=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n, LENGTH, CHANNELS)).astype("float32")


def test_signal_recovery_outputs_a_signal_of_the_input_shape(tmp_path):
    kwargs = {"encoder": _encoder(), "hidden_units": 16, "normalization_scale": 0.5}
    model = run_model_test(
        SignalRecovery,
        kwargs,
        _signals(),
        (4, LENGTH, CHANNELS),
        tmp_path=tmp_path,
        run_mixed_precision_check=False,
    )
    assert model.get_config()["normalization_scale"] == 0.5
    assert [layer.name for layer in model.layers][-5:] == [
        "head_dense_2",
        "head_reshape",
        "head_conv_1",
        "head_relu_2",
        "head_conv_2",
    ]


def test_bracket_recovery_is_interpolation_plus_a_learned_correction(tmp_path):
    kwargs = {"encoder": _encoder(), "hidden_units": 16, "filters": 4, "kernel_size": 5}
    data = {"lower": _signals(seed=1), "upper": _signals(seed=2)}
    model = run_model_test(
        BracketRecovery,
        kwargs,
        data,
        (4, LENGTH, CHANNELS),
        tmp_path=tmp_path,
        run_mixed_precision_check=False,
    )
    for layer in model.layers:  # silence the correction: what is left is the interpolation
        if layer.name == "head_conv_2":
            layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    np.testing.assert_allclose(
        model.predict(data, verbose=0), 0.5 * (data["lower"] + data["upper"]), atol=1e-6
    )


def test_direct_reconstruction_outputs_one_concentration_channel(tmp_path):
    kwargs = {"encoder": _encoder(), "image_shape": (5, 7), "filters": 4}
    model = run_model_test(
        DirectReconstruction,
        kwargs,
        _signals(),
        (4, 5, 7, 1),
        tmp_path=tmp_path,
        run_mixed_precision_check=False,
    )
    assert model.get_layer("head_elu_0").alpha == pytest.approx(0.1)


def test_signal_augmentation_layer_is_identity_at_inference(tmp_path):
    x = _signals()
    run_layer_test(
        SignalAugmentation,
        {"seed": 3},
        x,
        (4, LENGTH, CHANNELS),
        tmp_path=tmp_path,
        run_training_check=False,
        run_mixed_precision_check=False,
    )
    layer = SignalAugmentation(seed=3)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    assert not np.allclose(np.asarray(layer(x, training=True)), x)
    flip = SignalAugmentation(polarity_probability=1, noise_probability=0, gain_probability=0)
    np.testing.assert_allclose(np.asarray(flip(x, training=True)), -x)
    expected = AugmentationConfig().to_dict()
    assert {key: SignalAugmentation().get_config()[key] for key in expected} == expected
    configured = AugmentationConfig(gain_db=(-3.0, -2.0), noise_probability=0.0)
    layer = SignalAugmentation(**configured.to_dict())
    assert (layer.gain_db, layer.noise_probability) == ((-3.0, -2.0), 0.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"polarity_probability": 1.5}, "polarity_probability"),
        ({"gain_probability": True}, "gain_probability"),
        ({"noise_ratio_db": (-10.0, -20.0)}, "noise_ratio_db"),
        ({"gain_db": (1.0,)}, "gain_db"),
    ],
)
def test_signal_augmentation_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SignalAugmentation(**kwargs)


def test_contrastive_regularized_adds_nt_xent_in_training_only():
    task = SignalRecovery(_encoder(), hidden_units=16)
    model = ContrastiveRegularized(task, ProjectionHead(16, 8), weight=2.0)
    model.compile(optimizer="adam", loss="mse")
    x = _signals(8)
    history = model.fit(x, x, epochs=1, batch_size=8, verbose=0)
    task.compile(loss="mse")
    plain = task.evaluate(x, x, batch_size=8, verbose=0)
    assert history.history["loss"][0] > plain + 1.0  # 2 x NT-Xent of 8 pairs is about 2 x log 15
    np.testing.assert_allclose(model.predict(x, verbose=0), task.predict(x, verbose=0), rtol=1e-5)
    clone = ContrastiveRegularized.from_config(model.get_config())
    assert clone.weight == 2.0 and isinstance(clone.task_model, SignalRecovery)
    with pytest.raises(ValueError, match="weight"):
        ContrastiveRegularized(task, ProjectionHead(), weight=-1.0)
    assert isinstance(keras.saving.get_registered_object("mpikeras>ContrastiveRegularized"), type)


@pytest.mark.parametrize("cls", [SignalRecovery, DirectReconstruction])
def test_heads_under_mixed_precision_compute_in_bfloat16_and_output_float32(cls):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = cls(_encoder())
        output = model(_signals())
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert keras.backend.standardize_dtype(output.dtype) == "float32"
    conv = model.encoder.get_layer("conv_1")
    assert conv.compute_dtype == "bfloat16" and conv.kernel.dtype == "float32"
