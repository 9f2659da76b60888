"""Frame streams: blocks read with bounded memory, classic and learned, the bolus phantom."""

import json

import numpy as np
import pytest

from mpikeras.cli.main import main
from mpikeras.errors import MDFError
from mpikeras.io import (
    MeasurementFrames,
    read_measurement,
    write_measurement,
    write_system_matrix,
)
from mpikeras.io.mdf import frames as frames_module
from mpikeras.reconstruction import (
    kaczmarz,
    kaczmarz_solver,
    reconstruct,
    reconstruct_stream,
    select_frequencies,
    tikhonov_operator,
)
from mpikeras.simulation import preset, simulate_bolus, simulate_system_matrix

NUM_FRAMES = 40
#: Classic stream (Kaczmarz solver) against `reconstruct` frame by frame; measured 3e-9
#: (the reference subtracts a float32 mean background, the stream a float64 one).
KACZMARZ_RTOL = 1e-6
#: Tikhonov operator (float32 kernel) against Kaczmarz without projection at 400 sweeps,
#: lam = 0.1; measured 1.1e-6 (float32 rounding and Kaczmarz's distance from convergence).
CONVERGED_RTOL = 1e-5


def relative(a, b):
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(b).max())


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    config = preset("openmpi-2d-19")
    sm = simulate_system_matrix(config)
    bolus = simulate_bolus(config, num_frames=NUM_FRAMES, segment_m=1e-3, seed=3)
    write_system_matrix(root / "sm.mdf", sm)
    write_measurement(root / "bolus.mdf", bolus.measurement)
    return {
        "root": root,
        "sm": sm,
        "bolus": bolus,
        "tikhonov": tikhonov_operator(sm),
        "kaczmarz": kaczmarz_solver(sm),
    }


def test_chunked_equals_unchunked_and_file_equals_memory(data):
    measurement = data["bolus"].measurement
    for solver, rtol, count in (
        (data["tikhonov"], 1e-5, NUM_FRAMES),
        (data["kaczmarz"], 1e-10, 16),
    ):
        frames = slice(0, count)
        whole = reconstruct_stream(measurement, solver, frames=frames, chunk_frames=1000)
        path = data["root"] / "bolus.mdf"
        chunked = reconstruct_stream(path, solver, frames=frames, chunk_frames=7)
        assert whole.images.shape == (count, 19, 19)
        assert chunked.frame_indices[:, 0].tolist() == list(range(count))
        assert relative(chunked.images, whole.images) < rtol
        assert chunked.method == solver.name and chunked.frames_per_second > 0
        assert chunked.frame_duration_s == pytest.approx(652.8e-6)


def test_a_file_larger_than_the_read_limit_is_read_in_bounded_blocks(data, monkeypatch):
    path = data["root"] / "bolus.mdf"
    frame_bytes = 3 * 1632 * 4
    monkeypatch.setenv("MPIKERAS_MAX_READ_BYTES", str(8 * frame_bytes))
    with pytest.raises(MDFError, match="declares more data than memory allows"):
        read_measurement(path)  # the whole file at once is refused
    sizes = []
    read_frames = frames_module.read_frames

    def counting(r, layout, indices=None):
        sizes.append(len(indices))
        return read_frames(r, layout, indices)

    monkeypatch.setattr(frames_module, "read_frames", counting)
    result = reconstruct_stream(path, data["tikhonov"], chunk_frames=8)
    # 10 background frames in blocks of 8, then the 40 foreground frames in blocks of 8.
    assert sizes == [8, 2, 8, 8, 8, 8, 8]
    assert result.max_block_bytes == 8 * frame_bytes
    unlimited = reconstruct_stream(data["bolus"].measurement, data["tikhonov"])
    assert relative(result.images, unlimited.images) < 1e-5


def test_classic_stream_equals_per_frame_kaczmarz(data):
    measurement = data["bolus"].measurement
    result = reconstruct_stream(measurement, data["kaczmarz"], frames=slice(3, 15))
    spectra = measurement.spectra(frames=slice(3, 15), average_frames=False)
    expected = reconstruct(data["sm"], spectra)[:, 0]
    assert result.images.shape == (12, 19, 19)
    assert result.frame_indices[:, 0].tolist() == list(range(3, 15))
    assert relative(result.images, expected) < KACZMARZ_RTOL


