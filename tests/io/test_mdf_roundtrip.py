"""MDF v2 reading and writing: plain-h5py files laid out like OpenMPIData, and round trips."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import uuid

import h5py
import numpy as np
import pytest

from mpikeras.errors import ConfigError
from mpikeras.io import (
    REQUIRED_FIELDS,
    mdf_kind,
    missing_required_fields,
    read_measurement,
    read_system_matrix,
    write_measurement,
    write_system_matrix,
)

# The fixtures' sizes (conftest.py): C channels, V samples, K = V // 2 + 1 frequencies.
NUM_CHANNELS, NUM_SAMPLES, NUM_FREQUENCIES = 3, 64, 33

# --------------------------------------------------------------------------- plain h5py files


@pytest.mark.parametrize("layout", ["compound", "trailing", "frames-first"])
def test_openmpi_calibration_is_read_background_corrected_in_voxel_order(
    openmpi_calibration, layout
):
    path, truth = openmpi_calibration(layout=layout)
    sm = read_system_matrix(path)
    nx, ny, nz = truth["grid_size"]
    assert sm.spectra.shape == (NUM_CHANNELS, NUM_FREQUENCIES, nz, ny, nx)
    # Background correction: the file stores signal + background; the reader removes the
    # mean of the background frames, leaving the signal (to float32 precision).
    np.testing.assert_allclose(sm.spectra, truth["signal"], rtol=0, atol=2e-5)
    # The marker voxel (x, y, z) = (3, 1, 2) lands at spectra[c, k, z, y, x] and nowhere else.
    big = np.argwhere(np.abs(sm.spectra).max(axis=(0, 1)) > 50.0)
    assert big.tolist() == [[2, 1, 3]]
    np.testing.assert_allclose(sm.spectra[:, :, 2, 1, 3], truth["marker"], atol=1e-3)
    # The background frames are kept raw, (C, K, E).
    assert sm.background.shape == (NUM_CHANNELS, NUM_FREQUENCIES, 4)
    np.testing.assert_allclose(sm.background.mean(axis=-1), truth["background"], atol=1e-5)


def test_openmpi_calibration_grid_frequencies_and_acquisition(openmpi_calibration):
    path, truth = openmpi_calibration()
    sm = read_system_matrix(path)
    grid = sm.grid
    assert grid.size == truth["grid_size"]
    np.testing.assert_allclose(grid.fov_m, truth["fov"])
    np.testing.assert_allclose(grid.center_m, truth["center"])
    for axis in range(3):
        n, fov, centre = grid.size[axis], truth["fov"][axis], truth["center"][axis]
        i = np.arange(1, n + 1)
        expected = centre + fov / 2 * (-1 + (2 * i - 1) / n)
        np.testing.assert_allclose(grid.axis_m(axis), expected, atol=1e-15)
    np.testing.assert_allclose(
        sm.frequencies_hz, np.fft.rfftfreq(NUM_SAMPLES, 1 / (2 * truth["bandwidth"]))
    )
    assert sm.frequencies_hz[-1] == pytest.approx(truth["bandwidth"])
    acq = sm.acquisition
    df = acq.drivefield
    assert df.base_frequency_hz == 2.5e6 and df.dividers == (102, 96, 99)
    np.testing.assert_allclose(df.frequencies_hz, [24509.8039, 26041.6667, 25252.5253], rtol=1e-8)
    assert df.strength_tesla == (0.012, 0.012, 0.0)  # stored in T/mu0: 12 mT is 0.012
    assert df.phase_rad == pytest.approx((np.pi / 2,) * 3)
    assert df.waveform == "sine" and df.active_channels == (0, 1)
    np.testing.assert_array_equal(acq.gradient, np.diag([-1.0, -1.0, 2.0]))
    assert (acq.bandwidth_hz, acq.num_sampling_points, acq.num_receive_channels) == (
        1.25e6, NUM_SAMPLES, NUM_CHANNELS
    )  # fmt: skip
    assert acq.num_averages == 1000 and acq.transfer_function is None
    assert sm.delta_sample_size_m == (0.002, 0.002, 0.001)
    assert sm.method == "robot" and sm.metadata.tracer_name == "perimag"
    assert sm.metadata.scanner_name == "Preclinical MPI System"
    assert sm.metadata.is_simulation is False
    assert mdf_kind(path) == "calibration"
    assert missing_required_fields(path) == []


def test_early_mdf2_name_of_the_fast_frame_axis_flag_is_understood(openmpi_calibration,
                                                                   edited_copy):  # fmt: skip
    path, truth = openmpi_calibration()

    def rename(f):
        f.move("measurement/isFastFrameAxis", "measurement/isTransposed")

    sm = read_system_matrix(edited_copy(path, rename))
    np.testing.assert_allclose(sm.spectra, truth["signal"], atol=2e-5)


def test_already_background_corrected_files_are_left_alone(openmpi_calibration, edited_copy):
    path, truth = openmpi_calibration()

    def mark_corrected(f):
        f["measurement/isBackgroundCorrected"][()] = np.int8(1)

    sm = read_system_matrix(edited_copy(path, mark_corrected))
    raw = truth["signal"] + truth["background"][..., None, None, None]
    np.testing.assert_allclose(sm.spectra, raw, atol=2e-5)


def test_central_slice_is_read_alone_and_matches_the_full_matrix(openmpi_calibration):
    path, _ = openmpi_calibration()
    full = read_system_matrix(path)
    central = read_system_matrix(path, z_slice="central")
    assert central.spectra.shape == (NUM_CHANNELS, NUM_FREQUENCIES, 1, 4, 5)
    np.testing.assert_array_equal(central.spectra, full.spectra[:, :, 1:2])
    assert central.grid == full.grid.z_slice(1)
    np.testing.assert_allclose(central.grid.positions_m()[0], full.grid.positions_m()[1])
    # An index works the same, and numpy integers are indices too.
    marker_slice = read_system_matrix(path, z_slice=np.int64(2))
    np.testing.assert_array_equal(marker_slice.spectra, full.spectra[:, :, 2:3])
    assert np.argwhere(np.abs(marker_slice.spectra).max(axis=(0, 1)) > 50).tolist() == [[0, 1, 3]]


def test_frame_permutation_interpolates_background_blocks(tmp_path, openmpi_calibration):
    # Acquisition order: a background block, the 60 voxels, another background block; the
    # background drifts linearly in time. MPIFiles' correction (block means interpolated at
    # each frame's acquisition time) removes such a drift exactly.
    path, truth = openmpi_calibration(num_background=0)
    with h5py.File(path, "r") as f:
        fg = f["measurement/data"][()]  # (1, C, K, 60), signal + constant background
    num_voxels, num_bg = 60, 2
    n = num_voxels + num_bg
    drift = 0.5 + 0.25j  # background change from the first to the last frame
    stored_position = np.r_[np.arange(1, num_voxels + 1), 0, n - 1]  # acquisition order, 0-based
    step = drift / (n - 1)
    background = np.broadcast_to(truth["background"][None, :, :, None], (*fg.shape[:3], num_bg))
    data = np.concatenate(
        [
            fg + step * stored_position[:num_voxels],
            background + step * stored_position[num_voxels:],
        ],
        axis=-1,
    ).astype(np.complex64)
    with h5py.File(path, "r+") as f:
        del f["measurement/data"], f["measurement/isBackgroundFrame"]
        f["measurement/data"] = data
        f["measurement/isBackgroundFrame"] = np.r_[np.zeros(num_voxels), np.ones(2)].astype("i1")
        f["acquisition/numFrames"][()] = n
        f["measurement/isFramePermutation"][()] = np.int8(1)
        f["measurement/framePermutation"] = (stored_position + 1).astype(np.int64)  # 1-based
    sm = read_system_matrix(path)
    np.testing.assert_allclose(sm.spectra, truth["signal"], atol=5e-5)
    # Without the permutation, the same frames get the plain mean: a residual drift remains.
    with h5py.File(path, "r+") as f:
        f["measurement/isFramePermutation"][()] = np.int8(0)
    plain = read_system_matrix(path)
    residual = np.abs(plain.spectra - truth["signal"]).max()
    assert residual == pytest.approx(abs(drift) / 2, rel=0.05)


def test_data_conversion_factor_is_applied(openmpi_calibration, edited_copy):
    path, truth = openmpi_calibration()

    def scale(f):
        f["acquisition/receiver/dataConversionFactor"][:, 0] = [2.0, 3.0, 4.0]

    sm = read_system_matrix(edited_copy(path, scale))
    np.testing.assert_allclose(sm.spectra, truth["signal"] * np.array([2.0, 3.0, 4.0])[
        :, None, None, None, None], atol=1e-4)  # fmt: skip


def test_fourier_measurement_is_returned_in_the_time_domain(measurement, tmp_path, edited_copy):
    source = write_measurement(tmp_path / "m.mdf", measurement)

    def to_fourier(f):
        data = f["measurement/data"][()]
        del f["measurement/data"]
        f["measurement/data"] = np.fft.rfft(data, axis=-1).astype(np.complex64)
        f["measurement/isFourierTransformed"][()] = np.int8(1)

    meas = read_measurement(edited_copy(source, to_fourier))
    np.testing.assert_allclose(meas.data, measurement.data, atol=1e-5)


@pytest.mark.parametrize("fourier", [False, True])
def test_conversion_scale_and_offset_give_the_same_signal_in_both_domains(
    measurement, tmp_path, edited_copy, fourier
):
    # data_physical = a * data + b per channel; a time-domain offset b is b * V in the DC bin.
    source = write_measurement(tmp_path / "m.mdf", measurement)
    a, b = np.array([2.0, 0.5, -1.0]), np.array([0.25, -3.0, 0.0])

    def convert(f):
        f["acquisition/receiver/dataConversionFactor"][()] = np.stack([a, b], axis=1)
        if fourier:
            data = f["measurement/data"][()]
            del f["measurement/data"]
            f["measurement/data"] = np.fft.rfft(data, axis=-1).astype(np.complex128)
            f["measurement/isFourierTransformed"][()] = np.int8(1)

    meas = read_measurement(edited_copy(source, convert))
    expected = measurement.data * a[:, None] + b[:, None]
    np.testing.assert_allclose(meas.data, expected, atol=1e-5)


# --------------------------------------------------------------------------- round trips


def _assert_same_acquisition(actual, expected):
    assert actual == expected  # every field but the transfer function
    np.testing.assert_allclose(actual.transfer_function, expected.transfer_function, rtol=1e-6)


def test_system_matrix_round_trip(tmp_path, system_matrix):
    path = write_system_matrix(tmp_path / "sm.mdf", system_matrix)
    sm = read_system_matrix(path)
    scale = np.abs(system_matrix.spectra).max() + np.abs(system_matrix.background).max()
    np.testing.assert_allclose(sm.spectra, system_matrix.spectra, rtol=0, atol=1e-6 * scale)
    np.testing.assert_array_equal(sm.background, system_matrix.background)
    assert sm.grid == system_matrix.grid
    _assert_same_acquisition(sm.acquisition, system_matrix.acquisition)
    assert sm.delta_sample_size_m == system_matrix.delta_sample_size_m
    np.testing.assert_array_equal(sm.snr, system_matrix.snr)
    assert sm.metadata == system_matrix.metadata
    assert sm.method == "robot"
    assert mdf_kind(path) == "calibration"


def test_system_matrix_without_background_or_snr_round_trips(tmp_path, make_system_matrix):
    original = dataclasses.replace(make_system_matrix(num_background=0), snr=None,
                                   delta_sample_size_m=None)  # fmt: skip
    sm = read_system_matrix(write_system_matrix(tmp_path / "sm.mdf", original))
    np.testing.assert_array_equal(sm.spectra, original.spectra)
    assert sm.background.shape == (NUM_CHANNELS, NUM_FREQUENCIES, 0)
    assert sm.delta_sample_size_m is None
    # Without background frames the SNR cannot be estimated: it is stored as the largest float.
    assert np.all(sm.snr == np.finfo(np.float64).max)


def test_written_files_hold_every_required_field_with_mdf_types(sm_file, measurement_file):
    integers = {
        "/study/number",
        "/experiment/number",
        "/acquisition/numAverages",
        "/acquisition/numFrames",
        "/acquisition/numPeriodsPerFrame",
        "/acquisition/drivefield/divider",
        "/acquisition/drivefield/numChannels",
        "/acquisition/receiver/numChannels",
        "/acquisition/receiver/numSamplingPoints",
    }
    strings = {
        "/version",
        "/uuid",
        "/time",
        "/acquisition/startTime",
        "/acquisition/drivefield/waveform",
        "/acquisition/receiver/unit",
    }
    strings |= {
        f
        for f in REQUIRED_FIELDS
        if f.split("/")[1] in ("study", "experiment", "scanner")
        or f.split("/")[-1] in ("name", "batch", "solute", "vendor")
    }
    strings -= integers | {"/experiment/isSimulation"}  # fmt: skip
    for path in (sm_file, measurement_file):
        assert missing_required_fields(path) == []
        with h5py.File(path, "r") as f:
            for field in REQUIRED_FIELDS:
                dtype = f[field].dtype
                if field == "/measurement/data":
                    continue
                if field.rsplit("/", 1)[-1].startswith("is"):
                    assert dtype == np.int8, field  # MDF booleans are Int8
                elif field in strings:
                    assert h5py.check_string_dtype(dtype) is not None, field
                elif field in integers:
                    assert dtype == np.int64, field
                else:
                    assert dtype == np.float64, field
            assert f["version"][()].decode().startswith("2.")
            assert uuid.UUID(f["uuid"][()].decode())
            datetime.datetime.fromisoformat(f["time"][()].decode())
            # Shapes in h5py order: J x D x F, D x F, J x Y x 3 x 3, C x K.
            assert f["acquisition/drivefield/strength"].shape[1:] == (3, 1)
            assert f["acquisition/drivefield/divider"].shape == (3, 1)
            assert f["acquisition/gradient"].shape[1:] == (1, 3, 3)
            assert f["acquisition/receiver/transferFunction"].shape == (3, NUM_FREQUENCIES)
    with h5py.File(sm_file, "r") as f:
        assert f["measurement/data"].shape == (1, NUM_CHANNELS, NUM_FREQUENCIES, 60 + 6)
        assert f["measurement/data"].dtype == np.complex64  # HDF5 compound {r, i}
        assert f["measurement/data"].id.get_type().get_member_name(0) == b"r"
        assert f["measurement/isFastFrameAxis"][()] == 1
        assert f["measurement/isFourierTransformed"][()] == 1
        assert f["measurement/isBackgroundFrame"][()].tolist() == [0] * 60 + [1] * 6
        assert f["calibration/snr"].shape == (1, NUM_CHANNELS, NUM_FREQUENCIES)
        assert f["calibration/positions"].shape == (60, 3)
    with h5py.File(measurement_file, "r") as f:
        assert f["measurement/data"].shape == (6, 2, NUM_CHANNELS, NUM_SAMPLES)
        assert f["acquisition/numPeriodsPerFrame"][()] == 2
        assert f["measurement/isFourierTransformed"][()] == 0


def test_written_system_matrix_matches_the_openmpi_layout(tmp_path, system_matrix):
    # Read back with plain h5py: raw frames = spectra + mean background, x fastest.
    path = write_system_matrix(tmp_path / "sm.mdf", system_matrix)
    with h5py.File(path, "r") as f:
        data = f["measurement/data"][()]
    mean_bg = system_matrix.background.astype(np.complex128).mean(axis=-1)
    x, y, z = 3, 2, 1
    frame = x + 5 * (y + 4 * z)
    np.testing.assert_allclose(
        data[0, :, :, frame], system_matrix.spectra[:, :, z, y, x] + mean_bg, atol=1e-5
    )
    np.testing.assert_array_equal(data[0, :, :, 60:], system_matrix.background)  # fmt: skip


def test_z_slice_central_gives_the_central_slice_of_a_3d_matrix(sm_file, system_matrix):
    central = read_system_matrix(sm_file, z_slice="central")
    assert central.grid == system_matrix.grid.central_slice()
    np.testing.assert_allclose(central.spectra, system_matrix.spectra[:, :, 1:2], atol=1e-5)
    assert central.grid.center_m[2] == pytest.approx(system_matrix.grid.axis_m(2)[1])


def test_time_signals_and_matrix_follow_the_voxel_order(sm_file):
    sm = read_system_matrix(sm_file)
    signals = sm.time_signals()
    assert signals.shape == (3, 4, 5, NUM_SAMPLES, NUM_CHANNELS)
    assert signals.dtype == np.float32
    z, y, x, c = 2, 1, 3, 1
    np.testing.assert_allclose(
        signals[z, y, x, :, c], np.fft.irfft(sm.spectra[c, :, z, y, x], n=NUM_SAMPLES), atol=1e-6
    )
    # rfft of the time signal gives the spectrum back (apart from the imaginary parts of the
    # DC and Nyquist bins, which a real signal cannot carry).
    back = np.fft.rfft(signals[z, y, x, :, c])
    np.testing.assert_allclose(back[1:-1], sm.spectra[c, 1:-1, z, y, x], atol=1e-5)
    assert sm.time_signals(channels=(0, 2)).shape[-1] == 2
    matrix = sm.matrix()
    assert matrix.shape == (NUM_CHANNELS * NUM_FREQUENCIES, 60)
    k = 7
    np.testing.assert_array_equal(matrix[c * NUM_FREQUENCIES + k, x + 5 * (y + 4 * z)],
                                  sm.spectra[c, k, z, y, x])  # fmt: skip
    mask = np.zeros((2, NUM_FREQUENCIES), bool)
    mask[1, [3, 9]] = True
    np.testing.assert_array_equal(sm.matrix(channels=(0, 2), frequency_mask=mask),
                                  sm.spectra[2, [3, 9]].reshape(2, -1))  # fmt: skip
    with pytest.raises(ValueError, match=r"frequency_mask must have shape .*\(2, 33\)"):
        sm.matrix(channels=(0, 2), frequency_mask=np.ones((3, NUM_FREQUENCIES), bool))


def test_measurement_round_trip_with_ground_truth(measurement_file, measurement):
    meas = read_measurement(measurement_file)
    np.testing.assert_array_equal(meas.data, measurement.data)
    np.testing.assert_array_equal(meas.is_background_frame, measurement.is_background_frame)
    _assert_same_acquisition(meas.acquisition, measurement.acquisition)
    assert meas.metadata == measurement.metadata
    truth, grid = meas.ground_truth
    np.testing.assert_array_equal(truth, measurement.ground_truth[0])
    assert grid == measurement.ground_truth[1]
    assert mdf_kind(measurement_file) == "measurement"
    with h5py.File(measurement_file, "r") as f:
        assert f["_groundTruth/unit"][()].decode() == "mol/L"
        assert f["_groundTruth/concentration"].shape == (3, 4, 5)


def test_measurement_without_ground_truth_round_trips(tmp_path, measurement):
    original = dataclasses.replace(measurement, ground_truth=None)
    meas = read_measurement(write_measurement(tmp_path / "m.mdf", original))
    assert meas.ground_truth is None
    np.testing.assert_array_equal(meas.data, original.data)


def test_measurement_signal_averages_frames_and_periods(measurement_file, measurement):
    meas = read_measurement(measurement_file)
    data = measurement.data.astype(np.float64)
    fg, bg = data[:4], data[4:]
    expected = (fg - bg.mean(axis=0)).mean(axis=(0, 1))
    np.testing.assert_allclose(meas.signal(), expected, atol=1e-6)
    assert meas.signal().shape == (NUM_CHANNELS, NUM_SAMPLES)
    np.testing.assert_allclose(meas.signal(background_correction=False), fg.mean(axis=(0, 1)),
                               atol=1e-6)  # fmt: skip
    per_frame = meas.signal(average_frames=False)
    assert per_frame.shape == (4, NUM_CHANNELS, NUM_SAMPLES)
    per_period = meas.signal(average_frames=False, average_periods=False)
    np.testing.assert_allclose(per_period, fg - bg.mean(axis=0), atol=1e-6)
    # A single frame index selects that frame; averaging never collapses the channels.
    np.testing.assert_allclose(meas.signal(frames=2), per_frame[2], atol=1e-6)
    np.testing.assert_allclose(meas.signal(frames=slice(1, 3)), per_frame[1:3].mean(0), atol=1e-6)
    np.testing.assert_allclose(meas.spectra(), np.fft.rfft(expected), atol=1e-5)


def test_simulated_openmpi_system_matrix_round_trips(tmp_path):
    from mpikeras.simulation import preset, simulate_system_matrix

    simulated = simulate_system_matrix(preset("openmpi-2d-19"), seed=3)
    path = write_system_matrix(tmp_path / "simulated.mdf", simulated)
    sm = read_system_matrix(path)
    assert sm.spectra.shape == (3, 817, 1, 19, 19)
    scale = np.abs(simulated.spectra).max()
    np.testing.assert_allclose(sm.spectra, simulated.spectra, rtol=0, atol=1e-6 * scale)
    assert sm.grid == simulated.grid and sm.grid.voxel_size_m == (0.002, 0.002, 0.001)
    _assert_same_acquisition(sm.acquisition, simulated.acquisition)
    np.testing.assert_allclose(sm.snr, simulated.snr)
    assert sm.frequencies_hz[1] == pytest.approx(1531.862745, rel=1e-9)  # 2.5 MHz / 1632
    assert missing_required_fields(path) == []


def test_writing_replaces_an_existing_file(tmp_path, make_system_matrix):
    path = tmp_path / "sm.mdf"
    write_system_matrix(path, make_system_matrix(seed=1))
    write_system_matrix(path, make_system_matrix(seed=2))
    np.testing.assert_allclose(read_system_matrix(path).spectra,
                               make_system_matrix(seed=2).spectra, atol=1e-5)  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sm.mdf"]


# --------------------------------------------------------------------------- reproducibility


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_source_date_epoch_makes_files_byte_identical(tmp_path, monkeypatch, system_matrix,
                                                      measurement):  # fmt: skip
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    a = write_system_matrix(tmp_path / "a.mdf", system_matrix)
    b = write_system_matrix(tmp_path / "b.mdf", system_matrix)
    assert _sha256(a) == _sha256(b)
    m1 = write_measurement(tmp_path / "m1.mdf", measurement)
    m2 = write_measurement(tmp_path / "m2.mdf", measurement)
    assert _sha256(m1) == _sha256(m2)
    with h5py.File(a, "r") as f:
        assert f["time"][()].decode() == "2023-11-14T22:13:20.000"
        assert f["acquisition/startTime"][()].decode() == "2023-11-14T22:13:20.000"
        uuids = [f[name][()].decode() for name in ("uuid", "study/uuid", "experiment/uuid")]
        # No HDF5 object timestamps on any group or dataset.
        objects = [f]
        f.visititems(lambda name, obj: objects.append(obj))
        assert len(objects) > 60
        for obj in objects:
            info = h5py.h5o.get_info(obj.id)
            assert (info.atime, info.mtime, info.ctime, info.btime) == (0, 0, 0, 0), obj.name
    assert len(set(uuids)) == 3
    # The UUIDs come from the content: other data, other UUIDs.
    other = dataclasses.replace(system_matrix, spectra=system_matrix.spectra * 2)
    with h5py.File(write_system_matrix(tmp_path / "c.mdf", other), "r") as f:
        assert f["uuid"][()].decode() not in uuids


def test_without_source_date_epoch_uuids_are_random(tmp_path, monkeypatch, system_matrix):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    a = write_system_matrix(tmp_path / "a.mdf", system_matrix)
    b = write_system_matrix(tmp_path / "b.mdf", system_matrix)
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        for name in ("uuid", "study/uuid", "experiment/uuid"):
            ua, ub = uuid.UUID(fa[name][()].decode()), uuid.UUID(fb[name][()].decode())
            assert ua != ub and ua.version == 4
        written = datetime.datetime.fromisoformat(fa["time"][()].decode())
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        assert abs((now - written).total_seconds()) < 3600


def test_invalid_source_date_epoch_is_a_config_error(tmp_path, monkeypatch, system_matrix):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(ConfigError, match=r"SOURCE_DATE_EPOCH.*received 'yesterday'"):
        write_system_matrix(tmp_path / "sm.mdf", system_matrix)
    assert list(tmp_path.iterdir()) == []


def test_measurement_rejects_inconsistent_arrays(measurement):
    with pytest.raises(ValueError, match=r"data must have shape \(N, J, C, V\).*\(6, 3, 64\)"):
        dataclasses.replace(measurement, data=measurement.data[:, 0])
    with pytest.raises(ValueError, match=r"one boolean per frame \(6\); received 5 values"):
        dataclasses.replace(measurement, is_background_frame=np.zeros(5, bool))
    with pytest.raises(ValueError, match=r"distinct values \[0, 2\]"):
        dataclasses.replace(measurement, is_background_frame=np.array([0, 0, 0, 0, 2, 2]))
