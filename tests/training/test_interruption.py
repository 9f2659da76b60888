"""A killed training resumes where it stopped and ends exactly where an uninterrupted one does."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import mpikeras.models  # noqa: F401  (registers the classes for load_model)

EPOCHS = 4


def _command(run_dir, config):
    return [
        sys.executable,
        "-m",
        "mpikeras.cli.main",
        "pretrain",
        "--config",
        str(config),
        "--epochs",
        str(EPOCHS),
        "--quiet",
        "--out",
        str(run_dir),
    ]


def _weights(run_dir):
    state = json.loads((run_dir / "state.json").read_text())
    assert state["epoch"] == EPOCHS
    model = keras.saving.load_model(run_dir / state["checkpoint"], safe_mode=True)
    return [np.asarray(w) for w in model.weights]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_rerun_equals_an_uninterrupted_run(tmp_path, train_sm_path):
    config = tmp_path / "tiny.json"
    config.write_text(
        json.dumps(
            {
                "data": {"source": str(train_sm_path)},
                "encoder": {"filters": 8},
                "steps_per_epoch": 40,
                "batch_size": 8,
                "projector": {"hidden_units": 16, "output_units": 8},
                "seed": 3,
            }
        )
    )
    # A checkpoint after every epoch, so that the kill falls between two of them.
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "MPIKERAS_CHECKPOINT_INTERVAL_S": "0"}
    reference = tmp_path / "reference"
    subprocess.run(_command(reference, config), check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    process = subprocess.Popen(
        _command(killed, config), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.time() + 300
    state = killed / "state.json"
    while time.time() < deadline and process.poll() is None:
        if state.exists() and json.loads(state.read_text())["epoch"] >= 1:
            time.sleep(0.1)  # inside epoch 2
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = json.loads(state.read_text())["epoch"]
    assert 1 <= done < EPOCHS
    leftovers = [p for p in killed.rglob(".*") if ".tmp-" in p.name]
    # state.json is the commit point: written last, it names a complete checkpoint.
    checkpoint = killed / json.loads(state.read_text())["checkpoint"]
    assert checkpoint.is_file() and f"epoch-{done:04d}" in checkpoint.name

    resumed = subprocess.run(_command(killed, config), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"Epoch {done + 1}/{EPOCHS}" in resumed.stdout  # continued, not restarted
    for a, b in zip(_weights(reference), _weights(killed), strict=True):
        np.testing.assert_array_equal(a, b)
    ref_history = json.loads((reference / "history.json").read_text())
    assert json.loads((killed / "history.json").read_text()) == ref_history
    # A kill may leave a hidden temporary file, never a partial file under a final
    # name, and the resumed run removes it.
    for path in leftovers:
        assert path.name.startswith(".") and not path.exists()
