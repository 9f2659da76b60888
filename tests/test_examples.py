"""The example scripts run as a researcher would run them (with tiny budgets)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import EAGER_BACKEND

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _run(script, *args, cwd, backend=EAGER_BACKEND):
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_pretrain_then_finetune_examples(tmp_path):
    out = _run("pretrain.py", "--epochs", "1", "--filters", "8", "--out", "enc.keras", cwd=tmp_path)
    assert "encoder saved to enc.keras" in out
    out = _run("finetune_recovery.py", "--encoder", "enc.keras", "--epochs", "1", cwd=tmp_path)
    assert "validation NRMSE" in out and (tmp_path / "recovery.keras").is_file()


@pytest.mark.slow
def test_reconstruct_example(tmp_path):
    out = _run("reconstruct_measurement.py", "--out", "image.png", cwd=tmp_path)
    assert "saved image.png" in out and (tmp_path / "image.png").is_file()


@pytest.mark.slow
def test_tune_example(tmp_path):
    out = _run(
        "tune_augmentations.py",
        "--max-trials",
        "1",
        "--pretrain-epochs",
        "1",
        "--finetune-epochs",
        "1",
        "--filters",
        "8",
        "--out",
        "tune",
        cwd=tmp_path,
    )
    assert "best augmentations" in out
    assert json.loads((tmp_path / "tune" / "best_config.json").read_text())["augmentation"]


@pytest.mark.slow
def test_export_and_serve_example(tmp_path):
    from mpikeras.config import FinetuneConfig
    from mpikeras.training.finetune import finetune

    config = FinetuneConfig.from_dict(
        {"epochs": 1, "steps_per_epoch": 2, "batch_size": 8, "encoder": {"filters": 8}}
    )
    finetune(config, tmp_path / "run", verbose=0)
    out = _run(
        "export_and_serve.py", "--run", "run", "--out", "export", cwd=tmp_path, backend="jax"
    )
    assert "served 18 columns" in out and (tmp_path / "export" / "saved_model.pb").is_file()


@pytest.mark.slow
def test_select_bracket_head_example_keeps_the_lowest_validation_loss(tmp_path):
    args = ["--filters", "4", "8", "--kernel-sizes", "3", "--epochs", "1", "--out", "sel.json"]
    out = _run("select_bracket_head.py", *args, cwd=tmp_path)
    summary = json.loads((tmp_path / "sel.json").read_text())
    losses = {k: c["best_val_loss"] for k, c in summary["candidates"].items()}
    assert set(losses) == {"4x3", "8x3"}
    assert summary["chosen"]["best_val_loss"] == min(losses.values())
    assert f"chosen: {summary['chosen']['bracket_filters']} filters" in out
