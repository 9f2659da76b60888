"""A corpus of hostile MDF files: every one is refused with an MDFError naming the file and field.

Each case starts from a valid small file (the system matrix or the
measurement of `conftest.py`, written by mpikeras) and damages it: with
h5py (missing, misplaced, mistyped, misshaped, non-finite or absurd fields,
files of the wrong kind) or byte by byte (empty, not HDF5, truncated at
several points, raw data overwritten). Every reader that should notice the
damage is run on it: `read_system_matrix`, `read_measurement`, `mdf_kind`,
`summarize` and `mpikeras info`. The contract checked for each:

- the package's own `MDFError` and no other exception type, with a message
  `<file>: field '<field>': <problem>` matched in full (the `info` command
  prints it on one line to stderr and exits with 2, no traceback);
- no hang (`pytest-timeout`);
- the input file is left alone: same bytes, same modification time, and no
  new file beside it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from mpikeras.cli.main import main
from mpikeras.errors import MDFError
from mpikeras.io import mdf_kind, read_measurement, read_system_matrix, summarize

READERS = {
    "sm": read_system_matrix,
    "meas": read_measurement,
    "kind": mdf_kind,
    "summary": summarize,
}
#: Far beyond any address space, so no machine can allocate it, whatever its overcommit policy.
HUGE = 2**50


# --------------------------------------------------------------------------- damage in h5py


def delete(name: str) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        del f[name]

    return edit


def replace(name: str, value) -> Callable[[h5py.File], None]:
    """Replace the object at `name` by a dataset holding `value` (any dtype and shape)."""

    def edit(f: h5py.File) -> None:
        del f[name]
        f[name] = value

    return edit


def create(name: str, value) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        f[name] = value

    return edit


def assign(name: str, value) -> Callable[[h5py.File], None]:
    """Overwrite the values of an existing dataset in place (same dtype and shape)."""

    def edit(f: h5py.File) -> None:
        f[name][()] = value

    return edit


def to_group(name: str) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        del f[name]
        f.create_group(name)

    return edit


def link(name: str, target) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        del f[name]
        f[name] = target

    return edit


def data(transform: Callable[[np.ndarray], np.ndarray]) -> Callable[[h5py.File], None]:
    """Replace `/measurement/data` by `transform(data)`."""

    def edit(f: h5py.File) -> None:
        value = transform(f["measurement/data"][()])
        del f["measurement/data"]
        f["measurement/data"] = value

    return edit


def both(*edits) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        for e in edits:
            e(f)

    return edit


def compound(dtype) -> Callable[[h5py.File], None]:
    """`/measurement/data` as a compound with the field names r and i but the given types."""

    def edit(f: h5py.File) -> None:
        shape = f["measurement/data"].shape
        del f["measurement/data"]
        f["measurement/data"] = np.zeros(shape, dtype=dtype)

    return edit


def reference(name: str) -> Callable[[h5py.File], None]:
    """A dataset of HDF5 object references where a string is expected."""

    def edit(f: h5py.File) -> None:
        del f[name]
        f.create_dataset(name, data=[f["version"].ref], dtype=h5py.ref_dtype)

    return edit


def vlen_floats(name: str) -> Callable[[h5py.File], None]:
    """A variable-length float dataset (object dtype, but no string) where a string is expected."""

    def edit(f: h5py.File) -> None:
        del f[name]
        ds = f.create_dataset(name, (1,), dtype=h5py.vlen_dtype(np.float64))
        ds[0] = np.array([1.0, 2.0])

    return edit


def sparse(name: str, shape: tuple[int, ...], dtype, chunks: tuple[int, ...]):
    """A chunked dataset of an absurd shape with no chunk written (a tiny file)."""

    def edit(f: h5py.File) -> None:
        del f[name]
        f.create_dataset(name, shape=shape, dtype=dtype, chunks=chunks)

    return edit


def unknown_filter(f: h5py.File) -> None:
    """`/measurement/data` compressed with a filter this HDF5 does not have (id 32001)."""
    value = f["measurement/data"][()]
    del f["measurement/data"]
    ds = f.create_dataset(
        "measurement/data", shape=value.shape, dtype=value.dtype, chunks=value.shape,
        compression=32001, allow_unknown_filter=True,
    )  # fmt: skip
    ds.id.write_direct_chunk((0,) * value.ndim, value.tobytes())


def bg_mask(values) -> Callable[[h5py.File], None]:
    return replace("measurement/isBackgroundFrame", np.asarray(values, np.int8))


def set_data_value(index, value) -> Callable[[h5py.File], None]:
    def transform(d):
        d = d.copy()
        d[index] = value
        return d

    return data(transform)


_NO_TF = delete("acquisition/receiver/transferFunction")


# --------------------------------------------------------------------------- damage to bytes


def truncate(fraction: float | None = None, size: int | None = None) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        content = path.read_bytes()
        keep = size if size is not None else int(len(content) * fraction)
        path.write_bytes(content[:keep])

    return damage


def contents(payload: bytes) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        path.write_bytes(payload)

    return damage


def empty_hdf5(path: Path) -> None:
    path.unlink()
    h5py.File(path, "w").close()


def overwrite_raw_data(path: Path) -> None:
    """Overwrite the stored bytes of `/measurement/data` with 0xFF (float NaN), nothing else.

    Only raw data is touched, never HDF5 metadata, so libhdf5 itself reads
    the file as before and the reader sees NaN values.
    """
    with h5py.File(path, "r") as f:
        ds = f["measurement/data"]
        if ds.chunks is None:
            regions = [(ds.id.get_offset(), ds.id.get_storage_size())]
        else:
            regions = [(info.byte_offset, info.size) for info in
                       map(ds.id.get_chunk_info, range(ds.id.get_num_chunks()))]  # fmt: skip
        assert ds.compression is None
    with open(path, "r+b") as fh:
        for offset, size in regions:
            fh.seek(offset)
            fh.write(b"\xff" * size)


# --------------------------------------------------------------------------- the corpus


@dataclasses.dataclass(frozen=True)
class Case:
    """A hostile file: `damage` applied to a copy of `source`, refused by each of `readers`.

    Args:
        id: the test id.
        source: "sm" (calibration) or "meas" (measurement).
        damage: an h5py edit `(h5py.File) -> None`, a byte damage `(Path) -> None`
            (`raw=True`), or `None` for a valid file given to the wrong reader.
        field: the field the error must name.
        pattern: regular expression of the message after `field '<field>': `.
        readers: the readers that must refuse the file ("sm", "meas",
            "kind", "summary", "info"); by default those of the file's kind.
        raw: whether `damage` works on bytes.
    """

    id: str
    source: str
    damage: Callable | None
    field: str
    pattern: str
    readers: tuple[str, ...] = ()
    raw: bool = False

    def all_readers(self) -> tuple[str, ...]:
        if self.readers:
            return self.readers
        return ("sm" if self.source == "sm" else "meas", "summary", "info")


EVERY = ("sm", "meas", "kind", "summary", "info")
NOT_HDF5 = r"not an HDF5 file; expected the HDF5 signature b'\\x89HDF\\r\\n\\x1a\\n', got "
TRUNCATED = r"truncated or corrupted HDF5 file \(.*truncated file"

CASES = [
    # Missing groups and datasets.
    Case("missing-drivefield-group", "sm", delete("acquisition/drivefield"),
         "/acquisition/drivefield",
         r"missing group; expected the group MDF v2 requires, got nothing"),
    Case("missing-bandwidth", "meas", delete("acquisition/receiver/bandwidth"),
         "/acquisition/receiver/bandwidth",
         r"missing dataset; expected the dataset MDF v2 requires, got nothing"),
    Case("missing-field-of-view", "sm", delete("calibration/fieldOfView"),
         "/calibration/fieldOfView", r"missing dataset"),
    Case("missing-fourier-flag", "meas", delete("measurement/isFourierTransformed"),
         "/measurement/isFourierTransformed", r"missing dataset"),
    Case("missing-version", "sm", delete("version"), "/version", r"missing dataset", EVERY),
    Case("missing-data", "sm", delete("measurement/data"), "/measurement/data",
         r"missing dataset"),
    Case("missing-ground-truth-size", "meas", delete("_groundTruth/size"), "/_groundTruth/size",
         r"missing dataset; expected the grid of the ground truth, got nothing", ("meas",)),
    Case("empty-hdf5-file", "sm", empty_hdf5, "/version", r"missing dataset", EVERY, raw=True),
    # A group where a dataset is expected, and the other way round.
    Case("group-as-data", "sm", to_group("measurement/data"), "/measurement/data",
         r"not a dataset; expected an HDF5 dataset, got a group"),
    Case("group-as-bandwidth", "meas", to_group("acquisition/receiver/bandwidth"),
         "/acquisition/receiver/bandwidth",
         r"not a dataset; expected an HDF5 dataset, got a group"),
    Case("group-as-version", "sm", to_group("version"), "/version", r"not a dataset", EVERY),
    Case("dataset-as-calibration-group", "sm", replace("calibration", 1.0), "/calibration",
         r"not a group; expected an HDF5 group, got a dataset", EVERY),
    Case("dataset-as-measurement-group", "meas", replace("measurement", np.zeros(3)),
         "/measurement", r"not a group; expected an HDF5 group, got a dataset"),
    Case("dataset-as-ground-truth-group", "meas", replace("_groundTruth", np.zeros(3)),
         "/_groundTruth", r"not a group; expected an HDF5 group, got a dataset"),
    Case("named-datatype-as-size", "sm", replace("calibration/size", np.dtype("int64")),
         "/calibration/size", r"not a dataset; expected an HDF5 dataset, got a named datatype"),
    Case("dangling-soft-link", "sm", link("calibration/size", h5py.SoftLink("/nowhere")),
         "/calibration/size", r"unreadable, the file may be damaged \(.+\)"),
    Case("external-link-to-missing-file", "sm",
         link("calibration/fieldOfView", h5py.ExternalLink("/nonexistent/other.h5", "/fov")),
         "/calibration/fieldOfView", r"unreadable, the file may be damaged \(.+\)"),
    Case("null-dataspace-data", "sm", replace("measurement/data", h5py.Empty("f4")),
         "/measurement/data", r"empty dataset \(null dataspace\); expected a value, got no value"),
    Case("null-dataspace-method", "sm",
         replace("calibration/method", h5py.Empty(h5py.string_dtype())),
         "/calibration/method", r"empty dataset \(null dataspace\)"),
    Case("null-dataspace-samples", "meas",
         replace("acquisition/receiver/numSamplingPoints", h5py.Empty("i8")),
         "/acquisition/receiver/numSamplingPoints", r"empty dataset \(null dataspace\)"),
    # Wrong dtypes.
    Case("data-compound-of-strings", "sm", compound([("r", "S4"), ("i", "S4")]),
         "/measurement/data", r"unsupported compound dtype; expected complex \{r, i\}, got "),
    Case("data-compound-of-subarrays", "sm", compound([("r", "<f4", (2,)), ("i", "<f4")]),
         "/measurement/data", r"unsupported compound dtype; expected complex \{r, i\}"),
    Case("data-integers-in-fourier-domain", "sm", data(lambda d: np.ones(d.shape, np.int8)),
         "/measurement/data", r"Fourier-domain data without a complex type; expected complex "
         r"\{r, i\} J x C x K x N \(isFastFrameAxis = 1\), or float J x C x K x N "
         r"\(isFastFrameAxis = 1\) x 2, got int8 \(1, 3, 33, 66\)"),
    Case("complex-measurement-data", "meas", data(lambda d: d.astype(np.complex64)),
         "/measurement/data", r"complex data in the time domain \(isFourierTransformed = 0\); "
         r"expected real samples, got complex64"),
    Case("boolean-measurement-data", "meas", data(lambda d: d > 0), "/measurement/data",
         r"wrong dtype; expected numbers or complex \{r, i\}, got bool"),
    Case("float-sample-count", "sm", replace("acquisition/receiver/numSamplingPoints", 64.0),
         "/acquisition/receiver/numSamplingPoints",
         r"wrong dtype; expected an integer, got float64"),
    Case("string-channel-count", "sm", replace("acquisition/receiver/numChannels", "3"),
         "/acquisition/receiver/numChannels",
         r"wrong type or shape; expected a numeric scalar, got \S+ \(\)"),
    Case("array-channel-count", "sm", replace("acquisition/receiver/numChannels", [3, 3]),
         "/acquisition/receiver/numChannels",
         r"wrong type or shape; expected a numeric scalar, got int64 \(2,\)"),
    Case("numeric-version", "meas", replace("version", 2.0), "/version",
         r"wrong dtype; expected a string, got float64", EVERY),
    Case("numeric-method", "sm", replace("calibration/method", 1.0), "/calibration/method",
         r"wrong dtype; expected a string, got float64"),
    Case("reference-as-method", "sm", reference("calibration/method"), "/calibration/method",
         r"wrong dtype; expected a string, got object holding Reference"),
    Case("floats-as-order", "sm", vlen_floats("calibration/order"), "/calibration/order",
         r"wrong dtype; expected a string, got object holding ndarray"),
    Case("integers-as-unit", "meas", replace("acquisition/receiver/unit", np.arange(3)),
         "/acquisition/receiver/unit", r"wrong dtype; expected a string, got int64"),
    Case("complex-divider", "sm",
         replace("acquisition/drivefield/divider", np.array([[102], [96], [99]], np.complex64)),
         "/acquisition/drivefield/divider", r"out of range; expected positive integers"),
    Case("float-background-flags", "sm", replace("measurement/isBackgroundFrame", np.zeros(66)),
         "/measurement/isBackgroundFrame",
         r"wrong dtype; expected Int8 \(0 or 1 per frame\), got float64"),
    Case("strings-as-field-of-view", "sm",
         replace("calibration/fieldOfView", np.array([b"1", b"2", b"3"])),
         "/calibration/fieldOfView", r"wrong dtype; expected numbers, got \|S1"),
    Case("strings-as-size", "sm", replace("calibration/size", ["5", "4", "3"]),
         "/calibration/size", r"wrong dtype; expected numbers, got object"),
    Case("complex-gradient", "sm", replace("acquisition/gradient", np.eye(3) * 1j),
         "/acquisition/gradient", r"wrong dtype; expected real numbers, got complex128"),
    Case("complex-ground-truth-center", "meas",
         replace("_groundTruth/fieldOfViewCenter", np.ones(3, np.complex64)),
         "/_groundTruth/fieldOfViewCenter", r"wrong dtype; expected 3 real numbers in m, "
         r"got complex64"),
    Case("complex-delta-sample", "sm",
         replace("calibration/deltaSampleSize", np.ones(3, np.complex64)),
         "/calibration/deltaSampleSize", r"out of range; expected 3 positive lengths in m"),
    # Wrong shapes.
    Case("data-5d", "sm", data(lambda d: d[..., None]), "/measurement/data",
         r"wrong number of dimensions; expected 4 \(J x C x K x N \(isFastFrameAxis = 1\)\), "
         r"got \(1, 3, 33, 66, 1\)"),
    Case("data-without-frames", "sm", data(lambda d: d[..., :0]), "/measurement/data",
         r"empty axis; expected J x C x K x N \(isFastFrameAxis = 1\), each at least 1, "
         r"got \(1, 3, 33, 0\)"),
    Case("measurement-data-2d", "meas", data(lambda d: d.reshape(6, -1)), "/measurement/data",
         r"wrong number of dimensions; expected 4 \(N x J x C x V\), got \(6, 384\)"),
    Case("size-with-four-entries", "sm", replace("calibration/size", np.array([5, 4, 3, 1])),
         "/calibration/size", r"wrong shape or type; expected 3 positive integers \(x, y, z\), "
         r"got int64 of shape \(4,\)"),
    Case("size-huge-sparse", "sm", sparse("calibration/size", (HUGE,), np.int64, (1024,)),
         "/calibration/size", rf"wrong shape or type; expected 3 positive integers \(x, y, z\), "
         rf"got int64 of shape \({HUGE},\)"),
    Case("field-of-view-two-entries", "sm", replace("calibration/fieldOfView", [0.01, 0.01]),
         "/calibration/fieldOfView", r"wrong shape; expected \(3,\), got \(2,\)"),
    Case("strength-of-two-channels", "sm",
         replace("acquisition/drivefield/strength", np.ones((1, 2, 1))),
         "/acquisition/drivefield/strength",
         r"wrong shape or type; expected J x 3 x 1 real, got float64 \(1, 2, 1\)"),
    Case("divider-of-two-channels", "sm",
         replace("acquisition/drivefield/divider", np.array([[102], [96]])),
         "/acquisition/drivefield/divider",
         r"wrong shape; expected D x F with D = 3, got \(2, 1\)"),
    Case("gradient-2x2", "sm", replace("acquisition/gradient", np.eye(2)),
         "/acquisition/gradient", r"wrong shape; expected J x Y x 3 x 3 or 3, got \(2, 2\)"),
    Case("conversion-factor-3x3", "sm",
         replace("acquisition/receiver/dataConversionFactor", np.ones((3, 3))),
         "/acquisition/receiver/dataConversionFactor",
         r"wrong shape or type; expected real C x 2 = \(3, 2\), got float64 \(3, 3\)", ("sm",)),
    Case("snr-wrong-shape", "sm", replace("calibration/snr", np.ones((3, 20))), "/calibration/snr",
         r"wrong shape; expected J x 3 x 33, got \(3, 20\)", ("sm",)),
    Case("delta-sample-two-entries", "sm", replace("calibration/deltaSampleSize", [1e-3, 1e-3]),
         "/calibration/deltaSampleSize", r"wrong shape; expected \(3,\), got \(2,\)"),
    Case("ground-truth-size-two-entries", "meas", replace("_groundTruth/size", [5, 4]),
         "/_groundTruth/size", r"wrong shape; expected \(3,\), got \(2,\)"),
    # NaN and Inf.
    Case("nan-in-system-matrix", "sm", set_data_value((0, 1, 7, 42), np.nan),
         "/measurement/data", r"non-finite values \(NaN or Inf\); expected finite numbers, "
         r"got 1 non-finite values, the first at h5py index \(0, 1, 7, 42\)", ("sm",)),
    Case("inf-in-measurement", "meas", set_data_value((3, 1, 2, 10), -np.inf),
         "/measurement/data", r"non-finite values \(NaN or Inf\); expected finite numbers, "
         r"got 1 non-finite values, the first at h5py index \(3, 1, 2, 10\)", ("meas",)),
    Case("inf-field-of-view-center", "sm",
         replace("calibration/fieldOfViewCenter", [0.0, -np.inf, 0.0]),
         "/calibration/fieldOfViewCenter",
         r"not finite; expected finite numbers, got 1 NaN or Inf values"),
    Case("nan-base-frequency", "sm", replace("acquisition/drivefield/baseFrequency", np.nan),
         "/acquisition/drivefield/baseFrequency",
         r"not finite; expected a finite number, got nan"),
    Case("nan-strength", "meas",
         replace("acquisition/drivefield/strength", np.full((2, 3, 1), np.nan)),
         "/acquisition/drivefield/strength", r"not finite; expected finite numbers, got 6 NaN"),
    Case("nan-transfer-function", "sm",
         replace("acquisition/receiver/transferFunction", np.full((3, 33), np.nan, np.complex64)),
         "/acquisition/receiver/transferFunction", r"not finite"),
    Case("inf-conversion-factor", "sm",
         replace("acquisition/receiver/dataConversionFactor", np.full((3, 2), np.inf)),
         "/acquisition/receiver/dataConversionFactor", r"not finite", ("sm",)),
    Case("nan-tracer-concentration", "meas", replace("tracer/concentration", [np.nan]),
         "/tracer/concentration", r"not finite"),
    Case("nan-ground-truth", "meas",
         replace("_groundTruth/concentration", np.full((3, 4, 5), np.nan)),
         "/_groundTruth/concentration", r"not finite; expected finite numbers, got 60 NaN",
         ("meas",)),
    Case("nan-delta-sample", "sm", replace("calibration/deltaSampleSize", [np.nan, 1e-3, 1e-3]),
         "/calibration/deltaSampleSize", r"not finite"),
    Case("measurement-overflows-float32", "meas", data(lambda d: np.full(d.shape, 1e300)),
         "/measurement/data", r"the measurement data overflow float32 .*; expected magnitudes "
         r"below 3\.4e\+38, got 2304 values that become Inf or NaN", ("meas",)),
    Case("conversion-factor-overflows-complex64", "sm",
         replace("acquisition/receiver/dataConversionFactor", np.tile([1e300, 0.0], (3, 1))),
         "/measurement/data", r"the background-corrected spectra overflow complex64", ("sm",)),
    # Absurd values.
    Case("zero-bandwidth", "sm", assign("acquisition/receiver/bandwidth", 0.0),
         "/acquisition/receiver/bandwidth",
         r"out of range; expected a positive frequency in Hz, got 0\.0"),
    Case("huge-bandwidth", "sm", assign("acquisition/receiver/bandwidth", 1e308),
         "/acquisition/receiver/bandwidth", r"out of range; expected a frequency in Hz giving "
         r"a finite sampling rate and period for 64 samples, got 1e\+308"),
    Case("subnormal-bandwidth", "meas", assign("acquisition/receiver/bandwidth", 5e-324),
         "/acquisition/receiver/bandwidth", r"out of range; expected a frequency in Hz giving "
         r"a finite sampling rate and period for 64 samples, got 5e-324"),
    Case("zero-sampling-points", "sm", assign("acquisition/receiver/numSamplingPoints", 0),
         "/acquisition/receiver/numSamplingPoints", r"out of range; expected at least 2, got 0"),
    Case("negative-sampling-points", "meas",
         assign("acquisition/receiver/numSamplingPoints", -64),
         "/acquisition/receiver/numSamplingPoints", r"out of range; expected at least 2, got -64"),
    Case("huge-sampling-points", "sm",
         both(assign("acquisition/receiver/numSamplingPoints", 2**62), _NO_TF),
         "/measurement/data", r"sample axis disagrees with K = numSamplingPoints // 2 \+ 1; "
         r"expected 2305843009213693953, got 33"),
    Case("zero-receive-channels", "sm", assign("acquisition/receiver/numChannels", 0),
         "/acquisition/receiver/numChannels", r"out of range; expected at least 1, got 0"),
    Case("negative-drive-channels", "sm", assign("acquisition/drivefield/numChannels", -1),
         "/acquisition/drivefield/numChannels", r"out of range; expected at least 1, got -1"),
    Case("zero-base-frequency", "meas", assign("acquisition/drivefield/baseFrequency", 0.0),
         "/acquisition/drivefield/baseFrequency",
         r"out of range; expected a positive frequency in Hz, got 0\.0"),
    Case("negative-divider", "sm", assign("acquisition/drivefield/divider", [[-102], [96], [99]]),
         "/acquisition/drivefield/divider",
         r"out of range; expected positive integers, got \[-102, 96, 99\]"),
    Case("fractional-divider", "sm",
         replace("acquisition/drivefield/divider", [[102.5], [96.0], [99.0]]),
         "/acquisition/drivefield/divider",
         r"out of range; expected positive integers, got \[102\.5, 96\.0, 99\.0\]"),
    Case("negative-size", "sm", assign("calibration/size", [5, -4, 3]), "/calibration/size",
         r"wrong shape or type; expected 3 positive integers \(x, y, z\), got int64 \[5, -4, 3\]"),
    Case("zero-size", "sm", assign("calibration/size", [0, 4, 3]), "/calibration/size",
         r"wrong shape or type; expected 3 positive integers \(x, y, z\), got int64 \[0, 4, 3\]"),
    Case("size-larger-than-data", "sm", assign("calibration/size", [5, 4, 4]), "/calibration/size",
         r"number of voxels disagrees with the foreground frames of /measurement/data; "
         r"expected 60 voxels \(= foreground frames\), got 80 \(5 x 4 x 4\)"),
    # 4 * (2**62 + 15) = 2**64 + 60: the int64 product wraps around to the 60 foreground frames.
    Case("size-product-wraps-int64", "sm", assign("calibration/size", [4, 2**62 + 15, 1]),
         "/calibration/size", r"number of voxels disagrees with the foreground frames of "
         r"/measurement/data; expected 60 voxels \(= foreground frames\), "
         r"got 18446744073709551676 \(4 x 4611686018427387919 x 1\)"),
    Case("zero-field-of-view", "sm", assign("calibration/fieldOfView", [0.01, 0.0, 0.003]),
         "/calibration/fieldOfView",
         r"out of range; expected 3 positive lengths in m, got \[0\.01, 0\.0, 0\.003\]"),
    Case("negative-averages", "sm", assign("acquisition/numAverages", -7),
         "/acquisition/numAverages", r"out of range; expected at least 1, got -7"),
    Case("zero-frames-declared", "meas", assign("acquisition/numFrames", 0),
         "/acquisition/numFrames",
         r"disagrees with the frame axis \(N\) of /measurement/data; expected 6, got 0"),
    Case("huge-frames-declared", "sm", assign("acquisition/numFrames", 2**40),
         "/acquisition/numFrames",
         r"disagrees with the frame axis \(N\) of /measurement/data; expected 66, "
         r"got 1099511627776"),
    Case("zero-periods-declared", "sm", assign("acquisition/numPeriodsPerFrame", 0),
         "/acquisition/numPeriodsPerFrame",
         r"disagrees with the period axis \(J\) of /measurement/data; expected 1, got 0"),
    Case("background-flags-too-long", "sm", bg_mask(np.zeros(67)),
         "/measurement/isBackgroundFrame", r"wrong length; expected 66 \(one per frame\), got 67"),
    Case("background-flags-empty", "meas", bg_mask([]), "/measurement/isBackgroundFrame",
         r"wrong length; expected 6 \(one per frame\), got 0"),
    Case("background-flags-huge-sparse", "meas",
         sparse("measurement/isBackgroundFrame", (HUGE,), np.int8, (2**20,)),
         "/measurement/isBackgroundFrame",
         rf"wrong length; expected 6 \(one per frame\), got {HUGE}"),
    Case("background-flags-negative", "sm", bg_mask(np.r_[np.zeros(60), -np.ones(6)]),
         "/measurement/isBackgroundFrame", r"not a flag; expected 0 or 1 per frame, got \[-1, 0\]"),
    Case("only-background-frames", "sm", bg_mask(np.ones(66)), "/calibration/size",
         r"number of voxels disagrees with the foreground frames of /measurement/data; "
         r"expected 0 voxels \(= foreground frames\), got 60 \(5 x 4 x 3\)"),
    Case("huge-sparse-measurement", "meas", both(
        sparse("measurement/data", (HUGE, 2, 3, 64), np.float32, (1, 2, 3, 64)),
        sparse("measurement/isBackgroundFrame", (HUGE,), np.int8, (2**20,)),
        assign("acquisition/numFrames", HUGE)),
         "/measurement/isBackgroundFrame",
         r"declares more data than memory allows \(checked before reading\); expected at most "
         rf"[0-9.e+]+ GB \(MPIKERAS_MAX_READ_BYTES or half the available memory\), got shape "
         rf"\({HUGE},\) of int8"),
    Case("fast-axis-flag-lies", "sm", assign("measurement/isFastFrameAxis", 0),
         "/measurement/data", r"channel axis \(C\) disagrees with "
         r"/acquisition/receiver/numChannels; expected 3, got 33"),
    Case("fourier-flag-two", "sm", assign("measurement/isFourierTransformed", 2),
         "/measurement/isFourierTransformed", r"not a flag; expected 0 or 1, got 2"),
    Case("frame-permutation-too-short", "sm", both(
        assign("measurement/isFramePermutation", 1),
        create("measurement/framePermutation", np.arange(1, 10))),
         "/measurement/framePermutation",
         r"wrong shape or type; expected 66 integers, got int64 \(9,\)", ("sm",)),
    Case("sparsity-transformed", "meas", assign("measurement/isSparsityTransformed", 1),
         "/measurement/isSparsityTransformed",
         r"sparsity-transformed data is not supported; expected 0, got 1"),
    Case("empty-order", "sm", replace("calibration/order", ""), "/calibration/order",
         r"not a permutation of 'xyz'; expected 'xyz', got ''"),
    Case("version-one", "meas", replace("version", "1.0.1"), "/version",
         r"unsupported MDF version; expected 2\.x, got '1\.0\.1'", EVERY),
    Case("unknown-compression-filter", "meas", unknown_filter, "/measurement/data",
         r"unreadable, the file may be truncated or damaged \(.+\)", ("meas",)),
    # The wrong kind of file.
    Case("measurement-as-calibration", "meas", None, "/calibration/method",
         r"missing: this is a measurement file, not a system matrix; expected a calibration "
         r"file \(with /calibration/method\), got a file without it", ("sm",)),
    Case("calibration-as-measurement", "sm", None, "/calibration/method",
         r"present: this is a system matrix \(calibration\) file, not a measurement; expected "
         r"a measurement file \(without /calibration/method\), got a calibration file", ("meas",)),
    # Damaged bytes.
    Case("zero-length", "sm", contents(b""), "/",
         r"file is empty; expected an MDF \(HDF5\) file, got 0 bytes", EVERY, raw=True),
    Case("random-bytes", "sm", contents(np.random.default_rng(0).bytes(4096)), "/",
         NOT_HDF5 + r"b'", EVERY, raw=True),
    Case("json-text", "meas", contents(json.dumps({"version": "2.0"}).encode()), "/",
         NOT_HDF5 + r"b'\{\"versio'$", EVERY, raw=True),
    Case("signature-then-garbage", "sm",
         contents(b"\x89HDF\r\n\x1a\n" + np.random.default_rng(1).bytes(2048)), "/",
         r"truncated or corrupted HDF5 file \(.+\)", EVERY, raw=True),
    Case("truncated-to-signature", "sm", truncate(size=8), "/",
         r"truncated or corrupted HDF5 file \(.+\)", EVERY, raw=True),
    Case("truncated-in-superblock", "meas", truncate(size=40), "/",
         r"truncated or corrupted HDF5 file \(.+\)", EVERY, raw=True),
    Case("truncated-at-512-bytes", "sm", truncate(size=512), "/", TRUNCATED, EVERY, raw=True),
    Case("truncated-at-25-percent", "sm", truncate(0.25), "/", TRUNCATED, EVERY, raw=True),
    Case("truncated-at-half", "meas", truncate(0.5), "/", TRUNCATED, EVERY, raw=True),
    Case("truncated-at-90-percent", "sm", truncate(0.9), "/", TRUNCATED, EVERY, raw=True),
    Case("truncated-by-one-byte", "meas", lambda p: truncate(size=p.stat().st_size - 1)(p), "/",
         TRUNCATED, EVERY, raw=True),
    Case("raw-measurement-bytes-overwritten", "meas", overwrite_raw_data, "/measurement/data",
         r"non-finite values \(NaN or Inf\); expected finite numbers, got 2304 non-finite "
         r"values, the first at h5py index \(0, 0, 0, 0\)", ("meas",), raw=True),
    Case("raw-system-matrix-chunks-overwritten", "sm", overwrite_raw_data, "/measurement/data",
         r"non-finite values \(NaN or Inf\)", ("sm",), raw=True),
]  # fmt: skip


def _pairs():
    for case in CASES:
        for reader in case.all_readers():
            yield pytest.param(case, reader, id=f"{case.id}-{reader}")


_SOURCE_BYTES: dict[str, bytes] = {}


@pytest.fixture
def hostile(request, tmp_path) -> Callable[[Case], Path]:
    """Factory: the damaged copy of a case's source file, alone in a fresh directory.

    The valid source files (`sm_file`, `measurement_file`) are written once
    and their bytes reused.
    """

    def build(case: Case) -> Path:
        if case.source not in _SOURCE_BYTES:
            name = "sm_file" if case.source == "sm" else "measurement_file"
            source = request.getfixturevalue(name)
            _SOURCE_BYTES[case.source] = source.read_bytes()
        folder = tmp_path / "corpus"
        folder.mkdir()
        path = folder / f"{case.id}.mdf"
        path.write_bytes(_SOURCE_BYTES[case.source])
        if case.raw:
            case.damage(path)
        elif case.damage is not None:
            with h5py.File(path, "r+") as f:
                case.damage(f)
        return path

    return build


def test_the_corpus_is_large_and_names_are_unique():
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)
    readers = {reader for case in CASES for reader in case.all_readers()}
    assert readers == set(EVERY)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("case", "reader"), list(_pairs()))
def test_hostile_file_is_refused(hostile, file_state, capsys, case, reader):
    path = hostile(case)
    before, listing = file_state(path), sorted(os.listdir(path.parent))
    message = re.escape(f"{path}: field '{case.field}': ") + case.pattern
    if reader == "info":
        code = main(["info", str(path)])
        out, err = capsys.readouterr()
        assert code == 2
        assert out == ""
        assert err.endswith("\n") and err.count("\n") == 1, err
        assert re.match("mpikeras info: error: " + message, err), err
    else:
        with pytest.raises(MDFError, match=message) as info:
            READERS[reader](path)
        assert info.value.path == str(path)
        assert info.value.field == case.field
    assert file_state(path) == before
    assert sorted(os.listdir(path.parent)) == listing


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "case", [c for c in CASES if "kind" not in c.all_readers()], ids=lambda c: c.id
)
def test_mdf_kind_reads_only_version_and_calibration_group(hostile, file_state, case):
    """Damage elsewhere leaves the kind readable: `mdf_kind` looks at nothing else."""
    path = hostile(case)
    before = file_state(path)
    assert mdf_kind(path) == ("calibration" if case.source == "sm" else "measurement")
    assert file_state(path) == before


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "case_id", ["truncated-at-half", "data-compound-of-strings", "size-product-wraps-int64"]
)
def test_info_command_process_prints_one_line_and_exits_2(hostile, file_state, case_id):
    """The installed command, in its own process: one line on stderr, exit status 2."""
    path = hostile(next(c for c in CASES if c.id == case_id))
    before = file_state(path)
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    result = subprocess.run(
        [sys.executable, "-m", "mpikeras.cli.main", "info", str(path)],
        capture_output=True, text=True, timeout=50, env=env,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith(f"mpikeras info: error: {path}: field '")
    assert file_state(path) == before
