"""Reading and writing MDF v2 files (HDF5), as OpenMPIData ships them.

Layout (h5py view, slowest axis first; MDF specification `MDF.tex`):

- system matrix: `/measurement/data` is J x C x K x (O + E) complex
  (`isFastFrameAxis` = 1, `isFourierTransformed` = 1), foreground frames in
  `/calibration/order` ("xyz": x fastest), background frames flagged in
  `/measurement/isBackgroundFrame`; a file is a system matrix when
  `/calibration/method` exists.
- measurement: `/measurement/data` is N x J x C x V real (time domain).

Complex data is read from an HDF5 compound {r, i} (what MPIFiles.jl writes)
or from a trailing axis of length 2 (what the specification describes).
Every problem is reported as `MDFError` naming the file and the field.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import math
import numbers
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mpikeras.errors import ConfigError, MDFError
from mpikeras.io.acquisition import Acquisition, DriveField
from mpikeras.io.atomic import atomic_path
from mpikeras.io.grid import Grid
from mpikeras.io.measurement import Measurement
from mpikeras.io.metadata import Metadata
from mpikeras.io.system_matrix import SystemMatrix

MDF_VERSION = "2.1.0"

#: Fields the MDF v2 specification makes mandatory in every file.
REQUIRED_FIELDS = (
    "/version", "/uuid", "/time",
    "/study/description", "/study/name", "/study/number", "/study/uuid",
    "/experiment/description", "/experiment/isSimulation", "/experiment/name",
    "/experiment/number", "/experiment/subject", "/experiment/uuid",
    "/scanner/facility", "/scanner/manufacturer", "/scanner/name", "/scanner/operator",
    "/scanner/topology",
    "/tracer/batch", "/tracer/concentration", "/tracer/name", "/tracer/solute",
    "/tracer/vendor", "/tracer/volume",
    "/acquisition/numAverages", "/acquisition/numFrames", "/acquisition/numPeriodsPerFrame",
    "/acquisition/startTime",
    "/acquisition/drivefield/baseFrequency", "/acquisition/drivefield/cycle",
    "/acquisition/drivefield/divider", "/acquisition/drivefield/numChannels",
    "/acquisition/drivefield/phase", "/acquisition/drivefield/strength",
    "/acquisition/drivefield/waveform",
    "/acquisition/receiver/bandwidth", "/acquisition/receiver/numChannels",
    "/acquisition/receiver/numSamplingPoints", "/acquisition/receiver/unit",
    "/measurement/data", "/measurement/isBackgroundCorrected",
    "/measurement/isBackgroundFrame", "/measurement/isFastFrameAxis",
    "/measurement/isFourierTransformed", "/measurement/isFramePermutation",
    "/measurement/isFrequencySelection", "/measurement/isSparsityTransformed",
    "/measurement/isSpectralLeakageCorrected", "/measurement/isTransferFunctionCorrected",
)  # fmt: skip

#: Fields mpikeras needs in a calibration (system-matrix) file.
CALIBRATION_FIELDS = (
    "/calibration/method", "/calibration/size", "/calibration/fieldOfView",
    "/calibration/fieldOfViewCenter",
)  # fmt: skip

_DATA = "/measurement/data"
# Errors h5py raises on damaged files (HDF5 errors surface as OSError, KeyError,
# RuntimeError or ValueError depending on where the library fails).
_H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError)
_COMPLEX_FIELD_NAMES = (("r", "i"), ("real", "imag"), ("re", "im"))


# --------------------------------------------------------------------------- reading


class _Reader:
    """Typed, validated access to the datasets of one open MDF file."""

    def __init__(self, path: Path, f: h5py.File) -> None:
        self.path = path
        self.f = f

    def error(self, field: str, problem: str, expected: Any = None, actual: Any = None):
        return MDFError(self.path, field, problem, expected, actual)

    def has(self, field: str) -> bool:
        try:
            return field in self.f
        except _H5_ERRORS as exc:
            raise self.error(field, f"unreadable, the file may be damaged ({exc})") from None

    def _get(self, field: str) -> h5py.Group | h5py.Dataset:
        try:
            return self.f[field]
        except _H5_ERRORS as exc:
            raise self.error(field, f"unreadable, the file may be damaged ({exc})") from None

    def group(self, field: str) -> bool:
        """Whether the group `field` exists; an error if something else is there."""
        if not self.has(field):
            return False
        obj = self._get(field)
        if not isinstance(obj, h5py.Group):
            raise self.error(field, "not a group", "an HDF5 group", _kind_of(obj))
        return True

    def dataset(self, field: str) -> h5py.Dataset:
        """The dataset at `field`, naming the first missing group if any."""
        parts = field.strip("/").split("/")
        for depth in range(1, len(parts)):
            group = "/" + "/".join(parts[:depth])
            if not self.group(group):
                raise self.error(group, "missing group", "the group MDF v2 requires", "nothing")
        if not self.has(field):
            raise self.error(field, "missing dataset", "the dataset MDF v2 requires", "nothing")
        obj = self._get(field)
        if not isinstance(obj, h5py.Dataset):
            raise self.error(field, "not a dataset", "an HDF5 dataset", _kind_of(obj))
        return obj

    def shape(self, field: str, ds: h5py.Dataset) -> tuple[int, ...]:
        """The shape of `ds`; an error for a null dataspace (`h5py.Empty`), which holds nothing."""
        if ds.shape is None:
            raise self.error(field, "empty dataset (null dataspace)", "a value", "no value")
        return tuple(int(n) for n in ds.shape)

    def read(self, field: str) -> np.ndarray:
        """The whole dataset at `field`."""
        ds = self.dataset(field)
        shape = self.shape(field, ds)
        try:
            return np.asarray(ds[()])
        except MemoryError:
            raise self.error(field, "too large to read into memory", None, shape) from None
        except _H5_ERRORS as exc:
            raise self.error(
                field, f"unreadable, the file may be truncated or damaged ({exc})"
            ) from None

    def number(self, field: str, kind: str = "f", default: Any = None) -> Any:
        """A scalar (or 1-element array) of integer ('i') or float ('f') kind."""
        if default is not None and not self.has(field):
            return default
        ds = self.dataset(field)
        shape = self.shape(field, ds)
        if math.prod(shape) != 1:  # checked before reading: the dataset may be huge
            raise self.error(
                field, "wrong type or shape", "a numeric scalar", f"{ds.dtype} {shape}"
            )
        value = self.read(field)
        if value.dtype.kind not in ("i", "u", "f", "b") or value.size != 1:
            raise self.error(
                field, "wrong type or shape", "a numeric scalar", f"{value.dtype} {value.shape}"
            )
        if kind == "i" and value.dtype.kind == "f":
            raise self.error(field, "wrong dtype", "an integer", str(value.dtype))
        value = value.reshape(()).item()
        if not np.isfinite(value):
            raise self.error(field, "not finite", "a finite number", value)
        return int(value) if kind == "i" else float(value)

    def flag(self, field: str, default: bool | None = None) -> bool:
        value = self.number(field, "i", None if default is None else int(default))
        if value not in (0, 1):
            raise self.error(field, "not a flag", "0 or 1", value)
        return bool(value)

    def string(self, field: str, default: str | None = None) -> str:
        if default is not None and not self.has(field):
            return default
        value = self.read(field)
        if value.dtype.kind in ("O", "S", "U"):
            item = value.reshape(-1)[0] if value.size else b""
            if isinstance(item, bytes):
                return item.decode("utf-8", "replace")
            if isinstance(item, str):
                return item
            # An object dataset of references or variable-length numbers.
            actual = f"{value.dtype} holding {type(item).__name__}"
        else:
            actual = str(value.dtype)
        raise self.error(field, "wrong dtype", "a string", actual)

    def array(
        self, field: str, shape: tuple[int, ...] | None = None, finite: bool = True
    ) -> np.ndarray:
        """A numeric (or complex) array, optionally of `shape` and checked finite."""
        if shape is not None:  # checked before reading: the dataset may be huge
            stored = self.shape(field, self.dataset(field))
            if math.prod(stored) != math.prod(shape):
                raise self.error(field, "wrong shape", shape, stored)
        value = self.read(field)
        if value.dtype.kind not in ("i", "u", "f", "c", "V", "b"):
            raise self.error(field, "wrong dtype", "numbers", str(value.dtype))
        if value.dtype.kind == "V":
            value = self.compound_to_complex(field, value)
        if shape is not None and value.size != int(np.prod(shape)):
            raise self.error(field, "wrong shape", shape, value.shape)
        if finite and value.dtype.kind in ("f", "c") and not np.isfinite(value).all():
            bad = int((~np.isfinite(value)).sum())
            raise self.error(field, "not finite", "finite numbers", f"{bad} NaN or Inf values")
        return value if shape is None else value.reshape(shape)

    def compound_to_complex(self, field: str, value: np.ndarray) -> np.ndarray:
        names = _complex_fields(value.dtype)
        if names is None:
            raise self.error(field, "unsupported compound dtype", "complex {r, i}",
                             str(value.dtype))  # fmt: skip
        re_name, im_name = names
        dtype = np.result_type(value.dtype[re_name], value.dtype[im_name], np.complex64)
        out = np.empty(value.shape, dtype=dtype)
        out.real = value[re_name]
        out.imag = value[im_name]
        return out


def _kind_of(obj: Any) -> str:
    """What an HDF5 object is, in words: 'a group', 'a dataset', 'a named datatype'."""
    if isinstance(obj, h5py.Group):
        return "a group"
    if isinstance(obj, h5py.Dataset):
        return "a dataset"
    if isinstance(obj, h5py.Datatype):
        return "a named datatype"
    return type(obj).__name__


def _complex_fields(dtype: np.dtype) -> tuple[str, str] | None:
    """The (real, imaginary) field names of a compound complex dtype, or `None`.

    Both fields must be plain real numbers (no strings, sub-arrays or nested
    compounds), as in MPIFiles' `{r, i}`.
    """
    names = dtype.names or ()
    for re_name, im_name in _COMPLEX_FIELD_NAMES:
        if re_name in names and im_name in names:
            parts = (dtype[re_name], dtype[im_name])
            if all(p.kind in ("i", "u", "f") and p.shape == () for p in parts):
                return re_name, im_name
            return None
    return None


def _open(path: str | os.PathLike) -> tuple[Path, h5py.File]:
    path = Path(path)
    try:
        if not path.exists():
            raise MDFError(path, "/", "file does not exist", "an MDF (HDF5) file", "no such file")
        if path.is_dir():
            raise MDFError(path, "/", "is a directory", "an MDF (HDF5) file", "a directory")
        size = path.stat().st_size
        if size == 0:
            raise MDFError(path, "/", "file is empty", "an MDF (HDF5) file", "0 bytes")
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise MDFError(path, "/", f"cannot read the file ({exc.strerror or exc})") from None
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError:
        is_hdf5 = False
    if not is_hdf5:
        raise MDFError(
            path, "/", "not an HDF5 file", "the HDF5 signature b'\\x89HDF\\r\\n\\x1a\\n'", head
        )
    try:
        f = h5py.File(path, "r")
    except _H5_ERRORS as exc:
        raise MDFError(path, "/", f"truncated or corrupted HDF5 file ({exc})") from None
    return path, f


def _read_acquisition(r: _Reader) -> Acquisition:
    d = "/acquisition/drivefield/"
    num_df = r.number(d + "numChannels", "i")
    if num_df < 1:
        raise r.error(d + "numChannels", "out of range", "at least 1", num_df)
    base_frequency = r.number(d + "baseFrequency")
    if base_frequency <= 0:
        raise r.error(d + "baseFrequency", "out of range", "a positive frequency in Hz",
                      base_frequency)  # fmt: skip
    dividers = r.array(d + "divider")
    if dividers.size < num_df or dividers.size % num_df:
        raise r.error(d + "divider", "wrong shape", f"D x F with D = {num_df}", dividers.shape)
    num_freq_df = dividers.size // num_df
    dividers = dividers.reshape(num_df, num_freq_df)[:, 0]
    if (
        dividers.dtype.kind == "c"
        or (dividers <= 0).any()
        or (dividers != np.round(dividers)).any()
    ):
        raise r.error(d + "divider", "out of range", "positive integers", dividers.tolist())

    def per_channel(field: str) -> np.ndarray:
        # `strength` and `phase` are J x D x F: keep the first period and frequency.
        value = r.array(field)
        if value.dtype.kind == "c" or value.size == 0 or value.size % (num_df * num_freq_df):
            raise r.error(field, "wrong shape or type", f"J x {num_df} x {num_freq_df} real",
                          f"{value.dtype} {value.shape}")  # fmt: skip
        return value.reshape(-1, num_df, num_freq_df)[0, :, 0]

    waveform = r.string(d + "waveform", default="sine")
    drivefield = DriveField(
        base_frequency_hz=base_frequency,
        dividers=tuple(int(v) for v in dividers),
        strength_tesla=tuple(float(v) for v in per_channel(d + "strength")),
        phase_rad=tuple(float(v) for v in per_channel(d + "phase")),
        waveform=waveform,
    )
    rx = "/acquisition/receiver/"
    bandwidth = r.number(rx + "bandwidth")
    if bandwidth <= 0:
        raise r.error(rx + "bandwidth", "out of range", "a positive frequency in Hz", bandwidth)
    num_samples = r.number(rx + "numSamplingPoints", "i")
    if num_samples < 2:
        raise r.error(rx + "numSamplingPoints", "out of range", "at least 2", num_samples)
    # Sampling rate 2 * bandwidth and period V / (2 * bandwidth) must be finite numbers.
    if not math.isfinite(2.0 * bandwidth) or not math.isfinite(num_samples / (2.0 * bandwidth)):
        raise r.error(rx + "bandwidth", "out of range",
                      f"a frequency in Hz giving a finite sampling rate and period for "
                      f"{num_samples} samples", bandwidth)  # fmt: skip
    num_channels = r.number(rx + "numChannels", "i")
    if num_channels < 1:
        raise r.error(rx + "numChannels", "out of range", "at least 1", num_channels)
    gradient = np.diag([-1.0, -1.0, 2.0])
    if r.has("/acquisition/gradient"):
        g = r.array("/acquisition/gradient")
        if g.dtype.kind == "c":
            raise r.error("/acquisition/gradient", "wrong dtype", "real numbers", str(g.dtype))
        if g.size == 3:
            gradient = np.diag(g.reshape(3))
        elif g.size and g.size % 9 == 0:
            gradient = g.reshape(-1, 3, 3)[0]
        else:
            raise r.error("/acquisition/gradient", "wrong shape", "J x Y x 3 x 3 or 3", g.shape)
    transfer_function = None
    num_freq = num_samples // 2 + 1
    field = rx + "transferFunction"
    if r.has(field):
        tf = r.array(field)
        if (
            tf.dtype.kind != "c"
            and tf.shape[-1:] == (2,)
            and tf.size == 2 * num_channels * num_freq
        ):
            tf = tf[..., 0] + 1j * tf[..., 1]
        if tf.size != num_channels * num_freq:
            raise r.error(field, "wrong shape", (num_channels, num_freq), tf.shape)
        transfer_function = tf.reshape(num_channels, num_freq).astype(np.complex128)
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


def _num_averages(r: _Reader) -> int:
    value = r.number("/acquisition/numAverages", "i", default=1)
    if value < 1:
        raise r.error("/acquisition/numAverages", "out of range", "at least 1", value)
    return value


def _read_metadata(r: _Reader) -> Metadata:
    def text(field: str) -> str:
        return r.string(field, default="")

    def first_number(field: str, default: float) -> float:
        if not r.has(field):
            return default
        value = r.array(field)
        if value.dtype.kind == "c":
            raise r.error(field, "wrong dtype", "a real number", str(value.dtype))
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


def _check_version(r: _Reader) -> None:
    version = r.string("/version")
    if not version.startswith("2."):
        raise r.error("/version", "unsupported MDF version", "2.x", repr(version))


def _is_calibration(r: _Reader) -> bool:
    """Whether the file is a system matrix: `/calibration/method` exists (MDF v2)."""
    return r.group("/calibration") and r.has("/calibration/method")


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Around the reading of data: silent overflow, and no MemoryError.

    Overflow to Inf or NaN (huge values times `dataConversionFactor`, ...)
    is refused by `_finite_as` on the result, so numpy's warnings are muted;
    data too large for this machine's memory is reported as an MDFError.
    """
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            yield
    except MemoryError:
        raise MDFError(path, _DATA, "too large to read into memory") from None


