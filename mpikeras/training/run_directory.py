"""Run directories: everything a training run writes, and how it resumes.

Layout of RUN_DIR:

- `config.json`: the configuration used (written first; a rerun with a
  different configuration is refused).
- `checkpoints/epoch-NNNN.keras`: the model with its optimizer state after
  epoch NNNN (the two most recent are kept), written every 30 seconds
  (`MPIKERAS_CHECKPOINT_INTERVAL_S`) and after the last epoch (`EpochCheckpoint`).
- `state.json`: the last checkpointed epoch, its checkpoint and the best epoch.
- `history.json`: per-epoch metrics.
- `best.keras`: the model of the epoch with the lowest validation loss.
- `logs/`: TensorBoard event files (when TensorFlow is installed).
- `normalization.json`: the scale the training signals were divided by.
- `precision.json`: the dtype policy the run trains in, and why (written at
  every start, so "auto" records what this machine chose).
- `.lock`: locked while a run writes into the directory (`RunLock`).
- the run's products, written by the caller from the best epoch when the
  run ends (or stops on a diverged epoch): `encoder.keras` (pretraining),
  `model.keras` (fine-tuning) or `recovery.keras` and `reconstruction.keras`
  (joint training).

Every file name is defined here, once.

Every file is written to a temporary name and renamed, so a kill at any
moment leaves either the previous or the new version, never a partial one.
`state.json` is written after the checkpoint it names, so it always points
to a complete checkpoint. A resumed run checks that state, history,
configuration and checkpoint agree (`RunDirectory.check_resumable`), and an
epoch whose loss or weights are not finite stops the run before anything of
it is written.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import keras

from mpikeras.errors import RunDirectoryError, TrainingDivergedError
from mpikeras.io.atomic import atomic_path, write_text_atomic
from mpikeras.models.saving import load_model, non_finite_weights
from mpikeras.training.distribution import this_process_only

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: runs are not locked
    fcntl = None

#: Seconds between the writes of a run's checkpoint, history and state (`EpochCheckpoint`).
CHECKPOINT_INTERVAL_S = 30.0
#: Environment variable that sets another interval (0: after every epoch).
CHECKPOINT_INTERVAL_ENV = "MPIKERAS_CHECKPOINT_INTERVAL_S"

#: The run's configuration.
CONFIG = "config.json"
#: The last checkpointed epoch, its checkpoint and the best epoch.
STATE = "state.json"
#: Per-epoch metrics.
HISTORY = "history.json"
#: The model of the epoch with the lowest validation loss.
BEST = "best.keras"
#: Epoch checkpoints (a folder).
CHECKPOINTS = "checkpoints"
#: TensorBoard event files (a folder).
LOGS = "logs"
#: The scale the training signals were divided by.
NORMALIZATION = "normalization.json"
#: The dtype policy the run trains in and why (`mixed_precision = "auto"` resolved).
PRECISION = "precision.json"
#: The pretrained encoder of the best epoch (`pretrain`).
ENCODER = "encoder.keras"
#: The task model of the best epoch (`finetune`).
MODEL = "model.keras"
#: The two heads of the best epoch of a joint run (`train_joint`).
RECOVERY_MODEL = "recovery.keras"
RECONSTRUCTION_MODEL = "reconstruction.keras"
#: Held (locked) by the process writing into the directory.
LOCK = ".lock"
#: Every name of the layout above.
LAYOUT = frozenset(
    {
        CONFIG,
        STATE,
        HISTORY,
        BEST,
        CHECKPOINTS,
        LOGS,
        NORMALIZATION,
        PRECISION,
        ENCODER,
        MODEL,
        RECOVERY_MODEL,
        RECONSTRUCTION_MODEL,
        LOCK,
    }
)


class RunLock:
    """An exclusive lock on a run directory while a run writes into it.

    An advisory `flock` on `RUN_DIR/.lock`: the kernel releases it when the
    holder exits or is killed, so a lock is never stale; the file names the
    holder (process, host, start time) for the message a second writer gets.
    Not available on Windows, where runs are not locked.

    Example:

    >>> lock = RunLock("runs/pretrain").acquire()   # doctest: +SKIP
    >>> lock.release()                              # doctest: +SKIP

    Args:
        directory: the run directory (must exist).
    """

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / LOCK
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock, or raise `RunDirectoryError` naming its holder."""
        if fcntl is None or self._fd is not None:
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunDirectoryError(
                f"{self.path.parent}: another run is writing into this directory ({holder}); "
                "wait for it to finish, or choose another --out directory"
            ) from None
        started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.write(fd, f"process {os.getpid()} on {socket.gethostname()}, since {started}".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the lock up (also done by the kernel when the process ends)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) | set(b))
        out: list[str] = []
        for k in keys:
            out += _diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


