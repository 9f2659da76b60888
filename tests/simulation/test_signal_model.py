"""Physics of the forward model: chain rule, trajectory symmetries, spectra, noise, background."""

import dataclasses

import numpy as np
import pytest
from scipy import stats

from mpikeras.io.acquisition import Acquisition
from mpikeras.simulation import ReceiveChain, preset, simulate_signals
from mpikeras.simulation.particles import (
    MU0_T_M_PER_A,
    ParticleModel,
    langevin,
    langevin_derivative,
)
from mpikeras.simulation.signal_model import (
    feedthrough_spectrum,
    field_magnitude_bound,
    moment_rate,
    noise_spectra,
    voltage_spectra,
)

V = 1632  # samples per 2D period: 16 x-cycles and 17 y-cycles
HALF = V // 2


def _direct_moment_rate(acq, model, point):
    """dM/dt (A/m/s per unit volume fraction) from the chain rule, no table, float64."""
    drive, drive_rate = acq.drivefield.field_tesla(acq.times_s)
    field = drive - acq.gradient @ point  # B = B_D - G r
    b = np.linalg.norm(field, axis=1)
    h = field / b[:, None]
    h_rate = np.sum(h * drive_rate, axis=1)
    d, w = model.diameters()
    beta = model.beta_per_tesla(d)
    x = np.outer(b, beta)
    ms = model.saturation_magnetization_a_per_m
    parallel = ms * (langevin_derivative(x) * beta) @ w  # d|M|/db
    perpendicular = ms * (langevin(x) / b[:, None]) @ w  # |M| / b
    return parallel[:, None] * h_rate[:, None] * h + perpendicular[:, None] * (
        drive_rate - h_rate[:, None] * h
    )


def _mixing_order():
    """Per rfft bin k, the smallest max(|mx|, |my|) with 16 mx + 17 my = k, and that pair."""
    k_count = V // 2 + 1
    order = np.full(k_count, np.iinfo(np.int64).max)
    pair = np.zeros((k_count, 2), int)
    for mx in range(-60, 61):
        for my in range(-60, 61):
            k = 16 * mx + 17 * my
            if 0 <= k < k_count and max(abs(mx), abs(my)) < order[k]:
                order[k] = max(abs(mx), abs(my))
                pair[k] = (mx, my)
    return order, pair


@pytest.fixture(scope="module")
def config():
    return preset("openmpi-2d-19")


@pytest.fixture(scope="module")
def spectra(config):
    """Noise-free spectra on the 19 x 19 central slice, Debye relaxation on: (Ny, Nx, C, K)."""
    positions = config.scan_grid.positions_m().reshape(-1, 3)
    return simulate_signals(config, positions).reshape(19, 19, 3, -1)


def test_moment_rate_matches_direct_chain_rule():
    acq = Acquisition()
    model = ParticleModel()
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.uniform(-0.015, 0.015, (5, 3)), [[0.0, 0.0, 0.0]]])
    points[:, 2] *= 0.3
    offsets = np.array([[1e-4, -2e-4, 5e-5]])  # avoids |B| = 0 exactly in the reference
    table = model.table(field_magnitude_bound(acq, points + offsets))
    fast = moment_rate(acq, table, points, offsets, np.ones(1))
    for p, rate in zip(points + offsets, fast, strict=True):
        ref = _direct_moment_rate(acq, model, p)
        assert np.linalg.norm(rate - ref) <= 2e-5 * np.linalg.norm(ref)


def test_moment_rate_is_deterministic_across_threads(config):
    positions = config.scan_grid.positions_m().reshape(-1, 3)[::7]
    offsets = np.array([[2e-4, 1e-4, 0.0], [-2e-4, -1e-4, 0.0]])
    table = config.particles.table(field_magnitude_bound(config.acquisition, positions + 3e-4))
    one = moment_rate(config.acquisition, table, positions, offsets, np.ones(2), threads=1)
    two = moment_rate(config.acquisition, table, positions, offsets, np.ones(2), threads=2)
    np.testing.assert_array_equal(one, two)


def test_field_bound_covers_the_field_and_a_short_table_is_rejected():
    acq = Acquisition()
    rng = np.random.default_rng(1)
    points = rng.uniform(-0.02, 0.02, (50, 3))
    drive, _ = acq.drivefield.field_tesla(acq.times_s)
    true_max = max(np.linalg.norm(drive - acq.gradient @ p, axis=1).max() for p in points)
    bound = field_magnitude_bound(acq, points)
    assert true_max <= bound <= 1.5 * true_max
    short = ParticleModel().table(0.5 * true_max)
    with pytest.raises(ValueError, match="does not cover the field range"):
        moment_rate(acq, short, points, np.zeros((1, 3)), np.ones(1))