def mdf_kind(path: str | os.PathLike) -> str:
    """'calibration' if the file holds a system matrix, else 'measurement'.

    Example:

    >>> mdf_kind("calibration_19.mdf")  # doctest: +SKIP
    'calibration'

    Args:
        path: the MDF file.

    Returns:
        "calibration" when `/calibration/method` exists, else "measurement".

    Raises:
        MDFError: if the file is not a readable MDF v2 file.
    """
    path, f = _open(path)
    with f:
        r = _Reader(path, f)
        _check_version(r)
        return "calibration" if _is_calibration(r) else "measurement"


@dataclasses.dataclass(frozen=True)
class _Layout:
    """How `/measurement/data` is laid out, read from its shape and the flags.

    `complex_kind` is "complex" (an HDF5 compound h5py maps to complex),
    "compound" (a compound with other field names), "trailing" (float data
    with a trailing axis of length 2) or "real" (time-domain samples).
    """

    shape: tuple[int, ...]
    dtype: str
    fourier: bool
    fast_frame_axis: bool
    complex_kind: str
    num_frames: int
    num_periods: int
    num_channels: int
    num_points: int  # K (Fourier) or V (time domain)

    @property
    def complex_layout(self) -> str:
        return {
            "complex": "HDF5 compound {r, i}",
            "compound": "HDF5 compound",
            "trailing": "float with a trailing axis of length 2",
            "real": "real samples",
        }[self.complex_kind]


