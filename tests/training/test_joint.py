import json

import keras
import numpy as np
import pytest

from mpikeras.config import FinetuneConfig
from mpikeras.errors import ConfigError, RunDirectoryError
from mpikeras.models.heads import DirectReconstruction, SignalRecovery
from mpikeras.models.joint import JointModel
from mpikeras.models.saving import load_model
from mpikeras.preprocessing.normalization import Normalization
from mpikeras.training.joint import build_joint_model, train_joint
from mpikeras.training.session import prepare_data
from mpikeras.training.task import task_streams, task_validation


def mse(model, x, y):
    return float(np.mean((np.asarray(model.predict(x, verbose=0), np.float64) - y) ** 2))


def _weights(model):
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


@pytest.mark.slow
def test_joint_training_shares_the_encoder_and_keeps_the_best_epoch(tiny, tmp_path):
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
    from mpikeras.data.streams import reconstruction_streams, recovery_streams

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
    with pytest.raises(RunDirectoryError, match="loss_weights"):
        train_joint(config, tmp_path / "joint", loss_weights=(1.0, 2.0), verbose=0)


@pytest.mark.slow
def test_an_interrupted_joint_run_resumes_to_the_uninterrupted_weights(tiny, tmp_path):
    # Automatic epoch lengths: the recovery and reconstruction streams would
    # differ in length; the joint run gives both the longer one.
    tiny = {**tiny, "steps_per_epoch": 0, "batch_size": 32, "jit_compile": "false"}
    config = FinetuneConfig.from_dict({**tiny, "epochs": 3})
    straight = train_joint(config, tmp_path / "straight", verbose=0)
    train_joint(config.replace(epochs=2), tmp_path / "resumed", verbose=0)
    resumed = train_joint(config, tmp_path / "resumed", verbose=0)

    assert resumed.history == straight.history
    state = json.loads((tmp_path / "resumed" / "state.json").read_text())
    last = load_model(tmp_path / "resumed" / state["checkpoint"])
    reference = load_model(tmp_path / "straight" / state["checkpoint"])
    assert isinstance(last, JointModel) and last.recovery.encoder is last.reconstruction.encoder
    for a, b in zip(_weights(last), _weights(reference), strict=True):
        np.testing.assert_array_equal(a, b)


def test_joint_model_saves_and_loads_with_one_encoder(tmp_path):
    config = FinetuneConfig.from_dict({"encoder": {"filters": 8}})
    joint = build_joint_model(config, (1632, 2), Normalization(2.0))
    path = tmp_path / "joint.keras"
    joint.save(path)
    loaded = load_model(path)
    assert loaded.recovery.encoder is loaded.reconstruction.encoder
    x = np.random.default_rng(0).normal(size=(2, 1632, 2)).astype("float32")
    inputs = {"recovery": x, "reconstruction": x}
    expected, actual = joint.predict(inputs, verbose=0), loaded.predict(inputs, verbose=0)
    for name in ("recovery", "reconstruction"):
        np.testing.assert_allclose(actual[name], expected[name], rtol=1e-6)
    assert loaded.recovery.normalization_scale == 2.0


def test_joint_training_refuses_what_it_does_not_support(tiny, tmp_path):
    config = FinetuneConfig.from_dict(tiny)
    with pytest.raises(ConfigError, match="loss_weights"):
        train_joint(config, tmp_path / "a", loss_weights=(0.0, 0.0))
    shape, scale = (1632, 2), Normalization(1.0)
    with pytest.raises(ConfigError, match="recovery_input"):
        build_joint_model(config.replace(recovery_input="bracket"), shape, scale)
    with pytest.raises(ConfigError, match="contrastive_weight"):
        build_joint_model(config.replace(contrastive_weight=0.5), shape, scale)


def test_task_validation_is_the_validation_of_the_task_streams(tiny):
    config = FinetuneConfig.from_dict(tiny)
    data = prepare_data(config.data, config.seed)
    bracket = config.replace(recovery_input="bracket")
    x, y = task_validation(bracket, data)
    assert set(x) == {"lower", "upper"} and y.shape[1:] == (1632, 2)
    for task_config in (bracket, config, config.replace(task="reconstruction")):
        # The same arrays whatever the pipeline and the epoch the training stream starts at.
        expected = task_streams(task_config, data, start_epoch=3, pipeline="tf").validation
        actual = task_validation(task_config, data)
        for a, b in zip(keras.tree.flatten(actual), keras.tree.flatten(expected), strict=True):
            np.testing.assert_array_equal(a, b)
