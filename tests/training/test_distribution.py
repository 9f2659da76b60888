"""Data-parallel training (`distribution = "data_parallel"`) on two virtual CPU devices.

The backend and its devices are fixed when a process first imports them, so
each backend runs in a fresh Python process: JAX with
`XLA_FLAGS=--xla_force_host_platform_device_count=2`, TensorFlow with two
logical CPU devices configured before anything else. Each process checks
that one data-parallel SimCLR step equals the single-device step on the
same global batch (loss, gradient, BatchNorm statistics: NT-Xent sees the
negatives of the whole batch), then pretrains and fine-tunes through the
package's own entry points, and prints a JSON summary.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from mpikeras.cli._common import config_dict
from mpikeras.cli.main import build_parser
from mpikeras.config import FinetuneConfig, PretrainConfig
from mpikeras.errors import ConfigError
from mpikeras.training.distribution import training_distribution

TESTS_DIR = Path(__file__).resolve().parents[1]

# Runs in the subprocess. argv: backend, training SM path, output directory, tests directory.
SCRIPT = r"""
import json
import os
import sys

backend, sm_path, out_dir, tests_dir = sys.argv[1:5]
if backend == "tensorflow":
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

sys.path.insert(0, tests_dir)
import keras
import numpy as np
from helpers import noisy_views, tiny_signals, tiny_simclr

from mpikeras.config import FinetuneConfig, PretrainConfig
from mpikeras.training.distribution import training_distribution
from mpikeras.training.finetune import finetune
from mpikeras.training.pretrain import pretrain

assert keras.backend.backend() == backend
LEARNING_RATE = 0.1
views = noisy_views(tiny_signals(16))


def replica_count(variable):
    value = variable.value
    if backend == "jax":
        return len(value.sharding.device_set)
    return len(getattr(value, "values", [value]))


def numpy(variables):
    return [keras.ops.convert_to_numpy(v).copy() for v in variables]


def one_step(kind):
    # One SGD step on one global batch of 16: the weight change is the gradient.
    setup = training_distribution(kind, batch_size=16)
    with setup.scope():
        model = setup.prepare_model(tiny_simclr(filters=8, seed=0))
        model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE))
        before = numpy(model.trainable_weights)
        history = model.fit(views, batch_size=16, epochs=1, shuffle=False, verbose=0)
        evaluation = model.evaluate(views, batch_size=16, verbose=0, return_dict=True)
    after = numpy(model.trainable_weights)
    return {
        "replicas": setup.num_replicas,
        "variable_replicas": replica_count(model.trainable_weights[0]),
        "loss": history.history["loss"][0],
        "val_loss": evaluation["loss"],
        "gradients": [(b - a) / LEARNING_RATE for b, a in zip(before, after)],
        "moving": numpy(model.non_trainable_weights),
    }


single, parallel = one_step("none"), one_step("data_parallel")
scale = max(np.abs(g).max() for g in single["gradients"])
summary = {
    "replicas": parallel["replicas"],
    "variable_replicas": parallel["variable_replicas"],
    "single_variable_replicas": single["variable_replicas"],
    "loss": [single["loss"], parallel["loss"]],
    "val_loss": [single["val_loss"], parallel["val_loss"]],
    "gradient_scale": float(scale),
    "gradient_error": float(
        max(np.abs(a - b).max() for a, b in zip(single["gradients"], parallel["gradients"]))
    ),
    "moving_error": float(
        max(np.abs(a - b).max() for a, b in zip(single["moving"], parallel["moving"]))
    ),
}

