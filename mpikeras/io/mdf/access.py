"""Validated access to an open MDF file: every problem is an `MDFError` naming the field.

`open_mdf` checks that a path is a readable HDF5 file; `Reader` reads typed
values (scalars, flags, strings, arrays) and reports what is missing,
damaged or of the wrong type or shape; `open_reader` opens an MDF v2 file
for reading its data; `is_calibration` tells whether it is a system matrix.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mpikeras._system import available_memory_bytes
from mpikeras.errors import MDFError
from mpikeras.io.mdf.schema import DATA

# Errors h5py raises on damaged files (HDF5 errors surface as OSError, KeyError,
# RuntimeError or ValueError depending on where the library fails).
H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError)
_COMPLEX_FIELD_NAMES = (("r", "i"), ("real", "imag"), ("re", "im"))
#: Environment variable that caps the bytes one dataset may declare (default: half
#: the memory available when it is read, which leaves room for one converted copy).
MAX_READ_BYTES_ENV = "MPIKERAS_MAX_READ_BYTES"


def read_limit_bytes() -> int:
    """The most bytes one dataset may declare before it is refused unread.

    `MPIKERAS_MAX_READ_BYTES` if set; otherwise half of the memory available
    now (Linux `MemAvailable`, else half the physical memory).
    """
    if os.environ.get(MAX_READ_BYTES_ENV):
        return int(float(os.environ[MAX_READ_BYTES_ENV]))
    return available_memory_bytes() // 2


class Reader:
    """Typed, validated access to the datasets of one open MDF file."""

    def __init__(self, path: Path, f: h5py.File) -> None:
        self.path = path
        self.f = f

    def error(
        self, field: str, problem: str, *, expected: Any = None, actual: Any = None
    ) -> MDFError:
        """The `MDFError` for `field` of this file (to raise)."""
        return MDFError(self.path, field=field, problem=problem, expected=expected, actual=actual)

    def has(self, field: str) -> bool:
        try:
            return field in self.f
        except H5_ERRORS as exc:
            raise self.error(field, f"unreadable, the file may be damaged ({exc})") from None

    def _get(self, field: str) -> h5py.Group | h5py.Dataset:
        try:
            return self.f[field]
        except H5_ERRORS as exc:
            raise self.error(field, f"unreadable, the file may be damaged ({exc})") from None

    def group(self, field: str) -> bool:
        """Whether the group `field` exists; an error if something else is there."""
        if not self.has(field):
            return False
        obj = self._get(field)
        if not isinstance(obj, h5py.Group):
            raise self.error(field, "not a group", expected="an HDF5 group", actual=_kind_of(obj))
        return True

    def dataset(self, field: str) -> h5py.Dataset:
        """The dataset at `field`, naming the first missing group if any."""
        parts = field.strip("/").split("/")
        for depth in range(1, len(parts)):
            group = "/" + "/".join(parts[:depth])
            if not self.group(group):
                raise self.error(
                    group, "missing group", expected="the group MDF v2 requires", actual="nothing"
                )
        if not self.has(field):
            raise self.error(
                field, "missing dataset", expected="the dataset MDF v2 requires", actual="nothing"
            )
        obj = self._get(field)
        if not isinstance(obj, h5py.Dataset):
            raise self.error(
                field, "not a dataset", expected="an HDF5 dataset", actual=_kind_of(obj)
            )
        return obj

    def shape(self, field: str, ds: h5py.Dataset) -> tuple[int, ...]:
        """The shape of `ds`; an error for a null dataspace (`h5py.Empty`), which holds nothing."""
        if ds.shape is None:
            raise self.error(
                field, "empty dataset (null dataspace)", expected="a value", actual="no value"
            )
        return tuple(int(n) for n in ds.shape)

    def check_fits(self, field: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        """Refuse, before reading, a selection of `field` larger than `read_limit_bytes`."""
        declared = math.prod(shape) * np.dtype(dtype).itemsize
        limit = read_limit_bytes()
        if declared > limit:
            raise self.error(
                field,
                "declares more data than memory allows (checked before reading)",
                expected=f"at most {limit / 1e9:.3g} GB ({MAX_READ_BYTES_ENV} or half the "
                "available memory)",
                actual=f"shape {shape} of {np.dtype(dtype)}, {declared / 1e9:.3g} GB",
            )

    def read(self, field: str) -> np.ndarray:
        """The whole dataset at `field`."""
        ds = self.dataset(field)
        shape = self.shape(field, ds)
        self.check_fits(field, shape, ds.dtype)
        try:
            return np.asarray(ds[()])
        except MemoryError:
            raise self.error(field, "too large to read into memory", actual=shape) from None
        except H5_ERRORS as exc:
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
                field,
                "wrong type or shape",
                expected="a numeric scalar",
                actual=f"{ds.dtype} {shape}",
            )
        value = self.read(field)
        if value.dtype.kind not in ("i", "u", "f", "b") or value.size != 1:
            raise self.error(
                field,
                "wrong type or shape",
                expected="a numeric scalar",
                actual=f"{value.dtype} {value.shape}",
            )
        if kind == "i" and value.dtype.kind == "f":
            raise self.error(field, "wrong dtype", expected="an integer", actual=str(value.dtype))
        value = value.reshape(()).item()
        if not np.isfinite(value):
            raise self.error(field, "not finite", expected="a finite number", actual=value)
        return int(value) if kind == "i" else float(value)

    def flag(self, field: str, default: bool | None = None) -> bool:
        value = self.number(field, "i", None if default is None else int(default))
        if value not in (0, 1):
            raise self.error(field, "not a flag", expected="0 or 1", actual=value)
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
        raise self.error(field, "wrong dtype", expected="a string", actual=actual)

    def array(
        self, field: str, shape: tuple[int, ...] | None = None, finite: bool = True
    ) -> np.ndarray:
        """A numeric (or complex) array, optionally of `shape` and checked finite."""
        if shape is not None:  # checked before reading: the dataset may be huge
            stored = self.shape(field, self.dataset(field))
            if math.prod(stored) != math.prod(shape):
                raise self.error(field, "wrong shape", expected=shape, actual=stored)
        value = self.read(field)
        if value.dtype.kind not in ("i", "u", "f", "c", "V", "b"):
            raise self.error(field, "wrong dtype", expected="numbers", actual=str(value.dtype))
        if value.dtype.kind == "V":
            value = self.compound_to_complex(field, value)
        if shape is not None and value.size != int(np.prod(shape)):
            raise self.error(field, "wrong shape", expected=shape, actual=value.shape)
        if finite and value.dtype.kind in ("f", "c") and not np.isfinite(value).all():
            bad = int((~np.isfinite(value)).sum())
            raise self.error(
                field, "not finite", expected="finite numbers", actual=f"{bad} NaN or Inf values"
            )
        return value if shape is None else value.reshape(shape)

    def compound_to_complex(self, field: str, value: np.ndarray) -> np.ndarray:
        names = complex_fields(value.dtype)
        if names is None:
            raise self.error(
                field,
                "unsupported compound dtype",
                expected="complex {r, i}",
                actual=str(value.dtype),
            )
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


def complex_fields(dtype: np.dtype) -> tuple[str, str] | None:
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


def open_mdf(path: str | os.PathLike) -> tuple[Path, h5py.File]:
    """`path` as a `Path` and the HDF5 file open for reading; an error if it is no HDF5 file."""
    path = Path(path)
    not_a_file = "an MDF (HDF5) file"
    try:
        if not path.exists():
            raise MDFError(
                path,
                field="/",
                problem="file does not exist",
                expected=not_a_file,
                actual="no such file",
            )
        if path.is_dir():
            raise MDFError(
                path, field="/", problem="is a directory", expected=not_a_file, actual="a directory"
            )
        size = path.stat().st_size
        if size == 0:
            raise MDFError(
                path, field="/", problem="file is empty", expected=not_a_file, actual="0 bytes"
            )
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        problem = f"cannot read the file ({exc.strerror or exc})"
        raise MDFError(path, field="/", problem=problem) from None
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError:
        is_hdf5 = False
    if not is_hdf5:
        raise MDFError(
            path,
            field="/",
            problem="not an HDF5 file",
            expected="the HDF5 signature b'\\x89HDF\\r\\n\\x1a\\n'",
            actual=head,
        )
    try:
        f = h5py.File(path, "r")
    except H5_ERRORS as exc:
        problem = f"truncated or corrupted HDF5 file ({exc})"
        raise MDFError(path, field="/", problem=problem) from None
    return path, f


@contextlib.contextmanager
def open_reader(path: str | os.PathLike) -> Iterator[Reader]:
    """A `Reader` of the MDF v2 file at `path` (version checked), for reading data.

    Overflow to Inf or NaN (huge values times `dataConversionFactor`, ...)
    is refused by `layout.finite_as` on the result, so numpy's warnings are
    muted inside; data too large for this machine's memory is reported as an
    `MDFError`.
    """
    path, f = open_mdf(path)
    with f:
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                r = Reader(path, f)
                check_version(r)
                yield r
        except MemoryError:
            raise MDFError(path, field=DATA, problem="too large to read into memory") from None


def check_version(r: Reader) -> None:
    """Refuse a file whose `/version` is not MDF 2.x."""
    version = r.string("/version")
    if not version.startswith("2."):
        raise r.error("/version", "unsupported MDF version", expected="2.x", actual=repr(version))


def is_calibration(r: Reader) -> bool:
    """Whether the file is a system matrix: `/calibration/method` exists (MDF v2)."""
    return r.group("/calibration") and r.has("/calibration/method")
