import json
import math

import keras
import numpy as np
import pytest
from helpers import tiny_config

from mpikeras.cli.main import main
from mpikeras.config import FinetuneConfig
from mpikeras.errors import RunDirectoryError
from mpikeras.experiments.ablation_table import BASELINES, ROWS, ablation_entries
from mpikeras.experiments.results import TEST_VOXELS, VALIDATION, Results, Task
from mpikeras.io import write_system_matrix
from mpikeras.models.heads import DirectReconstruction, SignalRecovery
from mpikeras.simulation import preset, simulate_system_matrix
from mpikeras.training.joint import train_joint
from mpikeras.training.session import prepare_data


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("ablation-data") / "train.mdf"
    write_system_matrix(path, simulate_system_matrix(preset("openmpi-2d-19")))
    return tiny_config(path)


def mse(model, x, y):
    return float(np.mean((np.asarray(model.predict(x, verbose=0), np.float64) - y) ** 2))


@pytest.mark.slow
def test_joint_training_shares_the_encoder_and_keeps_the_best_epoch(tiny, tmp_path):
    from mpikeras.data.streams import reconstruction_streams, recovery_streams

    config = FinetuneConfig.from_dict({**tiny, "epochs": 2})
    result = train_joint(config, tmp_path / "joint", verbose=0)
    assert isinstance(result.recovery, SignalRecovery)
    assert isinstance(result.reconstruction, DirectReconstruction)

    history = result.history
    assert {"recovery_loss", "reconstruction_loss", "val_recovery_loss"} <= set(history)
    np.testing.assert_allclose(
        history["val_loss"],
        np.add(history["val_recovery_loss"], history["val_reconstruction_loss"]),
        rtol=1e-6,
    )
    assert result.best_epoch == 1 + int(np.argmin(history["val_loss"]))

    # The saved heads are the best epoch's, and they share one encoder's weights.
    recovery = keras.saving.load_model(result.run_dir / "recovery.keras", safe_mode=True)
    reconstruction = keras.saving.load_model(
        result.run_dir / "reconstruction.keras", safe_mode=True
    )
    for a, b in zip(recovery.encoder.weights, reconstruction.encoder.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    data = prepare_data(config.data, config.seed)
    common = {"batch_size": 8, "seed": config.seed, "steps_per_epoch": 2, "pipeline": "python"}
    rec_val = recovery_streams(data.signals, data.split, **common).validation
    con_val = reconstruction_streams(data.signals, data.split, **common).validation
    best = result.best_epoch - 1
    assert mse(recovery, *rec_val) == pytest.approx(history["val_recovery_loss"][best], rel=1e-4)
    assert mse(reconstruction, *con_val) == pytest.approx(
        history["val_reconstruction_loss"][best], rel=1e-4
    )

    # A finished run is loaded, not retrained; another configuration is refused.
    again = train_joint(config, tmp_path / "joint", verbose=0)
    assert again.history == history
    with pytest.raises(RunDirectoryError, match="another configuration"):
        train_joint(config.replace(batch_size=4), tmp_path / "joint", verbose=0)


@pytest.mark.slow
def test_ablation_table_has_every_row_for_one_seed(tiny, tmp_path, capsys):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(tiny))
    out = tmp_path / "ablation"
    argv = ["tune", "--ablation", "--seeds", "1", "--out", str(out), "--config", str(config)]
    assert main([*argv, "--pretrain-epochs", "1", "--finetune-epochs", "1"]) == 0
    printed = capsys.readouterr().out
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
    # Recovery from the training grid's neighbours: linear interpolation is a real baseline.
    assert 0 < table[baselines[0]].cells[Task.RECOVERY, TEST_VOXELS].mean < 1

    markdown = (out / "ablation.md").read_text()
    for name in table:
        assert f"| {name} |" in markdown
    csv_lines = (out / "ablation.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + len(table)
    assert csv_lines[0].startswith("setting,recovery_val_mse_mean,recovery_val_mse_std")
