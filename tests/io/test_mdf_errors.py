"""Bad MDF input: every problem is an MDFError naming the file, the field, expected and actual.

The messages are part of the contract (mne's `test_degenerate` style), so the
tests match them. `pytest.raises(MDFError)` lets no other exception type pass,
and every test checks that the file it read is unchanged, bytes and mtime.
"""

from __future__ import annotations

import dataclasses
import re

import h5py
import numpy as np
import pytest

from mpikeras.errors import MDFError
from mpikeras.io import (
    mdf_kind,
    missing_required_fields,
    read_measurement,
    read_system_matrix,
    summarize,
    write_measurement,
    write_system_matrix,
)

READERS = {
    "sm": read_system_matrix,
    "meas": read_measurement,
    "kind": mdf_kind,
    "summary": summarize,
}


def _replace(name: str, value) -> callable:
    def edit(f: h5py.File) -> None:
        del f[name]
        f[name] = value

    return edit


def _set(name: str, value) -> callable:
    def edit(f: h5py.File) -> None:
        f[name][()] = value

    return edit


def _delete(name: str) -> callable:
    def edit(f: h5py.File) -> None:
        del f[name]

    return edit


def _set_data_value(value) -> callable:
    def edit(f: h5py.File) -> None:
        data = f["measurement/data"][()]
        data[0, 1, 7, 42] = value
        del f["measurement/data"]
        f["measurement/data"] = data

    return edit


def _compound(names) -> callable:
    def edit(f: h5py.File) -> None:
        data = f["measurement/data"][()]
        stored = np.empty(data.shape, dtype=[(names[0], "<f4"), (names[1], "<f4")])
        stored[names[0]], stored[names[1]] = data.real, data.imag
        del f["measurement/data"]
        f["measurement/data"] = stored

    return edit


def _both(*edits) -> callable:
    def edit(f: h5py.File) -> None:
        for e in edits:
            e(f)

    return edit


def _sm_data(transform) -> callable:
    def edit(f: h5py.File) -> None:
        data = transform(f["measurement/data"][()])
        del f["measurement/data"]
        f["measurement/data"] = data

    return edit


_NO_TF = _delete("acquisition/receiver/transferFunction")

