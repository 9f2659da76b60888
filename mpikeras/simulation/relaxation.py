"""Field-dependent relaxation: a Debye time per voxel that shortens in strong fields.

In a field the Brownian relaxation time of a particle shortens,
`tau(xi) = tau0 / sqrt(1 + 0.126 xi^2)` with `xi = beta |B|` (Yoshida and
Enpuku, Jpn. J. Appl. Phys. 48, 127002, 2009; used for MPI by Deissler et
al., Med. Phys. 41, 012301, 2014). A voxel sees a field that changes along
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
    >>> round(float(model.relative_time(np.array(4.0))), 3)  # xi = 4: tau0 / sqrt(1 + 0.126 * 16)
    0.576

    Args:
        enabled: bool. Off: one Debye time `ParticleModel.relaxation_time_s`
            for every voxel. Defaults to False.
        coefficient: float. The 0.126 of `tau0 / sqrt(1 + 0.126 xi^2)`.

    Raises:
        ConfigError: for a negative coefficient.
    """

    enabled: bool = False
    #: Yoshida & Enpuku 2009, Jpn. J. Appl. Phys. 48, 127002: tau_B(xi) = tau0/sqrt(1+0.126 xi^2).
    coefficient: float = 0.126

    def __post_init__(self) -> None:
        if not self.coefficient >= 0:
            raise ConfigError(
                "FieldDependentRelaxation.coefficient",
                f"expected >= 0, received {self.coefficient}",
            )

    def relative_time(self, xi: np.ndarray) -> np.ndarray:
        """`tau(xi) / tau0 = 1 / sqrt(1 + coefficient xi^2)` for Langevin arguments `xi`."""
        xi = np.asarray(xi, np.float64)
        return 1.0 / np.sqrt(1.0 + self.coefficient * xi**2)


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
    relative = 1.0 / np.sqrt(1.0 + np.float32(model.coefficient * beta**2) * square)
    weight = np.einsum("mvc,mvc->mv", rate, rate)
    total = weight.sum(axis=1)
    mean = np.einsum("mv,mv->m", weight, relative) / np.where(total > 0, total, 1.0)
    return tau0 * np.where(total > 0, mean.astype(np.float64), 1.0)
