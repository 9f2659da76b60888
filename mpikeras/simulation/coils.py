"""Receive coils beyond the ideal: sensitivity over the FOV, x-y coupling, gain with temperature.

The ideal receive coil has one sensitivity `p_c` everywhere (mpi-facts
section 4). A real coil's field per unit current varies over the field of
view, the x and y coils pick up a little of each other's signal, and the
gain of the receive chain follows the temperature of coils and amplifiers,
which changes over the hours of a calibration and between calibrations
(OpenMPIData warms the scanner up for 30 minutes before each measurement
for this reason).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mpikeras.errors import ConfigError

#: Stream of `numpy.random.default_rng((seed, stream))` that draws the temperature course.
TEMPERATURE_STREAM = 102
_SECONDS_PER_HOUR = 3600.0


@dataclasses.dataclass(frozen=True)
class CoilModel:
    """Receive-coil sensitivity over the FOV, x-y coupling and temperature-driven gain.

    Sensitivity: the coil along axis c sees `p_c (1 + k (r_c^2 - (r_a^2 + r_b^2) / 2) / r0^2)`
    (a, b the other axes), the lowest-order correction of a coil's field
    that satisfies Laplace's equation; `k = sensitivity_change_at_edge` is
    the relative change on the coil's axis at `r0 = edge_radius_m`.
    Coupling: channel x receives `coupling` times channel y's signal and
    vice versa (a symmetric matrix). Gain: `1 + gain_per_kelvin dT(t)`
    with `dT(t) = dT0 + s t`, `dT0 ~ N(0, temperature_std_kelvin^2)` and
    `s ~ N(0, temperature_drift_std_kelvin_per_hour^2)` drawn per
    calibration, plus `temperature_offset_kelvin` (a scenario's shift).

    Example:

    >>> coils = CoilModel(enabled=True)
    >>> s = coils.sensitivity_map(np.array([[0.012, 0.0, 0.0]]), 3)
    >>> [round(float(v), 3) for v in s[0]]  # x coil on its axis, y and z coils off theirs
    [0.95, 1.025, 1.025]

    Args:
        enabled: bool. Off: homogeneous, uncoupled coils of constant gain.
            Defaults to False.
        sensitivity_change_at_edge: float. k above.
        edge_radius_m: float. r0 above.
        coupling: float. Fraction of each of the x and y channels in the other.
        gain_per_kelvin: float. Relative gain change per kelvin.
        temperature_std_kelvin: float. Spread of the temperature between calibrations.
        temperature_drift_std_kelvin_per_hour: float. Spread of the drift rate during one.
        temperature_offset_kelvin: float. A fixed temperature shift of this calibration.

    Raises:
        ConfigError: for a non-positive radius, a coupling outside [0, 1) or
            a negative spread.
    """

    enabled: bool = False
    #: No source gives the Bruker coil's map; conservative: 5 % change at the drive-field FOV edge.
    sensitivity_change_at_edge: float = -0.05
    #: The 2D drive-field FOV's half width, 12 mm (mpi-facts section 1).
    edge_radius_m: float = 0.012
    #: No source gives the x-y decoupling; conservative: -40 dB (1 %).
    coupling: float = 0.01
    #: No source gives the chain's temperature coefficient; conservative: 0.2 % per kelvin.
    gain_per_kelvin: float = 2e-3
    #: No source gives it; conservative: 1 K between calibrations (OpenMPIData warms up 30 min).
    temperature_std_kelvin: float = 1.0
    #: No source gives it; conservative: 0.5 K per hour during a calibration.
    temperature_drift_std_kelvin_per_hour: float = 0.5
    temperature_offset_kelvin: float = 0.0

    def __post_init__(self) -> None:
        if not self.edge_radius_m > 0:
            raise ConfigError(
                "CoilModel.edge_radius_m", f"expected > 0, received {self.edge_radius_m}"
            )
        if not 0 <= self.coupling < 1:
            raise ConfigError("CoilModel.coupling", f"expected in [0, 1), received {self.coupling}")
        for name in ("temperature_std_kelvin", "temperature_drift_std_kelvin_per_hour"):
            value = getattr(self, name)
            if not value >= 0:
                raise ConfigError(f"CoilModel.{name}", f"expected >= 0, received {value}")

    def sensitivity_map(self, positions_m: np.ndarray, num_channels: int) -> np.ndarray:
        """Relative sensitivity of each channel's coil at each position, shape (M, C).

        All ones when the model is off.

        Args:
            positions_m: array, shape (M, 3). Positions (m).
            num_channels: C, at most 3 (x, y, z coils).

        Returns:
            float64 array, shape (M, C).
        """
        r = np.asarray(positions_m, np.float64).reshape(-1, 3) / self.edge_radius_m
        if not self.enabled:
            return np.ones((r.shape[0], num_channels))
        square = r**2
        total = square.sum(axis=1, keepdims=True)
        # r_c^2 - (r_a^2 + r_b^2) / 2 = (3 r_c^2 - |r|^2) / 2: harmonic (Laplace) in r.
        return (
            1.0 + self.sensitivity_change_at_edge * (1.5 * square - 0.5 * total)[:, :num_channels]
        )

    def coupling_matrix(self, num_channels: int) -> np.ndarray:
        """The channel mixing `u' = K u`, shape (C, C): identity with `coupling` between x and y."""
        matrix = np.eye(num_channels)
        if self.enabled and num_channels >= 2:
            matrix[0, 1] = matrix[1, 0] = self.coupling
        return matrix

    def gain(self, times_s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Relative gain at each frame time, `1 + gain_per_kelvin dT(t)`, shape (T,).

        Args:
            times_s: frame times from the start of the calibration (s).
            rng: the calibration's temperature stream.

        Returns:
            float64 array of the shape of `times_s`; all ones when off.
        """
        times_s = np.asarray(times_s, np.float64)
        if not self.enabled:
            return np.ones_like(times_s)
        start, slope = rng.standard_normal(2)
        delta_kelvin = (
            self.temperature_offset_kelvin
            + self.temperature_std_kelvin * start
            + self.temperature_drift_std_kelvin_per_hour * slope * times_s / _SECONDS_PER_HOUR
        )
        return 1.0 + self.gain_per_kelvin * delta_kelvin
