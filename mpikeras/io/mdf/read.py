"""Reading MDF v2 files: system matrices, measurements, and what kind a file is.

Layout (h5py view, slowest axis first; MDF specification `MDF.tex`):

- system matrix: `/measurement/data` is J x C x K x (O + E) complex
  (`isFastFrameAxis` = 1, `isFourierTransformed` = 1), foreground frames in
  `/calibration/order` ("xyz": x fastest), background frames flagged in
  `/measurement/isBackgroundFrame`; a file is a system matrix when
  `/calibration/method` exists.
- measurement: `/measurement/data` is N x J x C x V real (time domain).

Complex data is read from an HDF5 compound {r, i} (what MPIFiles.jl writes)
or from a trailing axis of length 2 (what the specification describes).
Every problem is reported as `MDFError` naming the file and the field.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mpikeras.io.acquisition import Acquisition
from mpikeras.io.grid import Grid
from mpikeras.io.mdf.access import Reader, is_calibration, open_mdf, open_reader
from mpikeras.io.mdf.background import acquisition_order, subtract_background
from mpikeras.io.mdf.grids import (
    check_voxel_count,
    read_delta_sample_size,
    read_grid,
    read_ground_truth,
    read_order,
    voxel_sequence,
    z_index,
)
from mpikeras.io.mdf.groups import read_metadata
from mpikeras.io.mdf.layout import Layout, apply_conversion, finite_as, read_frames, read_header
from mpikeras.io.mdf.schema import CALIBRATION_FIELDS, REQUIRED_FIELDS
from mpikeras.io.measurement import Measurement
from mpikeras.io.system_matrix import SystemMatrix


def mdf_kind(path: str | os.PathLike) -> str:
    """'calibration' if the file holds a system matrix, else 'measurement'.

    Example:

    >>> mdf_kind("calibration_19.mdf")  # doctest: +SKIP
    'calibration'

    Args:
        path: the MDF file.

    Returns:
        "calibration" when `/calibration/method` exists, else "measurement".

    Raises:
        MDFError: if the file is not a readable MDF v2 file.
    """
    with open_reader(path) as r:
        return "calibration" if is_calibration(r) else "measurement"


def read_system_matrix(path: str | os.PathLike, z_slice: int | str | None = None) -> SystemMatrix:
    """Read a system-matrix (calibration) MDF file.

    Foreground frames are background-corrected when
    `/measurement/isBackgroundCorrected` is 0, as MPIFiles.jl does: the mean
    of each block of background frames, interpolated at the acquisition time
    of the frame (the plain mean when the background frames form one block).
    Periods of a frame are averaged. With `z_slice`, only that slice's frames
    are read from disk.

    Example:

    >>> sm = read_system_matrix("calibration_19.mdf", z_slice="central")  # doctest: +SKIP
    >>> sm.spectra.shape                     # (C, K, 1, Ny, Nx)  # doctest: +SKIP
    (3, 817, 1, 19, 19)

    Args:
        path: the MDF file.
        z_slice: `None` for the whole grid, a 0-based index, or "central" for
            slice Nz // 2 (the paper's slice 10 of 19 and 18 of 37, 0-based 9/18).

    Returns:
        The `SystemMatrix`.

    Raises:
        MDFError: naming the file and field for any missing, malformed or
            inconsistent content, when the file is a measurement, or when
            `z_slice` selects no slice.
    """
    with open_reader(path) as r:
        if not is_calibration(r):
            raise r.error(
                "/calibration/method",
                "missing: this is a measurement file, not a system matrix",
                expected="a calibration file (with /calibration/method)",
                actual="a file without it",
            )
        method = r.string("/calibration/method")
        acq, layout, bg_mask = read_header(r)
        grid = read_grid(r)
        order = read_order(r)
        fg_idx = np.flatnonzero(~bg_mask)
        bg_idx = np.flatnonzero(bg_mask)
        check_voxel_count(r, grid, fg_idx.size)
        fg_sel, grid = _select_voxels(r.path, grid, order, fg_idx, z_slice)
        fg, bg = _frame_spectra(r, layout, acq, (fg_sel, bg_idx))
        corrected = r.flag("/measurement/isBackgroundCorrected", default=False)
        position = acquisition_order(r, layout.num_frames)
        if not corrected and bg.shape[0] > 0:
            fg = subtract_background(fg, position[fg_sel], bg, position[bg_idx], layout.num_frames)
        permuted = r.flag("/measurement/isFramePermutation", default=False)
        frame_positions = (position[fg_sel], position[bg_idx]) if permuted and bg.size else None
        nz, ny, nx = grid.shape
        c, k = fg.shape[1:]
        spectra = np.transpose(fg.reshape(nz, ny, nx, c, k), (3, 4, 0, 1, 2))  # (C,K,Nz,Ny,Nx)
        delta = read_delta_sample_size(r)
        snr = _read_snr(r, c, k)
        return SystemMatrix(
            spectra=finite_as(r, spectra, np.complex64, "the background-corrected spectra"),
            grid=grid,
            acquisition=acq,
            background=finite_as(
                r, np.transpose(bg, (1, 2, 0)), np.complex64, "the background frames"
            ),
            delta_sample_size_m=delta,
            snr=snr,
            metadata=read_metadata(r),
            method=method,
            frame_positions=frame_positions,
        )


def _select_voxels(
    path: Path, grid: Grid, order: str, fg_idx: np.ndarray, z_slice: int | str | None
) -> tuple[np.ndarray, Grid]:
    """The file indices of the selected voxels' frames, in (z, y, x) order, and their grid.

    Args:
        fg_idx: file indices of the foreground frames, in `order`.
        z_slice: as `read_system_matrix` takes it.
    """
    seq = voxel_sequence(grid, order)  # (Nz, Ny, Nx)
    index = z_index(path, z_slice, grid.size[2])
    if index is not None:
        seq = seq[index : index + 1]
        grid = grid.z_slice(index)
    return fg_idx[seq.reshape(-1)], grid


def _frame_spectra(
    r: Reader, layout: Layout, acq: Acquisition, selections: tuple[np.ndarray, ...]
) -> list[np.ndarray]:
    """Spectra (n, C, K) of each selection of frames: converted, transformed, period-averaged.

    Each step runs on all selections before the next, so a damaged frame is
    reported before a bad `dataConversionFactor`, whichever selection holds it.
    """
    frames = [read_frames(r, layout, selection) for selection in selections]
    frames = [apply_conversion(r, f, layout.fourier, acq.num_sampling_points) for f in frames]
    if not layout.fourier:
        frames = [np.fft.rfft(f, axis=-1) for f in frames]
    # Average the J periods of each frame: (n, J, C, K) -> (n, C, K).
    return [f.mean(axis=1) if f.shape[1] > 1 else f[:, 0].copy() for f in frames]


def _read_snr(r: Reader, c: int, k: int) -> np.ndarray | None:
    """`/calibration/snr` of the first period (C, K), or `None` when the file has none."""
    field = "/calibration/snr"
    if not r.has(field):
        return None
    snr = r.array(field, finite=False)
    if snr.size == 0 or snr.size % (c * k):
        raise r.error(field, "wrong shape", expected=f"J x {c} x {k}", actual=snr.shape)
    return np.abs(snr.reshape(-1, c, k)[0]).astype(np.float64)


def read_measurement(path: str | os.PathLike) -> Measurement:
    """Read a measurement MDF file (time domain N x J x C x V, or Fourier data).

    Example:

    >>> meas = read_measurement("phantom_resolution.mdf")  # doctest: +SKIP
    >>> u = meas.spectra()   # background-corrected, frame-averaged, (C, K)  # doctest: +SKIP

    Args:
        path: the MDF file.

    Returns:
        The `Measurement` in the time domain, with the simulated ground truth
        where the file has one (`/_groundTruth`, an mpikeras extension).

    Raises:
        MDFError: naming the file and field for any missing, malformed or
            inconsistent content, or when the file is a system matrix.
    """
    with open_reader(path) as r:
        acq, layout, bg_mask = measurement_header(r)
        frames = read_frames(r, layout)
        frames = apply_conversion(r, frames, layout.fourier, acq.num_sampling_points)
        if layout.fourier:
            frames = np.fft.irfft(frames, n=acq.num_sampling_points, axis=-1)
        return Measurement(
            data=finite_as(r, frames, np.float32, "the measurement data"),
            is_background_frame=bg_mask,
            acquisition=acq,
            metadata=read_metadata(r),
            ground_truth=read_ground_truth(r),
        )


def missing_required_fields(path: str | os.PathLike) -> list[str]:
    """Mandatory MDF v2 fields (and, for calibrations, `/calibration` ones) absent from a file.

    Example:

    >>> missing_required_fields("calibration_19.mdf")  # doctest: +SKIP
    []

    Args:
        path: the MDF file.

    Returns:
        The missing HDF5 paths; empty for a complete file.

    Raises:
        MDFError: if the file is not a readable HDF5 file.
    """
    path, f = open_mdf(path)
    with f:
        r = Reader(path, f)
        required = list(REQUIRED_FIELDS)
        if r.has("/calibration"):
            required += CALIBRATION_FIELDS
        return [field for field in required if not r.has(field)]


def measurement_header(r: Reader):
    """Acquisition, layout and background mask of a measurement file, refusing a calibration
    file or one without a foreground frame."""
    if is_calibration(r):
        raise r.error(
            "/calibration/method",
            "present: this is a system matrix (calibration) file, not a measurement",
            expected="a measurement file (without /calibration/method)",
            actual="a calibration file",
        )
    acquisition, layout, background = read_header(r)
    if background.all():
        raise r.error(
            "/measurement/isBackgroundFrame",
            "every frame is a background frame",
            expected="at least one foreground frame",
            actual=f"{background.size} background frames",
        )
    return acquisition, layout, background
