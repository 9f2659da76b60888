"""In-band background lines, their drift, interleaved background frames and the correction."""

import dataclasses

import numpy as np
import pytest

from mpikeras.errors import ConfigError
from mpikeras.io.acquisition import Acquisition
from mpikeras.io.mdf.background import subtract_background
from mpikeras.simulation import preset, simulate_system_matrix
from mpikeras.simulation.background import (
    BackgroundModel,
    background_lines,
    drifting_background,
    interleaved_order,
)
from mpikeras.simulation.coils import CoilModel
from mpikeras.simulation.frames import frame_order, receive_frames, record_scan
from mpikeras.simulation.receiver import ReceiveChain

ACQ = Acquisition()
ROWS, ROW = 19, 19  # the central slice of the 19 grid
BAND = (ACQ.frequencies_hz >= 80e3) & (ACQ.frequencies_hz <= 600e3)


def _rngs(seed=0):
    return {
        k: np.random.default_rng((seed, i))
        for i, k in enumerate(("noise", "background", "temperature"))
    }


def _scan(model, noise_volt, seed=0):
    order = frame_order(model, ROWS * ROW, ROW, 20)
    clean = np.zeros((ROWS * ROW, 3, ACQ.num_frequencies), np.complex64)
    receiver = ReceiveChain(noise_std_volt=noise_volt)
    return record_scan(clean, order, ACQ, receiver, model, CoilModel(), _rngs(seed)), order


def test_interleaving_follows_openmpidata_one_background_frame_per_row_and_one_at_the_end():
    fg, bg = interleaved_order(19 * 19, 19)  # the full 19^3 grid: 361 rows of 19
    assert bg.size == 362  # OpenMPIData's 362 background scans
    assert np.array_equal(np.sort(np.r_[fg, bg]), np.arange(19**3 + 362))
    fg2, bg2 = frame_order(BackgroundModel(), 361, 19, 20)  # off: appended after the scan
    assert np.array_equal(fg2, np.arange(361)) and np.array_equal(bg2, 361 + np.arange(20))


def test_lines_sit_in_the_band_at_harmonics_of_the_drive_frequencies():
    lines = background_lines(BackgroundModel(enabled=True), ACQ, np.random.default_rng(0))
    x_bins = set(np.flatnonzero(lines[0]))
    assert {16 * n for n in range(2, 25)} <= x_bins  # f_x is bin 16
    assert {17 * n for n in range(2, 25)} <= set(np.flatnonzero(lines[1]))
    assert not np.any(lines[2])  # no z drive
    in_band = [k for k in x_bins if BAND[k]]
    assert len(in_band) >= 20
    # 2nd harmonic of x: amplitude 10 uV -> rfft coefficient a V / 2.
    assert abs(lines[0, 32]) == pytest.approx(10e-6 * 1632 / 2)


def test_a_static_in_band_background_is_removed_to_the_noise_level():
    model = BackgroundModel(enabled=True, drift_per_sqrt_hour=0.0)
    (corrected, _), _ = _scan(model, noise_volt=2e-6)
    lines = background_lines(model, ACQ, np.random.default_rng((0, 1)))
    on_line = (np.abs(lines[:2]) > 0) & BAND
    off_line = (np.abs(lines[:2]) == 0) & BAND
    power = np.abs(corrected[:, :2]) ** 2
    # What is left on the lines is noise, as much as between them (a line is 70x the noise).
    ratio = power[:, on_line].mean() / power[:, off_line].mean()
    assert ratio == pytest.approx(1.0, abs=0.1)
    noise_only = power[:, off_line].mean() / (2e-6**2 * 1632)
    assert 1.2 < noise_only < 2.0  # one frame's noise plus that of the interpolated background


def test_drift_leaves_the_residual_of_a_wiener_process_between_background_frames():
    sigma = 0.2  # per sqrt(hour)
    model = BackgroundModel(enabled=True, drift_per_sqrt_hour=sigma)
    (corrected, _), (fg_pos, _) = _scan(model, noise_volt=0.0)
    lines = background_lines(model, ACQ, np.random.default_rng((0, 1)))
    ch, k = np.nonzero(lines)
    relative = np.abs(corrected[:, ch, k]) ** 2 / np.abs(lines[ch, k]) ** 2
    # Linear interpolation between frames dt apart leaves a Brownian bridge:
    # E|r|^2 = sigma^2 dt u (1 - u), u the frame's place between them.
    frame_h = model.frame_seconds(ACQ.period_s) / 3600
    u = ((fg_pos % (ROW + 1)) / (ROW + 1))[:, None]
    expected = sigma**2 * (ROW + 1) * frame_h * u * (1 - u)
    assert relative.mean() == pytest.approx(expected.mean(), rel=0.15)
    assert not np.any(np.abs(corrected[:, ~np.isin(np.arange(3), ch)]) > 0)


