"""Physics of the particle model: Langevin function, log-normal ensemble, table, Debye."""

import math
from fractions import Fraction

import numpy as np
import pytest

from mpikeras.errors import ConfigError
from mpikeras.simulation.particles import (
    BOLTZMANN_J_PER_K,
    ParticleModel,
    langevin,
    langevin_derivative,
    magnetite_volume_fraction,
)


def _bernoulli_numbers(n):
    """Exact B_0..B_n (Akiyama-Tanigawa)."""
    a, out = [Fraction(0)] * (n + 1), []
    for m in range(n + 1):
        a[m] = Fraction(1, m + 1)
        for j in range(m, 0, -1):
            a[j - 1] = j * (a[j - 1] - a[j])
        out.append(a[0])
    return out


def _series_reference(x, derivative=False, terms=40):
    """L(x) = sum_n 2^(2n) B_2n x^(2n-1) / (2n)!, the series of coth(x) - 1/x (|x| < pi)."""
    b = _bernoulli_numbers(2 * terms)
    out = np.zeros_like(x)
    for n in range(1, terms + 1):
        c = float(2 ** (2 * n) * b[2 * n] / math.factorial(2 * n))
        out += (2 * n - 1) * c * x ** (2 * n - 2) if derivative else c * x ** (2 * n - 1)
    return out


def _five_point_derivative(f, x, h):
    return (-f(x + 2 * h) + 8 * f(x + h) - 8 * f(x - h) + f(x - 2 * h)) / (12 * h)


class TestLangevin:
    def test_matches_series_near_zero_and_closed_form_elsewhere(self):
        small = np.concatenate([[0.0], np.geomspace(1e-6, 1.5, 200)])
        np.testing.assert_allclose(langevin(small), _series_reference(small), rtol=1e-13, atol=0)
        large = np.geomspace(0.5, 300.0, 200)
        np.testing.assert_allclose(
            langevin(large), 1.0 / np.tanh(large) - 1.0 / large, rtol=1e-13, atol=0
        )

    def test_derivative_matches_series_and_numerical_differentiation(self):
        small = np.concatenate([[0.0], np.geomspace(1e-6, 1.5, 200)])
        np.testing.assert_allclose(
            langevin_derivative(small), _series_reference(small, derivative=True), rtol=1e-13
        )
        x = np.concatenate([-np.geomspace(0.02, 40, 100), np.geomspace(0.02, 40, 100)])
        numeric = _five_point_derivative(langevin, x, 1e-3)
        np.testing.assert_allclose(langevin_derivative(x), numeric, rtol=1e-8, atol=1e-13)

    def test_odd_and_even_symmetry(self):
        x = np.concatenate([np.geomspace(1e-8, 1e3, 300), [0.0999999, 0.1, 0.1000001]])
        np.testing.assert_array_equal(langevin(-x), -langevin(x))
        np.testing.assert_array_equal(langevin_derivative(-x), langevin_derivative(x))
        assert langevin(0.0) == 0.0 and langevin_derivative(0.0) == pytest.approx(1 / 3)

    @pytest.mark.parametrize("fn", [langevin, langevin_derivative])
    def test_series_and_closed_form_agree_at_the_switch_point(self, fn):
        below = np.nextafter(0.1, 0.0)  # series branch
        # The jump across the switch is at the rounding level of the closed form there.
        assert abs(fn(below) - fn(0.1)) <= 1e-13 * abs(fn(0.1))
        assert abs(fn(-below) - fn(-0.1)) <= 1e-13 * abs(fn(0.1))

    def test_saturation(self):
        x = np.geomspace(20.0, 1e7, 50)
        # coth(x) = 1 + 2 exp(-2x) / (1 - exp(-2x)) is 1 to float64 precision for x >= 20.
        np.testing.assert_allclose(langevin(x), 1.0 - 1.0 / x, rtol=1e-15, atol=1e-16)
        np.testing.assert_allclose(langevin_derivative(x) * x**2, 1.0, rtol=1e-12)
        assert np.all(np.diff(langevin(np.linspace(0, 50, 1000))) > 0)  # monotone
        assert np.all(langevin(np.geomspace(1e-3, 1e3, 100)) < 1.0)


