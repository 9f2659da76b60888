"""The Cartesian calibration grid of a system matrix."""

from __future__ import annotations

import dataclasses
import math

import numpy as np


@dataclasses.dataclass(frozen=True)
class Grid:
    """A regular grid of voxel centres, in MDF `/calibration` terms.

    Voxel centres along an axis with N voxels follow MPIFiles' convention
    `pos_i = centre + (fov / 2) * (-1 + (2 i - 1) / N)`, i = 1..N.
    Voxels are ordered x fastest, then y, then z (`/calibration/order` "xyz"),
    and arrays over the grid are shaped (Nz, Ny, Nx).

    Example:

    >>> grid = Grid(size=(19, 19, 1), fov_m=(0.038, 0.038, 0.001))
    >>> grid.voxel_size_m
    (0.002, 0.002, 0.001)

    Args:
        size: voxels along x, y, z (`/calibration/size`).
        fov_m: field of view along x, y, z in metres (`/calibration/fieldOfView`).
        center_m: centre of the field of view (`/calibration/fieldOfViewCenter`).
    """

    size: tuple[int, int, int]
    fov_m: tuple[float, float, float]
    center_m: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", tuple(int(n) for n in self.size))
        object.__setattr__(self, "fov_m", tuple(float(f) for f in self.fov_m))
        object.__setattr__(self, "center_m", tuple(float(c) for c in self.center_m))
        if len(self.size) != 3 or min(self.size) < 1:
            raise ValueError(f"Grid: size must be 3 positive integers, got {self.size}")
        if len(self.fov_m) != 3 or not all(np.isfinite(f) and f > 0 for f in self.fov_m):
            raise ValueError(f"Grid: fov_m must be 3 positive finite lengths, got {self.fov_m}")
        if len(self.center_m) != 3 or not all(np.isfinite(c) for c in self.center_m):
            raise ValueError(f"Grid: center_m must be 3 finite coordinates, got {self.center_m}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (Nz, Ny, Nx) of data over the grid."""
        nx, ny, nz = self.size
        return (nz, ny, nx)

    @property
    def num_voxels(self) -> int:
        # Exact for any size (numpy's int64 product would wrap around for absurd sizes).
        return math.prod(self.size)

    @property
    def voxel_size_m(self) -> tuple[float, float, float]:
        return tuple(round(f / n, 12) for f, n in zip(self.fov_m, self.size, strict=True))

    def axis_m(self, axis: int) -> np.ndarray:
        """Voxel-centre coordinates along axis 0 (x), 1 (y) or 2 (z), in metres."""
        n = self.size[axis]
        i = np.arange(1, n + 1)
        return self.center_m[axis] + 0.5 * self.fov_m[axis] * (-1.0 + (2 * i - 1) / n)

    def positions_m(self) -> np.ndarray:
        """Voxel centres, shape (Nz, Ny, Nx, 3) with the last axis (x, y, z)."""
        z, y, x = np.meshgrid(self.axis_m(2), self.axis_m(1), self.axis_m(0), indexing="ij")
        return np.stack([x, y, z], axis=-1)

    def z_slice(self, index: int) -> Grid:
        """The one-voxel-thick grid of z slice `index` (0-based)."""
        nx, ny, nz = self.size
        if not 0 <= index < nz:
            raise ValueError(f"Grid.z_slice: index must be in 0..{nz - 1}, got {index}")
        return Grid(
            size=(nx, ny, 1),
            fov_m=(self.fov_m[0], self.fov_m[1], self.fov_m[2] / nz),
            center_m=(self.center_m[0], self.center_m[1], float(self.axis_m(2)[index])),
        )

    def central_slice(self) -> Grid:
        """The z slice through the centre (slice Nz // 2)."""
        return self.z_slice(self.size[2] // 2)

    def subsample(self, step_x: int, step_y: int, offset_x: int = 0, offset_y: int = 0) -> Grid:
        """The grid of every `step`-th voxel starting at `offset` in x and y.

        The new grid keeps the voxel centres it selects, so its field of view
        is `n * step * voxel` and its centre shifts with the offset.

        Raises:
            ValueError: if a step is below 1 or an offset leaves no voxel.
        """
        nx, ny, nz = self.size
        if step_x < 1 or step_y < 1:
            raise ValueError(f"Grid.subsample: steps must be >= 1, got ({step_x}, {step_y})")
        if not (0 <= offset_x < nx and 0 <= offset_y < ny):
            raise ValueError(
                f"Grid.subsample: offsets must be in 0..{nx - 1} (x) and 0..{ny - 1} (y), "
                f"got ({offset_x}, {offset_y})"
            )
        xs = self.axis_m(0)[offset_x::step_x]
        ys = self.axis_m(1)[offset_y::step_y]
        dx, dy, _ = self.voxel_size_m
        return Grid(
            size=(xs.size, ys.size, nz),
            fov_m=(xs.size * step_x * dx, ys.size * step_y * dy, self.fov_m[2]),
            center_m=(float(xs.mean()), float(ys.mean()), self.center_m[2]),
        )
