import pytest

from mpikeras.io import write_system_matrix
from mpikeras.simulation import preset, simulate_system_matrix


@pytest.fixture(scope="session")
def train_sm_path(tmp_path_factory):
    """A simulated 19 x 19 training SM, written once per session."""
    path = tmp_path_factory.mktemp("data") / "train.mdf"
    write_system_matrix(path, simulate_system_matrix(preset("openmpi-2d-19"), seed=0))
    return path


@pytest.fixture
def tiny(train_sm_path):
    """A configuration dict small enough for a test: 8 filters, 2 steps per epoch."""
    return {
        "data": {"source": str(train_sm_path)},
        "encoder": {"filters": 8},
        "projector": {"hidden_units": 16, "output_units": 8},
        "steps_per_epoch": 2,
        "batch_size": 8,
        "optimizer": {"learning_rate": 1e-3},
    }
