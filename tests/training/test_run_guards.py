"""One writer per run directory, no diverged model kept, resume only when consistent."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import tiny_config

from mpikeras.config import FinetuneConfig, PretrainConfig
from mpikeras.errors import ModelFileError, RunDirectoryError, TrainingDivergedError
from mpikeras.models.saving import load_model
from mpikeras.training.pretrain import pretrain
from mpikeras.training.run_directory import RunLock

ROOT = Path(__file__).resolve().parents[2]


def _config(tiny, **changes):
    return PretrainConfig.from_dict({**tiny, "epochs": 1, **changes})


def test_a_second_writer_is_refused_naming_the_holder_and_a_killed_holder_frees_it(tmp_path, tiny):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from mpikeras.training.run_directory import RunLock
                RunLock({str(tmp_path)!r}).acquire()
                print("held", flush=True)
                time.sleep(120)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(
            RunDirectoryError, match=f"another run is writing.*process {holder.pid}"
        ):
            pretrain(_config(tiny), tmp_path, verbose=0)
        assert not (tmp_path / "config.json").exists()  # refused before writing anything
    finally:
        holder.kill()
        holder.wait()
    # The kernel released the killed holder's lock: no stale lock remains.
    result = pretrain(_config(tiny), tmp_path, verbose=0)
    assert len(result.history["loss"]) == 1
    RunLock(tmp_path).acquire().release()  # and the finished run released its own


def test_a_diverging_run_stops_and_saves_nothing_of_the_diverged_epochs(tmp_path, tiny):
    config = _config(tiny, epochs=3, optimizer={"learning_rate": 1e12})
    with pytest.raises(TrainingDivergedError, match="diverged"):
        pretrain(config, tmp_path, verbose=0)
    state_path = tmp_path / "state.json"
    if state_path.exists():  # epochs before the divergence were finite and are kept
        state = json.loads(state_path.read_text())
        history = json.loads((tmp_path / "history.json").read_text())
        assert np.isfinite(history["loss"]).all() and len(history["loss"]) == state["epoch"] < 3
    if (tmp_path / "encoder.keras").exists():
        load_model(tmp_path / "encoder.keras")  # finite, or load_model would refuse it


def test_a_model_with_non_finite_weights_is_refused_on_loading(tmp_path):
    layer = keras.layers.Dense(2, name="out")
    model = keras.Sequential([keras.Input((3,)), layer])
    layer.bias.assign([np.inf, 0.0])
    model.save(tmp_path / "bad.keras")
    with pytest.raises(ModelFileError, match=r"bad.keras: 1 of 2 variables hold NaN or infinite"):
        load_model(tmp_path / "bad.keras")


def test_a_directory_with_someone_elses_config_json_is_refused_and_left_alone(tmp_path, tiny):
    (tmp_path / "config.json").write_text('{"experiment": "mine"}')
    with pytest.raises(RunDirectoryError, match="not the configuration of a run of this kind"):
        pretrain(_config(tiny), tmp_path, verbose=0)
    assert (tmp_path / "config.json").read_text() == '{"experiment": "mine"}'


def test_a_head_is_refused_as_an_encoder_and_an_encoder_as_a_head(finished, tiny, tmp_path_factory):
    from mpikeras.experiments.evaluate import model_method
    from mpikeras.training.finetune import finetune

    encoder = load_model(finished / "encoder.keras")
    with pytest.raises(ModelFileError, match="not a task head"):
        model_method("a", encoder)
    head_run = tmp_path_factory.mktemp("head")
    config = FinetuneConfig.from_dict({**tiny, "epochs": 1, "task": "recovery"})
    finetune(config, head_run, verbose=0)
    wrong = tmp_path_factory.mktemp("wrong")
    as_encoder = config.replace(pretrained_encoder=str(head_run / "model.keras"))
    with pytest.raises(ModelFileError, match="is a SignalRecovery, not an encoder"):
        finetune(as_encoder, wrong, verbose=0)
    assert not (wrong / "config.json").exists()  # refused before writing


@pytest.fixture(scope="module")
def finished_once(tmp_path_factory, train_sm_path):
    """One finished one-epoch run (trained once for the module)."""
    run = tmp_path_factory.mktemp("finished")
    pretrain(_config(tiny_config(train_sm_path)), run, verbose=0)
    return run


@pytest.fixture()
def finished(finished_once, tmp_path):
    """A copy of the finished run, to damage."""
    copy = tmp_path / "run"
    shutil.copytree(finished_once, copy, ignore=shutil.ignore_patterns(".lock"))
    return copy


def _edit_state(run, **changes):
    state = json.loads((run / "state.json").read_text())
    (run / "state.json").write_text(json.dumps({**state, **changes}))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda run: (run / "history.json").unlink(), r"history.json: expected the metrics of 1"),
        (lambda run: (run / "config.json").unlink(), r"config.json: missing, but state.json"),
        (lambda run: (run / "state.json").unlink(), r"state.json: missing, but the directory"),
        (lambda run: _edit_state(run, epoch=7), r"history.json: expected the metrics of 7"),
        (lambda run: _edit_state(run, epoch=-3), r"field 'epoch': expected a whole number"),
        (lambda run: _edit_state(run, epoch="1"), r"field 'epoch': expected a whole number"),
        (lambda run: (run / "history.json").write_text('{"loss": "x"}'), r"history.json"),
        (lambda run: _edit_state(run, checkpoint="gone.keras"), r"field 'checkpoint'"),
    ],
    ids=[
        "no-history",
        "no-config",
        "no-state",
        "epoch-7",
        "epoch-negative",
        "epoch-string",
        "history-typed",
        "no-checkpoint",
    ],
)
def test_a_damaged_run_directory_is_refused_on_resume(finished, tiny, damage, message):
    damage(finished)
    with pytest.raises(RunDirectoryError, match=message):
        pretrain(_config(tiny, epochs=2, seed=3), finished, verbose=0)


def test_a_directory_with_other_files_is_refused_and_left_as_it_was(tmp_path, tiny):
    (tmp_path / "notes.txt").write_text("my notes")
    (tmp_path / "figures").mkdir()
    with pytest.raises(RunDirectoryError, match=r"not a run directory \(it holds figures, notes"):
        pretrain(_config(tiny), tmp_path, verbose=0)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".lock") == [
        "figures",
        "notes.txt",
    ]
    assert (tmp_path / "notes.txt").read_text() == "my notes"
