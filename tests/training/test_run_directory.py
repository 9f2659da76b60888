import json

import keras
import numpy as np
import pytest

from mpikeras.errors import RunDirectoryError, TrainingDivergedError
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
    callback = EpochCheckpoint(run, on_best=lambda m, e: best_epochs.append(e), interval_s=0)
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


def _fit_epochs(callback, model, val_losses, epochs):
    """Drive `callback` through epochs whose weights are all `epoch + 1`."""
    callback.set_model(model)
    callback.set_params({"epochs": epochs})
    callback.on_train_begin()
    for epoch, val in enumerate(val_losses):
        model.set_weights([np.full_like(w, epoch + 1) for w in model.get_weights()])
        callback.on_epoch_end(epoch, {"loss": val, "val_loss": val})


def test_checkpoints_are_written_at_the_interval_and_after_the_last_epoch(tmp_path):
    run = RunDirectory(tmp_path / "run")
    model = _model()
    _fit_epochs(EpochCheckpoint(run, interval_s=3600), model, [3.0, 1.0, 2.0], epochs=4)
    assert not run.file("state.json").exists() and not run.file("best.keras").exists()
    EpochCheckpoint(run, interval_s=3600).on_train_end()  # nothing recorded: nothing written
    assert not run.file("state.json").exists()

    callback = EpochCheckpoint(run, interval_s=3600)
    _fit_epochs(callback, model, [3.0, 1.0, 2.0, 2.5], epochs=4)
    state = run.state()
    assert (state["epoch"], state["best_epoch"], state["best_value"]) == (4, 2, 1.0)
    assert run.history()["val_loss"] == [3.0, 1.0, 2.0, 2.5]
    assert [p.name for p in run.checkpoint_dir.iterdir()] == ["epoch-0004.keras"]
    # best.keras holds epoch 2's weights, kept in memory until the write; the model keeps its own.
    best = run.load_best().get_weights()
    assert all((w == 2).all() for w in best) and all((w == 4).all() for w in model.get_weights())


def test_a_run_stopped_early_or_diverged_keeps_what_its_finite_epochs_reached(tmp_path):
    run = RunDirectory(tmp_path / "stopped")
    callback = EpochCheckpoint(run, interval_s=3600)
    _fit_epochs(callback, _model(), [2.0, 1.0], epochs=10)
    callback.on_train_end()  # for example EarlyStopping
    assert run.last_epoch() == 2 and run.state()["best_epoch"] == 2

    run = RunDirectory(tmp_path / "diverged")
    callback = EpochCheckpoint(run, interval_s=3600)
    model = _model()
    _fit_epochs(callback, model, [2.0, 1.0, 1.5], epochs=10)
    with pytest.raises(TrainingDivergedError, match="diverged in epoch 4"):
        callback.on_epoch_end(3, {"loss": float("nan"), "val_loss": float("nan")})
    assert run.last_epoch() == 0  # no epoch written: a rerun starts afresh
    assert all((w == 2).all() for w in run.load_best().get_weights())  # for the products


def test_the_interval_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MPIKERAS_CHECKPOINT_INTERVAL_S", "0")
    assert EpochCheckpoint(RunDirectory(tmp_path)).interval_s == 0
    monkeypatch.setenv("MPIKERAS_CHECKPOINT_INTERVAL_S", "soon")
    with pytest.raises(RunDirectoryError, match=r"MPIKERAS_CHECKPOINT_INTERVAL_S.*'soon'"):
        EpochCheckpoint(RunDirectory(tmp_path))
    monkeypatch.delenv("MPIKERAS_CHECKPOINT_INTERVAL_S")
    assert EpochCheckpoint(RunDirectory(tmp_path)).interval_s == 30


def test_missing_checkpoint_is_reported(tmp_path):
    run = RunDirectory(tmp_path)
    (tmp_path / "state.json").write_text(
        json.dumps({"epoch": 3, "checkpoint": "checkpoints/x.keras"})
    )
    with pytest.raises(RunDirectoryError, match=r"checkpoint named in state\.json is missing"):
        run.load_checkpoint()
