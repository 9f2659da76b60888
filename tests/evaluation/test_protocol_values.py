"""Values, not just shapes: what the protocol feeds its predictors and how it scales results."""

import keras
import numpy as np
import pytest

from mpikeras.evaluation import ProtocolSettings, evaluate_reconstruction, evaluate_recovery
from mpikeras.evaluation.classic import PAPER_CLASSIC
from mpikeras.evaluation.predictors import reconstruction_predictor, recovery_predictor
from mpikeras.evaluation.truth import projected_amount
from mpikeras.io.grid import Grid
from mpikeras.preprocessing import voxel_signals
from mpikeras.simulation.phantoms import Phantom


def test_reconstruction_inputs_are_fed_in_the_truths_voxel_order(data):
    """An oracle that reads its input: it only scores 0 if input i is voxel i (x fastest)."""
    train, test, _ = data
    reference = voxel_signals(test.subsample(2, 2)).signals  # (Ny, Nx, V, C)
    ny, nx = reference.shape[:2]
    flat = reference.reshape(ny * nx, -1)

    def oracle(signals):
        index = [int(np.argmin(np.abs(flat - s.reshape(1, -1)).sum(axis=1))) for s in signals]
        return np.eye(ny * nx, dtype=np.float32)[index].reshape(-1, ny, nx)

    result = evaluate_reconstruction({"oracle": oracle}, test, train, classic=PAPER_CLASSIC)
    np.testing.assert_array_equal(result.voxel_nrmse["oracle"], 0.0)


def test_the_input_sm_image_is_rescaled_to_the_finer_grid(data):
    """The 4 mm input SM's voxels each hold twice the iron of a 2 mm voxel."""
    _, test, measurement = data
    result = evaluate_recovery({}, test, measurement, settings=ProtocolSettings())
    total = {k: float(v.sum()) for k, v in result.phantom_images.items()}
    assert total["input"] == pytest.approx(total["ground truth"], rel=0.2)


def test_projected_amount_is_iron_over_the_delta_samples_iron():
    grid = Grid((3, 3, 1), (0.006, 0.006, 0.001))  # 2 mm voxels, centre voxel at 0

    def block(points):
        inside = np.all(np.abs(points[:, :2]) < 0.001, axis=1) & (np.abs(points[:, 2]) < 0.0005)
        return np.where(inside, 0.05, 0.0)

    phantom = Phantom(
        "block",
        "2 x 2 x 1 mm at 0.05 mol/L",
        block,
        ((-0.001, -0.001, -0.0005), (0.001, 0.001, 0.0005)),
    )
    amount = projected_amount(phantom, grid, 8e-9, 0.1)
    expected = np.zeros((3, 3))
    expected[1, 1] = 0.05 * 4e-9 / (8e-9 * 0.1)  # iron in the column / iron of one delta sample
    np.testing.assert_allclose(amount, expected, rtol=1e-9, atol=1e-12)


def _identity_model(scale: float) -> keras.Model:
    x = keras.Input((8, 2))
    model = keras.Model(x, keras.layers.Rescaling(1.0)(x))
    model.normalization_scale = scale
    return model


def test_predictors_apply_and_undo_the_models_normalisation():
    signals = np.random.default_rng(0).normal(size=(5, 8, 2)).astype(np.float32)
    recover = recovery_predictor(_identity_model(4.0))
    np.testing.assert_allclose(recover(signals, signals + 1), signals, rtol=1e-6)
    reconstruct = reconstruction_predictor(_identity_model(4.0))
    np.testing.assert_allclose(reconstruct(signals), signals[..., 0] / 4.0, rtol=1e-6)
