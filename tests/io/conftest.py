"""Fixtures for the MDF tests: small objects built directly, and files written by plain h5py.

The small system matrix has a 5 x 4 x 3 grid (x, y, z), 3 receive channels
and V = 64 samples (K = 33 frequencies), so every test runs in milliseconds.

`openmpi_calibration` writes a calibration file with plain h5py, following
the MDF v2 specification the way real OpenMPIData files are laid out
(compound {r, i} complex64 data J x C x K x (O + E), Int8 flags, string
fields, background frames at the end, `isBackgroundCorrected` = 0), without
using any of mpikeras' writing code, so the reader is checked against the
specification rather than against its own writer.
"""

from __future__ import annotations

import hashlib
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from mpikeras.io import Acquisition, DriveField, Grid, Measurement, Metadata, SystemMatrix

NUM_SAMPLES = 64  # V
NUM_FREQUENCIES = NUM_SAMPLES // 2 + 1  # K
NUM_CHANNELS = 3  # C
GRID_SIZE = (5, 4, 3)  # x, y, z


@pytest.fixture
def file_state() -> Callable[[Path], tuple[str, int]]:
    """Function: SHA-256 of the bytes and the modification time (ns) of a file."""

    def state(path: Path) -> tuple[str, int]:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest(), Path(path).stat().st_mtime_ns

    return state


@pytest.fixture
def acquisition() -> Acquisition:
    rng = np.random.default_rng(1)
    tf = rng.normal(size=(NUM_CHANNELS, NUM_FREQUENCIES)) + 1j * rng.normal(
        size=(NUM_CHANNELS, NUM_FREQUENCIES)
    )
    return Acquisition(
        drivefield=DriveField(
            base_frequency_hz=2.5e6,
            dividers=(102, 96, 99),
            strength_tesla=(0.012, 0.010, 0.0),
            phase_rad=(math.pi / 2, 0.25, math.pi / 2),
        ),
        gradient_tesla_per_m=((-1.5, 0.0, 0.0), (0.0, -1.5, 0.0), (0.0, 0.0, 3.0)),
        bandwidth_hz=1.25e6,
        num_sampling_points=NUM_SAMPLES,
        num_receive_channels=NUM_CHANNELS,
        num_averages=7,
        transfer_function=tf,
        unit="V",
    )


@pytest.fixture
def grid() -> Grid:
    return Grid(size=GRID_SIZE, fov_m=(0.010, 0.008, 0.003), center_m=(0.001, -0.002, 0.0005))


@pytest.fixture
def metadata() -> Metadata:
    return Metadata(
        study_name="io tests",
        study_number=3,
        study_description="MDF round trips",
        experiment_name="small calibration",
        experiment_number=12,
        experiment_description="random spectra",
        experiment_subject="delta sample",
        is_simulation=True,
        scanner_facility="test bench",
        scanner_manufacturer="nobody",
        scanner_name="tiny scanner",
        scanner_operator="pytest",
        scanner_topology="FFP",
        tracer_name="perimag",
        tracer_batch="b-17",
        tracer_vendor="micromod",
        tracer_solute="Fe",
        tracer_concentration_mol_per_l=0.1,
        tracer_volume_l=4e-6,
    )


@pytest.fixture
def make_system_matrix(acquisition, grid, metadata) -> Callable[..., SystemMatrix]:
    """Factory: a small random system matrix; `num_background` background frames."""

    def make(seed: int = 0, num_background: int = 6) -> SystemMatrix:
        rng = np.random.default_rng(seed)
        shape = (NUM_CHANNELS, NUM_FREQUENCIES, *grid.shape)
        spectra = (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)
        bg_shape = (NUM_CHANNELS, NUM_FREQUENCIES, num_background)
        background = (
            3.0 + rng.normal(size=bg_shape) + 1j * (2.0 + rng.normal(size=bg_shape))
        ).astype(np.complex64)
        return SystemMatrix(
            spectra=spectra,
            grid=grid,
            acquisition=acquisition,
            background=background,
            delta_sample_size_m=(0.002, 0.002, 0.001),
            snr=rng.uniform(1.0, 50.0, size=(NUM_CHANNELS, NUM_FREQUENCIES)),
            metadata=metadata,
            method="robot",
        )

    return make


@pytest.fixture
def system_matrix(make_system_matrix) -> SystemMatrix:
    return make_system_matrix()


