"""TensorFlow SavedModel export of a trained recovery or reconstruction model.

The exported function takes what a scanner gives after band-passing: time
signals in volts. It applies the training normalisation itself (divide by
the delta-sample volume in mm^3, as `mpikeras.preprocessing.voxel_signals`
does, then by the normalisation scale), runs the model, and for recovery
multiplies the prediction back to volts. A deployment therefore needs no
mpikeras and no knowledge of the scale. The export is written with Keras'
own machinery (`keras.export.ExportArchive`): on the TensorFlow backend as
a TensorFlow graph, on the JAX backend through jax2tf.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import math
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from mpikeras import __version__
from mpikeras._compat import tensorflow_available
from mpikeras.config import DataConfig
from mpikeras.data.sources import simulated_preset
from mpikeras.errors import ConfigError, ExportError, RunDirectoryError
from mpikeras.io.atomic import remove_stale_temporaries, temporary_prefix
from mpikeras.models.heads import BracketRecovery, DirectReconstruction, SignalRecovery
from mpikeras.models.saving import load_model
from mpikeras.preprocessing.signals import MM3
from mpikeras.training.run_directory import CONFIG, MODEL, NORMALIZATION
from mpikeras.training.session import load_normalization

#: Name of the serving signature (also exported as "serving_default").
SIGNATURE_NAME = "serve"
#: The JSON file beside `saved_model.pb` that documents the signature.
SIGNATURE_FILE = "signature.json"
#: Platforms a JAX export is lowered for (jax2tf native serialisation).
JAX_PLATFORMS = ("cpu", "cuda")

# === What each model class serves ===

_TASKS: dict[type, dict[str, Any]] = {
    SignalRecovery: {
        "task": "recovery",
        "inputs": ("signal",),
        "output": "signal",
    },
    BracketRecovery: {
        "task": "bracket_recovery",
        "inputs": ("lower", "upper"),
        "output": "signal",
    },
    DirectReconstruction: {
        "task": "reconstruction",
        "inputs": ("signal",),
        "output": "concentration",
    },
}

_INPUT_TEXT = {
    "signal": "band-passed time signal of one drive-field period (measured voltage)",
    "lower": "band-passed time signal of the measured voxel one step below the target in y",
    "upper": "band-passed time signal of the measured voxel one step above the target in y",
}

_OUTPUT_TEXT = {
    "recovery": "predicted signal of the voxel one training-grid step further in y, as the "
    "same delta sample would give it there",
    "bracket_recovery": "predicted signal of the voxel midway between `lower` and `upper`, as "
    "the same delta sample would give it there",
    "reconstruction": "concentration image on the training grid (rows y, columns x), in "
    "delta-sample units: one calibration column (the delta sample at a voxel) gives 1 there",
}


@dataclasses.dataclass(frozen=True)
class ServingFunction:
    """The function an export serves: raw volts in, volts or concentrations out.

    Args:
        fn: callable taking one float32 tensor per name in `input_names`
            (positionally, shape (batch, V, C), volts) and returning
            `{output_name: tensor}`; it uses `keras.ops` only, so it runs on
            the TensorFlow and the JAX backend.
        input_signature: one `keras.InputSpec` per input, batch size free.
        task: "recovery", "bracket_recovery" or "reconstruction".
        input_names: names of the inputs, in the order `fn` takes them.
        output_name: "signal" (volts) or "concentration" (delta-sample units).
        output_shape: shape of the output, batch first (`None`).
        divisor_volt: delta-sample volume in mm^3 times the normalisation
            scale in V/mm^3: the inputs are divided by it.
    """

    fn: Callable[..., dict]
    input_signature: list
    task: str
    input_names: tuple[str, ...]
    output_name: str
    output_shape: tuple[int | None, ...]
    divisor_volt: float


def serving_function(
    model: keras.Model,
    delta_sample_volume_mm3: float,
    normalization_scale: float | None = None,
) -> ServingFunction:
    """The serving function of a recovery or reconstruction model.

    `outputs = model(inputs / d)`, times `d` for recovery, with
    `d = delta_sample_volume_mm3 * normalization_scale` (volts): the same
    scaling `voxel_signals` and `Normalization` apply to training data.

    Example:

    >>> serving = serving_function(model, delta_sample_volume_mm3=4.0)  # doctest: +SKIP
    >>> serving.fn(volts)["signal"].shape                                # doctest: +SKIP
    TensorShape([8, 1632, 2])

    Args:
        model: a `SignalRecovery`, `BracketRecovery` or `DirectReconstruction`.
        delta_sample_volume_mm3: volume of the delta sample the input signals
            are measured with, in mm^3.
        normalization_scale: the training data's normalisation scale in
            V/mm^3; `model.normalization_scale` by default.

    Returns:
        A `ServingFunction`.

    Raises:
        RunDirectoryError: for another model class, or a model without a
            normalisation scale.
        ExportError: for a volume or scale that is not positive and finite.
    """
    spec = _task_spec(model)
    scale = model.normalization_scale if normalization_scale is None else normalization_scale
    if scale is None:
        raise RunDirectoryError(
            f"the {type(model).__name__} has no normalization_scale; expected the scale "
            "of its training data (normalization.json of its run)"
        )
    volume = _positive("delta_sample_volume_mm3", delta_sample_volume_mm3)
    divisor = volume * _positive("normalization_scale", scale)
    samples, channels = (int(n) for n in model.inputs[0].shape[1:])
    input_names = spec["inputs"]
    task = spec["task"]

    ops = keras.ops

    def concentration(signal):
        image = model(ops.divide(signal, divisor), training=False)
        return {"concentration": ops.cast(ops.squeeze(image, axis=-1), "float32")}

    def recovery(signal):
        prediction = model(ops.divide(signal, divisor), training=False)
        return {"signal": ops.cast(ops.multiply(prediction, divisor), "float32")}

    def bracket(lower, upper):
        inputs = {"lower": ops.divide(lower, divisor), "upper": ops.divide(upper, divisor)}
        prediction = model(inputs, training=False)
        return {"signal": ops.cast(ops.multiply(prediction, divisor), "float32")}

    fn = {"recovery": recovery, "bracket_recovery": bracket, "reconstruction": concentration}[task]
    if task == "reconstruction":
        output_shape = (None, *(int(n) for n in model.outputs[0].shape[1:3]))
    else:
        output_shape = (None, samples, channels)
    return ServingFunction(
        fn=fn,
        input_signature=[
            keras.InputSpec(shape=(None, samples, channels), dtype="float32", name=name)
            for name in input_names
        ],
        task=task,
        input_names=input_names,
        output_name=spec["output"],
        output_shape=output_shape,
        divisor_volt=divisor,
    )


def source_delta_sample_volume_mm3(source: str | os.PathLike) -> float:
    """Volume of the delta sample of a training data source, in mm^3.

    The volume `voxel_signals` divides by: `/calibration/deltaSampleSize` of
    an MDF file (the voxel volume where the file has none), or the preset's
    `delta_sample_size_m` for `simulated:<preset>`.

    Example:

    >>> source_delta_sample_volume_mm3("simulated:openmpi-2d-19")
    4.0

    Args:
        source: an MDF calibration file or `simulated:<preset>` (the
            `data.source` of a run's config.json).

    Returns:
        The volume in mm^3.

    Raises:
        ConfigError: for an unknown simulation preset.
        RunDirectoryError: if the file does not exist.
        MDFError: if the file is not a readable calibration file.
    """
    source = os.fspath(source)
    name = simulated_preset(source)
    if name is not None:
        from mpikeras.simulation import PRESETS

        if name not in PRESETS:
            raise ConfigError(
                "data.source",
                f"unknown simulation preset; expected one of {sorted(PRESETS)}, received {name!r}",
            )
        return float(np.prod(PRESETS[name]["delta_sample_size_m"])) / MM3
    if not Path(source).is_file():
        raise RunDirectoryError(
            f"{source}: the training system matrix is not a file here, so its delta-sample "
            "volume is unknown; pass delta_sample_volume_mm3 (--delta-sample-volume-mm3)"
        )
    from mpikeras.io import read_system_matrix

    return read_system_matrix(source, z_slice="central").delta_sample_volume_m3 / MM3


def load_task_model(run_dir: str | os.PathLike) -> keras.Model:
    """The trained model of a run directory (`RUN_DIR/model.keras`).

    Raises:
        RunDirectoryError: if the file is missing or not a recovery or
            reconstruction model.
        ModelFileError: if it is not a loadable (safe) Keras model.
    """
    path = Path(run_dir) / MODEL
    if not path.is_file():
        raise RunDirectoryError(
            f"{path}: not found; expected the {MODEL} that `mpikeras train` writes into "
            "its run directory"
        )
    model = load_model(path)
    model = getattr(model, "task_model", model)
    _task_spec(model, path)
    return model


def export_saved_model(
    run_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    delta_sample_volume_mm3: float | None = None,
    overwrite: bool = False,
) -> Path:
    """Export a trained recovery or reconstruction model as a TensorFlow SavedModel.

    Writes `out_dir` (a SavedModel directory with the signature "serve",
    also "serving_default") and `out_dir/signature.json`, which documents
    the inputs, outputs, units and scaling. The directory is written under a
    temporary name beside `out_dir` and renamed when complete, so `out_dir`
    holds either the previous content or the complete export.

    Example:

    >>> export_saved_model("runs/recovery", "exports/recovery")   # doctest: +SKIP
    PosixPath('exports/recovery')

    Args:
        run_dir: a run directory of `mpikeras train` (model.keras,
            config.json, normalization.json).
        out_dir: the SavedModel directory to write.
        delta_sample_volume_mm3: volume of the delta sample of the signals
            the export will be fed, in mm^3; by default that of the run's
            training data (config.json `data.source`).
        overwrite: replace a non-empty `out_dir`.

    Returns:
        `out_dir` as a `Path`.

    Raises:
        RunDirectoryError: for a missing or unusable run directory.
        ExportError: if `out_dir` exists and is not empty (without
            `overwrite`), overlaps the run directory, or TensorFlow is not
            installed, or the Keras backend cannot export.
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if not run_dir.is_dir():
        raise RunDirectoryError(f"{run_dir}: not a directory; expected a run of `mpikeras train`")
    _check_target(out_dir, run_dir, overwrite)
    _check_backend()
    config = _read_config(run_dir)
    data = config.get("data") or {}
    source = str(data.get("source", DataConfig.source))
    if delta_sample_volume_mm3 is None:
        volume = source_delta_sample_volume_mm3(source)
        volume_from = f"{CONFIG} data.source: {source}"
    else:
        volume = _positive("delta_sample_volume_mm3", delta_sample_volume_mm3)
        volume_from = "given (delta_sample_volume_mm3)"
    model = load_task_model(run_dir)
    scale = _normalization_scale(model, run_dir)
    serving = serving_function(model, volume, scale)
    document = _signature_document(
        serving,
        model,
        run_dir,
        volume=volume,
        volume_from=volume_from,
        scale=scale,
        band_hz=data.get("band_hz", list(DataConfig.band_hz)),
        channels=data.get("channels", list(DataConfig.channels)),
    )
    with _atomic_directory(out_dir, run_dir, overwrite) as tmp:
        archive = keras.export.ExportArchive()
        if keras.backend.backend() == "jax":
            # jax2tf needs the variables up front. On TensorFlow the endpoint's
            # variables are found by tracing; tracking the model too would store
            # every weight twice (Keras and tf.Variable objects).
            archive.track(model)
        archive.add_endpoint(
            SIGNATURE_NAME, serving.fn, serving.input_signature, **_backend_export_kwargs()
        )
        _write_out(archive, tmp, out_dir)
        (tmp / SIGNATURE_FILE).write_text(json.dumps(document, indent=2) + "\n")
    return out_dir


# === Helpers ===


def _write_out(archive: keras.export.ExportArchive, tmp: Path, out_dir: Path) -> None:
    """Write the SavedModel; TensorFlow's write failures (a full disk) become an `OSError`."""
    import tensorflow as tf

    try:
        archive.write_out(tmp, verbose=False)
    except tf.errors.OpError as exc:
        # TensorFlow names its temporary shard, then the reason: "PATH; File too large".
        reason = exc.message.rsplit("; ", 1)[-1]
        raise OSError(errno.EIO, f"writing the SavedModel failed: {reason}", str(out_dir)) from None


def _task_spec(model: keras.Model, where: Path | None = None) -> dict[str, Any]:
    for cls, spec in _TASKS.items():
        if isinstance(model, cls):
            return spec
    prefix = f"{where}: " if where is not None else ""
    raise RunDirectoryError(
        f"{prefix}unknown model class {type(model).__name__}; expected one of "
        f"{sorted(cls.__name__ for cls in _TASKS)} (the model of `mpikeras train`)"
    )


def _positive(name: str, value: Any) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ExportError(f"{name} must be a number, received {value!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ExportError(f"{name} must be positive and finite, received {value}")
    return value


def _check_backend() -> None:
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        raise ExportError(
            "SavedModel export runs on the TensorFlow or JAX Keras backend, received "
            f"KERAS_BACKEND={backend!r}; set KERAS_BACKEND=tensorflow (a model trained on "
            "any backend loads there)"
        )
    if not tensorflow_available():
        raise ExportError(
            "SavedModel export needs TensorFlow, which is not installed (pip install tensorflow)"
        )


def _backend_export_kwargs() -> dict[str, Any]:
    if keras.backend.backend() != "jax":
        return {}
    # Lower for the CPU and CUDA alike, whichever device exported it; serving
    # needs no gradient (and jax2tf's custom gradients warn when reloaded).
    return {
        "jax2tf_kwargs": {
            "native_serialization": True,
            "native_serialization_platforms": JAX_PLATFORMS,
            "with_gradient": False,
        }
    }


def _read_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / CONFIG
    if not path.exists():
        return {}
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RunDirectoryError(f"{path}: unreadable run configuration ({exc})") from None
    if not isinstance(config, dict):
        raise RunDirectoryError(f"{path}: expected a JSON object, received {type(config).__name__}")
    return config


def _normalization_scale(model: keras.Model, run_dir: Path) -> float:
    stored = load_normalization(run_dir).scale if (run_dir / NORMALIZATION).exists() else None
    scale = model.normalization_scale
    if scale is None and stored is None:
        raise RunDirectoryError(
            f"{run_dir}: no normalisation scale; expected normalization_scale in the "
            f"model's config or {NORMALIZATION}"
        )
    if scale is not None and stored is not None and not math.isclose(scale, stored, rel_tol=1e-6):
        raise RunDirectoryError(
            f"{run_dir}: the model's normalization_scale {scale} differs from the "
            f"{stored} in {NORMALIZATION}; expected the same training scale"
        )
    return float(scale if scale is not None else stored)


def _signature_document(
    serving: ServingFunction,
    model: keras.Model,
    run_dir: Path,
    *,
    volume: float,
    volume_from: str,
    scale: float,
    band_hz: Sequence[float],
    channels: Sequence[int],
) -> dict[str, Any]:
    samples, num_channels = serving.input_signature[0].shape[1:]
    band = f"{band_hz[0] / 1e3:g}-{band_hz[1] / 1e3:g} kHz"
    inputs = {
        name: {
            "shape": [None, samples, num_channels],
            "dtype": "float32",
            "unit": "V",
            "description": f"{_INPUT_TEXT[name]}: band-pass {band}, {samples} samples per "
            f"period, receive channels {list(channels)} on the last axis",
        }
        for name in serving.input_names
    }
    unit = "delta-sample units" if serving.task == "reconstruction" else "V"
    if serving.task == "reconstruction":
        formula = "concentration = model(inputs / input_divisor_volt)"
    else:
        formula = "signal = model(inputs / input_divisor_volt) * input_divisor_volt"
    backend = keras.backend.backend()
    import tensorflow as tf

    return {
        "format": "TensorFlow SavedModel",
        "signature_name": SIGNATURE_NAME,
        "signature_aliases": ["serving_default"],
        "task": serving.task,
        "model_class": type(model).__name__,
        "inputs": inputs,
        "outputs": {
            serving.output_name: {
                "shape": list(serving.output_shape),
                "dtype": "float32",
                "unit": unit,
                "description": _OUTPUT_TEXT[serving.task],
            }
        },
        "scaling": {
            "formula": formula,
            "input_divisor_volt": serving.divisor_volt,
            "delta_sample_volume_mm3": volume,
            "delta_sample_volume_from": volume_from,
            "normalization_scale_volt_per_mm3": scale,
        },
        "preprocessing": {
            "band_hz": [float(f) for f in band_hz],
            "receive_channels": [int(c) for c in channels],
            "samples_per_period": int(samples),
        },
        "created_with": {
            "mpikeras": __version__,
            "keras": keras.__version__,
            "keras_backend": backend,
            "tensorflow": tf.__version__,
            "platforms": list(JAX_PLATFORMS) if backend == "jax" else "any TensorFlow device",
        },
        "source": str((run_dir / MODEL).resolve()),
    }


def _check_target(target: Path, run_dir: Path, overwrite: bool) -> None:
    resolved, run = target.resolve(), run_dir.resolve()
    if resolved == run or resolved in run.parents or run in resolved.parents:
        raise ExportError(
            f"{target}: overlaps the run directory {run_dir}; expected an export directory "
            "outside it"
        )
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ExportError(
            f"{target}: exists and is not a directory; expected a new or empty directory "
            "for the SavedModel"
        )
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise ExportError(
            f"{target}: already exists and is not empty; choose another output directory "
            "or pass overwrite=True (--overwrite) to replace it"
        )


@contextlib.contextmanager
def _atomic_directory(target: Path, run_dir: Path, overwrite: bool):
    """Yield a fresh directory beside `target` that replaces it if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkdtemp: its 0700 mode would keep a server of another user out.
    remove_stale_temporaries(target.parent)
    tmp = target.parent / f"{temporary_prefix(target)}{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        _check_target(target, run_dir, overwrite)  # again: it may have changed meanwhile
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
        if target.exists():
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
            try:
                os.replace(tmp, target)
            except OSError:
                os.replace(old, target)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
