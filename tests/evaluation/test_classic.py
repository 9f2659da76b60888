import numpy as np
import pytest

from mpikeras.errors import PreprocessingError
from mpikeras.evaluation.classic import (
    PAPER_CLASSIC,
    ClassicSettings,
    per_volume_spectra,
    reconstruct_voxels,
    tune_classic,
    validation_spectra,
)
from mpikeras.evaluation.metrics import nrmse
from mpikeras.preprocessing.signals import MM3
from mpikeras.simulation import preset, simulate_system_matrix

BAND = (80e3, 600e3)


@pytest.fixture(scope="module")
def train():
    return simulate_system_matrix(preset("openmpi-2d-19"), seed=0)


def test_validation_noise_has_the_background_spread(train):
    clean = per_volume_spectra(train, BAND)
    noise = validation_spectra(train, BAND, seed=3) - clean
    sigma = np.std(train.background, axis=-1) / (train.delta_sample_volume_m3 / MM3)
    inside = (train.frequencies_hz >= BAND[0]) & (train.frequencies_hz <= BAND[1])
    measured = np.sqrt(np.mean(np.abs(noise[:, :, inside]) ** 2, axis=0))
    ratio = measured / (np.sqrt(2) * sigma[:, inside])
    assert np.median(ratio) == pytest.approx(1.0, abs=0.05)
    assert not np.any(noise[:, :, ~inside])


def test_noise_free_columns_reconstruct_their_own_voxel(train):
    images = reconstruct_voxels(
        train, per_volume_spectra(train, BAND)[:40], ClassicSettings(0.0, 30, 2.0), (0, 1), BAND
    )
    assert np.all(images.reshape(40, -1).argmax(axis=1) == np.arange(40))


def test_tuning_uses_training_data_and_beats_the_paper_setting(train):
    candidates = (PAPER_CLASSIC, ClassicSettings(1e-2, 3, 2.0), ClassicSettings(1e-3, 3, 1.25))
    tuning = tune_classic(train, (0, 1), BAND, candidates)
    scores = dict(tuning.scores)
    assert tuning.best == min(scores, key=scores.get)
    assert scores[tuning.best] < scores[PAPER_CLASSIC]
    # The score is that of the lit validation voxels: every 2nd in x and y (100 of 361).
    lit = np.arange(361).reshape(19, 19)[::2, ::2].ravel()
    spectra = validation_spectra(train, BAND)[lit]
    again = reconstruct_voxels(train, spectra, tuning.best, (0, 1), BAND)
    truth = np.eye(361)[lit].reshape(-1, 19, 19)
    assert nrmse(again, truth).mean() == pytest.approx(scores[tuning.best])


def test_tuning_needs_background_frames(train):
    import dataclasses

    bare = dataclasses.replace(train, background=train.background[..., :1])
    with pytest.raises(PreprocessingError, match="fewer than 2 background frames"):
        tune_classic(bare, (0, 1), BAND)