def test_tikhonov_operator_is_what_kaczmarz_converges_to(data):
    # lam = 0.1: Kaczmarz converges in a few hundred sweeps (at the default 0.01 it takes
    # 3000, 1.7e-6 apart then; the stream benchmark measures that).
    sm, measurement = data["sm"], data["bolus"].measurement
    operator = tikhonov_operator(sm, lam=0.1, enforce_positive=False)
    image = reconstruct_stream(measurement, operator, frames=slice(20, 21)).images[0]
    mask = select_frequencies(sm)
    u = measurement.spectra(frames=20)[[0, 1]][mask]
    converged = kaczmarz(sm.matrix((0, 1), mask), u, 0.1, 400, enforce_positive=False)
    assert relative(image.ravel(), converged) < CONVERGED_RTOL
    three_sweeps = kaczmarz(sm.matrix((0, 1), mask), u, 0.1, 3, enforce_positive=False)
    assert relative(image.ravel(), three_sweeps) > 100 * CONVERGED_RTOL  # another problem
    # With clipping the operator's image is the same one, negatives set to 0.
    clipped = tikhonov_operator(sm, lam=0.1)
    clipped = reconstruct_stream(measurement, clipped, frames=slice(20, 21)).images[0]
    np.testing.assert_allclose(clipped, np.maximum(image, 0), rtol=0, atol=1e-6 * image.max())


def test_averaging_equals_reconstructing_the_mean(data):
    sm, measurement = data["sm"], data["bolus"].measurement
    # Averages of 5 read in blocks of 7 frames: most averages span two blocks.
    result = reconstruct_stream(measurement, data["kaczmarz"], frames=slice(2, 40), average=5)
    assert result.images.shape == (7, 19, 19)  # 38 frames: 7 averages, 3 frames left out
    assert result.frame_indices[1].tolist() == [7, 8, 9, 10, 11]
    chunked = reconstruct_stream(
        measurement, data["kaczmarz"], frames=slice(2, 40), average=5, chunk_frames=7
    )
    assert relative(chunked.images, result.images) < 1e-10
    for i in (0, 3, 6):
        mean = measurement.spectra(frames=slice(2 + 5 * i, 7 + 5 * i))
        assert relative(chunked.images[i], reconstruct(sm, mean)[0]) < KACZMARZ_RTOL
    # One average of everything is the mean frame `reconstruct` uses by default.
    everything = reconstruct_stream(measurement, data["kaczmarz"], average=40, chunk_frames=6)
    assert relative(everything.images[0], reconstruct(sm, measurement)[0]) < KACZMARZ_RTOL


def centre_of_mass_y(images):
    images = np.clip(np.asarray(images), 0, None)
    rows = images.sum(axis=-1)
    return (rows * np.arange(rows.shape[-1])).sum(axis=-1) / rows.sum(axis=-1)


def test_the_bolus_moves_and_the_reconstructions_follow_it(data):
    bolus = data["bolus"]
    truth = centre_of_mass_y(bolus.concentrations[:, 0])
    assert np.all(np.diff(truth) > 0) and truth[-1] - truth[0] > 4  # voxels of 2 mm
    assert np.all(np.diff(bolus.centres_m[:, 1]) > 0)
    assert bolus.speed_m_per_s == pytest.approx(0.018 / (39 * 652.8e-6))
    for solver in (data["tikhonov"], data["kaczmarz"]):
        result = reconstruct_stream(bolus.measurement, solver, average=4)
        found = centre_of_mass_y(result.images)
        assert np.all(np.diff(found) > 0), (solver.name, found)
        expected = truth.reshape(-1, 4).mean(axis=1)
        assert np.corrcoef(found, expected)[0, 1] > 0.99
        assert np.abs(found - expected).max() < 1.5  # voxels


def test_bad_selections_are_refused(data):
    measurement = data["bolus"].measurement
    from mpikeras.errors import PreprocessingError

    with pytest.raises(PreprocessingError, match="select no frame"):
        reconstruct_stream(measurement, data["tikhonov"], frames=slice(50, 60))
    with pytest.raises(PreprocessingError, match="exceeds the 10 selected frames"):
        reconstruct_stream(measurement, data["tikhonov"], frames=slice(0, 10), average=11)
    with pytest.raises(PreprocessingError, match="step 1"):
        reconstruct_stream(measurement, data["tikhonov"], frames=slice(0, 10, 2))


