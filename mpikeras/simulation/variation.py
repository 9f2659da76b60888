"""What changes from one calibration to the next on the sample side: delta sample and tracer batch.

A calibration is measured with one delta sample, filled from one tracer
batch, moved by a robot. Its iron content is known only to some precision,
the robot places it with some error at each position, and another batch of
the same tracer has a somewhat different core-size distribution. Each is
drawn per calibration from its seed, from a stream of its own, so that
switching one effect does not change the draws of another.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mpikeras.errors import ConfigError
from mpikeras.simulation.particles import ParticleModel

#: Streams of `numpy.random.default_rng((seed, stream))` for the sample and the batch draws.
SAMPLE_STREAM = 103
BATCH_STREAM = 104


@dataclasses.dataclass(frozen=True)
class DeltaSampleErrors:
    """The delta sample's concentration error and the robot's positioning jitter.

    The concentration of the whole calibration is scaled by `1 + e`,
    `e ~ N(0, concentration_error_std^2)` (one sample per calibration); each
    position is displaced by independent `N(0, position_jitter_std_m^2)`
    offsets per axis.

    Example:

    >>> errors = DeltaSampleErrors(enabled=True)
    >>> factor, offsets = errors.draw(np.random.default_rng(0), 4)
    >>> offsets.shape, bool(abs(factor - 1) < 0.2)
    ((4, 3), True)

    Args:
        enabled: bool. Off: exact concentration, exact positions. Defaults to False.
        concentration_error_std: float. Relative standard deviation of the iron content.
        position_jitter_std_m: float. Standard deviation of each position coordinate (m).

    Raises:
        ConfigError: for a negative spread.
    """

    enabled: bool = False
    #: No source gives the delta sample's iron error; conservative: 3 % (1 sigma).
    concentration_error_std: float = 0.03
    #: No source gives the robot's accuracy; conservative: 0.05 mm per axis (1 sigma).
    position_jitter_std_m: float = 50e-6

    def __post_init__(self) -> None:
        for name in ("concentration_error_std", "position_jitter_std_m"):
            value = getattr(self, name)
            if not value >= 0:
                raise ConfigError(f"DeltaSampleErrors.{name}", f"expected >= 0, received {value}")

    def draw(self, rng: np.random.Generator, num_positions: int) -> tuple[float, np.ndarray]:
        """`(concentration factor, position offsets (M, 3) in m)`; `(1.0, zeros)` when off."""
        if not self.enabled:
            return 1.0, np.zeros((num_positions, 3))
        factor = 1.0 + self.concentration_error_std * float(rng.standard_normal())
        offsets = self.position_jitter_std_m * rng.standard_normal((num_positions, 3))
        return factor, offsets


@dataclasses.dataclass(frozen=True)
class TracerBatch:
    """Batch-to-batch variation of the core-size distribution.

    The batch's median diameter is `d50 (1 + e_d)` and its log-normal width
    `sigma (1 + e_s)`, `e_d ~ N(0, diameter_std^2)`, `e_s ~ N(0, sigma_std^2)`.

    Example:

    >>> batch = TracerBatch(enabled=True).draw(ParticleModel(), np.random.default_rng(0))
    >>> bool(abs(batch.median_diameter_m / 22e-9 - 1) < 0.2)
    True

    Args:
        enabled: bool. Off: the nominal `ParticleModel`. Defaults to False.
        diameter_std: float. Relative spread of the median core diameter.
        sigma_std: float. Relative spread of the log-normal width.

    Raises:
        ConfigError: for a negative spread.
    """

    enabled: bool = False
    #: No source gives perimag's batch spread; conservative: 3 % of the median diameter (1 sigma).
    diameter_std: float = 0.03
    #: No source gives it; conservative: 10 % of the log-normal width (1 sigma).
    sigma_std: float = 0.10

    def __post_init__(self) -> None:
        for name in ("diameter_std", "sigma_std"):
            value = getattr(self, name)
            if not value >= 0:
                raise ConfigError(f"TracerBatch.{name}", f"expected >= 0, received {value}")

    def draw(self, particles: ParticleModel, rng: np.random.Generator) -> ParticleModel:
        """The batch's `ParticleModel`; `particles` itself when off."""
        if not self.enabled:
            return particles
        e_d, e_s = rng.standard_normal(2)
        return dataclasses.replace(
            particles,
            median_diameter_m=particles.median_diameter_m * max(1.0 + self.diameter_std * e_d, 0.5),
            sigma=particles.sigma * max(1.0 + self.sigma_std * e_s, 0.0),
        )
