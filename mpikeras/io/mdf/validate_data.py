"""Validating `/measurement`: the data's layout and axes, the flags, and a scan for NaN and Inf.

Part of `mpikeras.io.mdf.validate`: every problem is added to its `Checks`
as a finding. The data is read in blocks of at most `BLOCK_BYTES` (and
never when the whole dataset declares more than `read_limit_bytes`), so a
file larger than memory is checked without loading it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from mpikeras.errors import MDFError
from mpikeras.io.mdf.access import H5_ERRORS, complex_fields, read_limit_bytes
from mpikeras.io.mdf.background import acquisition_order, background_mask
from mpikeras.io.mdf.schema import DATA
from mpikeras.io.mdf.spec_rules import SPARSITY_TRANSFORMATIONS

if TYPE_CHECKING:
    from mpikeras.io.mdf.validate import Checks

#: The most bytes of `/measurement/data` read at once.
BLOCK_BYTES = 64 * 2**20
_M = "/measurement/"
_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclasses.dataclass(frozen=True)
class DataLayout:
    """`/measurement/data` as the flags describe it (section 3.8).

    `axes` maps the letters of the specification (N, J, C, K or V, B + E) to
    the data's axis lengths; `complex_kind` is "compound", "trailing" or "real".
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    fourier: bool
    fast: bool
    sparse: bool
    complex_kind: str
    axes: dict[str, int]


def data_layout(ck: Checks, flags: dict[str, bool | None], report: bool) -> DataLayout | None:
    """The layout of `/measurement/data`, or `None`; with `report`, its problems as findings."""
    r = ck.r
    fail = ck.error if report else (lambda *args: None)
    fourier = ck.quiet(r.flag, _M + "isFourierTransformed")
    fast = ck.quiet(r.flag, _M + "isFastFrameAxis")
    if fast is None and ck.quiet(r.has, _M + "isTransposed"):
        fast = ck.quiet(r.flag, _M + "isTransposed")  # its name in early MDF 2.0 files
    ds = (ck.attempt if report else ck.quiet)(r.dataset, DATA)
    shape = None if ds is None else (ck.attempt if report else ck.quiet)(r.shape, DATA, ds)
    if shape is None or fourier is None:
        return None
    # Sparsity needs Fourier data with the fast frame axis (reported in _check_sparsity).
    sparse = bool(flags.get("isSparsityTransformed") and fourier and fast)
    dtype = ds.dtype
    # Section 2.1: Number is an integer, a float or a compound {r, i} of them.
    if dtype.names:
        if complex_fields(dtype) is None:
            return fail(DATA, "unsupported compound dtype", "complex {r, i}", dtype)
        if report and set(dtype.names) != {"r", "i"}:
            ck.warning(
                DATA,
                "complex compound without the specification's member names r "
                "and i; MPIFiles.jl reads only {r, i}",
                "{r, i}",
                "{" + ", ".join(dtype.names) + "}",
            )
        kind = "compound"
    elif dtype.kind == "c":
        kind = "compound"
    elif dtype.kind in "iuf":
        kind = "trailing" if fourier and shape[-1:] == (2,) and len(shape) == 5 else "real"
    else:
        return fail(DATA, "wrong type", "Number (integer, float or complex {r, i})", dtype)
    if kind == "compound" and not fourier:
        return fail(
            DATA,
            "complex data in the time domain (isFourierTransformed = 0)",
            "real samples",
            dtype,
        )
    if kind == "real" and fourier:
        return fail(
            DATA,
            "Fourier-domain data without a complex type",
            "complex {r, i}, or float with a trailing axis of length 2",
            f"{dtype} {shape}",
        )
    core = shape[:-1] if kind == "trailing" else shape
    point = "K" if fourier else "V"
    if sparse:
        letters = ("J", "C", "K", "B+E")
    else:
        letters = ("J", "C", point, "N") if fast else ("N", "J", "C", point)
    if len(core) != 4:
        return fail(DATA, "wrong number of dimensions", f"4 ({' x '.join(letters)})", shape)
    if min(core) < 1:
        return fail(DATA, "empty axis", f"{' x '.join(letters)}, each at least 1", shape)
    return DataLayout(
        shape, dtype, fourier, bool(fast), sparse, kind, dict(zip(letters, core, strict=True))
    )


def check_data(ck: Checks, dims: dict[str, int], flags: dict[str, Any], calibration: bool) -> None:
    """Check `/measurement/data` against N, J, C, K, the flags, and scan it for NaN and Inf."""
    r = ck.r
    layout = data_layout(ck, flags, report=True)
    if layout is not None:
        _check_axes(ck, layout, dims)
    _check_flags(ck, dims, flags, layout)
    if "N" in dims:
        ck.attempt(background_mask, r, dims["N"])  # section 3.8: isBackgroundFrame, N
        if flags.get("isFramePermutation"):  # section 3.8: framePermutation, a permutation
            ck.attempt(acquisition_order, r, dims["N"])
    if layout is None or ck.has_error(DATA):
        return
    try:
        r.check_fits(DATA, layout.shape, layout.dtype)
    except MDFError as exc:
        ck.error(DATA, exc.problem, exc.expected, exc.actual)
        return
    _scan(ck, layout, dims)


