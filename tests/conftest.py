"""Shared pytest setup: makes `tests/helpers.py` importable as `helpers`.

Test modules in any subfolder can then `from helpers import run_layer_test`,
whether pytest runs as `pytest` or as `python -m pytest`.
"""

import sys
from pathlib import Path

_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)
