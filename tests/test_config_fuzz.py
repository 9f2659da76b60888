"""Fuzzing configuration dicts, configuration files and command-line values.

Properties checked with Hypothesis:

- `PretrainConfig.from_dict` / `FinetuneConfig.from_dict` on any JSON-like
  value either return a configuration (which survives a strict-JSON round
  trip) or raise `ConfigError` naming a key of the input; never `TypeError`,
  `KeyError`, `OverflowError` or another exception. When a single key of a
  valid configuration is changed, the error names that key (or a key beside
  it in the same table, for constraints between keys).
- `load_config_file` on any bytes (JSON, TOML, not UTF-8, nested absurdly
  deep, integers of thousands of digits) returns a dict or raises
  `ConfigError` naming the file.
- Every `mpikeras` command given bad values (negative, non-numeric or huge
  numbers, unknown choices, bad paths) exits with status 2 and, for the
  package's own errors, one line on stderr and no traceback. argparse's usage
  errors exit with 2 too (with their usage line).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import uuid
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mpikeras.cli.main import main
from mpikeras.config import FinetuneConfig, PretrainConfig, load_config_file
from mpikeras.errors import ConfigError

FUZZ = settings(
    max_examples=int(os.environ.get("MPIKERAS_FUZZ_EXAMPLES", "75")),
    deadline=None,
    derandomize="MPIKERAS_FUZZ_EXAMPLES" not in os.environ,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
CLASSES = {"pretrain": PretrainConfig, "finetune": FinetuneConfig}

# --------------------------------------------------------------------------- values

INTEGERS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 2**31, 2**32, 2**63 - 1, 2**63, -(2**63) - 1, 10**400]),
)
FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-300, 5e-324, 1e308, math.nan, math.inf, -math.inf]),
)
SCALARS = st.one_of(st.none(), st.booleans(), INTEGERS, FLOATS, st.text(max_size=12))
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.text(max_size=10), children, max_size=4),
    ),
    max_leaves=12,
)


def _paths(table: dict, prefix: str = "") -> list[str]:
    """Dotted paths of every key of a nested dict (tables and leaves)."""
    out = []
    for key, value in table.items():
        out.append(prefix + key)
        if isinstance(value, dict):
            out += _paths(value, f"{prefix}{key}.")
    return out


def _set(table: dict, path: str, value) -> dict:
    *parents, last = path.split(".")
    node = table
    for key in parents:
        node = node[key]
    node[last] = value
    return table


def _table_of(key: str) -> str:
    """The table a dotted key lives in: 'encoder' for 'encoder.strides[2]', '' at the top."""
    key = re.sub(r"\[\d+\]", "", key)
    return key.rpartition(".")[0]


def _assert_loaded_or_config_error(cls, data) -> tuple[object | None, ConfigError | None]:
    try:
        config = cls.from_dict(data)
    except ConfigError as exc:
        assert isinstance(exc.key, str)
        assert f"configuration key '{exc.key}'" in str(exc)
        return None, exc
    assert isinstance(config, cls)
    # A loaded configuration is strict JSON and survives the round trip.
    text = json.dumps(config.to_dict(), allow_nan=False)
    assert cls.from_dict(json.loads(text)) == config
    return config, None


# --------------------------------------------------------------------------- from_dict


@FUZZ
@given(
    which=st.sampled_from(sorted(CLASSES)),
    data=st.one_of(
        JSON_VALUES,
        st.dictionaries(
            st.one_of(st.sampled_from(_paths(FinetuneConfig().to_dict())), st.text(max_size=8)),
            JSON_VALUES,
            max_size=6,
        ),
    ),
)
@example(which="pretrain", data={"temperature": 10**400})
@example(which="pretrain", data={"augmentation": {"gain_db": [-(10**400), 1]}})
@example(which="finetune", data={"epochs": 10**30})
@example(which="finetune", data={"seed": -1})
@example(which="finetune", data={"data": {"seed": 2**32}})
@example(which="finetune", data={"data": {"channels": [-1]}})
@example(which="pretrain", data={"data": 5})
@example(which="pretrain", data=[1, 2])
def test_random_dicts_load_or_name_a_key(which, data):
    cls = CLASSES[which]
    _, error = _assert_loaded_or_config_error(cls, data)
    if error is not None and isinstance(data, dict):
        named = error.key
        assert any(
            named == key or named.startswith((f"{key}.", f"{key}[")) for key in map(str, data)
        ), (named, sorted(map(str, data)))


@st.composite
def one_change(draw) -> tuple[str, str, object]:
    """A configuration class, one of its keys (dotted path) and a new value for it."""
    which = draw(st.sampled_from(sorted(CLASSES)))
    path = draw(st.sampled_from(_paths(CLASSES[which]().to_dict())))
    return which, path, draw(JSON_VALUES)


@FUZZ
@given(change=one_change())
@example(change=("finetune", "encoder.strides", [1]))
@example(change=("finetune", "freeze_encoder", True))
@example(change=("pretrain", "data.band_hz", [1e308, -1e308]))
@example(change=("pretrain", "augmentation", {"gain_db": [1, 0]}))
def test_one_changed_key_is_the_key_named(change):
    which, path, value = change
    cls = CLASSES[which]
    _, error = _assert_loaded_or_config_error(cls, _set(cls().to_dict(), path, value))
    if error is not None:
        named = error.key
        assert (
            named == path
            or named.startswith((path + ".", path + "["))
            or _table_of(named) == _table_of(path)
        ), f"changed {path!r}, the error names {named!r}: {error}"


# --------------------------------------------------------------------------- files

VALID_JSON = json.dumps({"epochs": 3, "data": {"band_hz": [1e5, 5e5]}, "encoder": {"filters": 8}})
VALID_TOML = "epochs = 3\n[data]\nband_hz = [1e5, 5e5]\n[encoder]\nfilters = 8\n"


@st.composite
def file_contents(draw) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from([".json", ".toml", ".TOML", ""]))
    valid = VALID_TOML if suffix.lower() == ".toml" else VALID_JSON
    kind = draw(st.sampled_from(["text", "bytes", "mutated", "json-of-values"]))
    if kind == "text":
        content = draw(st.text(alphabet=st.characters(codec="utf-8"), max_size=200)).encode()
    elif kind == "bytes":
        content = draw(st.binary(max_size=200))
    elif kind == "mutated":
        cut = draw(st.integers(0, len(valid)))
        insert = draw(st.text(alphabet="[]{}=\"',.:#\n \\0123456789eE+-_abtrufnl", max_size=8))
        drop = draw(st.integers(0, 5))
        content = (valid[:cut] + insert + valid[cut + drop :]).encode()
    else:
        content = json.dumps(draw(JSON_VALUES)).encode()
    return suffix, content


@pytest.fixture(scope="module")
def files_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("config-files")


@FUZZ
@given(contents=file_contents())
@example(contents=(".json", b"[" * 100_000))
@example(contents=(".json", b'{"a":' * 100_000))
@example(contents=(".toml", b"a = " + b"[" * 100_000))
@example(contents=(".json", b'{"epochs": ' + b"9" * 5000 + b"}"))
@example(contents=(".toml", b"epochs = " + b"9" * 5000))
@example(contents=(".json", b"\xff\xfe{}"))
@example(contents=(".json", b'{"epochs": NaN, "temperature": Infinity}'))
@example(contents=(".toml", b"temperature = nan\nepochs = 3"))
@example(contents=(".toml", b"epochs = 1979-05-27T07:32:00Z"))
@example(contents=(".json", b"null"))
def test_any_file_content_is_a_table_or_a_config_error(files_dir, contents):
    suffix, content = contents
    path = files_dir / f"{uuid.uuid4().hex}{suffix}"
    path.write_bytes(content)
    try:
        data = load_config_file(path)
    except ConfigError as exc:
        assert exc.key == str(path)
        return
    assert isinstance(data, dict)
    for cls in CLASSES.values():
        _assert_loaded_or_config_error(cls, data)


def test_file_errors_say_what_is_wrong(files_dir):
    missing = files_dir / "missing.json"
    with pytest.raises(ConfigError, match=r"missing\.json': cannot read the configuration file"):
        load_config_file(missing)
    with pytest.raises(ConfigError, match=r"cannot read the configuration file \(Is a directory"):
        load_config_file(files_dir)
    deep = files_dir / "deep.json"
    deep.write_text("[" * 100_000)
    with pytest.raises(ConfigError, match="not valid JSON: nested too deeply"):
        load_config_file(deep)
    latin = files_dir / "latin.toml"
    latin.write_bytes("epochs = 3 # caf\xe9".encode("latin-1"))
    with pytest.raises(ConfigError, match="not valid TOML: 'utf-8' codec can't decode"):
        load_config_file(latin)
    upper = files_dir / "upper.TOML"
    upper.write_text("epochs = 3\n")
    assert load_config_file(upper) == {"epochs": 3}


# --------------------------------------------------------------------------- command line


def _run_cli(argv: list[str]) -> tuple[int, str, str]:
    """`mpikeras ARGV` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def _assert_one_line_error(code: int, err: str, command: str, pattern: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert re.match(rf"mpikeras {command}: error: {pattern}", err), err


def _lambda_model(path: Path) -> Path:
    import keras

    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x * 2.0)(inputs)
    keras.Model(inputs, outputs).save(path)
    return path


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory) -> dict[str, Path]:
    """Bad inputs for the command line, and a tiny valid SM and measurement."""
    import zipfile

    from mpikeras.io import (
        Acquisition,
        Grid,
        Measurement,
        SystemMatrix,
        write_measurement,
        write_system_matrix,
    )

    root = tmp_path_factory.mktemp("cli-values")
    files = {"root": root, "missing": root / "missing" / "sm.mdf"}
    (root / "afile").write_text("not a folder")
    files["afile"] = root / "afile"
    for name, content in {
        "bad.json": b"{", "bad.toml": b"epochs = = 3", "list.json": b"[1, 2]",
        "latin.json": b'{"epochs": "caf\xe9"}', "deep.json": b"[" * 100_000,
        "data5.json": b'{"data": 5}', "unknown.json": b'{"epoch": 3}',
    }.items():  # fmt: skip
        (root / name).write_bytes(content)
        files[name] = root / name
    files["garbage.keras"] = root / "garbage.keras"
    files["garbage.keras"].write_bytes(np.random.default_rng(0).bytes(512))
    files["noconfig.keras"] = root / "noconfig.keras"
    with zipfile.ZipFile(files["noconfig.keras"], "w") as archive:
        archive.writestr("metadata.json", "{}")
    files["lambda.keras"] = _lambda_model(root / "lambda.keras")
    rng = np.random.default_rng(0)
    acq = Acquisition(num_sampling_points=16, num_receive_channels=2)
    grid = Grid(size=(3, 2, 1), fov_m=(0.006, 0.004, 0.001))
    spectra = (rng.normal(size=(2, 9, 1, 2, 3)) + 1j).astype(np.complex64)
    background = (rng.normal(size=(2, 9, 4)) + 0j).astype(np.complex64)
    files["sm"] = write_system_matrix(root / "sm.mdf", SystemMatrix(spectra, grid, acq, background))
    meas = Measurement(rng.normal(size=(3, 1, 2, 16)), np.array([0, 0, 1], bool), acq)
    files["meas"] = write_measurement(root / "meas.mdf", meas)
    return files