def _data_layout(r: _Reader) -> _Layout:
    """Validate the flags and the shape and dtype of `/measurement/data` (no data read)."""
    fourier = r.flag("/measurement/isFourierTransformed")
    fast_field = "/measurement/isFastFrameAxis"
    if not r.has(fast_field) and r.has("/measurement/isTransposed"):
        fast_field = "/measurement/isTransposed"  # its name in early MDF 2.0 files
    fast = r.flag(fast_field, default=False)
    if r.flag("/measurement/isFrequencySelection", default=False):
        raise r.error("/measurement/isFrequencySelection",
                      "frequency-selected data is not supported", 0, 1)  # fmt: skip
    if r.flag("/measurement/isSparsityTransformed", default=False):
        raise r.error("/measurement/isSparsityTransformed",
                      "sparsity-transformed data is not supported", 0, 1)  # fmt: skip
    ds = r.dataset(_DATA)
    dtype = ds.dtype
    shape = r.shape(_DATA, ds)
    if dtype.kind == "c":
        kind = "complex"
    elif dtype.kind == "V":
        if _complex_fields(dtype) is None:
            raise r.error(_DATA, "unsupported compound dtype", "complex {r, i}", str(dtype))
        kind = "compound"
    elif dtype.kind in ("i", "u", "f"):
        kind = "trailing" if fourier else "real"
    else:
        raise r.error(_DATA, "wrong dtype", "numbers or complex {r, i}", str(dtype))
    if not fourier and kind != "real":
        raise r.error(_DATA, "complex data in the time domain (isFourierTransformed = 0)",
                      "real samples", str(dtype))  # fmt: skip
    axes = "J x C x K x N (isFastFrameAxis = 1)" if fast else "N x J x C x K"
    if not fourier:
        axes = axes.replace("K", "V")
    if kind == "trailing":
        if len(shape) != 5 or shape[-1] != 2:
            raise r.error(
                _DATA, "Fourier-domain data without a complex type",
                f"complex {{r, i}} {axes}, or float {axes} x 2", f"{dtype} {shape}",
            )  # fmt: skip
        core = shape[:-1]
    else:
        core = shape
    if len(core) != 4:
        raise r.error(_DATA, "wrong number of dimensions", f"4 ({axes})", shape)
    if fast:
        num_periods, num_channels, num_points, num_frames = core
    else:
        num_frames, num_periods, num_channels, num_points = core
    if min(core) < 1:
        raise r.error(_DATA, "empty axis", f"{axes}, each at least 1", shape)
    return _Layout(
        shape=shape, dtype=str(dtype), fourier=fourier, fast_frame_axis=fast, complex_kind=kind,
        num_frames=num_frames, num_periods=num_periods, num_channels=num_channels,
        num_points=num_points,
    )  # fmt: skip


def _check_layout(r: _Reader, layout: _Layout, acq: Acquisition) -> None:
    """Check the data axes against the receiver and the declared frame and period counts."""
    if layout.num_channels != acq.num_receive_channels:
        raise r.error(
            _DATA, "channel axis (C) disagrees with /acquisition/receiver/numChannels",
            acq.num_receive_channels, layout.num_channels,
        )  # fmt: skip
    if layout.fourier:
        expected, what = acq.num_frequencies, "K = numSamplingPoints // 2 + 1"
    else:
        expected, what = acq.num_sampling_points, "V = numSamplingPoints"
    if layout.num_points != expected:
        raise r.error(_DATA, f"sample axis disagrees with {what}", expected, layout.num_points)
    if r.has("/acquisition/numFrames"):
        declared = r.number("/acquisition/numFrames", "i")
        if declared != layout.num_frames:
            raise r.error(
                "/acquisition/numFrames", "disagrees with the frame axis (N) of /measurement/data",
                layout.num_frames, declared,
            )  # fmt: skip
    if r.has("/acquisition/numPeriodsPerFrame"):
        declared = r.number("/acquisition/numPeriodsPerFrame", "i")
        if declared != layout.num_periods:
            raise r.error(
                "/acquisition/numPeriodsPerFrame",
                "disagrees with the period axis (J) of /measurement/data",
                layout.num_periods, declared,
            )  # fmt: skip


