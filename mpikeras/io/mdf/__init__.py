"""MDF v2 files (HDF5), read and written as OpenMPIData ships them.

Modules, bottom up:

- `schema`: the version written, the mandatory fields and the flag names.
- `access`: validated HDF5 access; every problem an `MDFError` naming the field.
- `groups`, `grids`: `/acquisition` and the metadata groups; the calibration
  grid and the simulated ground truth.
- `background`: background frames and MPIFiles' background correction.
- `layout`: the layout of `/measurement/data`, its frames read and converted.
- `writer`: reproducible datasets and the groups every file has.
- `read`, `write`: the public readers and writers.
- `frames`: a measurement's frames read block by block (frame streams).
"""

from mpikeras.io.mdf.read import (
    mdf_kind,
    missing_required_fields,
    read_measurement,
    read_system_matrix,
)
from mpikeras.io.mdf.schema import REQUIRED_FIELDS
from mpikeras.io.mdf.write import write_measurement, write_system_matrix

__all__ = [
    "REQUIRED_FIELDS",
    "mdf_kind",
    "missing_required_fields",
    "read_measurement",
    "read_system_matrix",
    "write_measurement",
    "write_system_matrix",
]
