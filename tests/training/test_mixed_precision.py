"""Training under `mixed_precision = "mixed_bfloat16"` on the CPU.

Pretraining and every head train with bfloat16 computations and float32
variables; the outputs and losses stay float32 and the first epoch's loss
agrees with the float32 run's to bfloat16 accuracy.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from mpikeras import _system
from mpikeras.config import FinetuneConfig, PretrainConfig
from mpikeras.training.finetune import finetune
from mpikeras.training.pretrain import pretrain
from mpikeras.training.session import configure, dtype_policy

# First-epoch losses of the tiny runs agree with float32 to about 0.1 %
# (measured); bfloat16 keeps 8 bits of mantissa, so allow 2 %.
RTOL = 0.02

# SignalRecovery (with the auxiliary NT-Xent of ContrastiveRegularized),
# BracketRecovery, and DirectReconstruction on the bfloat16 pretrained encoder.
HEADS = {
    "recovery-auxiliary": {"task": "recovery", "contrastive_weight": 0.5},
    "bracket": {"task": "recovery", "recovery_input": "bracket"},
    "reconstruction-cl": {"task": "reconstruction"},
}
# Runs repeated in float32 as the reference (fewer, to keep the file short).
REFERENCES = ("pretrain", "reconstruction-cl")


@pytest.fixture
def restore_policy():
    policy = keras.config.dtype_policy()
    yield
    keras.config.set_dtype_policy(policy)


def _dtype(tensor) -> str:
    return keras.backend.standardize_dtype(tensor.dtype)


def _inputs(model: keras.Model, batch: int = 4):
    rng = np.random.default_rng(0)
    arrays = {
        t.name: rng.standard_normal((batch, *t.shape[1:])).astype("float32") for t in model.inputs
    }
    return next(iter(arrays.values())) if len(arrays) == 1 else arrays


def _float32_weights(model: keras.Model) -> None:
    for weight in model.weights:
        assert weight.dtype == "float32", f"{weight.path} is {weight.dtype}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory, train_sm_path):
    """Tiny pretraining and head runs in float32 and mixed_bfloat16."""
    policy = keras.config.dtype_policy()
    tiny = {
        "data": {"source": str(train_sm_path)},
        "encoder": {"filters": 8},
        "projector": {"hidden_units": 16, "output_units": 8},
        "recovery_head": {"hidden_units": 32},
        "steps_per_epoch": 2,
        "batch_size": 8,
        "epochs": 1,
        "optimizer": {"learning_rate": 1e-3},
    }
    root = tmp_path_factory.mktemp("precision")
    results = {}
    try:
        for precision in ("float32", "mixed_bfloat16"):
            settings = {**tiny, "mixed_precision": precision}
            pre_settings = {k: v for k, v in settings.items() if k != "recovery_head"}
            pre = pretrain(
                PretrainConfig.from_dict(pre_settings), root / f"pre-{precision}", verbose=0
            )
            results[precision, "pretrain"] = pre
            encoder = str(pre.run_dir / "encoder.keras")
            for name, extra in HEADS.items():
                if precision == "float32" and name not in REFERENCES:
                    continue
                if name.endswith("-cl"):
                    extra = {**extra, "pretrained_encoder": encoder}
                config = FinetuneConfig.from_dict({**settings, **extra})
                results[precision, name] = finetune(config, root / f"{name}-{precision}", verbose=0)
    finally:
        keras.config.set_dtype_policy(policy)
    return results


@pytest.mark.slow
def test_simclr_pretrains_in_bfloat16_with_a_float32_loss(runs, restore_policy):
    result = runs["mixed_bfloat16", "pretrain"]
    model = result.model
    assert model.dtype_policy.name == "mixed_bfloat16"
    assert result.encoder.dtype_policy.name == "mixed_bfloat16"
    _float32_weights(model)
    views = _inputs(model.encoder)
    projections = model({"view_a": views, "view_b": views[::-1]}, training=False)
    assert _dtype(projections) == "bfloat16"
    loss = model.compute_loss(y_pred=projections)
    accuracy = model.compute_metrics(None, None, projections)["top1_accuracy"]
    assert _dtype(loss) == "float32" and _dtype(accuracy) == "float32"
    reference = runs["float32", "pretrain"].history["loss"][0]
    np.testing.assert_allclose(result.history["loss"][0], reference, rtol=RTOL)


@pytest.mark.slow
@pytest.mark.parametrize("head", list(HEADS))
def test_heads_train_in_bfloat16_with_float32_outputs(runs, head, restore_policy):
    result = runs["mixed_bfloat16", head]
    model = result.model
    assert model.dtype_policy.name == "mixed_bfloat16"
    _float32_weights(model)
    x = _inputs(model)
    signal = x["lower"] if isinstance(x, dict) else x
    assert _dtype(model.encoder(signal)) == "bfloat16"
    assert _dtype(model(x)) == "float32"  # the output layers compute in float32
    assert np.isfinite(result.history["loss"] + result.history["val_loss"]).all()
    if head in REFERENCES:
        for key in ("loss", "val_loss"):
            reference = runs["float32", head].history[key][0]
            np.testing.assert_allclose(result.history[key][0], reference, rtol=RTOL)


@pytest.mark.slow
def test_every_run_records_its_dtype_policy(runs):
    for (precision, _), result in runs.items():
        record = json.loads((result.run_dir / "precision.json").read_text())
        assert record == {"requested": precision, "policy": precision, "reason": "configured"}


@pytest.mark.parametrize(
    ("flags", "accelerator", "policy", "because"),
    [
        ({"avx2", "fma"}, None, "float32", "has neither amx_bf16 nor avx512_bf16"),
        ({"avx2", "avx512_bf16"}, None, "mixed_bfloat16", "computes bfloat16 natively"),
        ({"amx_bf16", "amx_tile"}, None, "mixed_bfloat16", "computes bfloat16 natively"),
        ({"amx_bf16"}, (False, "GPU T4 (compute capability 7.5)"), "float32", "predates"),
        (set(), (True, "GPU H100 (compute capability 9.0)"), "mixed_bfloat16", "GPU H100"),
    ],
)
def test_auto_precision_follows_the_hardware(
    monkeypatch, restore_policy, flags, accelerator, policy, because
):
    monkeypatch.setattr(_system, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(_system, "accelerator_bfloat16", lambda backend: accelerator)
    chosen, reason = dtype_policy(PretrainConfig(mixed_precision="auto"))
    assert chosen == policy and because in reason
    configure(PretrainConfig(mixed_precision="auto"))
    assert keras.config.dtype_policy().name == policy
    assert dtype_policy(PretrainConfig(mixed_precision="mixed_float16")) == (
        "mixed_float16",
        "configured",
    )
