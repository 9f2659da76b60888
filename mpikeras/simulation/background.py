"""In-band background of a calibration scan: lines of the drive-field chain that drift.

The drive-field chain (amplifiers, filters, coils) leaks harmonics of the
drive frequencies into the receive channels, and interference adds lines at
frequencies unrelated to the drive; both drift slowly while a calibration
runs for hours. A real scan therefore interleaves empty-bore (background)
frames with the delta-sample frames, and the correction subtracts the
background interpolated in time (MPIFiles' correction,
`mpikeras.io.mdf.background.subtract_background`). A drift that is not
linear between two background frames is left in the system matrix.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mpikeras.errors import ConfigError
from mpikeras.io.acquisition import Acquisition

#: Stream of `numpy.random.default_rng((seed, stream))` that draws the background lines and drift.
BACKGROUND_STREAM = 101
_SECONDS_PER_HOUR = 3600.0


@dataclasses.dataclass(frozen=True)
class BackgroundModel:
    """In-band lines of the drive-field chain, their drift, and interleaved background frames.

    Each driven channel d receives harmonics `n f_d` (n = 2 .. `max_harmonic`)
    of its drive frequency with amplitude `harmonic_volt * 2 / n` after the
    receive filter, plus `num_interference_lines` lines at bins drawn in the
    80 to 600 kHz band. Phases (and the interference bins) are drawn per
    calibration. Each line's complex amplitude drifts as `A (1 + w(t))`, w a
    complex Wiener process with `E|w(t)|^2 = drift_per_sqrt_hour^2 t / 1 h`.
    Background frames are interleaved as in OpenMPIData: one before each row
    of the scan (a line of voxels along x) and one after the last, the 2D
    form of its 362 = 19 x 19 + 1 background scans over the 19^3 grid.

    Example:

    >>> model = BackgroundModel(enabled=True)
    >>> model.frame_seconds(652.8e-6)  # 1000 averages of the 2D period plus the robot move
    1.6528

    Args:
        enabled: bool. Off: the static drive-field feed-through only, with
            the background frames appended after the scan (the simulator
            before this model). Defaults to False.
        harmonic_volt: float. Amplitude of the 2nd harmonic line (V).
        max_harmonic: int. Highest harmonic of a drive frequency.
        num_interference_lines: int. Lines at drawn in-band bins per channel.
        interference_volt: float. Amplitude of each interference line (V).
        drift_per_sqrt_hour: float. Relative drift of each line (see above).
        averages: int. Periods averaged per stored frame.
        robot_move_s: float. Time to move the delta sample between frames.

    Raises:
        ConfigError: for a negative level, drift or time, or a harmonic
            order below 2.
    """

    enabled: bool = False
    #: No source gives the level of in-band background lines; conservative: 5x the noise per sample.
    harmonic_volt: float = 10e-6
    #: Harmonics of 24.5 / 26.0 kHz up to 600 kHz (the band's top, mpi-facts section 5).
    max_harmonic: int = 24
    #: No source gives a count; conservative: 2 interference lines per channel.
    num_interference_lines: int = 2
    #: No source gives the level; conservative: as strong as the 2nd harmonic line.
    interference_volt: float = 10e-6
    #: No source gives a rate; conservative: 5 % per sqrt(hour) (0.5 % over a row of 19 voxels).
    drift_per_sqrt_hour: float = 0.05
    #: OpenMPIData.jl docs/src/calibration.md: 1000 averages per position.
    averages: int = 1000
    #: No source gives the robot's move time; conservative: 1 s per position.
    robot_move_s: float = 1.0

    def __post_init__(self) -> None:
        for name in (
            "harmonic_volt",
            "interference_volt",
            "drift_per_sqrt_hour",
            "robot_move_s",
            "num_interference_lines",
        ):
            value = getattr(self, name)
            if not value >= 0:
                raise ConfigError(f"BackgroundModel.{name}", f"expected >= 0, received {value}")
        if not self.max_harmonic >= 2:
            raise ConfigError(
                "BackgroundModel.max_harmonic", f"expected >= 2, received {self.max_harmonic}"
            )
        if not self.averages >= 1:
            raise ConfigError(
                "BackgroundModel.averages", f"expected >= 1, received {self.averages}"
            )

    def frame_seconds(self, period_s: float) -> float:
        """Seconds per stored frame: `averages` periods of `period_s` plus the robot move."""
        return round(self.averages * period_s + self.robot_move_s, 9)


def interleaved_order(num_rows: int, row_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Acquisition positions of the foreground and background frames of an interleaved scan.

    One background frame precedes each row and one follows the last:
    `num_rows + 1` background frames and `num_rows * row_length` foreground
    frames, the foreground in scan order (x fastest).

    Example:

    >>> fg, bg = interleaved_order(2, 3)
    >>> fg.tolist(), bg.tolist()
    ([1, 2, 3, 5, 6, 7], [0, 4, 8])

    Args:
        num_rows: rows of the scan (voxels along y times z).
        row_length: voxels per row (along x).

    Returns:
        `(foreground_positions, background_positions)`, int64 arrays.
    """
    stride = row_length + 1
    bg = np.arange(num_rows + 1) * stride
    fg = (np.arange(num_rows)[:, None] * stride + 1 + np.arange(row_length)[None, :]).reshape(-1)
    return fg.astype(np.int64), bg.astype(np.int64)


