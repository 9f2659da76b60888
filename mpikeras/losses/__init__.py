"""Losses of contrastive pretraining."""

from mpikeras.losses.nt_xent import (
    DEFAULT_TEMPERATURE,
    NTXent,
    contrastive_accuracy,
    gather_across_replicas,
    nt_xent,
    nt_xent_per_anchor,
    split_views,
)

__all__ = [
    "DEFAULT_TEMPERATURE",
    "NTXent",
    "contrastive_accuracy",
    "gather_across_replicas",
    "nt_xent",
    "nt_xent_per_anchor",
    "split_views",
]
