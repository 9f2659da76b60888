"""`mpikeras reconstruct`: classic Kaczmarz reconstruction of a measurement."""

from __future__ import annotations

import argparse

from mpikeras.cli._common import add_overwrite_argument, refuse_existing


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reconstruct",
        help="reconstruct a measurement with a system matrix (Kaczmarz + Tikhonov)",
        description="Classic reconstruction as MPIReco.jl does it: frequency selection by "
        "minimum frequency and SNR, background-corrected measurement, Kaczmarz with relative "
        "Tikhonov regularisation, real and non-negative projection. Writes IMAGE.npy (the "
        "image in delta-sample units, shape (Nz, Ny, Nx), or (frames, Nz, Ny, Nx) with --frames "
        "each) and IMAGE.png.",
    )
    p.add_argument("--sm", required=True, help="system matrix (MDF calibration file)")
    p.add_argument("--measurement", required=True, help="measurement (MDF file)")
    p.add_argument(
        "--lambda",
        dest="lam",
        type=float,
        default=0.01,
        help="relative Tikhonov weight (default 0.01)",
    )
    p.add_argument("--iterations", type=int, default=3, help="Kaczmarz sweeps (default 3)")
    p.add_argument("--snr-threshold", type=float, default=2.0, help="minimum SNR (default 2)")
    p.add_argument("--min-frequency", type=float, default=80e3, help="in Hz (default 80e3)")
    p.add_argument("--max-frequency", type=float, help="in Hz (default: the bandwidth)")
    p.add_argument(
        "--channels", type=int, nargs="+", default=[0, 1], help="receive channels (default 0 1)"
    )
    p.add_argument(
        "--frames",
        choices=("mean", "each"),
        default="mean",
        help="reconstruct the mean foreground frame (default) or every frame, with progress",
    )
    p.add_argument("--out", required=True, help="output name; .npy and .png are written")
    add_overwrite_argument(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import math
    import sys
    from pathlib import Path

    import numpy as np

    from mpikeras.errors import MPIKerasError
    from mpikeras.evaluation.figures import figure_image
    from mpikeras.io import atomic_path, read_measurement, read_system_matrix
    from mpikeras.reconstruction import reconstruct

    # Checked before the files are read, so that a typo fails at once.
    if not (math.isfinite(args.lam) and args.lam >= 0):
        raise MPIKerasError(f"--lambda must be a finite number >= 0, got {args.lam}")
    if args.iterations < 1:
        raise MPIKerasError(f"--iterations must be at least 1, got {args.iterations}")
    out = Path(args.out)
    stem = out.with_suffix("") if out.suffix in (".npy", ".png") else out
    npy, png = stem.with_suffix(".npy"), stem.with_suffix(".png")
    refuse_existing([npy, png], args.overwrite)
    sm = read_system_matrix(args.sm)
    measurement = read_measurement(args.measurement)
    options = {
        "lam": args.lam,
        "iterations": args.iterations,
        "channels": tuple(args.channels),
        "min_frequency_hz": args.min_frequency,
        "max_frequency_hz": args.max_frequency,
        "snr_threshold": args.snr_threshold,
    }
    if args.frames == "mean":
        image = reconstruct(sm, measurement, **options)
    else:
        spectra = measurement.spectra(average_frames=False, average_periods=True)
        images = []
        for i, frame in enumerate(spectra):
            images.append(reconstruct(sm, frame, **options))
            print(f"\rreconstructed frame {i + 1}/{len(spectra)}", end="", file=sys.stderr)
        print(file=sys.stderr)
        image = np.stack(images)  # (F, Nz, Ny, Nx)
    with atomic_path(npy) as tmp:
        np.save(tmp, image)
    title = f"{Path(args.measurement).name}: λ = {args.lam}, {args.iterations} sweeps"
    shown = image if image.ndim == 3 else image.mean(axis=0)
    figure_image(shown[shown.shape[0] // 2], sm.grid, title, png)
    print(f"wrote {npy} (shape {image.shape}, delta-sample units) and {png}")
    return 0
