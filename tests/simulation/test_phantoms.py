"""Phantoms: geometry on grids, and measurements that the system matrix explains."""

import numpy as np
import pytest
from scipy.optimize import nnls

from mpikeras.errors import ConfigError
from mpikeras.io import Grid
from mpikeras.simulation import preset, simulate_signals, simulate_system_matrix
from mpikeras.simulation.phantoms import (
    PHANTOMS,
    Phantom,
    phantom,
    phantom_spectra,
    simulate_measurement,
)

V = 1632
LEVELS = [0.100, 0.0666, 0.0444, 0.0296, 0.0197, 0.0131, 0.00877, 0.00585]


@pytest.fixture(scope="module")
def config():
    return preset("openmpi-2d-19")


@pytest.fixture(scope="module")
def sm(config):
    return simulate_system_matrix(config, seed=1)


def _boxes(centres, concentrations, size):
    """A phantom of boxes of edge `size` (3,) with the given centres and mol/L."""
    centres, size = np.asarray(centres), np.asarray(size)

    def fn(points):
        out = np.zeros(points.shape[0])
        for centre, level in zip(centres, concentrations, strict=True):
            out[np.all(np.abs(points - centre) < size / 2, axis=1)] = level
        return out

    bounds = (tuple(centres.min(0) - size / 2), tuple(centres.max(0) + size / 2))
    return Phantom("boxes", "delta-sample-sized boxes", fn, bounds)


def test_measurement_of_delta_boxes_is_the_system_matrix_times_concentration(config, sm):
    # Boxes the size of the delta sample at grid voxels: the measurement must be the sum of
    # those SM columns weighted by c / c_delta, up to noise and the two volume rules
    # (Gauss-Legendre 2 x 2 x 2 for the SM, midpoint at 0.25 mm for the phantom).
    voxels = [(9, 9), (4, 13), (15, 6)]  # (y, x) on the 19 x 19 central slice
    conc = np.array([0.1, 0.05, 0.02])
    positions = config.scan_grid.positions_m()[0]
    centres = np.array([positions[y, x] for y, x in voxels])
    target = _boxes(centres, conc, config.delta_sample_size_m)
    meas = simulate_measurement(target, config, seed=2, num_frames=10, num_background_frames=10)
    w = conc / config.concentration_mol_per_l
    predicted = sum(wi * sm.spectra[:, :, 0, y, x] for wi, (y, x) in zip(w, voxels, strict=True))
    residual = np.fft.irfft(meas.spectra()[:2] - predicted[:2], n=V, axis=-1)
    # Noise of the residual per time sample: measurement (10 fg, 10 bg frames) and the SM
    # columns (each with its noise minus the mean of E background frames, shared).
    sigma = config.receiver.noise_std_volt
    e = config.num_background_frames
    noise = sigma * np.sqrt(1 / 10 + 1 / 10 + np.sum(w**2) + np.sum(w) ** 2 / e)
    signal_rms = np.fft.irfft(predicted[:2], n=V, axis=-1).std()
    assert signal_rms > 100 * noise
    assert residual.std() < np.hypot(1.1 * noise, 4e-3 * signal_rms)
    assert residual.std() > 0.85 * noise  # the noise is really there
    # Noise-free, the two volume rules agree to a few 1e-3.
    clean = np.tensordot(w, simulate_signals(config, centres), axes=1)
    boxes = phantom_spectra(config, target)
    assert np.linalg.norm(boxes - clean) < 5e-3 * np.linalg.norm(clean)


@pytest.mark.parametrize("name", ["resolution", "shape"])
def test_real_phantoms_are_explained_by_system_matrix_columns(config, sm, name):
    meas = simulate_measurement(name, config, seed=3)
    f = config.acquisition.frequencies_hz
    rows = np.zeros((3, f.size), bool)
    rows[:2] = f >= 80e3
    s = sm.matrix(frequency_mask=rows)
    u = meas.spectra()[rows]
    a, b = np.concatenate([s.real, s.imag]), np.concatenate([u.real, u.imag])
    weights, residual = nnls(a, b, maxiter=5000)  # non-negative concentrations
    assert residual < 0.04 * np.linalg.norm(b)
    # The fit looks like the phantom on the central slice, not like its mirror images
    # (the phantoms reach out of the 1 mm slice, so the fit is not the slice itself).
    truth = meas.ground_truth[0][0]

    def cosine(image):
        return weights @ image.ravel() / np.linalg.norm(weights) / np.linalg.norm(image)

    assert cosine(truth) > 0.9
    if name == "resolution":
        assert cosine(truth) > max(cosine(truth[:, ::-1]), cosine(truth[::-1])) + 0.2
    else:  # the cone is symmetric in x
        assert cosine(truth) > cosine(truth[::-1]) + 0.1


def _truncated_cone_mol():
    r1, r2, h = 1e-3, 1e-3 + 0.022 * np.tan(np.deg2rad(5.0)), 0.022
    return np.pi * h / 3 * (r1**2 + r1 * r2 + r2**2) * 0.05 * 1e3


