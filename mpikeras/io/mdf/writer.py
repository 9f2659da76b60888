"""The low-level MDF writer: reproducible datasets and the groups every file has.

Datasets are created without HDF5 object timestamps, and with
`SOURCE_DATE_EPOCH` set the times and UUIDs derive from it and from a
digest of the content, so identical inputs give byte-identical files.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import h5py
import numpy as np

from mpikeras.errors import ConfigError
from mpikeras.io.acquisition import Acquisition
from mpikeras.io.mdf.schema import MDF_VERSION, UNPROCESSED_FLAGS
from mpikeras.io.metadata import Metadata


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


@contextlib.contextmanager
def new_hdf5_file(
    path: str | os.PathLike, target: str | os.PathLike | None = None
) -> Iterator[h5py.File]:
    """Build an HDF5 file in memory, then write it to `path` in one go.

    HDF5 cannot recover from a write that fails midway: after a full disk
    (ENOSPC) or a file-size limit (EFBIG) every later close fails, and the
    process crashes when the library cleans up. Built in memory (HDF5's core
    driver), the file reaches the disk through one plain write, whose
    failure is an ordinary `OSError` naming the file.

    Example:

    >>> with new_hdf5_file("out.h5") as f:       # doctest: +SKIP
    ...     f["x"] = 1.0

    Args:
        path: the (temporary) file to create.
        target: the name to give in errors (the final file); defaults to `path`.

    Returns:
        A context manager yielding the open, in-memory `h5py.File`.

    Raises:
        OSError: if writing `path` fails, with its errno, naming `target`.
    """
    f = h5py.File(path, "w", driver="core", backing_store=False)
    try:
        yield f
        f.flush()
        image = f.id.get_file_image()
    finally:
        f.close()
    try:
        with open(path, "wb") as out:
            out.write(image)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(target or path)) from None


class Writer:
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


def content_digest(*parts: Any) -> str:
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


def write_common(
    w: Writer, acq: Acquisition, meta: Metadata, num_frames: int, num_periods: int = 1
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


def write_flags(
    w: Writer,
    bg_mask: np.ndarray,
    fourier: bool,
    fast: bool,
    frame_permutation: np.ndarray | None = None,
) -> None:
    """The `/measurement` flags: background frames, axes and domain; no processing applied.

    `frame_permutation` (0-based acquisition rank of each stored frame) is
    written as `framePermutation` (1-based, MDF section 3.8) with
    `isFramePermutation = 1`.
    """
    w.put("measurement/isBackgroundCorrected", np.int8(0))
    w.put("measurement/isBackgroundFrame", bg_mask.astype(np.int8))
    w.put("measurement/isFastFrameAxis", np.int8(fast))
    w.put("measurement/isFourierTransformed", np.int8(fourier))
    for flag in UNPROCESSED_FLAGS:
        permuted = flag == "isFramePermutation" and frame_permutation is not None
        w.put(f"measurement/{flag}", np.int8(permuted))
    if frame_permutation is not None:
        w.put("measurement/framePermutation", np.asarray(frame_permutation, np.int64) + 1)
