"""A physics-based simulator of the OpenMPIData (Bruker preclinical) scanner."""

from mpikeras.simulation.calibration import (
    CalibrationConfig,
    box_quadrature,
    simulate_signals,
    simulate_system_matrix,
)
from mpikeras.simulation.dynamic import Bolus, DynamicMeasurement, simulate_bolus
from mpikeras.simulation.particles import ParticleModel, langevin, langevin_derivative
from mpikeras.simulation.presets import PRESETS, preset
from mpikeras.simulation.receiver import ReceiveChain

__all__ = [
    "PRESETS",
    "Bolus",
    "CalibrationConfig",
    "DynamicMeasurement",
    "ParticleModel",
    "ReceiveChain",
    "box_quadrature",
    "langevin",
    "langevin_derivative",
    "preset",
    "simulate_bolus",
    "simulate_signals",
    "simulate_system_matrix",
]
