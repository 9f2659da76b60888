import numpy as np
import pytest

from mpikeras.errors import PreprocessingError
from mpikeras.io import Acquisition
from mpikeras.preprocessing import (
    Normalization,
    RecoveryGeometry,
    band_mask,
    bandpass,
    voxel_signals,
    y_neighbour_pairs,
)
from mpikeras.simulation import preset, simulate_system_matrix


@pytest.fixture(scope="module")
def sm19():
    return simulate_system_matrix(preset("openmpi-2d-19"), seed=3)


def test_band_mask_is_the_papers_bins_for_the_2d_sequence():
    mask = band_mask(Acquisition().frequencies_hz, (80e3, 600e3))
    bins = np.flatnonzero(mask)
    assert (bins[0], bins[-1], bins.size) == (53, 391, 339)


@pytest.mark.parametrize(
    ("band", "match"),
    [
        ((80e3, 2e6), "outside the receiver"),
        ((600e3, 80e3), "exceeds"),
        ((100.0, 200.0), "no frequency bin"),
    ],
)
def test_band_mask_refuses_impossible_bands(band, match):
    with pytest.raises(PreprocessingError, match=match):
        band_mask(Acquisition().frequencies_hz, band)


def test_bandpass_removes_out_of_band_tones_and_keeps_in_band_ones():
    acq = Acquisition()
    t = acq.times_s
    tone = lambda k: np.sin(2 * np.pi * acq.frequencies_hz[k] * t)  # noqa: E731
    spectra = np.fft.rfft(tone(16) + tone(100) + tone(500))
    out = np.fft.irfft(bandpass(spectra, acq.frequencies_hz, (80e3, 600e3)), n=t.size)
    np.testing.assert_allclose(out, tone(100), atol=1e-9)


def test_normalization_is_half_the_peak_and_round_trips():
    x = np.array([[0.5, -3.0], [1.0, 2.0]])
    norm = Normalization.fit(x)
    assert norm.scale == 1.5
    assert np.abs(norm(x)).max() == pytest.approx(2.0)
    np.testing.assert_allclose(norm.invert(norm(x)), x, rtol=1e-6)
    assert Normalization.from_dict(norm.to_dict()) == norm
    with pytest.raises(PreprocessingError, match="all zero"):
        Normalization.fit(np.zeros(3))


def test_voxel_signals_shape_band_and_volume_scaling(sm19):
    vs = voxel_signals(sm19, channels=(0, 1))
    assert vs.signals.shape == (19, 19, 1632, 2)
    spectrum = np.fft.rfft(vs.signals[9, 9, :, 0])
    out_of_band = ~band_mask(sm19.frequencies_hz, (80e3, 600e3))
    assert np.abs(spectrum[out_of_band]).max() < 1e-6 * np.abs(spectrum).max()
    raw = voxel_signals(sm19, per_unit_volume=False)
    np.testing.assert_allclose(raw.signals, vs.signals * 4.0, rtol=1e-5, atol=1e-12)  # 4 mm^3
    assert vs.unit == "V/mm^3"


def test_volume_scaling_puts_both_presets_on_one_scale(sm19):
    sm37 = simulate_system_matrix(preset("openmpi-2d-37"), seed=3)
    peak19 = np.abs(voxel_signals(sm19).signals).max()
    peak37 = np.abs(voxel_signals(sm37).signals).max()
    assert 0.7 < peak37 / peak19 < 1.4  # raw peaks differ by the 8x volume ratio


def test_voxel_signals_errors(sm19):
    with pytest.raises(PreprocessingError, match=r"receive channels 0\.\.2"):
        voxel_signals(sm19, channels=(0, 5))
    with pytest.raises(PreprocessingError, match="z_index"):
        voxel_signals(sm19, z_index=3)


def test_subsample_keeps_positions_and_refuses_large_steps(sm19):
    vs = voxel_signals(sm19)
    sub = vs.subsample(2, 3, offset_x=1)
    assert sub.signals.shape[:2] == (7, 9)
    np.testing.assert_allclose(sub.grid.axis_m(0), vs.grid.axis_m(0)[1::2], atol=1e-12)
    np.testing.assert_allclose(sub.grid.axis_m(1), vs.grid.axis_m(1)[0::3], atol=1e-12)
    np.testing.assert_array_equal(sub.signals[2, 3], vs.signals[6, 7])
    with pytest.raises(PreprocessingError, match="step_x=20"):
        vs.subsample(20, 1)


def test_y_neighbour_pairs_are_one_row_apart():
    source, target = y_neighbour_pairs(4, 3)
    assert source.size == 9
    np.testing.assert_array_equal(target - source, 3)
    with pytest.raises(PreprocessingError):
        y_neighbour_pairs(4, 3, dy=4)


def test_recovery_geometry_matches_the_papers_protocol():
    geo = RecoveryGeometry(37, 37)
    np.testing.assert_array_equal(geo.input_rows, np.arange(0, 37, 4))
    np.testing.assert_array_equal(geo.target_rows, np.arange(2, 35, 4))
    np.testing.assert_array_equal(geo.upper_rows - geo.source_rows, 4)
    assert geo.columns.size == 19
    merged = np.sort(np.r_[geo.input_rows, geo.target_rows])
    np.testing.assert_array_equal(merged, np.arange(0, 37, 2))  # a 2 mm x 2 mm grid
    with pytest.raises(PreprocessingError, match="strictly between"):
        RecoveryGeometry(37, 37, target_offset_y=4)
    with pytest.raises(PreprocessingError, match="do not fit"):
        RecoveryGeometry(3, 3, step_y=5)
