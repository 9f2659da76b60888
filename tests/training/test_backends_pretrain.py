"""The whole pretraining path on a tiny simulated SM lowers the loss on every backend.

Each case runs `mpikeras.training.pretrain.pretrain` (simulated SM -> band-pass ->
normalisation -> voxel split -> augmented streams -> SimCLR) in a fresh process
with `KERAS_BACKEND` set, and once on JAX with TensorFlow made unimportable, so
the streams fall back to `keras.utils.PyDataset`.
"""

import json
import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import json, sys
if sys.argv[2] == "block":
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name == "tensorflow" or name.startswith("tensorflow."):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
    sys.meta_path.insert(0, Block())
from mpikeras.config import PretrainConfig
from mpikeras.training.pretrain import pretrain
config = PretrainConfig.from_dict({
    "epochs": 6, "batch_size": 16, "steps_per_epoch": 6, "seed": 1,
    "encoder": {"filters": 8}, "projector": {"hidden_units": 32, "output_units": 16},
    "optimizer": {"learning_rate": 3e-3}, "data": {"source": "simulated:openmpi-2d-19"},
})
result = pretrain(config, sys.argv[1], verbose=0)
import keras
print("RESULT " + json.dumps({"backend": keras.backend.backend(), "history": result.history,
                              "tensorflow": "tensorflow" in sys.modules}))
"""


@pytest.mark.slow
@pytest.mark.backends
@pytest.mark.parametrize(
    ("backend", "tensorflow"),
    # JAX once, with TensorFlow blocked (as on the GPU machines); it is the same
    # code path with TensorFlow importable (tests/models/test_backends.py trains there).
    [("tensorflow", "allow"), ("torch", "allow"), ("jax", "block")],
)
def test_pretraining_lowers_the_loss(tmp_path, backend, tensorflow):
    env = {**os.environ, "KERAS_BACKEND": backend, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "run"), tensorflow],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    assert result["backend"] == backend
    loss = result["history"]["loss"]
    assert loss[-1] < 0.95 * loss[0], loss
    if tensorflow == "block":
        assert result["tensorflow"] is False
