"""Run directories: everything a training run writes, and how it resumes.

Layout of RUN_DIR:

- `config.json`: the configuration used (written first; a rerun with a
  different configuration is refused).
- `checkpoints/epoch-NNNN.keras`: the model with its optimizer state after
  epoch NNNN (the two most recent are kept).
- `state.json`: the last completed epoch, its checkpoint and the best epoch.
- `history.json`: per-epoch metrics.
- `best.keras`: the model of the epoch with the lowest validation loss.
- `logs/`: TensorBoard event files (when TensorFlow is installed).
- `normalization.json`: the scale the training signals were divided by.
- the run's products, written by the caller: `encoder.keras` (pretraining),
  `model.keras` (fine-tuning) or `recovery.keras` and `reconstruction.keras`
  (joint training).

Every file name is defined here, once.

Every file is written to a temporary name and renamed, so a kill at any
moment leaves either the previous or the new version, never a partial one.
`state.json` is written after the checkpoint it names, so it always points
to a complete checkpoint.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import keras

from mpikeras.errors import RunDirectoryError
from mpikeras.io.atomic import atomic_path, write_text_atomic
from mpikeras.models.saving import load_model

#: The run's configuration.
CONFIG = "config.json"
#: The last completed epoch, its checkpoint and the best epoch.
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
#: The pretrained encoder of the best epoch (`pretrain`).
ENCODER = "encoder.keras"
#: The task model of the best epoch (`finetune`).
MODEL = "model.keras"
#: The two heads of the best epoch of a joint run (`train_joint`).
RECOVERY_MODEL = "recovery.keras"
RECONSTRUCTION_MODEL = "reconstruction.keras"


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
        path: the directory; created if missing.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise RunDirectoryError(f"{self.path}: exists and is not a directory")
        self.path.mkdir(parents=True, exist_ok=True)

    def file(self, name: str) -> Path:
        return self.path / name

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
        bind_settings(
            self.file(CONFIG),
            config,
            what="a run with another configuration",
            ignore=ignore,
            replaceable=self.last_epoch() == 0,
        )

    # ---------------------------------------------------------------- state

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
        """The model of the last completed epoch, with its optimizer, or None."""
        state = self.state()
        if not state.get("checkpoint"):
            return None
        path = self.path / state["checkpoint"]
        if not path.exists():
            raise RunDirectoryError(f"{path}: the checkpoint named in {STATE} is missing")
        return load_model(path)

    def save_model(self, model: keras.Model, name: str) -> Path:
        """Save a model under `name` atomically (Keras v3 format)."""
        target = self.file(name)
        with atomic_path(target, suffix=".keras") as tmp:
            model.save(tmp)
        return target


class EpochCheckpoint(keras.callbacks.Callback):
    """Checkpoint, history and best model after every epoch, written atomically.

    Args:
        run_dir: the run directory.
        monitor: metric that selects the best epoch (lower is better).
        keep: number of epoch checkpoints kept.
        on_best: optional callable `(model, epoch)` run when a new best epoch
            is found (for example to export the encoder).
    """

    def __init__(
        self, run_dir: RunDirectory, monitor: str = "val_loss", keep: int = 2, on_best=None
    ) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.monitor = monitor
        self.keep = keep
        self.on_best = on_best

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = dict(logs or {})
        done = epoch + 1
        history = self.run_dir.history()
        for key, value in logs.items():
            history.setdefault(key, [])
            history[key] = [*history[key][: done - 1], float(value)]
        state = self.run_dir.state()
        value = logs.get(self.monitor, logs.get(self.monitor.removeprefix("val_")))
        best_value = state.get("best_value")
        improved = (
            value is not None
            and math.isfinite(value)
            and (best_value is None or value < best_value)
        )
        checkpoint = f"{CHECKPOINTS}/epoch-{done:04d}.keras"
        self.run_dir.checkpoint_dir.mkdir(exist_ok=True)
        self.run_dir.save_model(self.model, checkpoint)
        if improved:
            shutil.copyfile(self.run_dir.file(checkpoint), self.run_dir.file(f".{BEST}.tmp"))
            self.run_dir.file(f".{BEST}.tmp").replace(self.run_dir.file(BEST))
            state["best_epoch"], state["best_value"] = done, float(value)
            if self.on_best is not None:
                self.on_best(self.model, done)
        write_text_atomic(self.run_dir.file(HISTORY), json.dumps(history, indent=1) + "\n")
        state.update(epoch=done, checkpoint=checkpoint)
        write_text_atomic(self.run_dir.file(STATE), json.dumps(state, indent=2) + "\n")
        for old in sorted(self.run_dir.checkpoint_dir.glob("epoch-*.keras"))[: -self.keep]:
            old.unlink(missing_ok=True)
