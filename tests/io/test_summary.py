"""`summarize` / `format_summary`: what `mpikeras info FILE [--json]` prints."""

from __future__ import annotations

import json
import re

import h5py
import numpy as np
import pytest

from mpikeras.errors import MDFError
from mpikeras.io import format_summary, summarize


def test_calibration_summary(sm_file, system_matrix, file_state):
    before = file_state(sm_file)
    s = summarize(sm_file)
    assert file_state(sm_file) == before
    assert s["kind"] == "calibration" and s["method"] == "robot" and s["version"] == "2.1.0"
    grid = system_matrix.grid
    assert s["grid"]["size"] == [5, 4, 3] and s["grid"]["num_voxels"] == 60
    assert s["grid"]["fov_m"] == pytest.approx([0.010, 0.008, 0.003])
    assert s["grid"]["voxel_size_m"] == pytest.approx([0.002, 0.002, 0.001])
    assert s["grid"]["center_m"] == pytest.approx(list(grid.center_m))
    assert s["order"] == "xyz"
    assert s["delta_sample_size_m"] == pytest.approx([0.002, 0.002, 0.001])
    assert s["num_frequencies"] == 33 and s["num_sampling_points"] == 64
    assert s["bandwidth_hz"] == 1.25e6 and s["sampling_rate_hz"] == 2.5e6
    assert s["frequency_range_hz"] == pytest.approx([0.0, 1.25e6])
    assert s["frequency_resolution_hz"] == pytest.approx(2.5e6 / 64)
    assert s["period_s"] == pytest.approx(64 / 2.5e6)
    assert s["num_receive_channels"] == 3 and s["unit"] == "V"
    assert (s["num_frames"], s["num_foreground_frames"], s["num_background_frames"]) == (66, 60, 6)
    assert s["num_periods_per_frame"] == 1 and s["num_averages"] == 7
    assert s["data"] == {
        "shape": [1, 3, 33, 66], "dtype": "complex64", "domain": "frequency",
        "fast_frame_axis": True, "complex_layout": "HDF5 compound {r, i}",
        "background_corrected": False,
    }  # fmt: skip
    df = s["drive_field"]
    assert df["dividers"] == [102, 96, 99] and df["base_frequency_hz"] == 2.5e6
    assert df["frequencies_hz"] == pytest.approx([2.5e6 / 102, 2.5e6 / 96, 2.5e6 / 99])
    assert df["strengths_tesla"] == [0.012, 0.010, 0.0]
    assert df["phases_rad"] == pytest.approx([np.pi / 2, 0.25, np.pi / 2])
    assert df["active_channels"] == [0, 1] and df["waveform"] == "sine"
    assert s["gradient_tesla_per_m"] == [[-1.5, 0, 0], [0, -1.5, 0], [0, 0, 3.0]]
    assert s["has_transfer_function"] and s["has_snr"]
    assert s["tracer"]["name"] == "perimag" and s["tracer"]["concentration_mol_per_l"] == 0.1
    assert s["experiment"]["name"] == "small calibration"
    assert s["ground_truth_grid"] is None
    assert json.loads(json.dumps(s)) == s  # what `mpikeras info --json` prints


