import json

import keras
import numpy as np
import pytest

from mpikeras.config import FinetuneConfig, PretrainConfig
from mpikeras.errors import ConfigError, MDFError, ModelFileError, RunDirectoryError
from mpikeras.models.heads import BracketRecovery, DirectReconstruction, SignalRecovery
from mpikeras.training.finetune import finetune
from mpikeras.training.pretrain import pretrain


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, train_sm_path):
    cfg = PretrainConfig.from_dict(
        {
            "epochs": 2,
            "steps_per_epoch": 2,
            "batch_size": 8,
            "encoder": {"filters": 8},
            "projector": {"hidden_units": 16, "output_units": 8},
            "data": {"source": str(train_sm_path)},
        }
    )
    run = tmp_path_factory.mktemp("pretrain")
    return cfg, pretrain(cfg, run, verbose=0)


def test_pretrain_writes_the_run_and_resumes(pretrained):
    cfg, result = pretrained
    run = result.run_dir
    for name in (
        "encoder.keras",
        "config.json",
        "normalization.json",
        "history.json",
        "state.json",
        "best.keras",
    ):
        assert (run / name).is_file(), name
    assert (run / "logs").is_dir()
    assert json.loads((run / "config.json").read_text()) == cfg.to_dict()
    assert result.encoder.output_shape[-1] == 8 * 15
    first = result.history["loss"]
    assert len(first) == 2 and np.isfinite(first).all()
    more = pretrain(cfg.replace(epochs=3), run, verbose=0)
    assert more.history["loss"][:2] == first  # resumed, not restarted
    assert len(more.history["loss"]) == 3


def test_pretrain_refuses_another_configuration_in_the_same_directory(pretrained):
    cfg, result = pretrained
    with pytest.raises(RunDirectoryError, match="temperature"):
        pretrain(cfg.replace(temperature=0.1), result.run_dir, verbose=0)


def test_bad_data_is_refused_before_anything_is_written(tmp_path, tiny):
    (tmp_path / "notes.mdf").write_text("not hdf5")
    tiny["data"]["source"] = str(tmp_path / "notes.mdf")
    with pytest.raises(MDFError, match="not an HDF5 file"):
        pretrain(PretrainConfig.from_dict(tiny), tmp_path / "run", verbose=0)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("task", "recovery_input", "cls"),
    [
        ("recovery", "single", SignalRecovery),
        ("recovery", "bracket", BracketRecovery),
        ("reconstruction", "single", DirectReconstruction),
    ],
)
def test_heads_train_wo_cl_and_cl(tmp_path, tiny, pretrained, task, recovery_input, cls):
    _, pre = pretrained
    for label, extra in (
        ("wo-cl", {}),
        ("cl", {"pretrained_encoder": str(pre.run_dir / "encoder.keras")}),
    ):
        cfg = FinetuneConfig.from_dict(
            {**tiny, "epochs": 2, "task": task, "recovery_input": recovery_input, **extra}
        )
        result = finetune(cfg, tmp_path / label, verbose=0)
        assert isinstance(result.model, cls)
        assert (tmp_path / label / "model.keras").is_file()
        scale = json.loads((tmp_path / label / "normalization.json").read_text())["scale"]
        assert result.model.normalization_scale == pytest.approx(scale)
        assert len(result.history["val_loss"]) == 2


def test_cl_starts_from_the_pretrained_encoder_and_freezing_keeps_it(tmp_path, tiny, pretrained):
    _, pre = pretrained
    encoder_path = str(pre.run_dir / "encoder.keras")
    cfg = FinetuneConfig.from_dict(
        {**tiny, "epochs": 1, "pretrained_encoder": encoder_path, "freeze_encoder": True}
    )
    frozen = finetune(cfg, tmp_path / "frozen", verbose=0).model
    for a, b in zip(frozen.encoder.get_weights(), pre.encoder.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    tuned = finetune(cfg.replace(freeze_encoder=False), tmp_path / "tuned", verbose=0).model
    changed = [
        not np.array_equal(a, b)
        for a, b in zip(tuned.encoder.trainable_weights, pre.encoder.trainable_weights, strict=True)
    ]
    assert any(changed)


def test_auxiliary_contrastive_loss_adds_to_the_task_loss(tmp_path, tiny):
    base = FinetuneConfig.from_dict({**tiny, "epochs": 1})
    plain = finetune(base, tmp_path / "plain", verbose=0)
    regularized = finetune(base.replace(contrastive_weight=1.0), tmp_path / "aux", verbose=0)
    assert isinstance(regularized.model, SignalRecovery)  # the saved model is the task model
    # NT-Xent of 8-sample batches is about log(15) ~ 2.7: it shows in the training loss only.
    assert regularized.history["loss"][0] > plain.history["loss"][0] + 1.0
    assert regularized.history["val_loss"][0] < 1.0


def test_finetune_config_errors():
    with pytest.raises(ConfigError, match="freeze_encoder"):
        FinetuneConfig(freeze_encoder=True)
    with pytest.raises(ConfigError, match="'task'"):
        FinetuneConfig(task="segmentation")
    with pytest.raises(ModelFileError, match="model file not found"):
        from mpikeras.training.session import load_encoder

        load_encoder("/nonexistent/encoder.keras")


def test_models_load_in_safe_mode(pretrained):
    _, pre = pretrained
    model = keras.saving.load_model(pre.run_dir / "best.keras", safe_mode=True)
    assert type(model).__name__ == "SimCLR"
