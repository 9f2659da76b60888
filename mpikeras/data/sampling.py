"""What one stream element is made of, shared by the tf.data and NumPy pipelines.

Every element of every stream is determined by `(seed, element index)`
alone: its random draws come from a generator seeded with both, so the same
seed gives the same batches, parallel maps stay deterministic and a resumed
run continues the exact sequence. An epoch visits the sampled pool in a
fresh random order (a stateless permutation per epoch). The draws are
turned into samples by the formulas below, written once for both pipelines.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from mpikeras.config import AugmentationConfig, CombinationConfig
from mpikeras.data.augment import NUM_VIEW_UNIFORMS, NUMPY_OPS, ArrayOps, augment


@dataclasses.dataclass(frozen=True, eq=False)
class StreamSpec:
    """A sampled stream over a pool of voxel signals.

    Args:
        kind: "contrastive" (two augmented views of a column or combination),
            "reconstruction" (combination -> concentration image),
            "recovery" (column -> target column, `pairs` = (source, target)) or
            "bracket" (lower and upper column -> the column between them,
            `pairs` = (lower, target, upper)).
        columns: float32 pool signals, shape (N, V, C).
        seed: stream seed.
        batch_size: samples per batch.
        epoch_length: elements per epoch (the permutation period is the pool
            size, or the number of pairs).
        combination: how combinations are drawn (contrastive, reconstruction).
        augmentation: view augmentations (contrastive).
        pairs: index arrays into `columns` (recovery, bracket).
        voxel_ids: flat image index of each pool voxel (reconstruction).
        image_shape: (Ny, Nx) of the concentration image (reconstruction).
    """

    kind: str
    columns: np.ndarray
    seed: int
    batch_size: int
    epoch_length: int
    combination: CombinationConfig = dataclasses.field(default_factory=CombinationConfig)
    augmentation: AugmentationConfig = dataclasses.field(default_factory=AugmentationConfig)
    pairs: tuple[np.ndarray, np.ndarray] | None = None
    voxel_ids: np.ndarray | None = None
    image_shape: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("contrastive", "reconstruction", "recovery", "bracket"):
            raise ValueError(f"StreamSpec: unknown kind {self.kind!r}")
        if self.is_paired and self.pairs is None:
            raise ValueError(f"StreamSpec: a {self.kind} stream needs pairs")
        if self.kind == "reconstruction" and (self.voxel_ids is None or self.image_shape is None):
            raise ValueError("StreamSpec: a reconstruction stream needs voxel_ids and image_shape")
        if self.pool_size < 1:
            raise ValueError("StreamSpec: the sampled pool is empty")

    @property
    def is_paired(self) -> bool:
        return self.kind in ("recovery", "bracket")

    @property
    def pool_size(self) -> int:
        """Number of items an epoch permutes: pairs for recovery, voxels otherwise."""
        return len(self.pairs[0]) if self.is_paired else self.columns.shape[0]

    @property
    def max_voxels(self) -> int:
        """Columns per combination at most (bounded by the pool)."""
        return max(1, min(self.combination.num_voxels[1], self.columns.shape[0]))

    @property
    def signal_shape(self) -> tuple[int, int]:
        return tuple(self.columns.shape[1:])


def combination_weights(spec: StreamSpec, uniforms: Any, ops: ArrayOps = NUMPY_OPS) -> Any:
    """Weights of the columns of each sample from its uniform draws.

    Args:
        uniforms: shape (B, 2 + max_voxels): [is-combination, size, weights...].

    Returns:
        Weights, shape (B, max_voxels): a single column has weight 1 in the
        first slot; a combination of n columns has n weights uniform in
        `weight_range`, zeros after.
    """
    cfg = spec.combination
    n_low = min(cfg.num_voxels[0], spec.max_voxels)
    n_high = spec.max_voxels
    is_combo = uniforms[:, 0:1] < cfg.probability
    size = n_low + uniforms[:, 1:2] * (n_high - n_low + 1)  # floor below via comparison
    slot = np.arange(spec.max_voxels, dtype=np.float32)[None, :]
    low, high = cfg.weight_range
    combo = ops.where(slot + 1.0 <= size, low + (high - low) * uniforms[:, 2:], 0.0)
    single = ops.where(slot == 0.0, 1.0, 0.0) + 0.0 * uniforms[:, 2:]
    return ops.where(is_combo, combo, single)


def assemble(spec: StreamSpec, draws: dict[str, Any], ops: ArrayOps = NUMPY_OPS):
    """Turn a batch of draws into `(x, y)` or `x` as the model expects.

    Returns:
        contrastive: `{"view_a": (B, V, C), "view_b": (B, V, C)}` (x only, so
        Keras never mistakes the pair for (x, y)); reconstruction:
        `(signal (B, V, C), image (B, Ny, Nx, 1))`; recovery:
        `(source (B, V, C), target (B, V, C))`; bracket:
        `({"lower": (B, V, C), "upper": (B, V, C)}, target (B, V, C))`.
    """
    if spec.is_paired:
        signals = [ops.take(spec.columns, ops.take(p, draws["pair"])) for p in spec.pairs]
        if spec.kind == "recovery":
            return signals[0], signals[1]
        return {"lower": signals[0], "upper": signals[2]}, signals[1]
    weights = ops.float32(combination_weights(spec, draws["uniforms"], ops))  # (B, n)
    gathered = ops.take(spec.columns, draws["indices"])  # (B, n, V, C)
    signal = ops.sum1(gathered * weights[:, :, None, None])
    if spec.kind == "reconstruction":
        ny, nx = spec.image_shape
        one_hot = ops.take(
            np.eye(ny * nx, dtype=np.float32), ops.take(spec.voxel_ids, draws["indices"])
        )
        image = ops.sum1(one_hot * weights[:, :, None])  # (B, Ny * Nx)
        return ops.float32(signal), image_reshape(ops.float32(image), ny, nx)
    cfg = spec.augmentation
    view_a = augment(signal, draws["view_uniforms"][:, 0], draws["normals"][:, 0], cfg, ops)
    view_b = augment(signal, draws["view_uniforms"][:, 1], draws["normals"][:, 1], cfg, ops)
    return {"view_a": view_a, "view_b": view_b}


def image_reshape(image: Any, ny: int, nx: int) -> Any:
    """(B, Ny * Nx) -> (B, Ny, Nx, 1), for NumPy arrays and tensors alike."""
    if isinstance(image, np.ndarray):
        return image.reshape(-1, ny, nx, 1)
    import tensorflow as tf

    return tf.reshape(image, (-1, ny, nx, 1))


def epoch_permutation(seed: int, epoch: int, size: int) -> np.ndarray:
    """NumPy pipeline's permutation of the pool for an epoch."""
    return np.random.default_rng([seed, epoch, 0xE70C]).permutation(size)


def numpy_draws(spec: StreamSpec, index: int, permutation: np.ndarray) -> dict[str, np.ndarray]:
    """The random draws of element `index` from a generator seeded by (seed, index)."""
    rng = np.random.default_rng([spec.seed, index])
    base = int(permutation[(index % spec.epoch_length) % spec.pool_size])
    if spec.is_paired:
        return {"pair": np.int64(base)}
    order = rng.random(spec.columns.shape[0])
    order[base] = 2.0  # the base voxel sorts last, so the others differ from it
    others = np.argsort(order, kind="stable")[: spec.max_voxels - 1]
    draws = {
        "indices": np.r_[base, others].astype(np.int64),
        "uniforms": rng.random(2 + spec.max_voxels, dtype=np.float32),
    }
    if spec.kind == "contrastive":
        v, c = spec.signal_shape
        draws["view_uniforms"] = rng.random((2, NUM_VIEW_UNIFORMS), dtype=np.float32)
        draws["normals"] = rng.standard_normal((2, v, c), dtype=np.float32)
    return draws
