import json
import math

import pytest
from helpers import run_python, tiny_config

from mpikeras.experiments.ablation_table import BASELINES, ROWS, ablation_entries
from mpikeras.experiments.results import TEST_VOXELS, VALIDATION, Results, Task
from mpikeras.io import write_system_matrix
from mpikeras.simulation import preset, simulate_system_matrix


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("ablation-data") / "train.mdf"
    write_system_matrix(path, simulate_system_matrix(preset("openmpi-2d-19")))
    return tiny_config(path)


@pytest.mark.slow
def test_ablation_table_has_every_row_for_one_seed(tiny, tmp_path):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(tiny))
    out = tmp_path / "ablation"
    argv = ["tune", "--ablation", "--seeds", "1", "--out", str(out), "--config", str(config)]
    argv += ["--pretrain-epochs", "1", "--finetune-epochs", "1"]
    # 22 tiny trainings: on PyTorch (eager) in a third of the time TensorFlow spends tracing.
    code = "import sys; from mpikeras.cli.main import main; sys.exit(main(sys.argv[1:]))"
    printed = run_python(code, *argv).stdout
    assert "[seed 0] joint CL" in printed and str(out / "ablation.md") in printed

    results = Results.load(out / "ablation.json")
    table = {entry.setting: entry for entry in ablation_entries(results)}
    baselines = [f"{method.description} (baseline)" for method in BASELINES.values()]
    assert list(table) == [row.name for row in ROWS] + baselines
    assert results.settings["protocol"] is True
    for row in ROWS:
        for task in Task:
            for target in (VALIDATION, TEST_VOXELS):
                stats = table[row.name].cells[task, target]
                if task not in row.tasks and not row.joint:
                    assert stats is None
                    continue
                assert stats.seeds == 1 and stats.std == 0.0
                assert math.isfinite(stats.mean) and stats.mean > 0
    # Every voxel's NRMSE is kept: 9 predicted rows x 19 columns for recovery.
    assert results.score(ROWS[0].method(Task.RECOVERY)).per_seed[0].shape == (171,)
    # The training SM looked up at each target: the strongest recovery baseline.
    assert 0 < table[baselines[0]].cells[Task.RECOVERY, TEST_VOXELS].mean < 1

    markdown = (out / "ablation.md").read_text()
    for name in table:
        assert f"| {name} |" in markdown
    csv_lines = (out / "ablation.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + len(table)
    assert csv_lines[0].startswith("setting,recovery_val_mse_mean,recovery_val_mse_std")
