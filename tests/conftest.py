"""Shared pytest setup: makes `tests/helpers.py` importable as `helpers`.

Test modules in any subfolder can then `from helpers import run_layer_test`,
whether pytest runs as `pytest` or as `python -m pytest`.
"""

import os
import sys
from pathlib import Path

#: One compute thread per engine in every test process and the processes it starts: the
#: suite runs two worker processes on two cores, and many tests start more; engines that
#: each keep a thread pool per core then spin against each other. Set before any engine
#: loads; a value already in the environment wins.
THREAD_LIMITS = {
    "OMP_NUM_THREADS": "1",  # PyTorch's intra-op pool, OpenBLAS, MKL
    "TF_NUM_INTRAOP_THREADS": "1",  # TensorFlow (inter-op left alone: collectives block)
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",  # JAX
}
for _name, _value in THREAD_LIMITS.items():
    os.environ.setdefault(_name, _value)

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
