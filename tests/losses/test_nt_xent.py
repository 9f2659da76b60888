"""NT-Xent against a NumPy reference, known answers, dtypes and gradients."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from mpikeras.config import PretrainConfig
from mpikeras.errors import ConfigError
from mpikeras.losses.nt_xent import (
    NTXent,
    contrastive_accuracy,
    nt_xent,
    nt_xent_per_anchor,
    split_views,
)


def reference_per_anchor(z_a: np.ndarray, z_b: np.ndarray, temperature: float) -> np.ndarray:
    """SimCLR eq. 1, anchor by anchor, in float64 with explicit exponentials."""
    z = np.concatenate([z_a, z_b]).astype(np.float64)
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z)
    batch = n // 2
    losses = np.empty(n)
    for i in range(n):
        positive = (i + batch) % n
        similarities = {k: z[i] @ z[k] / temperature for k in range(n) if k != i}
        # Subtracting the maximum only rescales numerator and denominator alike.
        shift = max(similarities.values())
        denominator = sum(np.exp(s - shift) for s in similarities.values())
        losses[i] = -np.log(np.exp(similarities[positive] - shift) / denominator)
    return losses


def reference_accuracy(z_a: np.ndarray, z_b: np.ndarray) -> float:
    z = np.concatenate([z_a, z_b]).astype(np.float64)
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    similarity = z @ z.T
    np.fill_diagonal(similarity, -np.inf)
    batch = len(z_a)
    positives = (np.arange(2 * batch) + batch) % (2 * batch)
    return float(np.mean(similarity.argmax(axis=1) == positives))


def random_pair(batch: int, dim: int, seed: int = 0, noise: float = 1.0):
    rng = np.random.default_rng(seed)
    z_a = rng.standard_normal((batch, dim)).astype("float32")
    z_b = (z_a + noise * rng.standard_normal((batch, dim))).astype("float32")
    return z_a, z_b


def gradient(fn, x: np.ndarray) -> np.ndarray:
    """d fn(x) / dx on the current backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.Variable(x)
        with tf.GradientTape() as tape:
            value = fn(x)
        return tape.gradient(value, x).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(fn)(x))
    if backend == "torch":
        import torch

        x = torch.tensor(x, requires_grad=True)
        fn(x).backward()
        return x.grad.numpy()
    pytest.skip(f"no gradient on backend {backend}")


