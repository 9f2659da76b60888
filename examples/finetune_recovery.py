"""Fine-tune the SM-recovery head on a pretrained encoder (CL), or on a fresh one (wo-CL).

    python examples/finetune_recovery.py --encoder encoder.keras --out recovery.keras
    python examples/finetune_recovery.py --out recovery.keras        # wo-CL

The head predicts the signal of the voxel one step further in y.
"""

import argparse

import keras
import numpy as np

from mpikeras.data import VoxelSplit, recovery_streams
from mpikeras.data.sources import load_system_matrix
from mpikeras.evaluation import nrmse
from mpikeras.models import Encoder, SignalRecovery
from mpikeras.preprocessing import Normalization, voxel_signals

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", default="simulated:openmpi-2d-19")
parser.add_argument("--encoder", help="pretrained encoder.keras (omit for wo-CL)")
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--out", default="recovery.keras")
args = parser.parse_args()

signals = voxel_signals(load_system_matrix(args.data))
normalization = Normalization.fit(signals.signals)
signals = signals.normalized(normalization)
split = VoxelSplit.random(signals.num_voxels, seed=0)
streams = recovery_streams(signals, split, batch_size=32, seed=0)

if args.encoder:
    encoder = keras.saving.load_model(args.encoder, safe_mode=True)
else:
    encoder = Encoder(input_shape=signals.signals.shape[2:], filters=64)
model = SignalRecovery(encoder, normalization_scale=normalization.scale)
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
model.fit(**streams.fit_kwargs(), epochs=args.epochs)

x_val, y_val = streams.validation
score = nrmse(model.predict(x_val, verbose=0), y_val)
print(
    f"validation NRMSE {100 * np.mean(score):.1f} +- {100 * np.std(score):.1f} % "
    f"over {len(score)} voxel pairs"
)
model.save(args.out)
print(f"saved {args.out}")