def _read_frames(r: _Reader, layout: _Layout, frames: np.ndarray | None = None) -> np.ndarray:
    """Frames of `/measurement/data` as (n, J, C, K-or-V), complex or real.

    Only the requested frames are read from disk (a hyperslab along the frame
    axis), so one slice of a large 3D system matrix costs one slice of memory.

    Args:
        frames: 0-based frame indices in file order; all frames when `None`.
    """
    ds = r.dataset(_DATA)
    if frames is None:
        selection: slice | list[int] = slice(None)
        inverse = None
        count = layout.num_frames
    else:
        frames = np.asarray(frames, dtype=np.int64).reshape(-1)
        unique, inverse = np.unique(frames, return_inverse=True)
        count = unique.size
        if count and unique[-1] - unique[0] + 1 == count:
            selection = slice(int(unique[0]), int(unique[-1]) + 1)
        else:
            selection = unique.tolist()
    if count == 0:
        dtype = np.float64 if layout.complex_kind == "real" else np.complex64
        return np.zeros((0, layout.num_periods, layout.num_channels, layout.num_points), dtype)
    if layout.fast_frame_axis:
        index = (slice(None), slice(None), slice(None), selection)
    else:
        index = (selection,)
    try:
        raw = ds[index]
    except MemoryError:
        raise r.error(_DATA, "too large to read into memory", None, layout.shape) from None
    except _H5_ERRORS as exc:
        raise r.error(_DATA, f"unreadable, the file may be truncated or damaged ({exc})") from None
    if layout.complex_kind == "compound":
        data = r.compound_to_complex(_DATA, raw)
    elif layout.complex_kind == "trailing":
        data = np.empty(raw.shape[:-1], dtype=np.result_type(raw.dtype, np.complex64))
        data.real = raw[..., 0]
        data.imag = raw[..., 1]
    elif layout.complex_kind == "real":
        data = raw.astype(np.result_type(raw.dtype, np.float32), copy=False)
    else:
        data = raw
    bad = ~np.isfinite(data)
    if bad.any():
        first = [int(i) for i in np.argwhere(bad)[0]]
        axis = 3 if layout.fast_frame_axis else 0
        if frames is not None:
            first[axis] = int(unique[first[axis]])  # back to the frame index in the file
        raise r.error(
            _DATA, "non-finite values (NaN or Inf)", "finite numbers",
            f"{int(bad.sum())} non-finite values, the first at h5py index {tuple(first)}",
        )  # fmt: skip
    if layout.fast_frame_axis:
        data = np.moveaxis(data, 3, 0)  # J x C x K x N -> N x J x C x K
    if inverse is not None and not np.array_equal(inverse, np.arange(count)):
        data = data[inverse]
    return data


def _apply_conversion(
    r: _Reader, frames: np.ndarray, fourier: bool, num_samples: int
) -> np.ndarray:
    """Apply `dataConversionFactor` (C x 2: `a * data + b`, MDF receiver group).

    Args:
        frames: (n, J, C, K-or-V) data.
        fourier: whether `frames` are rfft spectra of `num_samples` samples.
        num_samples: V.
    """
    field = "/measurement/dataConversionFactor"
    if not r.has(field):
        field = "/acquisition/receiver/dataConversionFactor"
        if not r.has(field):
            return frames
    factor = r.array(field)
    c = frames.shape[2]
    if factor.dtype.kind == "c" or factor.size != 2 * c:
        raise r.error(field, "wrong shape or type", f"real C x 2 = ({c}, 2)",
                      f"{factor.dtype} {factor.shape}")  # fmt: skip
    factor = factor.astype(np.float64).reshape(c, 2)
    scale, offset = factor[:, 0], factor[:, 1]
    if (scale == 1.0).all() and (offset == 0.0).all():
        return frames
    out = frames * scale[:, None]
    if fourier:
        # A time-domain offset b is b * V in the unnormalised DC bin only.
        out[..., 0] += offset * num_samples
    else:
        out = out + offset[:, None]
    return out.astype(frames.dtype, copy=False)


def _background_mask(r: _Reader, num_frames: int) -> np.ndarray:
    field = "/measurement/isBackgroundFrame"
    if not r.has(field):
        return np.zeros(num_frames, dtype=bool)
    ds = r.dataset(field)
    if ds.dtype.kind not in ("i", "u", "b"):
        raise r.error(field, "wrong dtype", "Int8 (0 or 1 per frame)", str(ds.dtype))
    length = math.prod(r.shape(field, ds))
    if length != num_frames:  # checked before reading: the dataset may be huge
        raise r.error(field, "wrong length", f"{num_frames} (one per frame)", length)
    mask = r.array(field)
    mask = mask.reshape(-1)
    if not np.isin(mask, (0, 1)).all():
        raise r.error(field, "not a flag", "0 or 1 per frame", np.unique(mask).tolist())
    return mask.astype(bool)


def _acquisition_order(r: _Reader, num_frames: int) -> np.ndarray:
    """Acquisition position (0-based) of each stored frame (`framePermutation`, 1-based)."""
    field = "/measurement/framePermutation"
    if not r.flag("/measurement/isFramePermutation", default=False) or not r.has(field):
        return np.arange(num_frames)
    perm = r.array(field)
    if perm.dtype.kind not in ("i", "u") or perm.size != num_frames:
        raise r.error(field, "wrong shape or type", f"{num_frames} integers",
                      f"{perm.dtype} {perm.shape}")  # fmt: skip
    perm = perm.reshape(-1).astype(np.int64)
    if not np.array_equal(np.sort(perm), np.arange(1, num_frames + 1)):
        raise r.error(field, "not a permutation", f"each of 1..{num_frames} once (1-based)",
                      f"values {perm.min()}..{perm.max()}")  # fmt: skip
    return perm - 1


def _subtract_background(
    fg: np.ndarray, fg_pos: np.ndarray, bg: np.ndarray, bg_pos: np.ndarray, num_frames: int
) -> np.ndarray:
    """Background-correct foreground frames, in place where possible.

    MPIFiles' correction: each contiguous block of background frames (in
    acquisition order) is replaced by its mean, and every foreground frame
    subtracts the block means linearly interpolated at its acquisition time,
    `alpha = pos / (N - 1) * (E - 1)` in background-frame units. With one
    block (all background frames together, as in files with the background
    at the end) this is the mean of the background frames.

    Args:
        fg: (M, ...) foreground frames.
        fg_pos: acquisition positions (0-based) of the foreground frames.
        bg: (E, ...) background frames, E >= 1.
        bg_pos: acquisition positions of the background frames.
        num_frames: N, all frames.
    """
    order = np.argsort(bg_pos, kind="stable")
    bg, bg_pos = bg[order], bg_pos[order]
    starts = np.flatnonzero(np.r_[True, np.diff(bg_pos) != 1])
    if starts.size == 1:
        fg -= bg.mean(axis=0, dtype=np.complex128 if bg.dtype.kind == "c" else np.float64)
        return fg
    ends = np.r_[starts[1:], bg.shape[0]]
    block_means = np.empty_like(bg, dtype=np.result_type(bg.dtype, np.complex64))
    for start, end in zip(starts, ends, strict=True):
        block_means[start:end] = bg[start:end].mean(axis=0)
    e = bg.shape[0]
    alpha = fg_pos.astype(np.float64) / max(num_frames - 1, 1) * (e - 1)
    low = np.clip(np.floor(alpha).astype(np.int64), 0, e - 2)
    weight = (alpha - low).reshape(-1, *([1] * (fg.ndim - 1)))
    for start in range(0, fg.shape[0], 4096):
        part = slice(start, start + 4096)
        w = weight[part]
        fg[part] -= (1.0 - w) * block_means[low[part]] + w * block_means[low[part] + 1]
    return fg