class TestParticleModel:
    def test_beta_values_of_mpi_facts(self):
        model = ParticleModel(saturation_magnetization_a_per_m=474e3, temperature_k=293.0)
        beta = model.beta_per_tesla(np.array([20e-9, 25e-9, 30e-9]))
        np.testing.assert_allclose(beta, [491, 959, 1657], atol=0.6)
        # beta scales with d^3 and 1/T.
        hot = ParticleModel(temperature_k=586.0).beta_per_tesla(20e-9)
        assert hot == pytest.approx(beta[0] / 2, rel=1e-12)
        m0 = 474e3 * np.pi * (20e-9) ** 3 / 6
        assert beta[0] == pytest.approx(m0 / (BOLTZMANN_J_PER_K * 293.0), rel=1e-14)

    def test_log_normal_quadrature_moments(self):
        model = ParticleModel(median_diameter_m=22e-9, sigma=0.25, num_diameters=16)
        d, w = model.diameters()
        assert w.sum() == pytest.approx(1.0, abs=1e-14)
        assert np.all(w > 0) and np.all(np.diff(d) > 0)
        ln_mean = np.log(22e-9) + 3 * 0.25**2  # volume-weighted median d50 exp(3 sigma^2)
        assert w @ np.log(d) == pytest.approx(ln_mean, rel=1e-13)
        assert w @ (np.log(d) - ln_mean) ** 2 == pytest.approx(0.25**2, rel=1e-12)
        # Back to number weighting: E_v[d^-2] / E_v[d^-3] = E_n[d] = d50 exp(sigma^2 / 2).
        assert (w @ d**-2.0) / (w @ d**-3.0) == pytest.approx(22e-9 * np.exp(0.25**2 / 2), 1e-10)

    @pytest.mark.parametrize("kwargs", [{"sigma": 0.0}, {"num_diameters": 1}])
    def test_single_node_sits_at_the_volume_weighted_median(self, kwargs):
        model = ParticleModel(median_diameter_m=22e-9, **{"sigma": 0.25, **kwargs})
        d, w = model.diameters()
        assert d.shape == (1,) and w[0] == 1.0
        assert d[0] == pytest.approx(22e-9 * np.exp(3 * model.sigma**2), rel=1e-14)

    def test_ensemble_saturates_at_ms_times_volume_fraction(self):
        model = ParticleModel()
        d, w = model.diameters()
        beta = model.beta_per_tesla(d)
        b = np.array([5.0, 20.0, 100.0])
        # L(x) = 1 - 1/x for x >= 20 (the smallest core has beta b > 35 here).
        assert beta.min() * b.min() > 35
        expected = model.saturation_magnetization_a_per_m * (1 - np.sum(w / beta) / b)
        np.testing.assert_allclose(model.magnetization(b), expected, rtol=1e-13)
        m = model.magnetization(np.geomspace(1e-4, 100, 200))
        assert np.all(np.diff(m) > 0) and m[-1] < 474e3
        assert m[-1] == pytest.approx(474e3, rel=1e-3)
        phi = magnetite_volume_fraction(0.1)
        assert phi == pytest.approx(100 / 3 * 0.231533 / 5170, rel=1e-12)  # 1.49e-3
        assert phi * model.magnetization(1e3) == pytest.approx(phi * 474e3, rel=1e-4)

    def test_low_field_susceptibility(self):
        model = ParticleModel()
        d, w = model.diameters()
        chi = model.saturation_magnetization_a_per_m * (w @ model.beta_per_tesla(d)) / 3
        b = np.array([1e-9, 1e-8])
        np.testing.assert_allclose(model.magnetization(b), chi * b, rtol=1e-6)

    def test_table_matches_finite_differences_of_the_magnetization(self):
        model = ParticleModel()
        table = model.table(0.1)
        b = np.concatenate([np.geomspace(3e-4, 0.095, 150), [table.b_step_tesla * 1000.5]])
        h = 1e-7
        f = model.magnetization(b)
        df = _five_point_derivative(model.magnetization, b, h)
        g_ref = f / b
        q_ref = (df - f / b) / b**2
        g, q = table.lookup(b.astype(np.float32))
        np.testing.assert_allclose(g, g_ref, rtol=5e-5)
        np.testing.assert_allclose(q, q_ref, rtol=1e-3)
        # Finite limits at the field-free point: g(0) = Ms <beta> / 3, q(0) = -2/45 Ms <beta^3>.
        d, w = model.diameters()
        beta = model.beta_per_tesla(d)
        g0, q0 = table.lookup(np.zeros(1, np.float32))
        assert g0[0] == pytest.approx(474e3 * (w @ beta) / 3, rel=1e-6)
        assert q0[0] == pytest.approx(-2 / 45 * 474e3 * (w @ beta**3), rel=1e-6)

    def test_debye_relaxation(self):
        f = np.array([0.0, 25e3, 1e5, 1e6])
        tau = 2e-6
        chi = ParticleModel(relaxation_time_s=tau).debye(f)
        np.testing.assert_allclose(np.abs(chi), 1 / np.sqrt(1 + (2 * np.pi * f * tau) ** 2))
        np.testing.assert_allclose(np.angle(chi), -np.arctan(2 * np.pi * f * tau))  # a lag
        np.testing.assert_array_equal(ParticleModel(relaxation_time_s=0.0).debye(f), 1.0)

    @pytest.mark.parametrize(
        "kwargs, key",
        [
            ({"median_diameter_m": 0.0}, "median_diameter_m"),
            ({"sigma": -0.1}, "sigma"),
            ({"temperature_k": -1.0}, "temperature_k"),
            ({"relaxation_time_s": -1e-6}, "relaxation_time_s"),
            ({"num_diameters": 0}, "num_diameters"),
        ],
    )
    def test_rejects_bad_parameters(self, kwargs, key):
        with pytest.raises(ConfigError, match=rf"ParticleModel\.{key}.*expected .*received"):
            ParticleModel(**kwargs)