@pytest.mark.parametrize("temperature", [0.05, 0.5, 1.0])
@pytest.mark.parametrize("dim", [2, 64])
@pytest.mark.parametrize("batch", [1, 3, 16])
def test_matches_numpy_reference(batch, dim, temperature):
    z_a, z_b = random_pair(batch, dim, seed=batch * 100 + dim)
    expected = reference_per_anchor(z_a, z_b, temperature)
    per_anchor = keras.ops.convert_to_numpy(nt_xent_per_anchor(z_a, z_b, temperature))
    np.testing.assert_allclose(per_anchor, expected, rtol=1e-4, atol=1e-5)
    loss = nt_xent(z_a, z_b, temperature)
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    np.testing.assert_allclose(float(loss), expected.mean(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("batch", [2, 5, 32])
def test_accuracy_matches_numpy_reference(batch):
    z_a, z_b = random_pair(batch, 8, seed=batch, noise=0.8)
    accuracy = float(contrastive_accuracy(z_a, z_b))
    assert accuracy == pytest.approx(reference_accuracy(z_a, z_b))
    assert 0.0 < accuracy < 1.0 or batch == 2  # the noise makes some anchors miss


def test_accuracy_is_one_for_matching_views_and_zero_for_swapped_partners():
    z = np.eye(4, dtype="float32")
    assert float(contrastive_accuracy(z, z)) == 1.0
    # Each view b is the partner of another sample: no anchor finds its positive.
    assert float(contrastive_accuracy(z, np.roll(z, 1, axis=0))) == 0.0


def test_single_pair_has_zero_loss():
    # With B = 1 the positive is the only candidate: cross-entropy log(1) = 0.
    z_a, z_b = random_pair(1, 5)
    assert float(nt_xent(z_a, z_b)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 2.0])
@pytest.mark.parametrize("batch", [2, 4, 7])
def test_aligned_orthogonal_views_closed_form(batch, temperature):
    # Positives have similarity 1, all negatives 0:
    # loss = -log(e^(1/t) / (e^(1/t) + 2B - 2)) = log(1 + (2B - 2) e^(-1/t)).
    scales = np.arange(1, batch + 1, dtype="float32")[:, None]  # norms do not matter
    z_a = np.eye(batch, 2 * batch, dtype="float32") * scales
    z_b = 3.0 * z_a
    expected = np.log1p((2 * batch - 2) * np.exp(-1.0 / temperature))
    # abs: float32 round-off of logits near 1 / t (about 1e-6 at t = 0.1).
    assert float(nt_xent(z_a, z_b, temperature)) == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_identical_embeddings_give_log_of_candidates():
    # All similarities equal: a uniform choice among 2B - 1 candidates.
    z = np.ones((6, 4), dtype="float32")
    assert float(nt_xent(z, z)) == pytest.approx(np.log(11.0), rel=1e-6)


def test_swapping_views_leaves_loss_unchanged():
    z_a, z_b = random_pair(9, 16)
    assert float(nt_xent(z_b, z_a, 0.3)) == pytest.approx(float(nt_xent(z_a, z_b, 0.3)), rel=1e-6)


def test_permuting_samples_leaves_loss_unchanged():
    z_a, z_b = random_pair(9, 16)
    order = np.random.default_rng(3).permutation(9)
    permuted = float(nt_xent(z_a[order], z_b[order]))
    assert permuted == pytest.approx(float(nt_xent(z_a, z_b)), rel=1e-5)


def test_closer_positives_give_lower_loss():
    z_a, _ = random_pair(8, 16)
    rng = np.random.default_rng(5)
    losses = [
        float(nt_xent(z_a, z_a + noise * rng.standard_normal(z_a.shape).astype("float32")))
        for noise in (0.01, 0.3, 3.0)
    ]
    assert losses[0] < losses[1] < losses[2]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_inputs_give_float32_loss(dtype):
    z_a, z_b = random_pair(8, 32)
    low_a = keras.ops.cast(z_a, dtype)
    low_b = keras.ops.cast(z_b, dtype)
    loss = nt_xent(low_a, low_b)
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    # Exact up to float32 round-off on the rounded inputs...
    rounded_a = keras.ops.convert_to_numpy(keras.ops.cast(low_a, "float32"))
    rounded_b = keras.ops.convert_to_numpy(keras.ops.cast(low_b, "float32"))
    expected = reference_per_anchor(rounded_a, rounded_b, PretrainConfig.temperature).mean()
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    # ... and close to the float32 loss of the unrounded inputs.
    assert float(loss) == pytest.approx(float(nt_xent(z_a, z_b)), rel=1e-2)


def test_gradient_is_finite_for_identical_and_zero_embeddings():
    z = np.ones((4, 8), dtype="float32")
    grad = gradient(lambda x: nt_xent(x, x), z)
    assert np.all(np.isfinite(grad))
    z = np.zeros((4, 8), dtype="float32")
    grad = gradient(lambda x: nt_xent(x, x + 1.0), z)
    assert np.all(np.isfinite(grad))


def test_gradient_matches_finite_differences():
    z_a, z_b = random_pair(3, 4)
    stacked = np.concatenate([z_a, z_b]).astype("float64")
    grad = gradient(lambda z: nt_xent(z[:3], z[3:], 0.5), stacked.astype("float32"))
    step = 1e-5
    numeric = np.zeros_like(stacked)
    for index in np.ndindex(stacked.shape):
        shifted = [stacked.copy(), stacked.copy()]
        shifted[0][index] += step
        shifted[1][index] -= step
        up, down = (reference_per_anchor(s[:3], s[3:], 0.5).mean() for s in shifted)
        numeric[index] = (up - down) / (2 * step)
    np.testing.assert_allclose(grad, numeric, rtol=1e-2, atol=1e-4)


def test_default_temperature_comes_from_pretrain_config():
    z_a, z_b = random_pair(5, 8)
    expected = float(nt_xent(z_a, z_b, PretrainConfig().temperature))
    assert float(nt_xent(z_a, z_b)) == pytest.approx(expected)
    assert NTXent().temperature == PretrainConfig().temperature


def test_loss_class_takes_stacked_views():
    z_a, z_b = random_pair(6, 8)
    stacked = np.concatenate([z_a, z_b])
    loss = NTXent(temperature=0.2)
    assert float(loss(None, stacked)) == pytest.approx(float(nt_xent(z_a, z_b, 0.2)), rel=1e-6)
    ignored = np.full((12, 1), 7.0, "float32")
    assert float(loss(ignored, stacked)) == pytest.approx(float(loss(None, stacked)))
    # The class returns per-anchor losses, so reductions and weights apply per anchor.
    summed = NTXent(temperature=0.2, reduction="sum")(None, stacked)
    expected = reference_per_anchor(z_a, z_b, 0.2)
    assert float(summed) == pytest.approx(expected.sum(), rel=1e-4)
    weights = np.r_[np.ones(6), np.zeros(6)].astype("float32")
    weighted = NTXent(temperature=0.2, reduction="sum")(None, stacked, sample_weight=weights)
    assert float(weighted) == pytest.approx(expected[:6].sum(), rel=1e-4)


def test_loss_class_config_round_trip():
    loss = NTXent(temperature=0.7, reduction="sum", name="contrastive")
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(loss)))
    revived = keras.saving.deserialize_keras_object(config, safe_mode=True)
    assert isinstance(revived, NTXent)
    assert revived.get_config() == loss.get_config()
    assert revived.temperature == 0.7


@pytest.mark.parametrize("temperature", [0.0, -1.0, True, "0.5"])
def test_invalid_temperature_raises(temperature):
    with pytest.raises(ConfigError, match="temperature"):
        nt_xent(np.ones((2, 3), "float32"), np.ones((2, 3), "float32"), temperature)
    with pytest.raises(ConfigError, match="temperature"):
        NTXent(temperature=temperature)


def test_odd_number_of_stacked_rows_raises():
    with pytest.raises(ValueError, match=r"even number of rows\. Received 5 rows"):
        split_views(np.ones((5, 3), "float32"))
    with pytest.raises(ValueError, match="even number of rows"):
        NTXent()(None, np.ones((5, 3), "float32"))


def test_wrong_rank_raises():
    with pytest.raises(ValueError, match=r"Received shapes \(2, 3, 1\) and \(2, 3, 1\)"):
        nt_xent(np.ones((2, 3, 1), "float32"), np.ones((2, 3, 1), "float32"))
    with pytest.raises(ValueError, match="shape \\(2 \\* batch, dim\\)"):
        split_views(np.ones(4, "float32"))
