"""The convolutional encoder: shapes, initialisation, size, config, errors."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from helpers import run_model_test

from mpikeras.config import EncoderConfig
from mpikeras.errors import ConfigError
from mpikeras.models.encoder import (
    Encoder,
    encoder_output_length,
    minimum_input_length,
)

TINY = {"input_shape": (192, 2), "filters": 8, "strides": (2, 2, 2, 2, 2)}


def conv_output_length(length: int, kernel_size: int, stride: int) -> int:
    """Length after a "valid" convolution, counted by sliding the window."""
    return len(range(0, length - kernel_size + 1, stride))


@pytest.mark.parametrize("length", [276, 300, 700, 1632, 2000])
def test_output_shape_follows_valid_convolution_formula(length):
    config = EncoderConfig()
    expected = length
    for kernel_size, stride in zip(config.kernel_sizes, config.strides, strict=True):
        expected = conv_output_length(expected, kernel_size, stride)
    assert encoder_output_length(length, config.kernel_sizes, config.strides) == expected
    encoder = Encoder(input_shape=(length, 2), filters=4)
    assert encoder.output_length == expected
    assert encoder.output_shape == (None, expected * 4)
    features = encoder(np.zeros((3, length, 2), "float32"))
    assert tuple(features.shape) == (3, expected * 4)


def test_paper_encoder_flattens_15_steps_of_256_filters():
    encoder = Encoder()
    assert encoder.input_shape == (None, 1632, 2)
    assert encoder.output_length == 15
    assert encoder.output_shape == (None, 15 * 256)
    assert encoder.num_features == 3840


def test_parameter_count_of_paper_encoder():
    config = EncoderConfig()
    encoder = Encoder()
    channels = [2] + [config.filters] * (len(config.kernel_sizes) - 1)
    conv_weights = sum(
        k * c * config.filters for k, c in zip(config.kernel_sizes, channels, strict=True)
    )
    gamma_beta = 2 * config.filters * len(config.kernel_sizes)
    moving_statistics = 2 * config.filters * len(config.kernel_sizes)
    trainable = sum(int(np.prod(w.shape)) for w in encoder.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in encoder.non_trainable_weights)
    assert trainable == conv_weights + gamma_beta
    assert non_trainable == moving_statistics
    assert encoder.count_params() == 1_123_328  # the formulas above, for the record


def test_layer_order_and_kernel_sizes():
    config = EncoderConfig()
    encoder = Encoder()
    kinds = [type(layer).__name__ for layer in encoder.layers[1:]]
    assert kinds == ["Conv1D", "BatchNormalization", "ReLU"] * 5 + ["Flatten"]
    convs = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Conv1D)]
    assert [c.kernel_size[0] for c in convs] == list(config.kernel_sizes)
    assert [c.strides[0] for c in convs] == list(config.strides)
    assert all(c.padding == "valid" for c in convs)


def test_convolutions_use_he_normal_initialisation():
    keras.utils.set_random_seed(0)
    encoder = Encoder()
    convs = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Conv1D)]
    for conv in convs:
        assert isinstance(conv.kernel_initializer, keras.initializers.HeNormal)
        kernel = keras.ops.convert_to_numpy(conv.kernel)
        fan_in = kernel.shape[0] * kernel.shape[1]
        # He et al. 2015: zero mean, variance 2 / fan_in (Keras truncates and rescales).
        assert np.std(kernel) == pytest.approx(np.sqrt(2.0 / fan_in), rel=0.05)
        assert abs(np.mean(kernel)) < 0.1 * np.sqrt(2.0 / fan_in)


def test_defaults_are_the_papers_and_the_configs():
    config = EncoderConfig()
    encoder = Encoder()
    assert (encoder.filters, encoder.kernel_sizes, encoder.strides) == (
        256,
        (8, 5, 4, 4, 4),
        (4, 3, 2, 2, 2),
    )
    assert encoder.filters == config.filters
    assert encoder.kernel_sizes == config.kernel_sizes
    assert encoder.strides == config.strides


def test_built_from_an_encoder_config():
    config = EncoderConfig(filters=8, kernel_sizes=(4, 3), strides=(2, 2))
    encoder = Encoder((64, 3), **config.to_dict(), name="small")
    assert encoder.name == "small"
    assert encoder.get_config()["kernel_sizes"] == [4, 3]
    assert encoder.output_shape == (None, encoder_output_length(64, (4, 3), (2, 2)) * 8)


def test_minimum_input_length_is_the_shortest_that_works():
    config = EncoderConfig()
    minimum = minimum_input_length(config.kernel_sizes, config.strides)
    assert encoder_output_length(minimum, config.kernel_sizes, config.strides) == 1
    assert encoder_output_length(minimum - 1, config.kernel_sizes, config.strides) < 1
    Encoder(input_shape=(minimum, 2), filters=2)
    with pytest.raises(ConfigError, match=f"has {minimum - 1} samples.*at least {minimum} samples"):
        Encoder(input_shape=(minimum - 1, 2), filters=2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"filters": 0}, "filters"),
        ({"filters": 2.5}, "filters"),
        ({"filters": [8, 8]}, r"positive integer, received filters=\[8, 8\]"),
        ({"kernel_sizes": (8, 5), "strides": (4, 3, 2)}, r"one entry per convolution \(2\)"),
        ({"kernel_sizes": ()}, "kernel_sizes"),
        ({"strides": (4, 3, 0, 2, 2)}, "strides"),
        ({"input_shape": (1632,)}, r"expected \(samples, channels\)"),
        ({"input_shape": (1632, True)}, "input_shape"),
    ],
)
def test_invalid_arguments_raise(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Encoder(**kwargs)


def test_run_model_test(tmp_path):
    signals = np.random.default_rng(0).standard_normal((4, 192, 2)).astype("float32")
    length = encoder_output_length(192, EncoderConfig().kernel_sizes, TINY["strides"])
    model = run_model_test(Encoder, TINY, signals, (4, length * 8), tmp_path=tmp_path)
    assert model.get_config()["input_shape"] == [192, 2]


def test_batch_norm_updates_moving_statistics_in_training_only():
    encoder = Encoder(**TINY)
    norm = encoder.get_layer("batch_norm_0")
    signals = np.random.default_rng(1).standard_normal((8, 192, 2)).astype("float32") + 3.0
    encoder(signals, training=False)
    assert np.allclose(keras.ops.convert_to_numpy(norm.moving_mean), 0.0)
    encoder(signals, training=True)
    assert not np.allclose(keras.ops.convert_to_numpy(norm.moving_mean), 0.0)


def test_numpy_integer_arguments_give_a_json_config():
    shape = np.zeros((3, 300, 2)).shape[1:]
    encoder = Encoder(
        input_shape=np.array(shape), filters=np.int64(4), strides=np.array([4, 3, 2, 2, 2])
    )
    config = json.loads(json.dumps(encoder.get_config()))
    assert config["input_shape"] == [300, 2] and config["filters"] == 4