def bind_settings(
    path: Path,
    settings: dict[str, Any],
    *,
    what: str,
    ignore: tuple[str, ...] = (),
    replaceable: bool = False,
) -> None:
    """Record settings in the JSON file `path`, or refuse if it holds others.

    The one rule by which a rerun in an output directory resumes the work
    recorded there: with the same settings (up to `ignore`), or not at all.

    Example:

    >>> bind_settings(out / "search.json", {"task": "recovery"}, what="a search")  # doctest: +SKIP

    Args:
        path: the JSON file (its folder is the output directory).
        settings: the settings of this run, a JSON-serialisable dict.
        what: what the directory holds, for the error ("a search with other settings").
        ignore: keys (dotted for nested ones, e.g. "data.seed") that may differ.
        replaceable: whether differing settings replace the recorded ones
            (nothing was computed with them yet) instead of being refused.

    Raises:
        RunDirectoryError: if `path` is unreadable, or records other settings
            and is not `replaceable`, naming the keys that differ.
    """
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise RunDirectoryError(f"{path}: unreadable settings ({exc})") from None
        differing = [k for k in _diff(old, settings) if k not in ignore]
        if differing and not replaceable:
            raise RunDirectoryError(
                f"{path.parent}: holds {what} (differing keys: {', '.join(differing)}); rerun "
                "with the same settings to resume it, or choose another --out directory to "
                "start a new one"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(settings, indent=2) + "\n")


