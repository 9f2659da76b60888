import json

import keras
import numpy as np
import pytest

from mpikeras.errors import RunDirectoryError
from mpikeras.training.run_directory import EpochCheckpoint, RunDirectory


def _model():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer="adam", loss="mse")
    return model


def test_bind_config_refuses_another_run_naming_the_keys(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.bind_config({"seed": 1, "data": {"band_hz": [1, 2]}, "epochs": 5})
    (run.path / "state.json").write_text(json.dumps({"epoch": 2, "checkpoint": None}))
    run.bind_config({"seed": 1, "data": {"band_hz": [1, 2]}, "epochs": 9})  # epochs may grow
    with pytest.raises(RunDirectoryError, match=r"differing keys: data\.band_hz, seed"):
        run.bind_config({"seed": 2, "data": {"band_hz": [1, 3]}, "epochs": 9})


def test_run_directory_rejects_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirectoryError, match="not a directory"):
        RunDirectory(tmp_path / "file")


def test_epoch_checkpoint_writes_state_history_best_and_keeps_two(tmp_path):
    run = RunDirectory(tmp_path / "run")
    best_epochs = []
    model = _model()
    callback = EpochCheckpoint(run, on_best=lambda m, e: best_epochs.append(e))
    callback.set_model(model)
    for epoch, val in enumerate([3.0, 1.0, 2.0, 0.5]):
        callback.on_epoch_end(epoch, {"loss": val + 1, "val_loss": val})
    state = run.state()
    assert state["epoch"] == 4 and state["best_epoch"] == 4 and state["best_value"] == 0.5
    assert best_epochs == [1, 2, 4]
    assert run.history()["val_loss"] == [3.0, 1.0, 2.0, 0.5]
    names = sorted(p.name for p in run.checkpoint_dir.iterdir())
    assert names == ["epoch-0003.keras", "epoch-0004.keras"]
    assert not list(run.path.glob(".*tmp*"))  # no temporary file left behind
    loaded = run.load_checkpoint()
    x = np.ones((2, 4), "float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_missing_checkpoint_is_reported(tmp_path):
    run = RunDirectory(tmp_path)
    (tmp_path / "state.json").write_text(
        json.dumps({"epoch": 3, "checkpoint": "checkpoints/x.keras"})
    )
    with pytest.raises(RunDirectoryError, match=r"checkpoint named in state\.json is missing"):
        run.load_checkpoint()