def test_calibration_text_uses_mm_khz_and_mt(sm_file):
    text = format_summary(summarize(sm_file))
    lines = text.splitlines()
    assert lines[0] == str(sm_file)
    expected = [
        r"kind +calibration \(system matrix, method 'robot'\), MDF 2\.1\.0",
        r"grid +5 x 4 x 3 voxels \(60\), order 'xyz' \(x fastest\)",
        r"field of view +10 x 8 x 3 mm, centre \(1, -2, 0\.5\) mm",
        r"voxel size +2 x 2 x 1 mm",
        r"delta sample +2 x 2 x 1 mm",
        r"frames +66: 60 foreground \+ 6 background; 1 period per frame, 7 averages",
        r"data +1 x 3 x 33 x 66 complex64; frequency domain, fast frame axis, "
        r"HDF5 compound \{r, i\}, not background-corrected",
        r"receiver +3 channels, unit V",
        r"sampling +64 points per period \(25\.6 us\), bandwidth 1250 kHz",
        r"frequencies +33 bins, 0 to 1250 kHz, step 39\.0625 kHz",
        r"drive field +3 channels, base frequency 2500 kHz, sine",
        r"channel x +24\.5098 kHz \(divider 102\), 12 mT, phase 1\.571 rad \(90 deg\)",
        r"channel y +26\.0417 kHz \(divider 96\), 10 mT, phase 0\.25 rad \(14\.32 deg\)",
        r"channel z +25\.2525 kHz \(divider 99\), 0 mT, phase .*",
        r"gradient +diag\(-1\.5, -1\.5, 3\) T/m",
        r"tracer +perimag, vendor micromod, batch b-17, 100 mmol/L Fe",
        r"also stored +transfer function, SNR",
    ]
    for pattern in expected:
        assert any(re.fullmatch(r"\s+" + pattern, line) for line in lines), pattern
    # One column for the values.
    starts = {len(line) - len(line.lstrip()) for line in lines[1:] if "channel" not in line}
    assert starts == {2}
    columns = {re.search(r"\S\s{2,}\S", line).end() - 1 for line in lines[1:]}
    assert len(columns) == 1


def test_measurement_summary(measurement_file):
    s = summarize(measurement_file)
    assert s["kind"] == "measurement" and s["method"] is None and s["grid"] is None
    assert (s["num_frames"], s["num_foreground_frames"], s["num_background_frames"]) == (6, 4, 2)
    assert s["num_periods_per_frame"] == 2
    assert s["data"]["domain"] == "time" and s["data"]["shape"] == [6, 2, 3, 64]
    assert s["data"]["complex_layout"] == "real samples" and not s["has_snr"]
    assert s["ground_truth_grid"]["size"] == [5, 4, 3]
    text = format_summary(json.loads(json.dumps(s)))
    assert "  kind" in text and "measurement, MDF 2.1.0" in text
    assert re.search(r"frames +6: 4 foreground \+ 2 background; 2 periods per frame", text)
    assert re.search(r"ground truth +5 x 4 x 3 voxels \(60\)\n +field of view +10 x 8 x 3 mm",
                     text)  # fmt: skip
    assert "grid  " not in text


def test_summary_of_an_openmpi_file_with_the_trailing_complex_axis(openmpi_calibration):
    path, _ = openmpi_calibration(layout="trailing")
    s = summarize(path)
    assert s["data"]["complex_layout"] == "float with a trailing axis of length 2"
    assert s["data"]["shape"] == [1, 3, 33, 64, 2] and s["version"] == "2.0.0"
    assert s["num_background_frames"] == 4 and s["num_averages"] == 1000
    text = format_summary(s)
    assert re.search(r"channel y +26\.0417 kHz \(divider 96\), 12 mT", text)
    assert re.search(r"gradient +diag\(-1, -1, 2\) T/m", text)
    assert "also stored" in text and "SNR" in text and "transfer function" not in text


def test_summary_does_not_read_the_data(sm_file, edited_copy):
    # A NaN deep in the data does not matter to the summary (only metadata and shapes are
    # read), while reading the system matrix rejects it.
    from mpikeras.io import read_system_matrix

    def poison(f):
        f["measurement/data"][0, 2, 30, 65] = np.nan

    path = edited_copy(sm_file, poison)
    assert summarize(path)["num_frames"] == 66
    with pytest.raises(MDFError, match="non-finite"):
        read_system_matrix(path)


def test_summary_of_a_bad_file_is_an_mdf_error(tmp_path, sm_file, edited_copy):
    text = tmp_path / "notes.mdf"
    text.write_text("not hdf5")
    with pytest.raises(MDFError, match=re.escape(f"{text}: field '/': not an HDF5 file")):
        summarize(text)

    def drop(f):
        del f["acquisition/receiver/bandwidth"]

    broken = edited_copy(sm_file, drop)
    with pytest.raises(MDFError, match="field '/acquisition/receiver/bandwidth': missing dataset"):
        summarize(broken)
    with h5py.File(broken, "r") as f:  # the file was only read
        assert "acquisition/receiver/bandwidth" not in f
