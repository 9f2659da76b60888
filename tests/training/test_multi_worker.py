"""Multi-worker training: two processes on one machine form a cluster (CPU, localhost).

Each backend starts two fresh processes with the cluster in the engine's own
environment variables (JAX: `KERAS_DISTRIBUTION_*`; TensorFlow:
`TF_CONFIG`), as a launcher on two machines would. Each runs
`multi_worker_process.py`: one SGD step on a global batch, then
`mpikeras pretrain` (two epochs) with `--distribution multi_worker`, and on
TensorFlow the pretraining resumed to three epochs and `mpikeras train` on
its encoder. The step must equal the single-device step on the same global batch
(loss, gradient, BatchNorm statistics: NT-Xent sees the negatives of both
processes); on JAX, where each process feeds its own rows of every batch, the
pretraining must give the single-process run's losses; only process 0 may
write.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from mpikeras.errors import ConfigError
from mpikeras.training.multi_worker import (
    ProcessShard,
    process_rows,
    shard_validation,
    tensorflow_cluster,
)

SCRIPT = Path(__file__).with_name("multi_worker_process.py")
TESTS_DIR = Path(__file__).resolve().parents[1]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def cluster_environment(backend: str, index: int, ports: list[int]) -> dict[str, str]:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if backend == "jax":
        env["KERAS_DISTRIBUTION_JOB_ADDRESSES"] = f"localhost:{ports[0]}"
        env["KERAS_DISTRIBUTION_NUM_PROCESSES"] = "2"
        env["KERAS_DISTRIBUTION_PROCESS_ID"] = str(index)
    else:
        workers = [f"localhost:{port}" for port in ports]
        task = {"type": "worker", "index": index}
        env["TF_CONFIG"] = json.dumps({"cluster": {"worker": workers}, "task": task})
    return env


def run_cluster(backend: str, sm_path: Path, out_dir: Path) -> list[dict]:
    ports = free_ports(2)
    argv = [sys.executable, str(SCRIPT), backend, str(sm_path), str(out_dir), str(TESTS_DIR)]
    processes = [
        subprocess.Popen(
            argv,
            env=cluster_environment(backend, index, ports),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(2)
    ]
    results = []
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=300)
            assert process.returncode == 0, stderr[-4000:]
            lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
            assert lines, stdout[-2000:] + stderr[-2000:]
            results.append(json.loads(lines[-1].removeprefix("RESULT ")))
    finally:
        for process in processes:
            process.kill()
    return results


@pytest.mark.slow
@pytest.mark.backends
@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_two_processes_train_as_one(backend, train_sm_path, tmp_path):
    for module in (backend, "tensorflow"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    writer, other = run_cluster(backend, train_sm_path, tmp_path)

    assert [writer["process"], other["process"]] == [[0, 2], [1, 2]]
    assert writer["writer"] and not other["writer"]
    assert writer["replicas"] == other["replicas"] == 2
    # One step of the cluster equals the single-device step on the global batch:
    # with per-process negatives (14 instead of 30 per anchor) the loss would differ.
    np.testing.assert_allclose(writer["loss"], writer["single_loss"], rtol=1e-5)
    assert other["loss"] == writer["loss"]
    assert writer["gradient_scale"] > 1e-3
    assert writer["gradient_error"] < 1e-4 * writer["gradient_scale"] + 1e-6
    assert writer["moving_error"] < 1e-5

    # The commands: two epochs as in one process (JAX), resumed to three and fine-tuned on
    # (TensorFlow); only process 0 writes.
    if backend == "jax":
        np.testing.assert_allclose(
            writer["pretrain_loss"], writer["single_pretrain_loss"], rtol=1e-4
        )
    else:
        assert writer["resumed_loss"][:2] == writer["pretrain_loss"]
        assert len(writer["resumed_loss"]) == 3
        assert other["resumed_loss"] == writer["resumed_loss"]
        assert len(writer["train_val_loss"]) == 1 and np.isfinite(writer["train_val_loss"][0])
        assert other["train_val_loss"] == writer["train_val_loss"]
        assert (tmp_path / "train" / "model.keras").is_file()
    assert writer["writes"] > 0 and other["writes"] == 0
    assert (tmp_path / "pretrain" / "encoder.keras").is_file()


class Batches(keras.utils.PyDataset):
    def __len__(self):
        return 2

    def __getitem__(self, index):
        return {"x": np.arange(8)[:, None] + 10 * index}, np.arange(8) + 10 * index


def test_each_process_feeds_its_rows_of_every_batch():
    batch = {"x": np.arange(8)[:, None], "y": np.arange(8)}
    assert process_rows(batch, 1, 2)["y"].tolist() == [4, 5, 6, 7]
    # A PyDataset (the pipeline without TensorFlow): row block 1 of every batch.
    shard = ProcessShard(Batches(), 1, 2)
    assert len(shard) == 2
    assert shard[1][0]["x"][:, 0].tolist() == shard[1][1].tolist() == [14, 15, 16, 17]
    # Validation: batches of 4 over 10 rows (4, 4, 2), each split between two processes.
    arrays = (np.arange(10),)
    first, second = (shard_validation(arrays, 4, index, 2)[0].tolist() for index in (0, 1))
    assert first == [0, 1, 4, 5, 8] and second == [2, 3, 6, 7, 9]


@pytest.mark.parametrize("value", [None, "not json", '{"cluster": {}}'])
def test_a_missing_or_malformed_tf_config_is_named(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    with pytest.raises(ConfigError, match="TF_CONFIG") as caught:
        tensorflow_cluster()
    assert caught.value.key == "distribution"
