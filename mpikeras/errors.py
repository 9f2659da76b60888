"""Error types of mpikeras.

Every error a user can cause with bad input is one of these. They subclass
`ValueError`, so `except ValueError` keeps working, and their message names
what was wrong, what was expected and what was received.
"""

from __future__ import annotations

import os
from typing import Any


class MPIKerasError(ValueError):
    """Base class of the errors raised for bad user input."""


class MDFError(MPIKerasError):
    """An MDF file is unreadable, incomplete or inconsistent.

    Everything after the path is passed by keyword, so that a raise reads as
    the message does and the formatter can lay it out:

    >>> str(MDFError("sm.mdf", field="/grid", problem="wrong shape", expected=3, actual=2))
    "sm.mdf: field '/grid': wrong shape; expected 3, got 2"

    Args:
        path: the file.
        field: the HDF5 path of the offending group or dataset (`/` for the
            file itself).
        problem: what is wrong, in a few words.
        expected: what the specification asks for, or `None`.
        actual: what the file holds, or `None`.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        field: str,
        problem: str,
        expected: Any = None,
        actual: Any = None,
    ) -> None:
        self.path = os.fspath(path)
        self.field = field
        self.problem = problem
        self.expected = expected
        self.actual = actual
        message = f"{self.path}: field '{field}': {problem}"
        if expected is not None:
            message += f"; expected {expected}"
        if actual is not None:
            message += f", got {actual}"
        super().__init__(message)


class ConfigError(MPIKerasError):
    """A configuration value is unknown, of the wrong type or out of range.

    Args:
        key: dotted name of the offending key, for example
            `augmentation.noise_ratio_db`.
        problem: what is wrong.
    """

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"configuration key '{key}': {problem}")


class PreprocessingError(MPIKerasError):
    """A preprocessing request cannot be met by the data (band, grid step, ...)."""


class RunDirectoryError(MPIKerasError):
    """A run directory is missing files or holds an incompatible run."""


class TrainingDivergedError(MPIKerasError):
    """Training produced a non-finite loss or non-finite weights; nothing of it was saved."""


class OutputExistsError(MPIKerasError):
    """An output would replace a file the user has, and `--overwrite` was not given."""


class ExportError(MPIKerasError):
    """An export cannot be written (target exists, wrong backend, bad option)."""


class ModelFileError(MPIKerasError):
    """A model file is missing, damaged, or refused by Keras' safe mode."""


class ResultsFileError(MPIKerasError):
    """A results file (`results.json`) is unreadable, malformed or of another schema version.

    Args:
        path: the file.
        field: the offending field (`<file>` for the file itself).
        problem: what is wrong, with what was expected and what the file holds.
    """

    def __init__(self, path: str | os.PathLike, field: str, problem: str) -> None:
        self.path = os.fspath(path)
        self.field = field
        self.problem = problem
        super().__init__(f"{self.path}: field '{field}': {problem}")
