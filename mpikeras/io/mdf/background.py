"""Background correction: which frames are background, when each was acquired, and the subtraction.

The correction is MPIFiles.jl's: the mean of each block of background
frames, interpolated linearly at the acquisition time of each foreground frame.
"""

from __future__ import annotations

import math

import numpy as np

from mpikeras.io.mdf.access import Reader

_BACKGROUND_FRAME = "/measurement/isBackgroundFrame"
_FRAME_PERMUTATION = "/measurement/framePermutation"


def background_mask(r: Reader, num_frames: int) -> np.ndarray:
    """`/measurement/isBackgroundFrame` as one bool per frame (all False when absent)."""
    field = _BACKGROUND_FRAME
    if not r.has(field):
        return np.zeros(num_frames, dtype=bool)
    ds = r.dataset(field)
    if ds.dtype.kind not in ("i", "u", "b"):
        raise r.error(
            field, "wrong dtype", expected="Int8 (0 or 1 per frame)", actual=str(ds.dtype)
        )
    length = math.prod(r.shape(field, ds))
    if length != num_frames:  # checked before reading: the dataset may be huge
        raise r.error(
            field, "wrong length", expected=f"{num_frames} (one per frame)", actual=length
        )
    mask = r.array(field).reshape(-1)
    # min/max: no temporaries (np.isin would sort a copy of a file-sized array).
    if mask.size and (mask.min() < 0 or mask.max() > 1):
        raise r.error(
            field, "not a flag", expected="0 or 1 per frame", actual=np.unique(mask)[:10].tolist()
        )
    return mask.view(bool) if mask.dtype.itemsize == 1 else mask.astype(bool)


def acquisition_order(r: Reader, num_frames: int) -> np.ndarray:
    """Acquisition position (0-based) of each stored frame (`framePermutation`, 1-based)."""
    field = _FRAME_PERMUTATION
    if not r.flag("/measurement/isFramePermutation", default=False) or not r.has(field):
        return np.arange(num_frames)
    perm = r.array(field)
    if perm.dtype.kind not in ("i", "u") or perm.size != num_frames:
        raise r.error(
            field,
            "wrong shape or type",
            expected=f"{num_frames} integers",
            actual=f"{perm.dtype} {perm.shape}",
        )
    perm = perm.reshape(-1).astype(np.int64)
    if not np.array_equal(np.sort(perm), np.arange(1, num_frames + 1)):
        raise r.error(
            field,
            "not a permutation",
            expected=f"each of 1..{num_frames} once (1-based)",
            actual=f"values {perm.min()}..{perm.max()}",
        )
    return perm - 1


def subtract_background(
    fg: np.ndarray, fg_pos: np.ndarray, bg: np.ndarray, bg_pos: np.ndarray, num_frames: int
) -> np.ndarray:
    """Background-correct foreground frames, in place where possible.

    MPIFiles' correction: each contiguous block of background frames (in
    acquisition order) is replaced by its mean, and every foreground frame
    subtracts the block means linearly interpolated at its acquisition time,
    `alpha = pos / (N - 1) * (E - 1)` in background-frame units. With one
    block (all background frames together, as in files with the background
    at the end) this is the mean of the background frames.

    Args:
        fg: (M, ...) foreground frames.
        fg_pos: acquisition positions (0-based) of the foreground frames.
        bg: (E, ...) background frames, E >= 1.
        bg_pos: acquisition positions of the background frames.
        num_frames: N, all frames.

    Returns:
        `fg` less the background.
    """
    return _shift_by_background(fg, fg_pos, bg, bg_pos, num_frames, -1.0)


def add_background(
    fg: np.ndarray, fg_pos: np.ndarray, bg: np.ndarray, bg_pos: np.ndarray, num_frames: int
) -> np.ndarray:
    """The inverse of `subtract_background` (arguments alike): corrected frames back to raw ones.

    A writer that holds background-corrected frames stores them raw, so that
    a reader's `subtract_background` gives them back.
    """
    return _shift_by_background(fg, fg_pos, bg, bg_pos, num_frames, 1.0)


def _shift_by_background(
    fg: np.ndarray,
    fg_pos: np.ndarray,
    bg: np.ndarray,
    bg_pos: np.ndarray,
    num_frames: int,
    sign: float,
) -> np.ndarray:
    order = np.argsort(bg_pos, kind="stable")
    bg, bg_pos = bg[order], bg_pos[order]
    starts = np.flatnonzero(np.r_[True, np.diff(bg_pos) != 1])
    if starts.size == 1:
        fg += sign * bg.mean(axis=0, dtype=np.complex128 if bg.dtype.kind == "c" else np.float64)
        return fg
    ends = np.r_[starts[1:], bg.shape[0]]
    block_means = np.empty_like(bg, dtype=np.result_type(bg.dtype, np.complex64))
    for start, end in zip(starts, ends, strict=True):
        block_means[start:end] = bg[start:end].mean(axis=0)
    e = bg.shape[0]
    alpha = fg_pos.astype(np.float64) / max(num_frames - 1, 1) * (e - 1)
    low = np.clip(np.floor(alpha).astype(np.int64), 0, e - 2)
    weight = (alpha - low).reshape(-1, *([1] * (fg.ndim - 1)))
    # Chunks of about 2**17 values keep the float64 temporaries in cache (2x faster
    # than 4096 frames at once for a 37 x 37 slice, same arithmetic).
    step = max(1, 2**17 // max(1, int(np.prod(fg.shape[1:]))))
    for start in range(0, fg.shape[0], step):
        part = slice(start, start + step)
        w = weight[part]
        fg[part] += sign * ((1.0 - w) * block_means[low[part]] + w * block_means[low[part] + 1])
    return fg


def count_blocks(mask: np.ndarray) -> int:
    """Contiguous runs of `True` in a flag per frame (in acquisition order), read in chunks."""
    runs, previous = 0, False
    for start in range(0, mask.size, 1 << 24):
        part = np.asarray(mask[start : start + (1 << 24)], dtype=bool)
        if part.size:
            runs += int(part[0] and not previous) + int(np.count_nonzero(part[1:] & ~part[:-1]))
            previous = bool(part[-1])
    return runs
