"""Pretrain the encoder with your own `model.fit` on an MDF system matrix.

    python examples/pretrain.py --data calibrations/2.mdf --epochs 100 --out encoder.keras
    python examples/pretrain.py            # the embedded simulated 19 x 19 SM

Everything the `mpikeras pretrain` command does for you (run directories,
resuming, checkpoints) is left out: this is the plain Keras path.
"""

import argparse

import keras

from mpikeras.config import EncoderConfig, PretrainConfig
from mpikeras.data import VoxelSplit, contrastive_streams
from mpikeras.data.sources import load_system_matrix
from mpikeras.preprocessing import Normalization, voxel_signals
from mpikeras.training.pretrain import build_simclr

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", default="simulated:openmpi-2d-19", help="MDF calibration file")
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--filters", type=int, default=256, help="encoder width (paper: 256)")
parser.add_argument("--out", default="encoder.keras")
args = parser.parse_args()

# 1. The central z slice of the SM, band-passed 80-600 kHz, as (19, 19, 1632, 2) time signals.
sm = load_system_matrix(args.data)
signals = voxel_signals(sm, band_hz=(80e3, 600e3), channels=(0, 1))
normalization = Normalization.fit(signals.signals)  # half the peak, as in the paper
signals = signals.normalized(normalization)

# 2. Two augmented views of columns and weighted combinations, split 80:20 by voxel.
split = VoxelSplit.random(signals.num_voxels, validation_fraction=0.2, seed=0)
streams = contrastive_streams(signals, split, batch_size=32, seed=0)

# 3. Encoder + projector in a SimCLR model; plain compile and fit.
config = PretrainConfig(encoder=EncoderConfig(filters=args.filters))
model = build_simclr(config, signals.signals.shape[2:])
model.compile(optimizer=keras.optimizers.Adam(1e-4, beta_1=0.9, beta_2=0.999))
history = model.fit(
    streams.train,
    steps_per_epoch=streams.steps_per_epoch,
    validation_data=streams.validation,
    epochs=args.epochs,
)
model.encoder.save(args.out)
print(
    f"final loss {history.history['loss'][-1]:.3f}, top-1 accuracy "
    f"{history.history['top1_accuracy'][-1]:.2f}; encoder saved to {args.out} "
    f"(normalisation scale {normalization.scale:.3g})"
)
