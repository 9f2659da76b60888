"""A CPU user's terminal: no CUDA or tf.data noise from TensorFlow, real errors still printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from mpikeras.cli import _quiet as cli_main

NOISE = re.compile(r"cuda|cuInit|NodeDef|absl::InitializeLog", re.IGNORECASE)


@pytest.mark.timeout(180)
def test_command_importing_tensorflow_prints_only_its_error(tmp_path):
    """`pretrain` imports TensorFlow before it reads the data; stderr holds only the error."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(CUDA_VISIBLE_DEVICES="", KERAS_BACKEND="tensorflow")  # no GPU visible
    missing = tmp_path / "missing.mdf"
    command = ["pretrain", "--data", str(missing), "--out", str(tmp_path / "run"), "--epochs", "1"]
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from mpikeras.cli.main import main;"
         f" rc = main({command!r}); print('tensorflow' in sys.modules); sys.exit(rc)"],
        capture_output=True, text=True, timeout=170, env=env,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stdout == "True\n"  # TensorFlow was imported, so it could have been noisy
    assert result.stderr == (
        f"mpikeras pretrain: error: {missing}: field '/': file does not exist; expected an "
        "MDF (HDF5) file, got no such file\n"
    )
    assert not NOISE.search(result.stderr)


def test_filtered_stderr_keeps_every_other_line(capfd):
    noise = re.compile(r"Could not find cuda drivers")
    with cli_main._filtered_stderr(noise):
        os.write(2, b"I0000 cudart_stub.cc:31] Could not find cuda drivers on your machine\n")
        os.write(2, b"a real problem\n")
        print("python warning", file=sys.stderr)
    # (capfd captures sys.stderr apart from file descriptor 2, so the order may differ)
    assert sorted(capfd.readouterr().err.splitlines()) == ["a real problem", "python warning"]


def test_gpu_hidden_by_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert not cli_main.gpu_visible()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert not cli_main.gpu_visible()
