import numpy as np
import pytest

from mpikeras.evaluation import ProtocolSettings, evaluate_reconstruction, evaluate_recovery
from mpikeras.evaluation.truth import projected_amount
from mpikeras.preprocessing import RecoveryGeometry, voxel_signals
from mpikeras.simulation import preset, simulate_system_matrix
from mpikeras.simulation.phantoms import resolution_phantom, simulate_measurement


@pytest.fixture(scope="module")
def data():
    train = simulate_system_matrix(preset("openmpi-2d-19"), seed=0)
    test = simulate_system_matrix(preset("openmpi-2d-37"), seed=1)
    measurement = simulate_measurement("resolution", preset("openmpi-2d-37"), seed=2)
    return train, test, measurement


def _oracle(test_sm):
    """A predictor that knows the true targets: the protocol must score it 0."""
    fine = voxel_signals(test_sm).signals
    geo = RecoveryGeometry(*fine.shape[:2])
    truth = fine[geo.target_rows][:, geo.columns].reshape(-1, *fine.shape[2:])
    lower = fine[geo.source_rows][:, geo.columns].reshape(-1, *fine.shape[2:])

    def predict(lo, up):
        np.testing.assert_array_equal(lo, lower)  # the protocol feeds the voxel 2 mm below
        return truth

    return predict


def test_recovery_protocol_geometry_and_an_oracle(data):
    _, test, measurement = data
    settings = ProtocolSettings()
    grid = test.grid.subsample(2, 2)
    truth = projected_amount(resolution_phantom(), grid, test.delta_sample_volume_m3, 0.1)
    result = evaluate_recovery({"oracle": _oracle(test)}, test, measurement, truth, settings)
    assert result.voxel_nrmse["oracle"].shape == (171,)  # 9 predicted rows x 19 columns
    np.testing.assert_allclose(result.voxel_nrmse["oracle"], 0.0, atol=1e-6)
    assert result.phantom_nrmse["oracle"]["vs_gt_sm"] < 1e-3
    means = {k: v.mean() for k, v in result.voxel_nrmse.items()}
    assert means["linear"] < means["copy"]  # interpolation beats copying on smooth SMs
    gt = result.phantom_images["ground truth"]
    assert gt.shape == (19, 19)
    assert np.corrcoef(gt.ravel(), truth.ravel())[0, 1] > 0.7
    assert result.sm_slices["input"].shape == (10, 19)
    assert result.learned == ("oracle",)


def test_reconstruction_protocol_baselines_and_an_oracle(data):
    train, test, _ = data

    def oracle(signals):
        return np.eye(361, dtype=np.float32).reshape(-1, 19, 19)

    result = evaluate_reconstruction({"oracle": oracle}, test, train)
    means = {k: v.mean() for k, v in result.voxel_nrmse.items()}
    assert means["oracle"] == 0.0
    assert means["zero image"] == pytest.approx(1 / 19)
    # The test SM reconstructs its own voxels far better than the training SM can.
    assert means["classic (test SM)"] < 0.5 * means["classic (train SM)"]
    assert set(result.examples) >= {"ground truth", "oracle", "classic (train SM)"}
    assert result.example_voxel == (9, 9)