# (id, argv with {name} for the paths of `cli_files`, command, pattern of the one-line message)
CLI_CASES = [
    ("pretrain-negative-epochs", "pretrain --epochs -1 --out {root}/r", "pretrain",
     r"configuration key 'epochs': must be positive, got -1"),
    ("pretrain-zero-batch", "pretrain --batch-size 0 --out {root}/r", "pretrain",
     r"configuration key 'batch_size': must be positive, got 0"),
    ("pretrain-huge-epochs", "pretrain --epochs 100000000000000000000000 --out {root}/r",
     "pretrain", r"configuration key 'epochs': expected a 64-bit integer, got an integer of 77"),
    ("pretrain-negative-seed", "pretrain --seed -1 --out {root}/r", "pretrain",
     r"configuration key 'seed': must be in \[0, 2\*\*32 - 1\], got -1"),
    ("pretrain-huge-seed", "pretrain --seed 4294967296 --out {root}/r", "pretrain",
     r"configuration key 'seed': must be in \[0, 2\*\*32 - 1\], got 4294967296"),
    ("pretrain-missing-config", "pretrain --config {root}/nothing.json --out {root}/r",
     "pretrain", r"configuration key '.*nothing\.json': cannot read the configuration file "
     r"\(No such file or directory\)"),
    ("pretrain-config-directory", "pretrain --config {root} --out {root}/r", "pretrain",
     r"configuration key '.*': cannot read the configuration file \(Is a directory\)"),
    ("pretrain-bad-json", "pretrain --config {bad.json} --out {root}/r", "pretrain",
     r"configuration key '.*bad\.json': not valid JSON: Expecting property name"),
    ("pretrain-bad-toml", "pretrain --config {bad.toml} --out {root}/r", "pretrain",
     r"configuration key '.*bad\.toml': not valid TOML: "),
    ("pretrain-config-list", "pretrain --config {list.json} --out {root}/r", "pretrain",
     r"configuration key '.*list\.json': expected a table of keys at the top, got list"),
    ("pretrain-config-latin-1", "pretrain --config {latin.json} --out {root}/r", "pretrain",
     r"configuration key '.*latin\.json': not valid JSON: 'utf-8' codec can't decode"),
    ("pretrain-config-too-deep", "pretrain --config {deep.json} --out {root}/r", "pretrain",
     r"configuration key '.*deep\.json': not valid JSON: nested too deeply"),
    ("pretrain-config-data-not-a-table", "pretrain --config {data5.json} --data x --out {root}/r",
     "pretrain", r"configuration key 'data': expected a table of keys, got 5"),
    ("pretrain-config-unknown-key", "pretrain --config {unknown.json} --out {root}/r",
     "pretrain", r"configuration key 'epoch': unknown key; known keys are \["),
    ("pretrain-unknown-preset", "pretrain --data simulated:nope --out {root}/r", "pretrain",
     r"configuration key 'preset': unknown simulation preset"),
    ("pretrain-missing-data", "pretrain --data {missing} --out {root}/r", "pretrain",
     r".*missing/sm\.mdf: field '/': file does not exist"),
    ("pretrain-data-not-mdf", "pretrain --data {bad.json} --out {root}/r", "pretrain",
     r".*bad\.json: field '/': not an HDF5 file"),
    ("train-bracket-reconstruction", "train reconstruction --bracket --out {root}/r", "train",
     r"configuration key 'recovery_input': --bracket applies to the recovery task only"),
    ("train-negative-contrastive-weight", "train recovery --contrastive-weight -1 --out {root}/r",
     "train", r"configuration key 'contrastive_weight': must be >= 0, got -1\.0"),
    ("train-nan-contrastive-weight", "train recovery --contrastive-weight nan --out {root}/r",
     "train", r"configuration key 'contrastive_weight': expected a finite number, got nan"),
    ("train-freeze-without-encoder", "train recovery --freeze-encoder --out {root}/r", "train",
     r"configuration key 'freeze_encoder': needs a pretrained_encoder to freeze"),
    ("train-missing-encoder", "train recovery --encoder {root}/none.keras --out {root}/r",
     "train", r".*none\.keras: model file not found"),
    ("train-encoder-not-a-zip", "train recovery --encoder {garbage.keras} --out {root}/r",
     "train", r".*garbage\.keras: not a Keras \.keras archive"),
    ("train-encoder-without-config", "train recovery --encoder {noconfig.keras} --out {root}/r",
     "train", r".*noconfig\.keras: not a Keras \.keras archive \(no config\.json inside\)"),
    ("train-encoder-with-lambda", "train recovery --encoder {lambda.keras} --out {root}/r",
     "train", r".*lambda\.keras: not a loadable Keras model \(.*Lambda.*safe_mode"),
    ("simulate-zero-frames", "simulate --phantom resolution --frames 0 --out {root}/x.mdf",
     "simulate", r"--frames must be at least 1, got 0"),
    ("simulate-negative-seed", "simulate --preset openmpi-2d-19 --seed -1 --out {root}/x.mdf",
     "simulate", r"--seed must be >= 0, got -1"),
    ("simulate-nothing", "simulate --out {root}/x.mdf", "simulate", r"give --preset NAME"),
    ("reconstruct-zero-iterations", "reconstruct --sm {missing} --measurement {missing} "
     "--iterations 0 --out {root}/img", "reconstruct", r"--iterations must be at least 1, got 0"),
    ("reconstruct-negative-lambda", "reconstruct --sm {missing} --measurement {missing} "
     "--lambda -1 --out {root}/img", "reconstruct",
     r"--lambda must be a finite number >= 0, got -1\.0"),
    ("reconstruct-nan-lambda", "reconstruct --sm {missing} --measurement {missing} "
     "--lambda nan --out {root}/img", "reconstruct",
     r"--lambda must be a finite number >= 0, got nan"),
    ("reconstruct-missing-sm", "reconstruct --sm {missing} --measurement {meas} --out {root}/i",
     "reconstruct", r".*missing/sm\.mdf: field '/': file does not exist"),
    ("reconstruct-swapped-files", "reconstruct --sm {meas} --measurement {sm} --out {root}/i",
     "reconstruct", r".*meas\.mdf: field '/calibration/method': missing: this is a "
     r"measurement file"),
    ("reconstruct-unknown-channel", "reconstruct --sm {sm} --measurement {meas} --channels 7 "
     "--out {root}/i", "reconstruct", r"select_frequencies: channels \[7\] do not exist"),
    ("reconstruct-out-under-a-file", "reconstruct --sm {sm} --measurement {meas} "
     "--snr-threshold 0 --min-frequency 0 --out {afile}/img", "reconstruct",
     r".*afile: File exists"),
    ("evaluate-model-without-label", "evaluate --model x --train-sm {sm} --test-sm {sm} "
     "--out {root}/e", "evaluate", r"--model expects LABEL=PATH, got 'x'"),
    ("evaluate-missing-model", "evaluate --model a={root}/none.keras --train-sm {sm} "
     "--test-sm {sm} --out {root}/e", "evaluate", r".*none\.keras: model file not found"),
    ("evaluate-model-not-a-zip", "evaluate --model a={garbage.keras} --train-sm {sm} "
     "--test-sm {sm} --out {root}/e", "evaluate", r".*garbage\.keras: not a Keras \.keras"),
    ("evaluate-model-with-lambda", "evaluate --model a={lambda.keras} --train-sm {sm} "
     "--test-sm {sm} --out {root}/e", "evaluate",
     r".*lambda\.keras: not a loadable Keras model \(.*Lambda.*safe_mode"),
    ("reproduce-zero-seeds", "reproduce --seeds 0 --out {root}/rep", "reproduce",
     r"--seeds must be at least 1, got 0"),
    ("info-missing", "info {missing}", "info", r".*missing/sm\.mdf: field '/': file does not"),
    ("info-directory", "info {root}", "info", r".*: field '/': is a directory"),
]  # fmt: skip


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("argv", "command", "pattern"), [pytest.param(*c[1:], id=c[0]) for c in CLI_CASES]
)
def test_bad_command_line_values_exit_2_with_one_line(cli_files, argv, command, pattern):
    args = [
        re.sub(r"\{([\w.]+)\}", lambda m: str(cli_files[m.group(1)]), part) for part in argv.split()
    ]
    before = sorted(p.name for p in cli_files["root"].iterdir())
    code, _, err = _run_cli(args)
    _assert_one_line_error(code, err, command, pattern)
    # Nothing was started: no run directory, image or file beside the inputs.
    assert sorted(p.name for p in cli_files["root"].iterdir()) == before