def _finite_as(r: _Reader, values: np.ndarray, dtype: type, what: str) -> np.ndarray:
    """`values` as a contiguous `dtype` array, refused if a value overflows it.

    Finite values in the file can still overflow float32 / complex64 (or
    become Inf through `dataConversionFactor` or the background correction).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(values, dtype=dtype)
    bad = ~np.isfinite(out)
    if bad.any():
        raise r.error(
            _DATA, f"{what} overflow {np.dtype(dtype).name} (after dataConversionFactor and "
            "background correction)", f"magnitudes below {float(np.finfo(dtype).max):.3g}",
            f"{int(bad.sum())} values that become Inf or NaN",
        )  # fmt: skip
    return out


def _read_grid(r: _Reader) -> Grid:
    field = "/calibration/size"
    stored = r.shape(field, r.dataset(field))
    if math.prod(stored) != 3:  # checked before reading: the dataset may be huge
        raise r.error(field, "wrong shape or type", "3 positive integers (x, y, z)",
                      f"{r.dataset(field).dtype} of shape {stored}")  # fmt: skip
    size = r.array(field)
    if size.dtype.kind not in ("i", "u") or (size < 1).any():
        raise r.error("/calibration/size", "wrong shape or type", "3 positive integers (x, y, z)",
                      f"{size.dtype} {size.tolist()}")  # fmt: skip
    fov = r.array("/calibration/fieldOfView", shape=(3,))
    if fov.dtype.kind == "c" or (fov <= 0).any():
        raise r.error("/calibration/fieldOfView", "out of range", "3 positive lengths in m",
                      fov.tolist())  # fmt: skip
    center = np.zeros(3)
    if r.has("/calibration/fieldOfViewCenter"):
        center = r.array("/calibration/fieldOfViewCenter", shape=(3,))
        if center.dtype.kind == "c":
            raise r.error("/calibration/fieldOfViewCenter", "wrong dtype", "3 real numbers in m",
                          str(center.dtype))  # fmt: skip
    return Grid(
        size=tuple(int(s) for s in size.reshape(3)),
        fov_m=tuple(float(v) for v in fov),
        center_m=tuple(float(v) for v in center),
    )


def _read_delta_sample_size(r: _Reader) -> tuple[float, float, float] | None:
    """`/calibration/deltaSampleSize` in m, or `None` when the file has none."""
    field = "/calibration/deltaSampleSize"
    if not r.has(field):
        return None
    delta = r.array(field, shape=(3,))
    if delta.dtype.kind == "c" or (delta <= 0).any():
        raise r.error(field, "out of range", "3 positive lengths in m", delta.tolist())
    return tuple(float(v) for v in delta)


def _voxel_sequence(grid: Grid, order: str) -> np.ndarray:
    """Position of each voxel in the foreground frame sequence, shape (Nz, Ny, Nx).

    `order[0]` is the fastest axis (MDF `/calibration/order`, "xyz" by default).
    """
    counts = dict(zip("xyz", grid.size, strict=True))
    slow_first = order[::-1]
    seq = np.arange(grid.num_voxels).reshape([counts[a] for a in slow_first])
    return np.transpose(seq, [slow_first.index(a) for a in "zyx"])


def _z_index(path: Path, z_slice: int | str | None, nz: int) -> int | None:
    if z_slice is None:
        return None
    if isinstance(z_slice, str):
        if z_slice == "central":
            return nz // 2
        index = None
    elif isinstance(z_slice, numbers.Integral) and not isinstance(z_slice, bool | np.bool_):
        index = int(z_slice)
    else:
        index = None
    if index is None or not 0 <= index < nz:
        raise MDFError(
            path, "/calibration/size", f"z_slice does not select one of the {nz} z slices",
            f"None, 'central' or an index in 0..{nz - 1}", repr(z_slice),
        )  # fmt: skip
    return index


def read_system_matrix(path: str | os.PathLike, z_slice: int | str | None = None) -> SystemMatrix:
    """Read a system-matrix (calibration) MDF file.

    Foreground frames are background-corrected when
    `/measurement/isBackgroundCorrected` is 0, as MPIFiles.jl does: the mean
    of each block of background frames, interpolated at the acquisition time
    of the frame (the plain mean when the background frames form one block).
    Periods of a frame are averaged. With `z_slice`, only that slice's frames
    are read from disk.

    Example:

    >>> sm = read_system_matrix("calibration_19.mdf", z_slice="central")  # doctest: +SKIP
    >>> sm.spectra.shape                     # (C, K, 1, Ny, Nx)
    (3, 817, 1, 19, 19)

    Args:
        path: the MDF file.
        z_slice: `None` for the whole grid, a 0-based index, or "central" for
            slice Nz // 2 (the paper's slice 10 of 19 and 18 of 37, 0-based 9/18).

    Returns:
        The `SystemMatrix`.

    Raises:
        MDFError: naming the file and field for any missing, malformed or
            inconsistent content, when the file is a measurement, or when
            `z_slice` selects no slice.
    """
    path, f = _open(path)
    with f, _reading(path):
        r = _Reader(path, f)
        _check_version(r)
        if not _is_calibration(r):
            raise r.error(
                "/calibration/method", "missing: this is a measurement file, not a system matrix",
                "a calibration file (with /calibration/method)", "a file without it",
            )  # fmt: skip
        method = r.string("/calibration/method")
        acq = _read_acquisition(r)
        layout = _data_layout(r)
        _check_layout(r, layout, acq)
        bg_mask = _background_mask(r, layout.num_frames)
        grid = _read_grid(r)
        order = r.string("/calibration/order", default="xyz")
        if sorted(order) != ["x", "y", "z"]:
            raise r.error("/calibration/order", "not a permutation of 'xyz'", "'xyz'", repr(order))
        fg_idx = np.flatnonzero(~bg_mask)
        bg_idx = np.flatnonzero(bg_mask)
        if fg_idx.size != grid.num_voxels:
            raise r.error(
                "/calibration/size",
                "number of voxels disagrees with the foreground frames of /measurement/data",
                f"{fg_idx.size} voxels (= foreground frames)",
                f"{grid.num_voxels} ({' x '.join(map(str, grid.size))})",
            )  # fmt: skip
        seq = _voxel_sequence(grid, order)  # (Nz, Ny, Nx)
        index = _z_index(path, z_slice, grid.size[2])
        if index is not None:
            seq = seq[index : index + 1]
            grid = grid.z_slice(index)
        fg_sel = fg_idx[seq.reshape(-1)]
        fg = _read_frames(r, layout, fg_sel)
        bg = _read_frames(r, layout, bg_idx)
        fg = _apply_conversion(r, fg, layout.fourier, acq.num_sampling_points)
        bg = _apply_conversion(r, bg, layout.fourier, acq.num_sampling_points)
        if not layout.fourier:
            fg = np.fft.rfft(fg, axis=-1)
            bg = np.fft.rfft(bg, axis=-1)
        # Average the J periods of each frame: (n, J, C, K) -> (n, C, K).
        fg = fg.mean(axis=1) if fg.shape[1] > 1 else fg[:, 0].copy()
        bg = bg.mean(axis=1) if bg.shape[1] > 1 else bg[:, 0]
        corrected = r.flag("/measurement/isBackgroundCorrected", default=False)
        if not corrected and bg.shape[0] > 0:
            position = _acquisition_order(r, layout.num_frames)
            fg = _subtract_background(fg, position[fg_sel], bg, position[bg_idx],
                                      layout.num_frames)  # fmt: skip
        nz, ny, nx = grid.shape
        c, k = fg.shape[1:]
        spectra = np.transpose(fg.reshape(nz, ny, nx, c, k), (3, 4, 0, 1, 2))  # (C,K,Nz,Ny,Nx)
        delta = _read_delta_sample_size(r)
        snr = None
        if r.has("/calibration/snr"):
            snr_raw = r.array("/calibration/snr", finite=False)
            if snr_raw.size == 0 or snr_raw.size % (c * k):
                raise r.error("/calibration/snr", "wrong shape", f"J x {c} x {k}", snr_raw.shape)
            snr = np.abs(snr_raw.reshape(-1, c, k)[0]).astype(np.float64)
        return SystemMatrix(
            spectra=_finite_as(r, spectra, np.complex64, "the background-corrected spectra"),
            grid=grid,
            acquisition=acq,
            background=_finite_as(
                r, np.transpose(bg, (1, 2, 0)), np.complex64, "the background frames"
            ),
            delta_sample_size_m=delta,
            snr=snr,
            metadata=_read_metadata(r),
            method=method,
        )


def _read_ground_truth_grid(r: _Reader) -> Grid | None:
    """The grid of `/_groundTruth` (an mpikeras extension), or `None` when absent."""
    g = "/_groundTruth/"
    if not r.group("/_groundTruth") or not r.has(g + "size"):
        return None
    size = r.array(g + "size", shape=(3,))
    if size.dtype.kind not in ("i", "u") or (size < 1).any():
        raise r.error(g + "size", "wrong type", "3 positive integers (x, y, z)",
                      f"{size.dtype} {size.tolist()}")  # fmt: skip
    fov = r.array(g + "fieldOfView", shape=(3,))
    if fov.dtype.kind == "c" or (fov <= 0).any():
        raise r.error(g + "fieldOfView", "out of range", "3 positive lengths in m", fov.tolist())
    center = r.array(g + "fieldOfViewCenter", shape=(3,))
    if center.dtype.kind == "c":
        raise r.error(g + "fieldOfViewCenter", "wrong dtype", "3 real numbers in m",
                      str(center.dtype))  # fmt: skip
    return Grid(
        size=tuple(int(v) for v in size),
        fov_m=tuple(float(v) for v in fov),
        center_m=tuple(float(v) for v in center),
    )


def _read_ground_truth(r: _Reader) -> tuple[np.ndarray, Grid] | None:
    g = "/_groundTruth/"
    if not r.group("/_groundTruth") or not r.has(g + "concentration"):
        return None
    conc = r.array(g + "concentration")
    if conc.dtype.kind == "c":
        raise r.error(g + "concentration", "wrong dtype", "real numbers in mol/L", str(conc.dtype))
    grid = _read_ground_truth_grid(r)
    if grid is None:
        raise r.error(g + "size", "missing dataset", "the grid of the ground truth", "nothing")
    if conc.size != grid.num_voxels:
        raise r.error(g + "concentration", "wrong shape", f"{grid.shape} (Nz, Ny, Nx)", conc.shape)
    return conc.astype(np.float64).reshape(grid.shape), grid


def read_measurement(path: str | os.PathLike) -> Measurement:
    """Read a measurement MDF file (time domain N x J x C x V, or Fourier data).

    Example:

    >>> meas = read_measurement("phantom_resolution.mdf")  # doctest: +SKIP
    >>> u = meas.spectra()   # background-corrected, frame-averaged, (C, K)

    Args:
        path: the MDF file.

    Returns:
        The `Measurement` in the time domain, with the simulated ground truth
        where the file has one (`/_groundTruth`, an mpikeras extension).

    Raises:
        MDFError: naming the file and field for any missing, malformed or
            inconsistent content, or when the file is a system matrix.
    """
    path, f = _open(path)
    with f, _reading(path):
        r = _Reader(path, f)
        _check_version(r)
        if _is_calibration(r):
            raise r.error(
                "/calibration/method",
                "present: this is a system matrix (calibration) file, not a measurement",
                "a measurement file (without /calibration/method)", "a calibration file",
            )  # fmt: skip
        acq = _read_acquisition(r)
        layout = _data_layout(r)
        _check_layout(r, layout, acq)
        bg_mask = _background_mask(r, layout.num_frames)
        if bg_mask.all():
            raise r.error(
                "/measurement/isBackgroundFrame",
                "every frame is a background frame",
                "at least one foreground frame",
                f"{bg_mask.size} background frames",
            )
        frames = _read_frames(r, layout)
        frames = _apply_conversion(r, frames, layout.fourier, acq.num_sampling_points)
        if layout.fourier:
            frames = np.fft.irfft(frames, n=acq.num_sampling_points, axis=-1)
        return Measurement(
            data=_finite_as(r, frames, np.float32, "the measurement data"),
            is_background_frame=bg_mask,
            acquisition=acq,
            metadata=_read_metadata(r),
            ground_truth=_read_ground_truth(r),
        )


def missing_required_fields(path: str | os.PathLike) -> list[str]:
    """Mandatory MDF v2 fields (and, for calibrations, `/calibration` ones) absent from a file.

    Example:

    >>> missing_required_fields("calibration_19.mdf")  # doctest: +SKIP
    []

    Args:
        path: the MDF file.

    Returns:
        The missing HDF5 paths; empty for a complete file.

    Raises:
        MDFError: if the file is not a readable HDF5 file.
    """
    path, f = _open(path)
    with f:
        r = _Reader(path, f)
        required = list(REQUIRED_FIELDS)
        if r.has("/calibration"):
            required += CALIBRATION_FIELDS
        return [field for field in required if not r.has(field)]


# --------------------------------------------------------------------------- writing


def _source_date_epoch() -> datetime.datetime | None:
    """The time of `SOURCE_DATE_EPOCH` (reproducible-builds.org), or `None` if unset."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        return None
    try:
        seconds = int(value.strip())
        if seconds < 0:
            raise ValueError
        return datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    except (ValueError, OverflowError, OSError):
        raise ConfigError(
            "SOURCE_DATE_EPOCH",
            f"expected a non-negative integer number of seconds since 1970-01-01 UTC, "
            f"received {value!r}",
        ) from None


