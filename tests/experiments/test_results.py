import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest

from mpikeras.errors import ResultsFileError
from mpikeras.evaluation.metrics import mean_std
from mpikeras.experiments.report import (
    baselines_table,
    results_table,
    strongest_baseline,
    verdict,
)
from mpikeras.experiments.results import (
    KACZMARZ_ORACLE,
    KACZMARZ_PAPER,
    LINEAR,
    LOOKUP,
    METHODS,
    NOISE_FLOOR,
    RECONSTRUCTION_CL,
    RECONSTRUCTION_WO_CL,
    RECOVERY_CL,
    RECOVERY_WO_CL,
    SCHEMA_VERSION,
    TEST_VOXELS,
    VALIDATION,
    Kind,
    PhantomScore,
    Results,
    Score,
    Task,
    learned_method,
    protocol_method,
    trained_method,
)
from mpikeras.experiments.table import Table

ROOT = Path(__file__).resolve().parents[2]


def _results() -> Results:
    rng = np.random.default_rng(0)
    scores = (
        Score(LINEAR, TEST_VOXELS, (rng.random(171), rng.random(171))),
        Score(RECOVERY_WO_CL, TEST_VOXELS, (rng.random(171), rng.random(171))),
        Score(RECOVERY_CL, TEST_VOXELS, (rng.random(171), rng.random(171))),
        Score(RECONSTRUCTION_WO_CL, TEST_VOXELS, (rng.random(361), rng.random(361))),
        Score(KACZMARZ_PAPER, TEST_VOXELS, (rng.random(361), rng.random(361))),
        Score(RECOVERY_CL, VALIDATION, (np.array([0.5]), np.array([0.25]))),
        Score(
            learned_method("joint CL", Task.RECOVERY, name="joint-cl"),
            TEST_VOXELS,
            (np.array([0.1, 0.2]),),
        ),
    )
    return Results(
        "reproduce",
        description="a test",
        preset="tiny",
        seeds=(0, 1),
        backend="tensorflow",
        data={"train_sm": "train.mdf"},
        scores=scores,
        phantom={"ground truth": PhantomScore(0.0, 0.1), "CL": PhantomScore(0.05)},
        example_voxel=(9, 9),
        settings={"epochs": 3},
        elapsed_s=1.5,
    )


def test_statistics_pool_voxels_and_seeds_like_mean_std():
    a, b = np.array([0.1, 0.2, 0.3]), np.array([0.3, 0.5, 0.4])
    stats = Score(LINEAR, TEST_VOXELS, (a, b)).stats()
    pooled = mean_std(np.concatenate([a, b]))
    assert (stats.mean, stats.std, stats.n) == (pooled["mean"], pooled["std"], pooled["n"])
    assert stats.seeds == 2 and stats.seed_std == pytest.approx(0.1)
    per_seed = Score(LINEAR, TEST_VOXELS, (a, b)).seed_stats()
    assert per_seed.mean == pytest.approx(0.3) and per_seed.std == pytest.approx(0.1)
    assert per_seed.n == 2


def test_results_json_round_trips_every_value(tmp_path):
    results = _results()
    path = results.save(tmp_path / "results.json")
    content = json.loads(path.read_text())
    assert content["schema_version"] == SCHEMA_VERSION
    loaded = Results.load(path)
    assert loaded.to_dict() == results.to_dict()
    for original, read in zip(results.scores, loaded.scores, strict=True):
        assert read.method == original.method and read.target == original.target
        for x, y in zip(original.per_seed, read.per_seed, strict=True):
            np.testing.assert_array_equal(x, y)
    assert loaded.score(RECOVERY_CL) is not None and loaded.score(RECOVERY_CL, VALIDATION)
    assert loaded.example_voxel == (9, 9) and loaded.phantom["CL"].vs_truth is None
    assert loaded.methods(Task.RECOVERY)[:3] == [LINEAR, RECOVERY_WO_CL, RECOVERY_CL]
    # An NRMSE against a constant truth is inf (`nrmse`): it is kept, too.
    infinite = Results("evaluate", scores=(Score(LINEAR, TEST_VOXELS, (np.array([0.1, np.inf]),)),))
    with np.errstate(invalid="ignore"):
        again = Results.load(infinite.save(tmp_path / "inf.json"))
    np.testing.assert_array_equal(again.scores[0].per_seed[0], [0.1, np.inf])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c: c.update(schema_version=1), "schema_version"),
        (lambda c: c.pop("schema_version"), "schema_version"),
        (lambda c: c.pop("scores"), "scores"),
        (lambda c: c["scores"][1].update(target="elsewhere"), "scores[1].target"),
        (lambda c: c["scores"][0]["method"].update(task="denoising"), "scores[0].method.task"),
        (lambda c: c["scores"][0]["method"].update(kind=3), "scores[0].method.kind"),
        (lambda c: c["scores"][2].update(per_seed=[]), "scores[2].per_seed"),
        (lambda c: c["scores"][2]["per_seed"].append(["x"]), "scores[2].per_seed[2]"),
        (lambda c: c.update(seeds="0"), "seeds"),
        (lambda c: c.update(example_voxel=[1]), "example_voxel"),
        (lambda c: c["phantom"]["CL"].pop("vs_gt_sm"), "phantom.CL.vs_gt_sm"),
    ],
)
def test_a_malformed_or_foreign_file_is_refused_naming_file_and_field(tmp_path, change, field):
    content = _results().to_dict()
    change(content)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ResultsFileError, match=re.escape(f"field '{field}'")) as error:
        Results.load(path)
    assert error.value.field == field and str(path) in str(error.value)


