"""Benchmark: regularised Kaczmarz on the simulated 37 x 37 resolution phantom.

Reconstructs the resolution phantom (`simulate_measurement("resolution")`) on
the simulated OpenMPIData 37 x 37 central-slice system matrix with the
paper's setting (relative lambda 0.01, 3 sweeps; x and y channels, f >= 80 kHz,
SNR >= 2) and times `mpikeras.reconstruction.kaczmarz` against a pure-Python
implementation of the same algorithm on the same rows: Python lists, the
row product as `sum(map(mul, ...))` and the update as a list comprehension,
no NumPy inside the sweep. Both are timed from their own inputs to their
result (the NumPy one includes its row splitting and norms, the reference
its row norms and lambda). Simulation time is not counted.

Run `python benchmarks/bench_kaczmarz.py [--quick]`, or call `run()`.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from operator import mul

import numpy as np

from mpikeras.reconstruction import kaczmarz, reconstruct, select_frequencies
from mpikeras.simulation import preset, simulate_system_matrix
from mpikeras.simulation.phantoms import simulate_measurement

LAM = 0.01
ITERATIONS = 3
CHANNELS = (0, 1)


def reference_kaczmarz(
    rows: list[list[float]], u: list[float], lam: float, iterations: int
) -> list[float]:
    """Regularised Kaczmarz on real rows in pure Python (relative lambda, x >= 0).

    The same algorithm as `kaczmarz(..., enforce_positive=True)` on
    real-split rows: `lam_eff = lam ||S||_F^2 / N`, then per row
    `alpha = (u_i - s_i . x - sqrt(lam_eff) v_i) / (||s_i||^2 + lam_eff)`,
    `x += alpha s_i`, `v_i += alpha sqrt(lam_eff)`, and `x = max(x, 0)` after
    each sweep.
    """
    num_voxels = len(rows[0])
    norms_sq = [sum(map(mul, row, row)) for row in rows]
    lam_eff = lam * sum(norms_sq) / num_voxels
    sqrt_lam = math.sqrt(lam_eff)
    x = [0.0] * num_voxels
    v = [0.0] * len(rows)
    for _ in range(iterations):
        for i, row in enumerate(rows):
            denominator = norms_sq[i] + lam_eff
            if denominator <= 0.0:
                continue
            alpha = (u[i] - sum(map(mul, row, x)) - sqrt_lam * v[i]) / denominator
            x = [xj + alpha * sj for xj, sj in zip(x, row, strict=True)]
            v[i] += alpha * sqrt_lam
        x = [xj if xj > 0.0 else 0.0 for xj in x]
    return x


def _median_time(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def run(quick: bool = False) -> dict:
    """Time the NumPy/BLAS Kaczmarz against the pure-Python reference.

    Args:
        quick: fewer repetitions (5 and 1 instead of 21 and 3).

    Returns:
        dict with the problem size (`voxels`, `complex_rows`, `real_rows`),
        the median times in seconds (`kaczmarz_s`, `reference_s`,
        `reconstruct_s` for the whole `reconstruct()` call), the repetitions,
        `speedup` (reference / kaczmarz), `max_relative_difference` between
        the two images (max |a - b| / max |b|) and `correlation_with_truth`
        of the reconstructed image with the phantom on the grid.
    """
    config = preset("openmpi-2d-37")
    sm = simulate_system_matrix(config, seed=0)
    measurement = simulate_measurement("resolution", config, seed=1)
    mask = select_frequencies(sm, channels=CHANNELS)
    matrix = sm.matrix(CHANNELS, mask)
    u = measurement.spectra()[list(CHANNELS)][mask]

    # The reference gets the same rows, split into real and imaginary parts
    # as `kaczmarz` does, as Python lists.
    split = np.empty((2 * matrix.shape[0], matrix.shape[1]))
    split[0::2], split[1::2] = matrix.real, matrix.imag
    u_split = np.empty(2 * u.size)
    u_split[0::2], u_split[1::2] = u.real, u.imag
    rows_list, u_list = split.tolist(), u_split.tolist()

    repeats, reference_repeats = (5, 1) if quick else (21, 3)
    kaczmarz(matrix, u, LAM, ITERATIONS)  # warm-up
    kaczmarz_s, image = _median_time(lambda: kaczmarz(matrix, u, LAM, ITERATIONS), repeats)
    reference_s, reference = _median_time(
        lambda: reference_kaczmarz(rows_list, u_list, LAM, ITERATIONS), reference_repeats
    )
    reconstruct_s, full = _median_time(
        lambda: reconstruct(sm, measurement, lam=LAM, iterations=ITERATIONS, channels=CHANNELS),
        repeats,
    )
    reference = np.asarray(reference)
    truth = measurement.ground_truth[0]
    return {
        "voxels": int(matrix.shape[1]),
        "complex_rows": int(matrix.shape[0]),
        "real_rows": int(split.shape[0]),
        "lam": LAM,
        "iterations": ITERATIONS,
        "kaczmarz_s": kaczmarz_s,
        "kaczmarz_repeats": repeats,
        "reference_s": reference_s,
        "reference_repeats": reference_repeats,
        "speedup": reference_s / kaczmarz_s,
        "max_relative_difference": float(np.abs(image - reference).max() / np.abs(reference).max()),
        "reconstruct_s": reconstruct_s,
        "correlation_with_truth": float(np.corrcoef(full.ravel(), truth.ravel())[0, 1]),
    }


def _print_table(results: dict) -> None:
    print(
        f"Kaczmarz, resolution phantom, {results['voxels']} voxels, "
        f"{results['complex_rows']} complex rows ({results['real_rows']} real), "
        f"lambda {results['lam']}, {results['iterations']} sweeps"
    )
    print(f"{'implementation':<28}{'median':>12}{'runs':>6}")
    print(
        f"{'kaczmarz (NumPy + BLAS)':<28}{results['kaczmarz_s'] * 1e3:>9.2f} ms"
        f"{results['kaczmarz_repeats']:>6}"
    )
    print(
        f"{'pure-Python reference':<28}{results['reference_s'] * 1e3:>9.1f} ms"
        f"{results['reference_repeats']:>6}"
    )
    print(
        f"{'reconstruct() end to end':<28}{results['reconstruct_s'] * 1e3:>9.2f} ms"
        f"{results['kaczmarz_repeats']:>6}"
    )
    print(
        f"speedup {results['speedup']:.0f}x (target >= 10x), "
        f"max relative difference {results['max_relative_difference']:.1e}, "
        f"correlation with truth {results['correlation_with_truth']:.3f}"
    )


if __name__ == "__main__":
    _print_table(run(quick="--quick" in sys.argv[1:]))