class _Writer:
    """Creates the datasets of one MDF file, reproducibly when asked.

    Datasets are created without HDF5 object timestamps (`track_times=False`),
    so the bytes depend on the content only. With `SOURCE_DATE_EPOCH` set,
    `/time` and `/acquisition/startTime` take that time and the UUIDs are
    derived from a hash of the content instead of being random.
    """

    def __init__(self, f: h5py.File, digest: str) -> None:
        self.f = f
        epoch = _source_date_epoch()
        self.reproducible = epoch is not None
        moment = epoch or datetime.datetime.now(datetime.UTC)
        # MDF DateTime: ISO 8601 with milliseconds.
        self.time = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        self.digest = digest

    def uuid(self, field: str) -> str:
        if self.reproducible:
            return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mpikeras-mdf:{field}:{self.digest}"))
        return str(uuid.uuid4())

    def put(self, name: str, value: Any, **kwargs) -> None:
        if isinstance(value, str):
            self.f.create_dataset(name, data=value, dtype=h5py.string_dtype(), track_times=False)
        else:
            self.f.create_dataset(name, data=value, track_times=False, **kwargs)

    def put_strings(self, name: str, values: np.ndarray) -> None:
        data = np.asarray(values, dtype=object)
        self.f.create_dataset(name, data=data, dtype=h5py.string_dtype(), track_times=False)


