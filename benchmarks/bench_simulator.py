"""Benchmark of the system-matrix simulator against a straightforward reference loop.

The fast path (`simulate_system_matrix`) tabulates the ensemble response once
and evaluates all voxels in cache-sized chunks on a few threads. The reference
below computes the same physics the obvious way: for each voxel and each
quadrature point of the delta sample, the Langevin magnetisation of every core
diameter is evaluated directly over the time axis with numpy (no table, no
chunking, no threads), using the chain rule of mpi-facts section 4,

    dM/dt = Ms sum_d w_d [beta_d L'(beta_d b) (h . dB) h + L(beta_d b) / b (dB - (h . dB) h)],

then relaxed, filtered and converted to volts in the frequency domain. The
reference runs on a subset of voxels and its time is extrapolated per voxel;
the agreement is measured on that subset.

Run `python benchmarks/bench_simulator.py` (or `--quick`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from mpikeras.simulation import box_quadrature, preset, simulate_signals, simulate_system_matrix
from mpikeras.simulation.calibration import CalibrationConfig
from mpikeras.simulation.particles import (
    MU0_T_M_PER_A,
    langevin,
    langevin_derivative,
    magnetite_volume_fraction,
)

PRESET = "openmpi-2d-37"


def reference_spectra(config: CalibrationConfig, positions_m: np.ndarray) -> np.ndarray:
    """Noise-free voltage spectra (M, C, K) by a per-voxel, per-point loop.

    Args:
        config: the scan (scanner, tracer, receive chain, delta sample).
        positions_m: delta-sample centres, shape (M, 3).

    Returns:
        complex128 spectra, shape (M, C, K), volts.
    """
    acq, particles, receiver = config.acquisition, config.particles, config.receiver
    drive, drive_rate = acq.drivefield.field_tesla(acq.times_s)  # (V, 3) T and T/s
    diameters, weights = particles.diameters()
    beta = particles.beta_per_tesla(diameters)  # (D,) 1/T
    ms = particles.saturation_magnetization_a_per_m
    offsets, volumes = box_quadrature(config.delta_sample_size_m, config.quadrature)
    phi = magnetite_volume_fraction(config.concentration_mol_per_l)
    num_channels = acq.num_receive_channels
    freqs = acq.frequencies_hz
    chain = particles.debye(freqs) * receiver.transfer_function(freqs)
    sensitivity = np.asarray(receiver.coil_sensitivity_per_m[:num_channels])
    out = np.empty((len(positions_m), num_channels, acq.num_frequencies), np.complex128)
    for m, centre in enumerate(np.asarray(positions_m, np.float64)):
        moment_rate = np.zeros((acq.num_sampling_points, 3))  # A m^2 / s
        for offset, volume in zip(offsets, volumes, strict=True):
            field = drive - acq.gradient @ (centre + offset)  # B = B_D - G r, (V, 3)
            b = np.linalg.norm(field, axis=1)  # (V,)
            h = field / b[:, None]
            h_rate = np.sum(h * drive_rate, axis=1)  # h . dB/dt
            x = np.outer(b, beta)  # (V, D)
            parallel = ms * (langevin_derivative(x) * beta) @ weights  # d|M|/db
            perpendicular = ms * (langevin(x) / b[:, None]) @ weights  # |M| / b
            rate = parallel[:, None] * h_rate[:, None] * h + perpendicular[:, None] * (
                drive_rate - h_rate[:, None] * h
            )
            moment_rate += volume * phi * rate
        spectra = np.fft.rfft(moment_rate[:, :num_channels], axis=0)  # (K, C)
        out[m] = (-MU0_T_M_PER_A * sensitivity[:, None] * chain[None, :]) * spectra.T
    return out


def _subset(num_voxels: int, count: int) -> np.ndarray:
    """`count` voxel indices spread evenly over the grid (always the first and last)."""
    return np.unique(np.linspace(0, num_voxels - 1, count).round().astype(int))


def run(quick: bool = False) -> dict:
    """Time the simulator and the reference loop; compare their results.

    Args:
        quick: fewer repeats and a smaller reference subset.

    Returns:
        dict with `voxels`, `channels`, `samples`, `fast_s` (median seconds of
        `simulate_system_matrix` for the full central slice), `fast_runs_s`,
        `effects_s` and `effects_runs_s` (the same with every realism effect
        on, `CalibrationConfig.with_effects`),
        `reference_voxels` (size of the subset), `reference_s_per_voxel`,
        `reference_s` (extrapolated to all voxels), `speedup`,
        `relative_error` (Frobenius norm of the difference over that of the
        reference, on the subset) and `threads` (CPU count).
    """
    config = preset(PRESET)
    grid = config.scan_grid
    positions = grid.positions_m().reshape(-1, 3)
    repeats = 3 if quick else 7
    subset = _subset(positions.shape[0], 12 if quick else 48)

    effects = config.with_effects()
    simulate_system_matrix(config, seed=0)  # warm-up: imports, FFT plans, page faults
    simulate_system_matrix(effects, seed=0)
    runs, effect_runs = [], []
    for _ in range(repeats):  # alternated, so that both see the same machine
        start = time.perf_counter()
        sm = simulate_system_matrix(config, seed=0)
        runs.append(time.perf_counter() - start)
        start = time.perf_counter()
        simulate_system_matrix(effects, seed=0)
        effect_runs.append(time.perf_counter() - start)
    fast_s = statistics.median(runs)

    start = time.perf_counter()
    reference = reference_spectra(config, positions[subset])
    reference_s_per_voxel = (time.perf_counter() - start) / subset.size

    fast = simulate_signals(config, positions[subset])
    error = np.linalg.norm(fast - reference) / np.linalg.norm(reference)
    return {
        "preset": PRESET,
        "voxels": positions.shape[0],
        "channels": sm.spectra.shape[0],
        "samples": config.acquisition.num_sampling_points,
        "fast_s": fast_s,
        "fast_runs_s": runs,
        "effects_s": statistics.median(effect_runs),
        "effects_runs_s": effect_runs,
        "reference_voxels": int(subset.size),
        "reference_s_per_voxel": reference_s_per_voxel,
        "reference_s": reference_s_per_voxel * positions.shape[0],
        "speedup": reference_s_per_voxel * positions.shape[0] / fast_s,
        "relative_error": float(error),
        "threads": os.cpu_count(),
    }


def _print(result: dict) -> None:
    voxels = result["voxels"]
    rows = [
        (
            "system matrix",
            f"{voxels} voxels x {result['channels']} channels x "
            f"{result['samples']} samples ({result['preset']})",
        ),
        (
            "simulate_system_matrix",
            f"{result['fast_s']:.3f} s (median of {len(result['fast_runs_s'])}; target <= 1 s)",
        ),
        (
            "with every realism effect",
            f"{result['effects_s']:.3f} s (median of {len(result['effects_runs_s'])}; "
            "target <= 1 s)",
        ),
        (
            "reference loop",
            f"{result['reference_s']:.1f} s (extrapolated from "
            f"{result['reference_voxels']} voxels, "
            f"{1e3 * result['reference_s_per_voxel']:.1f} ms per voxel)",
        ),
        ("speed-up", f"{result['speedup']:.0f}x (target >= 20x)"),
        ("relative error", f"{result['relative_error']:.2e} (noise-free spectra, subset)"),
        ("CPU cores", str(result["threads"])),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller subset")
    _print(run(quick=parser.parse_args().quick))
