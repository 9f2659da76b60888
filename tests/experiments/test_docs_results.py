"""docs/results.md and docs/contrastive.md show what the committed results say, table for table."""

import json
from pathlib import Path

import pytest

from mpikeras.config import RecoveryHeadConfig
from mpikeras.experiments.contrastive_report import study_markdown
from mpikeras.experiments.contrastive_results import StudyResults
from mpikeras.experiments.report import baselines_table, phantom_table, results_table, verdict
from mpikeras.experiments.reproduce import HEADS
from mpikeras.experiments.results import Results
from mpikeras.simulation.scenarios import DEFAULT_SCENARIO

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "docs" / "data"
PAGE = (ROOT / "docs" / "results.md").read_text()


def test_the_results_page_renders_the_committed_results():
    results = Results.load(DATA / "reproduce-quick" / "results.json")
    assert len(results.seeds) >= 3  # a paired verdict needs three seeds
    assert results.settings["scenario"] == DEFAULT_SCENARIO  # what `reproduce` runs
    for table in (results_table(results), baselines_table(results), phantom_table(results)):
        assert table.markdown() in PAGE, table.markdown()
    for line in verdict(results):
        assert line.strip() in PAGE, line


#: The other simulated worlds of the page: scenario -> its data folder.
SCENARIO_RESULTS = {
    "near-identical": "reproduce-quick-near-identical",
    "new-tracer": "reproduce-quick-new-tracer",
    "drift": "reproduce-quick-drift",
}


@pytest.mark.parametrize("scenario", sorted(SCENARIO_RESULTS))
def test_each_scenario_section_renders_its_committed_results(scenario):
    results = Results.load(DATA / SCENARIO_RESULTS[scenario] / "results.json")
    # Results written before scenarios existed record none: they are near-identical's.
    assert results.settings.get("scenario", "near-identical") == scenario
    for table in (results_table(results), baselines_table(results)):
        assert table.markdown() in PAGE, table.markdown()
    for line in verdict(results):
        assert line.strip() in PAGE, line


@pytest.mark.parametrize("folder", ["reproduce-quick", *sorted(SCENARIO_RESULTS.values())])
def test_every_run_behind_the_results_has_its_history_and_configuration(folder):
    results = Results.load(DATA / folder / "results.json")
    for seed in results.seeds:
        for run in ("pretrain", *HEADS):
            folder_of_run = DATA / folder / f"seed-{seed}" / run
            history = json.loads((folder_of_run / "history.json").read_text())
            assert history["loss"] and len(history["loss"]) == len(history["val_loss"]), run
            assert json.loads((folder_of_run / "config.json").read_text())["seed"] == seed


def test_the_bracket_head_defaults_are_the_validation_choice():
    selection = json.loads((DATA / "bracket-selection.json").read_text())
    chosen = selection["chosen"]
    losses = [c["best_val_loss"] for c in selection["candidates"].values()]
    assert chosen["best_val_loss"] == min(losses) and len(losses) >= 4
    defaults = RecoveryHeadConfig()
    assert (chosen["bracket_filters"], chosen["bracket_kernel_size"]) == (
        defaults.bracket_filters,
        defaults.bracket_kernel_size,
    )
    assert f"{chosen['best_val_loss']:.3g}" in PAGE


#: The committed contrastive studies behind docs/contrastive.md: scenario -> its data folder.
CONTRASTIVE_STUDIES = {"paper": "contrastive-paper", "new-tracer": "contrastive-new-tracer"}
CONTRASTIVE_PAGE = (ROOT / "docs" / "contrastive.md").read_text()


@pytest.mark.parametrize("scenario", sorted(CONTRASTIVE_STUDIES))
def test_the_contrastive_page_renders_each_committed_study(scenario):
    results = StudyResults.load(DATA / CONTRASTIVE_STUDIES[scenario] / "results.json")
    assert results.scenario == scenario and results.preset == "cpu"
    assert len(results.seeds) >= 3  # a paired verdict needs three seeds
    assert study_markdown(results) in CONTRASTIVE_PAGE
    assert f"![{scenario}](img/contrastive-{scenario}.png)" in CONTRASTIVE_PAGE
    assert (ROOT / "docs" / "img" / f"contrastive-{scenario}.png").is_file()
