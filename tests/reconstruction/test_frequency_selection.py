import dataclasses

import numpy as np
import pytest

from mpikeras.errors import PreprocessingError
from mpikeras.reconstruction.frequency_selection import DEFAULT_SNR_THRESHOLD, select_frequencies
from mpikeras.simulation import preset, simulate_system_matrix


@pytest.fixture(scope="module")
def sm():
    return simulate_system_matrix(preset("openmpi-2d-19"), seed=0)


def test_80_khz_cut_keeps_bins_from_53(sm):
    mask = select_frequencies(sm, channels=(0, 1), min_frequency_hz=80e3, snr_threshold=None)
    assert mask.shape == (2, 817) and mask.dtype == bool
    for channel in range(2):
        np.testing.assert_array_equal(np.flatnonzero(mask[channel]), np.arange(53, 817))


def test_80_to_600_khz_band_is_339_bins_per_channel(sm):
    mask = select_frequencies(sm, channels=(0, 1, 2), max_frequency_hz=600e3, snr_threshold=None)
    assert mask.shape == (3, 817)
    for channel in range(3):
        np.testing.assert_array_equal(np.flatnonzero(mask[channel]), np.arange(53, 392))


def test_snr_threshold_drops_exactly_the_low_snr_rows(sm):
    in_band = select_frequencies(sm, snr_threshold=None)
    mask = select_frequencies(sm, snr_threshold=DEFAULT_SNR_THRESHOLD)
    snr = sm.snr[[0, 1]]
    assert (snr[mask] >= DEFAULT_SNR_THRESHOLD).all()
    assert (snr[in_band & ~mask] < DEFAULT_SNR_THRESHOLD).all()
    assert 0 < mask.sum() < in_band.sum()
    # Raising the threshold only ever removes rows.
    stricter = select_frequencies(sm, snr_threshold=20.0)
    assert not (stricter & ~mask).any() and stricter.sum() < mask.sum()


def test_explicit_snr_overrides_the_system_matrix(sm):
    snr = np.full((3, 817), 10.0)
    snr[0, 100:110] = 1.0
    snr[1, 200] = np.nan
    mask = select_frequencies(sm, snr_threshold=2.0, snr=snr)
    expected = np.zeros((2, 817), bool)
    expected[:, 53:] = True
    expected[0, 100:110] = False
    expected[1, 200] = False
    np.testing.assert_array_equal(mask, expected)


def test_snr_is_estimated_from_the_background_when_the_system_matrix_has_none(sm):
    """Known amplitudes over a known background spread: SNR = mean |S| / mean |BG - mean BG|."""
    c, k = sm.spectra.shape[:2]
    amplitude = np.linspace(0.5, 8.0, k)[None, :].repeat(c, axis=0)  # per channel and row
    spectra = np.broadcast_to(amplitude[:, :, None, None, None], sm.spectra.shape)
    background = np.empty((c, k, 4), np.complex64)
    background[..., 0::2], background[..., 1::2] = 3.0 + 2.0, 3.0 - 2.0  # mean 3, spread 2
    known = dataclasses.replace(
        sm, spectra=spectra.astype(np.complex64), background=background, snr=None
    )
    np.testing.assert_allclose(known.estimate_snr(), amplitude / 2.0, rtol=1e-5)
    mask = select_frequencies(known, channels=(0, 1), snr_threshold=3.0)
    np.testing.assert_array_equal(mask, (amplitude / 2.0 >= 3.0)[:2])


def test_mask_selects_rows_of_the_system_matrix(sm):
    mask = select_frequencies(sm, channels=(1,), snr_threshold=2.0)
    matrix = sm.matrix((1,), mask)
    assert matrix.shape == (mask.sum(), 361)
    columns = sm.spectra[1].reshape(817, 361)
    np.testing.assert_array_equal(matrix, columns[mask[0]])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"snr_threshold": 1e12}, "reaches snr_threshold=1e\\+12; the highest SNR there is"),
        (
            {"min_frequency_hz": 2e6},
            "min_frequency_hz=2e\\+06 Hz lies outside the receiver's range",
        ),
        ({"min_frequency_hz": -1.0}, "min_frequency_hz=-1 Hz lies outside"),
        ({"max_frequency_hz": 1.3e6}, "max_frequency_hz=1.3e\\+06 Hz lies outside"),
        ({"min_frequency_hz": 500e3, "max_frequency_hz": 100e3}, "exceeds max_frequency_hz"),
        ({"min_frequency_hz": 80.5e3, "max_frequency_hz": 80.6e3}, "no frequency bin in"),
        ({"channels": (0, 3)}, "channels \\[3\\] do not exist; the system matrix has 3"),
        ({"channels": ()}, "at least one channel"),
        ({"channels": (1, 1)}, "must not repeat"),
        (
            {"snr": np.ones((2, 817))},
            "SNR array of shape \\(3, 817\\).*received shape \\(2, 817\\)",
        ),
    ],
)
def test_bad_requests_raise_clear_errors(sm, kwargs, match):
    with pytest.raises(PreprocessingError, match=match):
        select_frequencies(sm, **kwargs)