@pytest.fixture
def measurement(acquisition, metadata, grid) -> Measurement:
    """6 frames (the last 2 background) of 2 periods, with a ground truth."""
    rng = np.random.default_rng(2)
    data = rng.normal(size=(6, 2, NUM_CHANNELS, NUM_SAMPLES)).astype(np.float32)
    truth = rng.uniform(0.0, 0.1, size=grid.shape)
    return Measurement(
        data=data,
        is_background_frame=np.array([0, 0, 0, 0, 1, 1], dtype=bool),
        acquisition=acquisition,
        metadata=metadata,
        ground_truth=(truth, grid),
    )


@pytest.fixture
def sm_file(tmp_path, system_matrix) -> Path:
    """The small system matrix written by mpikeras."""
    from mpikeras.io import write_system_matrix

    return write_system_matrix(tmp_path / "sm.mdf", system_matrix)


@pytest.fixture
def measurement_file(tmp_path, measurement) -> Path:
    """The small measurement written by mpikeras."""
    from mpikeras.io import write_measurement

    return write_measurement(tmp_path / "measurement.mdf", measurement)


@pytest.fixture
def edited_copy(tmp_path) -> Callable[..., Path]:
    """Factory: copy `source` to a new file and apply `edit(h5py.File)` to the copy."""
    counter = iter(range(10**6))

    def copy(source: Path, edit: Callable[[h5py.File], None] | None = None) -> Path:
        target = tmp_path / f"edited-{next(counter)}.mdf"
        shutil.copyfile(source, target)
        if edit is not None:
            with h5py.File(target, "r+") as f:
                edit(f)
        return target

    return copy


# --------------------------------------------------------------------------- plain h5py


def _strings(values) -> np.ndarray:
    return np.array(values, dtype=object)


