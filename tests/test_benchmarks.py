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
        f"{p} batch 8" for p in ("float32", "mixed_bfloat16")
    }
    assert result["reproduce_paper_hours_extrapolated"] > 0
    assert {"pretrain", "recovery-cl", "reconstruction-wo-cl"} <= set(result["epoch_seconds"])
    assert result["stream"]["learned"]["frames_per_s"] > 0
    assert result["stream"]["tikhonov"]["frames_per_s"] > 0


def test_pipeline_benchmark_reports_both_pipelines():
    sys.path.insert(0, str(ROOT))
    from benchmarks import bench_pipeline

    result = bench_pipeline.run(quick=True)
    assert set(result["pairs_per_s"]) == {"tf", "python"}
    assert all(rate > 0 for rate in result["pairs_per_s"].values())
    large = result["large_pool_epoch_start_s"]
    assert set(large) == {"tf", "python"}
    assert all(t["build_s"] > 0 and t["epoch_start_s"] > 0 for t in large.values())


def test_stream_benchmark_runs_alone_and_reports_real_time_ratios(tmp_path, capsys):
    sys.path.insert(0, str(ROOT))
    from benchmarks.__main__ import main

    assert main(["--only", "stream", "--quick", "--out", str(tmp_path / "b.json")]) == 0
    result = json.loads((tmp_path / "b.json").read_text())
    assert set(result) == {"machine", "cpu", "python", "stream"}
    stream = result["stream"]
    for key in ("tikhonov", "kaczmarz", "learned"):
        figures = stream[key]
        assert figures["frames_per_s"] > 0
        assert figures["realtime_factor"] == pytest.approx(figures["frames_per_s"] * 652.8e-6)
    assert stream["max_block_bytes"] == 32 * 3 * 1632 * 4
    assert stream["tikhonov_vs_kaczmarz_converged"] < 1e-2  # 300 sweeps in the quick mode
    out = capsys.readouterr().out
    assert "stream 19 x 19, Tikhonov: x real time" in out and "CPU:" in out


def test_training_benchmark_times_each_precision_beside_plain_torch(capsys):
    import keras

    from benchmarks import bench_training
    from benchmarks.__main__ import _rows

    policy = keras.config.dtype_policy()
    try:  # the bfloat16 paths (float32 is the same code with autocast and the policy off)
        keras_run = bench_training._keras_worker("finetune", 4, 4, 1, 1, "mixed_bfloat16")
        assert keras_run["steps_per_s"] > 0
        for task in ("pretrain", "finetune"):
            torch_run = bench_training._torch_worker(task, 4, 4, 1, 1, 1, "mixed_bfloat16")
            assert torch_run["steps_per_s"] > 0
    finally:
        keras.config.set_dtype_policy(policy)
    speeds = {"tensorflow": 2.0, "jax": 3.0, "torch": 1.0, "plain-torch": 4.0}
    result = {
        "filters": 4,
        "cpu": "test CPU (avx2)",
        "results": {"pretrain": {32: {p: speeds for p in bench_training.PRECISIONS}}},
        "ratio_best_to_torch": {"pretrain": {32: {p: 0.75 for p in bench_training.PRECISIONS}}},
    }
    bench_training.print_table(result)
    table = capsys.readouterr().out
    assert "test CPU (avx2)" in table and table.count("0.75") == 2
    rows = _rows({"training": result})
    assert ("pretrain, batch 32, mixed_bfloat16: best backend / plain torch", "0.75", ">= 1",
            "MISSED") in rows  # fmt: skip


def test_the_performance_page_shows_the_committed_precision_benchmark():
    from benchmarks.bench_training import markdown_table

    result = json.loads((ROOT / "docs/data/benchmarks/training-precision-quick.json").read_text())
    page = (ROOT / "docs" / "performance.md").read_text()
    assert markdown_table(result["training"]) in page
    assert result["training"]["cpu"] == "AMD EPYC (avx2, fma)" and "avx2, fma" in page


def test_simulator_benchmark_times_the_slice_with_and_without_effects():
    from benchmarks import bench_simulator
    from benchmarks.__main__ import _rows

    result = bench_simulator.run(quick=True)
    assert result["voxels"] == 37 * 37 and result["relative_error"] < 1e-5
    assert len(result["effects_runs_s"]) == len(result["fast_runs_s"]) == 3
    assert min(result["effects_runs_s"]) > 0 and result["speedup"] > 1
    names = [row[0] for row in _rows({"simulator": result})]
    assert "simulator: 37 x 37 SM, every realism effect on, seconds" in names


def test_the_performance_page_shows_the_committed_summary_benchmark():
    from benchmarks.__main__ import markdown_table

    result = json.loads((ROOT / "docs/data/benchmarks/summary.json").read_text())
    page = (ROOT / "docs" / "performance.md").read_text()
    assert markdown_table(result) in page
    assert f"{result['reproduce']['seconds'] / 60:.1f}" in (ROOT / "README.md").read_text()
