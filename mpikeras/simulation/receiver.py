"""Receive chain: coil sensitivity, analog filter, noise and background."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import signal


@dataclasses.dataclass(frozen=True)
class ReceiveChain:
    """Homogeneous receive coils followed by an analog filter and white noise.

    The induced voltage of channel c is `u_c = -mu0 p_c d/dt m_c` for a
    homogeneous coil sensitivity `p_c` along axis c (mpi-facts section 4).
    The analog filter is a Butterworth high-pass that suppresses the
    drive-field fundamentals (about -30 dB at 25 kHz, -0.4 dB at 80 kHz)
    followed by a first-order low-pass `1 / (1 + i f / fc)`.

    Args:
        coil_sensitivity_per_m: p_c for the x, y, z receive coils (field per
            unit current, 1/m).
        highpass_hz: corner of the high-pass.
        highpass_order: order of the Butterworth high-pass.
        lowpass_hz: corner of the first-order low-pass.
        noise_std_volt: standard deviation of the white Gaussian noise per
            time sample of one stored (already averaged) period.
        feedthrough_volt: amplitude of the drive-field feed-through at the
            fundamental in each driven channel, before the filter; it is the
            static background that background frames measure.
    """

    coil_sensitivity_per_m: tuple[float, float, float] = (2000.0, 2000.0, 2000.0)
    highpass_hz: float = 60e3
    highpass_order: int = 4
    lowpass_hz: float = 800e3
    noise_std_volt: float = 2e-6
    feedthrough_volt: float = 1e-3

    def __post_init__(self) -> None:
        if self.noise_std_volt < 0 or self.feedthrough_volt < 0:
            raise ValueError(
                "ReceiveChain: noise_std_volt and feedthrough_volt must be >= 0, got "
                f"{self.noise_std_volt}, {self.feedthrough_volt}"
            )
        if not (self.highpass_hz > 0 and self.lowpass_hz > 0 and self.highpass_order >= 1):
            raise ValueError("ReceiveChain: filter corners must be positive and order >= 1")

    def transfer_function(self, frequencies_hz: np.ndarray) -> np.ndarray:
        """Complex filter response at `frequencies_hz`, shape like the input."""
        f = np.asarray(frequencies_hz, dtype=np.float64)
        b, a = signal.butter(self.highpass_order, 2 * np.pi * self.highpass_hz, "highpass",
                             analog=True)  # fmt: skip
        _, highpass = signal.freqs(b, a, worN=2 * np.pi * f)
        return highpass / (1.0 + 1j * f / self.lowpass_hz)
