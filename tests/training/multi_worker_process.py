"""One process of the two-process cluster of test_multi_worker.py (run as a script).

argv: backend, training SM path, output directory, tests directory. The
cluster comes from the environment (KERAS_DISTRIBUTION_* or TF_CONFIG), as a
launcher sets it. Prints one line `RESULT {json}`.

The process counts every file it opens for writing, creates, renames or
removes under the output directory (Python audit events), so the test can
check that only process 0 writes.
"""

import json
import os
import sys

backend, sm_path, out_dir, tests_dir = sys.argv[1:5]
writes = []


def audit(event, args):
    if event == "open" and isinstance(args[0], str | bytes | os.PathLike):
        mode, flags = args[1] or "", args[2] or 0
        writing = any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        if writing and os.fsdecode(args[0]).startswith(out_dir):
            writes.append(os.fsdecode(args[0]))
    elif event in ("os.mkdir", "os.rename", "os.remove", "os.rmdir") and isinstance(
        args[0], str | bytes | os.PathLike
    ):
        if os.fsdecode(args[0]).startswith(out_dir):
            writes.append(f"{event} {os.fsdecode(args[0])}")


sys.addaudithook(audit)
sys.path.insert(0, tests_dir)

from mpikeras.training.distribution import training_distribution  # noqa: E402

# Joining the cluster comes first: nothing may compute before it.
cluster = training_distribution("multi_worker", batch_size=16)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from helpers import noisy_views, tiny_config, tiny_signals, tiny_simclr  # noqa: E402

from mpikeras.cli.main import main  # noqa: E402

assert keras.backend.backend() == backend
LEARNING_RATE = 0.1
views = noisy_views(tiny_signals(16))


def numpy(variables):
    return [keras.ops.convert_to_numpy(v).copy() for v in variables]


def one_step(setup, fit_kwargs):
    # One SGD step on one global batch of 16: the weight change is the gradient.
    with setup.scope():
        model = setup.prepare_model(tiny_simclr(filters=8, seed=0))
        model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE))
        before = numpy(model.trainable_weights)
        history = model.fit(**fit_kwargs, epochs=1, verbose=0)
    after = numpy(model.trainable_weights)
    return {
        "loss": history.history["loss"][0],
        "gradients": [(b - a) / LEARNING_RATE for b, a in zip(before, after, strict=True)],
        "moving": numpy(model.non_trainable_weights),
    }


import tensorflow as tf  # noqa: E402  (the test runs where TensorFlow is installed)

batch = tf.data.Dataset.from_tensors(views)
summary = {
    "process": [cluster.process_index, cluster.process_count],
    "replicas": cluster.num_replicas,
    "writer": cluster.is_writer,
}
step = one_step(cluster, cluster.fit_inputs({"x": batch}, 16))
summary["loss"] = step["loss"]
if cluster.is_writer:
    single = one_step(training_distribution("none"), {"x": views, "batch_size": 16})
    summary["single_loss"] = single["loss"]
    summary["gradient_scale"] = float(max(np.abs(g).max() for g in single["gradients"]))
    summary["gradient_error"] = float(
        max(
            np.abs(a - b).max() for a, b in zip(single["gradients"], step["gradients"], strict=True)
        )
    )
    summary["moving_error"] = float(
        max(np.abs(a - b).max() for a, b in zip(single["moving"], step["moving"], strict=True))
    )

# The commands, as a launcher starts them in every process.
config_path = f"{out_dir}/tiny-{cluster.process_index}.json"
if cluster.is_writer:
    with open(config_path, "w") as file:
        json.dump({**tiny_config(sm_path), "jit_compile": "auto"}, file)
cluster.barrier("config-written")
config_path = f"{out_dir}/tiny-0.json"
writes.clear()
common = ["--config", config_path, "--distribution", "multi_worker", "--quiet"]
pretrain = ["pretrain", *common, "--out", f"{out_dir}/pretrain"]
assert main([*pretrain, "--epochs", "2"]) == 0
with open(f"{out_dir}/pretrain/history.json") as file:
    summary["pretrain_loss"] = json.load(file)["loss"]
if backend == "tensorflow":  # resuming (run-directory code, the same on every backend) ...
    assert main([*pretrain, "--epochs", "3"]) == 0  # resumes after epoch 2
    with open(f"{out_dir}/pretrain/history.json") as file:
        summary["resumed_loss"] = json.load(file)["loss"]
    # ... and fine-tuning on the cluster's encoder
    train = ["train", "reconstruction", *common, "--epochs", "1", "--out", f"{out_dir}/train"]
    assert main([*train, "--encoder", f"{out_dir}/pretrain/encoder.keras"]) == 0
    with open(f"{out_dir}/train/history.json") as file:
        summary["train_val_loss"] = json.load(file)["val_loss"]
summary["writes"] = len(writes)
if cluster.is_writer and backend == "jax":
    # The same two epochs in one process on one device (on JAX each process feeds its
    # own rows of every training and validation batch).
    single = ["pretrain", "--config", config_path, "--quiet", "--epochs", "2"]
    assert main([*single, "--out", f"{out_dir}/single"]) == 0
    with open(f"{out_dir}/single/history.json") as file:
        summary["single_pretrain_loss"] = json.load(file)["loss"]
print("RESULT " + json.dumps(summary), flush=True)
