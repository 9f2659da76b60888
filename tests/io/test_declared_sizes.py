"""A file that declares more data than memory holds is refused before anything is read."""

import h5py
import numpy as np
import pytest

from mpikeras.errors import MDFError
from mpikeras.io import read_measurement, write_measurement
from mpikeras.io.mdf.access import MAX_READ_BYTES_ENV
from mpikeras.simulation import preset
from mpikeras.simulation.phantoms import simulate_measurement


@pytest.fixture(scope="module")
def huge(tmp_path_factory):
    """A measurement whose chunked data declares 10^9 frames, none written (a small file)."""
    path = tmp_path_factory.mktemp("huge") / "huge.mdf"
    write_measurement(path, simulate_measurement("resolution", preset("openmpi-2d-19"), seed=0))
    with h5py.File(path, "r+") as f:
        old = f["measurement/data"]
        shape, dtype = (10**9, *old.shape[1:]), old.dtype
        del f["measurement/data"]
        f.create_dataset("measurement/data", shape=shape, dtype=dtype, chunks=(1, *shape[1:]))
        for name in ("acquisition/numFrames",):
            del f[name]
            f[name] = np.int64(10**9)
        if "measurement/isBackgroundFrame" in f:
            del f["measurement/isBackgroundFrame"]
    assert path.stat().st_size < 10**7
    return path


def test_a_huge_declared_measurement_is_refused_unread(huge):
    with pytest.raises(MDFError, match=r"/measurement/data.*declares more data than memory"):
        read_measurement(huge)


def test_the_limit_can_be_set_and_names_the_sizes(huge, monkeypatch, tmp_path):
    monkeypatch.setenv(MAX_READ_BYTES_ENV, "1000")
    small = tmp_path / "small.mdf"
    write_measurement(small, simulate_measurement("resolution", preset("openmpi-2d-19"), seed=0))
    with pytest.raises(MDFError, match=r"at most 1e-06 GB \(MPIKERAS_MAX_READ_BYTES"):
        read_measurement(small)
    monkeypatch.delenv(MAX_READ_BYTES_ENV)
    assert read_measurement(small).data.size > 0


def test_a_long_background_flag_list_is_summarised_without_copies(tmp_path):
    """`info` on 10^8 declared frames holds the flags once (1 byte each), not as int64 copies."""
    import tracemalloc

    from mpikeras.io import summarize

    frames = 10**8
    path = tmp_path / "long.mdf"
    write_measurement(path, simulate_measurement("resolution", preset("openmpi-2d-19"), seed=0))
    with h5py.File(path, "r+") as f:
        shape = (frames, *f["measurement/data"].shape[1:])
        dtype = f["measurement/data"].dtype
        for name in ("measurement/data", "acquisition/numFrames", "measurement/isBackgroundFrame"):
            if name in f:
                del f[name]
        f.create_dataset("measurement/data", shape=shape, dtype=dtype, chunks=(1, *shape[1:]))
        f["acquisition/numFrames"] = np.int64(frames)
        flags = f.create_dataset("measurement/isBackgroundFrame", (frames,), "u1", chunks=(10**6,))
        flags[:10] = 1
    tracemalloc.start()
    summary = summarize(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert summary["num_background_frames"] == 10
    assert peak < 2.5 * frames  # the flags, plus one boolean pass over them
