"""Field-dependent relaxation: a Debye time per voxel that shortens in strong fields.

In a field the Brownian relaxation time of a particle shortens,
`tau(xi) = tau0 / sqrt(1 + 0.126 xi^1.72)` with `xi = beta |B|`: the
empirical fit usually attributed to Yoshida and Enpuku (2009); the form and
both numbers are the ones read in public MPI simulation code (an IDL
function `fields_brownian_time_calc`, `1./SQRT(1. + 0.126 * xi_H_AC^1.72)`),
not checked against the paper itself. A voxel sees a field that changes along
the period, so the time constant is not one number; the simulator keeps the
Debye filter (linear, cheap) and gives each voxel the relaxation time
averaged over the period with the weight of the signal it generates,
`tau_eff = sum_t |dm/dt|^2 tau(|B(t)|) / sum_t |dm/dt|^2`. Voxels that the
field-free point crosses generate their signal at low field and keep about
`tau0`; voxels outside the drive-field FOV, always in a strong field,
relax faster. At low field `tau_eff = tau0`: the Debye filter of
`ParticleModel` exactly. This is an approximation (one time constant per
voxel instead of a time-varying one), not a Fokker-Planck solution.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mpikeras.errors import ConfigError
from mpikeras.io.acquisition import Acquisition
from mpikeras.simulation.particles import ParticleModel


@dataclasses.dataclass(frozen=True)
class FieldDependentRelaxation:
    """The switch and coefficient of the field-dependent relaxation time.

    Example:

    >>> model = FieldDependentRelaxation(enabled=True)
    >>> round(float(model.relative_time(np.array(4.0))), 3)  # xi = 4: 1 / sqrt(1 + 0.126 * 4**1.72)
    0.65

    Args:
        enabled: bool. Off: one Debye time `ParticleModel.relaxation_time_s`
            for every voxel. Defaults to False.
        coefficient: float. The 0.126 of `tau0 / sqrt(1 + 0.126 xi^1.72)`.
        exponent: float. The 1.72 of the same.

    Raises:
        ConfigError: for a negative coefficient or a non-positive exponent.
    """

    enabled: bool = False
    #: tau_B(xi) = tau0/sqrt(1 + 0.126 xi^1.72) ("Yoshida & Enpuku 2009"), as read in public IDL
    #: MPI code (fields_brownian_time_calc: 1./SQRT(1. + 0.126 * xi_H_AC^1.72)); paper not read.
    coefficient: float = 0.126
    #: The same source's exponent of xi (1.72, not 2).
    exponent: float = 1.72

    def __post_init__(self) -> None:
        if not self.coefficient >= 0:
            raise ConfigError(
                "FieldDependentRelaxation.coefficient",
                f"expected >= 0, received {self.coefficient}",
            )
        if not self.exponent > 0:
            raise ConfigError(
                "FieldDependentRelaxation.exponent",
                f"expected > 0, received {self.exponent}",
            )

    def relative_time(self, xi: np.ndarray) -> np.ndarray:
        """`tau(xi) / tau0 = 1 / sqrt(1 + coefficient xi^exponent)` for Langevin arguments `xi`."""
        xi = np.abs(np.asarray(xi, np.float64))
        return 1.0 / np.sqrt(1.0 + self.coefficient * xi**self.exponent)


def effective_relaxation_time_s(
    model: FieldDependentRelaxation,
    particles: ParticleModel,
    acquisition: Acquisition,
    centres_m: np.ndarray,
    rate: np.ndarray,
) -> np.ndarray:
    """The signal-weighted relaxation time of each voxel (see the module docstring).

    `xi = beta |B_D(t) - G r|` at the voxel centre r, with beta of the
    ensemble's volume-weighted median diameter.

    Args:
        model: the `FieldDependentRelaxation`.
        particles: the tracer (its `relaxation_time_s` is tau0).
        acquisition: drive field, gradient and sampling times.
        centres_m: array, shape (M, 3). Voxel centres (m).
        rate: array, shape (M, V, 3). The voxels' moment rates.

    Returns:
        float64 array, shape (M,), seconds; all `tau0` when the model is off.
    """
    centres_m = np.asarray(centres_m, np.float64).reshape(-1, 3)
    tau0 = particles.relaxation_time_s
    if not model.enabled:
        return np.full(centres_m.shape[0], tau0)
    median_v = particles.median_diameter_m * np.exp(3 * particles.sigma**2)
    beta = float(particles.beta_per_tesla(median_v))
    drive, _ = acquisition.drivefield.field_tesla(acquisition.times_s)  # (V, 3)
    static = -(centres_m @ acquisition.gradient.T)  # (M, 3)
    square = np.zeros((centres_m.shape[0], drive.shape[0]), np.float32)
    for axis in range(3):
        square += (drive[None, :, axis] + static[:, None, axis]).astype(np.float32) ** 2
    # xi^exponent = (beta^2 |B|^2)^(exponent / 2)
    xi_power = (np.float32(beta**2) * square) ** np.float32(model.exponent / 2)
    relative = 1.0 / np.sqrt(1.0 + np.float32(model.coefficient) * xi_power)
    weight = np.einsum("mvc,mvc->mv", rate, rate)
    total = weight.sum(axis=1)
    mean = np.einsum("mv,mv->m", weight, relative) / np.where(total > 0, total, 1.0)
    return tau0 * np.where(total > 0, mean.astype(np.float64), 1.0)