def test_cli_reconstructs_a_stream_and_keeps_earlier_outputs(data, tmp_path, capsys):
    root = data["root"]
    out = tmp_path / "stream"
    argv = ["reconstruct", "--sm", str(root / "sm.mdf"), "--measurement", str(root / "bolus.mdf")]
    stream = [*argv, "--solver", "tikhonov", "--frames", "2:14", "--average", "3"]
    assert main([*stream, "--chunk-frames", "5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "shape (4, 19, 19)" in printed and "frames/s" in printed
    images = np.load(tmp_path / "stream.npy")
    expected = reconstruct_stream(
        data["bolus"].measurement, data["tikhonov"], frames=slice(2, 14), average=3
    )
    assert relative(images, expected.images) < 1e-5
    assert (tmp_path / "stream.png").read_bytes()[:4] == b"\x89PNG"
    np.save(tmp_path / "stream.npy", np.zeros(1))
    assert main([*stream, "--out", str(out)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert np.load(tmp_path / "stream.npy").shape == (1,)
    assert main([*stream, "--out", str(out), "--overwrite"]) == 0
    assert np.load(tmp_path / "stream.npy").shape == (4, 19, 19)
    # The default is still the mean frame, reconstructed as before.
    assert main([*argv, "--out", str(tmp_path / "mean")]) == 0
    mean = np.load(tmp_path / "mean.npy")
    assert mean.shape == (1, 19, 19)
    assert relative(mean, reconstruct(data["sm"], data["bolus"].measurement)) < KACZMARZ_RTOL
    assert main([*argv, "--frames", "3-5", "--out", str(tmp_path / "bad")]) == 2
    assert "--frames must be mean, all or A:B" in capsys.readouterr().err


def test_learned_stream_batches_a_model_over_frames(data, tmp_path, capsys):
    import keras

    from mpikeras.export.reconstructor import load_learned_reconstructor
    from mpikeras.models import DirectReconstruction, Encoder
    from mpikeras.preprocessing.bandpass import band_mask

    keras.utils.set_random_seed(0)
    model = DirectReconstruction(Encoder((1632, 2), filters=4), normalization_scale=0.5)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    model.save(run_dir / "model.keras")
    (run_dir / "config.json").write_text(
        json.dumps({"data": {"source": "simulated:openmpi-2d-19", "band_hz": [80e3, 600e3]}})
    )
    learned = load_learned_reconstructor(run_dir / "model.keras")
    measurement = data["bolus"].measurement
    result = reconstruct_stream(measurement, learned, frames=slice(0, 11), chunk_frames=4)
    assert result.method == "learned" and result.images.shape == (11, 19, 19)
    # By hand: background-corrected, band-passed volts / (4 mm^3 x 0.5), one batch.
    signal = measurement.signal(frames=slice(0, 11), average_frames=False)[:, :2]
    spectra = np.fft.rfft(signal, axis=-1) * band_mask(
        measurement.acquisition.frequencies_hz, (80e3, 600e3)
    )
    volts = np.fft.irfft(spectra, n=1632, axis=-1).transpose(0, 2, 1)
    expected = model.predict_on_batch((volts / 2.0).astype("float32"))[..., 0]
    # float32 background subtraction and band-pass in the stream, float64 here.
    atol = 1e-4 * np.abs(expected).max()
    np.testing.assert_allclose(result.images, expected, rtol=0, atol=atol)
    out = tmp_path / "learned"
    argv = ["reconstruct", "--model", str(run_dir / "model.keras")]
    argv += ["--measurement", str(data["root"] / "bolus.mdf"), "--frames", "0:11"]
    assert main([*argv, "--out", str(out)]) == 0, capsys.readouterr().err
    np.testing.assert_allclose(np.load(f"{out}.npy"), result.images, rtol=1e-5, atol=1e-6)
    both = ["--sm", str(data["root"] / "sm.mdf")]
    assert main([*argv, *both, "--out", str(tmp_path / "x")]) == 2
    assert "not both" in capsys.readouterr().err
    if keras.backend.backend() == "tensorflow":  # an exported SavedModel takes volts itself
        from mpikeras.export import export_saved_model

        export_saved_model(run_dir, tmp_path / "export")
        served = load_learned_reconstructor(tmp_path / "export")
        exported = reconstruct_stream(measurement, served, frames=slice(0, 11), chunk_frames=4)
        np.testing.assert_allclose(exported.images, result.images, rtol=0, atol=atol)


def test_in_memory_frames_serve_what_the_file_holds(data):
    frames = MeasurementFrames.in_memory(data["bolus"].measurement)
    assert frames.num_frames == NUM_FRAMES + 10
    assert frames.foreground_indices.tolist() == list(range(NUM_FRAMES))
    assert frames.read([0, 45]).shape == (2, 1, 3, 1632)
