import numpy as np
import pytest
from scipy import stats

from mpikeras.config import AugmentationConfig
from mpikeras.data import NUM_VIEW_UNIFORMS, augment
from mpikeras.data.augment import tensorflow_ops


def _uniforms(n, **fixed):
    u = np.full((n, NUM_VIEW_UNIFORMS), 0.99, np.float32)  # 0.99: nothing applied
    for column, value in fixed.items():
        u[:, int(column[1:])] = value
    return u


def test_noise_power_matches_the_drawn_noise_to_signal_ratio():
    rng = np.random.default_rng(0)
    x = (
        rng.normal(size=(5, 4096, 2)).astype(np.float32)
        * np.array([1, 3, 0.5, 2, 7])[:, None, None]
    )
    level = np.linspace(0, 1, 5, dtype=np.float32)
    u = _uniforms(5, u1=0.0)
    u[:, 2] = level
    normals = rng.normal(size=x.shape).astype(np.float32)
    cfg = AugmentationConfig()
    noise = augment(x, u, normals, cfg) - x
    ratio_db = 20 * np.log10(noise.std(axis=(1, 2)) / x.std(axis=(1, 2)))
    expected = cfg.noise_ratio_db[0] + level * (cfg.noise_ratio_db[1] - cfg.noise_ratio_db[0])
    np.testing.assert_allclose(ratio_db, expected, atol=0.1)


def test_gain_and_polarity_are_exact_and_gain_stays_in_range():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 32, 2)).astype(np.float32)
    u = _uniforms(200, u3=0.0, u0=0.0)
    u[:, 4] = rng.random(200)
    y = augment(x, u, np.zeros_like(x), AugmentationConfig())
    factor = (y * x).sum(axis=(1, 2)) / (x * x).sum(axis=(1, 2))
    assert np.all(factor < 0)  # polarity inverted
    gain_db = 20 * np.log10(-factor)
    assert gain_db.min() >= -20 - 1e-4 and gain_db.max() <= -1 + 1e-4
    np.testing.assert_allclose(gain_db, -20 + 19 * u[:, 4], atol=1e-3)


def test_each_augmentation_is_applied_about_half_of_the_time():
    rng = np.random.default_rng(2)
    n = 4000
    x = np.ones((n, 8, 1), np.float32) + rng.normal(size=(n, 8, 1)).astype(np.float32)
    u = rng.random((n, NUM_VIEW_UNIFORMS)).astype(np.float32)
    y = augment(x, u, np.zeros_like(x), AugmentationConfig())
    factor = (y * x).sum(axis=(1, 2)) / (x * x).sum(axis=(1, 2))
    flipped = factor < 0
    gained = np.abs(np.abs(factor) - 1) > 1e-5
    for fraction in (flipped.mean(), gained.mean()):
        assert stats.binomtest(int(fraction * n), n, 0.5).pvalue > 1e-3


def test_probability_zero_and_one():
    x = np.random.default_rng(3).normal(size=(10, 16, 2)).astype(np.float32)
    u = np.random.default_rng(4).random((10, NUM_VIEW_UNIFORMS)).astype(np.float32)
    normals = np.ones_like(x)
    off = AugmentationConfig(polarity_probability=0, noise_probability=0, gain_probability=0)
    np.testing.assert_array_equal(augment(x, u, normals, off), x)
    flip = AugmentationConfig(polarity_probability=1, noise_probability=0, gain_probability=0)
    np.testing.assert_array_equal(augment(x, u, normals, flip), -x)


def test_tensorflow_ops_give_the_numpy_result():
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 40, 2)).astype(np.float32)
    u = rng.random((6, NUM_VIEW_UNIFORMS)).astype(np.float32)
    normals = rng.normal(size=x.shape).astype(np.float32)
    cfg = AugmentationConfig()
    expected = augment(x, u, normals, cfg)
    got = augment(tf.constant(x), tf.constant(u), tf.constant(normals), cfg, tensorflow_ops())
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)
