"""GPU check: pretraining throughput and the time of `reproduce --preset paper`, JAX only.

Meant for a GPU machine whose Python has JAX but no TensorFlow (run through
`benchmarks/gpu_check.sh`, which installs keras from carried wheels). It
measures, on the simulated 19 x 19 training SM with the PyDataset pipeline:

1. pretraining throughput (samples per second) at batch 32, 256 and 1024 with
   the paper's encoder (256 filters), float32 and mixed_bfloat16;
2. one epoch of the paper's pretraining (batch 32) and of each head;
3. the time `reproduce --preset paper` would take, extrapolated from (2):
   1000 epochs of pretraining and of each of the six heads;
4. frame-stream reconstruction of the 19 x 19 case (`benchmarks/bench_stream.py`):
   frames per second of the classic Tikhonov operator (NumPy, on the CPU) and of
   a paper-sized direct-reconstruction model on the accelerator, and their
   ratio to the scanner's 1,530 frames per second.

`--cpu` shrinks everything (8 filters, small batches) so the script itself
is tested on a CPU. Prints a table and writes JSON (`--out`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


class _BlockTensorFlow:
    """Make `import tensorflow` fail, as on a machine without it."""

    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("TensorFlow is blocked for this check")


def _timed_fit(model, stream, steps: int, epochs: int = 2) -> float:
    """Seconds per step of the last epoch (the first compiles)."""
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.fit(stream, steps_per_epoch=steps, epochs=1, verbose=0)
        times.append(time.perf_counter() - start)
    return times[-1] / steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cpu", action="store_true", help="tiny sizes, to test the script on a CPU"
    )
    parser.add_argument("--no-tensorflow", action="store_true", help="block TensorFlow imports")
    parser.add_argument("--out", default="gpu-check.json")
    args = parser.parse_args(argv)
    if args.no_tensorflow:
        sys.meta_path.insert(0, _BlockTensorFlow())
    os.environ.setdefault("KERAS_BACKEND", "jax")
    started = time.perf_counter()

    import jax
    import keras

    from mpikeras.config import EncoderConfig, FinetuneConfig, PretrainConfig
    from mpikeras.data import VoxelSplit, contrastive_streams
    from mpikeras.data.sources import load_system_matrix
    from mpikeras.experiments.reproduce import HEADS
    from mpikeras.preprocessing import Normalization, voxel_signals
    from mpikeras.training.pretrain import build_simclr
    from mpikeras.training.session import prepare_data
    from mpikeras.training.task import build_task_model, task_streams

    filters = 8 if args.cpu else 256
    batches = (8,) if args.cpu else (32, 256, 1024)
    steps = 2 if args.cpu else 10
    devices = [str(d) for d in jax.devices()]
    print(f"backend {keras.backend.backend()}, devices {devices}", flush=True)

    sm = load_system_matrix("simulated:openmpi-2d-19")
    signals = voxel_signals(sm)
    normalization = Normalization.fit(signals.signals)
    signals = signals.normalized(normalization)
    split = VoxelSplit.random(signals.num_voxels)
    shape = signals.signals.shape[2:]
    throughput = {}
    for policy in ("float32", "mixed_bfloat16"):
        keras.mixed_precision.set_global_policy(policy)
        for batch in batches:
            cfg = PretrainConfig(batch_size=batch, encoder=EncoderConfig(filters=filters))
            model = build_simclr(cfg, shape)
            stream = contrastive_streams(signals, split, batch_size=batch, pipeline="python")
            seconds = _timed_fit(model, stream.train, steps)
            throughput[f"{policy} batch {batch}"] = batch / seconds
            print(
                f"pretraining {policy:14s} batch {batch:5d}: {batch / seconds:9.0f} samples/s",
                flush=True,
            )
    keras.mixed_precision.set_global_policy("float32")

    # One epoch of each training of the paper preset (batch 32, one pass over the voxels).
    cfg = PretrainConfig(encoder=EncoderConfig(filters=filters))
    stream = contrastive_streams(signals, split, batch_size=32, pipeline="python")
    # On the CPU (a test of this script) a few steps per epoch, extrapolated.
    timed = (lambda epoch_steps: min(steps, epoch_steps)) if args.cpu else (lambda n: n)
    epoch_s = {
        "pretrain": _timed_fit(
            build_simclr(cfg, shape), stream.train, timed(stream.steps_per_epoch)
        )
        * stream.steps_per_epoch
    }
    # wo-CL and CL train the same head (CL starts from other weights): timed once per head.
    timed_heads: dict[tuple[str, str], float] = {}
    for run, head in HEADS.items():
        task, recovery_input = head.method.task.value, head.recovery_input
        if (task, recovery_input) not in timed_heads:
            head_cfg = FinetuneConfig(
                task=task,
                recovery_input=recovery_input,
                encoder=EncoderConfig(filters=filters),
                data=cfg.data.replace(split="sample" if task == "reconstruction" else "voxel"),
            )
            data = prepare_data(head_cfg.data, 0)
            head_stream = task_streams(head_cfg, data, pipeline="python")
            model = build_task_model(head_cfg, shape, data.normalization)
            per_step = _timed_fit(model, head_stream.train, timed(head_stream.steps_per_epoch))
            timed_heads[task, recovery_input] = per_step * head_stream.steps_per_epoch
        epoch_s[run] = timed_heads[task, recovery_input]
        print(f"one epoch of {run:22s}: {epoch_s[run]:.2f} s", flush=True)
    paper_hours = 1000 * sum(epoch_s.values()) / 3600

    # Frame streams: classic on the CPU, the learned model on the accelerator.
    from benchmarks import bench_stream  # the repository root is on PYTHONPATH

    stream = bench_stream.run(quick=args.cpu, filters=filters)
    for key in ("tikhonov", "kaczmarz", "learned"):
        figures = stream[key]
        print(
            f"stream 19 x 19, {key:9s}: {figures['frames_per_s']:9.0f} frames/s = "
            f"{figures['realtime_factor']:.2f}x real time",
            flush=True,
        )
    result = {
        "backend": keras.backend.backend(),
        "devices": devices,
        "filters": filters,
        "pretraining_samples_per_s": throughput,
        "epoch_seconds": epoch_s,
        "reproduce_paper_hours_extrapolated": paper_hours,
        "stream": stream,
        "check_seconds": time.perf_counter() - started,
    }
    print(
        f"reproduce --preset paper, extrapolated: {paper_hours:.2f} h "
        f"(1000 epochs x 7 trainings); this check took {result['check_seconds']:.0f} s"
    )
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