def test_y_mirror_is_a_half_period_shift(spectra):
    # cos drive, 16:17 cycles: at t + T/2 the x drive is unchanged and the y drive flips,
    # so the voxel at (x, -y) sees diag(1, -1, 1) times the field of (x, y) half a period later.
    u = np.fft.irfft(spectra, n=V, axis=-1)  # (Ny, Nx, C, V)
    mirrored = np.roll(u[::-1], -HALF, axis=-1)  # mirrored[..., t] = u(x, -y, t + T/2)
    scale = np.abs(u).max()
    np.testing.assert_allclose(mirrored[:, :, 0], u[:, :, 0], rtol=0, atol=2e-6 * scale)
    np.testing.assert_allclose(mirrored[:, :, 1], -u[:, :, 1], rtol=0, atol=2e-6 * scale)
    # The z channel of the z = 0 slice vanishes (the quadrature is symmetric in z).
    assert np.abs(u[:, :, 2]).max() <= 1e-6 * scale


def test_x_mirror_is_no_time_shift_but_holds_at_main_mixing_frequencies(spectra):
    u = np.fft.irfft(spectra, n=V, axis=-1)
    u_mirror = u[:, ::-1]  # voxel (-x, y)
    scale = np.abs(u).max()
    # Shifting x's phase by pi would need 16 s = 1/2 and 17 s integer (mod 1): impossible,
    # so no circular shift (with or without flipping the x channel) maps one onto the other.
    spectra_x = np.fft.rfft(u[:, :, :2], axis=-1)
    spectra_m = np.fft.rfft(u_mirror[:, :, :2], axis=-1)
    lags = np.fft.irfft(spectra_m * np.conj(spectra_x), n=V, axis=-1).sum(axis=(0, 1))
    for sign in (1, -1):
        best = np.argmax(sign * lags[0] + lags[1])  # best common lag for (sign * x, y)
        shifted = np.roll(u_mirror, -best, axis=-1)
        error = max(
            np.abs(shifted[:, :, 0] - sign * u[:, :, 0]).max(),
            np.abs(shifted[:, :, 1] - u[:, :, 1]).max(),
        )
        assert error > 0.2 * scale
    # In the 2D Fourier series of the periodic field, the x mirror multiplies the
    # (mx, my) coefficient by (-1)^mx (and flips the x channel): bins dominated by one
    # low-order mixing product keep their magnitude and obey that sign rule.
    # Only bins that carry signal: the filter leaves the lowest bins (k = 1, 2, 3 from
    # (mx, my) = (-m, m)) 1e-12 of the peak energy, where higher orders are comparable.
    order, pair = _mixing_order()
    energy = (np.abs(spectra[:, :, :2]) ** 2).sum(axis=(0, 1, 2))
    checked = 0
    for k in np.flatnonzero((order <= 3) & (energy > 1e-3 * energy.max())):
        sign = 1 - 2 * (pair[k, 0] % 2)  # (-1)^mx
        for c, flip in ((0, -sign), (1, sign)):
            a, b = spectra[:, :, c, k], spectra[:, ::-1, c, k]
            np.testing.assert_allclose(b, flip * a, rtol=0, atol=2.5e-2 * np.abs(a).max())
            np.testing.assert_allclose(np.abs(b), np.abs(a), rtol=0, atol=2.5e-2 * np.abs(a).max())
            checked += 1
    assert checked == 2 * 17


def test_time_reversal_without_relaxation(config):
    positions = config.scan_grid.positions_m().reshape(-1, 3)[::5]
    freqs = config.acquisition.frequencies_hz
    chain = config.receiver.transfer_function(freqs)
    for tau, odd in ((0.0, True), (1.5e-6, False)):
        cfg = dataclasses.replace(config, particles=ParticleModel(relaxation_time_s=tau))
        s = simulate_signals(cfg, positions)[:, :2, 1:] / chain[1:]  # undo the LTI filter
        u = np.fft.irfft(np.concatenate([np.zeros_like(s[..., :1]), s], -1), n=V, axis=-1)
        reversed_u = np.roll(u[..., ::-1], 1, axis=-1)  # reversed_u[n] = u[-n mod V]
        error = np.abs(reversed_u + u).max() / np.abs(u).max()
        # cos drive: B(-t) = B(t), so M is even and u = -mu0 p dM/dt is odd in t.
        assert (error < 1e-5) if odd else (error > 0.05)


