import numpy as np
import pytest

from mpikeras.evaluation import mean_std, nrmse, recovery_baselines
from mpikeras.evaluation.baselines import nearest_template_images, training_sm_lookup
from mpikeras.io.grid import Grid
from mpikeras.preprocessing import RecoveryGeometry


def test_nrmse_known_values_and_shape():
    gt = np.array([[0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 1.0, 3.0]])
    pred = gt + np.array([[1.0, -1.0, 1.0, -1.0], [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(nrmse(pred, gt), [1.0 / 3.0, 0.0])
    assert nrmse(np.zeros((3, 5, 2)), np.ones((3, 5, 2)) * np.arange(2)).shape == (3,)
    assert np.isinf(nrmse(np.ones((1, 3)), np.zeros((1, 3))))[0]
    with pytest.raises(ValueError, match="shape"):
        nrmse(np.zeros((2, 3)), np.zeros((2, 4)))


def test_nrmse_is_scale_invariant_and_mean_std_counts():
    rng = np.random.default_rng(0)
    gt, pred = rng.normal(size=(4, 50)), rng.normal(size=(4, 50))
    np.testing.assert_allclose(nrmse(7 * pred, 7 * gt), nrmse(pred, gt))
    stats = mean_std([1.0, 2.0, 3.0])
    assert stats == {"mean": 2.0, "std": pytest.approx(np.sqrt(2 / 3)), "n": 3}


def test_baselines_are_exact_where_they_should_be():
    ny, nx, v = 21, 6, 8
    y = np.arange(ny, dtype=float)[:, None, None, None]
    shape = np.ones((1, nx, v, 2))
    geo = RecoveryGeometry(ny, nx, step_x=2, step_y=4, target_offset_y=2)
    linear = recovery_baselines(y * shape, geo)
    expected = geo.target_rows[:, None, None, None] * shape[:, geo.columns]
    np.testing.assert_allclose(linear["linear"], expected, rtol=1e-6)
    np.testing.assert_allclose(
        linear["copy"], (geo.target_rows - 2)[:, None, None, None] * shape[:, geo.columns]
    )
    cubic = recovery_baselines((y**3 - 4 * y) * shape, geo)
    t = geo.target_rows.astype(float)
    np.testing.assert_allclose(
        cubic["cubic"], (t**3 - 4 * t)[:, None, None, None] * shape[:, geo.columns], rtol=1e-5
    )
    assert np.abs(cubic["linear"] - cubic["cubic"]).max() > 1.0  # linear misses the curvature


def test_nrmse_divides_by_the_range_not_the_peak():
    gt = np.array([[2.0, 3.0, 6.0]])  # range 4, peak 6
    pred = gt + np.array([[2.0, -2.0, 2.0]])
    np.testing.assert_allclose(nrmse(pred, gt), [0.5])
    rng = np.random.default_rng(1)
    gt, pred = rng.normal(size=(3, 20)), rng.normal(size=(3, 20))
    np.testing.assert_allclose(nrmse(pred + 5.0, gt + 5.0), nrmse(pred, gt))


def test_lookup_is_the_training_column_where_positions_coincide_and_bilinear_between():
    train_grid = Grid((5, 4, 1), (0.010, 0.008, 0.001))
    y, x = np.meshgrid(train_grid.axis_m(1), train_grid.axis_m(0), indexing="ij")
    plane = (3.0 * x - 2.0 * y + 0.01)[..., None, None] * np.ones((1, 1, 6, 2))
    fine = Grid((10, 8, 1), (0.010, 0.008, 0.001))
    coincide = Grid((5, 4, 1), (0.010, 0.008, 0.001))
    np.testing.assert_allclose(training_sm_lookup(plane, train_grid, coincide), plane, atol=1e-7)
    fy, fx = np.meshgrid(fine.axis_m(1), fine.axis_m(0), indexing="ij")
    expected = (3.0 * fx - 2.0 * fy + 0.01)[..., None, None] * np.ones((1, 1, 6, 2))
    np.testing.assert_allclose(training_sm_lookup(plane, train_grid, fine), expected, atol=1e-7)


def test_nearest_template_finds_the_voxel_and_its_amplitude():
    rng = np.random.default_rng(2)
    templates = rng.normal(size=(12, 30, 2))
    order = rng.permutation(12)
    amplitudes = rng.uniform(0.5, 2.0, size=12)
    signals = templates[order] * amplitudes[:, None, None] + 0.01 * rng.normal(size=(12, 30, 2))
    images = nearest_template_images(signals, templates, (3, 4))
    assert images.shape == (12, 3, 4)
    flat = images.reshape(12, -1)
    np.testing.assert_array_equal(flat.argmax(axis=1), order)
    np.testing.assert_allclose(flat.max(axis=1), amplitudes, rtol=0.02)
    assert np.count_nonzero(flat) == 12
