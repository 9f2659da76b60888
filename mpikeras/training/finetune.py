"""Training the recovery and reconstruction heads, wo-CL or CL (paper section II)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import keras

from mpikeras.config import FinetuneConfig
from mpikeras.data.streams import Streams
from mpikeras.models.saving import load_model
from mpikeras.training.run_directory import MODEL
from mpikeras.training.session import load_encoder, start_run
from mpikeras.training.task import build_task_model, task_streams


@dataclasses.dataclass
class FinetuneResult:
    """What `finetune` produced.

    Args:
        model: the model of the best epoch (lowest validation loss).
        history: per-epoch metrics.
        run_dir: the run directory.
    """

    model: keras.Model
    history: dict[str, list[float]]
    run_dir: Path


def finetune(
    config: FinetuneConfig,
    run_dir: str | Path,
    *,
    pipeline: str = "auto",
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: str | int = "auto",
) -> FinetuneResult:
    """Train a recovery or reconstruction model; resumable like `pretrain`.

    wo-CL when `config.pretrained_encoder` is empty (encoder trained from
    scratch with the head); CL otherwise (the pretrained encoder is
    fine-tuned, or kept fixed with `freeze_encoder`). Writes `model.keras`
    (best epoch), `config.json`, `normalization.json`, checkpoints, history
    and logs into `run_dir`. `config.distribution = "data_parallel"` trains
    on every device of the machine (see `mpikeras.training.distribution`).

    Example:

    >>> cfg = FinetuneConfig(task="recovery", pretrained_encoder="runs/pre/encoder.keras")
    >>> result = finetune(cfg, "runs/recovery-cl")       # doctest: +SKIP

    Returns:
        A `FinetuneResult`.

    Raises:
        RunDirectoryError: if `run_dir` holds a run with another
            configuration, or the pretrained encoder is missing.
        ConfigError: if the backend or the batch size does not allow the
            configured `distribution`, or for `contrastive_weight` > 0 with
            "data_parallel" on TensorFlow.
    """
    run = start_run(config, run_dir)

    def make_streams(start_epoch: int) -> Streams:
        return task_streams(config, run.data, start_epoch, pipeline)

    def build_model() -> keras.Model:
        # Loaded here, inside the distribution's scope, so that its variables
        # are created for the devices the model trains on.
        encoder = load_encoder(config.pretrained_encoder)[0] if config.pretrained_encoder else None
        return build_task_model(config, run.signal_shape, run.data.normalization, encoder)

    products = {MODEL: lambda model: getattr(model, "task_model", model)}
    _, history = run.fit(build_model, make_streams, products, callbacks=callbacks, verbose=verbose)
    best = load_model(run.directory.file(MODEL))
    return FinetuneResult(best, history, run.directory.path)
