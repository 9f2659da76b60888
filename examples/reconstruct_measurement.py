"""Reconstruct a measurement with a system matrix (classic Kaczmarz), and plot it.

    python examples/reconstruct_measurement.py --sm calibrations/5.mdf \
        --measurement measurements/resolution.mdf --out resolution.png
    python examples/reconstruct_measurement.py         # simulated SM and phantom
"""

import argparse

import numpy as np
from matplotlib.figure import Figure

from mpikeras.io import read_measurement, read_system_matrix
from mpikeras.reconstruction import reconstruct
from mpikeras.simulation import preset, simulate_system_matrix
from mpikeras.simulation.phantoms import simulate_measurement

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--sm", help="MDF calibration file (default: simulated 37 x 37)")
parser.add_argument("--measurement", help="MDF measurement (default: simulated resolution phantom)")
parser.add_argument("--lam", type=float, default=0.01)
parser.add_argument("--iterations", type=int, default=3)
parser.add_argument("--out", default="reconstruction.png")
args = parser.parse_args()

if args.sm:
    sm = read_system_matrix(args.sm, z_slice="central")
    measurement = read_measurement(args.measurement)
else:
    sm = simulate_system_matrix(preset("openmpi-2d-37"), seed=0)
    measurement = simulate_measurement("resolution", preset("openmpi-2d-37"), seed=1)

image = reconstruct(sm, measurement, lam=args.lam, iterations=args.iterations)[0]
fig = Figure(figsize=(4, 3.5))
ax = fig.subplots()
x_mm, y_mm = sm.grid.axis_m(0) * 1e3, sm.grid.axis_m(1) * 1e3
ax.imshow(image, origin="lower", extent=(x_mm[0], x_mm[-1], y_mm[0], y_mm[-1]))
ax.set_xlabel("x (mm)")
ax.set_ylabel("y (mm)")
fig.savefig(args.out, dpi=120, bbox_inches="tight")
print(f"image {image.shape}, max {np.max(image):.2f} delta-sample units; saved {args.out}")
