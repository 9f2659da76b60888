"""Models load in Keras' safe mode, and nothing in the package unpickles data.

A `.keras` (or legacy `.h5`) file can carry Python code: a `Lambda` layer
stores its function's bytecode. Keras refuses to deserialise it in safe
mode; these tests check that every way mpikeras loads a model refuses such a
file, without running its code, and that a plain model still loads. A scan
of the package's source (AST, not text) checks that every `load_model` call
passes `safe_mode=True` and that nothing calls `pickle.load`,
`np.load(allow_pickle=True)`, `torch.load` without `weights_only=True` or
another loader that executes data.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from mpikeras.errors import ModelFileError
from mpikeras.training.run_directory import RunDirectory
from mpikeras.training.session import load_encoder

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mpikeras", "tuning")


def _model(path: Path, marker: Path | None) -> Path:
    """A small model saved at `path`; with `marker`, a Lambda layer that creates that file."""
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, name="dense")(inputs)
    if marker is not None:
        # A Python lambda is stored as bytecode; creating a file stands for what an
        # attacker's code would do.
        payload = lambda x, where=str(marker): (open(where, "w").close(), x * 2.0)[1]  # noqa: E731
        hidden = keras.layers.Lambda(payload, name="code")(hidden)
        marker.unlink()  # building the model ran it once
    keras.Model(inputs, hidden).save(path)
    return path


@pytest.fixture(params=[".keras", ".h5"])
def hostile_model(request, tmp_path) -> tuple[Path, Path]:
    """(model file with a Lambda layer, the file its code would create)."""
    marker = tmp_path / "the-lambda-ran"
    marker.touch()
    return _model(tmp_path / f"encoder{request.param}", marker), marker


def _run_directory_pointing_at(path: Path) -> RunDirectory:
    run = RunDirectory(path.parent / "run")
    relative = Path("..") / path.name
    (run.path / "state.json").write_text(json.dumps({"epoch": 1, "checkpoint": str(relative)}))
    return run


def test_load_encoder_refuses_a_lambda_layer(hostile_model):
    path, marker = hostile_model
    with pytest.raises(ModelFileError, match=r"not a loadable Keras model \(.*`Lambda`.*"
                                                 r"safe_mode=False"):  # fmt: skip
        load_encoder(path)
    assert not marker.exists()


def test_checkpoint_with_a_lambda_layer_is_refused(hostile_model):
    path, marker = hostile_model
    run = _run_directory_pointing_at(path)
    with pytest.raises(ValueError, match=r"`Lambda`.*arbitrary code execution.*safe_mode=False"):
        run.load_checkpoint()
    assert not marker.exists()


def test_plain_models_still_load(tmp_path):
    path = _model(tmp_path / "encoder.keras", marker=None)
    encoder, normalization = load_encoder(path)
    assert [layer.name for layer in encoder.layers][-1] == "dense" and normalization is None
    restored = _run_directory_pointing_at(path).load_checkpoint()
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(restored.predict(x, verbose=0), encoder.predict(x, verbose=0))


# --------------------------------------------------------------------------- source scan


def _name(node: ast.AST) -> str:
    """Dotted name of a called function: 'keras.saving.load_model', 'np.load', 'eval'."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return "?"


def _keyword(call: ast.Call, name: str):
    """The constant value of keyword `name`, `...` when absent, `None` when not a constant."""
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value.value if isinstance(kw.value, ast.Constant) else None
    return ...


UNPICKLERS = {"load", "loads", "Unpickler"}
PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve",
                  "marshal"}  # fmt: skip


def unsafe_loads(source: str, filename: str = "<source>") -> list[str]:
    """Calls in `source` that load models unsafely or deserialise executable data."""
    problems = []
    tree = ast.parse(source, filename)
    # `load_model` imported from Keras or TensorFlow counts as Keras' loader when called bare;
    # mpikeras.models.saving.load_model is the package's safe wrapper (scanned itself).
    keras_names = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").split(".")[0] in ("keras", "tensorflow", "tf_keras")
        for alias in node.names
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names]
            module = node.module if isinstance(node, ast.ImportFrom) else None
            if module in PICKLE_MODULES and UNPICKLERS & set(names):
                problems.append(f"{filename}:{node.lineno}: imports {module}.{names}")
            continue
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        last = name.rpartition(".")[2]
        where = f"{filename}:{node.lineno}: {name}"
        is_keras_loader = "." in name or name in keras_names
        if last == "load_model" and is_keras_loader and _keyword(node, "safe_mode") is not True:
            problems.append(f"{where} without safe_mode=True")
        elif _keyword(node, "safe_mode") is False:
            problems.append(f"{where} with safe_mode=False")
        elif last == "enable_unsafe_deserialization":
            problems.append(where)
        elif name.partition(".")[0] in PICKLE_MODULES and last in UNPICKLERS | {"open"}:
            problems.append(where)
        elif last == "load" and name.partition(".")[0] in ("np", "numpy"):
            if _keyword(node, "allow_pickle") not in (..., False):
                problems.append(f"{where} with allow_pickle")
        elif name == "torch.load" and _keyword(node, "weights_only") is not True:
            problems.append(f"{where} without weights_only=True")
        elif name in ("yaml.load", "yaml.unsafe_load", "yaml.full_load"):
            problems.append(where)
        elif name in ("eval", "exec"):
            problems.append(where)
    return problems


def test_the_scan_finds_every_unsafe_pattern():
    """The scan below is only worth something if it recognises each pattern."""
    bad = """
import pickle
from dill import loads
keras.saving.load_model(p)
keras.models.load_model(p, safe_mode=False)
keras.saving.deserialize_keras_object(c, safe_mode=False)
keras.config.enable_unsafe_deserialization()
pickle.load(f)
joblib.load(p)
np.load(p, allow_pickle=True)
numpy.load(p, allow_pickle=flag)
torch.load(p)
torch.load(p, weights_only=False)
yaml.load(text)
eval(text)
"""
    found = unsafe_loads(bad)
    assert len(found) == 13, "\n".join(found)
    good = """
keras.saving.load_model(p, safe_mode=True)
np.load(p)
np.load(p, allow_pickle=False)
torch.load(p, weights_only=True)
pickle.dumps(x)
json.load(f)
model.evaluate(x)
"""
    assert unsafe_loads(good) == []


def test_the_package_never_loads_unsafely():
    files = sorted(f for package in PACKAGES for f in (ROOT / package).rglob("*.py"))
    assert len(files) > 20
    problems = []
    for path in files:
        problems += unsafe_loads(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert problems == [], "\n".join(problems)
