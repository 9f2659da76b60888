"""The contrastive study: pools without leaks, label subsets, paired statistics, resume, report."""

import dataclasses
import json

import numpy as np
import pytest
from helpers import run_python

from mpikeras.data.sources import load_unlabelled_columns
from mpikeras.errors import ResultsFileError
from mpikeras.evaluation.statistics import Verdict
from mpikeras.experiments.contrastive_report import (
    arms_table,
    comparison_table,
    comparisons,
    power,
    study_markdown,
    write_study_outputs,
)
from mpikeras.experiments.contrastive_results import POOLS, Arm, RunScore, StudyResults
from mpikeras.io import read_system_matrix
from mpikeras.preprocessing.geometry import RecoveryGeometry
from mpikeras.preprocessing.signals import voxel_signals

# A test-sized study on PyTorch (eager), run twice: the second call resumes, training nothing.
TINY_STUDY = """
import dataclasses, json, sys
from mpikeras.experiments.contrastive_study import STUDY_PRESETS, contrastive_study

out = sys.argv[1]
tiny = dataclasses.replace(STUDY_PRESETS["smoke"], name="tiny", fractions=(0.5,), seeds=1)
lines = []
first = contrastive_study(out, tiny, scenario="paper", log=lines.append)
resumed = []
second = contrastive_study(out, tiny, scenario="paper", log=resumed.append)
print("LOG " + json.dumps([lines, resumed, first.to_dict()["runs"] == second.to_dict()["runs"]]))
"""


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    printed = run_python(TINY_STUDY, str(out)).stdout
    lines, resumed, same = json.loads(printed.split("LOG ", 1)[1])
    return out, lines, resumed, same


@pytest.mark.slow
def test_a_tiny_study_trains_every_arm_and_resumes_without_training(tiny_study):
    out, lines, resumed, same = tiny_study
    results = StudyResults.load(out / "results.json")
    arms = results.arms()
    assert len(arms) == 2 * (1 + len(POOLS)) + 1  # wo-CL and each pool, twice; + NT-Xent
    assert Arm(None, False, 1.0) in arms and Arm("calibration", True) in arms
    assert results.fractions() == [0.5] and results.seeds == (0,)
    assert all(len(run.nrmse) == 171 for run in results.runs)  # 9 rows x 19 columns
    assert all(1 <= run.best_epoch <= run.epochs for run in results.runs)
    assert set(results.baselines) == {"copy", "linear", "cubic", "lookup"}
    heads = [line for line in lines if "of the labels" in line]
    assert len(heads) == len(results.runs) == len(arms)
    assert not [line for line in resumed if "of the labels" in line] and same
    # every run's configuration says what it trained on
    config = json.loads((out / "seed-0" / "cl-test-scan-frozen-f050" / "config.json").read_text())
    assert config["label_fraction"] == 0.5 and config["freeze_encoder"] is True
    assert config["pretrained_encoder"].endswith("pretrain-test-scan/encoder.keras")
    pretrain = json.loads((out / "seed-0" / "pretrain-calibration" / "config.json").read_text())
    assert pretrain["data"]["unlabelled"] == [str(out / "data" / "train-calibration-3d.mdf")]
    written = write_study_outputs(results, out)
    assert [p.name for p in written] == ["study.md", "contrastive.png"]
    assert arms_table(results).markdown() in (out / "study.md").read_text()


@pytest.mark.slow
def test_no_test_target_enters_any_pretraining_pool(tiny_study):
    out = tiny_study[0]
    test_sm = read_system_matrix(out / "data" / "calibration-openmpi-2d-37.mdf", z_slice="central")
    fine = voxel_signals(test_sm).signals
    geo = RecoveryGeometry(*fine.shape[:2])
    targets = fine[geo.target_rows][:, geo.columns].reshape(-1, *fine.shape[2:])
    inputs = fine[geo.input_rows][:, geo.columns].reshape(-1, *fine.shape[2:])
    for pool in ("train-calibration-3d.mdf", "test-scan-inputs.mdf"):
        columns = load_unlabelled_columns([out / "data" / pool], (80e3, 600e3), (0, 1), (
            fine.shape[2:]))  # fmt: skip
        flat = columns.reshape(len(columns), -1).astype(np.float64)
        t = targets.reshape(len(targets), -1).astype(np.float64)
        distance = (flat**2).sum(1)[:, None] - 2 * flat @ t.T + (t**2).sum(1)[None]
        relative = np.sqrt(np.maximum(distance, 0)) / np.linalg.norm(t, axis=1)[None]
        assert relative.min() > 0.05, pool  # no target column, nor a copy of one
    test_scan = load_unlabelled_columns([out / "data" / "test-scan-inputs.mdf"], (80e3, 600e3),
                                        (0, 1), fine.shape[2:])  # fmt: skip
    np.testing.assert_allclose(test_scan, inputs, rtol=1e-5, atol=1e-6 * np.abs(inputs).max())


def _results(differences: dict[float, list[float]], seeds: int = 4) -> StudyResults:
    """Synthetic results: wo-CL at 2 % and above, CL (slice) shifted by the given differences."""
    runs = []
    for fraction, shifts in differences.items():
        for seed in range(seeds):
            base = 0.02 + 0.001 * seed
            runs.append(RunScore(Arm(), fraction, seed, (base,) * 3, 5, 10))
            runs.append(RunScore(Arm("slice"), fraction, seed, (base + shifts[seed],) * 3, 4, 10))
    return StudyResults("paper", "d", "cpu", "d", {}, tuple(range(seeds)), "torch",
                        {"lookup": (0.01, 0.01, 0.01)}, tuple(runs), 1.0)  # fmt: skip


def test_comparisons_pair_by_seed_and_say_better_worse_or_not_resolved():
    results = _results(
        {
            0.1: [-0.004, -0.005, -0.003, -0.004],
            0.5: [0.002, 0.003, 0.002, 0.0025],
            1.0: [0.004, -0.004, 0.001, -0.001],
        }
    )
    verdicts = {f: c.verdict for _, f, c in comparisons(results)}
    assert verdicts == {0.1: Verdict.BETTER, 0.5: Verdict.WORSE, 1.0: Verdict.NOT_RESOLVED}
    table = comparison_table(results).markdown()
    assert "| CL (slice) | fine-tuned | 10 % | -0.40 | " in table and "| worse |" in table
    assert "| wo-CL | fine-tuned | 2.15 ± 0.21 |" in arms_table(results).markdown()
    spread, needed = power(results)
    assert spread == pytest.approx(np.median([0.000816, 0.000479, 0.003559]), rel=1e-2)
    assert needed >= 3
    one_seed = dataclasses.replace(results, seeds=(0,))
    assert all(c.verdict is Verdict.UNDETERMINED for _, _, c in comparisons(one_seed))
    assert "Power: undetermined" in study_markdown(one_seed)


def test_results_round_trip_and_a_damaged_file_names_its_field(tmp_path):
    results = _results({0.5: [0.001] * 4})
    path = results.save(tmp_path / "results.json")
    assert StudyResults.load(path).to_dict() == results.to_dict()
    content = json.loads(path.read_text())
    content["runs"][1]["nrmse"] = "many"
    path.write_text(json.dumps(content))
    with pytest.raises(ResultsFileError, match=r"runs\[1\]"):
        StudyResults.load(path)
    path.write_text(json.dumps({**content, "study": "reproduce"}))
    with pytest.raises(ResultsFileError, match="contrastive"):
        StudyResults.load(path)
