"""Exports of trained models for deployment.

`export_saved_model` writes a TensorFlow SavedModel whose "serve" signature
takes band-passed voltages and applies the training normalisation itself
(see docs/deployment.md). Importing this package does not import
TensorFlow (Keras' TensorFlow backend does); exporting needs it installed.
"""

from mpikeras.export.saved_model import (
    JAX_PLATFORMS,
    SIGNATURE_FILE,
    SIGNATURE_NAME,
    ExportError,
    ServingFunction,
    export_saved_model,
    load_task_model,
    serving_function,
    source_delta_sample_volume_mm3,
)

__all__ = [
    "JAX_PLATFORMS",
    "SIGNATURE_FILE",
    "SIGNATURE_NAME",
    "ExportError",
    "ServingFunction",
    "export_saved_model",
    "load_task_model",
    "serving_function",
    "source_delta_sample_volume_mm3",
]
