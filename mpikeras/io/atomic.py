"""Atomic file writing: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path that replaces `path` only if the block succeeds.

    The temporary file lives in the target's directory, so the final
    `os.replace` is atomic on POSIX: a reader (or a kill at any moment) sees
    either the old file or the complete new one, never a half-written file
    under the final name. On error the temporary file is removed and an
    existing file at `path` is left untouched.

    Example:

    >>> with atomic_path("image.npy") as tmp:           # doctest: +SKIP
    ...     np.save(tmp, image)

    Args:
        path: the final file name.
        suffix: suffix of the temporary file (some writers insist on one,
            e.g. `.keras`); defaults to the suffix of `path`. The temporary
            name is hidden: `.<name>.tmp-<random><suffix>`.

    Returns:
        A context manager yielding the temporary `Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    fd, tmp_name = tempfile.mkstemp(
        prefix=temporary_prefix(path),
        suffix=path.suffix if suffix is None else suffix,
        dir=path.parent,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    # Writers such as h5py and keras want to create the file themselves.
    tmp.unlink()
    try:
        yield tmp
        with contextlib.suppress(OSError):
            _fsync(tmp)
        os.replace(tmp, path)
        with contextlib.suppress(OSError):
            _fsync_directory(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


_HOST = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "host"
_TEMPORARY = re.compile(r"^\..+\.tmp-(?P<host>[A-Za-z0-9_.-]+)\.(?P<pid>\d+)-[^/]*$")


def temporary_prefix(path: str | os.PathLike) -> str:
    """The hidden name prefix of a temporary file (or folder) that will become `path`."""
    return f".{Path(path).name}.tmp-{_HOST}.{os.getpid()}-"


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of writers on this host that no longer run.

    A writer killed between creating its temporary file and renaming it
    (SIGKILL, power loss) leaves a hidden `.<name>.tmp-<host>.<pid>-...`
    file; its process is gone, so nobody will finish it. Files of live
    processes and of other hosts (a shared file system) are left alone.

    Args:
        directory: the folder to clean.

    Returns:
        The paths removed.
    """
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            match = _TEMPORARY.match(entry.name)
            if match is None or match["host"] != _HOST or _alive(int(match["pid"])):
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # a process of another user, or not a pid: leave it
    return True


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable (POSIX); not possible on every platform.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically as UTF-8 (see `atomic_path`)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