def write_openmpi_calibration(
    path: Path,
    *,
    layout: str = "compound",
    num_background: int = 4,
    marker_voxel: tuple[int, int, int] = (3, 1, 2),
    seed: int = 0,
) -> dict:
    """Write an OpenMPIData-like calibration file with plain h5py.

    Args:
        path: where to write.
        layout: "compound" (complex64 as an HDF5 compound {r, i}, J x C x K x N,
            like OpenMPIData), "trailing" (float32 J x C x K x N x 2, the
            specification's alternative) or "frames-first" (compound,
            N x J x C x K with `isFastFrameAxis` = 0).
        num_background: background frames E, stored after the O foreground frames.
        marker_voxel: (x, y, z) of the voxel whose spectrum is a distinct marker.
        seed: random seed of the spectra.

    Returns:
        dict with `signal` (background-free spectra, complex128, indexed
        [c, k, z, y, x]), `background` (mean background, (C, K)), `marker`
        (the marker value), `grid_size`, `fov`, `center`, `bandwidth`.
    """
    rng = np.random.default_rng(seed)
    nx, ny, nz = GRID_SIZE
    c, k, v = NUM_CHANNELS, NUM_FREQUENCIES, NUM_SAMPLES
    fov = np.array([0.010, 0.008, 0.003])
    center = np.array([0.0, 0.001, -0.0005])
    bandwidth = 1.25e6
    # Background-free signal per voxel, indexed [c, k, z, y, x]; a marker in one voxel.
    signal = rng.uniform(-1, 1, (c, k, nz, ny, nx)) + 1j * rng.uniform(-1, 1, (c, k, nz, ny, nx))
    marker = 100.0 + 50.0j
    mx, my, mz = marker_voxel
    signal[:, :, mz, my, mx] = marker
    background = 5.0 + rng.normal(size=(c, k)) + 1j * (3.0 + rng.normal(size=(c, k)))
    # Background frames scatter around `background` with exactly that mean.
    scatter = rng.normal(size=(num_background, c, k)) + 1j * rng.normal(size=(num_background, c, k))
    scatter -= scatter.mean(axis=0) if num_background else 0
    num_voxels = nx * ny * nz
    frames = np.zeros((num_voxels + num_background, c, k), dtype=np.complex128)
    # Foreground frame o holds voxel (x, y, z) with o = x + nx * (y + ny * z): x fastest.
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                frames[x + nx * (y + ny * z)] = signal[:, :, z, y, x] + background
    for e in range(num_background):
        frames[num_voxels + e] = background + scatter[e]
    n = frames.shape[0]

    compound = np.dtype([("r", "<f4"), ("i", "<f4")])
    with h5py.File(path, "w") as f:
        f["version"] = "2.0.0"
        f["uuid"] = "d3a0f3c1-5e2b-4d7e-9a51-0c2f6b3e8a11"
        f["time"] = "2017-05-10T12:00:00.000"
        f["study/name"] = "OpenMPIData-like"
        f["study/number"] = np.int64(1)
        f["study/description"] = "written with plain h5py"
        f["study/uuid"] = "4b8e2f0a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
        f["experiment/name"] = "calibration"
        f["experiment/number"] = np.int64(2)
        f["experiment/description"] = "delta sample scan"
        f["experiment/subject"] = "delta sample"
        f["experiment/isSimulation"] = np.int8(0)
        f["experiment/uuid"] = "9c8b7a6f-5e4d-4c3b-8a29-18f7e6d5c4b3"
        f["scanner/facility"] = "University Medical Center Hamburg-Eppendorf"
        f["scanner/manufacturer"] = "Bruker/Philips"
        f["scanner/name"] = "Preclinical MPI System"
        f["scanner/operator"] = "nmrsu"
        f["scanner/topology"] = "FFP"
        f["tracer/name"] = _strings(["perimag"])
        f["tracer/batch"] = _strings(["00000"])
        f["tracer/vendor"] = _strings(["micromod"])
        f["tracer/solute"] = _strings(["Fe"])
        f["tracer/concentration"] = np.array([0.1])
        f["tracer/volume"] = np.array([4e-9])
        f["acquisition/numAverages"] = np.int64(1000)
        f["acquisition/numFrames"] = np.int64(n)
        f["acquisition/numPeriodsPerFrame"] = np.int64(1)
        f["acquisition/startTime"] = "2017-05-10T11:00:00.000"
        f["acquisition/gradient"] = np.diag([-1.0, -1.0, 2.0]).reshape(1, 1, 3, 3)
        f["acquisition/offsetField"] = np.zeros((1, 1, 3))
        f["acquisition/drivefield/baseFrequency"] = 2.5e6
        f["acquisition/drivefield/cycle"] = v / (2 * bandwidth)
        f["acquisition/drivefield/divider"] = np.array([[102], [96], [99]], dtype=np.int64)
        f["acquisition/drivefield/numChannels"] = np.int64(3)
        f["acquisition/drivefield/phase"] = np.full((1, 3, 1), np.pi / 2)
        f["acquisition/drivefield/strength"] = np.array([0.012, 0.012, 0.0]).reshape(1, 3, 1)
        f["acquisition/drivefield/waveform"] = _strings([["sine"], ["sine"], ["sine"]])
        f["acquisition/receiver/bandwidth"] = bandwidth
        f["acquisition/receiver/numChannels"] = np.int64(c)
        f["acquisition/receiver/numSamplingPoints"] = np.int64(v)
        f["acquisition/receiver/unit"] = "V"
        f["acquisition/receiver/dataConversionFactor"] = np.tile([1.0, 0.0], (c, 1))
        # J x C x K x N (fast frame axis) or N x J x C x K.
        fast = layout != "frames-first"
        data = np.transpose(frames, (1, 2, 0))[None] if fast else frames[:, None]
        if layout == "trailing":
            stored = np.stack([data.real, data.imag], axis=-1).astype(np.float32)
        else:
            stored = np.empty(data.shape, dtype=compound)
            stored["r"] = data.real
            stored["i"] = data.imag
        f["measurement/data"] = stored
        is_bg = np.r_[np.zeros(num_voxels), np.ones(num_background)].astype(np.int8)
        f["measurement/isBackgroundFrame"] = is_bg
        f["measurement/isBackgroundCorrected"] = np.int8(0)
        f["measurement/isFastFrameAxis"] = np.int8(fast)
        f["measurement/isFourierTransformed"] = np.int8(1)
        for flag in ("isFramePermutation", "isFrequencySelection", "isSparsityTransformed",
                     "isSpectralLeakageCorrected", "isTransferFunctionCorrected"):  # fmt: skip
            f[f"measurement/{flag}"] = np.int8(0)
        f["calibration/method"] = "robot"
        f["calibration/size"] = np.array(GRID_SIZE, dtype=np.int64)
        f["calibration/fieldOfView"] = fov
        f["calibration/fieldOfViewCenter"] = center
        f["calibration/order"] = "xyz"
        f["calibration/deltaSampleSize"] = np.array([0.002, 0.002, 0.001])
        f["calibration/snr"] = np.ones((1, c, k))
    return {
        "signal": signal,
        "background": background,
        "marker": marker,
        "grid_size": GRID_SIZE,
        "fov": fov,
        "center": center,
        "bandwidth": bandwidth,
    }


@pytest.fixture
def openmpi_calibration(tmp_path) -> Callable[..., tuple[Path, dict]]:
    """Factory: `(path, truth)` of a plain-h5py calibration file.

    Keyword arguments go to `write_openmpi_calibration`.
    """
    counter = iter(range(10**6))

    def make(**kwargs) -> tuple[Path, dict]:
        path = tmp_path / f"openmpi-{next(counter)}.mdf"
        return path, write_openmpi_calibration(path, **kwargs)

    return make
