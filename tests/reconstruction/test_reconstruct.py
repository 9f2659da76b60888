import dataclasses

import numpy as np
import pytest

from mpikeras.errors import PreprocessingError
from mpikeras.reconstruction import kaczmarz, reconstruct, select_frequencies
from mpikeras.simulation import preset, simulate_system_matrix
from mpikeras.simulation.phantoms import simulate_measurement


@pytest.fixture(scope="module")
def config():
    return preset("openmpi-2d-19")


@pytest.fixture(scope="module")
def sm(config):
    return simulate_system_matrix(config, seed=0)


@pytest.fixture(scope="module")
def measurement(config):
    return simulate_measurement("resolution", config, seed=1, num_frames=4)


def test_linear_combination_of_columns_is_recovered(sm):
    num_channels, num_frequencies = sm.spectra.shape[:2]
    columns = sm.spectra.reshape(num_channels, num_frequencies, -1).astype(np.complex128)
    voxels = np.ravel_multi_index(([0, 0, 0], [5, 9, 13], [4, 9, 15]), sm.grid.shape)
    truth = np.zeros(sm.grid.num_voxels)
    truth[voxels] = [1.0, 0.5, 0.8]
    u = columns @ truth
    rng = np.random.default_rng(0)
    u += 1e-3 * np.abs(u).max() * (rng.standard_normal(u.shape) + 1j * rng.standard_normal(u.shape))

    image = reconstruct(sm, u, lam=0.01, iterations=3)

    assert image.shape == (1, 19, 19) and image.dtype == np.float64
    flat = image.ravel()
    # The three brightest voxels are the true ones, in the true order of strength.
    np.testing.assert_array_equal(np.argsort(flat)[-3:], voxels[[1, 2, 0]])
    assert np.corrcoef(flat, truth)[0, 1] > 0.85
    # With lambda 0.01 the strongest voxel keeps most of its value (units of the delta sample).
    assert 0.6 < flat[voxels[0]] < 1.1


def test_resolution_phantom_reconstruction_matches_the_truth(sm, measurement):
    truth = measurement.ground_truth[0]
    image = reconstruct(sm, measurement)
    assert image.shape == truth.shape == (1, 19, 19)
    assert (image >= 0).all()
    assert np.corrcoef(image.ravel(), truth.ravel())[0, 1] > 0.9
    # The brightest voxels lie inside the phantom.
    brightest = np.argsort(image.ravel())[-10:]
    assert (truth.ravel()[brightest] > 0).all()
    # The delta sample (0.1 mol/L) fills a voxel, so truth / 0.1 is in the image's unit;
    # the reconstructed amount of tracer is of the right size.
    assert 0.5 < image.sum() / (truth.sum() / 0.1) < 2.0


def test_measurement_and_its_spectra_give_the_same_image(sm, measurement):
    np.testing.assert_array_equal(
        reconstruct(sm, measurement), reconstruct(sm, measurement.spectra())
    )


def test_frames_are_reconstructed_separately(sm, measurement):
    spectra = measurement.spectra(average_frames=False)
    assert spectra.shape == (4, 3, 817)
    images = reconstruct(sm, measurement, average_frames=False)
    assert images.shape == (4, 1, 19, 19)
    for f in range(4):
        np.testing.assert_allclose(images[f], reconstruct(sm, spectra[f]), rtol=1e-12, atol=1e-15)


def test_reconstruct_is_kaczmarz_on_the_selected_rows(sm, measurement):
    mask = select_frequencies(sm, channels=(0, 1), snr_threshold=3.0, max_frequency_hz=600e3)
    u = measurement.spectra()[[0, 1]][mask]
    expected = kaczmarz(sm.matrix((0, 1), mask), u, 0.05, 2, row_weighting=True)
    image = reconstruct(
        sm,
        measurement,
        lam=0.05,
        iterations=2,
        snr_threshold=3.0,
        max_frequency_hz=600e3,
        row_weighting=True,
    )
    np.testing.assert_allclose(image.ravel(), expected, rtol=1e-12, atol=1e-15)


def test_complex_image_without_enforce_real(sm, measurement):
    image = reconstruct(sm, measurement, enforce_real=False, enforce_positive=False)
    assert image.shape == (1, 19, 19) and image.dtype == np.complex128


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ((2, 817), "2 receive channels and 817 frequencies.*system matrix has 3 channels"),
        ((3, 800), "3 receive channels and 800 frequencies.*817 frequencies"),
        ((5, 2, 817), "2 receive channels"),
        ((817,), "shape \\(channels, frequencies\\)"),
    ],
)
def test_spectra_that_do_not_fit_the_system_matrix_raise(sm, shape, match):
    with pytest.raises(PreprocessingError, match=match):
        reconstruct(sm, np.ones(shape, complex))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"num_sampling_points": 1600}, "samples per period: system matrix 1632, measurement 1600"),
        ({"bandwidth_hz": 1.0e6}, "receiver bandwidth"),
    ],
)
def test_measurement_recorded_differently_raises(sm, measurement, change, match):
    other = dataclasses.replace(
        measurement, acquisition=dataclasses.replace(measurement.acquisition, **change)
    )
    with pytest.raises(PreprocessingError, match=match):
        reconstruct(sm, other)


def test_measurement_with_another_drive_field_raises(sm, measurement):
    acquisition = measurement.acquisition
    drivefield = dataclasses.replace(acquisition.drivefield, dividers=(102, 98, 99))
    other = dataclasses.replace(
        measurement, acquisition=dataclasses.replace(acquisition, drivefield=drivefield)
    )
    with pytest.raises(PreprocessingError, match="drive-field dividers"):
        reconstruct(sm, other)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"strength_tesla": (0.012, 0.0125, 0.0)}, r"drive-field strength \(T/mu0\) \(beyond 1%\)"),
        ({"strength_tesla": (0.01201, 0.012, 0.0)}, None),  # rounding: accepted
    ],
)
def test_measurement_with_another_field_amplitude_raises(sm, measurement, change, match):
    acquisition = measurement.acquisition
    drivefield = dataclasses.replace(acquisition.drivefield, **change)
    other = dataclasses.replace(
        measurement, acquisition=dataclasses.replace(acquisition, drivefield=drivefield)
    )
    if match is None:
        assert np.isfinite(reconstruct(sm, other)).all()
        return
    with pytest.raises(PreprocessingError, match=match):
        reconstruct(sm, other)


def test_measurement_with_another_gradient_raises(sm, measurement):
    acquisition = dataclasses.replace(
        measurement.acquisition, gradient_tesla_per_m=((-1.5, 0, 0), (0, -1.5, 0), (0, 0, 3.0))
    )
    other = dataclasses.replace(measurement, acquisition=acquisition)
    with pytest.raises(PreprocessingError, match="selection-field gradient"):
        reconstruct(sm, other)


def test_measurement_with_fewer_channels_raises(sm, measurement):
    other = dataclasses.replace(measurement, data=measurement.data[:, :, :2])
    with pytest.raises(
        PreprocessingError, match="receive channels: system matrix 3, measurement 2"
    ):
        reconstruct(sm, other)


def test_empty_selection_and_bad_arguments_raise(sm, measurement):
    with pytest.raises(PreprocessingError, match="snr_threshold"):
        reconstruct(sm, measurement, snr_threshold=1e12)
    with pytest.raises(PreprocessingError, match="channels \\[5\\] do not exist"):
        reconstruct(sm, measurement, channels=(0, 5))
    with pytest.raises(ValueError, match="argument `lam`"):
        reconstruct(sm, measurement, lam=-1.0)
