"""Preprocessing: band-pass, normalisation, grid subsampling and the task geometry."""

from mpikeras.preprocessing.bandpass import band_mask, bandpass
from mpikeras.preprocessing.geometry import RecoveryGeometry, y_neighbour_pairs
from mpikeras.preprocessing.normalization import Normalization
from mpikeras.preprocessing.signals import VoxelSignals, voxel_signals

__all__ = [
    "Normalization",
    "RecoveryGeometry",
    "VoxelSignals",
    "band_mask",
    "bandpass",
    "voxel_signals",
    "y_neighbour_pairs",
]