def test_energy_concentrates_at_low_order_mixing_frequencies(spectra, config):
    order, _ = _mixing_order()
    energy = (np.abs(spectra[:, :, :2]) ** 2).sum(axis=(0, 1, 2))
    low = order <= 5  # 61 of 817 bins
    assert low.sum() == 61
    assert energy[low].sum() > 0.9 * energy.sum()
    mean_by_order = [energy[order == n].mean() for n in range(1, 12)]
    assert mean_by_order[3] > 10 * mean_by_order[10]
    # The unfiltered, unrelaxed signal peaks at the fundamentals: bin 16 (x) and 17 (y).
    cfg = dataclasses.replace(config, particles=ParticleModel(relaxation_time_s=0.0))
    raw = simulate_signals(cfg, config.scan_grid.positions_m().reshape(-1, 3))
    raw = raw[..., 1:] / config.receiver.transfer_function(config.acquisition.frequencies_hz)[1:]
    raw_energy = (np.abs(raw) ** 2).sum(axis=0)
    assert np.argmax(raw_energy[0]) + 1 == 16
    assert np.argmax(raw_energy[1]) + 1 == 17
    np.testing.assert_allclose(config.acquisition.frequencies_hz[[16, 17]], 2.5e6 / np.r_[102, 96])


def test_voltage_is_minus_mu0_p_times_filtered_moment_rate():
    acq = Acquisition()
    model = ParticleModel(relaxation_time_s=1e-6)
    receiver = ReceiveChain(coil_sensitivity_per_m=(1000.0, 2000.0, 3000.0))
    rng = np.random.default_rng(2)
    rate = rng.standard_normal((2, V, 3)).astype(np.float32)
    out = voltage_spectra(rate, acq, model, receiver)
    freqs = acq.frequencies_hz
    chain = model.debye(freqs) * receiver.transfer_function(freqs)
    for c, p in enumerate((1000.0, 2000.0, 3000.0)):
        expected = -MU0_T_M_PER_A * p * chain * np.fft.rfft(rate[..., c].astype(np.float64))
        np.testing.assert_allclose(out[:, c], expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_noise_spectra_have_the_distribution_of_the_rfft_of_white_noise():
    acq = Acquisition()
    std = 3e-6
    draws = noise_spectra(np.random.default_rng(3), (1000, 3), acq, std).astype(np.complex128)
    reference = np.fft.rfft(np.random.default_rng(4).normal(0, std, (1000, 3, V)), axis=-1)
    k = acq.num_frequencies
    # (bins, variance of the real part, of the imaginary part, tolerance: ~4 standard errors)
    for bins, expected_re, expected_im, rel in (
        (slice(1, k - 1), V * std**2 / 2, V * std**2 / 2, 0.005),
        ([0, k - 1], V * std**2, 0.0, 0.08),
    ):
        for sample in (draws, reference):  # the reference shows what the rfft of noise does
            s = sample[..., bins]
            assert np.var(s.real) == pytest.approx(expected_re, rel=rel)
            assert np.var(s.imag) == pytest.approx(expected_im, rel=rel, abs=1e-30)
    interior = draws[..., 1:-1] / np.sqrt(V * std**2 / 2)
    for part in (interior.real, interior.imag):
        assert stats.kstest(part.ravel()[:20000], "norm").pvalue > 1e-3
    # Back in time: white, zero-mean, std per sample as requested.
    u = np.fft.irfft(draws, n=V, axis=-1)
    assert u.std() == pytest.approx(std, rel=0.01)
    assert abs(u.mean()) < 0.01 * std
    lag1 = np.mean(u[..., 1:] * u[..., :-1]) / u.var()
    assert abs(lag1) < 0.01


def test_feedthrough_sits_at_the_drive_frequencies():
    acq = Acquisition()
    receiver = ReceiveChain(feedthrough_volt=1e-3)
    bg = feedthrough_spectrum(acq, receiver)
    tf = receiver.transfer_function(acq.frequencies_hz)
    nonzero = {(c, k) for c, k in zip(*np.nonzero(bg), strict=True)}
    assert nonzero == {(0, 16), (0, 48), (1, 17), (1, 51)}  # fundamentals and 3rd harmonics
    assert abs(bg[0, 16]) == pytest.approx(V / 2 * 1e-3 * abs(tf[16]), rel=1e-6)
    assert abs(bg[1, 51]) == pytest.approx(V / 2 * 1e-6 * abs(tf[51]), rel=1e-6)
    # In time: sines of amplitude feedthrough * |H| (and 1e-3 of it at the third harmonic).
    u = np.fft.irfft(bg, n=V, axis=-1)
    rms = 1e-3 * np.sqrt((abs(tf[16]) ** 2 + (1e-3 * abs(tf[48])) ** 2) / 2)
    assert u[0].std() == pytest.approx(rms, rel=1e-5)
    assert np.abs(u[2]).max() == 0.0
