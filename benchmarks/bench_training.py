"""Training throughput per Keras backend and precision, beside plain PyTorch at the same precision.

For each backend (a fresh process with KERAS_BACKEND set) a SimCLR
pretraining step (two views of each sample, NT-Xent) and a recovery
fine-tuning step (SignalRecovery, MSE) are timed with compiled training
(`jit_compile="auto"`: XLA on TensorFlow, jax.jit on JAX; eager on PyTorch)
on in-memory data, in float32 and under the `mixed_bfloat16` policy. The
reference is what a PyTorch user of CLMR would write: `torch.nn` modules of
the same layers, the same loss, Adam and a Python loop, with
`torch.autocast("cpu", torch.bfloat16)` for bfloat16. Steps per second are
medians over epochs after a warm-up epoch. The CPU's instruction sets are
named: bfloat16 is native only with AMX or AVX512-BF16, emulated elsewhere.

Run `python benchmarks/bench_training.py` (or `--quick`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SAMPLES, CHANNELS = 1632, 2
BACKENDS = ("tensorflow", "jax", "torch")
#: The Keras dtype policies timed (plain torch: autocast to bfloat16 for the second).
PRECISIONS = ("float32", "mixed_bfloat16")


def _keras_worker(
    task: str, filters: int, batch: int, steps: int, epochs: int, precision: str = "float32"
) -> dict:
    import keras
    import numpy as np

    from mpikeras.config import EncoderConfig, PretrainConfig
    from mpikeras.models import Encoder, SignalRecovery
    from mpikeras.training.pretrain import build_simclr

    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = batch * steps
    x = rng.normal(size=(n, SAMPLES, CHANNELS)).astype("float32")
    if task == "pretrain":
        model = build_simclr(
            PretrainConfig(encoder=EncoderConfig(filters=filters)), (SAMPLES, CHANNELS)
        )
        data = {"x": {"view_a": x, "view_b": x + 0.1 * rng.normal(size=x.shape).astype("float32")}}
    else:
        model = SignalRecovery(Encoder(input_shape=(SAMPLES, CHANNELS), filters=filters))
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse", jit_compile="auto")
        data = {"x": x, "y": np.roll(x, 3, axis=1)}
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(
        **data, batch_size=batch, epochs=epochs + 1, shuffle=False, verbose=0, callbacks=[Timer()]
    )
    return {"steps_per_s": steps / statistics.median(times[1:]), "backend": keras.backend.backend()}


def _torch_worker(
    task: str,
    filters: int,
    batch: int,
    steps: int,
    epochs: int,
    threads: int = 0,
    precision: str = "float32",
) -> dict:
    import torch
    from torch import nn

    if threads:
        torch.set_num_threads(threads)
    from mpikeras.config import EncoderConfig
    from mpikeras.models.encoder import encoder_output_length

    torch.manual_seed(0)
    cfg = EncoderConfig(filters=filters)
    layers, in_ch = [], CHANNELS
    for k, s in zip(cfg.kernel_sizes, cfg.strides, strict=True):
        conv = nn.Conv1d(in_ch, filters, k, stride=s, bias=False)
        nn.init.kaiming_normal_(conv.weight)
        layers += [conv, nn.BatchNorm1d(filters, momentum=0.1, eps=1e-5), nn.ReLU()]
        in_ch = filters
    features = filters * encoder_output_length(SAMPLES, cfg.kernel_sizes, cfg.strides)
    encoder = nn.Sequential(*layers, nn.Flatten())
    if task == "pretrain":
        head = nn.Sequential(nn.Linear(features, 256), nn.ReLU(), nn.Linear(256, 64))
    else:
        head = nn.Sequential(
            nn.Linear(features, 512),
            nn.ReLU(),
            nn.Linear(512, SAMPLES * CHANNELS),
            nn.Unflatten(1, (CHANNELS, SAMPLES)),
            nn.Conv1d(CHANNELS, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(8, CHANNELS, 1),
        )
    model = nn.Sequential(encoder, head)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.999))
    x = torch.randn(batch * steps, CHANNELS, SAMPLES)

    def nt_xent(z, tau=0.5):
        z = nn.functional.normalize(z, dim=1)
        logits = z @ z.T / tau
        logits.fill_diagonal_(-1e9)
        b = z.shape[0] // 2
        target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)])
        return nn.functional.cross_entropy(logits, target)

    times = []
    for _ in range(epochs + 1):
        start = time.perf_counter()
        for i in range(steps):
            xb = x[i * batch : (i + 1) * batch]
            optimizer.zero_grad()
            with torch.autocast("cpu", torch.bfloat16, enabled=precision != "float32"):
                if task == "pretrain":
                    views = torch.cat([xb, xb + 0.1 * torch.randn_like(xb)])
                    loss = nt_xent(model(views).float())
                else:
                    loss = nn.functional.mse_loss(model(xb).float(), torch.roll(xb, 3, dims=2))
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    return {
        "steps_per_s": steps / statistics.median(times[1:]),
        "backend": "plain torch",
        "threads": torch.get_num_threads(),
    }


def _measure(
    backend: str,
    task: str,
    filters: int,
    batch: int,
    steps: int,
    epochs: int,
    threads: int = 0,
    precision: str = "float32",
) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend if backend != "plain-torch" else "torch"}
    args = [
        sys.executable,
        "-m",
        "benchmarks.bench_training",
        "--worker",
        backend,
        "--task",
        task,
        "--filters",
        str(filters),
        "--batch",
        str(batch),
        "--steps",
        str(steps),
        "--epochs",
        str(epochs),
        "--threads",
        str(threads),
        "--precision",
        precision,
    ]
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=3600)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(
    quick: bool = False,
    batches: tuple[int, ...] = (32, 256),
    precisions: tuple[str, ...] = PRECISIONS,
) -> dict:
    """Steps per second per backend, precision, task and batch, and the best ratio to plain torch.

    Args:
        quick: 64 encoder filters and few steps instead of the paper's 256.
        batches: batch sizes to time.
        precisions: dtype policies to time.

    Returns:
        dict with `filters`, `cpu` (model and instruction sets),
        `results[task][batch][precision][backend] = steps_per_s` and
        `ratio_best_to_torch[task][batch][precision]` (plain torch at the same precision).
    """
    from mpikeras._system import cpu_summary

    filters = 64 if quick else 256
    results: dict = {}
    ratios: dict = {}
    for task in ("pretrain", "finetune"):
        for batch in batches:
            steps = 4 if quick or batch > 32 else 10
            epochs = 2 if quick else 3
            for precision in precisions:
                common = (task, filters, batch, steps, epochs)
                row = {b: _measure(b, *common, precision=precision) for b in BACKENDS}
                # The reference at its best: default threads, or one thread (which wins on a
                # busy 2-core machine, where OpenMP threads wait on each other).
                row["plain-torch"] = max(
                    (_measure("plain-torch", *common, t, precision) for t in (0, 1)),
                    key=lambda r: r.get("steps_per_s", 0.0),
                )
                speeds = {b: r.get("steps_per_s", float("nan")) for b, r in row.items()}
                results.setdefault(task, {}).setdefault(batch, {})[precision] = speeds
                best = max(speeds[b] for b in BACKENDS)
                ratio = best / speeds["plain-torch"]
                ratios.setdefault(task, {}).setdefault(batch, {})[precision] = ratio
    return {
        "filters": filters,
        "cpu": cpu_summary(),
        "results": results,
        "ratio_best_to_torch": ratios,
    }


#: Row names of the Markdown table.
STEP_NAMES = {
    "pretrain": "pretraining (2 views, NT-Xent)",
    "finetune": "fine-tuning (recovery head, MSE)",
}


def markdown_table(result: dict) -> str:
    """The per-precision table of docs/performance.md, from `run`'s result."""
    lines = [
        "| step | batch | precision | TensorFlow | JAX | PyTorch (Keras) | plain PyTorch "
        "| best / plain PyTorch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task, by_batch in result["results"].items():
        for batch, by_precision in by_batch.items():
            for precision, speeds in by_precision.items():
                ratio = result["ratio_best_to_torch"][task][batch][precision]
                cells = " | ".join(f"{speeds[c]:.2f}" for c in (*BACKENDS, "plain-torch"))
                row = f"| {STEP_NAMES[task]} | {batch} | {precision} | {cells} | {ratio:.2f} |"
                lines.append(row)
    return "\n".join(lines)


def print_table(result: dict) -> None:
    """Steps per second per task, batch and precision: each backend and plain torch, the ratio."""
    columns = (*BACKENDS, "plain-torch")
    print(f"training steps per second, {result['filters']} filters; CPU: {result['cpu']}")
    rows = [("task", "batch", "precision", *columns, "best / torch")]
    for task, by_batch in result["results"].items():
        for batch, by_precision in by_batch.items():
            for precision, speeds in by_precision.items():
                ratio = result["ratio_best_to_torch"][task][batch][precision]
                cells = [f"{speeds[c]:.2f}" for c in columns]
                rows.append((task, str(batch), precision, *cells, f"{ratio:.2f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker")
    parser.add_argument("--task", default="pretrain")
    parser.add_argument("--filters", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="plain torch: 0 = default")
    parser.add_argument("--precision", default="float32", choices=PRECISIONS)
    args = parser.parse_args()
    if args.worker == "plain-torch":
        result = _torch_worker(
            args.task,
            args.filters,
            args.batch,
            args.steps,
            args.epochs,
            args.threads,
            args.precision,
        )
        print(json.dumps(result))
        return
    if args.worker:
        common = (args.task, args.filters, args.batch, args.steps, args.epochs)
        print(json.dumps(_keras_worker(*common, args.precision)))
        return
    print(json.dumps(run(args.quick), indent=2))


if __name__ == "__main__":
    main()
