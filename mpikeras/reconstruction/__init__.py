"""Classic MPI reconstruction: frequency selection and regularised Kaczmarz (MPIReco.jl)."""

from mpikeras.reconstruction.frequency_selection import (
    DEFAULT_MIN_FREQUENCY_HZ,
    DEFAULT_SNR_THRESHOLD,
    select_frequencies,
)
from mpikeras.reconstruction.kaczmarz import effective_lambda, kaczmarz
from mpikeras.reconstruction.reconstruct import reconstruct

__all__ = [
    "DEFAULT_MIN_FREQUENCY_HZ",
    "DEFAULT_SNR_THRESHOLD",
    "effective_lambda",
    "kaczmarz",
    "reconstruct",
    "select_frequencies",
]