@pytest.mark.parametrize(
    "name, grid, expected_mol, rel",
    [
        ("concentration", preset("openmpi-2d-19").grid, 8e-9 * sum(LEVELS) * 1e3, 1e-9),
        ("concentration", preset("openmpi-2d-37").grid, 8e-9 * sum(LEVELS) * 1e3, 1e-9),
        ("shape", preset("openmpi-2d-19").grid, _truncated_cone_mol(), 0.01),
        # 1 x 1 x 0.5 mm voxels (the 37 grid) around the five tubes.
        (
            "resolution",
            Grid((15, 25, 17), (0.015, 0.025, 0.0085), (0.005, 0.0, 0.0025)),
            None,
            0.03,
        ),
    ],
)
def test_concentration_on_integrates_to_volume_times_concentration(name, grid, expected_mol, rel):
    target = phantom(name)
    if expected_mol is None:  # overlapping tubes: Monte Carlo over the bounding box
        lo, hi = map(np.asarray, target.bounds_m)
        points = lo + (hi - lo) * np.random.default_rng(0).random((400_000, 3))
        expected_mol = target.concentration(points).mean() * np.prod(hi - lo) * 1e3
        assert expected_mol < 5 * (np.pi * 0.0005**2 * 0.022) * 0.05 * 1e3  # tubes overlap
    image = target.concentration_on(grid)
    assert image.shape == grid.shape and image.min() >= 0
    total = image.sum() * np.prod(grid.voxel_size_m) * 1e3  # mol of iron
    assert total == pytest.approx(expected_mol, rel=rel)


def test_concentration_phantom_levels_and_positions():
    grid = preset("openmpi-2d-37").grid  # 1 x 1 x 0.5 mm voxels centred on the cube faces
    image = phantom("concentration").concentration_on(grid)

    def at(x_mm, y_mm, z_mm):
        i = [
            int(np.argmin(np.abs(grid.axis_m(a) * 1e3 - v)))
            for a, v in enumerate((x_mm, y_mm, z_mm))
        ]
        return image[i[2], i[1], i[0]]

    # Concentrations fall x fastest, then y, then z, from the cube at (-6, -6, -3) mm.
    for n, level in enumerate(LEVELS):
        x, y, z = (-6 + 12 * (n % 2), -6 + 12 * (n // 2 % 2), -3 + 6 * (n // 4))
        assert at(x, y, z) == pytest.approx(level)
        assert at(x + 1, y, z) == pytest.approx(level / 2)  # voxel [6.5, 7.5] mm: half inside
        assert at(x + 1, y + 1, z + 1) == pytest.approx(level / 8)
        assert at(x + 2, y, z) == 0.0
    assert at(0, 0, 0) == 0.0


def test_measurement_structure_noise_and_seeds(config):
    kwargs = {"num_frames": 6, "num_background_frames": 8, "spacing_m": 0.5e-3}
    meas = simulate_measurement("resolution", config, seed=4, **kwargs)
    assert meas.data.shape == (14, 1, 3, V)
    np.testing.assert_array_equal(meas.is_background_frame, [False] * 6 + [True] * 8)
    truth, grid = meas.ground_truth
    assert grid == config.scan_grid
    np.testing.assert_array_equal(truth, phantom("resolution").concentration_on(grid))
    sigma = config.receiver.noise_std_volt
    bg = meas.background.astype(np.float64)
    noise = (bg - bg.mean(axis=0)) * np.sqrt(8 / 7)
    assert noise.std() == pytest.approx(sigma, rel=0.03)
    fg = meas.foreground.astype(np.float64)
    assert (fg - fg.mean(axis=0)).std() * np.sqrt(6 / 5) == pytest.approx(sigma, rel=0.04)
    again = simulate_measurement("resolution", config, seed=4, **kwargs)
    np.testing.assert_array_equal(again.data, meas.data)
    other = simulate_measurement("resolution", config, seed=5, **kwargs)
    diff = (other.data - meas.data).astype(np.float64)
    assert diff.std() == pytest.approx(np.sqrt(2) * sigma, rel=0.03)


def test_phantom_sample_is_a_midpoint_rule():
    cube = _boxes([[0.0, 0.0, 0.0]], [0.1], (0.002, 0.002, 0.002))
    points, conc = cube.sample(0.25e-3)
    assert points.shape == (512, 3)
    assert conc.sum() * 0.25e-3**3 == pytest.approx(0.1 * 8e-9)
    np.testing.assert_allclose(points.mean(axis=0), 0.0, atol=1e-15)


def test_unknown_phantom_and_bad_supersample():
    assert set(PHANTOMS) == {"resolution", "concentration", "shape"}
    with pytest.raises(ConfigError, match=r"phantom.*expected one of.*received 'cube'"):
        phantom("cube")
    with pytest.raises(ConfigError, match=r"supersample.*received 0"):
        phantom("shape").concentration_on(preset("openmpi-2d-19").scan_grid, supersample=0)
