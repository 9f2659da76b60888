"""Input pipelines: augmentations, the voxel split, and tf.data / PyDataset streams."""

from mpikeras.data.augment import NUM_VIEW_UNIFORMS, augment
from mpikeras.data.sampling import StreamSpec
from mpikeras.data.split import VoxelSplit
from mpikeras.data.streams import (
    Streams,
    contrastive_streams,
    materialize,
    reconstruction_streams,
    recovery_streams,
    resolve_pipeline,
)

__all__ = [
    "NUM_VIEW_UNIFORMS",
    "StreamSpec",
    "Streams",
    "VoxelSplit",
    "augment",
    "contrastive_streams",
    "materialize",
    "reconstruction_streams",
    "recovery_streams",
    "resolve_pipeline",
]
