"""Property-based fuzzing of the MDF reader: a valid object or an MDFError, nothing else.

Hypothesis rewrites the fields the reader touches in a valid small file
(deletes them, puts a group or a null dataspace there, or stores random
dtypes, shapes and values: NaN, Inf, huge, negative, subnormal, zero) and
damages the bytes of a valid file (truncation at any point, random bytes or
zeros written over the raw data). Whatever it makes, each reader must either
return an object that satisfies its invariants (finite spectra shaped like
the grid, an acquisition with finite positive rates, a summary that is
strict JSON, ...) or raise `MDFError` naming the file and an HDF5 field, and
must leave the file as it was.

Byte flips inside HDF5 metadata are not generated: they reach libhdf5's own
parsers, where no Python code runs. One flipped bit in the global heap of a
small file (the string `/version`) sent libhdf5 1.14.6 into an endless loop
in `H5HG__cache_heap_deserialize` (gdb backtrace, under `H5Dread`), which no
signal-based timeout in the process can interrupt. Raw data is never parsed
by libhdf5, so bytes written there reach the reader as values.

Examples per test: 60, 240 for the field edits (set `MPIKERAS_FUZZ_EXAMPLES`
for more, which also makes the run random); by default the run is
derandomised so the suite is reproducible.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mpikeras.errors import MDFError
from mpikeras.io import (
    Acquisition,
    DriveField,
    Grid,
    Measurement,
    Metadata,
    SystemMatrix,
    format_summary,
    mdf_kind,
    read_measurement,
    read_system_matrix,
    summarize,
    write_measurement,
    write_system_matrix,
)

EXAMPLES = int(os.environ.get("MPIKERAS_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="MPIKERAS_FUZZ_EXAMPLES" not in os.environ,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
READERS = {
    "sm": read_system_matrix,
    "meas": read_measurement,
    "kind": mdf_kind,
    "summary": summarize,
}
V = 16  # samples per period; K = 9 frequencies
C = 2  # receive channels

COMMON_FIELDS = (
    "/version",
    "/acquisition/numAverages", "/acquisition/numFrames", "/acquisition/numPeriodsPerFrame",
    "/acquisition/gradient",
    "/acquisition/drivefield/numChannels", "/acquisition/drivefield/baseFrequency",
    "/acquisition/drivefield/divider", "/acquisition/drivefield/strength",
    "/acquisition/drivefield/phase", "/acquisition/drivefield/waveform",
    "/acquisition/receiver/bandwidth", "/acquisition/receiver/numSamplingPoints",
    "/acquisition/receiver/numChannels", "/acquisition/receiver/transferFunction",
    "/acquisition/receiver/unit", "/acquisition/receiver/dataConversionFactor",
    "/measurement/data", "/measurement/isFourierTransformed", "/measurement/isFastFrameAxis",
    "/measurement/isFrequencySelection", "/measurement/isSparsityTransformed",
    "/measurement/isBackgroundFrame", "/measurement/isBackgroundCorrected",
    "/measurement/isFramePermutation", "/measurement/framePermutation",
    "/study/number", "/experiment/number", "/experiment/isSimulation", "/scanner/name",
    "/tracer/concentration", "/tracer/volume",
)  # fmt: skip
SOURCE_FIELDS = {
    "sm": (
        *COMMON_FIELDS, "/calibration/method", "/calibration/size", "/calibration/fieldOfView",
        "/calibration/fieldOfViewCenter", "/calibration/order", "/calibration/deltaSampleSize",
        "/calibration/snr",
    ),
    "meas": (
        *COMMON_FIELDS, "/_groundTruth/concentration", "/_groundTruth/size",
        "/_groundTruth/fieldOfView", "/_groundTruth/fieldOfViewCenter",
    ),
}  # fmt: skip
SPECIALS = (0, 1, -1, 2, 3, 7, V, V // 2 + 1, 0.5, -0.25, 1e-30, 5e-324, 1e300, -1e300, 1.7e308,
            2**31, 2**62, math.nan, math.inf, -math.inf)  # fmt: skip
DTYPES = ("int8", "uint8", "int32", "int64", "uint64", "float16", "float32", "float64",
          "complex64", "complex128", "bool", "bytes", "str", "compound",
          "bad-compound")  # fmt: skip


# --------------------------------------------------------------------------- the valid files


def _acquisition() -> Acquisition:
    rng = np.random.default_rng(3)
    k = V // 2 + 1
    return Acquisition(
        drivefield=DriveField(2.5e6, (102, 96, 99), (0.012, 0.012, 0.0), (1.5, 1.5, 1.5)),
        bandwidth_hz=1.25e6,
        num_sampling_points=V,
        num_receive_channels=C,
        num_averages=2,
        transfer_function=rng.normal(size=(C, k)) + 1j * rng.normal(size=(C, k)),
    )


class _Sources(dict):
    """The bytes of the valid files, by kind (shown by name only in Hypothesis' reports)."""

    def __repr__(self) -> str:
        return f"<valid MDF files: {', '.join(self)}>"


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, bytes]:
    """Bytes of a valid 3 x 2 x 1 system matrix and of a valid 4-frame measurement."""
    root = tmp_path_factory.mktemp("fuzz-sources")
    rng = np.random.default_rng(0)
    acq = _acquisition()
    grid = Grid(size=(3, 2, 1), fov_m=(0.006, 0.004, 0.001))
    shape = (C, V // 2 + 1, *grid.shape)
    sm = SystemMatrix(
        spectra=(rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64),
        grid=grid,
        acquisition=acq,
        background=(rng.normal(size=(C, V // 2 + 1, 2)) + 0j).astype(np.complex64),
        delta_sample_size_m=(0.002, 0.002, 0.001),
        metadata=Metadata(),
        method="robot",
    )
    meas = Measurement(
        data=rng.normal(size=(4, 1, C, V)).astype(np.float32),
        is_background_frame=np.array([0, 0, 1, 0], bool),
        acquisition=acq,
        ground_truth=(rng.uniform(size=grid.shape), grid),
    )
    return _Sources(
        sm=write_system_matrix(root / "sm.mdf", sm).read_bytes(),
        meas=write_measurement(root / "meas.mdf", meas).read_bytes(),
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _fresh(workdir: Path, content: bytes) -> Path:
    folder = workdir / uuid.uuid4().hex
    folder.mkdir()
    path = folder / "fuzzed.mdf"
    path.write_bytes(content)
    return path


def _state(path: Path) -> tuple[str, int, list[str]]:
    return (
        hashlib.sha256(path.read_bytes()).hexdigest(),
        path.stat().st_mtime_ns,
        sorted(os.listdir(path.parent)),
    )


# --------------------------------------------------------------------------- invariants


def _check_acquisition(acq: Acquisition) -> None:
    assert math.isfinite(acq.bandwidth_hz) and acq.bandwidth_hz > 0
    assert math.isfinite(acq.sampling_rate_hz) and math.isfinite(acq.period_s)
    assert acq.period_s > 0
    assert acq.num_sampling_points >= 2 and acq.num_receive_channels >= 1
    assert acq.num_averages >= 1
    df = acq.drivefield
    assert math.isfinite(df.base_frequency_hz) and df.base_frequency_hz > 0
    assert df.num_channels >= 1 and all(d >= 1 for d in df.dividers)
    assert all(math.isfinite(v) for v in (*df.strength_tesla, *df.phase_rad))
    assert acq.gradient.shape == (3, 3) and np.isfinite(acq.gradient).all()
    if acq.transfer_function is not None:
        tf = np.asarray(acq.transfer_function)
        assert tf.shape == (acq.num_receive_channels, acq.num_frequencies)
        assert np.isfinite(tf).all()


def _check_grid(grid: Grid) -> None:
    assert len(grid.size) == 3 and min(grid.size) >= 1
    assert all(math.isfinite(v) and v > 0 for v in grid.fov_m)
    assert all(math.isfinite(v) for v in grid.center_m)


def _check_system_matrix(sm: SystemMatrix) -> None:
    _check_acquisition(sm.acquisition)
    _check_grid(sm.grid)
    c, k = sm.acquisition.num_receive_channels, sm.acquisition.num_frequencies
    assert sm.spectra.dtype == np.complex64 and sm.spectra.shape == (c, k, *sm.grid.shape)
    assert np.isfinite(sm.spectra).all()
    assert sm.background.dtype == np.complex64 and sm.background.shape[:2] == (c, k)
    assert np.isfinite(sm.background).all()
    if sm.snr is not None:
        assert sm.snr.shape == (c, k)
    if sm.delta_sample_size_m is not None:
        assert all(math.isfinite(v) and v > 0 for v in sm.delta_sample_size_m)
    assert isinstance(sm.method, str)


def _check_measurement(meas: Measurement) -> None:
    _check_acquisition(meas.acquisition)
    acq = meas.acquisition
    assert meas.data.dtype == np.float32 and meas.data.ndim == 4
    assert meas.data.shape[2:] == (acq.num_receive_channels, acq.num_sampling_points)
    assert np.isfinite(meas.data).all()
    assert meas.is_background_frame.shape == (meas.data.shape[0],)
    assert not meas.is_background_frame.all()
    if meas.ground_truth is not None:
        conc, grid = meas.ground_truth
        _check_grid(grid)
        assert conc.shape == grid.shape and np.isfinite(conc).all()


def _check_summary(summary: dict) -> None:
    # What `mpikeras info --json` prints must be strict JSON (no NaN or Infinity).
    json.dumps(summary, allow_nan=False)
    assert summary["kind"] in ("calibration", "measurement")
    assert isinstance(format_summary(summary), str)


CHECKS: dict[str, Callable] = {
    "sm": _check_system_matrix,
    "meas": _check_measurement,
    "kind": lambda kind: kind in ("calibration", "measurement") or pytest.fail(kind),
    "summary": _check_summary,
}


def _read_checked(reader: str, path: Path, allowed_fields=None) -> bool:
    """Run `reader`: a valid result (True), or an MDFError naming file and field (False)."""
    before = _state(path)
    try:
        result = READERS[reader](path)
    except MDFError as exc:
        assert exc.path == str(path)
        assert exc.field.startswith("/"), exc.field
        assert str(exc).startswith(f"{path}: field '{exc.field}': ")
        if allowed_fields is not None:
            assert exc.field in allowed_fields, str(exc)
        ok = False
    else:
        CHECKS[reader](result)
        ok = True
    assert _state(path) == before, "the reader changed the file"
    return ok


# --------------------------------------------------------------------------- field fuzzing


def _values(kind: str, shape: tuple[int, ...], rng: np.random.Generator, base=None):
    """An array of `kind` and `shape` with special values, mixed with `base` where given."""
    with np.errstate(all="ignore"):  # casts of NaN, Inf and huge values are the point
        return _cast(kind, shape, rng, base)


def _cast(kind: str, shape: tuple[int, ...], rng: np.random.Generator, base=None):
    size = math.prod(shape)
    raw = np.array(SPECIALS, dtype=object)[rng.integers(0, len(SPECIALS), size)]
    numbers = raw.astype(np.float64).reshape(shape)
    if base is not None and np.shape(base) == shape and np.asarray(base).dtype.kind in "iufcb":
        keep = rng.random(shape) < 0.7
        numbers = np.where(keep, np.real(np.asarray(base, dtype=np.complex128)), numbers)
    if kind in ("int8", "uint8", "int32", "int64", "uint64"):
        info = np.iinfo(kind)
        clean = np.nan_to_num(numbers, nan=0.0, posinf=info.max, neginf=info.min)
        return np.clip(clean, info.min, info.max).astype(kind)
    if kind in ("float16", "float32", "float64"):
        return numbers.astype(kind)
    if kind in ("complex64", "complex128"):
        return (numbers + 1j * np.flip(numbers)).astype(kind)
    if kind == "bool":
        return numbers != 0
    if kind == "bytes":
        return np.array([str(v).encode() for v in numbers.reshape(-1)]).reshape(shape)
    if kind == "str":
        return np.array([str(v) for v in numbers.reshape(-1)], dtype=object).reshape(shape)
    if kind == "compound":
        out = np.zeros(shape, dtype=[("r", "<f4"), ("i", "<f4")])
        out["r"], out["i"] = numbers, -numbers
        return out
    out = np.zeros(shape, dtype=[("r", "S4"), ("x", "<f8")])  # "bad-compound"
    out["x"] = numbers
    return out


@st.composite
def field_edits(draw, source: str):
    """1 to 3 (field, action, payload) edits of the fields the reader touches."""
    fields = draw(st.lists(st.sampled_from(SOURCE_FIELDS[source]), min_size=1, max_size=3,
                           unique=True))  # fmt: skip
    edits = []
    for field in fields:
        action = draw(st.sampled_from(["delete", "group", "empty", "perturb", "value", "value"]))
        payload = None
        if action in ("value", "perturb"):
            same_shape = draw(st.booleans())
            shape = None if same_shape else tuple(
                draw(st.lists(st.integers(0, 4), min_size=0, max_size=4))
            )  # fmt: skip
            payload = (draw(st.sampled_from(DTYPES)), shape, draw(st.integers(0, 2**32 - 1)))
        edits.append((field, action, payload))
    return edits


def _apply(f: h5py.File, field: str, action: str, payload) -> None:
    original = f[field][()] if field in f and isinstance(f[field], h5py.Dataset) else None
    if field in f:
        del f[field]
    if action == "delete":
        return
    if action == "group":
        f.create_group(field)
        return
    if action == "empty":
        f[field] = h5py.Empty("f8")
        return
    kind, shape, seed = payload
    rng = np.random.default_rng(seed)
    base = None if original is None or isinstance(original, bytes) else np.asarray(original)
    if action == "perturb" or shape is None:
        shape = base.shape if base is not None and base.dtype.kind != "O" else ()
        if action == "perturb" and base is not None and base.dtype.kind in "iufcV":
            kind = base.dtype.str if base.dtype.kind != "V" else "compound"
    value = _values(kind, shape, rng, base)
    if kind == "str":
        f.create_dataset(field, data=value, dtype=h5py.string_dtype())
    else:
        f.create_dataset(field, data=value)


@st.composite
def scenarios(draw):
    """(source, edits, reader): a valid file, what to change in it, and who reads it."""
    source = draw(st.sampled_from(["sm", "meas"]))
    edits = draw(field_edits(source))
    own = "sm" if source == "sm" else "meas"
    return source, edits, draw(st.sampled_from([own, own, "summary", "kind"]))


@settings(FUZZ, max_examples=4 * EXAMPLES)  # the widest space, and each example is quick
@given(scenario=scenarios())
# What earlier runs found (each was an exception other than MDFError, or a wrong result):
@example(scenario=("sm", [("/measurement/data", "empty", None)], "sm"))
@example(scenario=("sm", [("/measurement/data", "value", ("bad-compound", None, 0))], "sm"))
@example(scenario=("meas", [("/_groundTruth/size", "value", ("int64", (3,), 0))], "summary"))
@example(scenario=("sm", [("/acquisition/receiver/bandwidth", "value", ("float64", (), 4))],
                   "summary"))  # fmt: skip
@example(scenario=("sm", [("/calibration/method", "value", ("bytes", (0,), 0))], "sm"))
@example(scenario=("sm", [("/calibration", "value", ("float64", (), 0))], "kind"))
def test_random_fields_give_a_valid_object_or_an_mdf_error(sources, workdir, scenario):
    source, edits, reader = scenario
    path = _fresh(workdir, sources[source])
    with h5py.File(path, "r+") as f:
        for edit in edits:
            _apply(f, *edit)
    _read_checked(reader, path)
    shutil.rmtree(path.parent)


@pytest.mark.parametrize("source", ["sm", "meas"])
def test_the_unedited_sources_are_valid(sources, workdir, source):
    """The starting point of the fuzzing passes every invariant check."""
    path = _fresh(workdir, sources[source])
    for reader in ("sm" if source == "sm" else "meas", "summary", "kind"):
        assert _read_checked(reader, path)


# --------------------------------------------------------------------------- byte damage


def _raw_data_regions(path: Path) -> list[tuple[int, int]]:
    """(offset, size) of the stored bytes of `/measurement/data` (contiguous or chunks)."""
    with h5py.File(path, "r") as f:
        ds = f["measurement/data"]
        assert ds.compression is None
        if ds.chunks is None:
            return [(ds.id.get_offset(), ds.id.get_storage_size())]
        infos = [ds.id.get_chunk_info(i) for i in range(ds.id.get_num_chunks())]
        return [(info.byte_offset, info.size) for info in infos]


@FUZZ
@given(
    source=st.sampled_from(["sm", "meas"]),
    reader=st.sampled_from(sorted(READERS)),
    cut=st.floats(0.0, 1.0, exclude_max=True),
)
def test_truncation_at_any_point_is_an_mdf_error_on_the_file(sources, workdir, source, reader,
                                                               cut):  # fmt: skip
    content = sources[source]
    path = _fresh(workdir, content[: int(cut * len(content))])
    assert not _read_checked(reader, path, allowed_fields={"/"})
    shutil.rmtree(path.parent)


@FUZZ
@given(
    source=st.sampled_from(["sm", "meas"]),
    where=st.floats(0.0, 1.0, exclude_max=True),
    payload=st.binary(min_size=1, max_size=64),
)
def test_random_bytes_over_the_raw_data(sources, workdir, source, where, payload):
    """Bytes written over stored data become values: valid, or an error on the data.

    The summary never reads the data, so it must not notice at all.
    """
    path = _fresh(workdir, sources[source])
    regions = _raw_data_regions(path)
    offset, size = regions[int(where * len(regions))]
    start = offset + int(where * size) % size
    with open(path, "r+b") as fh:
        fh.seek(start)
        fh.write(payload[: offset + size - start])
    own = "sm" if source == "sm" else "meas"
    _read_checked(own, path, allowed_fields={"/measurement/data"})
    assert _read_checked("summary", path)
    shutil.rmtree(path.parent)


@FUZZ
@given(
    source=st.sampled_from(["sm", "meas"]),
    start=st.floats(0.0, 1.0, exclude_max=True),
    length=st.floats(0.0, 1.0),
)
def test_zeros_over_the_raw_data_still_read(sources, workdir, source, start, length):
    """Zeros are valid samples: zero-filling stored data never makes a file unreadable."""
    path = _fresh(workdir, sources[source])
    with open(path, "r+b") as fh:
        for offset, size in _raw_data_regions(path):
            first = offset + int(start * size)
            count = int(length * (offset + size - first))
            fh.seek(first)
            fh.write(bytes(count))
    for reader in ("sm" if source == "sm" else "meas", "summary", "kind"):
        assert _read_checked(reader, path)
    shutil.rmtree(path.parent)