def _check_axes(ck: Checks, layout: DataLayout, dims: dict[str, int]) -> None:
    """Section 3.8: the data's axes against numChannels, numSamplingPoints and the counts."""
    axes = layout.axes
    point = "K" if layout.fourier else "V"
    if "C" in dims and axes["C"] != dims["C"]:
        ck.error(
            DATA,
            "channel axis (C) disagrees with /acquisition/receiver/numChannels",
            dims["C"],
            axes["C"],
        )
    if point in dims and axes[point] != dims[point]:
        what = "K = numSamplingPoints // 2 + 1" if point == "K" else "V = numSamplingPoints"
        if point == "K" and ck.quiet(ck.r.flag, _M + "isFrequencySelection"):
            what = "K = the length of frequencySelection"
        ck.error(DATA, f"sample axis disagrees with {what}", dims[point], axes[point])
    for field, letter, axis in (
        ("/acquisition/numFrames", "N", "frame axis (N)"),
        ("/acquisition/numPeriodsPerFrame", "J", "period axis (J)"),
    ):
        declared = ck.quiet(ck.r.number, field, "i")
        if letter in axes and declared is not None and declared != axes[letter]:
            ck.error(
                field, f"disagrees with the {axis} of /measurement/data", axes[letter], declared
            )
    if layout.sparse and "E" in dims and "B" in dims and axes["B+E"] != dims["B"] + dims["E"]:
        ck.error(
            DATA,
            "frame axis disagrees with B + E (isSparsityTransformed = 1)",
            dims["B"] + dims["E"],
            axes["B+E"],
        )


def _check_flags(ck: Checks, dims: dict, flags: dict, layout: DataLayout | None) -> None:
    """What the `/measurement` flags imply (section 3.8), and how tools read them."""
    r = ck.r
    flag = {
        n: ck.quiet(r.flag, _M + n)
        for n in ("isBackgroundCorrected", "isTransferFunctionCorrected", "isFramePermutation")
    }
    background, foreground = dims.get("E"), dims.get("O")
    if flag["isBackgroundCorrected"] is False and background:
        ck.warning(
            _M + "isBackgroundCorrected",
            "0 with background frames: mpikeras subtracts "
            "them on reading, MPIFiles.jl only when asked (bgCorrection = true)",
        )
    if flag["isBackgroundCorrected"] and background:
        ck.warning(
            _M + "isBackgroundCorrected",
            "1 with background frames: MPIFiles.jl "
            "subtracts them again when asked (bgCorrection = true), mpikeras does not",
        )
    if background and foreground == 0 and not ck.quiet(r.has, "/calibration/method"):
        ck.warning(
            _M + "isBackgroundFrame",
            "every frame is a background frame: mpikeras' read_measurement refuses such a file",
        )
    if flag["isTransferFunctionCorrected"] and not ck.quiet(
        r.has, "/acquisition/receiver/transferFunction"
    ):
        ck.warning(
            _M + "isTransferFunctionCorrected",
            "1 without the transfer function it was corrected with",
            "/acquisition/receiver/transferFunction",
            "nothing",
        )
    if flag["isFramePermutation"]:
        ck.warning(
            _M + "isFramePermutation",
            "1: the stored frames are permuted; MPIFiles.jl "
            "restores the order when asked (sortFrames), mpikeras uses framePermutation "
            "only to time the background interpolation",
        )
    elif flag["isFramePermutation"] is False and ck.quiet(r.has, _M + "framePermutation"):
        ck.warning(_M + "framePermutation", "present but ignored: isFramePermutation is 0")
    if flags.get("isFrequencySelection"):
        _check_selection(ck, dims)
    if flags.get("isSparsityTransformed"):
        _check_sparsity(ck, layout)
    for name in ("isFrequencySelection", "isSparsityTransformed"):
        if flags.get(name):
            ck.warning(_M + name, "1: mpikeras cannot read such data (MPIFiles.jl can)")


def _check_selection(ck: Checks, dims: dict) -> None:
    """Section 3.8: frequencySelection holds distinct 1-based indices of the V // 2 + 1 bins."""
    field = _M + "frequencySelection"
    value = ck.quiet(ck.r.array, field) if not ck.has_error(field) else None
    if value is None or "V" not in dims or value.dtype.kind not in "iu":
        return
    num_bins = dims["V"] // 2 + 1
    values = value.reshape(-1)
    if values.size and (
        values.min() < 1 or values.max() > num_bins or np.unique(values).size != values.size
    ):
        ck.error(
            field,
            "not distinct frequency indices",
            f"distinct values in 1..{num_bins}",
            f"values {values.min()}..{values.max()}, {np.unique(values).size} distinct",
        )


