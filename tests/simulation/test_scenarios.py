"""Scenarios: the registry, what differs, the files they write, and the gap between the pair."""

import json
from pathlib import Path

import numpy as np
import pytest

from mpikeras.cli.main import main
from mpikeras.errors import ConfigError, MPIKerasError
from mpikeras.io import Grid, read_measurement, read_system_matrix
from mpikeras.simulation import PRESETS, scenarios
from mpikeras.simulation.scenarios import (
    DEFAULT_SCENARIO,
    FILES,
    SCENARIOS,
    recorded_scenario,
    scenario,
    write_scenario,
)


def test_the_registry_holds_the_named_worlds_and_paper_is_the_default():
    assert {"near-identical", "paper", "new-tracer", "drift"} <= set(SCENARIOS)
    assert DEFAULT_SCENARIO == "paper"  # the paper's situation: the same tracer, calibrated again
    with pytest.raises(ConfigError, match="near-identical"):
        scenario("nope")


def test_near_identical_is_the_simulator_without_effects_and_the_others_switch_them_on():
    train, test = SCENARIOS["near-identical"].configs()
    assert train == PRESETS_CONFIG("openmpi-2d-19") and test == PRESETS_CONFIG("openmpi-2d-37")
    for name in ("paper", "new-tracer", "drift"):
        train, test = SCENARIOS[name].configs()
        assert train.background.enabled and test.coils.enabled and test.relaxation.enabled
        assert test.delta_sample_size_m == (0.002, 0.002, 0.001)  # OpenMPIData's sample
    train, test = SCENARIOS["new-tracer"].configs()
    assert test.particles != train.particles
    train, test = SCENARIOS["drift"].configs()
    assert not train.batch.enabled and not test.batch.enabled  # the same tracer batch
    assert test.coils.temperature_offset_kelvin == 5.0


def PRESETS_CONFIG(name):
    from mpikeras.simulation import preset

    return preset(name)


@pytest.fixture
def tiny(monkeypatch):
    """Scenarios on a 5 x 5 grid (2 and 1 mm pitch) instead of 19 x 19 and 37 x 37."""
    monkeypatch.setitem(
        PRESETS,
        "tiny-train",
        {
            "grid": Grid((5, 5, 5), (0.010, 0.010, 0.005)),
            "delta_sample_size_m": (0.002, 0.002, 0.001),
        },
    )
    monkeypatch.setitem(
        PRESETS,
        "tiny-test",
        {
            "grid": Grid((9, 9, 9), (0.009, 0.009, 0.0045)),
            "delta_sample_size_m": (0.001, 0.001, 0.0005),
        },
    )
    monkeypatch.setattr(scenarios, "TRAIN_PRESET", "tiny-train")
    monkeypatch.setattr(scenarios, "TEST_PRESET", "tiny-test")


def test_simulate_scenario_writes_the_pair_and_refuses_to_mix_worlds(tiny, tmp_path, capsys):
    out = tmp_path / "paper"
    assert main(["simulate", "--scenario", "paper", "--out", str(out)]) == 0
    assert "wrote scenario paper" in capsys.readouterr().out
    assert json.loads((out / "scenario.json").read_text())["scenario"] == "paper"
    train = read_system_matrix(out / FILES["train_sm"])
    test = read_system_matrix(out / FILES["test_sm"])
    assert train.grid.size == (5, 5, 1) and test.grid.size == (9, 9, 1)
    assert test.background.shape[-1] == 10  # interleaved: one per row of 9, and one more
    assert read_measurement(out / FILES["measurement"]).num_frames == 20
    noise_free = read_system_matrix(out / FILES["noise_free_test_sm"])
    assert np.linalg.norm(noise_free.spectra - test.spectra) < np.linalg.norm(test.spectra)
    assert recorded_scenario(out) == "paper"
    assert main(["simulate", "--scenario", "paper", "--out", str(out)]) != 0
    assert "exists already" in capsys.readouterr().err
    with pytest.raises(MPIKerasError, match="scenario 'paper'"):
        write_scenario("drift", out, log=lambda _: None)


#: The train-vs-test gaps of docs/simulator.md's scenario table (noise-free NRMSE, %).
DOCUMENTED_GAPS = {"near-identical": "0.45", "paper": "1.08", "new-tracer": "2.40", "drift": "0.29"}


@pytest.mark.parametrize("name", sorted(DOCUMENTED_GAPS))
def test_each_pair_differs_by_the_documented_gap(name):
    from mpikeras.experiments.scenario_gap import same_position_nrmse

    gap = same_position_nrmse(name)
    assert gap.shape == (19, 19)
    assert f"{100 * gap.mean():.2f}" == DOCUMENTED_GAPS[name]
    docs = (Path(__file__).parents[2] / "docs" / "simulator.md").read_text()
    assert f"| `{name}`" in docs and f"| {DOCUMENTED_GAPS[name]} % |" in docs
