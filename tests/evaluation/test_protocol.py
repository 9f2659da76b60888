import dataclasses

import numpy as np
import pytest

from mpikeras.evaluation import ProtocolSettings, evaluate_reconstruction, evaluate_recovery
from mpikeras.evaluation.classic import ClassicSettings
from mpikeras.evaluation.truth import projected_amount
from mpikeras.preprocessing import RecoveryGeometry, voxel_signals
from mpikeras.simulation import preset, simulate_system_matrix
from mpikeras.simulation.phantoms import resolution_phantom

#: The setting `tune_classic` chooses on the simulated training SM (see test_classic.py).
TUNED = ClassicSettings(lam=1e-3, iterations=10, snr_threshold=1.25)


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

    result = evaluate_reconstruction({"oracle": oracle}, test, train, classic=TUNED)
    means = {k: v.mean() for k, v in result.voxel_nrmse.items()}
    assert means["oracle"] == 0.0
    assert means["zero image"] == pytest.approx(1 / 19)
    # Regularisation and more sweeps beat the paper's one unregularised sweep, and
    # the test SM reconstructs its own voxels (an inverse crime) better still.
    assert means["Kaczmarz (tuned)"] < 0.5 * means["Kaczmarz (paper setting)"]
    assert means["oracle: Kaczmarz (test SM)"] < 0.5 * means["Kaczmarz (tuned)"]
    assert result.classic == TUNED
    # Template matching against the training SM names every lit voxel.
    nearest = np.asarray(result.voxel_nrmse["nearest"])
    assert nearest.max() < 0.01
    assert set(result.examples) >= {"ground truth", "oracle", "nearest", "Kaczmarz (tuned)"}
    assert result.example_voxel == (9, 9)
    assert result.inside_fov.sum() == 169  # 13 x 13 of the 2 mm voxels within +-12 mm


def test_a_training_sm_without_background_frames_scores_only_the_paper_setting(data):
    train, test, _ = data
    bare = dataclasses.replace(train, background=train.background[..., :0])
    result = evaluate_reconstruction({}, test, bare)
    assert "Kaczmarz (paper setting)" in result.voxel_nrmse and result.classic is None
    assert not {"Kaczmarz (tuned)", "oracle: Kaczmarz (test SM)"} & set(result.voxel_nrmse)


def test_recovery_lookup_noise_floor_and_fov_masks(data):
    train, test, _ = data
    clean = simulate_system_matrix(preset("openmpi-2d-37").noise_free(), seed=1)
    result = evaluate_recovery({}, test, train_sm=train, noise_free_test_sm=clean)
    assert result.inside_fov.shape == (171,) and result.inside_fov.sum() == 91
    floor = result.noise_floor
    # Noise only: small inside the drive-field FOV, larger outside where the signal is weak.
    assert 0 < floor[result.inside_fov].mean() < floor[~result.inside_fov].mean() < 0.05
    # The training SM sits at the targets' positions: its columns beat interpolating the test SM.
    means = {k: v.mean() for k, v in result.voxel_nrmse.items()}
    assert means["lookup"] < means["linear"]
    assert set(result.noise_free_nrmse) == set(result.voxel_nrmse)
    # Scored against the test SM itself as its "noise-free" version, nothing changes.
    same = evaluate_recovery({}, test, train_sm=train, noise_free_test_sm=test)
    np.testing.assert_array_equal(same.noise_floor, 0.0)
    for name, values in same.voxel_nrmse.items():
        np.testing.assert_array_equal(same.noise_free_nrmse[name], values)


def test_lookup_is_the_training_column_at_the_target():
    """A training SM whose column at each position is the test SM's own target scores 0."""
    test = simulate_system_matrix(preset("openmpi-2d-37"), seed=1)
    train = test.subsample(2, 2)
    result = evaluate_recovery({}, test, train_sm=train)
    np.testing.assert_allclose(result.voxel_nrmse["lookup"], 0.0, atol=1e-6)
