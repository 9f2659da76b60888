"""Field-dependent relaxation: a Debye time per voxel that reduces to Debye at low field."""

import dataclasses

import numpy as np

from mpikeras.io.acquisition import Acquisition, DriveField
from mpikeras.simulation import ParticleModel, preset, simulate_signals
from mpikeras.simulation.relaxation import FieldDependentRelaxation, effective_relaxation_time_s


def test_the_relaxation_time_follows_yoshida_and_enpuku():
    model = FieldDependentRelaxation(enabled=True)
    xi = np.array([0.0, 1.0, 10.0])
    assert np.allclose(model.relative_time(xi), 1 / np.sqrt(1 + 0.126 * xi**2))


def test_at_low_field_the_model_is_the_debye_filter():
    weak = Acquisition(drivefield=DriveField(strength_tesla=(1e-4, 1e-4, 0.0)))
    off = preset("openmpi-2d-19", acquisition=weak)
    on = dataclasses.replace(off, relaxation=FieldDependentRelaxation(enabled=True))
    points = np.array([[0.0, 0.0, 0.0], [5e-5, -5e-5, 0.0]])  # |B| <= 0.2 mT: xi <= 0.25
    a, b = simulate_signals(off, points), simulate_signals(on, points)
    assert np.linalg.norm(b - a) < 5e-3 * np.linalg.norm(a)
    # With the coefficient 0 the per-voxel path is the Debye filter (float32 rounding).
    zero = dataclasses.replace(off, relaxation=FieldDependentRelaxation(True, coefficient=0.0))
    assert np.allclose(simulate_signals(zero, points), a, rtol=1e-5, atol=1e-6 * np.abs(a).max())


def test_voxels_in_strong_fields_relax_faster_than_those_the_ffp_crosses():
    cfg = preset("openmpi-2d-19", relaxation=FieldDependentRelaxation(enabled=True))
    from mpikeras.simulation.particles import magnetite_volume_fraction
    from mpikeras.simulation.signal_model import field_magnitude_bound, moment_rate

    points = np.array([[0.0, 0.0, 0.0], [0.018, 0.018, 0.0]])  # centre, outside the 24 mm FOV
    table = cfg.particles.table(field_magnitude_bound(cfg.acquisition, points))
    weight = np.array([magnetite_volume_fraction(0.1)])
    rate = moment_rate(cfg.acquisition, table, points, np.zeros((1, 3)), weight)
    tau = effective_relaxation_time_s(cfg.relaxation, cfg.particles, cfg.acquisition, points, rate)
    tau0 = ParticleModel().relaxation_time_s
    assert tau0 > tau[0] > 0.3 * tau0  # the FFP crosses the centre: much of the signal at low field
    assert tau[1] < 0.5 * tau[0]  # always at >= 6 mT outside the FOV
    off = dataclasses.replace(cfg.relaxation, enabled=False)
    assert np.array_equal(
        effective_relaxation_time_s(off, cfg.particles, cfg.acquisition, points, rate), [tau0] * 2
    )