def background_lines(
    model: BackgroundModel, acquisition: Acquisition, rng: np.random.Generator
) -> np.ndarray:
    """Complex amplitudes of the in-band lines as rfft coefficients, shape (C, K).

    A line of amplitude a and phase p has the rfft coefficient
    `a V / 2 exp(i p)` (V samples per period).

    Args:
        model: the `BackgroundModel`.
        acquisition: drive frequencies and sampling.
        rng: the calibration's background stream.

    Returns:
        complex128 array, shape (C, K); zero outside the lines.
    """
    c, k = acquisition.num_receive_channels, acquisition.num_frequencies
    v = acquisition.num_sampling_points
    lines = np.zeros((c, k), np.complex128)
    df = acquisition.drivefield
    band = np.flatnonzero(
        (acquisition.frequencies_hz >= 80e3) & (acquisition.frequencies_hz <= 600e3)
    )
    for d in df.active_channels:
        if d >= c:
            continue
        base = round(v * df.frequencies_hz[d] / acquisition.sampling_rate_hz)
        for n in range(2, model.max_harmonic + 1):
            if n * base < k:
                phase = rng.uniform(0, 2 * np.pi)
                lines[d, n * base] += model.harmonic_volt * 2 / n * v / 2 * np.exp(1j * phase)
        for _ in range(model.num_interference_lines):
            phase = rng.uniform(0, 2 * np.pi)
            lines[d, rng.choice(band)] += model.interference_volt * v / 2 * np.exp(1j * phase)
    return lines


def drifting_background(
    model: BackgroundModel, lines: np.ndarray, times_s: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lines at each frame time: `lines (1 + w(t))`, w a complex Wiener process per line.

    Example:

    >>> lines = np.zeros((1, 4), complex)
    >>> lines[0, 2] = 1.0
    >>> rng = np.random.default_rng(0)
    >>> ch, k, values = drifting_background(BackgroundModel(), lines, np.arange(3.0), rng)
    >>> ch.tolist(), k.tolist(), values.shape
    ([0], [2], (3, 1))

    Args:
        model: the `BackgroundModel` (its drift rate).
        lines: complex array, shape (C, K), from `background_lines`.
        times_s: increasing frame times (s), shape (T,).
        rng: the calibration's background stream.

    Returns:
        `(channels, bins, values)`: the L lines' channel and bin indices and
        their complex amplitudes at each time, shape (T, L) (zero elsewhere).
    """
    times_s = np.asarray(times_s, np.float64)
    steps = np.diff(times_s, prepend=times_s[:1]) / _SECONDS_PER_HOUR
    scale = model.drift_per_sqrt_hour * np.sqrt(steps / 2)[:, None]
    channel, bin_ = np.nonzero(lines)  # only the lines drift; draws for them alone
    parts = rng.standard_normal((times_s.size, channel.size, 2))
    walk = np.cumsum((parts[..., 0] + 1j * parts[..., 1]) * scale, axis=0)
    return channel, bin_, lines[channel, bin_] * (1.0 + walk)
