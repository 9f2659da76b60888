import json

import numpy as np
import pytest

from mpikeras.cli.main import COMMANDS, build_parser, main
from mpikeras.experiments.results import RECONSTRUCTION_WO_CL, RECOVERY_CL, Results, Task


def run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    assert main(["simulate", "--preset", "openmpi-2d-19", "--out", str(root / "sm.mdf")]) == 0
    assert main(["simulate", "--preset", "openmpi-2d-37", "--out", str(root / "sm37.mdf")]) == 0
    assert (
        main(
            [
                "simulate",
                "--phantom",
                "resolution",
                "--preset",
                "openmpi-2d-19",
                "--out",
                str(root / "phantom.mdf"),
                "--frames",
                "3",
            ]
        )
        == 0
    )
    return root


def test_every_command_has_help(capsys):
    parser = build_parser()
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: mpikeras" in capsys.readouterr().out


def test_info_text_and_json(files, capsys):
    code, out, _ = run(["info", str(files / "sm.mdf")], capsys)
    assert code == 0
    assert "calibration" in out and "19 x 19 x 1" in out
    code, out, _ = run(["info", str(files / "sm.mdf"), "--json"], capsys)
    summary = json.loads(out)
    assert summary["kind"] == "calibration"
    assert summary["grid"]["size"] == [19, 19, 1]
    code, out, _ = run(["info", str(files / "phantom.mdf"), "--json"], capsys)
    assert json.loads(out)["kind"] == "measurement"


def test_simulate_same_seed_same_data(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    for name in ("a", "b"):
        code, out, _ = run(
            [
                "simulate",
                "--preset",
                "openmpi-2d-19",
                "--seed",
                "4",
                "--out",
                str(tmp_path / f"{name}.mdf"),
            ],
            capsys,
        )
        assert code == 0 and f"{name}.mdf" in out
    assert (tmp_path / "a.mdf").read_bytes() == (tmp_path / "b.mdf").read_bytes()


def test_reconstruct_writes_array_and_png(files, tmp_path, capsys):
    code, out, _ = run(
        [
            "reconstruct",
            "--sm",
            str(files / "sm.mdf"),
            "--measurement",
            str(files / "phantom.mdf"),
            "--out",
            str(tmp_path / "image"),
        ],
        capsys,
    )
    assert code == 0, out
    image = np.load(tmp_path / "image.npy")
    assert image.shape == (1, 19, 19) and image.min() >= 0 and image.max() > 0
    assert (tmp_path / "image.png").read_bytes()[:4] == b"\x89PNG"
    assert "image.npy" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["info", "/nonexistent.mdf"], "does not exist"),
        (["simulate", "--out", "x.mdf"], "give --preset"),
        (["pretrain", "--out", "run", "--epochs", "-3"], "'epochs': must be positive"),
        (
            ["reconstruct", "--sm", "/nonexistent.mdf", "--measurement", "m", "--out", "x"],
            "does not exist",
        ),
    ],
)
def test_bad_input_is_one_clear_line_and_status_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(argv, capsys)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_config_file_errors_name_the_key(tmp_path, capsys):
    (tmp_path / "cfg.json").write_text(json.dumps({"augmentation": {"gain_db": [-1, -20]}}))
    code, _, err = run(
        ["pretrain", "--config", str(tmp_path / "cfg.json"), "--out", str(tmp_path / "run")], capsys
    )
    assert code == 2 and "augmentation.gain_db" in err and "minimum exceeds maximum" in err
    (tmp_path / "cfg.toml").write_text("[optimizer]\nlearnin_rate = 1e-3\n")
    code, _, err = run(
        ["pretrain", "--config", str(tmp_path / "cfg.toml"), "--out", str(tmp_path / "run")], capsys
    )
    assert code == 2 and "optimizer.learnin_rate" in err and "unknown key" in err


@pytest.mark.slow
def test_pretrain_train_evaluate_from_the_command_line(files, tmp_path, capsys):
    tiny = {
        "encoder": {"filters": 8},
        "steps_per_epoch": 2,
        "batch_size": 8,
        "projector": {"hidden_units": 16, "output_units": 8},
    }
    (tmp_path / "tiny.json").write_text(json.dumps(tiny))
    common = [
        "--config",
        str(tmp_path / "tiny.json"),
        "--epochs",
        "1",
        "--quiet",
        "--data",
        str(files / "sm.mdf"),
    ]
    unlabelled = ["--unlabelled", str(files / "sm37.mdf")]  # 37 x 37 more columns
    code, out, _ = run(["pretrain", *common, *unlabelled, "--out", str(tmp_path / "pre")], capsys)
    assert code == 0 and "encoder.keras" in out
    recorded = json.loads((tmp_path / "pre" / "config.json").read_text())
    assert recorded["data"]["unlabelled"] == [str(files / "sm37.mdf")]
    encoder = str(tmp_path / "pre" / "encoder.keras")
    code, out, _ = run(
        ["train", "recovery", *common, "--encoder", encoder, "--label-fraction", "0.5",
         "--out", str(tmp_path / "rec")], capsys,
    )  # fmt: skip
    assert code == 0 and "CL" in out
    assert json.loads((tmp_path / "rec" / "config.json").read_text())["label_fraction"] == 0.5
    lines = [line.split() for line in out.splitlines()]
    header = lines.index(["task", "method", "best", "epoch", "val", "loss"])
    assert lines[header + 2][:3] == ["recovery", "CL", "1"]
    code, out, _ = run(
        ["train", "reconstruction", *common, "--mixed-precision", "auto",
         "--out", str(tmp_path / "con")], capsys,
    )  # fmt: skip
    assert code == 0 and "wo-CL" in out
    precision = json.loads((tmp_path / "con" / "precision.json").read_text())
    assert precision["requested"] == "auto"
    assert precision["policy"] in ("float32", "mixed_bfloat16")
    assert precision["reason"].split()[0] in ("CPU", "GPU", "TPU")  # the device it judged
    code, out, _ = run(
        [
            "evaluate",
            "--model",
            f"CL={tmp_path / 'rec' / 'model.keras'}",
            "--model",
            f"wo-CL={tmp_path / 'con' / 'model.keras'}",
            "--train-sm",
            str(files / "sm.mdf"),
            "--test-sm",
            str(files / "sm37.mdf"),
            "--out",
            str(tmp_path / "eval"),
        ],
        capsys,
    )
    assert code == 0, out
    results = Results.load(tmp_path / "eval" / "results.json")
    assert RECOVERY_CL in results.methods(Task.RECOVERY)
    assert RECONSTRUCTION_WO_CL in results.methods(Task.RECONSTRUCTION)
    for name in ("figure2.png", "figure3.png", "report.md"):
        assert (tmp_path / "eval" / name).is_file()
