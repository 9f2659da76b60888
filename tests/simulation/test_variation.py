"""Delta-sample errors and tracer batches: drawn per calibration from its seed only."""

import numpy as np
import pytest

from mpikeras.errors import ConfigError
from mpikeras.simulation import ParticleModel, preset
from mpikeras.simulation.calibration import effect_generators, realise
from mpikeras.simulation.variation import DeltaSampleErrors, TracerBatch


def test_switched_off_the_sample_and_the_batch_are_nominal():
    factor, offsets = DeltaSampleErrors().draw(np.random.default_rng(0), 5)
    assert factor == 1.0 and np.array_equal(offsets, np.zeros((5, 3)))
    assert TracerBatch().draw(ParticleModel(), np.random.default_rng(0)) == ParticleModel()
    cfg = preset("openmpi-2d-19")
    positions = cfg.scan_grid.positions_m().reshape(-1, 3)
    realised, actual = realise(cfg, 0, positions)
    assert realised is cfg and actual is positions


def test_the_draws_have_the_configured_spread():
    errors = DeltaSampleErrors(enabled=True)
    factors = [errors.draw(np.random.default_rng(s), 1)[0] for s in range(2000)]
    assert np.std(factors) == pytest.approx(errors.concentration_error_std, rel=0.1)
    _, offsets = errors.draw(np.random.default_rng(0), 20000)
    assert np.std(offsets) == pytest.approx(errors.position_jitter_std_m, rel=0.05)
    batch = TracerBatch(enabled=True)
    d = [
        batch.draw(ParticleModel(), np.random.default_rng(s)).median_diameter_m for s in range(2000)
    ]
    assert np.std(d) / 22e-9 == pytest.approx(batch.diameter_std, rel=0.1)


def test_a_calibration_draws_depend_on_its_seed_only_and_each_effect_has_its_own_stream():
    cfg = preset("openmpi-2d-19").with_effects()
    positions = cfg.scan_grid.positions_m().reshape(-1, 3)
    a, pa = realise(cfg, 7, positions)
    b, pb = realise(cfg, 7, positions)
    c, pc = realise(cfg, 8, positions)
    assert a == b and np.array_equal(pa, pb)
    assert a.particles != c.particles and not np.array_equal(pa, pc)
    # Switching the sample errors off leaves the batch's draw unchanged.
    no_sample = cfg.with_effects(False).with_effects()
    import dataclasses

    no_sample = dataclasses.replace(no_sample, sample_errors=DeltaSampleErrors())
    assert realise(no_sample, 7, positions)[0].particles == a.particles
    streams = effect_generators(7)
    assert streams["noise"].random() == np.random.default_rng(7).random()


def test_the_variation_models_refuse_negative_spreads():
    with pytest.raises(ConfigError, match="position_jitter_std_m"):
        DeltaSampleErrors(position_jitter_std_m=-1.0)
    with pytest.raises(ConfigError, match="sigma_std"):
        TracerBatch(sigma_std=-0.1)