class RunDirectory:
    """A run directory (see the module docstring for its layout).

    Args:
        path: the directory.
        create: create it if missing (`False` for a process that only reads it).
    """

    def __init__(self, path: str | Path, create: bool = True) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise RunDirectoryError(f"{self.path}: exists and is not a directory")
        if create:
            self.path.mkdir(parents=True, exist_ok=True)

    def file(self, name: str) -> Path:
        return self.path / name

    def private_copy(self) -> RunDirectory:
        """A copy of its state, checkpoints and products in a new temporary directory.

        For a process of a multi-worker cluster that trains beside the
        process writing this directory (logs and hidden files are not copied).
        """
        copy = Path(tempfile.mkdtemp(prefix="mpikeras-worker-"))
        if self.path.is_dir():
            ignore = shutil.ignore_patterns(LOGS, ".*")
            shutil.copytree(self.path, copy, ignore=ignore, dirs_exist_ok=True)
        return RunDirectory(copy)

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / CHECKPOINTS

    # ---------------------------------------------------------------- configuration

    def bind_config(
        self, config: dict[str, Any], ignore: tuple[str, ...] = ("epochs", "distribution")
    ) -> None:
        """Record the run's configuration, or check it against the recorded one.

        Keys in `ignore` may differ: by default `epochs`, so a finished run
        can be extended, and `distribution`, so a run can resume on other
        devices (a data-parallel step equals the single-device step). A run
        without a completed epoch takes the new configuration.

        Raises:
            RunDirectoryError: if the directory holds a run with a different
                configuration, naming the keys that differ.
        """
        path = self.file(CONFIG)
        if path.exists():
            try:
                recorded = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise RunDirectoryError(f"{path}: unreadable settings ({exc})") from None
            if not isinstance(recorded, dict) or set(recorded) != set(config):
                raise RunDirectoryError(
                    f"{path}: is not the configuration of a run of this kind (its keys differ "
                    "from this run's); it is left as it is: choose another --out directory"
                )
        bind_settings(
            path,
            config,
            what="a run with another configuration",
            ignore=ignore,
            replaceable=self.last_epoch() == 0,
        )

    # ---------------------------------------------------------------- state

    def check_resumable(self) -> None:
        """Check that state, history, configuration and checkpoint agree.

        Raises:
            RunDirectoryError: naming the file that is missing, malformed or
                inconsistent with `state.json` (a run directory someone edited
                or partly deleted is never resumed silently), or for a
                directory that is neither a run directory nor empty (its
                files are left as they are).
        """
        state_path = self.file(STATE)
        if not self.file(CONFIG).exists() and not state_path.exists():
            foreign = sorted(
                entry.name
                for entry in os.scandir(self.path)
                if entry.name not in LAYOUT and not entry.name.startswith(".")
            )
            if foreign:
                shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
                raise RunDirectoryError(
                    f"{self.path}: is not empty and not a run directory (it holds {shown}); "
                    "its files are left as they are: choose another --out directory"
                )
        if not state_path.exists():
            leftovers = [n for n in (HISTORY, BEST) if self.file(n).exists()]
            if any(self.checkpoint_dir.glob("epoch-*.keras")):
                leftovers.append(f"{CHECKPOINTS}/")
            if leftovers:
                raise RunDirectoryError(
                    f"{state_path}: missing, but the directory holds {', '.join(leftovers)} of "
                    "an earlier run; restore it, or choose another --out directory"
                )
            return
        state = self.state()
        epoch = state.get("epoch") if isinstance(state, dict) else None
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise RunDirectoryError(
                f"{state_path}: field 'epoch': expected a whole number >= 0, got {epoch!r}"
            )
        if epoch == 0:
            return
        if not self.file(CONFIG).exists():
            raise RunDirectoryError(
                f"{self.file(CONFIG)}: missing, but {STATE} records {epoch} completed epochs; "
                "the run's configuration is unknown, so it cannot be resumed"
            )
        history = self.history()
        lengths = (
            {len(v) for v in history.values() if isinstance(v, list)}
            if isinstance(history, dict)
            else set()
        )
        valid = (
            isinstance(history, dict)
            and history
            and all(
                isinstance(v, list) and all(isinstance(x, int | float) for x in v)
                for v in history.values()
            )
        )
        if not valid or lengths != {epoch}:
            found = f"{sorted(lengths)} epochs" if valid else "no per-epoch lists of numbers"
            raise RunDirectoryError(
                f"{self.file(HISTORY)}: expected the metrics of {epoch} epochs ({STATE}), "
                f"found {found}"
            )
        checkpoint = state.get("checkpoint")
        if not isinstance(checkpoint, str) or not self.file(checkpoint).is_file():
            raise RunDirectoryError(
                f"{state_path}: field 'checkpoint': expected the file of epoch {epoch}, got "
                f"{checkpoint!r}, which is missing"
            )

    def state(self) -> dict[str, Any]:
        path = self.file(STATE)
        if not path.exists():
            return {"epoch": 0, "checkpoint": None, "best_epoch": None, "best_value": None}
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise RunDirectoryError(f"{path}: unreadable run state ({exc})") from None

    def last_epoch(self) -> int:
        """Number of completed epochs recorded (0 for a new run)."""
        return int(self.state().get("epoch", 0))

    def history(self) -> dict[str, list[float]]:
        path = self.file(HISTORY)
        if not path.exists():
            return {}
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise RunDirectoryError(f"{path}: unreadable history ({exc})") from None

    def load_checkpoint(self) -> keras.Model | None:
        """The model of the last checkpointed epoch, with its optimizer, or None."""
        state = self.state()
        if not state.get("checkpoint"):
            return None
        path = self.path / state["checkpoint"]
        if not path.exists():
            raise RunDirectoryError(f"{path}: the checkpoint named in {STATE} is missing")
        return load_model(path)

    def load_best(self) -> keras.Model | None:
        """The model of the best epoch so far (`best.keras`), or None before any."""
        path = self.file(BEST)
        return load_model(path) if path.exists() else None

    def save_model(self, model: keras.Model, name: str) -> Path:
        """Save a model under `name` atomically (Keras v3 format).

        Raises:
            TrainingDivergedError: if any weight is NaN or infinite (nothing is written).
        """
        bad = non_finite_weights(model)
        if bad:
            raise TrainingDivergedError(
                f"{self.path}: {len(bad)} of {len(model.variables)} variables of the model are "
                f"NaN or infinite (first: {bad[0]}); training diverged, {name} was not written. "
                "Lower the learning rate or check the data and configuration"
            )
        target = self.file(name)
        with atomic_path(target, suffix=".keras") as tmp, this_process_only():
            model.save(tmp)
        return target


def checkpoint_interval_s() -> float:
    """Seconds between checkpoint writes: `MPIKERAS_CHECKPOINT_INTERVAL_S`, else 30.

    Raises:
        RunDirectoryError: if the variable is set to anything but a number >= 0.
    """
    text = os.environ.get(CHECKPOINT_INTERVAL_ENV, "").strip()
    if not text:
        return CHECKPOINT_INTERVAL_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value >= 0 or math.isinf(value):
        raise RunDirectoryError(
            f"environment variable {CHECKPOINT_INTERVAL_ENV}: expected a number of seconds >= 0, "
            f"got {text!r}"
        )
    return value


