"""Learned reconstruction of blocks of frames: a direct-reconstruction model, batched.

The model (`DirectReconstruction`, trained by `mpikeras train reconstruction`)
reads band-passed time signals of one period, (V, C'), divided by the
delta-sample volume in mm^3 and the training normalisation scale, and
returns a concentration image in delta-sample units. `LearnedReconstructor`
does that preprocessing for a block of background-corrected, period-averaged
frames (F, C, V) in volts and runs the model on the whole block at once. It
loads a `.keras` model (with its run directory's `config.json` and
`normalization.json` where present) or an exported SavedModel directory
(`mpikeras export`, which takes volts itself; needs TensorFlow).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from mpikeras.errors import PreprocessingError, RunDirectoryError
from mpikeras.io.acquisition import Acquisition
from mpikeras.preprocessing.bandpass import band_mask


@dataclasses.dataclass(frozen=True, eq=False)
class LearnedReconstructor:
    """A reconstruction model applied to blocks of measured frames.

    Example:

    >>> learned = load_learned_reconstructor("runs/con-cl/model.keras")  # doctest: +SKIP
    >>> learned(signals, acquisition).shape   # signals (F, C, V) volts  # doctest: +SKIP
    (64, 1, 19, 19)

    Args:
        predict: callable mapping volts, float32 (F, V, C'), band-passed, to
            images (F, Ny, Nx) in delta-sample units.
        channels: receive channels the model reads (C'), in its input order.
        band_hz: band-pass limits of the model's training signals, in Hz.
        num_samples: samples per period the model reads (V).
        image_shape: shape of one image, (1, Ny, Nx).
        source: where the model came from.
    """

    predict: Callable[[np.ndarray], np.ndarray]
    channels: tuple[int, ...]
    band_hz: tuple[float, float]
    num_samples: int
    image_shape: tuple[int, ...]
    source: str
    name: str = "learned"
    dtype: type = np.float32

    def check(self, acquisition: Acquisition) -> None:
        """Raise `PreprocessingError` if the measurement does not fit the model's input."""
        if acquisition.num_sampling_points != self.num_samples:
            raise PreprocessingError(
                f"{self.source}: the model reads {self.num_samples} samples per period, the "
                f"measurement has {acquisition.num_sampling_points}"
            )
        if max(self.channels) >= acquisition.num_receive_channels:
            raise PreprocessingError(
                f"{self.source}: the model reads receive channels {list(self.channels)}, the "
                f"measurement has {acquisition.num_receive_channels}"
            )
        band_mask(acquisition.frequencies_hz, self.band_hz)  # the band fits the receiver

    def __call__(self, signals: np.ndarray, acquisition: Acquisition) -> np.ndarray:
        """Images (F, *image_shape) of signals (F, C, V) in volts, recorded with `acquisition`."""
        x = np.asarray(signals)[:, list(self.channels)]
        spectra = np.fft.rfft(x, axis=-1)
        spectra *= band_mask(acquisition.frequencies_hz, self.band_hz)
        volts = np.fft.irfft(spectra, n=x.shape[-1], axis=-1).astype(np.float32)
        images = np.asarray(self.predict(np.ascontiguousarray(volts.transpose(0, 2, 1))))
        return images.reshape(x.shape[0], *self.image_shape)


def learned_reconstructor(
    model,
    delta_sample_volume_mm3: float,
    band_hz: Sequence[float] = (80e3, 600e3),
    channels: Sequence[int] = (0, 1),
    normalization_scale: float | None = None,
    source: str = "model",
) -> LearnedReconstructor:
    """A `LearnedReconstructor` of a Keras direct-reconstruction model in memory.

    Example:

    >>> from mpikeras.models import DirectReconstruction, Encoder
    >>> model = DirectReconstruction(Encoder((1632, 2), filters=4), normalization_scale=1.0)
    >>> learned = learned_reconstructor(model, delta_sample_volume_mm3=4.0)
    >>> learned.image_shape
    (1, 19, 19)

    Args:
        model: a `DirectReconstruction` (input (V, C'), output (Ny, Nx, 1)).
        delta_sample_volume_mm3: delta-sample volume of its training data, mm^3.
        band_hz: band-pass of its training data, in Hz. Defaults to 80 to 600 kHz.
        channels: receive channels of its input. Defaults to `(0, 1)`.
        normalization_scale: scale of its training data in V/mm^3; the
            model's own `normalization_scale` by default.
        source: a name for messages. Defaults to "model".

    Returns:
        The `LearnedReconstructor`; its `predict` runs `model.predict_on_batch`.

    Raises:
        RunDirectoryError: if no normalisation scale is known or the volume
            or scale is not positive.
    """
    scale = getattr(model, "normalization_scale", None)
    scale = scale if normalization_scale is None else normalization_scale
    if scale is None:
        raise RunDirectoryError(
            f"{source}: the model has no normalization_scale; expected the scale of its "
            "training data (normalization.json of its run)"
        )
    divisor = float(delta_sample_volume_mm3) * float(scale)
    if not (np.isfinite(divisor) and divisor > 0):
        raise RunDirectoryError(
            f"{source}: delta-sample volume {delta_sample_volume_mm3} mm^3 times scale {scale} "
            "must be positive and finite"
        )
    samples, num_channels = (int(n) for n in model.inputs[0].shape[1:])
    if num_channels != len(channels):
        raise RunDirectoryError(
            f"{source}: the model reads {num_channels} channels, channels {list(channels)} given"
        )
    ny, nx = (int(n) for n in model.outputs[0].shape[1:3])

    def predict(volts: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict_on_batch(volts / np.float32(divisor)))[..., 0]

    return LearnedReconstructor(
        predict=predict,
        channels=tuple(int(c) for c in channels),
        band_hz=(float(band_hz[0]), float(band_hz[1])),
        num_samples=samples,
        image_shape=(1, ny, nx),
        source=source,
    )


def load_learned_reconstructor(
    path: str | os.PathLike, delta_sample_volume_mm3: float | None = None
) -> LearnedReconstructor:
    """Load a reconstruction model: a `.keras` file or an exported SavedModel directory.

    A `.keras` file is read in safe mode (`load_model`); band and channels
    come from `config.json` beside it (its run directory) where present, else
    the defaults, and the delta-sample volume from `delta_sample_volume_mm3`
    or that config's `data.source`. A SavedModel (`mpikeras export`) scales
    its input itself; its `signature.json` gives band and channels.

    Example:

    >>> learned = load_learned_reconstructor("exports/con-cl")   # doctest: +SKIP

    Args:
        path: `model.keras` of a reconstruction run, or an export directory.
        delta_sample_volume_mm3: for a `.keras` model, the delta-sample volume
            of its training data in mm^3; by default from its run's config.

    Returns:
        The `LearnedReconstructor`.

    Raises:
        RunDirectoryError: for a model that is not a reconstruction model, or
            a `.keras` model whose delta-sample volume is unknown.
        ModelFileError: for a model file that does not load.
        ExportError: for a SavedModel without TensorFlow installed.
    """
    path = Path(path)
    if path.is_dir():
        if delta_sample_volume_mm3 is not None:
            raise RunDirectoryError(
                f"{path}: a SavedModel takes volts and scales them itself; give no "
                "delta-sample volume"
            )
        return _load_saved_model(path)
    from mpikeras.export.saved_model import source_delta_sample_volume_mm3
    from mpikeras.models import DirectReconstruction
    from mpikeras.models.saving import load_model
    from mpikeras.training.run_directory import CONFIG, NORMALIZATION
    from mpikeras.training.session import load_normalization

    model = load_model(path)
    model = getattr(model, "task_model", model)
    if not isinstance(model, DirectReconstruction):
        raise RunDirectoryError(
            f"{path}: a {type(model).__name__}, expected a DirectReconstruction (the model of "
            "`mpikeras train reconstruction`)"
        )
    config = _json(path.parent / CONFIG).get("data", {})
    if delta_sample_volume_mm3 is None:
        if "source" not in config:
            raise RunDirectoryError(
                f"{path}: no {CONFIG} of its run beside it, so the delta-sample volume of its "
                "training data is unknown; give it (--delta-sample-volume-mm3)"
            )
        delta_sample_volume_mm3 = source_delta_sample_volume_mm3(config["source"])
    scale = None
    if model.normalization_scale is None and (path.parent / NORMALIZATION).exists():
        scale = load_normalization(path.parent).scale
    return learned_reconstructor(
        model,
        delta_sample_volume_mm3,
        band_hz=config.get("band_hz", (80e3, 600e3)),
        channels=config.get("channels", (0, 1)),
        normalization_scale=scale,
        source=str(path),
    )


def _load_saved_model(path: Path) -> LearnedReconstructor:
    from mpikeras._compat import tensorflow_available
    from mpikeras.errors import ExportError
    from mpikeras.export.saved_model import SIGNATURE_FILE, SIGNATURE_NAME

    signature = _json(path / SIGNATURE_FILE)
    if signature.get("task") != "reconstruction":
        raise RunDirectoryError(
            f"{path / SIGNATURE_FILE}: task {signature.get('task')!r}, expected "
            "'reconstruction' (an export of `mpikeras train reconstruction`)"
        )
    if not tensorflow_available():
        raise ExportError(f"{path}: loading a SavedModel needs TensorFlow, which is missing")
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures[SIGNATURE_NAME]
    preprocessing = signature["preprocessing"]
    shape = signature["outputs"]["concentration"]["shape"]

    def predict(volts: np.ndarray) -> np.ndarray:
        return serve(signal=tf.constant(volts))["concentration"].numpy()

    return LearnedReconstructor(
        predict=predict,
        channels=tuple(int(c) for c in preprocessing["receive_channels"]),
        band_hz=tuple(float(f) for f in preprocessing["band_hz"]),
        num_samples=int(preprocessing["samples_per_period"]),
        image_shape=(1, int(shape[1]), int(shape[2])),
        source=str(path),
    )


def _json(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RunDirectoryError(f"{path}: unreadable ({exc})") from None
    if not isinstance(document, dict):
        raise RunDirectoryError(f"{path}: expected a JSON object")
    return document
