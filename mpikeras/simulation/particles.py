"""Particle model: Langevin equilibrium magnetisation of a log-normal ensemble.

Magnetisation of magnetite cores of diameter d in a field B (tesla):
`m(B) = m0 L(beta |B|) B / |B|`, `L(x) = coth(x) - 1/x`, `m0 = Ms pi d^3 / 6`,
`beta = m0 / (kB T)` (mpi-facts section 4). An ensemble with a log-normal
distribution of d is integrated by Gauss-Hermite quadrature in ln d,
weighted by core volume, and tabulated once as a function of |B|.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mpikeras.errors import ConfigError

BOLTZMANN_J_PER_K = 1.380649e-23
MU0_T_M_PER_A = 4e-7 * np.pi
#: Molar mass of Fe3O4 (kg/mol) and magnetite density (kg/m^3): iron molarity -> core volume.
MAGNETITE_MOLAR_MASS_KG_PER_MOL = 0.231533
MAGNETITE_DENSITY_KG_PER_M3 = 5170.0

#: Below this |x| the Langevin functions use their Taylor series (the terms of
#: `2^(2n) B_2n x^(2n-1) / (2n)!` up to n = 5), whose truncation error there
#: (below 1e-14 relative) is under the rounding error of the closed forms
#: `coth(x) - 1/x` and `1/x^2 - 1/sinh(x)^2`, which lose digits near 0.
_SERIES_SWITCH = 0.1


def langevin(x: np.ndarray) -> np.ndarray:
    """The Langevin function `L(x) = coth(x) - 1/x`.

    Odd in x, `L(x) ~ x/3` near 0 and `L(x) -> 1 - 1/x` for large x. For
    `|x| < 0.1` its Taylor series to x^9 (`x/3 - x^3/45 + 2 x^5/945 - ...`)
    is used, which avoids the cancellation of the closed form near 0.

    Example:

    >>> round(float(langevin(1.0)), 12)  # coth(1) - 1
    0.313035285499

    Args:
        x: array_like. Argument `beta |B|` (dimensionless).

    Returns:
        float64 array of the shape of `x`.
    """
    x = np.asarray(x, dtype=np.float64)
    small = np.abs(x) < _SERIES_SWITCH
    xs = np.where(small, 1.0, x)
    series = x / 3 - x**3 / 45 + 2 * x**5 / 945 - x**7 / 4725 + 2 * x**9 / 93555
    return np.where(small, series, 1.0 / np.tanh(xs) - 1.0 / xs)


def langevin_derivative(x: np.ndarray) -> np.ndarray:
    """The derivative `L'(x) = 1/x^2 - 1/sinh(x)^2`.

    Even in x, `L'(0) = 1/3`, `L'(x) ~ 1/x^2` for large x. For `|x| < 0.1`
    its Taylor series to x^8 (`1/3 - x^2/15 + 2 x^4/189 - ...`) is used.

    Args:
        x: array_like. Argument `beta |B|` (dimensionless).

    Returns:
        float64 array of the shape of `x`.
    """
    x = np.asarray(x, dtype=np.float64)
    small = np.abs(x) < _SERIES_SWITCH
    xs = np.where(small, 1.0, x)
    with np.errstate(over="ignore"):
        direct = 1.0 / xs**2 - 1.0 / np.sinh(xs) ** 2
    series = 1 / 3 - x**2 / 15 + 2 * x**4 / 189 - x**6 / 675 + 2 * x**8 / 10395
    return np.where(small, series, direct)


def _langevin_over_x(x: np.ndarray) -> np.ndarray:
    """L(x) / x, finite at 0."""
    small = np.abs(x) < _SERIES_SWITCH
    xs = np.where(small, 1.0, x)
    series = 1 / 3 - x**2 / 45 + 2 * x**4 / 945 - x**6 / 4725 + 2 * x**8 / 93555
    return np.where(small, series, langevin(xs) / xs)


def _perpendicular_excess(x: np.ndarray) -> np.ndarray:
    """(L'(x) - L(x)/x) / x^2, finite at 0 (parallel minus perpendicular susceptibility)."""
    small = np.abs(x) < _SERIES_SWITCH
    xs = np.where(small, 1.0, x)
    series = -2 / 45 + 8 * x**2 / 945 - 6 * x**4 / 4725 + 16 * x**6 / 93555
    direct = (langevin_derivative(xs) - langevin(xs) / xs) / xs**2
    return np.where(small, series, direct)


@dataclasses.dataclass(frozen=True)
class MagnetizationTable:
    """Tabulated ensemble response, for fast evaluation of dM/dt.

    With `f(b) = |M(B)|` per unit magnetite volume fraction and `b = |B|`,
    the chain rule (mpi-facts section 4) gives
    `dM/dt = f'(b) (h.dB) h + f(b)/b (dB - (h.dB) h)`, `h = B/b`: a parallel
    term with the differential susceptibility `f'` and a perpendicular term
    with the chord susceptibility `f/b`. Rearranged, this is
    `g(b) dB + q(b) (B.dB) B` with `g = f/b` and `q = (f' - f/b) / b^2`.
    Both are smooth and finite at b = 0 (so the field-free point needs no
    special case) and are tabulated on a uniform grid in b.

    Args:
        b_step_tesla: float. Table spacing.
        g: float32 array, shape (n,). `f(b)/b` in A/m per tesla at
            `b = i * b_step_tesla`.
        q: float32 array, shape (n,). `(f'(b) - f(b)/b) / b^2` in A/m per
            tesla^3 at the same points.
    """

    b_step_tesla: float
    g: np.ndarray
    q: np.ndarray

    @property
    def b_max_tesla(self) -> float:
        """Largest |B| that `lookup` interpolates (one node is kept in reserve)."""
        return self.b_step_tesla * (self.g.size - 2)

    def lookup(self, b_tesla: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Linear interpolation of `(g, q)` at field magnitudes `b_tesla`.

        Args:
            b_tesla: array of |B| in `[0, b_max_tesla]`; values outside are
                not checked (callers check the range once per scan).

        Returns:
            `(g, q)`, float32 arrays of the shape of `b_tesla`.
        """
        pos = np.asarray(b_tesla) * np.float32(1.0 / self.b_step_tesla)
        i = pos.astype(np.int32)
        frac = pos - i
        g0 = self.g[i]
        q0 = self.q[i]
        return g0 + frac * (self.g[i + 1] - g0), q0 + frac * (self.q[i + 1] - q0)


@dataclasses.dataclass(frozen=True)
class ParticleModel:
    """A log-normal ensemble of single-domain magnetite cores.

    Defaults are perimag-like, chosen from the ranges in mpi-facts section 4
    (MNPDynamics.jl and the MPI literature): magnetite bulk saturation
    magnetisation 474 kA/m, room temperature (293 K), and a number-weighted
    median core diameter of 22 nm with log-normal width 0.25, which puts the
    volume-weighted median at 26.5 nm, inside the 20 to 30 nm range that
    dominates the MPI signal. This is not a fit to perimag measurements.
    Relaxation is the Debye model on the magnetisation spectrum,
    `1 / (1 + i 2 pi f tau)` (mpi-facts section 4); tau = 0 is equilibrium.

    Example:

    >>> model = ParticleModel()
    >>> round(float(model.beta_per_tesla(20e-9)))  # 20 nm core at 293 K
    491

    Args:
        median_diameter_m: float. Number-weighted median core diameter.
            Defaults to 22 nm.
        sigma: float. Standard deviation of ln(diameter). Defaults to 0.25.
        saturation_magnetization_a_per_m: float. Ms of the core material.
            Defaults to 474 kA/m (magnetite).
        temperature_k: float. Temperature. Defaults to 293 K.
        relaxation_time_s: float. Debye relaxation time tau. Defaults to
            1.5 us.
        num_diameters: int. Gauss-Hermite nodes of the size integral.
            Defaults to 16.

    Raises:
        ConfigError: for a non-positive diameter, Ms or temperature, a
            negative sigma or relaxation time, or fewer than 1 node.
    """

    median_diameter_m: float = 22e-9
    sigma: float = 0.25
    saturation_magnetization_a_per_m: float = 474e3
    temperature_k: float = 293.0
    relaxation_time_s: float = 1.5e-6
    num_diameters: int = 16

    def __post_init__(self) -> None:
        for name in ("median_diameter_m", "saturation_magnetization_a_per_m", "temperature_k"):
            value = getattr(self, name)
            if not value > 0:
                raise ConfigError(f"ParticleModel.{name}", f"expected > 0, received {value}")
        for name in ("sigma", "relaxation_time_s"):
            value = getattr(self, name)
            if not value >= 0:
                raise ConfigError(f"ParticleModel.{name}", f"expected >= 0, received {value}")
        if not self.num_diameters >= 1:
            raise ConfigError(
                "ParticleModel.num_diameters", f"expected >= 1, received {self.num_diameters}"
            )

    def diameters(self) -> tuple[np.ndarray, np.ndarray]:
        """Quadrature diameters (m) and their core-volume weights (sum 1).

        The volume-weighted distribution of a log-normal with median d50 and
        width sigma is log-normal with median `d50 exp(3 sigma^2)`; its
        Gauss-Hermite nodes in ln d integrate polynomials in ln d of degree
        up to `2 num_diameters - 1` exactly (so the weighted mean of ln d is
        `ln d50 + 3 sigma^2` and the weighted variance `sigma^2`).

        Returns:
            `(diameters_m, weights)`, float64 arrays of shape (num_diameters,)
            (shape (1,) when sigma is 0).
        """
        if self.sigma == 0 or self.num_diameters == 1:
            median_v = self.median_diameter_m * np.exp(3 * self.sigma**2)
            return np.array([median_v]), np.array([1.0])
        nodes, weights = np.polynomial.hermite.hermgauss(self.num_diameters)
        median_v = self.median_diameter_m * np.exp(3 * self.sigma**2)
        d = median_v * np.exp(np.sqrt(2.0) * self.sigma * nodes)
        return d, weights / weights.sum()

    def beta_per_tesla(self, diameter_m: np.ndarray) -> np.ndarray:
        """`beta = m0 / (kB T)` with `m0 = Ms pi d^3 / 6` (mpi-facts section 4), 1/T."""
        m0 = self.saturation_magnetization_a_per_m * np.pi * np.asarray(diameter_m) ** 3 / 6
        return m0 / (BOLTZMANN_J_PER_K * self.temperature_k)

    def magnetization(self, b_tesla: np.ndarray) -> np.ndarray:
        """Ensemble `|M| = Ms sum_d w_d L(beta_d b)` per unit magnetite volume fraction.

        Multiply by `magnetite_volume_fraction(c)` for the magnetisation of
        a sample of iron molarity c; it tends to `Ms` at high field.

        Args:
            b_tesla: array_like of field magnitudes |B| (T).

        Returns:
            float64 array of the shape of `b_tesla`, A/m.
        """
        d, w = self.diameters()
        x = np.multiply.outer(np.asarray(b_tesla, np.float64), self.beta_per_tesla(d))
        return self.saturation_magnetization_a_per_m * (langevin(x) @ w)

    def table(self, b_max_tesla: float, num_points: int = 8192) -> MagnetizationTable:
        """Tabulate `g(b)` and `q(b)` on `[0, b_max]` (see `MagnetizationTable`).

        Args:
            b_max_tesla: float. Largest field magnitude to cover.
            num_points: int. Table nodes (two beyond `b_max` are kept for the
                interpolation). Defaults to 8192.

        Returns:
            The `MagnetizationTable`.
        """
        d, w = self.diameters()
        beta = self.beta_per_tesla(d)
        step = b_max_tesla / (num_points - 2)
        b = np.arange(num_points) * step
        x = np.multiply.outer(b, beta)
        ms = self.saturation_magnetization_a_per_m
        g = ms * (_langevin_over_x(x) @ (w * beta))
        q = ms * (_perpendicular_excess(x) @ (w * beta**3))
        return MagnetizationTable(step, g.astype(np.float32), q.astype(np.float32))

    def debye(self, frequencies_hz: np.ndarray) -> np.ndarray:
        """Debye relaxation factor `1 / (1 + i 2 pi f tau)` per frequency.

        With numpy's `exp(-i 2 pi f t)` transform convention this is the
        spectrum of the causal kernel `exp(-t / tau) / tau`: the magnetisation
        lags the equilibrium one.

        Args:
            frequencies_hz: array_like of frequencies (Hz).

        Returns:
            complex128 array of the shape of `frequencies_hz`.
        """
        return 1.0 / (1.0 + 2j * np.pi * np.asarray(frequencies_hz) * self.relaxation_time_s)


def magnetite_volume_fraction(iron_mol_per_l: float | np.ndarray) -> float | np.ndarray:
    """Core volume per sample volume for an iron molarity (Fe3O4 holds 3 Fe).

    `phi = (1000 c / 3) M_Fe3O4 / rho_magnetite`; 0.1 mol/L gives 1.49e-3.

    Args:
        iron_mol_per_l: iron concentration (mol/L), a number or an array.

    Returns:
        The magnetite volume fraction, like the input.
    """
    iron_mol_per_m3 = np.asarray(iron_mol_per_l, np.float64) * 1e3
    phi = iron_mol_per_m3 / 3 * MAGNETITE_MOLAR_MASS_KG_PER_MOL / MAGNETITE_DENSITY_KG_PER_M3
    return float(phi) if phi.ndim == 0 else phi
