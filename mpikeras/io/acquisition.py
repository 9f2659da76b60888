"""Acquisition parameters of an MDF file: drive field and receiver.

Names follow the MDF v2 groups `/acquisition/drivefield` and
`/acquisition/receiver`. Field strengths are in tesla (the MDF stores T/mu0,
which is the same number).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np


@dataclasses.dataclass(frozen=True)
class DriveField:
    """Sinusoidal drive field, one frequency per channel.

    MDF `/acquisition/drivefield`: channel d produces
    `H_d(t) = strength_d * sin(2 pi f_d t + phase_d)` with
    `f_d = baseFrequency / divider_d` (waveform "sine"). Channel d points
    along axis d (x, y, z).

    Args:
        base_frequency_hz: `baseFrequency`.
        dividers: `divider`, one per channel.
        strength_tesla: `strength`, one per channel (T/mu0).
        phase_rad: `phase`, one per channel.
        waveform: `waveform`; only "sine" is simulated.
    """

    base_frequency_hz: float = 2.5e6
    dividers: tuple[int, ...] = (102, 96, 99)
    strength_tesla: tuple[float, ...] = (0.012, 0.012, 0.0)
    phase_rad: tuple[float, ...] = (math.pi / 2, math.pi / 2, math.pi / 2)
    waveform: str = "sine"

    def __post_init__(self) -> None:
        n = len(self.dividers)
        if len(self.strength_tesla) != n or len(self.phase_rad) != n:
            raise ValueError(
                "DriveField: dividers, strength_tesla and phase_rad need one entry per "
                f"channel; got {len(self.dividers)}, {len(self.strength_tesla)}, "
                f"{len(self.phase_rad)}"
            )

    @property
    def num_channels(self) -> int:
        return len(self.dividers)

    @property
    def frequencies_hz(self) -> np.ndarray:
        """Drive frequencies `baseFrequency / divider` per channel."""
        return self.base_frequency_hz / np.asarray(self.dividers, dtype=np.float64)

    @property
    def active_channels(self) -> tuple[int, ...]:
        """Channels with non-zero strength (x and y for 2D excitation)."""
        return tuple(d for d, s in enumerate(self.strength_tesla) if s != 0.0)

    @property
    def period_s(self) -> float:
        """Repetition time of the trajectory of the active channels (lcm of dividers)."""
        dividers = [self.dividers[d] for d in self.active_channels] or [1]
        return math.lcm(*dividers) / self.base_frequency_hz

    def field_tesla(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Drive field and its time derivative at times `t_s`.

        Args:
            t_s: times in seconds, shape (T,).

        Returns:
            `(field, derivative)`, each shape (T, 3): field in tesla along x,
            y, z and its derivative in tesla per second.
        """
        t_s = np.asarray(t_s, dtype=np.float64)
        field = np.zeros((t_s.size, 3))
        derivative = np.zeros((t_s.size, 3))
        for d in range(min(self.num_channels, 3)):
            omega = 2.0 * np.pi * self.frequencies_hz[d]
            arg = omega * t_s + self.phase_rad[d]
            field[:, d] = self.strength_tesla[d] * np.sin(arg)
            derivative[:, d] = self.strength_tesla[d] * omega * np.cos(arg)
        return field, derivative


@dataclasses.dataclass(frozen=True)
class Acquisition:
    """What the scanner did and how the receiver sampled it.

    Args:
        drivefield: the drive field.
        gradient_tesla_per_m: selection-field gradient, 3 x 3 (MDF
            `/acquisition/gradient`, T/m/mu0).
        bandwidth_hz: receiver bandwidth; the sampling rate is twice this
            (`/acquisition/receiver/bandwidth`).
        num_sampling_points: samples per drive-field period V
            (`/acquisition/receiver/numSamplingPoints`).
        num_receive_channels: C (`/acquisition/receiver/numChannels`).
        num_averages: periods averaged into one stored period
            (`/acquisition/numAverages`).
        transfer_function: complex receive-chain transfer function, shape
            (C, K) with K = V // 2 + 1, or `None` if unknown.
        unit: unit of the stored data (`/acquisition/receiver/unit`).
    """

    drivefield: DriveField = dataclasses.field(default_factory=DriveField)
    gradient_tesla_per_m: tuple[tuple[float, float, float], ...] = (
        (-1.0, 0.0, 0.0),
        (0.0, -1.0, 0.0),
        (0.0, 0.0, 2.0),
    )
    bandwidth_hz: float = 1.25e6
    num_sampling_points: int = 1632
    num_receive_channels: int = 3
    num_averages: int = 1
    transfer_function: np.ndarray | None = dataclasses.field(default=None, compare=False)
    unit: str = "V"

    @property
    def sampling_rate_hz(self) -> float:
        return 2.0 * self.bandwidth_hz

    @property
    def num_frequencies(self) -> int:
        """K = V // 2 + 1 rfft bins."""
        return self.num_sampling_points // 2 + 1

    @property
    def frequencies_hz(self) -> np.ndarray:
        """Frequencies of the rfft bins: `rfftfreq(V, 1 / (2 * bandwidth))`."""
        return np.fft.rfftfreq(self.num_sampling_points, 1.0 / self.sampling_rate_hz)

    @property
    def period_s(self) -> float:
        """Length of one stored period, V / (2 * bandwidth)."""
        return self.num_sampling_points / self.sampling_rate_hz

    @property
    def times_s(self) -> np.ndarray:
        """Sampling times of one period, shape (V,)."""
        return np.arange(self.num_sampling_points) / self.sampling_rate_hz

    @property
    def gradient(self) -> np.ndarray:
        """Gradient as a 3 x 3 array in T/m."""
        return np.asarray(self.gradient_tesla_per_m, dtype=np.float64)

    @property
    def drive_field_half_width_m(self) -> tuple[float, float, float]:
        """Half-width of the drive-field FOV along x, y, z: the FFP's excursion `B_D / |G_ii|`.

        From r_FFP = G^-1 H_D (mpi-facts section 1) for a diagonal gradient:
        12 mT over 1 T/m gives +-12 mm, the 24 x 24 mm FOV of OpenMPIData's 2D
        sequence. An axis without drive field (or without gradient) has 0.
        """
        diagonal = np.abs(np.diag(self.gradient))
        strength = list(self.drivefield.strength_tesla)[:3] + [0.0] * 3
        return tuple(float(strength[d] / diagonal[d]) if diagonal[d] > 0 else 0.0 for d in range(3))
