"""SavedModel export: volts in, the Keras model's outputs out, in a fresh process.

A tiny model per task is trained on a simulated 19 x 19 SM (one epoch, two
steps) on the TensorFlow and on the JAX backend, each in its own process
with `KERAS_BACKEND` set, and exported there. Another fresh process that
imports only TensorFlow and NumPy loads each export with
`tf.saved_model.load` and feeds it band-passed voxel signals in volts. Its
outputs must match the Keras model's outputs on the same voxels prepared as
in training (`voxel_signals`, divided by the delta-sample volume, then by
the normalisation scale), times the scale and volume for recovery, within
1e-5 of the output's peak.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from mpikeras.cli.main import main
from mpikeras.errors import ConfigError, ModelFileError, RunDirectoryError
from mpikeras.export import (
    SIGNATURE_FILE,
    ExportError,
    export_saved_model,
    load_task_model,
    serving_function,
    source_delta_sample_volume_mm3,
)
from mpikeras.models import BracketRecovery, DirectReconstruction, Encoder, SignalRecovery

pytest.importorskip("tensorflow", reason="SavedModel export needs TensorFlow")

THIS_FILE = Path(__file__).resolve()
#: Tasks per backend: every task on TensorFlow; on JAX, which compiles each new model
#: anew (about 10 s per task on a busy 2-core machine), the recovery head, whose
#: serving function also scales by the normalisation and the delta-sample volume.
TASKS = {
    "tensorflow": ("recovery", "reconstruction", "bracket"),
    "jax": ("recovery",),
}
CASES = [(backend, task) for backend, tasks in TASKS.items() for task in tasks]
#: Voxels (y, x) fed to the exports; bracket targets use y + 1 and y + 2.
VOXELS_Y = np.array([0, 4, 9, 13, 16])
VOXELS_X = np.array([3, 9, 9, 17, 0])
SUBPROCESS_TIMEOUT_S = 300

needs_export_backend = pytest.mark.skipif(
    keras.backend.backend() not in ("tensorflow", "jax"),
    reason="in-process export needs the TensorFlow or JAX backend",
)


# --- Training, export and the reference, run in a subprocess per backend -------


def tiny_config(task: str, sm_path: Path) -> dict:
    config = {
        "task": "recovery" if task == "bracket" else task,
        "epochs": 1,
        "steps_per_epoch": 2,
        "batch_size": 8,
        "encoder": {"filters": 8},
        "data": {"source": str(sm_path)},
    }
    if task == "bracket":
        config["recovery_input"] = "bracket"
    return config


def reference(run_dir: Path, sm_path: Path, task: str) -> dict[str, np.ndarray]:
    """Volt inputs and what the Keras model gives for them, normalised as in training."""
    import mpikeras.models  # noqa: F401  (registers the classes)
    from mpikeras.io import read_system_matrix
    from mpikeras.preprocessing import Normalization, voxel_signals

    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    scale = json.loads((run_dir / "normalization.json").read_text())["scale"]
    sm = read_system_matrix(sm_path, z_slice="central")
    volts = voxel_signals(sm, per_unit_volume=False).signals
    normalised = voxel_signals(sm).normalized(Normalization(scale)).signals
    volume_mm3 = float(np.prod(sm.delta_sample_size_m)) * 1e9  # 2 x 2 x 1 mm = 4 mm^3
    y, x = VOXELS_Y, VOXELS_X
    if task == "bracket":
        inputs = {"lower": volts[y, x], "upper": volts[y + 2, x]}
        output = model({"lower": normalised[y, x], "upper": normalised[y + 2, x]}, training=False)
    else:
        inputs = {"signal": volts[y, x]}
        output = model(normalised[y, x], training=False)
    output = keras.ops.convert_to_numpy(output).astype(np.float64)
    if task == "reconstruction":
        expected = output[..., 0]
    else:
        expected = output * scale * volume_mm3
    return {**inputs, "expected": expected}


def train_and_export(root: Path, sm_path: Path, tasks: list[str]) -> None:
    """Train, export and record the reference of each task under `root`."""
    from mpikeras.config import FinetuneConfig
    from mpikeras.training.finetune import finetune

    for task in tasks:
        run_dir = root / f"run-{task}"
        finetune(FinetuneConfig.from_dict(tiny_config(task, sm_path)), run_dir, verbose=0)
        export_saved_model(run_dir, root / f"export-{task}")
        np.savez(root / f"reference-{task}.npz", **reference(run_dir, sm_path, task))


TRAIN_SCRIPT = r"""
import importlib.util
import sys
from pathlib import Path

