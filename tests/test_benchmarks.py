"""The benchmark scripts run (their figures are not asserted: the machine is shared and noisy)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_runs_on_the_cpu_without_tensorflow(tmp_path):
    env = {
        **os.environ,
        "OUT": str(tmp_path),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--cpu", "--no-tensorflow"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads((tmp_path / "gpu-check.json").read_text())
    assert result["backend"] == "jax"
    assert set(result["pretraining_samples_per_s"]) == {
        f"{p} batch {b}" for p in ("float32", "mixed_bfloat16") for b in (8, 16)
    }
    assert result["reproduce_paper_hours_extrapolated"] > 0
    assert {"pretrain", "recovery-cl", "reconstruction-wo-cl"} <= set(result["epoch_seconds"])


def test_pipeline_benchmark_reports_both_pipelines():
    sys.path.insert(0, str(ROOT))
    from benchmarks import bench_pipeline

    result = bench_pipeline.run(quick=True)
    assert set(result["pairs_per_s"]) == {"tf", "python"}
    assert all(rate > 0 for rate in result["pairs_per_s"].values())