tiny = {
    "data": {"source": sm_path},
    "encoder": {"filters": 8},
    "projector": {"hidden_units": 16, "output_units": 8},
    "steps_per_epoch": 2,
    "batch_size": 8,
    "epochs": 2,
    "optimizer": {"learning_rate": 1e-3},
    "distribution": "data_parallel",
}
if backend == "tensorflow":
    # Through the command line: the --distribution option reaches the run.
    from mpikeras.cli.main import main

    config_path = f"{out_dir}/tiny.json"
    with open(config_path, "w") as file:
        json.dump({k: v for k, v in tiny.items() if k != "distribution"}, file)
    # bfloat16 too: the projections are gathered as float32 (no bfloat16 collective).
    argv = ["pretrain", "--config", config_path, "--distribution", "data_parallel", "--quiet"]
    argv += ["--mixed-precision", "mixed_bfloat16"]
    assert main([*argv, "--out", f"{out_dir}/pretrain"]) == 0
    with open(f"{out_dir}/pretrain/config.json") as file:
        recorded = json.load(file)
    summary["recorded"] = [recorded["distribution"], recorded["mixed_precision"]]
    with open(f"{out_dir}/pretrain/history.json") as file:
        summary["pretrain_loss"] = json.load(file)["loss"]
    # XLA cannot compile a MirroredStrategy step; the auxiliary NT-Xent would
    # contrast per replica: both are refused before anything is written.
    from mpikeras.errors import ConfigError

    refused = []
    for bad in ({"jit_compile": "true"}, {"task": "recovery", "contrastive_weight": 0.5}):
        try:
            finetune(FinetuneConfig.from_dict({**tiny, **bad}), f"{out_dir}/refused", verbose=0)
        except ConfigError as error:
            refused.append(error.key)
    summary["refused"] = refused
    summary["wrote_refused"] = os.path.exists(f"{out_dir}/refused")
else:
    result = pretrain(PretrainConfig.from_dict(tiny), f"{out_dir}/pretrain", verbose=0)
    summary["pretrain_loss"] = result.history["loss"]
    # Resuming on one device continues the data-parallel run.
    config = PretrainConfig.from_dict({**tiny, "epochs": 3, "distribution": "none"})
    summary["resumed_loss"] = pretrain(config, f"{out_dir}/pretrain", verbose=0).history["loss"]
    summary["jit_compile"] = result.model.jit_compile  # "auto": jax.jit
