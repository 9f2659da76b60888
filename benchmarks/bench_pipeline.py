"""Input-pipeline throughput: augmented contrastive pairs and combinations per second.

Both pipelines of `mpikeras.data` (tf.data and the NumPy PyDataset) produce
batches of 32 pairs of augmented views from the simulated 19 x 19 training
SM (half of the samples weighted combinations of 2 to 8 columns), and the
reconstruction stream produces combinations with their images. Each is timed
alone, after a warm-up, as the median over several windows. With a 3D
calibration-sized pool (6,859 more columns), the time to build the stream and
to start an epoch (a new iterator and its first batch).

Run `python benchmarks/bench_pipeline.py` (or `--quick`).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from mpikeras._compat import tensorflow_available
from mpikeras.data import VoxelSplit, contrastive_streams, reconstruction_streams
from mpikeras.preprocessing import Normalization, voxel_signals
from mpikeras.simulation import preset, simulate_system_matrix

BATCH = 32


def _batches(stream):
    """The batches of a stream in order: a tf.data iterator, or a PyDataset by index."""
    if not hasattr(stream, "__getitem__"):
        yield from stream
        return
    index = 0
    while True:
        yield stream[index]
        index += 1


def _rate(stream, batches: int, windows: int) -> float:
    """Median samples per second over `windows` windows of `batches` batches."""
    source = _batches(stream)
    for _ in range(3):
        next(source)
    rates = []
    for _ in range(windows):
        start = time.perf_counter()
        for _ in range(batches):
            next(source)
        rates.append(batches * BATCH / (time.perf_counter() - start))
    return statistics.median(rates)


def run(quick: bool = False) -> dict:
    """Pairs per second (contrastive) and combinations per second (reconstruction).

    Returns:
        dict: `pairs_per_s` and `combinations_per_s` per pipeline ("tf",
        "python"), and the batch size.
    """
    sm = simulate_system_matrix(preset("openmpi-2d-19"), seed=0)
    signals = voxel_signals(sm)
    signals = signals.normalized(Normalization.fit(signals.signals))
    split = VoxelSplit.random(signals.num_voxels)
    batches, windows = (10, 3) if quick else (30, 5)
    out: dict = {"batch_size": BATCH, "pairs_per_s": {}, "combinations_per_s": {}}
    pipelines = ["python"] + (["tf"] if tensorflow_available() else [])
    for pipeline in pipelines:
        pairs = contrastive_streams(signals, split, batch_size=BATCH, pipeline=pipeline).train
        out["pairs_per_s"][pipeline] = _rate(pairs, batches, windows)
        combos = reconstruction_streams(signals, split, batch_size=BATCH, pipeline=pipeline).train
        out["combinations_per_s"][pipeline] = _rate(combos, batches, windows)
    out["large_pool_epoch_start_s"] = _large_pool_epoch_start(signals, split, pipelines)
    return out


#: Columns of a 3D calibration pool (19^3), as `--unlabelled` adds them to pretraining.
LARGE_POOL = 19**3


def _large_pool_epoch_start(signals, split, pipelines: list[str]) -> dict[str, dict[str, float]]:
    """Seconds to build the contrastive stream over a 3D calibration-sized pool and to
    start an epoch on it (a new iterator and its first batch), per pipeline."""
    rng = np.random.default_rng(0)
    unlabelled = rng.normal(size=(LARGE_POOL, *signals.flat.shape[1:])).astype(np.float32)
    out = {}
    for pipeline in pipelines:
        start = time.perf_counter()
        stream = contrastive_streams(
            signals, split, batch_size=BATCH, pipeline=pipeline, unlabelled=unlabelled
        ).train
        built = time.perf_counter()
        epochs = []
        for _ in range(2):
            begin = time.perf_counter()
            next(_batches(stream))
            epochs.append(time.perf_counter() - begin)
        out[pipeline] = {"build_s": built - start, "epoch_start_s": statistics.median(epochs)}
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    result = run(parser.parse_args().quick)
    for kind in ("pairs_per_s", "combinations_per_s"):
        for pipeline, rate in result[kind].items():
            print(f"{kind:20s} {pipeline:7s} {rate:10.0f}")
    for pipeline, times in result["large_pool_epoch_start_s"].items():
        print(
            f"{LARGE_POOL}-column pool {pipeline:7s} build {times['build_s']:.2f} s, "
            f"epoch start {times['epoch_start_s']:.2f} s"
        )
