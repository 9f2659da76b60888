import numpy as np
import pytest

from mpikeras.evaluation import mean_std, nrmse, recovery_baselines
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