@pytest.mark.parametrize(
    "argv",
    [
        "pretrain --epochs abc --out r",
        "pretrain --epochs 1e3 --out r",
        "pretrain --pipeline bogus --out r",
        "pretrain --epochs 3",
        "train segmentation --out r",
        "simulate --preset openmpi-2d-99 --out x.mdf",
        "reconstruct --sm a --measurement b --channels --out i",
        "reproduce --preset huge",
        "frobnicate",
        "",
    ],
)
def test_argparse_usage_errors_exit_2_without_traceback(argv):
    code, _, err = _run_cli(argv.split())
    assert code == 2
    assert "Traceback" not in err
    assert re.search(r"^mpikeras.*: error: ", err, flags=re.MULTILINE), err


NUMERIC_TEXT = st.one_of(
    INTEGERS.map(str),
    FLOATS.map(repr),
    st.text(alphabet="0123456789-+.eExnaif ", max_size=12),
    st.text(max_size=8),
)


@FUZZ
@given(
    option=st.sampled_from(["--epochs", "--batch-size", "--seed", "--contrastive-weight"]),
    value=NUMERIC_TEXT,
)
def test_random_training_values_exit_2(cli_files, option, value):
    """Whatever the value, the run stops with status 2: nothing trains (the data is missing)."""
    argv = ["train", "recovery", f"{option}={value}", "--data", str(cli_files["missing"]),
            "--out", str(cli_files["root"] / "never")]  # fmt: skip
    code, _, err = _run_cli(argv)
    assert code == 2, err
    assert "Traceback" not in err
    if not err.startswith("usage:"):
        _assert_one_line_error(code, err, "train", r"(configuration key '|.*missing/sm\.mdf)")
    assert not (cli_files["root"] / "never").exists()
