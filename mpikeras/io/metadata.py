"""Descriptive MDF metadata: study, experiment, scanner and tracer."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Metadata:
    """The mandatory descriptive fields of an MDF v2 file.

    Field names follow the MDF groups (`/study`, `/experiment`, `/scanner`,
    `/tracer`); the tracer holds one material (A = 1).
    """

    study_name: str = "mpikeras"
    study_number: int = 1
    study_description: str = ""
    experiment_name: str = ""
    experiment_number: int = 1
    experiment_description: str = ""
    experiment_subject: str = ""
    is_simulation: bool = True
    scanner_facility: str = "mpikeras simulator"
    scanner_manufacturer: str = "Bruker (simulated)"
    scanner_name: str = "Preclinical MPI system (simulated)"
    scanner_operator: str = "mpikeras"
    scanner_topology: str = "FFP"
    tracer_name: str = "perimag (simulated)"
    tracer_batch: str = ""
    tracer_vendor: str = "micromod (simulated)"
    tracer_solute: str = "Fe"
    tracer_concentration_mol_per_l: float = 0.1
    tracer_volume_l: float = 0.0