test_file, backend, root, sm_path, tasks = sys.argv[1:6]
import keras

assert keras.backend.backend() == backend, keras.backend.backend()
spec = importlib.util.spec_from_file_location("export_test_module", test_file)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.train_and_export(Path(root), Path(sm_path), tasks.split(","))
print("DONE")
"""

# Imports TensorFlow and NumPy only: the exports must stand alone.
# argv: ROOT TASKS [ROOT TASKS ...]; writes ROOT/served-TASK.npz and ROOT/report.json.
LOAD_SCRIPT = r"""
import json
import sys

import numpy as np
import tensorflow as tf

for root, tasks in zip(sys.argv[1::2], sys.argv[2::2]):
    report = {}
    for task in tasks.split(","):
        loaded = tf.saved_model.load(f"{root}/export-{task}")
        reference = np.load(f"{root}/reference-{task}.npz")
        inputs = {k: tf.constant(reference[k]) for k in reference.files if k != "expected"}
        serve = loaded.signatures["serve"]
        (output,) = serve(**inputs).values()
        single = loaded.signatures["serving_default"](**{k: v[:1] for k, v in inputs.items()})
        (single,) = single.values()
        np.savez(f"{root}/served-{task}.npz", batch=output.numpy(), single=single.numpy())
        report[task] = {
            "inputs": {
                k: [s.shape.as_list(), s.dtype.name]
                for k, s in serve.structured_input_signature[1].items()
            },
            "outputs": {
                k: [s.shape.as_list(), s.dtype.name] for k, s in serve.structured_outputs.items()
            },
        }
    report["mpikeras_imported"] = any(m.startswith("mpikeras") for m in sys.modules)
    with open(f"{root}/report.json", "w") as f:
        json.dump(report, f)
