"""Simulated calibration scans: grids, linearity, noise, background, seeds, receive chain."""

import dataclasses

import numpy as np
import pytest

from mpikeras.errors import ConfigError
from mpikeras.io import Grid
from mpikeras.simulation import (
    PRESETS,
    CalibrationConfig,
    ReceiveChain,
    box_quadrature,
    preset,
    simulate_signals,
    simulate_system_matrix,
)

V = 1632


@pytest.fixture(scope="module")
def config():
    return preset("openmpi-2d-19")


@pytest.fixture(scope="module")
def sm(config):
    return simulate_system_matrix(config, seed=0)


@pytest.mark.parametrize(
    "name, n, fov, delta",
    [
        ("openmpi-2d-19", 19, (0.038, 0.038, 0.019), (0.002, 0.002, 0.001)),
        ("openmpi-2d-37", 37, (0.037, 0.037, 0.0185), (0.001, 0.001, 0.0005)),
    ],
)
def test_preset_grids_follow_the_openmpidata_convention(name, n, fov, delta):
    cfg = preset(name)
    assert cfg.grid.size == (n, n, n) and cfg.grid.fov_m == pytest.approx(fov)
    assert cfg.delta_sample_size_m == delta
    i = np.arange(1, n + 1)
    for axis in range(3):
        expected = 0.0 + fov[axis] / 2 * (-1 + (2 * i - 1) / n)  # pos_i, centre 0
        np.testing.assert_allclose(cfg.grid.axis_m(axis), expected, atol=1e-15)
    scan = cfg.scan_grid  # the central slice: the paper's slice 10 of 19 / 18 of 37 (0-based)
    assert scan.size == (n, n, 1)
    assert scan.center_m[2] == pytest.approx(0.0, abs=1e-15)
    assert cfg.grid.axis_m(2)[n // 2] == pytest.approx(0.0, abs=1e-15)
    positions = scan.positions_m()
    np.testing.assert_allclose(positions[..., 2], 0.0, atol=1e-15)
    # The 37 grid has 1 mm pitch from -18 to 18 mm, the 19 grid 2 mm pitch.
    np.testing.assert_allclose(positions[0, 0, :, 0], np.linspace(-0.018, 0.018, n), atol=1e-15)


def test_system_matrix_layout_and_metadata(config, sm):
    assert sm.spectra.shape == (3, V // 2 + 1, 1, 19, 19)
    assert sm.background.shape == (3, V // 2 + 1, config.num_background_frames)
    assert sm.delta_sample_size_m == (0.002, 0.002, 0.001)
    assert sm.grid == config.scan_grid
    np.testing.assert_allclose(
        sm.acquisition.transfer_function,
        np.tile(config.receiver.transfer_function(config.acquisition.frequencies_hz), (3, 1)),
    )
    # Voxel order x fastest: column (y, x) holds the signal of the sample at that position.
    positions = config.scan_grid.positions_m()
    clean = simulate_signals(config, positions[0, [2, 11], [5, 7]])
    noise_floor = 10 * config.receiver.noise_std_volt * np.sqrt(V)
    for m, (y, x) in enumerate([(2, 5), (11, 7)]):
        assert np.abs(sm.spectra[:, :, 0, y, x] - clean[m]).max() < noise_floor


def test_signal_is_linear_in_concentration(config):
    positions = config.scan_grid.positions_m().reshape(-1, 3)[::17]
    base = simulate_signals(config, positions)
    tripled = simulate_signals(dataclasses.replace(config, concentration_mol_per_l=0.3), positions)
    np.testing.assert_allclose(tripled, 3 * base, rtol=1e-5, atol=1e-6 * np.abs(base).max())
    empty = simulate_signals(dataclasses.replace(config, concentration_mol_per_l=0.0), positions)
    assert not np.any(empty)


def test_z_mirror_of_a_3d_scan():
    # B_z = -2 z and no z drive: the voxel at -z sees diag(1, 1, -1) times the field at z.
    cfg = CalibrationConfig(
        grid=Grid((3, 3, 3), (0.006, 0.006, 0.003)),
        delta_sample_size_m=(0.002, 0.002, 0.001),
        slices="all",
    )
    sm = simulate_system_matrix(cfg, seed=0)
    assert sm.spectra.shape == (3, V // 2 + 1, 3, 3, 3)
    clean = simulate_signals(cfg, cfg.grid.positions_m().reshape(-1, 3)).reshape(3, 3, 3, 3, -1)
    scale = np.abs(clean).max()
    np.testing.assert_allclose(clean[2, :, :, :2], clean[0, :, :, :2], atol=1e-6 * scale)
    np.testing.assert_allclose(clean[2, :, :, 2], -clean[0, :, :, 2], atol=1e-6 * scale)
    assert np.abs(clean[0, :, :, 2]).max() > 1e-3 * scale  # off the plane z picks up signal


def test_same_seed_same_data_and_different_seed_only_different_noise(config, sm):
    again = simulate_system_matrix(config, seed=0)
    np.testing.assert_array_equal(again.spectra, sm.spectra)
    np.testing.assert_array_equal(again.background, sm.background)
    other = simulate_system_matrix(config, seed=1)
    diff = np.fft.irfft(other.spectra - sm.spectra, n=V, axis=1)
    # Corrected frame = signal + noise - mean of E background noises: the difference of two
    # seeds is noise with variance 2 sigma^2 (1 + 1/E) per sample.
    e = config.num_background_frames
    sigma = config.receiver.noise_std_volt
    assert diff.std() == pytest.approx(sigma * np.sqrt(2 * (1 + 1 / e)), rel=0.02)


def test_background_frames_measure_feedthrough_plus_receiver_noise(config, sm):
    sigma = config.receiver.noise_std_volt
    bg = np.fft.irfft(sm.background, n=V, axis=1)  # (C, V, E)
    static = bg.mean(axis=-1, keepdims=True)  # the feed-through (plus noise / E)
    e = bg.shape[-1]
    noise = (bg - static) * np.sqrt(e / (e - 1))
    assert noise.std() == pytest.approx(sigma, rel=0.02)
    # The static part is the feed-through at the drive frequencies, and the
    # correction removes it: bin 16 of x holds the particle signal and noise only.
    spectrum = np.fft.rfft(static[..., 0], axis=1)
    assert np.abs(spectrum[0, 16]) > 100 * np.sqrt(V) * sigma
    clean = simulate_signals(config, config.scan_grid.positions_m().reshape(-1, 3))
    residual = sm.spectra[0, 16, 0].reshape(-1) - clean[:, 0, 16]
    assert np.abs(residual).max() < 6 * sigma * np.sqrt(V / 2 * (1 + 1 / e))


def test_empty_scan_is_noise_at_the_receiver_level(config):
    cfg = dataclasses.replace(config, concentration_mol_per_l=0.0, num_background_frames=10)
    sm = simulate_system_matrix(cfg, seed=5)
    u = sm.time_signals()  # (1, 19, 19, V, C), background-corrected noise
    sigma = cfg.receiver.noise_std_volt
    assert u.std() == pytest.approx(sigma * np.sqrt(1 + 1 / 10), rel=0.02)
    assert abs(u.mean()) < 0.01 * sigma


def test_receive_chain_suppresses_the_fundamental_and_passes_the_band():
    chain = ReceiveChain()
    drive_hz = 2.5e6 / np.array([102, 96, 99])
    gain_db = 20 * np.log10(np.abs(chain.transfer_function(np.r_[25e3, drive_hz])))
    assert np.all(gain_db < -25)
    band = np.linspace(80e3, 600e3, 200)
    band_db = 20 * np.log10(np.abs(chain.transfer_function(band)))
    assert band_db.min() > -3 and band_db.max() < 0.5
    assert chain.transfer_function(0.0) == 0  # a high-pass blocks DC
    f = np.linspace(1e3, 60e3, 50)
    assert np.all(np.diff(np.abs(chain.transfer_function(f))) > 0)


def test_box_quadrature_integrates_polynomials_exactly():
    size = (0.002, 0.003, 0.001)
    offsets, weights = box_quadrature(size, (2, 3, 1))
    assert offsets.shape == (6, 3)
    assert weights.sum() == pytest.approx(np.prod(size), rel=1e-14)
    # 2 points: exact to degree 3 in x; 3 points: degree 5 in y.
    assert weights @ offsets[:, 0] ** 2 == pytest.approx(size[0] ** 2 / 12 * np.prod(size))
    assert weights @ offsets[:, 1] ** 4 == pytest.approx(size[1] ** 4 / 80 * np.prod(size))
    np.testing.assert_allclose(weights @ offsets, 0.0, atol=1e-20)


def test_preset_overrides_and_unknown_names():
    cfg = preset("openmpi-2d-37", slices="all", concentration_mol_per_l=0.05)
    assert cfg.scan_grid.size == (37, 37, 37) and cfg.concentration_mol_per_l == 0.05
    assert set(PRESETS) == {"openmpi-2d-19", "openmpi-2d-37"}
    with pytest.raises(ConfigError, match=r"unknown simulation preset.*expected one of.*'nope'"):
        preset("nope")


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"slices": "middle"}, "slices"),
        ({"delta_sample_size_m": (0.001, 0.0, 0.001)}, "delta_sample_size_m"),
        ({"quadrature": (2, 0, 2)}, "quadrature"),
        ({"concentration_mol_per_l": -0.1}, "concentration_mol_per_l"),
        ({"num_background_frames": -1}, "num_background_frames"),
    ],
)
def test_config_rejects_bad_values(kwargs, key):
    with pytest.raises(ConfigError, match=rf"CalibrationConfig\.{key}.*expected .*received"):
        preset("openmpi-2d-19", **kwargs)


