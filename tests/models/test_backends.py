"""SimCLR trains on TensorFlow, JAX and PyTorch, and on JAX without TensorFlow.

Each case runs the tiny contrastive training in a fresh Python process with
`KERAS_BACKEND` set (the backend is fixed when Keras is first imported), and
reads back a JSON summary: the loss per epoch, how far the BatchNorm moving
means moved, and whether TensorFlow was imported.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parents[1]

# Runs in the subprocess. argv: backend, tests folder. (JAX with TensorFlow blocked is
# tests/training/test_backends_pretrain.py.)
TRAINING_SCRIPT = r"""
import json
import sys
import time

backend, tests_dir = sys.argv[1:3]
sys.path.insert(0, tests_dir)
import keras
import numpy as np
from helpers import moving_means, noisy_views, tiny_signals, tiny_simclr

assert keras.backend.backend() == backend, keras.backend.backend()


class StepTimer(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self.start)

    def on_train_begin(self, logs=None):
        self.times = []


model = tiny_simclr()
signals = tiny_signals()
data, batch_size = noisy_views(signals), 16
before = moving_means(model.encoder)
timer = StepTimer()
history = model.fit(data, batch_size=batch_size, epochs=12, verbose=0, callbacks=[timer])
after = moving_means(model.encoder)
results = model.evaluate(noisy_views(signals), batch_size=16, verbose=0, return_dict=True)
print("RESULT " + json.dumps({
    "backend": keras.backend.backend(),
    "history": history.history,
    "evaluate": results,
    "moving_mean_change": [float(np.abs(a - b).max()) for a, b in zip(before, after)],
    "median_step_seconds": float(np.median(timer.times[len(timer.times) // 2:])),
}))
"""


def run_tiny_training(backend: str) -> dict:
    # One intra-op thread: the model is tiny, and on a busy machine PyTorch's
    # OpenMP threads otherwise spin against each other (20 s instead of 1 s).
    env = {"OMP_NUM_THREADS": "1", **os.environ, "KERAS_BACKEND": backend}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    completed = subprocess.run(
        [sys.executable, "-c", TRAINING_SCRIPT, backend, str(TESTS_DIR)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, completed.stdout[-2000:] + completed.stderr[-2000:]
    return json.loads(lines[-1].removeprefix("RESULT "))


def check_training(result: dict, backend: str) -> None:
    assert result["backend"] == backend
    losses = result["history"]["loss"]
    assert len(losses) == 12 and all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < 0.9 * losses[0], losses
    assert set(result["history"]) == {"loss", "top1_accuracy"}
    assert set(result["evaluate"]) == {"loss", "top1_accuracy"}
    assert len(result["moving_mean_change"]) == 5
    assert all(change > 1e-6 for change in result["moving_mean_change"])


def backend_available(backend: str) -> bool:
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
    return importlib.util.find_spec(module) is not None


@pytest.mark.backends
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_tiny_training_on_backend(backend):
    if not backend_available(backend):
        pytest.skip(f"{backend} is not installed")
    check_training(run_tiny_training(backend), backend)
