"""`mpikeras reconstruct`: classic (Kaczmarz, Tikhonov) or learned reconstruction."""

from __future__ import annotations

import argparse

from mpikeras.cli._common import add_overwrite_argument, refuse_existing


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reconstruct",
        help="reconstruct a measurement, its mean frame or every frame (classic or learned)",
        description="Classic reconstruction as MPIReco.jl does it: frequency selection by "
        "minimum frequency and SNR, background-corrected measurement, Kaczmarz with relative "
        "Tikhonov regularisation, real and non-negative projection; or a precomputed Tikhonov "
        "operator (--solver tikhonov, one matrix product per block of frames); or a trained "
        "reconstruction model (--model). The measurement is read in blocks of --chunk-frames "
        "frames, so a long dynamic measurement never has to fit in memory. Writes IMAGE.npy "
        "(delta-sample units: (Nz, Ny, Nx) for --frames mean, a stack (frames, Ny, Nx) "
        "otherwise) and IMAGE.png (the mean image).",
    )
    p.add_argument("--sm", help="system matrix (MDF calibration file; needed unless --model)")
    p.add_argument("--measurement", required=True, help="measurement (MDF file)")
    p.add_argument(
        "--model",
        help="learned reconstruction instead: model.keras of `mpikeras train reconstruction` "
        "or a SavedModel directory of `mpikeras export`",
    )
    p.add_argument(
        "--delta-sample-volume-mm3",
        type=float,
        help="for a .keras --model: delta-sample volume of its training data (default: from "
        "the config.json of its run)",
    )
    p.add_argument(
        "--solver",
        choices=("kaczmarz", "tikhonov"),
        default="kaczmarz",
        help="classic solver: Kaczmarz sweeps (default) or the precomputed Tikhonov operator "
        "(exact minimiser, negatives clipped; more than 10x faster for frame streams)",
    )
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
        default="mean",
        help="mean (default): the mean foreground frame; all (or each): every foreground "
        "frame; A:B: foreground frames A to B-1 (0-based, either end may be left out)",
    )
    p.add_argument(
        "--average",
        type=int,
        default=1,
        help="average blocks of N consecutive frames before reconstructing (default 1); "
        "a last incomplete block is left out",
    )
    p.add_argument(
        "--chunk-frames",
        type=int,
        default=256,
        help="frames read and reconstructed at once (default 256, about 5 MB for 2D data)",
    )
    p.add_argument("--out", required=True, help="output name; .npy and .png are written")
    add_overwrite_argument(p)
    p.set_defaults(run=run)


def parse_frames(text: str) -> slice | None:
    """`--frames` as a slice of foreground frames; `None` for "mean".

    Raises:
        MPIKerasError: for anything but mean, all, each or A:B.
    """
    from mpikeras.errors import MPIKerasError

    text = text.strip()
    if text == "mean":
        return None
    if text in ("all", "each"):
        return slice(None)
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        start, stop = (int(part) if part.strip() else None for part in parts)
    except ValueError:
        raise MPIKerasError(
            f"--frames must be mean, all or A:B (0-based foreground frames), got {text!r}"
        ) from None
    if (start is not None and start < 0) or (stop is not None and stop < 0):
        raise MPIKerasError(f"--frames A:B takes frame numbers >= 0, got {text!r}")
    return slice(start, stop)


def run(args: argparse.Namespace) -> int:
    import math
    import sys
    from pathlib import Path

    import numpy as np

    from mpikeras.errors import MPIKerasError
    from mpikeras.evaluation.figures import figure_image
    from mpikeras.io import atomic_path, open_measurement_frames, read_system_matrix
    from mpikeras.reconstruction import kaczmarz_solver, reconstruct_stream, tikhonov_operator

    # Checked before the files are read, so that a typo fails at once.
    if not (math.isfinite(args.lam) and args.lam >= 0):
        raise MPIKerasError(f"--lambda must be a finite number >= 0, got {args.lam}")
    if args.iterations < 1:
        raise MPIKerasError(f"--iterations must be at least 1, got {args.iterations}")
    for name in ("average", "chunk_frames"):
        if getattr(args, name) < 1:
            option = "--" + name.replace("_", "-")
            raise MPIKerasError(f"{option} must be at least 1, got {getattr(args, name)}")
    if (args.sm is None) == (args.model is None):
        raise MPIKerasError("give --sm (classic reconstruction) or --model (learned), not both")
    if args.model is None and args.delta_sample_volume_mm3 is not None:
        raise MPIKerasError("--delta-sample-volume-mm3 goes with a .keras --model")
    frames = parse_frames(args.frames)
    out = Path(args.out)
    stem = out.with_suffix("") if out.suffix in (".npy", ".png") else out
    npy, png = stem.with_suffix(".npy"), stem.with_suffix(".png")
    refuse_existing([npy, png], args.overwrite)

    if args.model is not None:
        from mpikeras.export.reconstructor import load_learned_reconstructor

        reconstructor = load_learned_reconstructor(args.model, args.delta_sample_volume_mm3)
        title = f"{Path(args.measurement).name}: {Path(args.model).name}"
        grid = None
    else:
        sm = read_system_matrix(args.sm)
        selection = {
            "lam": args.lam,
            "channels": tuple(args.channels),
            "min_frequency_hz": args.min_frequency,
            "max_frequency_hz": args.max_frequency,
            "snr_threshold": args.snr_threshold,
        }
        if args.solver == "tikhonov":
            reconstructor = tikhonov_operator(sm, **selection)
            title = f"{Path(args.measurement).name}: Tikhonov, λ = {args.lam}"
        else:
            reconstructor = kaczmarz_solver(sm, iterations=args.iterations, **selection)
            title = f"{Path(args.measurement).name}: λ = {args.lam}, {args.iterations} sweeps"
        grid = sm.grid

    def progress(done: int, total: int) -> None:
        print(f"\rreconstructed {done}/{total} frames", end="", file=sys.stderr, flush=True)

    with open_measurement_frames(args.measurement) as source:
        if frames is None:  # the mean frame: one block average of every foreground frame
            average = source.foreground_indices.size
            result = reconstruct_stream(source, reconstructor, None, average, args.chunk_frames)
        else:
            result = reconstruct_stream(
                source, reconstructor, frames, args.average, args.chunk_frames, progress
            )
            print(file=sys.stderr)
    image = result.images
    if frames is None:
        image = image[0].reshape(reconstructor.image_shape)  # (Nz, Ny, Nx) as before
    with atomic_path(npy) as tmp:
        np.save(tmp, image)
    shown = image if frames is None else image.mean(axis=0)
    shown = shown[shown.shape[0] // 2] if shown.ndim == 3 else shown
    if grid is None:  # a model knows no grid: axes in pixels (shown as 1 mm each)
        from mpikeras.io import Grid

        ny, nx = shown.shape
        grid = Grid(size=(nx, ny, 1), fov_m=(nx * 1e-3, ny * 1e-3, 1e-3))
        title += " (axes: pixels)"
    figure_image(shown, grid, title, png)
    first, last = int(result.frame_indices[0, 0]), int(result.frame_indices[-1, -1])
    print(
        f"wrote {npy} (shape {image.shape}, delta-sample units) and {png}: foreground frames "
        f"{first}..{last}"
        + (f" in averages of {result.frame_indices.shape[1]}" if frames is not None else "")
        + f", {result.frames_per_second:.0f} frames/s ({result.realtime_factor:.2g}x the "
        f"scanner's {result.scanner_frames_per_second:.0f} frames/s) with {result.method}"
    )
    return 0
