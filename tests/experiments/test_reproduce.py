import json

import pytest
from helpers import run_python

from mpikeras.experiments.reproduce import HEADS
from mpikeras.experiments.results import (
    BRACKET_CL,
    BRACKET_WO_CL,
    COPY,
    CUBIC,
    INSIDE_FOV,
    KACZMARZ_ORACLE,
    KACZMARZ_PAPER,
    KACZMARZ_TUNED,
    LINEAR,
    LOOKUP,
    NEAREST,
    NOISE_FLOOR,
    NOISE_FREE,
    OUTSIDE_FOV,
    RECONSTRUCTION_CL,
    RECONSTRUCTION_WO_CL,
    RECOVERY_CL,
    RECOVERY_WO_CL,
    SCHEMA_VERSION,
    ZERO_IMAGE,
    Results,
    Task,
)

# A tiny preset, run twice (the second call resumes every finished run and only
# re-evaluates), on PyTorch: eager, in half the time TensorFlow spends tracing.
TINY_REPRODUCE = """
import json, shutil, sys
from mpikeras.config import EncoderConfig, RecoveryHeadConfig
from mpikeras.experiments.reproduce import ReproducePreset, reproduce

out = sys.argv[1]
head = RecoveryHeadConfig(hidden_units=16, bracket_filters=4)
tiny = ReproducePreset("tiny", 1, 1, 1e-3, EncoderConfig(filters=8), head, "a test-sized run")
results = reproduce(out, tiny, seeds=1, verbose=0, log=lambda line: None)
with open(out + "/first-call.json", "w") as file:
    json.dump(results.to_dict(), file)
shutil.copyfile(out + "/results.json", out + "/first-results.json")
lines = []
reproduce(out, tiny, seeds=1, verbose=0, log=lines.append)
print("RESUMED " + json.dumps(lines))
"""


@pytest.mark.slow
def test_a_tiny_reproduce_runs_end_to_end_and_resumes(tmp_path):
    printed = run_python(TINY_REPRODUCE, str(tmp_path)).stdout
    results = json.loads((tmp_path / "first-call.json").read_text())
    for name in ("results.json", "report.md", "figure2.png", "figure3.png"):
        assert (tmp_path / name).is_file(), name
    for run in ("pretrain", *HEADS):
        assert (tmp_path / "seed-0" / run / "state.json").is_file(), run
    assert json.loads((tmp_path / "results.json").read_text())["schema_version"] == SCHEMA_VERSION
    saved = Results.load(tmp_path / "results.json")
    first = Results.load(tmp_path / "first-results.json")
    assert json.dumps(first.to_dict()) == json.dumps(results)
    assert saved.settings["scenario"] == "paper"  # the default world the results come from
    assert json.loads((tmp_path / "data" / "scenario.json").read_text())["scenario"] == "paper"
    assert "Simulation scenario `paper`" in (tmp_path / "report.md").read_text()
    recovery = set(saved.methods(Task.RECOVERY))
    assert {COPY, LINEAR, CUBIC, LOOKUP, NOISE_FLOOR, RECOVERY_WO_CL, RECOVERY_CL} <= recovery
    assert {BRACKET_WO_CL, BRACKET_CL} <= recovery
    assert saved.stats(RECOVERY_CL).n == 171  # 9 predicted rows x 19 columns
    assert saved.stats(RECOVERY_CL, INSIDE_FOV).n == 91
    assert saved.stats(RECOVERY_CL, OUTSIDE_FOV).n == 80
    assert saved.stats(RECOVERY_CL, NOISE_FREE).n == 171
    reconstruction = set(saved.methods(Task.RECONSTRUCTION))
    assert {
        ZERO_IMAGE,
        RECONSTRUCTION_WO_CL,
        RECONSTRUCTION_CL,
        NEAREST,
        KACZMARZ_TUNED,
        KACZMARZ_PAPER,
        KACZMARZ_ORACLE,
    } <= reconstruction
    names = {
        s["method"]["name"] for s in json.loads((tmp_path / "results.json").read_text())["scores"]
    }
    assert {"lookup", "nearest", "kaczmarz-tuned", "kaczmarz-paper"} <= names
    assert saved.stats(RECONSTRUCTION_CL).n == 361
    assert "ground truth" in saved.phantom
    report = (tmp_path / "report.md").read_text()
    assert "| recovery NRMSE (%) |" in report and "Strongest recovery baseline: lookup" in report
    assert "Contrastive pretraining, recovery: CL against wo-CL: undetermined (1 seed" in report
    assert "Noise floor" in report and "chosen on the training SM alone" in report
    tuning = json.loads((tmp_path / "data" / "kaczmarz-tuning.json").read_text())
    assert len(tuning["validation_nrmse"]) == 36
    best = min(tuning["validation_nrmse"], key=lambda c: c["nrmse"])
    assert tuning["chosen"] == {k: best[k] for k in ("lam", "iterations", "snr_threshold")}
    # The second call resumed every finished run.
    assert "RESUMED " in printed
    assert all((tmp_path / "seed-0" / run / "history.json").is_file() for run in HEADS)
    assert json.loads((tmp_path / "seed-0" / "pretrain" / "state.json").read_text())["epoch"] == 1
