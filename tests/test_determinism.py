"""The same seed reproduces simulation, input batches and (on the CPU) training exactly."""

import numpy as np
import pytest

from mpikeras.config import PretrainConfig
from mpikeras.data import VoxelSplit, contrastive_streams
from mpikeras.io import write_system_matrix
from mpikeras.preprocessing import Normalization, voxel_signals
from mpikeras.simulation import preset, simulate_system_matrix
from mpikeras.simulation.phantoms import simulate_measurement
from mpikeras.training.pretrain import pretrain


def test_simulation_is_reproducible_and_seed_dependent():
    a = simulate_system_matrix(preset("openmpi-2d-19"), seed=5)
    b = simulate_system_matrix(preset("openmpi-2d-19"), seed=5)
    c = simulate_system_matrix(preset("openmpi-2d-19"), seed=6)
    np.testing.assert_array_equal(a.spectra, b.spectra)
    np.testing.assert_array_equal(a.background, b.background)
    assert not np.array_equal(a.spectra, c.spectra)
    m1 = simulate_measurement("shape", preset("openmpi-2d-19"), seed=2, num_frames=2)
    m2 = simulate_measurement("shape", preset("openmpi-2d-19"), seed=2, num_frames=2)
    np.testing.assert_array_equal(m1.data, m2.data)


@pytest.mark.parametrize("pipeline", ["tf", "python"])
def test_input_batches_are_reproducible(pipeline):
    sm = simulate_system_matrix(preset("openmpi-2d-19"), seed=0)
    vs = voxel_signals(sm)
    vs = vs.normalized(Normalization.fit(vs.signals))
    split = VoxelSplit.random(vs.num_voxels, seed=1)
    first, second = (
        iter(contrastive_streams(vs, split, batch_size=4, seed=9, pipeline=pipeline).train)
        for _ in range(2)
    )
    for _ in range(3):
        a, b = next(first), next(second)
        np.testing.assert_array_equal(np.asarray(a["view_a"]), np.asarray(b["view_a"]))
        np.testing.assert_array_equal(np.asarray(a["view_b"]), np.asarray(b["view_b"]))


def test_training_metrics_are_reproducible_on_the_cpu(tmp_path):
    path = tmp_path / "sm.mdf"
    write_system_matrix(path, simulate_system_matrix(preset("openmpi-2d-19"), seed=0))
    config = PretrainConfig.from_dict(
        {
            "epochs": 2,
            "steps_per_epoch": 3,
            "batch_size": 8,
            "seed": 4,
            "encoder": {"filters": 8},
            "projector": {"hidden_units": 16, "output_units": 8},
            "data": {"source": str(path)},
        }
    )
    first = pretrain(config, tmp_path / "a", verbose=0).history
    second = pretrain(config, tmp_path / "b", verbose=0).history
    assert first == second
    other = pretrain(config.replace(seed=5), tmp_path / "c", verbose=0).history
    assert other != first
