"""Every realism effect off reproduces the simulator without them, bit for bit; on, the draws
depend on the calibration's seed only."""

import dataclasses

import numpy as np
import pytest

from mpikeras.simulation import ReceiveChain, preset, simulate_signals, simulate_system_matrix
from mpikeras.simulation.phantoms import phantom_spectra, resolution_phantom, simulate_measurement
from mpikeras.simulation.signal_model import feedthrough_spectrum, noise_spectra

EFFECTS = ("background", "coils", "relaxation", "sample_errors", "batch")


def _without_effects(cfg, seed):
    """The simulator's scan before the effects existed, written out: signal + static
    feed-through + noise, less the mean of the appended background frames."""
    positions = cfg.scan_grid.positions_m().reshape(-1, 3)
    clean = simulate_signals(cfg, positions)
    rng = np.random.default_rng(seed)
    static = feedthrough_spectrum(cfg.acquisition, cfg.receiver)
    std = cfg.receiver.noise_std_volt
    fg = clean + static + noise_spectra(rng, (positions.shape[0], 3), cfg.acquisition, std)
    bg = static + noise_spectra(rng, (cfg.num_background_frames, 3), cfg.acquisition, std)
    nz, ny, nx = cfg.scan_grid.shape
    corrected = fg - bg.mean(axis=0)
    return np.transpose(corrected.reshape(nz, ny, nx, 3, -1), (3, 4, 0, 1, 2)), bg


def test_every_effect_is_off_by_default_and_off_reproduces_the_simulator_without_them():
    cfg = preset("openmpi-2d-19")
    assert not any(getattr(cfg, name).enabled for name in EFFECTS)
    assert cfg.with_effects().with_effects(False) == cfg
    sm = simulate_system_matrix(cfg, seed=3)
    spectra, bg = _without_effects(cfg, 3)
    assert np.array_equal(sm.spectra, spectra)
    assert np.array_equal(sm.background, np.transpose(bg, (1, 2, 0)))


def test_the_measurement_without_effects_is_unchanged():
    cfg = preset("openmpi-2d-19")
    meas = simulate_measurement("resolution", cfg, seed=2, num_frames=2, num_background_frames=2)
    clean = phantom_spectra(cfg, resolution_phantom())
    rng = np.random.default_rng(2)
    static = feedthrough_spectrum(cfg.acquisition, cfg.receiver)
    std = cfg.receiver.noise_std_volt
    fg = clean + static + noise_spectra(rng, (2, 3), cfg.acquisition, std)
    bg = static + noise_spectra(rng, (2, 3), cfg.acquisition, std)
    data = np.fft.irfft(np.concatenate([fg, bg])[:, None], n=1632, axis=-1).astype(np.float32)
    assert np.array_equal(meas.data, data)


@pytest.fixture(scope="module")
def realistic():
    return preset("openmpi-2d-19").with_effects()


def test_with_every_effect_on_a_calibration_depends_on_its_seed_only(realistic):
    a = simulate_system_matrix(realistic, seed=5)
    b = simulate_system_matrix(realistic, seed=5)
    c = simulate_system_matrix(realistic, seed=6)
    assert np.array_equal(a.spectra, b.spectra) and np.array_equal(a.background, b.background)
    assert not np.allclose(a.spectra, c.spectra)
    assert a.background.shape[-1] == 20  # interleaved: 19 rows + 1


def test_each_effect_changes_the_calibration_and_noise_free_keeps_its_draws(realistic):
    base = preset("openmpi-2d-19", receiver=ReceiveChain(noise_std_volt=0.0))
    reference = simulate_system_matrix(base, seed=5).spectra
    scale = np.linalg.norm(reference)
    for name in EFFECTS:
        one = dataclasses.replace(
            base, **{name: dataclasses.replace(getattr(base, name), enabled=True)}
        )
        changed = np.linalg.norm(simulate_system_matrix(one, seed=5).spectra - reference) / scale
        assert changed > 1e-5, name  # the background: only its drift is left after correction
    noisy = simulate_system_matrix(realistic, seed=5).spectra
    clean = simulate_system_matrix(realistic.noise_free(), seed=5).spectra
    # What noise_free removes is the noise and the drift's residual, not the other draws.
    assert np.linalg.norm(noisy - clean) < 0.2 * np.linalg.norm(clean)
    unrealistic = simulate_system_matrix(preset("openmpi-2d-19").noise_free(), seed=5).spectra
    assert np.linalg.norm(clean - unrealistic) > np.linalg.norm(noisy - clean) * 0.1