# (id, source file, edit, reader, field, message pattern after "field '<field>': ")
CASES = [
    ("missing-group", "sm", _delete("acquisition"), "sm", "/acquisition",
     r"missing group; expected the group MDF v2 requires, got nothing"),
    ("missing-subgroup", "sm", _delete("acquisition/receiver"), "sm", "/acquisition/receiver",
     r"missing group"),
    ("missing-measurement", "meas", _delete("measurement"), "meas", "/measurement",
     r"missing group"),
    ("missing-dataset", "sm", _delete("calibration/size"), "sm", "/calibration/size",
     r"missing dataset; expected the dataset MDF v2 requires, got nothing"),
    ("missing-data", "meas", _delete("measurement/data"), "meas", "/measurement/data",
     r"missing dataset"),
    ("missing-flag", "sm", _delete("measurement/isFourierTransformed"), "sm",
     "/measurement/isFourierTransformed", r"missing dataset"),
    ("missing-version", "sm", _delete("version"), "kind", "/version", r"missing dataset"),
    ("old-version", "sm", _replace("version", "1.0.5"), "sm", "/version",
     r"unsupported MDF version; expected 2\.x, got '1\.0\.5'"),
    ("group-not-dataset", "sm", _both(_delete("calibration/size"),
                                      lambda f: f.create_group("calibration/size")),
     "sm", "/calibration/size", r"not a dataset; expected an HDF5 dataset, got a group"),
    ("dataset-not-group", "meas", _replace("acquisition/receiver", 1.0), "meas",
     "/acquisition/receiver", r"not a group; expected an HDF5 group, got a dataset"),
    ("data-3d", "sm", _sm_data(lambda d: d.reshape(1, 3, -1)), "sm", "/measurement/data",
     r"wrong number of dimensions; expected 4 \(J x C x K x N \(isFastFrameAxis = 1\)\), "
     r"got \(1, 3, 2178\)"),
    ("data-strings", "meas", _replace("measurement/data", np.array([b"a", b"b"])), "meas",
     "/measurement/data", r"wrong dtype; expected numbers or complex \{r, i\}, got \|S1"),
    ("data-float-fourier", "sm", _sm_data(lambda d: np.abs(d)), "sm", "/measurement/data",
     r"Fourier-domain data without a complex type; expected complex \{r, i\} J x C x K x N "
     r"\(isFastFrameAxis = 1\), or float J x C x K x N \(isFastFrameAxis = 1\) x 2, "
     r"got float32 \(1, 3, 33, 66\)"),
    ("data-compound-names", "sm", _compound(("a", "b")), "sm", "/measurement/data",
     r"unsupported compound dtype; expected complex \{r, i\}"),
    ("complex-time-domain", "sm", _set("measurement/isFourierTransformed", 0), "sm",
     "/measurement/data",
     r"complex data in the time domain \(isFourierTransformed = 0\); expected real samples, "
     r"got complex64"),
    ("channels", "sm", _both(_set("acquisition/receiver/numChannels", 2), _NO_TF), "sm",
     "/measurement/data",
     r"channel axis \(C\) disagrees with /acquisition/receiver/numChannels; expected 2, got 3"),
    ("frequencies", "sm", _both(_set("acquisition/receiver/numSamplingPoints", 100), _NO_TF), "sm",
     "/measurement/data",
     r"sample axis disagrees with K = numSamplingPoints // 2 \+ 1; expected 51, got 33"),
    ("samples", "meas", _set("acquisition/receiver/numSamplingPoints", 65), "meas",
     "/measurement/data", r"sample axis disagrees with V = numSamplingPoints; expected 65, got 64"),
    ("num-frames", "meas", _set("acquisition/numFrames", 9), "meas", "/acquisition/numFrames",
     r"disagrees with the frame axis \(N\) of /measurement/data; expected 6, got 9"),
    ("num-periods", "meas", _set("acquisition/numPeriodsPerFrame", 1), "meas",
     "/acquisition/numPeriodsPerFrame",
     r"disagrees with the period axis \(J\) of /measurement/data; expected 2, got 1"),
    ("bg-length", "meas", _replace("measurement/isBackgroundFrame", np.zeros(5, np.int8)), "meas",
     "/measurement/isBackgroundFrame", r"wrong length; expected 6 \(one per frame\), got 5"),
    ("bg-values", "sm", _set("measurement/isBackgroundFrame", np.full(66, 2, np.int8)), "sm",
     "/measurement/isBackgroundFrame", r"not a flag; expected 0 or 1 per frame, got \[2\]"),
    ("bg-dtype", "meas", _replace("measurement/isBackgroundFrame", np.zeros(6)), "meas",
     "/measurement/isBackgroundFrame", r"wrong dtype; expected Int8 \(0 or 1 per frame\), "
     r"got float64"),
    ("flag-value", "sm", _set("measurement/isFastFrameAxis", 5), "sm",
     "/measurement/isFastFrameAxis", r"not a flag; expected 0 or 1, got 5"),
    ("flag-float", "sm", _replace("measurement/isBackgroundCorrected", 0.0), "sm",
     "/measurement/isBackgroundCorrected", r"wrong dtype; expected an integer, got float64"),
    ("all-background", "meas", _set("measurement/isBackgroundFrame", np.ones(6, np.int8)),
     "meas", "/measurement/isBackgroundFrame",
     r"every frame is a background frame; expected at least one foreground frame, "
     r"got 6 background frames"),
    ("nan-data", "sm", _set_data_value(np.nan), "sm", "/measurement/data",
     r"non-finite values \(NaN or Inf\); expected finite numbers, got 1 non-finite values, "
     r"the first at h5py index \(0, 1, 7, 42\)"),
    ("inf-data", "sm", _set_data_value(np.inf + 0j), "sm", "/measurement/data",
     r"non-finite values \(NaN or Inf\)"),
    ("nan-measurement", "meas", _sm_data(lambda d: np.where(d > 2.5, np.nan, d)), "meas",
     "/measurement/data", r"non-finite values \(NaN or Inf\); expected finite numbers, got \d+"),
    ("nan-fov", "sm", _replace("calibration/fieldOfView", [0.01, np.nan, 0.003]), "sm",
     "/calibration/fieldOfView", r"not finite; expected finite numbers, got 1 NaN or Inf values"),
    ("nan-bandwidth", "sm", _replace("acquisition/receiver/bandwidth", np.inf), "sm",
     "/acquisition/receiver/bandwidth", r"not finite; expected a finite number, got inf"),
    ("negative-fov", "sm", _replace("calibration/fieldOfView", [0.01, -0.008, 0.003]), "sm",
     "/calibration/fieldOfView",
     r"out of range; expected 3 positive lengths in m, got \[0\.01, -0\.008, 0\.003\]"),
    ("bandwidth-string", "sm", _replace("acquisition/receiver/bandwidth", "1.25 MHz"), "sm",
     "/acquisition/receiver/bandwidth", r"wrong type or shape; expected a numeric scalar, got "),
    ("bandwidth-negative", "meas", _set("acquisition/receiver/bandwidth", -1.0), "meas",
     "/acquisition/receiver/bandwidth", r"out of range; expected a positive frequency in Hz"),
    ("size-float", "sm", _replace("calibration/size", [5.0, 4.0, 3.0]), "sm", "/calibration/size",
     r"wrong shape or type; expected 3 positive integers \(x, y, z\), got float64 "
     r"\[5\.0, 4\.0, 3\.0\]"),
    ("size-2d", "sm", _replace("calibration/size", np.array([5, 12])), "sm", "/calibration/size",
     r"wrong shape or type"),
    ("size-inconsistent", "sm", _set("calibration/size", [5, 4, 2]), "sm", "/calibration/size",
     r"number of voxels disagrees with the foreground frames of /measurement/data; "
     r"expected 60 voxels \(= foreground frames\), got 40 \(5 x 4 x 2\)"),
    ("size-inconsistent-summary", "sm", _set("calibration/size", [5, 4, 4]), "summary",
     "/calibration/size", r"number of voxels disagrees"),
    ("order", "sm", _replace("calibration/order", "xxz"), "sm", "/calibration/order",
     r"not a permutation of 'xyz'; expected 'xyz', got 'xxz'"),
    ("strength-empty", "sm", _replace("acquisition/drivefield/strength", np.zeros((0, 3, 1))),
     "sm", "/acquisition/drivefield/strength",
     r"wrong shape or type; expected J x 3 x 1 real, got float64 \(0, 3, 1\)"),
    ("divider-zero", "meas", _set("acquisition/drivefield/divider", [[0], [96], [99]]), "meas",
     "/acquisition/drivefield/divider", r"out of range; expected positive integers"),
    ("gradient-empty", "sm", _replace("acquisition/gradient", np.zeros((0, 1, 3, 3))), "sm",
     "/acquisition/gradient", r"wrong shape; expected J x Y x 3 x 3 or 3, got \(0, 1, 3, 3\)"),
    ("transfer-function", "sm", _replace("acquisition/receiver/transferFunction",
                                         np.ones((3, 20), np.complex64)), "sm",
     "/acquisition/receiver/transferFunction", r"wrong shape; expected \(3, 33\), got \(3, 20\)"),
    ("snr-empty", "sm", _replace("calibration/snr", np.zeros((0, 3, 33))), "sm",
     "/calibration/snr", r"wrong shape; expected J x 3 x 33, got \(0, 3, 33\)"),
    ("frame-permutation", "sm", _both(_set("measurement/isFramePermutation", 1),
                                      lambda f: f.create_dataset("measurement/framePermutation",
                                                                 data=np.ones(66, np.int64))),
     "sm", "/measurement/framePermutation",
     r"not a permutation; expected each of 1\.\.66 once \(1-based\), got values 1\.\.1"),
    ("frequency-selection", "sm", _set("measurement/isFrequencySelection", 1), "sm",
     "/measurement/isFrequencySelection",
     r"frequency-selected data is not supported; expected 0, got 1"),
    ("measurement-as-sm", "meas", None, "sm", "/calibration/method",
     r"missing: this is a measurement file, not a system matrix; expected a calibration file "
     r"\(with /calibration/method\), got a file without it"),
    ("sm-as-measurement", "sm", None, "meas", "/calibration/method",
     r"present: this is a system matrix \(calibration\) file, not a measurement; expected a "
     r"measurement file \(without /calibration/method\), got a calibration file"),
    ("ground-truth", "meas", _replace("_groundTruth/size", np.array([5, 4, 2])), "meas",
     "/_groundTruth/concentration",
     r"wrong shape; expected \(2, 4, 5\) \(Nz, Ny, Nx\), got \(3, 4, 5\)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "edit", "reader", "field", "pattern"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_bad_content_raises_mdf_error_naming_file_and_field(
    sm_file, measurement_file, edited_copy, file_state, source, edit, reader, field, pattern
):
    path = edited_copy(sm_file if source == "sm" else measurement_file, edit)
    before = file_state(path)
    prefix = re.escape(f"{path}: field '{field}': ")
    with pytest.raises(MDFError, match=prefix + pattern) as info:
        READERS[reader](path)
    assert info.value.field == field
    assert info.value.path == str(path)
    assert file_state(path) == before


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"", r"file is empty; expected an MDF \(HDF5\) file, got 0 bytes"),
        (
            b"time,signal\n0,1\n",
            r"not an HDF5 file; expected the HDF5 signature "
            r".*, got b'time,sig'",
        ),
        (b"\x89HDF", r"not an HDF5 file"),
    ],
    ids=["zero-length", "text", "short"],
)
@pytest.mark.parametrize("reader", [*sorted(READERS), "missing"])
def test_files_that_are_not_hdf5_are_rejected(tmp_path, file_state, content, pattern, reader):
    path = tmp_path / "bad.mdf"
    path.write_bytes(content)
    before = file_state(path)
    read = missing_required_fields if reader == "missing" else READERS[reader]
    with pytest.raises(MDFError, match=re.escape(f"{path}: field '/': ") + pattern):
        read(path)
    assert file_state(path) == before


