"""Export a trained recovery model as a SavedModel and serve it with plain TensorFlow.

    python examples/export_and_serve.py --run runs/recovery --out exports/recovery

The export takes band-passed voltages and returns volts: the normalisation is
inside. Serving needs TensorFlow only (or TensorFlow Serving; see
docs/deployment.md).
"""

import argparse

import numpy as np
import tensorflow as tf

from mpikeras.data.sources import load_system_matrix
from mpikeras.export import export_saved_model
from mpikeras.preprocessing import voxel_signals

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--run", required=True, help="run directory of `mpikeras train recovery`")
parser.add_argument("--out", default="exports/recovery")
parser.add_argument("--data", default="simulated:openmpi-2d-19", help="SM whose columns to serve")
args = parser.parse_args()

export_saved_model(args.run, args.out, overwrite=True)

# Serving side: nothing from mpikeras, only TensorFlow and volts.
served = tf.saved_model.load(args.out)
columns = voxel_signals(load_system_matrix(args.data), per_unit_volume=False).signals
lower = columns[:-1, 9]  # column x = 9, every y but the last: (18, 1632, 2) volts
predicted = served.serve(tf.constant(lower))["signal"].numpy()
truth = columns[1:, 9]
error = np.sqrt(np.mean((predicted - truth) ** 2, axis=(1, 2))) / np.ptp(truth, axis=(1, 2))
print(
    f"served {len(lower)} columns; NRMSE against the measured neighbours "
    f"{100 * error.mean():.1f} +- {100 * error.std():.1f} %"
)
