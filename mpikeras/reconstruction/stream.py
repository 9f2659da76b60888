"""Reconstruction of frame streams: every frame (or block average) of a long measurement.

A 2D OpenMPIData frame takes one drive-field period, 652.8 us, so a scanner
delivers about 1,530 frames per second and a dynamic measurement runs to
thousands of frames. `reconstruct_stream` reads the measurement a block of
frames at a time (never the whole file: each block goes through the
size-guarded MDF reader), background-corrects and period-averages each frame
as `Measurement.signal` does (the mean of the background frames is
subtracted), optionally averages blocks of `average` consecutive frames, and
hands each block to a frame reconstructor:

- classic: `tikhonov_operator` (one matrix product per block, the fast
  choice) or `kaczmarz_solver` (the paper's Kaczmarz, equal to `reconstruct`
  frame by frame), both in `mpikeras.reconstruction.solvers`;
- learned: `mpikeras.export.reconstructor.load_learned_reconstructor`.

The result (`StreamResult`) holds the images, which foreground frames each
image averages, and the throughput against the scanner's frame rate.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from mpikeras.errors import PreprocessingError
from mpikeras.io.acquisition import Acquisition
from mpikeras.io.mdf.frames import MeasurementFrames, open_measurement_frames
from mpikeras.io.measurement import Measurement

#: Frames per block by default: 256 frames of 3 x 1632 float32 samples are 5 MB.
DEFAULT_CHUNK_FRAMES = 256


class FrameReconstructor(Protocol):
    """What `reconstruct_stream` needs of a reconstructor (classic or learned)."""

    name: str
    image_shape: tuple[int, ...]

    def check(self, acquisition: Acquisition) -> None: ...

    def __call__(self, signals: np.ndarray, acquisition: Acquisition) -> np.ndarray: ...


@dataclasses.dataclass(frozen=True, eq=False)
class StreamResult:
    """Images of a frame stream, which frames each one shows, and how fast they came.

    Example:

    >>> result = reconstruct_stream("bolus.mdf", tikhonov_operator(sm))   # doctest: +SKIP
    >>> result.images.shape, round(result.realtime_factor)               # doctest: +SKIP
    ((1530, 19, 19), 14)

    Args:
        images: float array (F', Ny, Nx) for a grid of one z slice, else
            (F', Nz, Ny, Nx); delta-sample units (see `reconstruct`).
        frame_indices: int array (F', average): the foreground frames
            (0-based, counting foreground frames only) each image averages.
        method: the reconstructor's name ("tikhonov", "kaczmarz", "learned").
        seconds: wall time of reading and reconstructing every block, s.
        cpu_seconds: CPU time of this process meanwhile (all its threads), s:
            on a shared machine the measure of the work that load does not
            inflate.
        frame_duration_s: scan time of one frame (periods x averages x
            period), s; 652.8 us for the 2D OpenMPIData sequence.
        chunk_frames: measured frames read per block.
        max_block_bytes: the largest block of frames held at once, bytes.
    """

    images: np.ndarray
    frame_indices: np.ndarray
    method: str
    seconds: float
    cpu_seconds: float
    frame_duration_s: float
    chunk_frames: int
    max_block_bytes: int

    @property
    def measured_frames(self) -> int:
        """Measured frames reconstructed (images x average)."""
        return int(self.frame_indices.size)

    @property
    def frames_per_second(self) -> float:
        """Measured frames reconstructed per second of wall time."""
        return self.measured_frames / self.seconds if self.seconds > 0 else float("inf")

    @property
    def frames_per_cpu_second(self) -> float:
        """Measured frames reconstructed per second of CPU time (all threads)."""
        return self.measured_frames / self.cpu_seconds if self.cpu_seconds > 0 else float("inf")

    @property
    def scanner_frames_per_second(self) -> float:
        """Frames the scanner measures per second, `1 / frame_duration_s`."""
        return 1.0 / self.frame_duration_s

    @property
    def realtime_factor(self) -> float:
        """`frames_per_second` over the scanner's frame rate (> 1: faster than measured)."""
        return self.frames_per_second * self.frame_duration_s


def frame_duration_s(acquisition: Acquisition, num_periods: int = 1) -> float:
    """Scan time of one frame: periods x averages x `acquisition.period_s`.

    Example:

    >>> from mpikeras.io import Acquisition
    >>> round(frame_duration_s(Acquisition()) * 1e6, 1)   # microseconds
    652.8

    Args:
        acquisition: the drive field and receiver.
        num_periods: periods per frame (J). Defaults to 1.

    Returns:
        Seconds.
    """
    return num_periods * max(1, int(acquisition.num_averages)) * acquisition.period_s


def reconstruct_stream(
    measurement: str | os.PathLike | Measurement | MeasurementFrames,
    reconstructor: FrameReconstructor,
    frames: slice | None = None,
    average: int = 1,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    progress: Callable[[int, int], None] | None = None,
    blas_threads: int | None = 1,
) -> StreamResult:
    """Reconstruct every frame (or every block average) of a measurement, block by block.

    At most `chunk_frames` frames are read and held at once, so memory does
    not grow with the measurement; an average of more frames than that is
    summed over several blocks. A final block of fewer than `average` frames
    is left out.

    Example:

    >>> from mpikeras.reconstruction.solvers import tikhonov_operator
    >>> from mpikeras.simulation import preset, simulate_system_matrix
    >>> from mpikeras.simulation.dynamic import simulate_bolus
    >>> config = preset("openmpi-2d-19")
    >>> bolus = simulate_bolus(config, num_frames=40, segment_m=1e-3)
    >>> operator = tikhonov_operator(simulate_system_matrix(config))
    >>> result = reconstruct_stream(bolus.measurement, operator, average=4, chunk_frames=16)
    >>> result.images.shape, result.frame_indices[1].tolist()
    ((10, 19, 19), [4, 5, 6, 7])

    Args:
        measurement: a measurement MDF file (read block by block), a
            `Measurement`, or `MeasurementFrames`.
        reconstructor: a classic solver (`tikhonov_operator`,
            `kaczmarz_solver`) or a `LearnedReconstructor`.
        frames: which foreground frames, a slice (step 1) over the foreground
            frames in file order; all by default.
        average: average this many consecutive frames into one image
            (before reconstruction). Defaults to 1 (every frame).
        chunk_frames: frames read per block. Defaults to 256.
        progress: called as `progress(done_frames, total_frames)` after
            each block.
        blas_threads: BLAS threads while the stream runs, or `None` to leave
            BLAS as it is. Defaults to 1: one block's product is too small
            to gain from threads, and on a shared machine threads that wait
            for each other cost several times the work (measured on 2
            cores: 11,000 against 3,200 frames/s). Applied with
            `threadpoolctl` where it is installed (keras-tuner[bayesian]
            brings it), ignored otherwise.

    Returns:
        The `StreamResult`.

    Raises:
        PreprocessingError: for an empty or stepped frame selection, an
            `average` or `chunk_frames` below 1 or an `average` beyond the
            selected frames, or a measurement that does not fit the
            reconstructor (acquisition, channels, samples).
        MDFError: for an unreadable file, or a block larger than
            `MPIKERAS_MAX_READ_BYTES`.
    """
    with contextlib.ExitStack() as stack:
        if isinstance(measurement, MeasurementFrames):
            source = measurement
        elif isinstance(measurement, Measurement):
            source = MeasurementFrames.in_memory(measurement)
        else:
            source = stack.enter_context(open_measurement_frames(measurement))
        stack.enter_context(_blas_limit(blas_threads))
        return _stream(source, reconstructor, frames, average, chunk_frames, progress)


def _stream(
    source: MeasurementFrames,
    reconstructor: FrameReconstructor,
    frames: slice | None,
    average: int,
    chunk_frames: int,
    progress: Callable[[int, int], None] | None,
) -> StreamResult:
    acquisition = source.acquisition
    reconstructor.check(acquisition)
    foreground = source.foreground_indices
    selected = _select(frames, foreground.size)
    average, chunk_frames = int(average), int(chunk_frames)
    if average < 1 or chunk_frames < 1:
        raise PreprocessingError(
            f"reconstruct_stream: average and chunk_frames must be at least 1, received "
            f"average={average}, chunk_frames={chunk_frames}"
        )
    if average > selected.size:
        raise PreprocessingError(
            f"reconstruct_stream: average={average} exceeds the {selected.size} selected frames"
        )
    num_images = selected.size // average
    used = selected[: num_images * average]
    dtype = np.dtype(getattr(reconstructor, "dtype", np.float64))
    # Averages are summed in float64 (a mean of thousands of float32 frames loses digits).
    sum_dtype = np.float64 if average > 1 else dtype

    start_s, start_cpu_s = time.perf_counter(), time.process_time()
    background = source.background_mean(chunk_frames)
    if background is not None:
        background = background.mean(axis=0).astype(dtype)  # (C, V), periods averaged
    images = None
    max_block_bytes = 0
    pending = None  # (group, running sum) of an average that the next block continues
    for start in range(0, used.size, chunk_frames):
        indices = used[start : start + chunk_frames]
        data = source.read(foreground[indices])  # (n, J, C, V) float32 volts
        max_block_bytes = max(max_block_bytes, data.nbytes)
        signals = data.mean(axis=1, dtype=sum_dtype) if data.shape[1] > 1 else data[:, 0]
        signals = signals.astype(sum_dtype, copy=False)
        groups, signals, pending = _block_means(signals, start, average, pending)
        if groups.size:
            signals = signals.astype(dtype, copy=False)  # a fresh array: ours to change
            if background is not None:
                np.subtract(signals, background, out=signals)
            out = reconstructor(signals, acquisition)
            if images is None:
                images = np.empty((num_images, *out.shape[1:]), dtype=out.dtype)
            images[groups] = out
        if progress is not None:
            progress(start + indices.size, used.size)
    seconds = time.perf_counter() - start_s
    cpu_seconds = time.process_time() - start_cpu_s
    if images.shape[1] == 1:  # one z slice: (F', Ny, Nx)
        images = images[:, 0]
    return StreamResult(
        images=images,
        frame_indices=used.reshape(num_images, average),
        method=reconstructor.name,
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        frame_duration_s=frame_duration_s(acquisition, source.num_periods),
        chunk_frames=chunk_frames,
        max_block_bytes=max_block_bytes,
    )


def _blas_limit(threads: int | None):
    """A context limiting BLAS to `threads` (nothing for `None` or without threadpoolctl)."""
    if threads is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=int(threads), user_api="blas")


def _block_means(signals: np.ndarray, start: int, average: int, pending):
    """The averages of `average` frames that end in this block of `signals`.

    `signals` are frames `start`, `start + 1`, ... of the selection; an
    average that begins in an earlier block arrives as `pending` (its group
    and running sum), one that continues into the next block leaves as the
    new `pending`.

    Returns:
        (groups (int array), their means (g, C, V), the new pending or None).
    """
    if average == 1:
        return np.arange(start, start + signals.shape[0]), signals, None
    positions = np.arange(start, start + signals.shape[0])
    starts = np.unique(np.r_[0, np.flatnonzero(positions % average == 0)])
    sums = np.add.reduceat(signals, starts, axis=0)
    groups = positions[starts] // average
    if pending is not None and groups[0] == pending[0]:
        sums[0] += pending[1]
    ends = np.r_[starts[1:], signals.shape[0]] + start
    pending = None
    if ends[-1] < (groups[-1] + 1) * average:  # the last average goes on in the next block
        pending = (groups[-1], sums[-1])
        groups, sums = groups[:-1], sums[:-1]
    return groups, sums / average, pending


def _select(frames: slice | None, num_foreground: int) -> np.ndarray:
    """Foreground positions of `frames` (a slice of step 1), refused when empty."""
    frames = slice(None) if frames is None else frames
    if not isinstance(frames, slice) or frames.step not in (None, 1):
        raise PreprocessingError(
            f"reconstruct_stream: frames must be a slice of step 1 over the foreground "
            f"frames, received {frames!r}"
        )
    selected = np.arange(num_foreground)[frames]
    if selected.size == 0:
        raise PreprocessingError(
            f"reconstruct_stream: frames {frames.start}:{frames.stop} select no frame; the "
            f"measurement has {num_foreground} foreground frames (0..{num_foreground - 1})"
        )
    return selected
