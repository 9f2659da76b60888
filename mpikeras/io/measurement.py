"""A measurement: time-domain frames of a phantom or subject."""

from __future__ import annotations

import dataclasses

import numpy as np

from mpikeras.io.acquisition import Acquisition
from mpikeras.io.metadata import Metadata


@dataclasses.dataclass(frozen=True, eq=False)
class Measurement:
    """Time-domain measurement data, MDF `/measurement/data` (N x J x C x V).

    Example:

    >>> meas = mpikeras.io.read_measurement("phantom.mdf")  # doctest: +SKIP
    >>> u = meas.spectra()            # (C, K), background-corrected mean frame  # doctest: +SKIP

    Args:
        data: float array, shape (N, J, C, V): frames, periods per frame,
            receive channels, samples per period.
        is_background_frame: bool array, shape (N,).
        acquisition: drive field and receiver.
        metadata: descriptive fields.
        ground_truth: for simulated phantoms, the true concentration in mol/L
            on a grid (shape (Nz, Ny, Nx)) and that grid; `None` otherwise.
    """

    data: np.ndarray
    is_background_frame: np.ndarray
    acquisition: Acquisition
    metadata: Metadata = dataclasses.field(default_factory=Metadata)
    ground_truth: tuple[np.ndarray, object] | None = None

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.ndim != 4:
            raise ValueError(
                "Measurement: data must have shape (N, J, C, V) (frames, periods, channels, "
                f"samples); received shape {data.shape}"
            )
        mask = np.asarray(self.is_background_frame).reshape(-1)
        if mask.size != data.shape[0] or not np.isin(mask, (0, 1)).all():
            raise ValueError(
                "Measurement: is_background_frame must hold one boolean per frame "
                f"({data.shape[0]}); received {mask.size} values, distinct values "
                f"{np.unique(mask)[:5].tolist()}"
            )
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "is_background_frame", mask.astype(bool))

    @property
    def num_frames(self) -> int:
        return self.data.shape[0]

    @property
    def foreground(self) -> np.ndarray:
        """Foreground frames, shape (N_fg, J, C, V)."""
        return self.data[~self.is_background_frame]

    @property
    def background(self) -> np.ndarray:
        """Background frames, shape (N_bg, J, C, V)."""
        return self.data[self.is_background_frame]

    def signal(
        self,
        frames: slice | np.ndarray | None = None,
        average_frames: bool = True,
        average_periods: bool = True,
        background_correction: bool = True,
    ) -> np.ndarray:
        """Foreground signal, optionally averaged and background-corrected.

        Args:
            frames: which foreground frames (an index, a slice or an index
                array into the foreground frames); all by default. A single
                index keeps a frame axis of length 1, so averaging never
                reaches the channel axis.
            average_frames: average the selected frames.
            average_periods: average the J periods of each frame.
            background_correction: subtract the mean background frame (when
                the file has background frames).

        Returns:
            float array: (C, V) when both averages are taken, with leading
            frame and/or period axes otherwise.
        """
        fg = self.foreground
        if frames is not None:
            fg = fg[[frames] if np.ndim(frames) == 0 and not isinstance(frames, slice) else frames]
        fg = np.asarray(fg, dtype=np.float64)
        if background_correction and self.is_background_frame.any():
            fg = fg - self.background.mean(axis=0)
        if average_periods:
            fg = fg.mean(axis=-3)
        if average_frames:
            fg = fg.mean(axis=0)
        return fg

    def spectra(self, **kwargs) -> np.ndarray:
        """rfft of `signal(**kwargs)` along time (unnormalised, like the SM)."""
        return np.fft.rfft(self.signal(**kwargs), axis=-1)