encoder = f"{out_dir}/pretrain/encoder.keras"
config = FinetuneConfig.from_dict(
    {**tiny, "task": "reconstruction", "epochs": 1, "pretrained_encoder": encoder}
)
summary["finetune_val_loss"] = finetune(config, f"{out_dir}/finetune", verbose=0).history[
    "val_loss"
]
print("RESULT " + json.dumps(summary))
"""


def run_distributed(backend: str, sm_path: Path, out_dir: Path) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if backend == "jax":
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, backend, str(sm_path), str(out_dir), str(TESTS_DIR)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, completed.stdout[-2000:] + completed.stderr[-2000:]
    return json.loads(lines[-1].removeprefix("RESULT "))


@pytest.mark.slow
@pytest.mark.backends
@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_data_parallel_step_equals_the_single_device_step(backend, train_sm_path, tmp_path):
    if importlib.util.find_spec("jax" if backend == "jax" else "tensorflow") is None:
        pytest.skip(f"{backend} is not installed")
    result = run_distributed(backend, train_sm_path, tmp_path)

    # Two replicas really hold the variables; one device holds them without.
    assert result["replicas"] == 2
    assert result["variable_replicas"] == 2
    assert result["single_variable_replicas"] == 1
    # NT-Xent over the global batch: with per-replica negatives (14 instead of
    # 30 per anchor) the TensorFlow loss was 2.21 instead of 2.91.
    np.testing.assert_allclose(result["loss"][1], result["loss"][0], rtol=1e-5)
    np.testing.assert_allclose(result["val_loss"][1], result["val_loss"][0], rtol=1e-5)
    # The gradient of one step, and BatchNorm's moving statistics (global BN).
    assert result["gradient_scale"] > 1e-3
    assert result["gradient_error"] < 1e-4 * result["gradient_scale"] + 1e-6
    assert result["moving_error"] < 1e-5

    # The package's pretraining and fine-tuning run data-parallel end to end.
    assert len(result["pretrain_loss"]) == 2 and np.isfinite(result["pretrain_loss"]).all()
    assert len(result["finetune_val_loss"]) == 1 and np.isfinite(result["finetune_val_loss"][0])
    if backend == "tensorflow":
        assert result["recorded"] == ["data_parallel", "mixed_bfloat16"]
        assert result["refused"] == ["jit_compile", "contrastive_weight"]
        assert not result["wrote_refused"]
    else:
        assert result["jit_compile"] is True
        assert result["resumed_loss"][:2] == result["pretrain_loss"]
        assert len(result["resumed_loss"]) == 3


def test_config_flag_is_checked():
    assert PretrainConfig().distribution == "none"
    cfg = FinetuneConfig.from_dict({"distribution": "data_parallel"})
    assert cfg.distribution == "data_parallel"
    assert FinetuneConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match=r"distribution.*'none', 'data_parallel'.*'mirrored'"):
        PretrainConfig(distribution="mirrored")
    with pytest.raises(ConfigError, match="'distribution': expected a string, got 2"):
        PretrainConfig.from_dict({"distribution": 2})


def test_cli_option_reaches_the_config(tmp_path, capsys):
    parser = build_parser()
    args = parser.parse_args(
        ["pretrain", "--out", str(tmp_path), "--distribution", "data_parallel"]
    )
    config = PretrainConfig.from_dict(config_dict(args))
    assert config.distribution == "data_parallel"
    args = parser.parse_args(["train", "recovery", "--out", str(tmp_path)])
    assert FinetuneConfig.from_dict(config_dict(args, {"task": "recovery"})).distribution == "none"
    with pytest.raises(SystemExit):
        parser.parse_args(["pretrain", "--out", str(tmp_path), "--distribution", "mirrored"])
    assert "invalid choice: 'mirrored'" in capsys.readouterr().err


def test_bad_requests_raise_config_error(monkeypatch):
    with pytest.raises(ConfigError, match=r"distribution.*got 'ddp'"):
        training_distribution("ddp")
    with pytest.raises(ConfigError, match=r"batch_size.*multiple of 3; got 8"):
        training_distribution("data_parallel", batch_size=8, devices=["a", "b", "c"])
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    for kind in ("data_parallel", "multi_worker"):
        with pytest.raises(ConfigError, match=r"needs the JAX or TensorFlow backend.*'torch'"):
            training_distribution(kind)


def test_a_single_device_trains_as_none_with_a_warning():
    with pytest.warns(UserWarning, match="found 1 device"):
        setup = training_distribution("data_parallel", batch_size=8, devices=["cpu:0"])
    assert setup.kind == "none" and setup.num_replicas == 1
    assert training_distribution("none").handle is None


# --- Compiled steps -------------------------------------------------------------


@pytest.fixture
def restore_tensorflow_determinism():
    from tensorflow.python.framework import config as tf_config

    enabled = tf_config.is_op_determinism_enabled()
    yield
    if enabled:
        tf_config.enable_op_determinism()
    else:
        tf_config.disable_op_determinism()


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="XLA of the TF backend")
def test_jit_compile_true_compiles_with_xla_on_tensorflow(
    tmp_path, tiny, restore_tensorflow_determinism
):
    # Keras turns jit_compile off while TensorFlow's op determinism is on;
    # `configure` leaves determinism off for compiled runs only.
    from tensorflow.python.framework import config as tf_config

    from mpikeras.training.pretrain import pretrain
    from mpikeras.training.session import tensorflow_uses_xla

    compiled = PretrainConfig.from_dict({**tiny, "epochs": 1, "jit_compile": "true"})
    result = pretrain(compiled, tmp_path / "xla", verbose=0)
    assert result.model.jit_compile is True
    assert not tf_config.is_op_determinism_enabled()
    assert np.isfinite(result.history["loss"]).all()

    automatic = compiled.replace(jit_compile="auto")
    result = pretrain(automatic, tmp_path / "auto", verbose=0)
    # "auto" on a CPU-only machine: no XLA (Keras' rule), deterministic kernels.
    assert result.model.jit_compile is tensorflow_uses_xla(automatic) is False
    assert tf_config.is_op_determinism_enabled()
