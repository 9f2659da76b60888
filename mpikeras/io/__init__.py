"""MDF v2 files: system matrices and measurements, read and written as OpenMPIData does."""

from mpikeras.io.acquisition import Acquisition, DriveField
from mpikeras.io.atomic import atomic_path, write_text_atomic
from mpikeras.io.grid import Grid
from mpikeras.io.mdf import (
    REQUIRED_FIELDS,
    mdf_kind,
    missing_required_fields,
    read_measurement,
    read_system_matrix,
    write_measurement,
    write_system_matrix,
)
from mpikeras.io.mdf.frames import MeasurementFrames, open_measurement_frames
from mpikeras.io.mdf.validate import Finding, ValidationReport, validate_file
from mpikeras.io.measurement import Measurement
from mpikeras.io.metadata import Metadata
from mpikeras.io.summary import format_summary, summarize
from mpikeras.io.system_matrix import SystemMatrix

__all__ = [
    "REQUIRED_FIELDS",
    "Acquisition",
    "DriveField",
    "Finding",
    "Grid",
    "Measurement",
    "MeasurementFrames",
    "Metadata",
    "SystemMatrix",
    "ValidationReport",
    "atomic_path",
    "format_summary",
    "mdf_kind",
    "missing_required_fields",
    "open_measurement_frames",
    "read_measurement",
    "read_system_matrix",
    "summarize",
    "validate_file",
    "write_measurement",
    "write_system_matrix",
    "write_text_atomic",
]
