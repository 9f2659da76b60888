"""Commands never replace a file the user has unless told to (--overwrite)."""

from helpers import run_with_file_size_limit

from mpikeras.cli.main import main


def test_simulate_refuses_an_existing_file_and_keeps_it(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    code = main(["simulate", "--preset", "openmpi-2d-19", "--out", str(notes)])
    assert code == 2 and notes.read_text() == "my notes"
    err = capsys.readouterr().err.strip()
    assert (
        err == f"mpikeras simulate: error: {notes}: exists already; pass --overwrite to "
        "replace it, or choose another --out"
    )
    assert main(["simulate", "--preset", "openmpi-2d-19", "--out", str(notes), "--overwrite"]) == 0
    assert notes.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"  # replaced, as asked


def test_reconstruct_and_evaluate_refuse_existing_outputs_before_reading(tmp_path, capsys):
    (tmp_path / "res.npy").write_text("an earlier result")
    # The inputs do not even exist: the outputs are checked first.
    args = ["reconstruct", "--sm", "missing.mdf", "--measurement", "missing.mdf"]
    assert main([*args, "--out", str(tmp_path / "res.txt")]) == 2
    assert "res.npy: exists already" in capsys.readouterr().err
    (tmp_path / "report.md").write_text("my report")
    args = ["evaluate", "--model", "a=m.keras", "--train-sm", "x", "--test-sm", "y"]
    assert main([*args, "--out", str(tmp_path)]) == 2
    assert "report.md: exists already" in capsys.readouterr().err
    assert (tmp_path / "report.md").read_text() == "my report"


def test_a_write_that_fails_midway_ends_in_one_line_and_leaves_no_file(tmp_path):
    out = tmp_path / "sm.mdf"
    result = run_with_file_size_limit(
        ["simulate", "--preset", "openmpi-2d-19", "--out", str(out)], 200_000
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"mpikeras simulate: error: {out}: File too large"
    assert list(tmp_path.iterdir()) == []
