"""Memory-hungry settings are refused before anything is built, with the figure they need."""

import pytest

from mpikeras.config import FinetuneConfig, PretrainConfig
from mpikeras.errors import ConfigError
from mpikeras.preprocessing import Normalization
from mpikeras.training.memory import check_training_memory, estimate_training_memory
from mpikeras.training.pretrain import build_simclr
from mpikeras.training.session import start_run
from mpikeras.training.task import build_task_model

SHAPE = (192, 2)
SMALL = {"encoder": {"filters": 8, "strides": [2, 2, 2, 2, 2]}}
GIB = 2**30


@pytest.mark.parametrize(
    "config",
    [
        PretrainConfig.from_dict({**SMALL, "projector": {"hidden_units": 24, "output_units": 8}}),
        FinetuneConfig.from_dict({**SMALL, "task": "recovery"}),
        FinetuneConfig.from_dict({**SMALL, "task": "recovery", "recovery_input": "bracket"}),
        FinetuneConfig.from_dict({**SMALL, "task": "reconstruction"}),
        FinetuneConfig.from_dict({**SMALL, "task": "reconstruction", "contrastive_weight": 0.5}),
    ],
    ids=["simclr", "recovery", "bracket", "reconstruction", "contrastive-weight"],
)
def test_the_parameter_count_is_the_built_models(config):
    if isinstance(config, PretrainConfig):
        model = build_simclr(config, SHAPE)
        model.build((None, *SHAPE))
        built = model.encoder.count_params() + model.projector.count_params()
    else:
        model = build_task_model(config, SHAPE, Normalization(scale=1.0))
        if config.contrastive_weight > 0:
            model.build()
            built = model.task_model.count_params() + model.projector.count_params()
        else:
            built = model.count_params()
    assert estimate_training_memory(config, SHAPE).parameters == built


def test_the_paper_defaults_fit_and_a_huge_batch_is_refused_naming_it():
    paper = check_training_memory(PretrainConfig(), (1632, 2), available_bytes=2 * GIB)
    assert paper.total_bytes < GIB
    with pytest.raises(ConfigError, match=r"'batch_size': .* a batch of 100000 need about \d+"):
        check_training_memory(PretrainConfig(batch_size=100000), (1632, 2), 16 * GIB)


def test_a_huge_layer_is_refused_naming_its_key():
    config = PretrainConfig.from_dict({"projector": {"output_units": 100_000_000}})
    with pytest.raises(ConfigError, match=r"'projector.output_units': .*parameters.* GiB"):
        check_training_memory(config, (1632, 2), 16 * GIB)


def test_a_run_that_cannot_fit_writes_nothing(tmp_path, train_sm_path, monkeypatch):
    monkeypatch.setenv("MPIKERAS_MAX_TRAINING_BYTES", str(2**20))
    config = PretrainConfig.from_dict({"data": {"source": str(train_sm_path)}})
    with pytest.raises(ConfigError, match="MPIKERAS_MAX_TRAINING_BYTES"):
        start_run(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()
