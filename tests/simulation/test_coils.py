"""Receive coils: sensitivity map over the FOV, x-y coupling, gain with temperature."""

import numpy as np
import pytest

from mpikeras.errors import ConfigError
from mpikeras.simulation import preset, simulate_signals
from mpikeras.simulation.coils import CoilModel

POINTS = np.random.default_rng(0).uniform(-0.02, 0.02, (50, 3))


def test_switched_off_the_coils_are_homogeneous_uncoupled_and_of_constant_gain():
    coils = CoilModel()
    assert np.array_equal(coils.sensitivity_map(POINTS, 3), np.ones((50, 3)))
    assert np.array_equal(coils.coupling_matrix(3), np.eye(3))
    assert np.array_equal(coils.gain(np.arange(5.0), np.random.default_rng(0)), np.ones(5))


def test_the_sensitivity_map_is_harmonic_and_changes_by_k_at_the_edge_on_the_axis():
    coils = CoilModel(enabled=True)
    assert np.array_equal(coils.sensitivity_map(np.zeros((1, 3)), 3), np.ones((1, 3)))
    edge = coils.sensitivity_map(np.array([[0.0, 0.012, 0.0]]), 3)[0]
    assert edge[1] == pytest.approx(1 + coils.sensitivity_change_at_edge)
    # A coil's field satisfies Laplace's equation: the discrete Laplacian vanishes.
    h = 1e-3
    centre = coils.sensitivity_map(POINTS, 3)
    laplacian = -6 * centre
    for axis in range(3):
        for sign in (-1, 1):
            laplacian += coils.sensitivity_map(POINTS + sign * h * np.eye(3)[axis], 3)
    assert np.abs(laplacian).max() < 1e-12


def test_channel_coupling_is_symmetric_as_configured_and_leaves_z_alone():
    matrix = CoilModel(enabled=True, coupling=0.02).coupling_matrix(3)
    assert np.array_equal(matrix, matrix.T)
    assert matrix[0, 1] == matrix[1, 0] == 0.02
    assert np.array_equal(matrix[2], [0, 0, 1]) and np.array_equal(matrix[:, 2], [0, 0, 1])


def test_gain_follows_the_temperature_course_drawn_from_the_seed():
    coils = CoilModel(enabled=True)
    times = np.linspace(0, 7200.0, 5)
    a = coils.gain(times, np.random.default_rng(3))
    assert np.array_equal(a, coils.gain(times, np.random.default_rng(3)))
    assert not np.array_equal(a, coils.gain(times, np.random.default_rng(4)))
    assert np.allclose(np.diff(a, 2), 0)  # linear in time
    warm = CoilModel(enabled=True, temperature_offset_kelvin=5.0).gain(
        times, np.random.default_rng(3)
    )
    assert np.allclose(warm - a, 5.0 * coils.gain_per_kelvin)


def test_the_particle_signal_is_scaled_by_the_map_at_each_position():
    cfg = preset("openmpi-2d-19")
    on = preset("openmpi-2d-19", coils=CoilModel(enabled=True))
    points = np.array([[0.0, 0.0, 0.0], [0.01, -0.006, 0.0]])
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = simulate_signals(on, points) / simulate_signals(cfg, points)
    expected = on.coils.sensitivity_map(points, 3)
    finite = np.isfinite(ratio) & (np.abs(simulate_signals(cfg, points)) > 0)
    got = np.where(finite, ratio, np.nan)
    for m in range(2):
        for c in range(2):
            assert np.nanmedian(np.abs(got[m, c])) == pytest.approx(expected[m, c], rel=1e-5)


def test_the_coil_model_refuses_bad_values():
    with pytest.raises(ConfigError, match="coupling"):
        CoilModel(coupling=1.0)
    with pytest.raises(ConfigError, match="edge_radius_m"):
        CoilModel(edge_radius_m=0.0)
