"""Writing MDF v2 files, as OpenMPIData ships them, atomically and reproducibly when asked.

A system matrix is written as a calibration file (J x C x K x (O + E)
complex, fast frame axis, background frames after the foreground ones), a
measurement as time-domain N x J x C x V float32 data. Inputs are checked
first: an inconsistent object raises `MDFError` and nothing is written.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mpikeras.errors import MDFError
from mpikeras.io.acquisition import Acquisition
from mpikeras.io.atomic import atomic_path
from mpikeras.io.grid import Grid
from mpikeras.io.mdf.background import add_background
from mpikeras.io.mdf.schema import DATA
from mpikeras.io.mdf.writer import (
    Writer,
    content_digest,
    new_hdf5_file,
    write_common,
    write_flags,
)
from mpikeras.io.measurement import Measurement
from mpikeras.io.system_matrix import SystemMatrix


def _check_finite(path: Path, field: str, name: str, value: np.ndarray) -> None:
    bad = ~np.isfinite(value)
    if bad.any():
        raise MDFError(
            path,
            field=field,
            problem=f"{name} holds non-finite values (NaN or Inf)",
            expected="finite numbers",
            actual=f"{int(bad.sum())} non-finite values",
        )


def _check_acquisition(path: Path, acq: Acquisition, channels: int, points: int, fourier: bool):
    rx = "/acquisition/receiver/"
    if acq.num_receive_channels != channels:
        raise MDFError(
            path,
            field=rx + "numChannels",
            problem="disagrees with the channel axis of the data",
            expected=channels,
            actual=acq.num_receive_channels,
        )
    expected = acq.num_frequencies if fourier else acq.num_sampling_points
    if points != expected:
        what = "K = numSamplingPoints // 2 + 1" if fourier else "V = numSamplingPoints"
        raise MDFError(
            path,
            field=rx + "numSamplingPoints",
            problem=f"the data's sample axis disagrees with {what}",
            expected=expected,
            actual=points,
        )
    if acq.transfer_function is not None:
        tf = np.asarray(acq.transfer_function)
        if tf.shape != (channels, acq.num_frequencies):
            raise MDFError(
                path,
                field=rx + "transferFunction",
                problem="wrong shape",
                expected=(channels, acq.num_frequencies),
                actual=tf.shape,
            )
        _check_finite(path, rx + "transferFunction", "the transfer function", tf)


def write_system_matrix(path: str | os.PathLike, sm: SystemMatrix) -> Path:
    """Write a system matrix as an MDF v2 calibration file, atomically.

    Like real OpenMPIData files the foreground frames are stored without
    background correction (the mean background is added back) and the
    background frames follow them, flagged in `isBackgroundFrame`; data is
    complex64 J x C x K x (O + E) with J = 1 and the fast frame axis. With
    `SOURCE_DATE_EPOCH` set, identical inputs give byte-identical files.

    Example:

    >>> write_system_matrix("sm.mdf", sm)  # doctest: +SKIP
    PosixPath('sm.mdf')

    Args:
        path: destination; written to a temporary file beside it, then
            renamed, so an existing file is replaced only by a complete one.
        sm: the system matrix.

    Returns:
        The path written.

    Raises:
        MDFError: if `sm` is inconsistent (spectra, grid, acquisition,
            background, SNR shapes) or holds NaN or Inf; nothing is written.
        ConfigError: if `SOURCE_DATE_EPOCH` is set but not an integer.
    """
    path = Path(path)
    spectra = np.asarray(sm.spectra)
    grid = sm.grid
    if spectra.ndim != 5 or spectra.shape[2:] != grid.shape:
        raise MDFError(
            path,
            field=DATA,
            problem="system matrix spectra do not match the grid",
            expected=f"(C, K, {', '.join(map(str, grid.shape))}) = (C, K, Nz, Ny, Nx)",
            actual=spectra.shape,
        )
    c, k = spectra.shape[:2]
    _check_acquisition(path, sm.acquisition, c, k, fourier=True)
    bg = np.asarray(sm.background)
    if bg.ndim != 3 or bg.shape[:2] != (c, k):
        raise MDFError(
            path,
            field=DATA,
            problem="background frames have the wrong shape",
            expected=f"({c}, {k}, E)",
            actual=bg.shape,
        )
    _check_finite(path, DATA, "the spectra", spectra)
    _check_finite(path, DATA, "the background frames", bg)
    if sm.snr is not None and np.shape(sm.snr) != (c, k):
        raise MDFError(
            path,
            field="/calibration/snr",
            problem="wrong shape",
            expected=(c, k),
            actual=np.shape(sm.snr),
        )
    if sm.delta_sample_size_m is not None and len(sm.delta_sample_size_m) != 3:
        raise MDFError(
            path,
            field="/calibration/deltaSampleSize",
            problem="wrong shape",
            expected=3,
            actual=len(sm.delta_sample_size_m),
        )

    fg = spectra.reshape(c, k, -1).astype(np.complex128)  # (C, K, O), x fastest
    permutation = _frame_permutation(path, sm.frame_positions, fg.shape[-1], bg.shape[-1])
    if permutation is not None:  # raw frames: the background interpolated at each voxel's time
        o, n = fg.shape[-1], permutation.size
        raw = add_background(fg.T.copy(), permutation[:o], bg.T, permutation[o:], n)
        fg = raw.T
    elif bg.shape[-1]:
        fg = fg + bg.mean(axis=-1, keepdims=True)
    data = np.concatenate([fg, bg], axis=-1)[None].astype(np.complex64)  # (1, C, K, O+E)
    bg_mask = np.r_[np.zeros(fg.shape[-1], bool), np.ones(bg.shape[-1], bool)]
    snr = sm.snr if sm.snr is not None else sm.estimate_snr()
    snr = np.nan_to_num(np.asarray(snr, np.float64), posinf=np.finfo(np.float64).max)[None]
    digest = content_digest(
        "calibration",
        data,
        grid,
        sm.acquisition,
        sm.acquisition.transfer_function,
        sm.metadata,
        sm.method,
        sm.delta_sample_size_m,
        snr,
        *(() if permutation is None else (permutation,)),
    )
    with atomic_path(path) as tmp, new_hdf5_file(tmp, path) as f:
        w = Writer(f, digest)
        write_common(w, sm.acquisition, sm.metadata, data.shape[-1])
        w.put("measurement/data", data, chunks=(1, 1, k, min(data.shape[-1], 64)))
        write_flags(w, bg_mask, fourier=True, fast=True, frame_permutation=permutation)
        w.put("calibration/method", sm.method)
        w.put("calibration/order", "xyz")
        w.put("calibration/size", np.asarray(grid.size, dtype=np.int64))
        w.put("calibration/fieldOfView", np.asarray(grid.fov_m, dtype=np.float64))
        w.put("calibration/fieldOfViewCenter", np.asarray(grid.center_m, dtype=np.float64))
        w.put("calibration/positions", grid.positions_m().reshape(-1, 3))  # O x 3
        w.put("calibration/offsetFields", np.zeros((grid.num_voxels, 3)))  # O x 3
        w.put("calibration/isMeanderingGrid", np.int8(0))
        if sm.delta_sample_size_m is not None:
            w.put("calibration/deltaSampleSize", np.asarray(sm.delta_sample_size_m, np.float64))
        w.put("calibration/snr", snr)  # J x C x K
    return path


def _frame_permutation(
    path: Path, positions: tuple[np.ndarray, np.ndarray] | None, num_fg: int, num_bg: int
) -> np.ndarray | None:
    """0-based acquisition rank of each stored frame (foreground, then background), or None."""
    if positions is None or num_bg == 0:
        return None
    fg_pos, bg_pos = (np.asarray(p, dtype=np.int64).reshape(-1) for p in positions)
    if (fg_pos.size, bg_pos.size) != (num_fg, num_bg):
        raise MDFError(
            path,
            field="/measurement/framePermutation",
            problem="the frame positions do not match the frames",
            expected=f"{num_fg} foreground and {num_bg} background positions",
            actual=f"{fg_pos.size} and {bg_pos.size}",
        )
    both = np.concatenate([fg_pos, bg_pos])
    repeated = both.size - np.unique(both).size
    if repeated:
        raise MDFError(
            path,
            field="/measurement/framePermutation",
            problem="two frames share an acquisition position",
            expected="distinct positions",
            actual=f"{repeated} repeated",
        )
    ranks = np.empty(both.size, dtype=np.int64)
    ranks[np.argsort(both, kind="stable")] = np.arange(both.size)
    return ranks


def write_measurement(path: str | os.PathLike, meas: Measurement) -> Path:
    """Write a time-domain measurement (N x J x C x V) as an MDF v2 file, atomically.

    A simulated ground truth, when present, goes to the extension group
    `/_groundTruth` (MDF allows `_`-prefixed additions): `concentration`
    (Nz x Ny x Nx, mol/L), `size`, `fieldOfView`, `fieldOfViewCenter`, `unit`.
    With `SOURCE_DATE_EPOCH` set, identical inputs give byte-identical files.

    Example:

    >>> write_measurement("phantom.mdf", meas)  # doctest: +SKIP
    PosixPath('phantom.mdf')

    Args:
        path: destination; written to a temporary file beside it, then renamed.
        meas: the measurement.

    Returns:
        The path written.

    Raises:
        MDFError: if `meas` is inconsistent (data shape, acquisition,
            background flags, ground truth) or holds NaN or Inf; nothing is
            written.
        ConfigError: if `SOURCE_DATE_EPOCH` is set but not an integer.
    """
    path = Path(path)
    data = np.asarray(meas.data)
    if data.ndim != 4 or data.dtype.kind not in ("i", "u", "f"):
        raise MDFError(
            path,
            field=DATA,
            problem="measurement data has the wrong shape or type",
            expected="real N x J x C x V",
            actual=f"{data.dtype} {data.shape}",
        )
    n, j, c, v = data.shape
    _check_acquisition(path, meas.acquisition, c, v, fourier=False)
    _check_finite(path, DATA, "the measurement data", data)
    bg_mask = np.asarray(meas.is_background_frame).reshape(-1)
    if bg_mask.size != n:
        raise MDFError(
            path,
            field="/measurement/isBackgroundFrame",
            problem="wrong length",
            expected=f"{n} (one per frame)",
            actual=bg_mask.size,
        )
    truth = None
    if meas.ground_truth is not None:
        conc, truth_grid = meas.ground_truth
        conc = np.asarray(conc, dtype=np.float64)
        if not isinstance(truth_grid, Grid) or conc.size != truth_grid.num_voxels:
            raise MDFError(
                path,
                field="/_groundTruth/concentration",
                problem="ground truth does not match its grid",
                expected="(concentration of shape (Nz, Ny, Nx), Grid)",
                actual=f"{conc.shape}, {truth_grid!r}",
            )
        _check_finite(path, "/_groundTruth/concentration", "the ground truth", conc)
        truth = (conc.reshape(truth_grid.shape), truth_grid)
    stored = data.astype(np.float32)
    digest = content_digest(
        "measurement",
        stored,
        bg_mask.astype(np.int8),
        meas.acquisition,
        meas.acquisition.transfer_function,
        meas.metadata,
        *(truth or ()),
    )
    with atomic_path(path) as tmp, new_hdf5_file(tmp, path) as f:
        w = Writer(f, digest)
        write_common(w, meas.acquisition, meas.metadata, n, num_periods=j)
        w.put("measurement/data", stored)
        write_flags(w, bg_mask.astype(bool), fourier=False, fast=False)
        if truth is not None:
            conc, grid = truth
            w.put("_groundTruth/concentration", conc)
            w.put("_groundTruth/size", np.asarray(grid.size, dtype=np.int64))
            w.put("_groundTruth/fieldOfView", np.asarray(grid.fov_m, dtype=np.float64))
            w.put("_groundTruth/fieldOfViewCenter", np.asarray(grid.center_m, dtype=np.float64))
            w.put("_groundTruth/unit", "mol/L")
    return path
