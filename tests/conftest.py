"""Shared pytest setup: makes `tests/helpers.py` importable as `helpers`.

Test modules in any subfolder can then `from helpers import run_layer_test`,
whether pytest runs as `pytest` or as `python -m pytest`.
"""

import sys
from pathlib import Path

_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)


def pytest_collection_modifyitems(config, items):
    """Run the files with slow tests first (each file keeps its order).

    The suite runs in two worker processes, a file at a time each
    (`--dist loadfile`); started last, one long file would leave the other
    worker idle at the end. Longest first is the classic remedy.
    """
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: order kept within
