"""A physics-based simulator of the OpenMPIData (Bruker preclinical) scanner."""

from mpikeras.simulation.background import BackgroundModel
from mpikeras.simulation.calibration import (
    CalibrationConfig,
    box_quadrature,
    simulate_signals,
    simulate_system_matrix,
)
from mpikeras.simulation.coils import CoilModel
from mpikeras.simulation.dynamic import Bolus, DynamicMeasurement, simulate_bolus
from mpikeras.simulation.particles import ParticleModel, langevin, langevin_derivative
from mpikeras.simulation.presets import PRESETS, preset
from mpikeras.simulation.receiver import ReceiveChain
from mpikeras.simulation.relaxation import FieldDependentRelaxation
from mpikeras.simulation.variation import DeltaSampleErrors, TracerBatch

__all__ = [
    "PRESETS",
    "BackgroundModel",
    "Bolus",
    "CalibrationConfig",
    "CoilModel",
    "DeltaSampleErrors",
    "DynamicMeasurement",
    "FieldDependentRelaxation",
    "ParticleModel",
    "ReceiveChain",
    "TracerBatch",
    "box_quadrature",
    "langevin",
    "langevin_derivative",
    "preset",
    "simulate_bolus",
    "simulate_signals",
    "simulate_system_matrix",
]
