import json

import pytest

from mpikeras.config import EncoderConfig, RecoveryHeadConfig
from mpikeras.evaluation.reproduce import HEADS, ReproducePreset, reproduce


@pytest.mark.slow
def test_a_tiny_reproduce_runs_end_to_end_and_resumes(tmp_path):
    tiny = ReproducePreset(
        "tiny",
        1,
        1,
        1e-3,
        EncoderConfig(filters=8),
        RecoveryHeadConfig(hidden_units=16, bracket_filters=4),
        "a test-sized run",
    )
    lines = []
    results = reproduce(tmp_path, tiny, seeds=1, verbose=0, log=lines.append)
    for name in ("results.json", "report.md", "figure2.png", "figure3.png"):
        assert (tmp_path / name).is_file(), name
    for run in ("pretrain", *HEADS):
        assert (tmp_path / "seed-0" / run / "state.json").is_file(), run
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved == json.loads(json.dumps(results))
    recovery = saved["recovery"]["voxel_nrmse"]
    assert {"copy", "linear", "cubic", "wo-CL", "CL", "bracket wo-CL", "bracket CL"} <= set(
        recovery
    )
    assert recovery["CL"]["n"] == 171  # 9 predicted rows x 19 columns
    reconstruction = saved["reconstruction"]["voxel_nrmse"]
    assert {"zero image", "wo-CL", "CL", "classic (train SM)", "classic (test SM)"} <= set(
        reconstruction
    )
    assert reconstruction["CL"]["n"] == 361
    assert "ground truth" in saved["recovery"]["phantom_nrmse"]
    report = (tmp_path / "report.md").read_text()
    assert "| recovery NRMSE (%) |" in report and "linear interpolation" in report
    # A second call resumes every finished run and only re-evaluates.
    lines.clear()
    reproduce(tmp_path, tiny, seeds=1, verbose=0, log=lines.append)
    assert all((tmp_path / "seed-0" / run / "history.json").is_file() for run in HEADS)
    assert json.loads((tmp_path / "seed-0" / "pretrain" / "state.json").read_text())["epoch"] == 1