@pytest.mark.parametrize("fraction", [0.0005, 0.01, 0.2, 0.5, 0.8, 0.99, 0.9999])
@pytest.mark.parametrize("reader", ["sm", "summary"])
def test_truncated_files_are_rejected(sm_file, tmp_path, file_state, fraction, reader):
    content = sm_file.read_bytes()
    path = tmp_path / "truncated.mdf"
    path.write_bytes(content[: max(9, int(len(content) * fraction))])
    before = file_state(path)
    with pytest.raises(MDFError, match=re.escape(f"{path}: field '/': ")
                       + r"truncated or corrupted HDF5 file \(.*truncated"):  # fmt: skip
        READERS[reader](path)
    assert file_state(path) == before


def test_missing_file_and_directory_are_rejected(tmp_path):
    missing = tmp_path / "nothing.mdf"
    with pytest.raises(MDFError, match=re.escape(f"{missing}: field '/': file does not exist; ")
                       + "expected an MDF \\(HDF5\\) file, got no such file"):  # fmt: skip
        read_system_matrix(missing)
    with pytest.raises(MDFError, match=re.escape(f"{tmp_path}: field '/': is a directory")):
        read_measurement(tmp_path)


@pytest.mark.parametrize(
    ("z_slice", "shown"), [(3, "3"), (-1, "-1"), ("middle", "'middle'"), (1.0, "1.0"),
                           (True, "True")],
)  # fmt: skip
def test_z_slice_outside_the_grid_is_rejected(sm_file, file_state, z_slice, shown):
    before = file_state(sm_file)
    with pytest.raises(MDFError, match=re.escape(
        f"{sm_file}: field '/calibration/size': z_slice does not select one of the 3 z slices; "
        f"expected None, 'central' or an index in 0..2, got {shown}"
    )):  # fmt: skip
        read_system_matrix(sm_file, z_slice=z_slice)
    assert file_state(sm_file) == before


