"""From a system matrix to the network's input: band-passed voxel time signals."""

from __future__ import annotations

import dataclasses

import numpy as np

from mpikeras.errors import PreprocessingError
from mpikeras.io.grid import Grid
from mpikeras.io.system_matrix import SystemMatrix
from mpikeras.preprocessing.bandpass import band_mask
from mpikeras.preprocessing.normalization import Normalization

#: Volume unit of volume-normalised signals: 1 mm^3.
MM3 = 1e-9


@dataclasses.dataclass(frozen=True, eq=False)
class VoxelSignals:
    """Time signals of the voxels of one z slice, on their (Ny, Nx) grid.

    Args:
        signals: float32, shape (Ny, Nx, V, C): one drive-field period per
            voxel and receive channel.
        grid: the slice's grid (Nz = 1).
        unit: unit of `signals` ("V/mm^3" when divided by the delta-sample
            volume, "1" once normalised).
    """

    signals: np.ndarray
    grid: Grid
    unit: str = "V/mm^3"

    @property
    def shape_yx(self) -> tuple[int, int]:
        return self.signals.shape[:2]

    @property
    def num_voxels(self) -> int:
        return self.signals.shape[0] * self.signals.shape[1]

    @property
    def flat(self) -> np.ndarray:
        """Signals as (Ny * Nx, V, C), voxels in MDF order (x fastest)."""
        return self.signals.reshape(self.num_voxels, *self.signals.shape[2:])

    def normalized(self, normalization: Normalization) -> VoxelSignals:
        return dataclasses.replace(self, signals=normalization(self.signals), unit="1")

    def subsample(self, step_x: int, step_y: int, offset_x: int = 0, offset_y: int = 0):
        """Every `step`-th voxel in x and y (see `mpikeras.io.Grid.subsample`).

        Raises:
            PreprocessingError: if a step or offset does not fit the grid.
        """
        ny, nx = self.shape_yx
        for name, step, offset, n in (("x", step_x, offset_x, nx), ("y", step_y, offset_y, ny)):
            if step < 1 or step > n:
                raise PreprocessingError(
                    f"step_{name}={step} must be in 1..{n} (grid has {n} voxels in {name})"
                )
            if not 0 <= offset < n:
                raise PreprocessingError(f"offset_{name}={offset} must be in 0..{n - 1}")
        return VoxelSignals(
            signals=np.ascontiguousarray(self.signals[offset_y::step_y, offset_x::step_x]),
            grid=self.grid.subsample(step_x, step_y, offset_x, offset_y),
            unit=self.unit,
        )


def voxel_signals(
    sm: SystemMatrix,
    band_hz: tuple[float, float] = (80e3, 600e3),
    channels: tuple[int, ...] = (0, 1),
    z_index: int | None = None,
    per_unit_volume: bool = True,
) -> VoxelSignals:
    """Band-passed time signals of one z slice of a system matrix.

    Band-pass 80 to 600 kHz (paper section II) as an ideal filter on the
    rfft bins, then irfft of one period. Dividing by the delta-sample volume
    (`/calibration/deltaSampleSize`) puts system matrices measured with
    different samples (2 x 2 x 1 mm for the 19 grid, 1 x 1 x 0.5 mm for the
    37 grid) on one scale, so a normalisation fitted on one applies to the
    other.

    Example:

    >>> vs = voxel_signals(sm)                     # doctest: +SKIP
    >>> vs.signals.shape                           # (Ny, Nx, V, C)  # doctest: +SKIP
    (19, 19, 1632, 2)

    Args:
        sm: the system matrix.
        band_hz: band-pass limits.
        channels: receive channels to keep.
        z_index: the z slice; the central one (Nz // 2) by default.
        per_unit_volume: divide by the delta-sample volume in mm^3.

    Returns:
        `VoxelSignals` for the slice.

    Raises:
        PreprocessingError: for a band outside the receiver's range or a
            channel the file does not have.
    """
    num_channels = sm.num_channels
    bad = [c for c in channels if not 0 <= c < num_channels]
    if bad or not channels:
        raise PreprocessingError(
            f"channels {list(channels)}: the system matrix has receive channels "
            f"0..{num_channels - 1}"
        )
    nz = sm.grid.size[2]
    z_index = nz // 2 if z_index is None else z_index
    if not 0 <= z_index < nz:
        raise PreprocessingError(f"z_index={z_index} must be in 0..{nz - 1}")
    mask = band_mask(sm.frequencies_hz, band_hz)
    spectra = sm.spectra[list(channels), :, z_index] * mask[None, :, None, None]  # (C, K, Ny, Nx)
    signals = np.fft.irfft(spectra, n=sm.acquisition.num_sampling_points, axis=1)
    signals = np.transpose(signals, (2, 3, 1, 0))  # (Ny, Nx, V, C)
    unit = sm.acquisition.unit
    if per_unit_volume:
        signals = signals / (sm.delta_sample_volume_m3 / MM3)
        unit += "/mm^3"
    return VoxelSignals(
        np.ascontiguousarray(signals, dtype=np.float32), sm.grid.z_slice(z_index), unit
    )