def _check_sparsity(ck: Checks, layout: DataLayout | None) -> None:
    """Section 3.8: sparsity needs the fast frame axis, Fourier data and background frames last."""
    r, flag = ck.r, _M + "isSparsityTransformed"
    if layout is not None and not (layout.fourier and layout.fast):
        ck.error(
            flag,
            "needs isFourierTransformed = 1 and isFastFrameAxis = 1",
            "both 1",
            f"{int(layout.fourier)} and {int(layout.fast)}",
        )
    name = ck.quiet(r.string, _M + "sparsityTransformation")
    if name is not None and name not in SPARSITY_TRANSFORMATIONS:
        ck.error(
            _M + "sparsityTransformation",
            "not a standardised transformation",
            " or ".join(SPARSITY_TRANSFORMATIONS),
            repr(name),
        )
    mask = ck.quiet(r.array, _M + "isBackgroundFrame")
    if mask is not None and mask.size and np.any(np.diff(mask.reshape(-1).astype(int)) < 0):
        ck.error(
            _M + "isBackgroundFrame",
            "a foreground frame after a background frame",
            "the O foreground frames first, then the E background frames",
            "mixed",
        )


def _blocks(shape: tuple[int, ...], itemsize: int, block_bytes: int):
    """Index tuples covering `shape` in blocks of at most `block_bytes` (slowest axes outside)."""
    budget = max(block_bytes // max(itemsize, 1), 1)
    axis = next(a for a in range(len(shape)) if math.prod(shape[a + 1 :]) <= budget)
    step = max(budget // max(math.prod(shape[axis + 1 :]), 1), 1)
    for outer in itertools.product(*map(range, shape[:axis])):
        for start in range(0, shape[axis], step):
            yield (*(slice(i, i + 1) for i in outer), slice(start, min(start + step, shape[axis])))


def _scan(ck: Checks, layout: DataLayout, dims: dict) -> None:
    """NaN and Inf in the data, and values that overflow single precision (after conversion)."""
    r = ck.r
    ds = r.dataset(DATA)
    bad, first, largest = 0, None, 0.0
    block_bytes = min(BLOCK_BYTES, read_limit_bytes())
    for index in _blocks(layout.shape, ds.dtype.itemsize, block_bytes):
        try:
            block = ds[index]
        except H5_ERRORS as exc:
            ck.error(DATA, f"unreadable, the file may be truncated or damaged ({exc})")
            return
        if block.dtype.names:
            block = r.compound_to_complex(DATA, block)
        if block.dtype.kind not in "fc":
            largest = max(largest, float(np.abs(block).max(initial=0)))
            continue
        finite = np.isfinite(block)
        if not finite.all():
            bad += int((~finite).sum())
            if first is None:
                local = np.argwhere(~finite)[0]
                offsets = [s.start for s in index] + [0] * (local.size - len(index))
                first = tuple(int(o + i) for o, i in zip(offsets, local, strict=True))
        largest = max(largest, float(np.abs(np.where(finite, block, 0)).max(initial=0)))
    if bad:  # section 3.8: data holds measured numbers
        ck.error(
            DATA,
            "non-finite values (NaN or Inf)",
            "finite numbers",
            f"{bad} non-finite values, the first at h5py index {first}",
        )
    _check_overflow(ck, layout, dims, largest)


def _check_overflow(ck: Checks, layout: DataLayout, dims: dict, largest: float) -> None:
    """Values that overflow float32 once `dataConversionFactor` (C x 2: a * data + b) is applied."""
    r = ck.r
    scale, offset, field = 1.0, 0.0, ""
    for field in (_M + "dataConversionFactor", "/acquisition/receiver/dataConversionFactor"):
        if ck.quiet(r.has, field):
            factor = ck.quiet(r.array, field)
            if (
                factor is not None
                and factor.dtype.kind in "iuf"
                and factor.size == 2 * dims.get("C", -1)
            ):
                factor = np.abs(factor.reshape(-1, 2).astype(np.float64))
                scale, offset = float(factor[:, 0].max()), float(factor[:, 1].max())
                offset *= dims.get("V", 1) if layout.fourier else 1
            break
    converted = largest * scale + offset
    if converted > _FLOAT32_MAX:
        after = " after dataConversionFactor" if scale != 1.0 or offset else ""
        ck.error(
            DATA,
            f"values overflow single precision{after} (float32, in which mpikeras "
            "and MPIReco.jl compute)",
            f"magnitudes below {_FLOAT32_MAX:.3g}",
            f"{converted:.3g}",
        )
