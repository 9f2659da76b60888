"""`mpikeras simulate`: write simulated OpenMPIData-like MDF files."""

from __future__ import annotations

import argparse
import sys

from mpikeras.cli._common import add_overwrite_argument, refuse_existing


def add_parser(sub: argparse._SubParsersAction) -> None:
    from mpikeras.simulation.phantoms import PHANTOMS
    from mpikeras.simulation.presets import PRESETS
    from mpikeras.simulation.scenarios import SCENARIOS

    p = sub.add_parser(
        "simulate",
        help="simulate a system matrix (--preset), a phantom measurement (--phantom) or a "
        "scenario's training/test pair (--scenario)",
        description="Simulate the OpenMPIData Bruker scanner and write an MDF v2 file: a "
        "calibration (system matrix) with --preset, or a phantom measurement with --phantom "
        "(then --preset picks the scanner and ground-truth grid, default openmpi-2d-37). With "
        "--scenario, write into the folder --out a scenario's training SM, test SM, noise-free "
        "test SM and resolution phantom, as `mpikeras reproduce --scenario` uses them.",
    )
    p.add_argument("--preset", choices=sorted(PRESETS), help="calibration preset")
    p.add_argument("--phantom", choices=sorted(PHANTOMS), help="phantom to measure")
    p.add_argument(
        "--scenario", choices=sorted(SCENARIOS), help="training/test pair (--out is a folder)"
    )
    p.add_argument(
        "--out", required=True, help="output MDF file (written atomically), or folder (--scenario)"
    )
    add_overwrite_argument(p)
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    p.add_argument(
        "--slices",
        choices=("central", "all"),
        default="central",
        help="central z slice only (default) or the full 3D grid",
    )
    p.add_argument("--frames", type=int, default=10, help="phantom foreground frames (default 10)")
    p.set_defaults(run=run)


def _progress(done: int, total: int) -> None:
    if total > 4096:  # only scans long enough to wait for (3D)
        end = "\n" if done == total else ""
        print(f"\rsimulating {done}/{total} voxels", end=end, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from mpikeras.errors import MPIKerasError
    from mpikeras.io import write_measurement, write_system_matrix
    from mpikeras.simulation import preset, simulate_system_matrix
    from mpikeras.simulation.phantoms import simulate_measurement

    if args.scenario:
        return _scenario(args)
    refuse_existing([args.out], args.overwrite)
    if args.frames < 1:
        raise MPIKerasError(f"--frames must be at least 1, got {args.frames}")
    if args.seed < 0:
        raise MPIKerasError(f"--seed must be >= 0, got {args.seed}")
    if args.phantom:
        name = args.preset or "openmpi-2d-37"
        meas = simulate_measurement(
            args.phantom, preset(name), seed=args.seed, num_frames=args.frames
        )
        path = write_measurement(args.out, meas)
        background = int(meas.is_background_frame.sum())
        print(
            f"wrote {args.phantom} phantom measurement ({meas.num_frames} frames, {background} "
            f"background) on the {name} scanner to {path}"
        )
        return 0
    if not args.preset:
        raise MPIKerasError(
            "give --preset NAME (a system matrix) or --phantom NAME (a measurement)"
        )
    cfg = preset(args.preset, slices=args.slices)
    sm = simulate_system_matrix(cfg, seed=args.seed, progress=_progress)
    path = write_system_matrix(args.out, sm)
    nx, ny, nz = sm.grid.size
    print(
        f"wrote system matrix {args.preset} ({nx} x {ny} x {nz} voxels, "
        f"{sm.num_channels} channels, {sm.spectra.shape[1]} frequencies) to {path}"
    )
    return 0


def _scenario(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mpikeras.errors import MPIKerasError
    from mpikeras.simulation.scenarios import FILES, write_scenario

    if args.preset or args.phantom:
        raise MPIKerasError(
            "--scenario writes its own calibrations and phantom; drop --preset and --phantom"
        )
    refuse_existing([Path(args.out) / name for name in FILES.values()], args.overwrite)
    paths = write_scenario(args.scenario, args.out, overwrite=args.overwrite)
    names = ", ".join(p.name for p in paths.values())
    print(f"wrote scenario {args.scenario} to {args.out}: {names}")
    return 0
