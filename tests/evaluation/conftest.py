import pytest

from mpikeras.simulation import preset, simulate_system_matrix
from mpikeras.simulation.phantoms import simulate_measurement


@pytest.fixture(scope="package")
def data():
    """The protocol's simulated training SM, test SM and resolution phantom."""
    train = simulate_system_matrix(preset("openmpi-2d-19"), seed=0)
    test = simulate_system_matrix(preset("openmpi-2d-37"), seed=1)
    measurement = simulate_measurement("resolution", preset("openmpi-2d-37"), seed=2)
    return train, test, measurement
