"""The descriptive groups of an MDF file, read into typed objects.

`/acquisition` (drive field, receiver, gradient) becomes an `Acquisition`;
`/study`, `/experiment`, `/scanner` and `/tracer` become a `Metadata`.
"""

from __future__ import annotations

import math

import numpy as np

from mpikeras.io.acquisition import Acquisition, DriveField
from mpikeras.io.mdf.access import Reader
from mpikeras.io.metadata import Metadata

_DRIVEFIELD = "/acquisition/drivefield/"
_RECEIVER = "/acquisition/receiver/"
_GRADIENT = "/acquisition/gradient"


def read_acquisition(r: Reader) -> Acquisition:
    """The `/acquisition` group: drive field, receiver, gradient and transfer function."""
    drivefield = _read_drivefield(r)
    rx = _RECEIVER
    bandwidth = r.number(rx + "bandwidth")
    if bandwidth <= 0:
        raise r.error(
            rx + "bandwidth",
            "out of range",
            expected="a positive frequency in Hz",
            actual=bandwidth,
        )
    num_samples = r.number(rx + "numSamplingPoints", "i")
    if num_samples < 2:
        raise r.error(
            rx + "numSamplingPoints", "out of range", expected="at least 2", actual=num_samples
        )
    # Sampling rate 2 * bandwidth and period V / (2 * bandwidth) must be finite numbers.
    if not math.isfinite(2.0 * bandwidth) or not math.isfinite(num_samples / (2.0 * bandwidth)):
        raise r.error(
            rx + "bandwidth",
            "out of range",
            expected=(
                f"a frequency in Hz giving a finite sampling rate and period for "
                f"{num_samples} samples"
            ),
            actual=bandwidth,
        )
    num_channels = r.number(rx + "numChannels", "i")
    if num_channels < 1:
        raise r.error(
            rx + "numChannels", "out of range", expected="at least 1", actual=num_channels
        )
    gradient = _read_gradient(r)
    transfer_function = _read_transfer_function(r, num_channels, num_samples // 2 + 1)
    return Acquisition(
        drivefield=drivefield,
        gradient_tesla_per_m=tuple(tuple(float(v) for v in row) for row in gradient),
        bandwidth_hz=bandwidth,
        num_sampling_points=num_samples,
        num_receive_channels=num_channels,
        num_averages=_num_averages(r),
        transfer_function=transfer_function,
        unit=r.string(rx + "unit", default="V"),
    )


def _read_drivefield(r: Reader) -> DriveField:
    d = _DRIVEFIELD
    num_df = r.number(d + "numChannels", "i")
    if num_df < 1:
        raise r.error(d + "numChannels", "out of range", expected="at least 1", actual=num_df)
    base_frequency = r.number(d + "baseFrequency")
    if base_frequency <= 0:
        raise r.error(
            d + "baseFrequency",
            "out of range",
            expected="a positive frequency in Hz",
            actual=base_frequency,
        )
    dividers = r.array(d + "divider")
    if dividers.size < num_df or dividers.size % num_df:
        raise r.error(
            d + "divider", "wrong shape", expected=f"D x F with D = {num_df}", actual=dividers.shape
        )
    num_freq_df = dividers.size // num_df
    dividers = dividers.reshape(num_df, num_freq_df)[:, 0]
    if (
        dividers.dtype.kind == "c"
        or (dividers <= 0).any()
        or (dividers != np.round(dividers)).any()
    ):
        raise r.error(
            d + "divider", "out of range", expected="positive integers", actual=dividers.tolist()
        )

    def per_channel(field: str) -> np.ndarray:
        # `strength` and `phase` are J x D x F: keep the first period and frequency.
        value = r.array(field)
        if value.dtype.kind == "c" or value.size == 0 or value.size % (num_df * num_freq_df):
            raise r.error(
                field,
                "wrong shape or type",
                expected=f"J x {num_df} x {num_freq_df} real",
                actual=f"{value.dtype} {value.shape}",
            )
        return value.reshape(-1, num_df, num_freq_df)[0, :, 0]

    waveform = r.string(d + "waveform", default="sine")
    return DriveField(
        base_frequency_hz=base_frequency,
        dividers=tuple(int(v) for v in dividers),
        strength_tesla=tuple(float(v) for v in per_channel(d + "strength")),
        phase_rad=tuple(float(v) for v in per_channel(d + "phase")),
        waveform=waveform,
    )


def _read_gradient(r: Reader) -> np.ndarray:
    """The 3 x 3 gradient of the first period, diag(-1, -1, 2) T/m when the file has none."""
    if not r.has(_GRADIENT):
        return np.diag([-1.0, -1.0, 2.0])
    g = r.array(_GRADIENT)
    if g.dtype.kind == "c":
        raise r.error(_GRADIENT, "wrong dtype", expected="real numbers", actual=str(g.dtype))
    if g.size == 3:
        return np.diag(g.reshape(3))
    if g.size and g.size % 9 == 0:
        return g.reshape(-1, 3, 3)[0]
    raise r.error(_GRADIENT, "wrong shape", expected="J x Y x 3 x 3 or 3", actual=g.shape)


def _read_transfer_function(r: Reader, num_channels: int, num_freq: int) -> np.ndarray | None:
    """The receiver's C x K transfer function, or `None` when the file has none."""
    field = _RECEIVER + "transferFunction"
    if not r.has(field):
        return None
    tf = r.array(field)
    if tf.dtype.kind != "c" and tf.shape[-1:] == (2,) and tf.size == 2 * num_channels * num_freq:
        tf = tf[..., 0] + 1j * tf[..., 1]
    if tf.size != num_channels * num_freq:
        raise r.error(field, "wrong shape", expected=(num_channels, num_freq), actual=tf.shape)
    return tf.reshape(num_channels, num_freq).astype(np.complex128)


def _num_averages(r: Reader) -> int:
    value = r.number("/acquisition/numAverages", "i", default=1)
    if value < 1:
        raise r.error(
            "/acquisition/numAverages", "out of range", expected="at least 1", actual=value
        )
    return value


def read_metadata(r: Reader) -> Metadata:
    """`/study`, `/experiment`, `/scanner` and `/tracer`; absent fields read as empty."""

    def text(field: str) -> str:
        return r.string(field, default="")

    def first_number(field: str, default: float) -> float:
        if not r.has(field):
            return default
        value = r.array(field)
        if value.dtype.kind == "c":
            raise r.error(field, "wrong dtype", expected="a real number", actual=str(value.dtype))
        return float(value.reshape(-1)[0]) if value.size else default

    return Metadata(
        study_name=text("/study/name"),
        study_number=r.number("/study/number", "i", default=0),
        study_description=text("/study/description"),
        experiment_name=text("/experiment/name"),
        experiment_number=r.number("/experiment/number", "i", default=0),
        experiment_description=text("/experiment/description"),
        experiment_subject=text("/experiment/subject"),
        is_simulation=r.flag("/experiment/isSimulation", default=False),
        scanner_facility=text("/scanner/facility"),
        scanner_manufacturer=text("/scanner/manufacturer"),
        scanner_name=text("/scanner/name") or text("/scanner/model"),
        scanner_operator=text("/scanner/operator"),
        scanner_topology=text("/scanner/topology"),
        tracer_name=text("/tracer/name"),
        tracer_batch=text("/tracer/batch"),
        tracer_vendor=text("/tracer/vendor"),
        tracer_solute=text("/tracer/solute"),
        tracer_concentration_mol_per_l=first_number("/tracer/concentration", 0.0),
        tracer_volume_l=first_number("/tracer/volume", 0.0),
    )