print("LOADED")
"""


def backend_available(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


def start(script: str, *args: str, backend: str = "tensorflow") -> subprocess.Popen:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen, marker: str) -> None:
    try:
        stdout, stderr = process.communicate(timeout=SUBPROCESS_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    assert process.returncode == 0, stderr[-4000:]
    assert marker in stdout.splitlines(), stdout[-2000:] + stderr[-2000:]


@pytest.fixture(scope="module")
def sm_path(tmp_path_factory) -> Path:
    from mpikeras.io import write_system_matrix
    from mpikeras.simulation import preset, simulate_system_matrix

    path = tmp_path_factory.mktemp("export-data") / "train.mdf"
    write_system_matrix(path, simulate_system_matrix(preset("openmpi-2d-19")))
    return path


@pytest.fixture(scope="module")
def exports(tmp_path_factory, sm_path) -> dict[str, Path]:
    """Runs and exports per backend (trained side by side), then loaded afresh."""
    roots, processes = {}, {}
    for backend in ("tensorflow", "jax"):
        if not backend_available(backend):
            continue
        roots[backend] = tmp_path_factory.mktemp(f"export-{backend}")
        processes[backend] = start(
            TRAIN_SCRIPT,
            str(THIS_FILE),
            backend,
            str(roots[backend]),
            str(sm_path),
            ",".join(TASKS[backend]),
            backend=backend,
        )
    for process in processes.values():
        finish(process, "DONE")
    pairs = [(str(root), ",".join(TASKS[backend])) for backend, root in roots.items()]
    finish(start(LOAD_SCRIPT, *(arg for pair in pairs for arg in pair)), "LOADED")
    return roots


def case_root(exports: dict[str, Path], backend: str) -> Path:
    if backend not in exports:
        pytest.skip(f"{backend} is not installed")
    return exports[backend]


# --- The exports against the Keras models ----------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "task"), CASES)
def test_export_in_a_fresh_process_matches_the_keras_model(exports, backend, task):
    root = case_root(exports, backend)
    reference = np.load(root / f"reference-{task}.npz")
    served = np.load(root / f"served-{task}.npz")
    expected = reference["expected"]
    peak = np.abs(expected).max()
    assert peak > 0
    np.testing.assert_allclose(served["batch"], expected, rtol=1e-5, atol=1e-5 * peak)
    np.testing.assert_allclose(served["single"], served["batch"][:1], rtol=1e-6, atol=1e-6 * peak)


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "task"), CASES)
def test_signature_names_shapes_and_units(exports, backend, task):
    root = case_root(exports, backend)
    report = json.loads((root / "report.json").read_text())
    assert report["mpikeras_imported"] is False
    document = json.loads((root / f"export-{task}" / SIGNATURE_FILE).read_text())
    names = ["lower", "upper"] if task == "bracket" else ["signal"]
    assert sorted(report[task]["inputs"]) == names
    for name in names:
        assert report[task]["inputs"][name] == [[None, 1632, 2], "float32"]
        assert document["inputs"][name]["shape"] == [None, 1632, 2]
        assert document["inputs"][name]["unit"] == "V"
    output, shape, unit = (
        ("concentration", [None, 19, 19], "delta-sample units")
        if task == "reconstruction"
        else ("signal", [None, 1632, 2], "V")
    )
    assert report[task]["outputs"] == {output: [shape, "float32"]}
    assert document["outputs"] == {
        output: {**document["outputs"][output], "shape": shape, "dtype": "float32", "unit": unit}
    }
    scaling = document["scaling"]
    assert scaling["delta_sample_volume_mm3"] == pytest.approx(4.0)
    scale = json.loads((root / f"run-{task}" / "normalization.json").read_text())["scale"]
    assert scaling["input_divisor_volt"] == pytest.approx(4.0 * scale, rel=1e-12)
    assert document["created_with"]["keras_backend"] == backend
    assert document["signature_name"] == "serve"
    assert document["signature_aliases"] == ["serving_default"]


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "task"), CASES)
def test_each_weight_is_stored_once(exports, backend, task):
    import tensorflow as tf

    root = case_root(exports, backend)
    model = load_task_model(root / f"run-{task}")
    checkpoint = root / f"export-{task}" / "variables" / "variables"
    stored = [name for name, _ in tf.train.list_variables(str(checkpoint))]
    assert len(stored) - 1 == len(model.weights)  # and the object graph


# --- Options, the command line and errors ----------------------------------------


@pytest.mark.slow
@needs_export_backend
def test_cli_export_with_a_volume_override(exports, tmp_path, capsys):
    import tensorflow as tf

    run_dir = case_root(exports, "tensorflow") / "run-recovery"
    out = tmp_path / "recovery-8mm3"
    code = main(["export", str(run_dir), "--out", str(out), "--delta-sample-volume-mm3", "8"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert str(out) in captured.out and "signature 'serve'" in captured.out
    document = json.loads((out / SIGNATURE_FILE).read_text())
    assert document["scaling"]["delta_sample_volume_mm3"] == 8.0
    # A sample of twice the volume gives twice the voltage for the same prediction.
    volts = np.load(run_dir.parent / "reference-recovery.npz")["signal"]
    export_8 = tf.saved_model.load(str(out))
    export_4 = tf.saved_model.load(str(run_dir.parent / "export-recovery"))
    at_8 = export_8.serve(volts)["signal"].numpy()
    at_4 = export_4.serve(volts / 2)["signal"].numpy()
    np.testing.assert_allclose(at_8, 2 * at_4, rtol=1e-5, atol=1e-5 * np.abs(at_8).max())
    # ... and the volume matters: the network is not homogeneous in its input.
    unscaled = export_4.serve(volts)["signal"].numpy()
    assert np.abs(at_8 - unscaled).max() > 1e-3 * np.abs(at_8).max()

    code = main(["export", str(run_dir), "--out", str(out)])
    assert code == 2
    assert "already exists and is not empty" in capsys.readouterr().err


@pytest.mark.slow
@needs_export_backend
def test_a_write_that_fails_midway_ends_in_one_line_and_leaves_no_files(exports, tmp_path):
    from helpers import run_with_file_size_limit  # not at the top: scripts import this file

    run_dir = case_root(exports, "tensorflow") / "run-recovery"
    out = tmp_path / "export"
    result = run_with_file_size_limit(["export", str(run_dir), "--out", str(out)], 100_000)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("mpikeras export: error: ") and "File too large" in lines[-1]
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@needs_export_backend
def test_overwrite_replaces_the_target_and_leaves_no_temporary_files(exports, tmp_path):
    run_dir = case_root(exports, "tensorflow") / "run-reconstruction"
    out = tmp_path / "exports" / "reconstruction"
    out.mkdir(parents=True)
    (out / "old.txt").write_text("previous export")
    with pytest.raises(ExportError, match="already exists and is not empty"):
        export_saved_model(run_dir, out)
    assert (out / "old.txt").read_text() == "previous export"
    assert export_saved_model(run_dir, out, overwrite=True) == out
    assert sorted(p.name for p in out.iterdir()) == [
        "assets",
        "fingerprint.pb",
        "saved_model.pb",
        SIGNATURE_FILE,
        "variables",
    ]
    assert [p.name for p in out.parent.iterdir()] == ["reconstruction"]


@pytest.mark.slow
@needs_export_backend
def test_a_failed_export_keeps_the_previous_one(exports, tmp_path, monkeypatch):
    run_dir = case_root(exports, "tensorflow") / "run-recovery"
    out = tmp_path / "recovery"
    out.mkdir()
    (out / "old.txt").write_text("previous export")

    class DiskFull:
        def track(self, resource):
            pass

        def add_endpoint(self, name, fn, input_signature=None, **kwargs):
            pass

        def write_out(self, filepath, verbose=True):
            (Path(filepath) / "saved_model.pb").write_bytes(b"partial")
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(keras.export, "ExportArchive", DiskFull)
    with pytest.raises(OSError, match="No space left"):
        export_saved_model(run_dir, out, overwrite=True)
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["recovery"]


@pytest.mark.slow
@needs_export_backend
def test_missing_training_data_needs_the_volume_option(exports, tmp_path):
    trained = case_root(exports, "tensorflow") / "run-recovery"
    run_dir = tmp_path / "copied-run"
    run_dir.mkdir()
    for name in ("model.keras", "normalization.json"):
        shutil.copy(trained / name, run_dir / name)
    config = json.loads((trained / "config.json").read_text())
    config["data"]["source"] = str(tmp_path / "moved-away.mdf")
    (run_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(RunDirectoryError, match="--delta-sample-volume-mm3"):
        export_saved_model(run_dir, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    out = export_saved_model(run_dir, tmp_path / "out", delta_sample_volume_mm3=4.0)
    assert json.loads((out / SIGNATURE_FILE).read_text())["scaling"]["delta_sample_volume_mm3"] == 4


@pytest.fixture
def run_dir(tmp_path) -> Path:
    """An empty run directory; exports go to `tmp_path / "out"`."""
    path = tmp_path / "run"
    path.mkdir()
    return path


@needs_export_backend
def test_a_missing_model_is_named(run_dir, tmp_path):
    with pytest.raises(RunDirectoryError, match=r"model\.keras: not found"):
        export_saved_model(run_dir, tmp_path / "out")


@needs_export_backend
def test_an_unreadable_model_is_refused(run_dir, tmp_path):
    (run_dir / "model.keras").write_bytes(b"not a zip archive")
    with pytest.raises(ModelFileError, match=r"model\.keras: not a Keras \.keras archive"):
        export_saved_model(run_dir, tmp_path / "out")


@needs_export_backend
def test_an_unknown_model_class_is_refused(run_dir, tmp_path):
    model = keras.Sequential([keras.Input((16, 2)), keras.layers.Dense(1)])
    model.save(run_dir / "model.keras")
    with pytest.raises(RunDirectoryError, match="unknown model class Sequential; expected one of"):
        export_saved_model(run_dir, tmp_path / "out", delta_sample_volume_mm3=4.0)
    assert not (tmp_path / "out").exists()


def test_a_target_overlapping_the_run_directory_is_refused(run_dir, tmp_path):
    for target in (run_dir, run_dir / "export", tmp_path):
        with pytest.raises(ExportError, match="overlaps the run directory"):
            export_saved_model(run_dir, target, overwrite=True)


def test_a_file_as_target_is_refused(run_dir, tmp_path):
    (tmp_path / "out").write_text("a file")
    with pytest.raises(ExportError, match="exists and is not a directory"):
        export_saved_model(run_dir, tmp_path / "out", overwrite=True)
    assert (tmp_path / "out").read_text() == "a file"


@needs_export_backend
@pytest.mark.parametrize("volume", [0.0, -4.0, float("nan"), "four"])
def test_a_bad_volume_is_refused(run_dir, tmp_path, volume):
    with pytest.raises(ExportError, match="delta_sample_volume_mm3 must be"):
        export_saved_model(run_dir, tmp_path / "out", delta_sample_volume_mm3=volume)


def test_torch_backend_is_refused(run_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(ExportError, match="KERAS_BACKEND='torch'"):
        export_saved_model(run_dir, tmp_path / "out")


@pytest.mark.parametrize("cls", [SignalRecovery, BracketRecovery, DirectReconstruction])
def test_serving_function_scales_volts_in_and_out(cls):
    keras.utils.set_random_seed(0)
    encoder = Encoder(input_shape=(288, 2), filters=4)
    if cls is DirectReconstruction:
        model = cls(encoder, image_shape=(5, 4), normalization_scale=2e-4)
    else:
        model = cls(encoder, hidden_units=16, normalization_scale=2e-4)
    serving = serving_function(model, delta_sample_volume_mm3=0.5)
    assert serving.divisor_volt == pytest.approx(1e-4)
    volts = {
        name: np.random.default_rng(i).normal(0.0, 3e-4, (3, 288, 2)).astype("float32")
        for i, name in enumerate(serving.input_names)
    }
    outputs = serving.fn(*volts.values())
    normalised = {
        name: (x.astype(np.float64) / 1e-4).astype("float32") for name, x in volts.items()
    }
    raw = model(normalised if cls is BracketRecovery else normalised["signal"], training=False)
    raw = keras.ops.convert_to_numpy(raw)
    if cls is DirectReconstruction:
        expected, name = raw[..., 0], "concentration"
    else:
        expected, name = raw * 1e-4, "signal"
    actual = keras.ops.convert_to_numpy(outputs[name])
    assert list(outputs) == [serving.output_name] == [name]
    assert actual.shape[1:] == serving.output_shape[1:] == expected.shape[1:]
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_serving_function_needs_a_scale():
    model = SignalRecovery(Encoder(input_shape=(288, 2), filters=4), hidden_units=16)
    with pytest.raises(RunDirectoryError, match="no normalization_scale"):
        serving_function(model, 4.0)
    with pytest.raises(ExportError, match="normalization_scale must be positive"):
        serving_function(model, 4.0, normalization_scale=-1.0)


def test_delta_sample_volume_of_the_training_data(sm_path):
    # OpenMPIData delta samples: 2 x 2 x 1 mm (19 grid), 1 x 1 x 0.5 mm (37 grid).
    assert source_delta_sample_volume_mm3("simulated:openmpi-2d-19") == pytest.approx(4.0)
    assert source_delta_sample_volume_mm3("simulated:openmpi-2d-37") == pytest.approx(0.5)
    assert source_delta_sample_volume_mm3(sm_path) == pytest.approx(4.0)
    with pytest.raises(ConfigError, match="unknown simulation preset"):
        source_delta_sample_volume_mm3("simulated:openmpi-3d-99")
