"""Benchmark: reconstruction of a frame stream against the scanner's frame rate.

A 2D OpenMPIData frame takes 652.8 us to measure, so the scanner delivers
about 1,530 frames per second. This writes one second of a simulated bolus
(`simulate_bolus` on the 19 x 19 preset, 1530 frames) to an MDF file and
reconstructs every frame from the file, in blocks of 256 frames, with

- the precomputed Tikhonov operator (`tikhonov_operator`, float32),
- the paper's Kaczmarz (lambda 0.01, 3 sweeps; `kaczmarz_solver`), on the
  first 256 frames,
- a direct-reconstruction model of the paper's size (256-filter encoder,
  untrained: only its speed is measured), on the first 512 frames,

timing reading and reconstruction together (median of repeats; the
Tikhonov operator's one-off computation and the model's compilation are
reported apart), per second of wall-clock time and per second of this
process's CPU time (which the load of other processes on a shared machine
does not inflate; with BLAS threads it counts every thread). It also
reports how far the Tikhonov images are from Kaczmarz with 3 sweeps (a
different problem: early stopping and projection) and from Kaczmarz at 3000
sweeps without projection (the same problem), and the largest block of
frames held in memory.

Run `python benchmarks/bench_stream.py [--quick]`, or call `run()`.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mpikeras.io import write_measurement
from mpikeras.reconstruction import (
    kaczmarz,
    kaczmarz_solver,
    reconstruct_stream,
    select_frequencies,
    tikhonov_operator,
)
from mpikeras.simulation import preset, simulate_bolus, simulate_system_matrix

#: Frames per second the 2D OpenMPIData sequence delivers (1 / 652.8 us).
SCANNER_FRAMES_PER_S = 1 / 652.8e-6
#: The target: at least this many times real time for the 19 x 19 case.
TARGET_REALTIME = 10.0


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo where there is one) and its logical cores."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} logical cores"


def _median_stream(source, reconstructor, repeats: int, **kwargs):
    """The first result and the median frames per wall-clock and per CPU second."""
    results = [reconstruct_stream(source, reconstructor, **kwargs) for _ in range(repeats)]
    return (
        results[0],
        statistics.median(r.frames_per_second for r in results),
        statistics.median(r.frames_per_cpu_second for r in results),
    )


def run(quick: bool = False, filters: int | None = None) -> dict:
    """Frames per second of classic and learned stream reconstruction.

    Args:
        quick: a short stream (128 frames), small blocks and a narrow
            encoder (16 filters), for a smoke test.
        filters: encoder filters of the learned model; 256 (the paper's),
            16 with `quick`.

    Returns:
        dict with `cpu`, the stream (`frames`, `chunk_frames`), per method
        (`tikhonov`, `kaczmarz`, `learned`) `frames_per_s`, `realtime_factor`
        and `frames`, the Tikhonov operator's `setup_s`, the model's
        `compile_s` and `filters`, `max_block_bytes`, and the differences
        `tikhonov_vs_kaczmarz_3_sweeps` and `tikhonov_vs_kaczmarz_converged`
        (max |a - b| / max |b| on one frame).
    """
    import keras

    from mpikeras.export.reconstructor import learned_reconstructor
    from mpikeras.models import DirectReconstruction, Encoder

    num_frames, chunk = (128, 32) if quick else (1530, 256)
    kaczmarz_frames, learned_frames = (32, 64) if quick else (256, 512)
    repeats = 2 if quick else 5
    filters = filters or (16 if quick else 256)
    config = preset("openmpi-2d-19")
    sm = simulate_system_matrix(config)
    bolus = simulate_bolus(config, num_frames=num_frames, segment_m=1e-3 if quick else 0.5e-3)
    result: dict = {"cpu": cpu_name(), "frames": num_frames, "chunk_frames": chunk}
    result["load_average"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bolus.mdf"
        write_measurement(path, bolus.measurement)

        start = time.perf_counter()
        operator = tikhonov_operator(sm)
        setup_s = time.perf_counter() - start
        reconstruct_stream(path, operator, chunk_frames=chunk)  # warm-up
        tikhonov, *fps = _median_stream(path, operator, repeats, chunk_frames=chunk)
        result["tikhonov"] = _figures(*fps, num_frames, setup_s=setup_s)
        result["max_block_bytes"] = tikhonov.max_block_bytes

        solver = kaczmarz_solver(sm)
        frames = slice(0, kaczmarz_frames)
        classic, *fps = _median_stream(path, solver, 1, frames=frames, chunk_frames=chunk)
        result["kaczmarz"] = _figures(*fps, kaczmarz_frames)

        keras.utils.set_random_seed(0)
        model = DirectReconstruction(Encoder((1632, 2), filters=filters), normalization_scale=1.0)
        learned = learned_reconstructor(model, delta_sample_volume_mm3=4.0)
        frames = slice(0, learned_frames)
        start = time.perf_counter()
        reconstruct_stream(path, learned, frames=frames, chunk_frames=chunk)  # compiles
        compile_s = time.perf_counter() - start
        _, *fps = _median_stream(path, learned, repeats, frames=frames, chunk_frames=chunk)
        result["learned"] = _figures(*fps, learned_frames, compile_s=compile_s, filters=filters)

    # Agreement on one frame in the middle of the stream.
    frame = kaczmarz_frames // 2
    result["tikhonov_vs_kaczmarz_3_sweeps"] = _relative(
        tikhonov.images[frame], classic.images[frame]
    )
    unclipped = tikhonov_operator(sm, enforce_positive=False)
    image = reconstruct_stream(bolus.measurement, unclipped, frames=slice(frame, frame + 1))
    mask = select_frequencies(sm)
    u = bolus.measurement.spectra(frames=frame)[[0, 1]][mask]
    sweeps = 300 if quick else 3000
    converged = kaczmarz(sm.matrix((0, 1), mask), u, 0.01, sweeps, enforce_positive=False)
    result["converged_sweeps"] = sweeps
    result["tikhonov_vs_kaczmarz_converged"] = _relative(image.images[0].ravel(), converged)
    return result


def _figures(fps: float, fps_cpu: float, frames: int, **extra) -> dict:
    return {
        "frames": frames,
        "frames_per_s": fps,
        "realtime_factor": fps / SCANNER_FRAMES_PER_S,
        "frames_per_cpu_s": fps_cpu,
        "realtime_factor_per_cpu_s": fps_cpu / SCANNER_FRAMES_PER_S,
        **extra,
    }


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def print_table(result: dict) -> None:
    """The figures of `run` as a small table."""
    print(f"frame stream, 19 x 19, {result['frames']} frames, blocks of {result['chunk_frames']}")
    print(f"CPU: {result['cpu']}, load average {result['load_average']:.1f} (1 minute)")
    print(f"{'method':<34}{'frames/s':>10}{'x real time':>13}{'frames/CPU-s':>14}{'x':>8}")
    labels = {
        "tikhonov": "classic, Tikhonov operator",
        "kaczmarz": "classic, Kaczmarz 3 sweeps",
        "learned": f"learned, {result['learned']['filters']}-filter encoder",
    }
    for key, label in labels.items():
        figures = result[key]
        print(
            f"{label:<34}{figures['frames_per_s']:>10.0f}{figures['realtime_factor']:>12.2f}x"
            f"{figures['frames_per_cpu_s']:>14.0f}{figures['realtime_factor_per_cpu_s']:>7.2f}x"
        )
    print(
        f"Tikhonov vs Kaczmarz 3 sweeps: {result['tikhonov_vs_kaczmarz_3_sweeps']:.2g}; vs "
        f"Kaczmarz at {result['converged_sweeps']} sweeps: "
        f"{result['tikhonov_vs_kaczmarz_converged']:.2g} (max |a - b| / max |b|)"
    )
    print(
        f"operator set-up {result['tikhonov']['setup_s']:.2f} s, model compile "
        f"{result['learned']['compile_s']:.2f} s, largest block held "
        f"{result['max_block_bytes'] / 1e6:.1f} MB; target >= {TARGET_REALTIME:g}x real time"
    )


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv[1:]))
