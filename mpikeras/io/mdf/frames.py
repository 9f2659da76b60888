"""Blocks of measurement frames, read one block at a time with bounded memory.

`read_measurement` reads every frame at once, which a dynamic measurement of
thousands of frames need not fit. `open_measurement_frames` opens the file,
reads its header (acquisition, layout, background flags) and then reads only
the frames asked for, each block through the size-guarded `read_frames`
(`MPIKERAS_MAX_READ_BYTES`), converted like `read_measurement` converts them:
`dataConversionFactor` applied, Fourier data back in the time domain,
float32 volts. `MeasurementFrames.in_memory` serves a `Measurement` the same
way, so a reconstruction loop works on a file or an object alike.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator

import numpy as np

from mpikeras.io.acquisition import Acquisition
from mpikeras.io.mdf.access import open_reader
from mpikeras.io.mdf.layout import apply_conversion, finite_as, read_frames
from mpikeras.io.mdf.read import measurement_header
from mpikeras.io.measurement import Measurement


@dataclasses.dataclass(frozen=True, eq=False)
class MeasurementFrames:
    """Random access to the frames of a measurement, one block at a time.

    Example:

    >>> with open_measurement_frames("bolus.mdf") as frames:     # doctest: +SKIP
    ...     block = frames.read(frames.foreground_indices[:100])  # (100, J, C, V) volts

    Args:
        acquisition: drive field and receiver of the measurement.
        is_background_frame: bool array, shape (N,), one flag per frame.
        num_periods: periods per frame (J).
        reader: callable mapping file frame indices (int array) to their
            time-domain data, a new float32 array of shape (n, J, C, V),
            volts, which the caller may change.
        source: what is read (the file's path, or "in-memory measurement").
    """

    acquisition: Acquisition
    is_background_frame: np.ndarray
    num_periods: int
    reader: Callable[[np.ndarray], np.ndarray]
    source: str

    @property
    def num_frames(self) -> int:
        """Frames in the file, foreground and background (N)."""
        return int(self.is_background_frame.size)

    @property
    def foreground_indices(self) -> np.ndarray:
        """File indices of the foreground frames, in file order, shape (N_fg,)."""
        return np.flatnonzero(~self.is_background_frame)

    @property
    def background_indices(self) -> np.ndarray:
        """File indices of the background frames, shape (N_bg,)."""
        return np.flatnonzero(self.is_background_frame)

    @property
    def frame_bytes(self) -> int:
        """Bytes of one frame as `read` returns it (float32)."""
        acq = self.acquisition
        return 4 * self.num_periods * acq.num_receive_channels * acq.num_sampling_points

    def read(self, indices: np.ndarray) -> np.ndarray:
        """The frames at `indices` (file order), a new float32 array (n, J, C, V), volts."""
        return self.reader(np.asarray(indices, dtype=np.int64).reshape(-1))

    def background_mean(self, block_frames: int = 256) -> np.ndarray | None:
        """Mean background frame, float64 (J, C, V), read `block_frames` at a time.

        This is the background `Measurement.signal` subtracts (the mean of
        all background frames). `None` when the file has no background frame.
        """
        indices = self.background_indices
        if indices.size == 0:
            return None
        total = None
        for start in range(0, indices.size, max(1, int(block_frames))):
            block = self.read(indices[start : start + block_frames]).sum(axis=0, dtype=np.float64)
            total = block if total is None else total + block
        return total / indices.size

    @classmethod
    def in_memory(cls, measurement: Measurement) -> MeasurementFrames:
        """The frames of a `Measurement` already in memory.

        Example:

        >>> frames = MeasurementFrames.in_memory(measurement)   # doctest: +SKIP

        Args:
            measurement: the measurement.

        Returns:
            `MeasurementFrames` reading from `measurement.data`.
        """
        data = measurement.data

        def reader(indices: np.ndarray) -> np.ndarray:
            return np.array(data[indices], dtype=np.float32)  # a copy, never a view

        return cls(
            acquisition=measurement.acquisition,
            is_background_frame=measurement.is_background_frame,
            num_periods=int(data.shape[1]),
            reader=reader,
            source="in-memory measurement",
        )


@contextlib.contextmanager
def open_measurement_frames(path: str | os.PathLike) -> Iterator[MeasurementFrames]:
    """Open a measurement MDF file for reading its frames block by block.

    Nothing but the header is read on opening; each `read` reads one
    hyperslab of frames, refused before reading when it declares more than
    `MPIKERAS_MAX_READ_BYTES` (or half the available memory).

    Example:

    >>> with open_measurement_frames("bolus.mdf") as frames:   # doctest: +SKIP
    ...     frames.num_frames, frames.read([0, 1]).shape
    (2010, (2, 1, 3, 1632))

    Args:
        path: the measurement file (MDF v2, time or Fourier domain).

    Returns:
        A context manager yielding `MeasurementFrames`; the file is closed
        when the block ends.

    Raises:
        MDFError: naming the file and field, for a calibration file, a file
            whose frames are all background, or damaged data.
    """
    with open_reader(path) as r:
        acquisition, layout, background = measurement_header(r)

        def reader(indices: np.ndarray) -> np.ndarray:
            bad = indices[(indices < 0) | (indices >= layout.num_frames)]
            if bad.size:
                raise IndexError(
                    f"{r.path}: frame {int(bad[0])} does not exist; the file has "
                    f"{layout.num_frames} frames (0..{layout.num_frames - 1})"
                )
            frames = read_frames(r, layout, indices)
            frames = apply_conversion(r, frames, layout.fourier, acquisition.num_sampling_points)
            if layout.fourier:
                frames = np.fft.irfft(frames, n=acquisition.num_sampling_points, axis=-1)
            return finite_as(r, frames, np.float32, "the measurement data")

        yield MeasurementFrames(
            acquisition=acquisition,
            is_background_frame=background,
            num_periods=layout.num_periods,
            reader=reader,
            source=str(r.path),
        )
