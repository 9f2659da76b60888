import keras_tuner as kt
import numpy as np
import pytest
from helpers import tiny_config

from mpikeras.config import PretrainConfig
from mpikeras.errors import ConfigError
from mpikeras.io import write_system_matrix
from mpikeras.models.heads import BracketRecovery
from mpikeras.simulation import preset, simulate_system_matrix
from mpikeras.tuning.hypermodel import (
    ContrastiveHyperModel,
    SearchSpace,
    declare_hyperparameters,
    objective,
    objective_name,
)
from mpikeras.tuning.search import build_tuner

AUGMENTATION_HYPERPARAMETERS = {
    "polarity",
    "polarity_probability",
    "noise",
    "noise_probability",
    "noise_ratio_db_max",
    "noise_ratio_db_width",
    "gain",
    "gain_probability",
    "gain_db_max",
    "gain_db_width",
    "combination",
    "combination_probability",
    "combination_max_voxels",
}


@pytest.fixture(scope="session")
def tuning_sm_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("tuning-data") / "train.mdf"
    write_system_matrix(path, simulate_system_matrix(preset("openmpi-2d-19")))
    return path


@pytest.fixture
def base(tuning_sm_path):
    return PretrainConfig.from_dict(tiny_config(tuning_sm_path))


def hyperparameters(**values):
    """A HyperParameters set with the space registered and `values` set."""
    hp = kt.HyperParameters()
    declare_hyperparameters(hp, PretrainConfig())
    hp.values.update(values)
    return hp


def test_search_space_holds_augmentations_and_model_knobs():
    hp = kt.HyperParameters()
    config = declare_hyperparameters(hp, PretrainConfig())
    names = {p.name for p in hp.space}
    assert names >= AUGMENTATION_HYPERPARAMETERS
    assert names >= {"learning_rate", "temperature", "projector_hidden_units"}
    # The defaults are the paper's settings, so the space is centred on them.
    assert config == PretrainConfig()
    assert config.augmentation.noise_ratio_db == (-25.0, -15.0)
    assert config.augmentation.gain_db == (-20.0, -1.0)


def test_trial_values_map_onto_the_configuration():
    hp = hyperparameters(
        noise_ratio_db_max=-10.0,
        noise_ratio_db_width=5.0,
        gain_db_max=-3.0,
        gain_db_width=12.0,
        polarity_probability=0.8,
        combination_max_voxels=3,
        combination_probability=0.25,
        learning_rate=3e-4,
        temperature=0.2,
        projector_hidden_units=64,
    )
    config = declare_hyperparameters(hp, PretrainConfig())
    assert config.augmentation.noise_ratio_db == (-15.0, -10.0)
    assert config.augmentation.gain_db == (-15.0, -3.0)
    assert config.augmentation.polarity_probability == 0.8
    assert config.combination.num_voxels == (2, 3)
    assert config.combination.probability == 0.25
    assert config.optimizer.learning_rate == 3e-4
    assert config.temperature == 0.2
    assert config.projector.hidden_units == 64

    off = declare_hyperparameters(
        hyperparameters(noise=False, gain=False, polarity=False, combination=False),
        PretrainConfig(),
    )
    assert off.augmentation.noise_probability == 0.0
    assert off.augmentation.gain_probability == 0.0
    assert off.augmentation.polarity_probability == 0.0
    assert off.combination.probability == 0.0


def test_search_space_refuses_bad_ranges():
    with pytest.raises(ConfigError, match=r"space\.probability"):
        SearchSpace(probability=(0.5, 1.5))
    with pytest.raises(ConfigError, match=r"space\.noise_ratio_db_width"):
        SearchSpace(noise_ratio_db_width=(-1.0, 5.0))
    with pytest.raises(ConfigError, match="task"):
        objective_name("segmentation")


def _first_batch(streams):
    batch = next(iter(streams.train))
    return {k: np.asarray(v) for k, v in batch.items()}


def test_fit_draws_the_trials_augmentation_and_returns_the_downstream_mse(base, tmp_path):
    hypermodel = ContrastiveHyperModel("recovery", base, pretrain_epochs=1, finetune_epochs=2)
    # Every augmentation off and single columns only: both views are the same signal.
    hp = kt.HyperParameters()
    hypermodel.trial_config(hp)
    hp.values.update(polarity=False, noise=False, gain=False, combination=False)
    result = hypermodel.fit(hp, hypermodel.build(hp))

    trial = hypermodel.last_trial
    assert trial.config.augmentation.noise_probability == 0.0
    views = _first_batch(trial.pretrain_streams)
    np.testing.assert_array_equal(views["view_a"], views["view_b"])

    # The objective is the fine-tuned head's best validation MSE, not the contrastive loss.
    name = objective_name("recovery")
    assert set(result) == {name, f"{name}_last", "pretrain_val_loss"}
    assert result[name] == pytest.approx(min(trial.finetune_history["val_loss"]))
    x, y = trial.finetune_streams.validation
    recomputed = np.mean((np.asarray(trial.head_model.predict(x, verbose=0)) - y) ** 2)
    assert result[f"{name}_last"] == pytest.approx(recomputed, rel=1e-4)
    assert result["pretrain_val_loss"] == pytest.approx(trial.pretrain_history["val_loss"][-1])
    assert result[name] != pytest.approx(result["pretrain_val_loss"])

    tuner = build_tuner(hypermodel, "random", tmp_path, max_trials=1)
    assert tuner.oracle.objective.name == name == objective("recovery").name
    assert tuner.oracle.objective.direction == "min"


def test_noise_range_of_a_trial_sets_the_noise_level(base):
    hypermodel = ContrastiveHyperModel("reconstruction", base)
    hp = kt.HyperParameters()
    hypermodel.trial_config(hp)
    hp.values.update(
        polarity=False,
        gain=False,
        noise=True,
        noise_probability=1.0,
        noise_ratio_db_max=-20.0,
        noise_ratio_db_width=0.0,
    )
    views = _first_batch(hypermodel.pretrain_streams(hypermodel.trial_config(hp)))
    a, b = views["view_a"], views["view_b"]
    axes = (1, 2)
    # Independent noise of std 10^(-20/20) = 0.1 times the signal's in each view.
    ratio = np.std(a - b, axis=axes) / np.std((a + b) / 2, axis=axes)
    np.testing.assert_allclose(ratio, 0.1 * np.sqrt(2), rtol=0.06)


def test_bracket_recovery_trials_fine_tune_the_bracket_head_on_bracket_inputs(base):
    hypermodel = ContrastiveHyperModel(
        "recovery", base, pretrain_epochs=1, finetune_epochs=1, recovery_input="bracket"
    )
    hp = kt.HyperParameters()
    result = hypermodel.fit(hp, hypermodel.build(hp))

    trial = hypermodel.last_trial
    assert isinstance(trial.head_model, BracketRecovery)
    x, y = trial.finetune_streams.validation
    assert set(x) == {"lower", "upper"} and x["lower"].shape == y.shape
    recomputed = np.mean((np.asarray(trial.head_model.predict(x, verbose=0)) - y) ** 2)
    assert result["val_recovery_mse_last"] == pytest.approx(recomputed, rel=1e-4)

    with pytest.raises(ConfigError, match="recovery_input"):
        ContrastiveHyperModel("reconstruction", base, recovery_input="bracket")