def test_a_file_that_is_not_json_is_refused(tmp_path):
    path = tmp_path / "results.json"
    path.write_text("{")
    with pytest.raises(ResultsFileError, match="is not JSON"):
        Results.load(path)
    with pytest.raises(ResultsFileError, match="cannot be read"):
        Results.load(tmp_path / "missing.json")


def test_methods_are_named_constants_with_task_and_kind():
    assert len({(m.task, m.name) for m in METHODS}) == len(METHODS)
    assert protocol_method("Kaczmarz (paper setting)", Task.RECONSTRUCTION) is KACZMARZ_PAPER
    assert KACZMARZ_PAPER.kind is Kind.CLASSIC and LINEAR.kind is Kind.BASELINE
    assert KACZMARZ_ORACLE.kind is Kind.ORACLE and not Kind.ORACLE.competes
    assert NOISE_FLOOR.kind is Kind.REFERENCE and not Kind.REFERENCE.competes
    assert learned_method("CL", Task.RECOVERY) is RECOVERY_CL
    assert learned_method("CL", Task.RECONSTRUCTION) is RECONSTRUCTION_CL
    assert learned_method("mine", Task.RECOVERY).kind is Kind.LEARNED
    assert trained_method(Task.RECOVERY, pretrained=True, bracket=True).label == "bracket CL"
    assert trained_method(Task.RECONSTRUCTION, pretrained=False) is RECONSTRUCTION_WO_CL
    with pytest.raises(KeyError, match="no method labelled"):
        protocol_method("linear", Task.RECONSTRUCTION)


def test_one_table_type_renders_markdown_text_and_csv():
    table = Table(("a", "b"), (("x", 1.5), ("y, z", "-")))
    assert table.markdown().splitlines() == [
        "| a | b |",
        "|---|---|",
        "| x | 1.5 |",
        "| y, z | - |",
    ]
    assert table.text().splitlines() == ["a     b  ", "----  ---", "x     1.5", "y, z  -  "]
    assert table.csv() == 'a,b\nx,1.5\n"y, z",-\n'
    with pytest.raises(ValueError, match="row 0 has 1 cells"):
        Table(("a", "b"), (("x",),))


def test_report_tables_read_the_typed_results():
    results = _results()
    rows = results_table(results).rows
    assert rows[0][0] == "recovery NRMSE (%)" and rows[0][3] == "-"
    assert rows[1][2] == "-"  # no reconstruction CL score
    assert rows[1][1] == results.stats(RECONSTRUCTION_WO_CL).percent()
    labels = [row[1] for row in baselines_table(results).rows]
    assert labels[:3] == ["linear", "wo-CL", "CL"] and "Kaczmarz (paper setting)" in labels


def _seeded(values_per_seed, n=50, spread=0.001, seed=0):
    """Per-seed per-voxel NRMSEs around the given per-seed means."""
    rng = np.random.default_rng(seed)
    return tuple(m + spread * rng.standard_normal(n) for m in values_per_seed)


def _study(seeds: int) -> Results:
    lookup = _seeded([0.015] * seeds, seed=1)
    oracle = _seeded([0.001] * seeds, seed=2)
    wo_cl = _seeded([0.030, 0.031, 0.029, 0.030][:seeds], seed=3)
    cl = _seeded([0.035, 0.036, 0.034, 0.036][:seeds], seed=4)
    return Results(
        "reproduce",
        seeds=tuple(range(seeds)),
        scores=(
            Score(LINEAR, TEST_VOXELS, _seeded([0.035] * seeds, seed=5)),
            Score(LOOKUP, TEST_VOXELS, lookup),
            Score(NOISE_FLOOR, TEST_VOXELS, oracle),
            Score(RECOVERY_WO_CL, TEST_VOXELS, wo_cl),
            Score(RECOVERY_CL, TEST_VOXELS, cl),
        ),
    )


def test_the_strongest_baseline_is_never_an_oracle_or_a_reference():
    assert strongest_baseline(_study(3), Task.RECOVERY) is LOOKUP


def test_a_worse_learned_method_reads_worse_with_three_seeds():
    lines = verdict(_study(3))
    assert "  - wo-CL is worse than lookup" in "\n".join(lines)
    assert any(line.startswith("  - Beat it: none") for line in lines)
    cl = next(line for line in lines if line.startswith("- Contrastive pretraining, recovery"))
    assert "CL is worse than wo-CL" in cl and "95 % CI" in cl and "3 seeds" in cl
    assert not any("on par" in line for line in lines)


def test_one_or_two_seeds_read_undetermined():
    for seeds in (1, 2):
        lines = verdict(_study(seeds))
        compared = [line for line in lines if line.startswith(("  - wo-CL", "  - CL", "- Contr"))]
        assert compared and all("undetermined" in line for line in compared), lines
        assert any(line.startswith("  - Beat it: none") for line in lines)


def test_a_better_learned_method_is_named_as_beating_the_baseline():
    study = _study(3)
    better = Score(RECOVERY_CL, TEST_VOXELS, _seeded([0.010, 0.011, 0.009], seed=6))
    scores = (*(s for s in study.scores if s.method is not RECOVERY_CL), better)
    lines = verdict(Results("reproduce", seeds=(0, 1, 2), scores=scores))
    assert any(line.startswith("  - CL is better than lookup") for line in lines)
    assert any(line.startswith("  - Beat it: CL;") for line in lines)


def test_evaluation_imports_no_driver():
    """The measuring layer sits below the drivers: no import of experiments or cli."""
    for path in (ROOT / "mpikeras" / "evaluation").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(("mpikeras.experiments", "mpikeras.cli", "tuning")), (
                    f"{path.name} imports {name}"
                )