def test_interpolated_correction_beats_the_mean_of_all_background_frames_under_drift():
    model = BackgroundModel(enabled=True, drift_per_sqrt_hour=0.2)
    order = frame_order(model, ROWS * ROW, ROW, 20)
    clean = np.zeros((ROWS * ROW, 3, ACQ.num_frequencies), np.complex64)
    quiet = ReceiveChain(noise_std_volt=0.0)
    fg, bg = receive_frames(clean, order, ACQ, quiet, model, CoilModel(), _rngs())
    interpolated = subtract_background(fg.copy(), order[0], bg, order[1], fg.shape[0] + bg.shape[0])
    mean_only = fg - bg.mean(axis=0)
    assert np.linalg.norm(interpolated) < 0.5 * np.linalg.norm(mean_only)


def test_drift_is_a_wiener_process_with_the_configured_rate():
    lines = np.zeros((1, 8), complex)
    lines[0, 3] = 1.0
    model = BackgroundModel(drift_per_sqrt_hour=0.1)
    times = np.linspace(0, 3600.0, 2)  # one hour
    ends = [
        drifting_background(model, lines, times, np.random.default_rng(s))[2][-1, 0]
        for s in range(4000)
    ]
    assert np.mean(np.abs(np.asarray(ends) - 1) ** 2) == pytest.approx(0.1**2, rel=0.1)


def test_a_simulated_calibration_interleaves_and_removes_its_static_lines():
    cfg = preset("openmpi-2d-19", background=BackgroundModel(enabled=True))
    sm = simulate_system_matrix(cfg, seed=0)
    assert sm.background.shape == (3, 817, 20)  # 19 rows + 1
    clean = simulate_system_matrix(cfg.noise_free(), seed=0).spectra  # no noise, no drift
    reference = simulate_system_matrix(preset("openmpi-2d-19").noise_free(), seed=0).spectra
    scale = np.abs(reference).max()
    assert np.abs(clean - reference).max() < 1e-5 * scale  # the lines are gone (float32 rounding)
    lines = background_lines(cfg.background, ACQ, np.random.default_rng((0, 101)))
    assert np.abs(lines).max() > 1e-3 * scale  # and they were not negligible


def test_the_background_model_refuses_bad_values():
    with pytest.raises(ConfigError, match="max_harmonic"):
        BackgroundModel(max_harmonic=1)
    with pytest.raises(ConfigError, match="drift_per_sqrt_hour"):
        dataclasses.replace(BackgroundModel(), drift_per_sqrt_hour=-1.0)


def test_the_calibration_file_holds_the_raw_interleaved_frames_and_reading_corrects_them(
    tmp_path,
):
    import h5py

    from mpikeras.io import read_system_matrix, write_system_matrix
    from mpikeras.io.mdf.validate import validate_file
    from mpikeras.io.summary import format_summary, summarize

    config = dataclasses.replace(preset("openmpi-2d-19"), background=BackgroundModel(enabled=True))
    sm = simulate_system_matrix(config, seed=3)
    path = write_system_matrix(tmp_path / "sm.mdf", sm)
    with h5py.File(path, "r") as f:
        assert f["measurement/isBackgroundCorrected"][()] == 0
        assert f["measurement/isFramePermutation"][()] == 1
        stored = f["measurement/data"][0, :, :, :361].reshape(sm.spectra.shape)
        permutation = f["measurement/framePermutation"][()]
    # Stored raw: each voxel's frame holds the in-band background of its time.
    fg_pos, bg_pos = sm.frame_positions
    assert permutation.tolist() == (np.r_[fg_pos, bg_pos] + 1).tolist()
    assert np.abs(stored - sm.spectra).max() > 0.05 * np.abs(sm.spectra).max()
    # Reading applies MPIFiles' interpolated correction, as for a real file: the
    # simulator's corrected system matrix (drift residual included) comes back.
    back = read_system_matrix(path)
    np.testing.assert_allclose(back.spectra, sm.spectra, atol=1e-6 * np.abs(sm.spectra).max())
    assert [p.tolist() for p in back.frame_positions] == [fg_pos.tolist(), bg_pos.tolist()]
    assert not validate_file(path).errors  # conforms to MDF v2
    summary = summarize(path)
    assert summary["background_blocks"] == 20  # one before each of the 19 rows, one after
    assert "20 background interleaved in 20 blocks" in format_summary(summary)
    # A part of it (every second voxel) is written with its frames' order and reads back.
    part = back.subsample(2, 2)
    again = read_system_matrix(write_system_matrix(tmp_path / "part.mdf", part))
    np.testing.assert_allclose(again.spectra, part.spectra, atol=1e-6 * np.abs(sm.spectra).max())
