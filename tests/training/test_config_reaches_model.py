"""Configuration values reach the models that training builds (not just the config file)."""

import keras
import numpy as np
import pytest

from mpikeras.config import FinetuneConfig, PretrainConfig
from mpikeras.losses.nt_xent import nt_xent
from mpikeras.preprocessing import Normalization
from mpikeras.training.pretrain import build_simclr
from mpikeras.training.task import build_task_model

SHAPE = (192, 2)
SMALL = {"encoder": {"filters": 8, "strides": [2, 2, 2, 2, 2]}}


def _projections(seed=0, batch=6, dim=8):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(2 * batch, dim)).astype("float32")


def test_pretraining_uses_the_configured_temperature_projector_and_optimizer():
    config = PretrainConfig.from_dict(
        {
            **SMALL,
            "temperature": 0.2,
            "projector": {"hidden_units": 24, "output_units": 8},
            "optimizer": {"learning_rate": 3e-3, "beta_1": 0.8},
        }
    )
    model = build_simclr(config, SHAPE)
    z = _projections()
    loss = float(keras.ops.convert_to_numpy(model.compute_loss(y_pred=z)))
    expected = float(keras.ops.convert_to_numpy(nt_xent(z[:6], z[6:], 0.2)))
    default = float(keras.ops.convert_to_numpy(nt_xent(z[:6], z[6:], 0.5)))
    assert loss == pytest.approx(expected, rel=1e-5) and abs(expected - default) > 0.1
    assert model.projector.compute_output_shape((None, 64))[-1] == 8
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(3e-3)
    assert float(model.optimizer.beta_1) == pytest.approx(0.8)
    assert model.encoder.get_layer(index=1).filters == 8


def test_fine_tuning_uses_the_configured_temperature_weight_and_head_sizes():
    config = FinetuneConfig.from_dict(
        {
            **SMALL,
            "task": "recovery",
            "contrastive_weight": 0.3,
            "temperature": 0.25,
            "recovery_head": {"hidden_units": 40, "filters": 5},
            "optimizer": {"learning_rate": 2e-3},
        }
    )
    model = build_task_model(config, SHAPE, Normalization(scale=2.0))
    assert model.temperature == 0.25 and model.weight == pytest.approx(0.3)
    head = model.task_model
    assert head.normalization_scale == pytest.approx(2.0)
    units = [layer.units for layer in head.layers if isinstance(layer, keras.layers.Dense)]
    filters = [layer.filters for layer in head.layers if isinstance(layer, keras.layers.Conv1D)]
    assert 40 in units and 5 in filters
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(2e-3)
