"""Atomic writes: a failure mid-write leaves the old file and no temporary file behind."""

from __future__ import annotations

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from mpikeras.io import (
    atomic_path,
    read_measurement,
    read_system_matrix,
    write_measurement,
    write_system_matrix,
    write_text_atomic,
)
from mpikeras.io.atomic import temporary_prefix
from mpikeras.io.mdf.writer import Writer


class _Boom(RuntimeError):
    pass


def test_atomic_path_replaces_the_file_only_on_success(tmp_path):
    target = tmp_path / "out" / "image.npy"  # the folder is created
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".image.npy.tmp-")
        assert tmp.suffix == ".npy" and not tmp.exists() and not target.exists()
        np.save(tmp, np.arange(3))
    np.testing.assert_array_equal(np.load(target), np.arange(3))
    with pytest.raises(_Boom), atomic_path(target) as tmp:
        np.save(tmp, np.arange(5))
        raise _Boom("interrupted")
    np.testing.assert_array_equal(np.load(target), np.arange(3))
    assert sorted(p.name for p in target.parent.iterdir()) == ["image.npy"]


def test_atomic_path_honours_a_suffix(tmp_path):
    with atomic_path(tmp_path / "model", suffix=".keras") as tmp:
        assert tmp.suffix == ".keras"
        tmp.write_bytes(b"x")
    assert (tmp_path / "model").read_bytes() == b"x"


def test_write_text_atomic_writes_utf8_and_keeps_the_old_text_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "notes.md"
    write_text_atomic(path, "µ0 · 12 mT\n")
    assert path.read_bytes() == "µ0 · 12 mT\n".encode()
    original = type(path).write_text

    def failing_write_text(self, text, *args, **kwargs):
        original(self, text[:3], *args, **kwargs)  # a partial write, then the failure
        raise _Boom("disk full")

    monkeypatch.setattr(type(path), "write_text", failing_write_text)
    with pytest.raises(_Boom):
        write_text_atomic(path, "new text")
    assert path.read_bytes() == "µ0 · 12 mT\n".encode()
    assert [p.name for p in tmp_path.iterdir()] == ["notes.md"]


def _fail_at(monkeypatch, field_prefix: str) -> list[str]:
    """Make the MDF writer raise when it reaches `field_prefix`; returns the fields written."""
    written: list[str] = []
    original = Writer.put

    def put(self, name, value, **kwargs):
        if name.startswith(field_prefix):
            raise _Boom(f"failure while writing {name}")
        written.append(name)
        return original(self, name, value, **kwargs)

    monkeypatch.setattr(Writer, "put", put)
    return written


@pytest.mark.parametrize("field", ["measurement/isBackgroundCorrected", "calibration/snr"])
def test_failed_system_matrix_write_keeps_the_existing_file(
    tmp_path, monkeypatch, make_system_matrix, file_state, field
):
    path = write_system_matrix(tmp_path / "sm.mdf", make_system_matrix(seed=1))
    before = file_state(path)
    written = _fail_at(monkeypatch, field)
    with pytest.raises(_Boom):
        write_system_matrix(path, make_system_matrix(seed=2))
    assert "measurement/data" in written  # the failure came after the bulk of the data
    assert file_state(path) == before
    assert [p.name for p in tmp_path.iterdir()] == ["sm.mdf"]
    monkeypatch.undo()
    np.testing.assert_allclose(read_system_matrix(path).spectra,
                               make_system_matrix(seed=1).spectra, atol=1e-5)  # fmt: skip


def test_failed_measurement_write_keeps_the_existing_file(
    tmp_path, monkeypatch, measurement, file_state
):
    path = write_measurement(tmp_path / "m.mdf", measurement)
    before = file_state(path)
    _fail_at(monkeypatch, "_groundTruth/unit")
    with pytest.raises(_Boom):
        write_measurement(path, measurement)
    assert file_state(path) == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.mdf"]
    monkeypatch.undo()
    np.testing.assert_array_equal(read_measurement(path).data, measurement.data)


def test_failed_first_write_leaves_nothing(tmp_path, monkeypatch, system_matrix):
    def broken_create_dataset(self, name, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(h5py.Group, "create_dataset", broken_create_dataset)
    with pytest.raises(OSError, match="No space left"):
        write_system_matrix(tmp_path / "sm.mdf", system_matrix)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_never_shows_a_partial_file_under_the_final_name(
    tmp_path, monkeypatch, system_matrix
):
    path = tmp_path / "sm.mdf"
    seen = []
    original = Writer.put

    def put(self, name, value, **kwargs):
        seen.append(path.exists())
        return original(self, name, value, **kwargs)

    monkeypatch.setattr(Writer, "put", put)
    write_system_matrix(path, system_matrix)
    assert seen and not any(seen)  # nothing at the final name until the rename
    assert path.exists()


def test_the_next_write_removes_what_a_killed_writer_left(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = temporary_prefix(tmp_path / "b.npy")  # this process: still writing
    stale = temporary_prefix(tmp_path / "a.npy").replace(f".{os.getpid()}-", f".{dead.pid}-")
    for name in (f"{stale}x1.npy", f"{alive}x2.npy", ".a.npy.tmp-elsewhere.1-x3.npy", ".notes"):
        (tmp_path / name).write_bytes(b"partial")
    (tmp_path / f"{stale}dir").mkdir()  # an export's temporary folder
    write_text_atomic(tmp_path / "c.txt", "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{alive}x2.npy", ".a.npy.tmp-elsewhere.1-x3.npy", ".notes", "c.txt"]
    )
