"""`validate_file` and `mpikeras validate`: conforming files pass, every hostile file fails.

(a) every kind of file mpikeras writes, and the plain-h5py OpenMPIData
layouts, validate with no errors (exit 0); (b) every damaged file of the
hostile corpus (`test_hostile_corpus.CASES`) is refused, with exit 1 and
its findings, or exit 2 and one line when it is no readable HDF5 file, never
a traceback; (c) each rule family names the field; (d) `--json` parses and
matches the library's report.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from mpikeras.cli.main import main
from mpikeras.errors import MDFError
from mpikeras.io import write_measurement, write_system_matrix
from mpikeras.io.mdf import validate_data
from mpikeras.io.mdf.validate import ValidationReport, validate_file
from tests.io.conftest import write_openmpi_calibration
from tests.io.test_hostile_corpus import CASES, hostile  # noqa: F401 (the fixture)

#: Hostile cases whose file is damaged (the others are valid files given to the wrong reader).
DAMAGED = [case for case in CASES if case.damage is not None]
_SOURCES: dict[str, bytes] = {}


@pytest.fixture(scope="module")
def simulated_files(tmp_path_factory) -> dict[str, Path]:
    """A simulated openmpi-2d-19 system matrix and phantom measurement, written by mpikeras."""
    from mpikeras.simulation import preset, simulate_system_matrix
    from mpikeras.simulation.phantoms import simulate_measurement

    folder = tmp_path_factory.mktemp("simulated")
    scanner = preset("openmpi-2d-19")
    sm = simulate_system_matrix(scanner, seed=0)
    meas = simulate_measurement("resolution", scanner, seed=0, num_frames=3)
    return {
        "simulated-sm": write_system_matrix(folder / "sm.mdf", sm),
        "simulated-phantom": write_measurement(folder / "phantom.mdf", meas),
    }


@pytest.fixture
def source(request, tmp_path):
    """Factory: a fresh copy of a small valid file ("sm" or "meas", from conftest.py)."""

    def copy(name: str = "sm") -> Path:
        if name not in _SOURCES:
            fixture = "sm_file" if name == "sm" else "measurement_file"
            _SOURCES[name] = request.getfixturevalue(fixture).read_bytes()
        path = tmp_path / f"copy-{len(list(tmp_path.iterdir()))}.mdf"
        path.write_bytes(_SOURCES[name])
        return path

    return copy


def edited(path: Path, *edits) -> Path:
    with h5py.File(path, "r+") as f:
        for edit in edits:
            edit(f)
    return path


def replace(name: str, value):
    def edit(f: h5py.File) -> None:
        del f[name]
        f[name] = value

    return edit


def validate_cli(path: Path, capsys, *extra: str) -> tuple[int, str, str]:
    code = main(["validate", str(path), *extra])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def error_fields(report: ValidationReport) -> set[str]:
    return {f.field for f in report.errors}


# --------------------------------------------------------------------------- (a) conforming files


@pytest.mark.parametrize("layout", ["compound", "trailing", "frames-first"])
def test_plain_h5py_openmpi_layouts_conform(tmp_path, capsys, layout):
    path = tmp_path / f"{layout}.mdf"
    write_openmpi_calibration(path, layout=layout)
    code, out, err = validate_cli(path, capsys)
    assert code == 0, out
    assert err == ""
    assert out.startswith(f"{path}: calibration, conforms to MDF v2 (0 errors")


@pytest.mark.parametrize("name", ["simulated-sm", "simulated-phantom"])
def test_simulated_files_conform(simulated_files, capsys, name):
    code, out, _ = validate_cli(simulated_files[name], capsys)
    assert code == 0, out
    kind = "calibration" if name == "simulated-sm" else "measurement"
    assert f": {kind}, conforms to MDF v2 (0 errors" in out


@pytest.mark.parametrize("num_background", [0, 6])
def test_written_system_matrices_conform(tmp_path, make_system_matrix, num_background):
    sm = make_system_matrix(num_background=num_background)
    report = validate_file(write_system_matrix(tmp_path / "sm.mdf", sm))
    assert report.conforms, report.format()
    assert report.kind == "calibration"
    # The only warning is the background-correction one, and only with background frames.
    assert [f.field for f in report.warnings] == (
        ["/measurement/isBackgroundCorrected"] if num_background else []
    )


def test_written_measurement_conforms(measurement_file):
    report = validate_file(measurement_file)
    assert report.conforms and report.kind == "measurement", report.format()


# --------------------------------------------------------------------------- (b) hostile corpus


def test_every_damaged_case_is_checked():
    assert len(DAMAGED) == len(CASES) - 2  # the two valid files given to the wrong reader


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", DAMAGED, ids=lambda c: c.id)
def test_hostile_file_fails_validation(hostile, file_state, capsys, case):  # noqa: F811
    path = hostile(case)
    before = file_state(path)
    code, out, err = validate_cli(path, capsys)
    if case.raw and case.field == "/":  # no readable HDF5 file: the package's one-line error
        assert code == 2, out
        assert out == "" and err.count("\n") == 1
        assert err.startswith(f"mpikeras validate: error: {path}: field '/': ")
    else:
        assert code == 1, out
        assert err == ""
        lines = out.splitlines()
        assert "does not conform to MDF v2" in lines[0]
        assert any(line.startswith("error: ") for line in lines[1:])
        assert all(line.startswith(("error: ", "warning: ")) for line in lines[1:])
        if not case.raw:  # the field the readers name is among the errors
            assert f"error: {case.field}: " in out, out
    assert file_state(path) == before


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case_id", ["truncated-at-half", "nan-in-system-matrix", "data-5d"])
def test_validate_process_never_prints_a_traceback(hostile, case_id):  # noqa: F811
    path = hostile(next(c for c in CASES if c.id == case_id))
    result = subprocess.run(
        [sys.executable, "-m", "mpikeras.cli.main", "validate", str(path)],
        capture_output=True, text=True, timeout=50,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )  # fmt: skip
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == (2 if case_id.startswith("truncated") else 1), result.stderr


def test_missing_and_non_hdf5_files_exit_2(tmp_path, capsys):
    text = tmp_path / "table.csv"
    text.write_text("time,signal\n0,1\n")
    for path, problem in ((tmp_path / "none.mdf", "file does not exist"), (text, "not an HDF5")):
        code, out, err = validate_cli(path, capsys)
        assert (code, out) == (2, "")
        assert err.startswith(f"mpikeras validate: error: {path}: field '/': {problem}")
        with pytest.raises(MDFError):
            validate_file(path)


# --------------------------------------------------------------------------- (c) rule families


def test_missing_required_fields_are_all_listed(source):
    path = edited(
        source(),
        lambda f: f.__delitem__("scanner/operator"),
        lambda f: f.__delitem__("acquisition/startTime"),
        lambda f: f.__delitem__("study"),
    )
    report = validate_file(path)
    assert {"/scanner/operator", "/acquisition/startTime", "/study"} <= error_fields(report)
    line = next(f for f in report.errors if f.field == "/scanner/operator").line()
    assert line == (
        "error: /scanner/operator: missing dataset; expected the dataset MDF v2 requires "
        "(3.5 scanner), got nothing"
    )


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("acquisition/drivefield/phase", np.zeros((1, 2, 1)), "wrong shape"),
        ("acquisition/drivefield/waveform", np.array([[b"sine"]] * 4), "wrong shape"),
        ("calibration/snr", np.ones((1, 3, 20)), "wrong shape"),
        ("calibration/offsetFields", np.zeros((59, 3)), "wrong shape"),
        ("acquisition/receiver/transferFunction", np.ones((2, 33), np.complex64), "wrong shape"),
        ("acquisition/receiver/numChannels", np.int64(4), "channel axis (C) disagrees"),
        ("acquisition/numPeriodsPerFrame", np.int64(2), "disagrees with the period axis (J)"),
        ("acquisition/drivefield/numChannels", np.int64(2), "wrong shape"),
    ],
)
def test_inconsistent_dimensions_name_the_field(source, field, value, problem):
    report = validate_file(edited(source(), replace(field, value)))
    assert not report.conforms
    expected_field = "/measurement/data" if "channel axis" in problem else None
    found = [f for f in report.errors if problem in f.problem]
    assert found, report.format()
    names = {f.field for f in found}
    assert (expected_field or f"/{field}") in names or any(
        n.startswith("/acquisition/drivefield/") for n in names
    ), report.format()


def test_frame_permutation_flag_and_field(source):
    n = 66
    ok = validate_file(
        edited(
            source(),
            replace("measurement/isFramePermutation", np.int8(1)),
            lambda f: f.create_dataset("measurement/framePermutation", data=np.arange(n, 0, -1)),
        )
    )
    assert ok.conforms, ok.format()
    assert "/measurement/isFramePermutation" in {f.field for f in ok.warnings}

    missing = validate_file(edited(source(), replace("measurement/isFramePermutation", np.int8(1))))
    finding = next(f for f in missing.errors if f.field == "/measurement/framePermutation")
    assert finding.problem == "missing dataset"
    assert "when isFramePermutation = 1" in finding.expected

    repeated = np.r_[1, 1, np.arange(3, n + 1)]
    bad = validate_file(
        edited(
            source(),
            replace("measurement/isFramePermutation", np.int8(1)),
            lambda f: f.create_dataset("measurement/framePermutation", data=repeated),
        )
    )
    finding = next(f for f in bad.errors if f.field == "/measurement/framePermutation")
    assert finding.problem == "not a permutation"


def test_sparsity_flag_requires_its_fields(source):
    report = validate_file(edited(source(), replace("measurement/isSparsityTransformed", 1)))
    missing = {f.field for f in report.errors if f.problem == "missing dataset"}
    assert missing == {"/measurement/sparsityTransformation", "/measurement/subsamplingIndices"}


@pytest.mark.parametrize("block_bytes", [validate_data.BLOCK_BYTES, 4096, 8])
def test_nan_in_data_found_in_any_block_size(source, monkeypatch, block_bytes):
    def poison(f):
        data = f["measurement/data"][()]
        data[0, 2, 30, 50] = np.nan
        data[0, 1, 7, 64] = np.inf
        f["measurement/data"][()] = data

    monkeypatch.setattr(validate_data, "BLOCK_BYTES", block_bytes)
    report = validate_file(edited(source(), poison))
    finding = next(f for f in report.errors if f.field == "/measurement/data")
    assert finding.problem == "non-finite values (NaN or Inf)"
    assert finding.actual == "2 non-finite values, the first at h5py index (0, 1, 7, 64)"


def test_data_larger_than_the_read_limit_is_not_read(source, monkeypatch):
    monkeypatch.setenv("MPIKERAS_MAX_READ_BYTES", "1000")
    report = validate_file(source())
    assert any(
        f.field == "/measurement/data" and "declares more data than memory allows" in f.problem
        for f in report.errors
    ), report.format()


def test_transfer_function_flag_without_function_warns(source):
    path = edited(
        source("meas"),
        replace("measurement/isTransferFunctionCorrected", np.int8(1)),
        lambda f: f.__delitem__("acquisition/receiver/transferFunction"),
    )
    report = validate_file(path)
    assert report.conforms
    assert "/measurement/isTransferFunctionCorrected" in {f.field for f in report.warnings}


def test_misspelled_offset_fields_warn_but_conform(source, capsys):
    path = edited(source(), lambda f: f.move("calibration/offsetFields", "calibration/offsetField"))
    code, out, _ = validate_cli(path, capsys)
    assert code == 0, out
    assert "warning: /calibration/offsetField: not the specification's name; MPIFiles.jl " in out


def test_mdf_v1_reports_only_the_version(source):
    report = validate_file(edited(source(), replace("version", "1.0.5")))
    assert [f.line() for f in report.findings] == [
        "error: /version: unsupported MDF version; expected 2.x, got '1.0.5'"
    ]


# --------------------------------------------------------------------------- (d) JSON


def test_json_report_matches_the_library(source, capsys):
    path = edited(source(), lambda f: f.__delitem__("scanner/operator"))
    shutil.copyfile(path, path.with_suffix(".copy"))
    code, out, _ = validate_cli(path, capsys, "--json")
    report = validate_file(path)
    parsed = json.loads(out)
    assert code == 1
    assert parsed["path"] == str(path) and parsed["kind"] == "calibration"
    assert parsed["conforms"] is False
    assert [
        (f["severity"], f["field"], f["problem"], f["expected"], f["actual"])
        for f in parsed["findings"]
    ] == [(f.severity, f.field, f.problem, f.expected, f.actual) for f in report.findings]
    assert {"error", "warning"} == {f["severity"] for f in parsed["findings"]}