def test_receive_chain_rejects_bad_values():
    with pytest.raises(ConfigError, match=r"ReceiveChain\.noise_std_volt.*received -1"):
        ReceiveChain(noise_std_volt=-1)
    with pytest.raises(ConfigError, match=r"ReceiveChain\.highpass_order"):
        ReceiveChain(highpass_order=0)


def test_preset_rejects_unknown_override():
    with pytest.raises(ConfigError, match=r"preset\.slice.*unknown field.*'slices'"):
        preset("openmpi-2d-19", slice="all")


def test_large_sample_is_its_weighted_quadrature_points():
    # The magnetisation table must cover every quadrature point, also for a large sample
    # at a negative position (its outer points see the strongest field).
    size = (0.1, 0.1, 0.01)
    big = preset("openmpi-2d-19", delta_sample_size_m=size)
    position = np.array([[-0.018, -0.018, 0.0]])
    offsets, weights = box_quadrature(size, big.quadrature)
    tiny = preset("openmpi-2d-19", delta_sample_size_m=(1e-6,) * 3, quadrature=(1, 1, 1))
    points = simulate_signals(tiny, position + offsets)  # each one a 1e-18 m^3 sample
    expected = np.tensordot(weights / 1e-18, points, axes=1)
    got = simulate_signals(big, position)[0]
    assert np.linalg.norm(got - expected) < 1e-4 * np.linalg.norm(expected)
