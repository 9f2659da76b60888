"""Loading saved models safely, with the package's classes registered."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import keras
import numpy as np

from mpikeras.errors import ModelFileError


def non_finite_weights(model: keras.Model) -> list[str]:
    """The names of the model's variables that hold NaN or infinite values.

    Example:

    >>> layer = keras.layers.Dense(2, name="out")
    >>> model = keras.Sequential([keras.Input((3,)), layer], name="m")
    >>> non_finite_weights(model)
    []
    >>> _ = layer.bias.assign([np.nan, 0.0])
    >>> non_finite_weights(model)
    ['m/out/bias']
    """
    return [
        variable.path
        for variable in model.variables
        if not np.all(np.isfinite(keras.ops.convert_to_numpy(variable.value)))
    ]


def load_model(path: str | os.PathLike) -> keras.Model:
    """Load a `.keras` (or legacy `.h5`) model in Keras' safe mode.

    Importing this module registers every mpikeras class with Keras. Safe
    mode refuses files that would run code on loading (a `Lambda` layer's
    Python function, ...): a model file is data, never a program.

    Example:

    >>> model = load_model("runs/recovery/model.keras")   # doctest: +SKIP

    Args:
        path: the model file.

    Returns:
        The model.

    Raises:
        ModelFileError: if the file is missing, not a Keras archive, damaged,
            refused by safe mode, or holds non-finite weights; the message
            names the file and the cause.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    if path.suffix.lower() == ".keras":
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise ModelFileError(f"{path}: not a Keras .keras archive ({exc})") from None
        if "config.json" not in names:
            raise ModelFileError(f"{path}: not a Keras .keras archive (no config.json inside)")
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as exc:
        cause = " ".join(str(exc).split())
        raise ModelFileError(f"{path}: not a loadable Keras model ({cause})") from None
    bad = non_finite_weights(model)
    if bad:
        raise ModelFileError(
            f"{path}: {len(bad)} of {len(model.variables)} variables hold NaN or infinite "
            f"values (first: {bad[0]}); the training that wrote it diverged"
        )
    return model
