import contextlib
import csv
import io
import json

import keras_tuner as kt
import pytest
from helpers import tiny_config

from mpikeras.cli.main import main
from mpikeras.config import PretrainConfig
from mpikeras.io import write_system_matrix
from mpikeras.simulation import preset, simulate_system_matrix
from mpikeras.tuning.__main__ import main as tuning_main
from mpikeras.tuning.hypermodel import ContrastiveHyperModel, declare_hyperparameters
from mpikeras.tuning.search import run_search

OBJECTIVE = "val_recovery_mse"


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("tune-data")
    sm_path = root / "train.mdf"
    write_system_matrix(sm_path, simulate_system_matrix(preset("openmpi-2d-19")))
    path = root / "tiny.json"
    path.write_text(json.dumps(tiny_config(sm_path)))
    return path


def tune_argv(out, config_file, max_trials, *extra):
    return [
        "tune",
        "--task",
        "recovery",
        "--max-trials",
        str(max_trials),
        "--out",
        str(out),
        "--config",
        str(config_file),
        "--pretrain-epochs",
        "1",
        "--finetune-epochs",
        "1",
        *extra,
    ]


@pytest.fixture(scope="module")
def search(tmp_path_factory, config_file):
    """`mpikeras tune` run three times in one directory: 1 trial, then up to 2, then 2 again."""
    out = tmp_path_factory.mktemp("search")
    fitted: list[dict] = []
    fit = ContrastiveHyperModel.fit

    def counting_fit(self, hp, model, *args, **kwargs):
        fitted.append(dict(hp.values))
        return fit(self, hp, model, *args, **kwargs)

    runs = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ContrastiveHyperModel, "fit", counting_fit)
        for max_trials in (1, 2, 2):
            before = len(fitted)
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                code = main(tune_argv(out, config_file, max_trials))
            runs.append({"code": code, "fits": fitted[before:], "printed": printed.getvalue()})
    return out, runs


@pytest.mark.slow
def test_search_resumes_and_runs_only_the_missing_trials(search):
    out, runs = search
    assert [r["code"] for r in runs] == [0, 0, 0]
    assert [len(r["fits"]) for r in runs] == [1, 1, 0]
    assert runs[0]["fits"][0] != runs[1]["fits"][0]  # the second run drew a new trial
    trials = sorted((out / "search").glob("trial_*/trial.json"))
    assert len(trials) == 2
    statuses = [json.loads(p.read_text())["status"] for p in trials]
    assert statuses == ["COMPLETED", "COMPLETED"]


@pytest.mark.slow
def test_trial_tables_are_ranked_by_the_objective(search):
    out, _ = search
    with open(out / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    values = [float(r[OBJECTIVE]) for r in rows]
    assert values == sorted(values)
    assert [r["rank"] for r in rows] == ["1", "2"]
    scores = {
        p.parent.name.removeprefix("trial_"): json.loads(p.read_text())["score"]
        for p in (out / "search").glob("trial_*/trial.json")
    }
    assert {r["trial"]: float(r[OBJECTIVE]) for r in rows} == pytest.approx(scores)
    assert {"noise_probability", "gain_db_max", "learning_rate"} <= set(rows[0])

    markdown = (out / "trials.md").read_text().splitlines()
    table = [line for line in markdown if line.startswith("| ") and "COMPLETED" in line]
    assert [line.split(" | ")[1] for line in table] == [r["trial"] for r in rows]


@pytest.mark.slow
def test_best_config_is_accepted_by_pretrain(search, config_file, tmp_path, capsys):
    out, _ = search
    data = json.loads((out / "best_config.json").read_text())
    config = PretrainConfig.from_dict(data)
    with open(out / "trials.csv", newline="") as f:
        best_id = next(csv.DictReader(f))["trial"]
    trial = json.loads((out / "search" / f"trial_{best_id}" / "trial.json").read_text())
    hp = kt.HyperParameters.from_config(trial["hyperparameters"])
    base = PretrainConfig.from_dict(json.loads(config_file.read_text()))
    assert config == declare_hyperparameters(hp, base)
    assert config.encoder == base.encoder and config.data == base.data

    run = tmp_path / "pretrain"
    argv = ["pretrain", "--config", str(out / "best_config.json"), "--epochs", "1"]
    assert main([*argv, "--out", str(run)]) == 0
    assert (run / "encoder.keras").is_file()
    assert "encoder.keras" in capsys.readouterr().out


@pytest.mark.slow
def test_cli_reports_progress_and_outputs(search, config_file, capsys):
    out, runs = search
    printed = runs[0]["printed"]
    assert "trial 0 (1 of 1)" in printed and "noise" in printed
    assert "trial 0 done in" in printed and OBJECTIVE in printed
    for name in ("trials.csv", "trials.md", "best_config.json"):
        assert str(out / name) in printed
        assert (out / name).is_file()
    assert "Reloading" in runs[1]["printed"] and "1 trial(s) so far" in runs[1]["printed"]
    assert "(2 of 2)" in runs[1]["printed"]

    # Another task in the same directory is refused before any training.
    argv = tune_argv(out, config_file, 3)
    argv[argv.index("recovery")] = "reconstruction"
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "other settings" in error and "task" in error


def test_bad_options_exit_with_status_2(tmp_path, capsys):
    assert main(["tune", "--max-trials", "2", "--out", str(tmp_path / "a")]) == 2
    assert "--task" in capsys.readouterr().err
    argv = ["tune", "--ablation", "--max-trials", "2", "--out", str(tmp_path / "b")]
    assert main(argv) == 2
    assert "--max-trials" in capsys.readouterr().err
    assert tuning_main(["--task", "recovery", "--out", str(tmp_path / "c")]) == 2
    assert "python -m mpikeras.tuning: error" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        tuning_main(["--help"])
    assert exit_info.value.code == 0
    assert "--max-trials" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("tuner", "cls"), [("bayesian", kt.BayesianOptimization), ("hyperband", kt.Hyperband)]
)
def test_bayesian_and_hyperband_searches(tmp_path, config_file, tuner, cls):
    if tuner == "bayesian":
        pytest.importorskip("sklearn")
    base = PretrainConfig.from_dict(json.loads(config_file.read_text()))
    lines = []
    result = run_search(
        tmp_path,
        task="reconstruction",
        max_trials=2,
        tuner=tuner,
        base=base,
        pretrain_epochs=1,
        finetune_epochs=1,
        initial_points=1,  # the second Bayesian trial comes from the Gaussian process
        log=lines.append,
    )
    assert isinstance(result.tuner, cls)
    assert [r["status"] for r in result.rows] == ["COMPLETED", "COMPLETED"]
    values = [r["val_reconstruction_mse"] for r in result.rows]
    assert values == sorted(values)
    assert sum("done in" in line for line in lines) == 2
    if tuner == "hyperband":
        assert all(r["tuner/epochs"] == 1 for r in result.rows)