def test_mdf_error_is_a_value_error(sm_file, edited_copy):
    path = edited_copy(sm_file, _delete("calibration/size"))
    with pytest.raises(ValueError, match="missing dataset"):
        read_system_matrix(path)


def test_mdf_error_takes_its_parts_by_keyword(tmp_path):
    path = tmp_path / "f.mdf"
    error = MDFError(path, field="/calibration/size", problem="wrong shape", expected=3, actual=2)
    assert str(error) == f"{path}: field '/calibration/size': wrong shape; expected 3, got 2"
    parts = (error.path, error.field, error.problem, error.expected, error.actual)
    assert parts == (str(path), "/calibration/size", "wrong shape", 3, 2)
    bare = MDFError(path, field="/", problem="cannot read")  # no expected, no actual
    assert str(bare) == f"{path}: field '/': cannot read"
    with pytest.raises(TypeError):
        MDFError(path, "/calibration/size", "wrong shape")


def test_missing_required_fields_lists_what_is_absent(sm_file, edited_copy, file_state):
    path = edited_copy(sm_file, _both(_delete("study/uuid"), _delete("calibration/size"),
                                      _delete("measurement/isSparsityTransformed")))  # fmt: skip
    before = file_state(path)
    assert missing_required_fields(path) == [
        "/study/uuid", "/measurement/isSparsityTransformed", "/calibration/size"
    ]  # fmt: skip
    assert file_state(path) == before


