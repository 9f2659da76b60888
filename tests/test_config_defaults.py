"""The configuration's defaults equal those of the Keras layers and losses they mirror.

The layers carry their own defaults in their signatures; `mpikeras.config`
sits below them (the data layer reads it) and cannot import them, so its
dataclass fields repeat the values. This checks every mirrored field.
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from mpikeras.config import (
    AugmentationConfig,
    EncoderConfig,
    ProjectorConfig,
    ReconstructionHeadConfig,
    RecoveryHeadConfig,
    TrainingConfig,
)
from mpikeras.losses import NTXent, nt_xent, nt_xent_per_anchor
from mpikeras.models import (
    BracketRecovery,
    ContrastiveRegularized,
    DirectReconstruction,
    Encoder,
    ProjectionHead,
    SignalAugmentation,
    SignalRecovery,
    SimCLR,
)

# (config class, layer or function, {config field: argument})
MIRRORS = [
    (EncoderConfig, Encoder, {f: f for f in ("filters", "kernel_sizes", "strides")}),
    (ProjectorConfig, ProjectionHead, {f: f for f in ("hidden_units", "output_units")}),
    (
        AugmentationConfig,
        SignalAugmentation,
        {f.name: f.name for f in dataclasses.fields(AugmentationConfig)},
    ),
    (
        RecoveryHeadConfig,
        SignalRecovery,
        {"hidden_units": "hidden_units", "filters": "filters", "kernel_size": "kernel_size"},
    ),
    (
        RecoveryHeadConfig,
        BracketRecovery,
        {
            "hidden_units": "hidden_units",
            "bracket_filters": "filters",
            "bracket_kernel_size": "kernel_size",
        },
    ),
    (
        ReconstructionHeadConfig,
        DirectReconstruction,
        {f.name: f.name for f in dataclasses.fields(ReconstructionHeadConfig)},
    ),
    *[
        (TrainingConfig, user, {"temperature": "temperature"})
        for user in (nt_xent, nt_xent_per_anchor, NTXent, SimCLR, ContrastiveRegularized)
    ],
]


@pytest.mark.parametrize(
    ("config_class", "user", "fields"),
    MIRRORS,
    ids=[f"{config.__name__}-{user.__name__}" for config, user, _ in MIRRORS],
)
def test_config_default_equals_the_layers(config_class, user, fields):
    parameters = inspect.signature(user).parameters
    config = config_class()
    for field, argument in fields.items():
        default = parameters[argument].default
        assert default is not inspect.Parameter.empty, f"{user.__name__}({argument}) has no default"
        assert getattr(config, field) == default, (
            f"{config_class.__name__}.{field} = {getattr(config, field)!r} but "
            f"{user.__name__}({argument}=...) defaults to {default!r}"
        )
        assert type(getattr(config, field)) is type(default)


def test_every_mirrored_config_class_field_is_checked():
    checked = {(config.__name__, field) for config, _, fields in MIRRORS for field in fields}
    for config_class in (
        EncoderConfig,
        ProjectorConfig,
        AugmentationConfig,
        RecoveryHeadConfig,
        ReconstructionHeadConfig,
    ):
        for field in dataclasses.fields(config_class):
            assert (config_class.__name__, field.name) in checked