class EpochCheckpoint(keras.callbacks.Callback):
    """Checkpoint, history and best model, written atomically every `interval_s` seconds.

    Every epoch is checked (a non-finite loss stops the run) and recorded in
    memory: its metrics, and the weights of a new best epoch. They are
    written (the epoch's checkpoint, `best.keras`, `history.json`, then
    `state.json`) after the first epoch that ends `interval_s` seconds or
    more after the last write, after the last epoch of `fit`, and when
    training ends early. So an interrupted run resumes from its last write
    and loses at most about `interval_s` seconds of training (and, being
    deterministic on the CPU, still ends with the weights of an
    uninterrupted run). Writing a checkpoint costs about a quarter of an
    epoch of a `quick`-preset head on a 2-core CPU, which is why it is not
    done after every epoch unless asked (`interval_s=0`).

    `best.keras` holds the best epoch's weights; when that epoch was not
    written itself, it carries the optimizer state of the epoch written
    with it (only its weights are used).

    Args:
        run_dir: the run directory.
        monitor: metric that selects the best epoch (lower is better).
        keep: number of epoch checkpoints kept.
        on_best: optional callable `(model, epoch)` run when a new best epoch
            is found, with the model of that epoch.
        interval_s: seconds between writes; 0 writes after every epoch.
            Defaults to `checkpoint_interval_s()` (30, or
            `MPIKERAS_CHECKPOINT_INTERVAL_S`).
    """

    def __init__(
        self,
        run_dir: RunDirectory,
        monitor: str = "val_loss",
        keep: int = 2,
        on_best=None,
        interval_s: float | None = None,
    ) -> None:
        super().__init__()
        interval_s = checkpoint_interval_s() if interval_s is None else interval_s
        if not interval_s >= 0:
            raise ValueError(f"interval_s must be >= 0, got {interval_s}")
        self.run_dir = run_dir
        self.monitor = monitor
        self.keep = keep
        self.on_best = on_best
        self.interval_s = interval_s
        self._history: dict[str, list[float]] | None = None
        self._state: dict[str, Any] = {}
        self._best_weights: list | None = None  # of a best epoch not written yet
        self._written_at = time.monotonic()
        self._pending = 0  # last epoch recorded but not written

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self._written_at = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = dict(logs or {})
        done = epoch + 1
        if self._history is None:  # what the run directory holds (a resumed run)
            self._history, self._state = self.run_dir.history(), self.run_dir.state()
        bad = {k: v for k, v in logs.items() if k.endswith("loss") and not math.isfinite(v)}
        if bad:
            self._write_best()  # the finite epochs' best, for the products
            metrics = ", ".join(f"{k} {v}" for k, v in bad.items())
            raise TrainingDivergedError(
                f"{self.run_dir.path}: training diverged in epoch {done} ({metrics}); nothing of "
                "this epoch was saved. Lower the learning rate or check the data and "
                "configuration"
            )
        for key, value in logs.items():
            self._history.setdefault(key, [])
            self._history[key] = [*self._history[key][: done - 1], float(value)]
        value = logs.get(self.monitor, logs.get(self.monitor.removeprefix("val_")))
        best_value = self._state.get("best_value")
        if (
            value is not None
            and math.isfinite(value)
            and (best_value is None or value < best_value)
        ):
            self._state["best_epoch"], self._state["best_value"] = done, float(value)
            self._best_weights = None
            if self.on_best is not None:
                self.on_best(self.model, done)
        self._pending = done
        last = done >= (self.params or {}).get("epochs", math.inf)
        if last or time.monotonic() - self._written_at >= self.interval_s:
            self._write(done)
        elif self._state.get("best_epoch") == done:
            self._best_weights = self.model.get_weights()

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        if self._pending > self._state.get("epoch", 0):  # stopped early
            self._write(self._pending)

    def _write(self, done: int) -> None:
        checkpoint = f"{CHECKPOINTS}/epoch-{done:04d}.keras"
        self.run_dir.checkpoint_dir.mkdir(exist_ok=True)
        self.run_dir.save_model(self.model, checkpoint)
        if self._state.get("best_epoch") == done:
            shutil.copyfile(self.run_dir.file(checkpoint), self.run_dir.file(f".{BEST}.tmp"))
            self.run_dir.file(f".{BEST}.tmp").replace(self.run_dir.file(BEST))
        else:
            self._write_best()
        history = {k: v[:done] for k, v in self._history.items()}
        write_text_atomic(self.run_dir.file(HISTORY), json.dumps(history, indent=1) + "\n")
        self._state.update(epoch=done, checkpoint=checkpoint)
        write_text_atomic(self.run_dir.file(STATE), json.dumps(self._state, indent=2) + "\n")
        for old in sorted(self.run_dir.checkpoint_dir.glob("epoch-*.keras"))[: -self.keep]:
            old.unlink(missing_ok=True)
        self._written_at = time.monotonic()

    def _write_best(self) -> None:
        """Write the best epoch's weights kept in memory into `best.keras`, if any."""
        if self._best_weights is None:
            return
        current = self.model.get_weights()
        self.model.set_weights(self._best_weights)
        try:
            self.run_dir.save_model(self.model, BEST)
        finally:
            self.model.set_weights(current)
        self._best_weights = None
