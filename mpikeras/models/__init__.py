"""Models: the encoder, the projection head, SimCLR, the task heads and the joint model.

Importing this package registers the classes with Keras, which loading a
`.keras` file (`keras.saving.load_model`) needs.
"""

from mpikeras.models.augmentation import SignalAugmentation
from mpikeras.models.encoder import (
    DEFAULT_INPUT_SHAPE,
    Encoder,
    encoder_output_length,
    minimum_input_length,
)
from mpikeras.models.heads import BracketRecovery, DirectReconstruction, SignalRecovery
from mpikeras.models.joint import JointModel
from mpikeras.models.projector import ProjectionHead
from mpikeras.models.regularized import ContrastiveRegularized
from mpikeras.models.saving import load_model
from mpikeras.models.simclr import VIEW_KEYS, SimCLR

__all__ = [
    "DEFAULT_INPUT_SHAPE",
    "VIEW_KEYS",
    "BracketRecovery",
    "ContrastiveRegularized",
    "DirectReconstruction",
    "Encoder",
    "JointModel",
    "ProjectionHead",
    "SignalAugmentation",
    "SignalRecovery",
    "SimCLR",
    "encoder_output_length",
    "load_model",
    "minimum_input_length",
]
