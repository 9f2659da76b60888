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

import dataclasses
import datetime
import os
import uuid
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mpikeras.errors import MDFError
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
        except (OSError, RuntimeError, KeyError) as exc:
            raise self.error(field, f"unreadable ({exc})") from None

    def dataset(self, field: str) -> h5py.Dataset:
        parent = field.rsplit("/", 1)[0] or "/"
        if not self.has(parent):
            raise self.error(parent, "missing group", "the group required by MDF v2")
        if not self.has(field):
            raise self.error(field, "missing dataset", "the dataset required by MDF v2")
        obj = self.f[field]
        if not isinstance(obj, h5py.Dataset):
            raise self.error(field, "is a group, not a dataset")
        return obj

    def read(self, field: str) -> np.ndarray:
        ds = self.dataset(field)
        try:
            return np.asarray(ds[()])
        except (OSError, RuntimeError, TypeError, ValueError) as exc:
            raise self.error(field, f"unreadable, the file may be truncated ({exc})") from None

    def number(self, field: str, kind: str = "f", default: Any = None) -> Any:
        """A scalar (or 1-element array) of integer ('i') or float ('f') kind."""
        if default is not None and not self.has(field):
            return default
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
        return bool(self.number(field, "i", None if default is None else int(default)))

    def string(self, field: str, default: str | None = None) -> str:
        if default is not None and not self.has(field):
            return default
        value = self.read(field)
        if value.dtype.kind == "O" or value.dtype.kind in ("S", "U"):
            item = value.reshape(-1)[0] if value.size else b""
            return item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
        raise self.error(field, "wrong dtype", "a string", str(value.dtype))

    def array(self, field: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        value = self.read(field)
        if value.dtype.kind not in ("i", "u", "f", "c", "V"):
            raise self.error(field, "wrong dtype", "numbers", str(value.dtype))
        if value.dtype.kind == "V":
            value = self._compound_to_complex(field, value)
        if shape is not None and value.size != int(np.prod(shape)):
            raise self.error(field, "wrong shape", shape, value.shape)
        return value if shape is None else value.reshape(shape)

    def _compound_to_complex(self, field: str, value: np.ndarray) -> np.ndarray:
        names = value.dtype.names or ()
        pairs = [("r", "i"), ("real", "imag"), ("re", "im")]
        for re_name, im_name in pairs:
            if re_name in names and im_name in names:
                out = value[re_name].astype(np.float64) + 1j * value[im_name].astype(np.float64)
                return out.astype(np.complex128)
        raise self.error(field, "unsupported compound dtype", "complex {r, i}", str(value.dtype))

    def complex_data(self, field: str, fourier: bool) -> np.ndarray:
        """Read `/measurement/data`-like data, returning complex or real float."""
        ds = self.dataset(field)
        if ds.dtype.kind not in ("i", "u", "f", "c", "V"):
            raise self.error(field, "wrong dtype", "a number type or complex {r, i}", ds.dtype)
        try:
            raw = ds[()]
        except (OSError, RuntimeError, TypeError, ValueError) as exc:
            raise self.error(field, f"unreadable, the file may be truncated ({exc})") from None
        if raw.dtype.kind == "V":
            data = self._compound_to_complex(field, raw)
        elif raw.dtype.kind == "c":
            data = raw
        elif fourier:
            if raw.ndim < 1 or raw.shape[-1] != 2:
                raise self.error(
                    field, "Fourier data without complex type",
                    "complex {r, i} or a trailing axis of length 2", f"{raw.dtype} {raw.shape}",
                )  # fmt: skip
            data = raw[..., 0].astype(np.float64) + 1j * raw[..., 1].astype(np.float64)
        else:
            data = raw.astype(np.float64)
        bad = ~np.isfinite(data)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise self.error(
                field, f"{int(bad.sum())} non-finite values (NaN or Inf), first at index {first}",
                "finite numbers",
            )  # fmt: skip
        return data


def _open(path: str | os.PathLike) -> tuple[Path, h5py.File]:
    path = Path(path)
    if not path.exists():
        raise MDFError(path, "/", "file does not exist")
    if path.is_dir():
        raise MDFError(path, "/", "is a directory", "an MDF (HDF5) file")
    size = path.stat().st_size
    if size == 0:
        raise MDFError(path, "/", "file is empty", "an MDF (HDF5) file", "0 bytes")
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError:
        is_hdf5 = False
    if not is_hdf5:
        with open(path, "rb") as fh:
            head = fh.read(8)
        raise MDFError(
            path, "/", "not an HDF5 file", "the HDF5 signature b'\\x89HDF\\r\\n\\x1a\\n'", head
        )
    try:
        f = h5py.File(path, "r")
    except (OSError, RuntimeError) as exc:
        raise MDFError(path, "/", f"truncated or corrupted HDF5 file ({exc})") from None
    return path, f


def _read_acquisition(r: _Reader) -> Acquisition:
    d = "/acquisition/drivefield/"
    num_df = r.number(d + "numChannels", "i")
    if num_df < 1:
        raise r.error(d + "numChannels", "out of range", "at least 1", num_df)
    dividers = r.array(d + "divider")
    if dividers.size < num_df or dividers.size % num_df:
        raise r.error(d + "divider", "wrong shape", f"D x F with D = {num_df}", dividers.shape)
    num_freq_df = dividers.size // num_df

    def per_channel(field: str, value: np.ndarray) -> np.ndarray:
        # `strength` and `phase` are J x D x F: keep the first period and frequency.
        if value.size % (num_df * num_freq_df):
            raise r.error(field, "wrong shape", f"J x {num_df} x {num_freq_df}", value.shape)
        return value.reshape(-1, num_df, num_freq_df)[0, :, 0]

    waveform = r.string(d + "waveform") if r.has(d + "waveform") else "sine"
    drivefield = DriveField(
        base_frequency_hz=r.number(d + "baseFrequency"),
        dividers=tuple(int(v) for v in dividers.reshape(num_df, num_freq_df)[:, 0]),
        strength_tesla=tuple(float(v) for v in per_channel(d + "strength", r.array(d + "strength"))),
        phase_rad=tuple(float(v) for v in per_channel(d + "phase", r.array(d + "phase"))),
        waveform=waveform,
    )
    rx = "/acquisition/receiver/"
    bandwidth = r.number(rx + "bandwidth")
    if bandwidth <= 0:
        raise r.error(rx + "bandwidth", "out of range", "a positive frequency in Hz", bandwidth)
    num_samples = r.number(rx + "numSamplingPoints", "i")
    if num_samples < 2:
        raise r.error(rx + "numSamplingPoints", "out of range", "at least 2", num_samples)
    num_channels = r.number(rx + "numChannels", "i")
    if num_channels < 1:
        raise r.error(rx + "numChannels", "out of range", "at least 1", num_channels)
    gradient = np.diag([-1.0, -1.0, 2.0])
    if r.has("/acquisition/gradient"):
        g = r.array("/acquisition/gradient")
        if g.size == 3:
            gradient = np.diag(g.reshape(3))
        elif g.size % 9 == 0:
            gradient = g.reshape(-1, 3, 3)[0]
        else:
            raise r.error("/acquisition/gradient", "wrong shape", "J x Y x 3 x 3 or 3", g.shape)
    transfer_function = None
    num_freq = num_samples // 2 + 1
    if r.has(rx + "transferFunction"):
        tf = r.array(rx + "transferFunction")
        if tf.dtype.kind != "c" and tf.shape[-1:] == (2,):
            tf = tf[..., 0] + 1j * tf[..., 1]
        if tf.size != num_channels * num_freq:
            raise r.error(rx + "transferFunction", "wrong shape", (num_channels, num_freq), tf.shape)
        transfer_function = tf.reshape(num_channels, num_freq).astype(np.complex128)
    return Acquisition(
        drivefield=drivefield,
        gradient_tesla_per_m=tuple(tuple(float(v) for v in row) for row in gradient),
        bandwidth_hz=bandwidth,
        num_sampling_points=num_samples,
        num_receive_channels=num_channels,
        num_averages=r.number("/acquisition/numAverages", "i", default=1),
        transfer_function=transfer_function,
        unit=r.string(rx + "unit", default="V"),
    )


def _read_metadata(r: _Reader) -> Metadata:
    def text(field: str) -> str:
        return r.string(field, default="")

    def first_number(field: str, default: float) -> float:
        if not r.has(field):
            return default
        value = r.array(field)
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


def mdf_kind(path: str | os.PathLike) -> str:
    """'calibration' if the file holds a system matrix, else 'measurement'.

    Raises:
        MDFError: if the file is not a readable MDF file.
    """
    path, f = _open(path)
    with f:
        r = _Reader(path, f)
        _check_version(r)
        return "calibration" if r.has("/calibration/method") else "measurement"


def _frames_layout(r: _Reader, data: np.ndarray, fast_frame_axis: bool) -> np.ndarray:
    """Bring `/measurement/data` into (N, J, C, K-or-V) order."""
    if data.ndim != 4:
        raise r.error(
            "/measurement/data", "wrong number of dimensions",
            "4 (N x J x C x V, or J x C x K x N with isFastFrameAxis)", data.shape,
        )  # fmt: skip
    return np.moveaxis(data, 3, 0) if fast_frame_axis else data


def _background_mask(r: _Reader, num_frames: int) -> np.ndarray:
    field = "/measurement/isBackgroundFrame"
    if not r.has(field):
        return np.zeros(num_frames, dtype=bool)
    mask = r.array(field)
    if mask.dtype.kind not in ("i", "u", "b"):
        raise r.error(field, "wrong dtype", "Int8", str(mask.dtype))
    if mask.size != num_frames:
        raise r.error(field, "wrong length", f"{num_frames} (one per frame)", mask.size)
    return mask.reshape(-1).astype(bool)


def _check_data_axes(r: _Reader, frames: np.ndarray, acq: Acquisition, fourier: bool) -> None:
    _, _, c, kv = frames.shape
    if c != acq.num_receive_channels:
        raise r.error(
            "/measurement/data", "channel axis disagrees with /acquisition/receiver/numChannels",
            acq.num_receive_channels, c,
        )  # fmt: skip
    expected = acq.num_frequencies if fourier else acq.num_sampling_points
    what = "K = numSamplingPoints // 2 + 1" if fourier else "V = numSamplingPoints"
    if kv != expected:
        raise r.error("/measurement/data", f"sample axis disagrees with {what}", expected, kv)


def _apply_conversion(r: _Reader, frames: np.ndarray) -> np.ndarray:
    field = "/measurement/dataConversionFactor"
    if not r.has(field):
        field = "/acquisition/receiver/dataConversionFactor"
        if not r.has(field):
            return frames
    factor = r.array(field).astype(np.float64)
    c = frames.shape[2]
    if factor.size != 2 * c:
        raise r.error(field, "wrong shape", (c, 2), factor.shape)
    factor = factor.reshape(c, 2)
    return frames * factor[:, 0][:, None] + factor[:, 1][:, None]


def read_system_matrix(path: str | os.PathLike, z_slice: int | str | None = None) -> SystemMatrix:
    """Read a system-matrix (calibration) MDF file.

    Foreground frames are background-corrected (mean of the background
    frames subtracted) when `/measurement/isBackgroundCorrected` is 0.

    Example:

    >>> sm = read_system_matrix("calibration_19.mdf", z_slice="central")  # doctest: +SKIP

    Args:
        path: the MDF file.
        z_slice: `None` for the whole grid, an index, or "central" for slice
            Nz // 2 (the paper's slice 10 of 19 and 18 of 37, 0-based 9/18).

    Returns:
        The `SystemMatrix`.

    Raises:
        MDFError: naming the file and field for any missing, malformed or
            inconsistent content, or when the file is a measurement.
    """
    path, f = _open(path)
    with f:
        r = _Reader(path, f)
        _check_version(r)
        if not r.has("/calibration") or not r.has("/calibration/method"):
            raise r.error(
                "/calibration/method", "missing: this is a measurement file, not a system matrix",
                "a calibration file (with /calibration/method)",
            )  # fmt: skip
        acq = _read_acquisition(r)
        fourier = r.flag("/measurement/isFourierTransformed")
        fast = r.flag("/measurement/isFastFrameAxis", default=False)
        if r.flag("/measurement/isFrequencySelection", default=False):
            raise r.error(
                "/measurement/isFrequencySelection", "frequency-selected data is not supported",
                0, 1,
            )  # fmt: skip
        frames = _frames_layout(r, r.complex_data("/measurement/data", fourier), fast)
        _check_data_axes(r, frames, acq, fourier)
        frames = _apply_conversion(r, frames)
        if not fourier:
            frames = np.fft.rfft(frames, axis=-1)
        num_frames = frames.shape[0]
        if r.has("/acquisition/numFrames"):
            declared = r.number("/acquisition/numFrames", "i")
            if declared != num_frames:
                raise r.error(
                    "/acquisition/numFrames", "disagrees with the frame axis of /measurement/data",
                    num_frames, declared,
                )  # fmt: skip
        bg_mask = _background_mask(r, num_frames)
        size = r.array("/calibration/size")
        if size.size != 3 or size.dtype.kind not in ("i", "u") or (size < 1).any():
            raise r.error("/calibration/size", "wrong shape or type", "3 positive integers",
                          f"{size.dtype} {size.tolist()}")  # fmt: skip
        fov = r.array("/calibration/fieldOfView", shape=(3,)).astype(np.float64)
        if (fov <= 0).any():
            raise r.error("/calibration/fieldOfView", "out of range", "3 positive lengths in m",
                          fov.tolist())  # fmt: skip
        center = (
            r.array("/calibration/fieldOfViewCenter", shape=(3,)).astype(np.float64)
            if r.has("/calibration/fieldOfViewCenter") else np.zeros(3)
        )  # fmt: skip
        grid = Grid(size=tuple(int(s) for s in size.reshape(3)), fov_m=tuple(fov),
                    center_m=tuple(center))  # fmt: skip
        order = r.string("/calibration/order", default="xyz")
        if sorted(order) != ["x", "y", "z"]:
            raise r.error("/calibration/order", "not a permutation of 'xyz'", "'xyz'", repr(order))
        fg = frames[~bg_mask]
        bg = frames[bg_mask]
        if fg.shape[0] != grid.num_voxels:
            raise r.error(
                "/calibration/size",
                "number of voxels disagrees with the foreground frames of /measurement/data",
                f"{fg.shape[0]} (= foreground frames)",
                f"{grid.num_voxels} ({' x '.join(map(str, grid.size))})",
            )
        if fg.shape[1] != 1:
            fg = fg.mean(axis=1, keepdims=True)
            bg = bg.mean(axis=1, keepdims=True)
        fg = fg[:, 0]  # (O, C, K)
        bg = bg[:, 0]  # (E, C, K)
        corrected = r.flag("/measurement/isBackgroundCorrected", default=False)
        if not corrected and bg.shape[0] > 0:
            fg = fg - bg.mean(axis=0)
        # Frames are ordered with order[0] fastest: reshape slowest-first.
        counts = dict(zip("xyz", grid.size, strict=True))
        slow_first = order[::-1]
        fg = fg.reshape(*(counts[a] for a in slow_first), *fg.shape[1:])
        fg = np.transpose(fg, [slow_first.index(a) for a in "zyx"] + [3, 4])  # (Nz,Ny,Nx,C,K)
        spectra = np.ascontiguousarray(np.transpose(fg, (3, 4, 0, 1, 2)))  # (C,K,Nz,Ny,Nx)
        delta = None
        if r.has("/calibration/deltaSampleSize"):
            delta = tuple(float(v) for v in r.array("/calibration/deltaSampleSize", shape=(3,)))
        snr = None
        if r.has("/calibration/snr"):
            snr_raw = r.array("/calibration/snr")
            c, k = spectra.shape[:2]
            if snr_raw.size % (c * k):
                raise r.error("/calibration/snr", "wrong shape", f"J x {c} x {k}", snr_raw.shape)
            snr = np.abs(snr_raw.reshape(-1, c, k)[0]).astype(np.float64)
        sm = SystemMatrix(
            spectra=spectra.astype(np.complex64),
            grid=grid,
            acquisition=acq,
            background=np.ascontiguousarray(np.transpose(bg, (1, 2, 0))).astype(np.complex64),
            delta_sample_size_m=delta,
            snr=snr,
            metadata=_read_metadata(r),
            method=r.string("/calibration/method"),
        )
    if z_slice is None:
        return sm
    nz = sm.grid.size[2]
    index = nz // 2 if z_slice == "central" else z_slice
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < nz:
        raise MDFError(path, "/calibration/size", "z slice out of range", f"0..{nz - 1}", z_slice)
    return sm.z_slice(index)


def read_measurement(path: str | os.PathLike) -> Measurement:
    """Read a measurement MDF file (time domain N x J x C x V, or Fourier data).

    Example:

    >>> meas = read_measurement("phantom_resolution.mdf")  # doctest: +SKIP
    >>> u = meas.spectra()   # background-corrected, frame-averaged, (C, K)

    Args:
        path: the MDF file.

    Returns:
        The `Measurement`, with the simulated ground truth where the file has
        one (`/_groundTruth`, an mpikeras extension).

    Raises:
        MDFError: naming the file and field for any missing, malformed or
            inconsistent content, or when the file is a system matrix.
    """
    path, f = _open(path)
    with f:
        r = _Reader(path, f)
        _check_version(r)
        if r.has("/calibration/method"):
            raise r.error(
                "/calibration/method",
                "present: this is a system matrix (calibration) file, not a measurement",
                "a measurement file (without /calibration/method)",
            )
        acq = _read_acquisition(r)
        fourier = r.flag("/measurement/isFourierTransformed")
        fast = r.flag("/measurement/isFastFrameAxis", default=False)
        if r.flag("/measurement/isFrequencySelection", default=False):
            raise r.error(
                "/measurement/isFrequencySelection", "frequency-selected data is not supported",
                0, 1,
            )  # fmt: skip
        frames = _frames_layout(r, r.complex_data("/measurement/data", fourier), fast)
        _check_data_axes(r, frames, acq, fourier)
        frames = _apply_conversion(r, frames)
        if fourier:
            frames = np.fft.irfft(frames, n=acq.num_sampling_points, axis=-1)
        if r.has("/acquisition/numFrames"):
            declared = r.number("/acquisition/numFrames", "i")
            if declared != frames.shape[0]:
                raise r.error(
                    "/acquisition/numFrames", "disagrees with the frame axis of /measurement/data",
                    frames.shape[0], declared,
                )  # fmt: skip
        bg_mask = _background_mask(r, frames.shape[0])
        if bg_mask.all():
            raise r.error("/measurement/isBackgroundFrame", "every frame is a background frame",
                          "at least one foreground frame")  # fmt: skip
        truth = None
        if r.has("/_groundTruth/concentration"):
            conc = r.array("/_groundTruth/concentration").astype(np.float64)
            gsize = r.array("/_groundTruth/size", shape=(3,))
            grid = Grid(
                size=tuple(int(v) for v in gsize),
                fov_m=tuple(float(v) for v in r.array("/_groundTruth/fieldOfView", shape=(3,))),
                center_m=tuple(
                    float(v) for v in r.array("/_groundTruth/fieldOfViewCenter", shape=(3,))
                ),
            )
            if conc.size != grid.num_voxels:
                raise r.error("/_groundTruth/concentration", "wrong shape", grid.shape, conc.shape)
            truth = (conc.reshape(grid.shape), grid)
        return Measurement(
            data=frames.astype(np.float32),
            is_background_frame=bg_mask,
            acquisition=acq,
            metadata=_read_metadata(r),
            ground_truth=truth,
        )


def missing_required_fields(path: str | os.PathLike) -> list[str]:
    """Mandatory MDF v2 fields (and, for calibrations, `/calibration` ones) absent from a file.

    Returns:
        The missing HDF5 paths; empty for a complete file.
    """
    path, f = _open(path)
    with f:
        required = list(REQUIRED_FIELDS)
        if "calibration" in f:
            required += ["/calibration/method", "/calibration/size",
                         "/calibration/fieldOfView", "/calibration/fieldOfViewCenter"]  # fmt: skip
        return [field for field in required if field not in f]


# --------------------------------------------------------------------------- writing


def _write_common(f: h5py.File, acq: Acquisition, meta: Metadata, num_frames: int) -> None:
    """Every group and dataset MDF v2 makes mandatory, except `/measurement`."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    f["version"] = MDF_VERSION
    f["uuid"] = str(uuid.uuid4())
    f["time"] = now
    f["study/name"] = meta.study_name
    f["study/number"] = np.int64(meta.study_number)
    f["study/description"] = meta.study_description
    f["study/uuid"] = str(uuid.uuid4())
    f["experiment/name"] = meta.experiment_name
    f["experiment/number"] = np.int64(meta.experiment_number)
    f["experiment/description"] = meta.experiment_description
    f["experiment/subject"] = meta.experiment_subject
    f["experiment/isSimulation"] = np.int8(meta.is_simulation)
    f["experiment/uuid"] = str(uuid.uuid4())
    f["scanner/facility"] = meta.scanner_facility
    f["scanner/manufacturer"] = meta.scanner_manufacturer
    f["scanner/name"] = meta.scanner_name
    f["scanner/operator"] = meta.scanner_operator
    f["scanner/topology"] = meta.scanner_topology
    strings = h5py.string_dtype()
    f.create_dataset("tracer/name", data=np.array([meta.tracer_name], dtype=object), dtype=strings)
    f.create_dataset("tracer/batch", data=np.array([meta.tracer_batch], dtype=object), dtype=strings)
    f.create_dataset("tracer/vendor", data=np.array([meta.tracer_vendor], dtype=object),
                     dtype=strings)  # fmt: skip
    f.create_dataset("tracer/solute", data=np.array([meta.tracer_solute], dtype=object),
                     dtype=strings)  # fmt: skip
    f["tracer/concentration"] = np.array([meta.tracer_concentration_mol_per_l], dtype=np.float64)
    f["tracer/volume"] = np.array([meta.tracer_volume_l], dtype=np.float64)
    df = acq.drivefield
    n_df = df.num_channels
    f["acquisition/numAverages"] = np.int64(acq.num_averages)
    f["acquisition/numFrames"] = np.int64(num_frames)
    f["acquisition/numPeriodsPerFrame"] = np.int64(1)
    f["acquisition/startTime"] = now
    f["acquisition/gradient"] = acq.gradient.reshape(1, 1, 3, 3)
    f["acquisition/offsetField"] = np.zeros((1, 1, 3))
    f["acquisition/drivefield/baseFrequency"] = np.float64(df.base_frequency_hz)
    f["acquisition/drivefield/cycle"] = np.float64(acq.period_s)
    f["acquisition/drivefield/divider"] = np.asarray(df.dividers, dtype=np.int64).reshape(n_df, 1)
    f["acquisition/drivefield/numChannels"] = np.int64(n_df)
    f["acquisition/drivefield/phase"] = np.asarray(df.phase_rad).reshape(1, n_df, 1)
    f["acquisition/drivefield/strength"] = np.asarray(df.strength_tesla).reshape(1, n_df, 1)
    f.create_dataset("acquisition/drivefield/waveform",
                     data=np.array([[df.waveform]] * n_df, dtype=object), dtype=strings)  # fmt: skip
    f["acquisition/receiver/bandwidth"] = np.float64(acq.bandwidth_hz)
    f["acquisition/receiver/numChannels"] = np.int64(acq.num_receive_channels)
    f["acquisition/receiver/numSamplingPoints"] = np.int64(acq.num_sampling_points)
    f["acquisition/receiver/unit"] = acq.unit
    f["acquisition/receiver/dataConversionFactor"] = np.tile(
        [1.0, 0.0], (acq.num_receive_channels, 1)
    )
    if acq.transfer_function is not None:
        f["acquisition/receiver/transferFunction"] = acq.transfer_function.astype(np.complex64)


def _write_flags(f: h5py.File, bg_mask: np.ndarray, fourier: bool, fast: bool) -> None:
    f["measurement/isBackgroundCorrected"] = np.int8(0)
    f["measurement/isBackgroundFrame"] = bg_mask.astype(np.int8)
    f["measurement/isFastFrameAxis"] = np.int8(fast)
    f["measurement/isFourierTransformed"] = np.int8(fourier)
    for flag in ("isFramePermutation", "isFrequencySelection", "isSparsityTransformed",
                 "isSpectralLeakageCorrected", "isTransferFunctionCorrected"):  # fmt: skip
        f[f"measurement/{flag}"] = np.int8(0)


def write_system_matrix(path: str | os.PathLike, sm: SystemMatrix) -> Path:
    """Write a system matrix as an MDF v2 calibration file, atomically.

    Like real OpenMPIData files the foreground frames are stored without
    background correction (the mean background is added back) and the
    background frames follow them, flagged in `isBackgroundFrame`.

    Args:
        path: destination; written to a temporary file, then renamed.
        sm: the system matrix.

    Returns:
        The path written.
    """
    c, k = sm.spectra.shape[:2]
    fg = sm.spectra.reshape(c, k, -1)  # (C, K, O) with x fastest
    bg = sm.background
    if bg.shape[-1]:
        fg = fg + bg.mean(axis=-1, keepdims=True)
    data = np.concatenate([fg, bg], axis=-1)[None].astype(np.complex64)  # (1, C, K, O+E)
    bg_mask = np.r_[np.zeros(fg.shape[-1], bool), np.ones(bg.shape[-1], bool)]
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        _write_common(f, sm.acquisition, sm.metadata, data.shape[-1])
        f.create_dataset("measurement/data", data=data, chunks=(1, 1, k, min(fg.shape[-1], 64)))
        _write_flags(f, bg_mask, fourier=True, fast=True)
        f["calibration/method"] = sm.method
        f["calibration/order"] = "xyz"
        f["calibration/size"] = np.asarray(sm.grid.size, dtype=np.int64)
        f["calibration/fieldOfView"] = np.asarray(sm.grid.fov_m, dtype=np.float64)
        f["calibration/fieldOfViewCenter"] = np.asarray(sm.grid.center_m, dtype=np.float64)
        f["calibration/positions"] = sm.grid.positions_m().reshape(-1, 3)
        f["calibration/offsetFields"] = np.zeros((sm.grid.num_voxels, 3))
        f["calibration/isMeanderingGrid"] = np.int8(0)
        if sm.delta_sample_size_m is not None:
            f["calibration/deltaSampleSize"] = np.asarray(sm.delta_sample_size_m, np.float64)
        snr = sm.snr if sm.snr is not None else sm.estimate_snr()
        f["calibration/snr"] = np.nan_to_num(snr, posinf=np.finfo(np.float64).max)[None]
    return path


def write_measurement(path: str | os.PathLike, meas: Measurement) -> Path:
    """Write a time-domain measurement (N x J x C x V) as an MDF v2 file, atomically.

    A simulated ground truth, when present, goes to the extension group
    `/_groundTruth` (MDF allows `_`-prefixed additions).

    Returns:
        The path written.
    """
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        _write_common(f, meas.acquisition, meas.metadata, meas.num_frames)
        f["measurement/data"] = meas.data.astype(np.float32)
        _write_flags(f, np.asarray(meas.is_background_frame, bool), fourier=False, fast=False)
        if meas.ground_truth is not None:
            conc, grid = meas.ground_truth
            f["_groundTruth/concentration"] = np.asarray(conc, dtype=np.float64)
            f["_groundTruth/size"] = np.asarray(grid.size, dtype=np.int64)
            f["_groundTruth/fieldOfView"] = np.asarray(grid.fov_m, dtype=np.float64)
            f["_groundTruth/fieldOfViewCenter"] = np.asarray(grid.center_m, dtype=np.float64)
            f["_groundTruth/unit"] = "mol/L"
    return path
