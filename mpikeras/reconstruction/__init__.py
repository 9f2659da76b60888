"""MPI reconstruction: frequency selection and regularised Kaczmarz (MPIReco.jl), frame streams.

The learned reconstructor of frame streams is in `mpikeras.export.reconstructor`
(imported on its own: it needs Keras).
"""

from mpikeras.reconstruction.frequency_selection import (
    DEFAULT_MIN_FREQUENCY_HZ,
    DEFAULT_SNR_THRESHOLD,
    select_frequencies,
)
from mpikeras.reconstruction.kaczmarz import effective_lambda, kaczmarz
from mpikeras.reconstruction.reconstruct import check_acquisition, reconstruct
from mpikeras.reconstruction.solvers import (
    KaczmarzSolver,
    TikhonovOperator,
    kaczmarz_solver,
    tikhonov_operator,
)
from mpikeras.reconstruction.stream import StreamResult, frame_duration_s, reconstruct_stream

__all__ = [
    "DEFAULT_MIN_FREQUENCY_HZ",
    "DEFAULT_SNR_THRESHOLD",
    "KaczmarzSolver",
    "StreamResult",
    "TikhonovOperator",
    "check_acquisition",
    "effective_lambda",
    "frame_duration_s",
    "kaczmarz",
    "kaczmarz_solver",
    "reconstruct",
    "reconstruct_stream",
    "select_frequencies",
    "tikhonov_operator",
]