def _digest(*parts: Any) -> str:
    """SHA-256 of arrays (dtype, shape and bytes) and reprs of everything else."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(f"{part.dtype.str}{part.shape}".encode())
            h.update(np.ascontiguousarray(part).tobytes())
        else:
            h.update(repr(part).encode())
        h.update(b"\x00")
    return h.hexdigest()


def _write_common(
    w: _Writer, acq: Acquisition, meta: Metadata, num_frames: int, num_periods: int = 1
) -> None:
    """Every group and dataset MDF v2 makes mandatory, except `/measurement`."""
    w.put("version", MDF_VERSION)
    w.put("uuid", w.uuid("/uuid"))
    w.put("time", w.time)
    w.put("study/name", meta.study_name)
    w.put("study/number", np.int64(meta.study_number))
    w.put("study/description", meta.study_description)
    w.put("study/uuid", w.uuid("/study/uuid"))
    w.put("experiment/name", meta.experiment_name)
    w.put("experiment/number", np.int64(meta.experiment_number))
    w.put("experiment/description", meta.experiment_description)
    w.put("experiment/subject", meta.experiment_subject)
    w.put("experiment/isSimulation", np.int8(meta.is_simulation))
    w.put("experiment/uuid", w.uuid("/experiment/uuid"))
    w.put("scanner/facility", meta.scanner_facility)
    w.put("scanner/manufacturer", meta.scanner_manufacturer)
    w.put("scanner/name", meta.scanner_name)
    w.put("scanner/operator", meta.scanner_operator)
    w.put("scanner/topology", meta.scanner_topology)
    # Tracer fields have one entry per material (A = 1).
    w.put_strings("tracer/name", [meta.tracer_name])
    w.put_strings("tracer/batch", [meta.tracer_batch])
    w.put_strings("tracer/vendor", [meta.tracer_vendor])
    w.put_strings("tracer/solute", [meta.tracer_solute])
    w.put("tracer/concentration", np.array([meta.tracer_concentration_mol_per_l], np.float64))
    w.put("tracer/volume", np.array([meta.tracer_volume_l], np.float64))
    df = acq.drivefield
    n_df = df.num_channels
    w.put("acquisition/numAverages", np.int64(acq.num_averages))
    w.put("acquisition/numFrames", np.int64(num_frames))
    w.put("acquisition/numPeriodsPerFrame", np.int64(num_periods))
    w.put("acquisition/startTime", w.time)
    w.put("acquisition/gradient", np.tile(acq.gradient, (num_periods, 1, 1, 1)))  # J x Y x 3 x 3
    w.put("acquisition/offsetField", np.zeros((num_periods, 1, 3)))  # J x Y x 3
    w.put("acquisition/drivefield/baseFrequency", np.float64(df.base_frequency_hz))
    w.put("acquisition/drivefield/cycle", np.float64(acq.period_s))
    w.put("acquisition/drivefield/divider", np.asarray(df.dividers, np.int64).reshape(n_df, 1))
    w.put("acquisition/drivefield/numChannels", np.int64(n_df))
    per_period = (num_periods, 1, 1)  # J x D x F
    w.put(
        "acquisition/drivefield/phase",
        np.tile(np.asarray(df.phase_rad, np.float64).reshape(1, n_df, 1), per_period),
    )
    w.put(
        "acquisition/drivefield/strength",
        np.tile(np.asarray(df.strength_tesla, np.float64).reshape(1, n_df, 1), per_period),
    )
    w.put_strings("acquisition/drivefield/waveform", np.full((n_df, 1), df.waveform, object))
    w.put("acquisition/receiver/bandwidth", np.float64(acq.bandwidth_hz))
    w.put("acquisition/receiver/numChannels", np.int64(acq.num_receive_channels))
    w.put("acquisition/receiver/numSamplingPoints", np.int64(acq.num_sampling_points))
    w.put("acquisition/receiver/unit", acq.unit)
    w.put(
        "acquisition/receiver/dataConversionFactor",
        np.tile(np.array([1.0, 0.0]), (acq.num_receive_channels, 1)),
    )  # C x 2
    if acq.transfer_function is not None:
        w.put(
            "acquisition/receiver/transferFunction",
            np.asarray(acq.transfer_function).astype(np.complex64),
        )  # C x K


def _write_flags(w: _Writer, bg_mask: np.ndarray, fourier: bool, fast: bool) -> None:
    w.put("measurement/isBackgroundCorrected", np.int8(0))
    w.put("measurement/isBackgroundFrame", bg_mask.astype(np.int8))
    w.put("measurement/isFastFrameAxis", np.int8(fast))
    w.put("measurement/isFourierTransformed", np.int8(fourier))
    for flag in ("isFramePermutation", "isFrequencySelection", "isSparsityTransformed",
                 "isSpectralLeakageCorrected", "isTransferFunctionCorrected"):  # fmt: skip
        w.put(f"measurement/{flag}", np.int8(0))


def _check_finite(path: Path, field: str, name: str, value: np.ndarray) -> None:
    bad = ~np.isfinite(value)
    if bad.any():
        raise MDFError(path, field, f"{name} holds non-finite values (NaN or Inf)",
                       "finite numbers", f"{int(bad.sum())} non-finite values")  # fmt: skip


def _check_acquisition(path: Path, acq: Acquisition, channels: int, points: int, fourier: bool):
    rx = "/acquisition/receiver/"
    if acq.num_receive_channels != channels:
        raise MDFError(path, rx + "numChannels", "disagrees with the channel axis of the data",
                       channels, acq.num_receive_channels)  # fmt: skip
    expected = acq.num_frequencies if fourier else acq.num_sampling_points
    if points != expected:
        what = "K = numSamplingPoints // 2 + 1" if fourier else "V = numSamplingPoints"
        raise MDFError(
            path,
            rx + "numSamplingPoints",
            f"the data's sample axis disagrees with {what}",
            expected,
            points,
        )
    if acq.transfer_function is not None:
        tf = np.asarray(acq.transfer_function)
        if tf.shape != (channels, acq.num_frequencies):
            raise MDFError(path, rx + "transferFunction", "wrong shape",
                           (channels, acq.num_frequencies), tf.shape)  # fmt: skip
        _check_finite(path, rx + "transferFunction", "the transfer function", tf)


def write_system_matrix(path: str | os.PathLike, sm: SystemMatrix) -> Path:
    """Write a system matrix as an MDF v2 calibration file, atomically.

    Like real OpenMPIData files the foreground frames are stored without
    background correction (the mean background is added back) and the
    background frames follow them, flagged in `isBackgroundFrame`; data is
    complex64 J x C x K x (O + E) with J = 1 and the fast frame axis. With
    `SOURCE_DATE_EPOCH` set, identical inputs give byte-identical files.

    Example:

    >>> write_system_matrix("sm.mdf", sm)  # doctest: +SKIP
    PosixPath('sm.mdf')

    Args:
        path: destination; written to a temporary file beside it, then
            renamed, so an existing file is replaced only by a complete one.
        sm: the system matrix.

    Returns:
        The path written.

    Raises:
        MDFError: if `sm` is inconsistent (spectra, grid, acquisition,
            background, SNR shapes) or holds NaN or Inf; nothing is written.
        ConfigError: if `SOURCE_DATE_EPOCH` is set but not an integer.
    """
    path = Path(path)
    spectra = np.asarray(sm.spectra)
    grid = sm.grid
    if spectra.ndim != 5 or spectra.shape[2:] != grid.shape:
        raise MDFError(path, _DATA, "system matrix spectra do not match the grid",
                       f"(C, K, {', '.join(map(str, grid.shape))}) = (C, K, Nz, Ny, Nx)",
                       spectra.shape)  # fmt: skip
    c, k = spectra.shape[:2]
    _check_acquisition(path, sm.acquisition, c, k, fourier=True)
    bg = np.asarray(sm.background)
    if bg.ndim != 3 or bg.shape[:2] != (c, k):
        raise MDFError(path, _DATA, "background frames have the wrong shape", f"({c}, {k}, E)",
                       bg.shape)  # fmt: skip
    _check_finite(path, _DATA, "the spectra", spectra)
    _check_finite(path, _DATA, "the background frames", bg)
    if sm.snr is not None and np.shape(sm.snr) != (c, k):
        raise MDFError(path, "/calibration/snr", "wrong shape", (c, k), np.shape(sm.snr))
    if sm.delta_sample_size_m is not None and len(sm.delta_sample_size_m) != 3:
        raise MDFError(path, "/calibration/deltaSampleSize", "wrong shape", 3,
                       len(sm.delta_sample_size_m))  # fmt: skip

    fg = spectra.reshape(c, k, -1).astype(np.complex128)  # (C, K, O), x fastest
    if bg.shape[-1]:
        fg = fg + bg.mean(axis=-1, keepdims=True)
    data = np.concatenate([fg, bg], axis=-1)[None].astype(np.complex64)  # (1, C, K, O+E)
    bg_mask = np.r_[np.zeros(fg.shape[-1], bool), np.ones(bg.shape[-1], bool)]
    snr = sm.snr if sm.snr is not None else sm.estimate_snr()
    snr = np.nan_to_num(np.asarray(snr, np.float64), posinf=np.finfo(np.float64).max)[None]
    digest = _digest("calibration", data, grid, sm.acquisition, sm.acquisition.transfer_function,
                     sm.metadata, sm.method, sm.delta_sample_size_m, snr)  # fmt: skip
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        w = _Writer(f, digest)
        _write_common(w, sm.acquisition, sm.metadata, data.shape[-1])
        w.put("measurement/data", data, chunks=(1, 1, k, min(data.shape[-1], 64)))
        _write_flags(w, bg_mask, fourier=True, fast=True)
        w.put("calibration/method", sm.method)
        w.put("calibration/order", "xyz")
        w.put("calibration/size", np.asarray(grid.size, dtype=np.int64))
        w.put("calibration/fieldOfView", np.asarray(grid.fov_m, dtype=np.float64))
        w.put("calibration/fieldOfViewCenter", np.asarray(grid.center_m, dtype=np.float64))
        w.put("calibration/positions", grid.positions_m().reshape(-1, 3))  # O x 3
        w.put("calibration/offsetFields", np.zeros((grid.num_voxels, 3)))  # O x 3
        w.put("calibration/isMeanderingGrid", np.int8(0))
        if sm.delta_sample_size_m is not None:
            w.put("calibration/deltaSampleSize", np.asarray(sm.delta_sample_size_m, np.float64))
        w.put("calibration/snr", snr)  # J x C x K
    return path


def write_measurement(path: str | os.PathLike, meas: Measurement) -> Path:
    """Write a time-domain measurement (N x J x C x V) as an MDF v2 file, atomically.

    A simulated ground truth, when present, goes to the extension group
    `/_groundTruth` (MDF allows `_`-prefixed additions): `concentration`
    (Nz x Ny x Nx, mol/L), `size`, `fieldOfView`, `fieldOfViewCenter`, `unit`.
    With `SOURCE_DATE_EPOCH` set, identical inputs give byte-identical files.

    Example:

    >>> write_measurement("phantom.mdf", meas)  # doctest: +SKIP
    PosixPath('phantom.mdf')

    Args:
        path: destination; written to a temporary file beside it, then renamed.
        meas: the measurement.

    Returns:
        The path written.

    Raises:
        MDFError: if `meas` is inconsistent (data shape, acquisition,
            background flags, ground truth) or holds NaN or Inf; nothing is
            written.
        ConfigError: if `SOURCE_DATE_EPOCH` is set but not an integer.
    """
    path = Path(path)
    data = np.asarray(meas.data)
    if data.ndim != 4 or data.dtype.kind not in ("i", "u", "f"):
        raise MDFError(path, _DATA, "measurement data has the wrong shape or type",
                       "real N x J x C x V", f"{data.dtype} {data.shape}")  # fmt: skip
    n, j, c, v = data.shape
    _check_acquisition(path, meas.acquisition, c, v, fourier=False)
    _check_finite(path, _DATA, "the measurement data", data)
    bg_mask = np.asarray(meas.is_background_frame).reshape(-1)
    if bg_mask.size != n:
        raise MDFError(path, "/measurement/isBackgroundFrame", "wrong length",
                       f"{n} (one per frame)", bg_mask.size)  # fmt: skip
    truth = None
    if meas.ground_truth is not None:
        conc, truth_grid = meas.ground_truth
        conc = np.asarray(conc, dtype=np.float64)
        if not isinstance(truth_grid, Grid) or conc.size != truth_grid.num_voxels:
            raise MDFError(path, "/_groundTruth/concentration",
                           "ground truth does not match its grid",
                           "(concentration of shape (Nz, Ny, Nx), Grid)",
                           f"{conc.shape}, {truth_grid!r}")  # fmt: skip
        _check_finite(path, "/_groundTruth/concentration", "the ground truth", conc)
        truth = (conc.reshape(truth_grid.shape), truth_grid)
    stored = data.astype(np.float32)
    digest = _digest("measurement", stored, bg_mask.astype(np.int8), meas.acquisition,
                     meas.acquisition.transfer_function, meas.metadata,
                     *(truth or ()))  # fmt: skip
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        w = _Writer(f, digest)
        _write_common(w, meas.acquisition, meas.metadata, n, num_periods=j)
        w.put("measurement/data", stored)
        _write_flags(w, bg_mask.astype(bool), fourier=False, fast=False)
        if truth is not None:
            conc, grid = truth
            w.put("_groundTruth/concentration", conc)
            w.put("_groundTruth/size", np.asarray(grid.size, dtype=np.int64))
            w.put("_groundTruth/fieldOfView", np.asarray(grid.fov_m, dtype=np.float64))
            w.put("_groundTruth/fieldOfViewCenter", np.asarray(grid.center_m, dtype=np.float64))
            w.put("_groundTruth/unit", "mol/L")
    return path
