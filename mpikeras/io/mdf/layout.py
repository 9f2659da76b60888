"""How `/measurement/data` is laid out, and its frames read and converted.

`read_header` reads what every reader needs before the data: the
acquisition, the layout (from the flags and the dataset's shape and dtype)
checked against it, and which frames are background;
`read_frames` reads frames (all, or a selection) as (n, J, C, K-or-V)
complex or real numbers; `apply_conversion` applies `dataConversionFactor`;
`finite_as` converts the result, refusing values that overflow.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mpikeras.io.acquisition import Acquisition
from mpikeras.io.mdf.access import H5_ERRORS, Reader, complex_fields
from mpikeras.io.mdf.background import background_mask
from mpikeras.io.mdf.groups import read_acquisition
from mpikeras.io.mdf.schema import DATA


@dataclasses.dataclass(frozen=True)
class Layout:
    """How `/measurement/data` is laid out, read from its shape and the flags.

    `complex_kind` is "complex" (an HDF5 compound h5py maps to complex),
    "compound" (a compound with other field names), "trailing" (float data
    with a trailing axis of length 2) or "real" (time-domain samples).
    """

    shape: tuple[int, ...]
    dtype: str
    fourier: bool
    fast_frame_axis: bool
    complex_kind: str
    num_frames: int
    num_periods: int
    num_channels: int
    num_points: int  # K (Fourier) or V (time domain)

    @property
    def complex_layout(self) -> str:
        return {
            "complex": "HDF5 compound {r, i}",
            "compound": "HDF5 compound",
            "trailing": "float with a trailing axis of length 2",
            "real": "real samples",
        }[self.complex_kind]


def _refuse_processed(r: Reader) -> None:
    """Refuse frequency-selected and sparsity-transformed data, which mpikeras cannot undo."""
    for flag, what in (
        ("isFrequencySelection", "frequency-selected"),
        ("isSparsityTransformed", "sparsity-transformed"),
    ):
        field = f"/measurement/{flag}"
        if r.flag(field, default=False):
            raise r.error(field, f"{what} data is not supported", expected=0, actual=1)


def _complex_kind(r: Reader, dtype: np.dtype, fourier: bool) -> str:
    """`Layout.complex_kind` of data of `dtype`."""
    if dtype.kind == "c":
        kind = "complex"
    elif dtype.kind == "V":
        if complex_fields(dtype) is None:
            raise r.error(
                DATA, "unsupported compound dtype", expected="complex {r, i}", actual=str(dtype)
            )
        kind = "compound"
    elif dtype.kind in ("i", "u", "f"):
        kind = "trailing" if fourier else "real"
    else:
        raise r.error(DATA, "wrong dtype", expected="numbers or complex {r, i}", actual=str(dtype))
    if not fourier and kind != "real":
        raise r.error(
            DATA,
            "complex data in the time domain (isFourierTransformed = 0)",
            expected="real samples",
            actual=str(dtype),
        )
    return kind


def _data_layout(r: Reader) -> Layout:
    """Validate the flags and the shape and dtype of `/measurement/data` (no data read)."""
    fourier = r.flag("/measurement/isFourierTransformed")
    fast_field = "/measurement/isFastFrameAxis"
    if not r.has(fast_field) and r.has("/measurement/isTransposed"):
        fast_field = "/measurement/isTransposed"  # its name in early MDF 2.0 files
    fast = r.flag(fast_field, default=False)
    _refuse_processed(r)
    ds = r.dataset(DATA)
    dtype = ds.dtype
    shape = r.shape(DATA, ds)
    kind = _complex_kind(r, dtype, fourier)
    axes = "J x C x K x N (isFastFrameAxis = 1)" if fast else "N x J x C x K"
    if not fourier:
        axes = axes.replace("K", "V")
    if kind == "trailing":
        if len(shape) != 5 or shape[-1] != 2:
            raise r.error(
                DATA,
                "Fourier-domain data without a complex type",
                expected=f"complex {{r, i}} {axes}, or float {axes} x 2",
                actual=f"{dtype} {shape}",
            )
        core = shape[:-1]
    else:
        core = shape
    if len(core) != 4:
        raise r.error(DATA, "wrong number of dimensions", expected=f"4 ({axes})", actual=shape)
    if fast:
        num_periods, num_channels, num_points, num_frames = core
    else:
        num_frames, num_periods, num_channels, num_points = core
    if min(core) < 1:
        raise r.error(DATA, "empty axis", expected=f"{axes}, each at least 1", actual=shape)
    return Layout(
        shape=shape,
        dtype=str(dtype),
        fourier=fourier,
        fast_frame_axis=fast,
        complex_kind=kind,
        num_frames=num_frames,
        num_periods=num_periods,
        num_channels=num_channels,
        num_points=num_points,
    )


def _check_layout(r: Reader, layout: Layout, acq: Acquisition) -> None:
    """Check the data axes against the receiver and the declared frame and period counts."""
    if layout.num_channels != acq.num_receive_channels:
        raise r.error(
            DATA,
            "channel axis (C) disagrees with /acquisition/receiver/numChannels",
            expected=acq.num_receive_channels,
            actual=layout.num_channels,
        )
    if layout.fourier:
        expected, what = acq.num_frequencies, "K = numSamplingPoints // 2 + 1"
    else:
        expected, what = acq.num_sampling_points, "V = numSamplingPoints"
    if layout.num_points != expected:
        raise r.error(
            DATA,
            f"sample axis disagrees with {what}",
            expected=expected,
            actual=layout.num_points,
        )
    for field, axis, count in (
        ("/acquisition/numFrames", "frame axis (N)", layout.num_frames),
        ("/acquisition/numPeriodsPerFrame", "period axis (J)", layout.num_periods),
    ):
        if r.has(field):
            declared = r.number(field, "i")
            if declared != count:
                raise r.error(
                    field,
                    f"disagrees with the {axis} of /measurement/data",
                    expected=count,
                    actual=declared,
                )


def read_header(r: Reader) -> tuple[Acquisition, Layout, np.ndarray]:
    """The acquisition, the data layout checked against it, and the background-frame mask."""
    acq = read_acquisition(r)
    layout = _data_layout(r)
    _check_layout(r, layout, acq)
    return acq, layout, background_mask(r, layout.num_frames)


def _frame_selection(frames: np.ndarray | None, num_frames: int):
    """What to read for `frames`: (h5py selection, inverse indices or None, count, unique)."""
    if frames is None:
        return slice(None), None, num_frames, None
    frames = np.asarray(frames, dtype=np.int64).reshape(-1)
    unique, inverse = np.unique(frames, return_inverse=True)
    count = unique.size
    if count and unique[-1] - unique[0] + 1 == count:
        selection: slice | list[int] = slice(int(unique[0]), int(unique[-1]) + 1)
    else:
        selection = unique.tolist()
    return selection, inverse, count, unique


def _as_numbers(r: Reader, layout: Layout, raw: np.ndarray) -> np.ndarray:
    """Raw data of `layout.complex_kind` as complex (or real, for time-domain) numbers."""
    if layout.complex_kind == "compound":
        return r.compound_to_complex(DATA, raw)
    if layout.complex_kind == "trailing":
        data = np.empty(raw.shape[:-1], dtype=np.result_type(raw.dtype, np.complex64))
        data.real = raw[..., 0]
        data.imag = raw[..., 1]
        return data
    if layout.complex_kind == "real":
        return raw.astype(np.result_type(raw.dtype, np.float32), copy=False)
    return raw


def read_frames(r: Reader, layout: Layout, frames: np.ndarray | None = None) -> np.ndarray:
    """Frames of `/measurement/data` as (n, J, C, K-or-V), complex or real.

    Only the requested frames are read from disk (a hyperslab along the frame
    axis), so one slice of a large 3D system matrix costs one slice of memory.

    Args:
        frames: 0-based frame indices in file order; all frames when `None`.
    """
    ds = r.dataset(DATA)
    selection, inverse, count, unique = _frame_selection(frames, layout.num_frames)
    if count == 0:
        dtype = np.float64 if layout.complex_kind == "real" else np.complex64
        return np.zeros((0, layout.num_periods, layout.num_channels, layout.num_points), dtype)
    if layout.fast_frame_axis:
        index = (slice(None), slice(None), slice(None), selection)
        selected = (*r.shape(DATA, ds)[:3], count)
    else:
        index = (selection,)
        selected = (count, *r.shape(DATA, ds)[1:])
    r.check_fits(DATA, selected, ds.dtype)
    try:
        raw = ds[index]
    except MemoryError:
        raise r.error(DATA, "too large to read into memory", actual=layout.shape) from None
    except H5_ERRORS as exc:
        raise r.error(DATA, f"unreadable, the file may be truncated or damaged ({exc})") from None
    data = _as_numbers(r, layout, raw)
    bad = ~np.isfinite(data)
    if bad.any():
        first = [int(i) for i in np.argwhere(bad)[0]]
        axis = 3 if layout.fast_frame_axis else 0
        if unique is not None:
            first[axis] = int(unique[first[axis]])  # back to the frame index in the file
        raise r.error(
            DATA,
            "non-finite values (NaN or Inf)",
            expected="finite numbers",
            actual=f"{int(bad.sum())} non-finite values, the first at h5py index {tuple(first)}",
        )
    if layout.fast_frame_axis:
        data = np.moveaxis(data, 3, 0)  # J x C x K x N -> N x J x C x K
    if inverse is not None and not np.array_equal(inverse, np.arange(count)):
        data = data[inverse]
    return data


def apply_conversion(r: Reader, frames: np.ndarray, fourier: bool, num_samples: int) -> np.ndarray:
    """Apply `dataConversionFactor` (C x 2: `a * data + b`, MDF receiver group).

    Args:
        frames: (n, J, C, K-or-V) data.
        fourier: whether `frames` are rfft spectra of `num_samples` samples.
        num_samples: V.
    """
    field = "/measurement/dataConversionFactor"
    if not r.has(field):
        field = "/acquisition/receiver/dataConversionFactor"
        if not r.has(field):
            return frames
    factor = r.array(field)
    c = frames.shape[2]
    if factor.dtype.kind == "c" or factor.size != 2 * c:
        raise r.error(
            field,
            "wrong shape or type",
            expected=f"real C x 2 = ({c}, 2)",
            actual=f"{factor.dtype} {factor.shape}",
        )
    factor = factor.astype(np.float64).reshape(c, 2)
    scale, offset = factor[:, 0], factor[:, 1]
    if (scale == 1.0).all() and (offset == 0.0).all():
        return frames
    out = frames * scale[:, None]
    if fourier:
        # A time-domain offset b is b * V in the unnormalised DC bin only.
        out[..., 0] += offset * num_samples
    else:
        out = out + offset[:, None]
    return out.astype(frames.dtype, copy=False)


def finite_as(r: Reader, values: np.ndarray, dtype: type, what: str) -> np.ndarray:
    """`values` as a contiguous `dtype` array, refused if a value overflows it.

    Finite values in the file can still overflow float32 / complex64 (or
    become Inf through `dataConversionFactor` or the background correction).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(values, dtype=dtype)
    bad = ~np.isfinite(out)
    if bad.any():
        overflow = f"{what} overflow {np.dtype(dtype).name}"
        raise r.error(
            DATA,
            f"{overflow} (after dataConversionFactor and background correction)",
            expected=f"magnitudes below {float(np.finfo(dtype).max):.3g}",
            actual=f"{int(bad.sum())} values that become Inf or NaN",
        )
    return out
