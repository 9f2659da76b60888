"""The spatial groups of an MDF file: the calibration grid and the simulated ground truth.

`/calibration` gives the system matrix's `Grid` (size, field of view,
centre), the order of the voxels among the foreground frames and the delta
sample; `/_groundTruth` (an mpikeras extension) the concentration a
simulated measurement was made from, on its own grid.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path

import numpy as np

from mpikeras.errors import MDFError
from mpikeras.io.grid import Grid
from mpikeras.io.mdf.access import Reader

_SIZE = "/calibration/size"
_ORDER = "/calibration/order"
_TRUTH = "/_groundTruth/"


def read_grid(r: Reader) -> Grid:
    """The calibration grid: `/calibration/size`, `fieldOfView`, `fieldOfViewCenter`."""
    stored = r.shape(_SIZE, r.dataset(_SIZE))
    if math.prod(stored) != 3:  # checked before reading: the dataset may be huge
        raise r.error(
            _SIZE,
            "wrong shape or type",
            expected="3 positive integers (x, y, z)",
            actual=f"{r.dataset(_SIZE).dtype} of shape {stored}",
        )
    size = r.array(_SIZE)
    if size.dtype.kind not in ("i", "u") or (size < 1).any():
        raise r.error(
            _SIZE,
            "wrong shape or type",
            expected="3 positive integers (x, y, z)",
            actual=f"{size.dtype} {size.tolist()}",
        )
    fov = r.array("/calibration/fieldOfView", shape=(3,))
    if fov.dtype.kind == "c" or (fov <= 0).any():
        raise r.error(
            "/calibration/fieldOfView",
            "out of range",
            expected="3 positive lengths in m",
            actual=fov.tolist(),
        )
    center = np.zeros(3)
    if r.has("/calibration/fieldOfViewCenter"):
        center = r.array("/calibration/fieldOfViewCenter", shape=(3,))
        if center.dtype.kind == "c":
            raise r.error(
                "/calibration/fieldOfViewCenter",
                "wrong dtype",
                expected="3 real numbers in m",
                actual=str(center.dtype),
            )
    return Grid(
        size=tuple(int(s) for s in size.reshape(3)),
        fov_m=tuple(float(v) for v in fov),
        center_m=tuple(float(v) for v in center),
    )


def read_order(r: Reader) -> str:
    """`/calibration/order`: the axes from fastest to slowest among the frames, "xyz" if absent."""
    order = r.string(_ORDER, default="xyz")
    if sorted(order) != ["x", "y", "z"]:
        raise r.error(_ORDER, "not a permutation of 'xyz'", expected="'xyz'", actual=repr(order))
    return order


def check_voxel_count(r: Reader, grid: Grid, num_foreground: int) -> None:
    """Refuse a grid whose voxel count is not the number of foreground frames."""
    if num_foreground != grid.num_voxels:
        raise r.error(
            _SIZE,
            "number of voxels disagrees with the foreground frames of /measurement/data",
            expected=f"{num_foreground} voxels (= foreground frames)",
            actual=f"{grid.num_voxels} ({' x '.join(map(str, grid.size))})",
        )


def read_delta_sample_size(r: Reader) -> tuple[float, float, float] | None:
    """`/calibration/deltaSampleSize` in m, or `None` when the file has none."""
    field = "/calibration/deltaSampleSize"
    if not r.has(field):
        return None
    delta = r.array(field, shape=(3,))
    if delta.dtype.kind == "c" or (delta <= 0).any():
        raise r.error(
            field, "out of range", expected="3 positive lengths in m", actual=delta.tolist()
        )
    return tuple(float(v) for v in delta)


def voxel_sequence(grid: Grid, order: str) -> np.ndarray:
    """Position of each voxel in the foreground frame sequence, shape (Nz, Ny, Nx).

    `order[0]` is the fastest axis (MDF `/calibration/order`, "xyz" by default).
    """
    counts = dict(zip("xyz", grid.size, strict=True))
    slow_first = order[::-1]
    seq = np.arange(grid.num_voxels).reshape([counts[a] for a in slow_first])
    return np.transpose(seq, [slow_first.index(a) for a in "zyx"])


def z_index(path: Path, z_slice: int | str | None, nz: int) -> int | None:
    """The 0-based z index `z_slice` selects ("central" is Nz // 2), `None` for all slices."""
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
            path,
            field=_SIZE,
            problem=f"z_slice does not select one of the {nz} z slices",
            expected=f"None, 'central' or an index in 0..{nz - 1}",
            actual=repr(z_slice),
        )
    return index


def read_ground_truth_grid(r: Reader) -> Grid | None:
    """The grid of `/_groundTruth` (an mpikeras extension), or `None` when absent."""
    g = _TRUTH
    if not r.group("/_groundTruth") or not r.has(g + "size"):
        return None
    size = r.array(g + "size", shape=(3,))
    if size.dtype.kind not in ("i", "u") or (size < 1).any():
        raise r.error(
            g + "size",
            "wrong type",
            expected="3 positive integers (x, y, z)",
            actual=f"{size.dtype} {size.tolist()}",
        )
    fov = r.array(g + "fieldOfView", shape=(3,))
    if fov.dtype.kind == "c" or (fov <= 0).any():
        raise r.error(
            g + "fieldOfView",
            "out of range",
            expected="3 positive lengths in m",
            actual=fov.tolist(),
        )
    center = r.array(g + "fieldOfViewCenter", shape=(3,))
    if center.dtype.kind == "c":
        raise r.error(
            g + "fieldOfViewCenter",
            "wrong dtype",
            expected="3 real numbers in m",
            actual=str(center.dtype),
        )
    return Grid(
        size=tuple(int(v) for v in size),
        fov_m=tuple(float(v) for v in fov),
        center_m=tuple(float(v) for v in center),
    )


def read_ground_truth(r: Reader) -> tuple[np.ndarray, Grid] | None:
    """The simulated concentration (Nz, Ny, Nx) in mol/L and its grid, or `None` when absent."""
    g = _TRUTH
    if not r.group("/_groundTruth") or not r.has(g + "concentration"):
        return None
    conc = r.array(g + "concentration")
    if conc.dtype.kind == "c":
        raise r.error(
            g + "concentration",
            "wrong dtype",
            expected="real numbers in mol/L",
            actual=str(conc.dtype),
        )
    grid = read_ground_truth_grid(r)
    if grid is None:
        raise r.error(
            g + "size", "missing dataset", expected="the grid of the ground truth", actual="nothing"
        )
    if conc.size != grid.num_voxels:
        raise r.error(
            g + "concentration",
            "wrong shape",
            expected=f"{grid.shape} (Nz, Ny, Nx)",
            actual=conc.shape,
        )
    return conc.astype(np.float64).reshape(grid.shape), grid