# --------------------------------------------------------------------------- writing


@pytest.mark.parametrize(
    ("change", "field", "pattern"),
    [
        (lambda sm: {"spectra": sm.spectra[:, :, :2]}, "/measurement/data",
         r"system matrix spectra do not match the grid; expected \(C, K, 3, 4, 5\) = "
         r"\(C, K, Nz, Ny, Nx\), got \(3, 33, 2, 4, 5\)"),
        (lambda sm: {"spectra": np.where(np.abs(sm.spectra) > 3, np.nan, sm.spectra)},
         "/measurement/data", r"the spectra holds non-finite values \(NaN or Inf\)"),
        (lambda sm: {"background": sm.background[:2]}, "/measurement/data",
         r"background frames have the wrong shape; expected \(3, 33, E\), got \(2, 33, 6\)"),
        (lambda sm: {"acquisition": dataclasses.replace(sm.acquisition, num_sampling_points=70)},
         "/acquisition/receiver/numSamplingPoints",
         r"the data's sample axis disagrees with K = numSamplingPoints // 2 \+ 1; "
         r"expected 36, got 33"),
        (lambda sm: {"acquisition": dataclasses.replace(sm.acquisition, num_receive_channels=2)},
         "/acquisition/receiver/numChannels",
         r"disagrees with the channel axis of the data; expected 3, got 2"),
        (lambda sm: {"acquisition": dataclasses.replace(
            sm.acquisition, transfer_function=np.ones((3, 5)))},
         "/acquisition/receiver/transferFunction",
         r"wrong shape; expected \(3, 33\), got \(3, 5\)"),
        (lambda sm: {"snr": np.ones(4)}, "/calibration/snr", r"wrong shape"),
    ],
    ids=["grid", "nan", "background", "samples", "channels", "transfer-function", "snr"],
)  # fmt: skip
def test_inconsistent_system_matrix_is_not_written(tmp_path, system_matrix, sm_file, file_state,
                                                   change, field, pattern):  # fmt: skip
    bad = dataclasses.replace(system_matrix, **change(system_matrix))
    before = file_state(sm_file)
    with pytest.raises(MDFError, match=re.escape(f"{sm_file}: field '{field}': ") + pattern):
        write_system_matrix(sm_file, bad)
    assert file_state(sm_file) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sm.mdf"]


def test_inconsistent_measurement_is_not_written(tmp_path, measurement):
    path = tmp_path / "m.mdf"
    data = measurement.data.copy()
    data[1, 0, 2, 5] = np.inf
    with pytest.raises(MDFError, match=re.escape(f"{path}: field '/measurement/data': ")
                       + r"the measurement data holds non-finite values"):  # fmt: skip
        write_measurement(path, dataclasses.replace(measurement, data=data))
    truth, grid = measurement.ground_truth
    with pytest.raises(MDFError, match=r"'/_groundTruth/concentration': ground truth does not "
                                       r"match its grid"):  # fmt: skip
        write_measurement(path, dataclasses.replace(measurement, ground_truth=(truth[:2], grid)))
    assert list(tmp_path.iterdir()) == []
