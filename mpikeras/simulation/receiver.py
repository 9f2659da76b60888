"""Receive chain: coil sensitivity, analog filter, noise and background."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import signal

from mpikeras.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class ReceiveChain:
    """Homogeneous receive coils followed by an analog filter and white noise.

    The induced voltage of channel c is `u_c = -mu0 p_c d/dt m_c` for a
    homogeneous coil sensitivity `p_c` along axis c (mpi-facts section 4).
    The analog filter is a Butterworth high-pass that suppresses the
    drive-field fundamentals, followed by the textbook first-order low-pass
    `1 / (1 + i f / fc)`: together about -30 dB at 25 kHz, -0.5 dB at
    80 kHz and -1.9 dB at 600 kHz. The noise is white and Gaussian, independent
    between samples, channels and frames; the feed-through of the drive
    field is the static background that background frames measure.

    Example:

    >>> chain = ReceiveChain()
    >>> gain_db = 20 * np.log10(abs(chain.transfer_function([25e3, 80e3, 600e3])))
    >>> [round(float(g), 1) for g in gain_db]
    [-30.4, -0.5, -1.9]

    Args:
        coil_sensitivity_per_m: tuple of 3 floats. p_c for the x, y, z
            receive coils (field per unit current, 1/m). Defaults to 2000.
        highpass_hz: float. Corner of the high-pass. Defaults to 60 kHz.
        highpass_order: int. Order of the Butterworth high-pass. Defaults
            to 4.
        lowpass_hz: float. Corner of the first-order low-pass. Defaults to
            800 kHz.
        noise_std_volt: float. Standard deviation of the white Gaussian noise
            per time sample of one stored (already averaged) period.
            Defaults to 2 uV.
        feedthrough_volt: float. Amplitude of the drive-field feed-through at
            the fundamental in each driven channel, before the filter.
            Defaults to 1 mV.

    Raises:
        ConfigError: for a negative noise or feed-through level, a
            non-positive filter corner or an order below 1.
    """

    coil_sensitivity_per_m: tuple[float, float, float] = (2000.0, 2000.0, 2000.0)
    highpass_hz: float = 60e3
    highpass_order: int = 4
    lowpass_hz: float = 800e3
    noise_std_volt: float = 2e-6
    feedthrough_volt: float = 1e-3

    def __post_init__(self) -> None:
        for name in ("noise_std_volt", "feedthrough_volt"):
            value = getattr(self, name)
            if not value >= 0:
                raise ConfigError(f"ReceiveChain.{name}", f"expected >= 0, received {value}")
        for name in ("highpass_hz", "lowpass_hz"):
            value = getattr(self, name)
            if not value > 0:
                raise ConfigError(f"ReceiveChain.{name}", f"expected > 0, received {value}")
        if not self.highpass_order >= 1:
            raise ConfigError(
                "ReceiveChain.highpass_order", f"expected >= 1, received {self.highpass_order}"
            )

    def transfer_function(self, frequencies_hz: np.ndarray) -> np.ndarray:
        """Complex filter response at `frequencies_hz`.

        `H(f) = B(i 2 pi f) / (1 + i f / fc)` with `B` the analog Butterworth
        high-pass; with numpy's `exp(-i 2 pi f t)` transform convention this
        is a causal filter. The coil factor `-mu0 p_c` is not included.

        Args:
            frequencies_hz: array_like of frequencies (Hz).

        Returns:
            complex128 array of the shape of `frequencies_hz`.
        """
        f = np.asarray(frequencies_hz, dtype=np.float64)
        b, a = signal.butter(
            self.highpass_order, 2 * np.pi * self.highpass_hz, "highpass", analog=True
        )
        _, highpass = signal.freqs(b, a, worN=2 * np.pi * f.ravel())
        return (highpass / (1.0 + 1j * f.ravel() / self.lowpass_hz)).reshape(f.shape)
