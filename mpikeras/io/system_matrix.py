"""The system matrix: per-voxel spectra of a calibration scan."""

from __future__ import annotations

import dataclasses

import numpy as np

from mpikeras.io.acquisition import Acquisition
from mpikeras.io.grid import Grid
from mpikeras.io.metadata import Metadata


@dataclasses.dataclass(frozen=True, eq=False)
class SystemMatrix:
    """A background-corrected system matrix in the frequency domain.

    `spectra[c, k, z, y, x]` is the unnormalised rfft of one drive-field
    period of receive channel c for a delta sample at voxel (x, y, z), as in
    MDF `/measurement/data` after background correction.

    Example:

    >>> sm = mpikeras.io.read_system_matrix("calibration.mdf")  # doctest: +SKIP
    >>> signals = sm.time_signals()          # (Nz, Ny, Nx, V, C), volts  # doctest: +SKIP
    >>> S = sm.matrix(channels=(0, 1))       # (2 * K, Nx * Ny * Nz), complex  # doctest: +SKIP

    Args:
        spectra: complex array, shape (C, K, Nz, Ny, Nx).
        grid: the calibration grid.
        acquisition: drive field and receiver.
        background: background frames as complex spectra, shape (C, K, E),
            kept for SNR estimation (E may be 0).
        delta_sample_size_m: size of the delta sample along x, y, z
            (`/calibration/deltaSampleSize`), or `None`.
        snr: signal-to-noise ratio per channel and frequency, shape (C, K)
            (`/calibration/snr`), or `None`.
        metadata: descriptive fields.
        method: `/calibration/method` ("robot", "simulation", ...).
        frame_positions: where the scan interleaved its background frames:
            the acquisition positions (0-based, among all O + E frames) of
            the foreground frames in voxel order (x fastest, shape (O,)) and
            of the background frames (shape (E,)), as MDF's
            `framePermutation` records them; `None` when the background
            frames followed the scan. Selecting voxels keeps the positions
            of the kept ones.
    """

    spectra: np.ndarray
    grid: Grid
    acquisition: Acquisition
    background: np.ndarray
    delta_sample_size_m: tuple[float, float, float] | None = None
    snr: np.ndarray | None = None
    metadata: Metadata = dataclasses.field(default_factory=Metadata)
    method: str = "simulation"
    frame_positions: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def num_channels(self) -> int:
        return self.spectra.shape[0]

    @property
    def frequencies_hz(self) -> np.ndarray:
        return self.acquisition.frequencies_hz

    @property
    def delta_sample_volume_m3(self) -> float:
        """Volume of the delta sample, falling back to the voxel volume."""
        size = self.delta_sample_size_m or self.grid.voxel_size_m
        return float(np.prod(size))

    def time_signals(self, channels: tuple[int, ...] | None = None) -> np.ndarray:
        """Voxel signals in the time domain (irfft of one period).

        Args:
            channels: receive channels to return; all by default.

        Returns:
            float32 array, shape (Nz, Ny, Nx, V, C'), in the unit of the data.
        """
        spectra = self.spectra if channels is None else self.spectra[list(channels)]
        signals = np.fft.irfft(spectra, n=self.acquisition.num_sampling_points, axis=1)
        # (C, V, Nz, Ny, Nx) -> (Nz, Ny, Nx, V, C)
        return np.ascontiguousarray(np.moveaxis(signals, (0, 1), (4, 3))).astype(np.float32)

    def matrix(
        self,
        channels: tuple[int, ...] | None = None,
        frequency_mask: np.ndarray | None = None,
    ) -> np.ndarray:
        """The frequency-domain matrix S for classic reconstruction.

        Rows are (channel, frequency) pairs, channel-major; columns are voxels
        in MDF order (x fastest).

        Args:
            channels: receive channels; all by default.
            frequency_mask: boolean mask of shape (C', K) selecting rows, or
                `None` for all.

        Returns:
            complex array, shape (rows, Nx * Ny * Nz).
        """
        spectra = self.spectra if channels is None else self.spectra[list(channels)]
        c, k = spectra.shape[:2]
        rows = spectra.reshape(c * k, -1)
        if frequency_mask is not None:
            mask = np.asarray(frequency_mask, dtype=bool)
            if mask.shape != (c, k):
                raise ValueError(
                    f"SystemMatrix.matrix: frequency_mask must have shape (channels, "
                    f"frequencies) = {(c, k)}; received {mask.shape}"
                )
            rows = rows[mask.reshape(c * k)]
        return rows

    def z_slice(self, index: int) -> SystemMatrix:
        """The system matrix of z slice `index` (0-based)."""
        grid = self.grid.z_slice(index)
        return dataclasses.replace(
            self,
            spectra=self.spectra[:, :, index : index + 1],
            grid=grid,
            frame_positions=self._kept_positions(lambda p: p[index : index + 1]),
        )

    def central_slice(self) -> SystemMatrix:
        """The system matrix of the central z slice (slice Nz // 2)."""
        return self.z_slice(self.grid.size[2] // 2)

    def subsample(
        self, step_x: int, step_y: int, offset_x: int = 0, offset_y: int = 0
    ) -> SystemMatrix:
        """The system matrix on every `step`-th voxel in x and y (see `Grid.subsample`)."""
        return dataclasses.replace(
            self,
            spectra=self.spectra[..., offset_y::step_y, offset_x::step_x],
            grid=self.grid.subsample(step_x, step_y, offset_x, offset_y),
            frame_positions=self._kept_positions(
                lambda p: p[:, offset_y::step_y, offset_x::step_x]
            ),
        )

    def _kept_positions(self, select) -> tuple[np.ndarray, np.ndarray] | None:
        if self.frame_positions is None:
            return None
        foreground, background = self.frame_positions
        kept = select(np.asarray(foreground).reshape(self.spectra.shape[2:]))
        return np.ascontiguousarray(kept).reshape(-1), background

    def estimate_snr(self) -> np.ndarray:
        """SNR per channel and frequency from the background frames.

        MPIFiles' estimate: mean |S - mean BG| over voxels divided by mean
        |BG - mean BG| over background frames (the foreground here is already
        background-corrected).

        Returns:
            float array, shape (C, K); `inf` where no background frames exist.
        """
        c, k = self.spectra.shape[:2]
        signal = np.abs(self.spectra.reshape(c, k, -1)).mean(axis=-1)
        if self.background.shape[-1] < 2:
            return np.full((c, k), np.inf)
        bg = self.background - self.background.mean(axis=-1, keepdims=True)
        noise = np.abs(bg).mean(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(noise > 0, signal / noise, np.inf)
