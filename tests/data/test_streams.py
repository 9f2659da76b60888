import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy import stats

from mpikeras.config import AugmentationConfig, CombinationConfig
from mpikeras.data import (
    StreamSpec,
    VoxelSplit,
    contrastive_streams,
    reconstruction_streams,
    recovery_streams,
)
from mpikeras.data.py_pipeline import StreamPyDataset
from mpikeras.data.split import labelled_subset
from mpikeras.errors import PreprocessingError


def decode(batch):
    """Voxel weights of each sample of a batch of coded signals: (B, V) from channel 0."""
    return np.asarray(batch)[:, :, 0]


NO_AUGMENTATION = AugmentationConfig(
    polarity_probability=0, noise_probability=0, gain_probability=0
)
PIPELINES = ["python", pytest.param("tf", marks=pytest.mark.filterwarnings("ignore"))]


def _batches(dataset, n):
    it = (
        iter(dataset)
        if not isinstance(dataset, StreamPyDataset)
        else (dataset[i] for i in range(n))
    )
    out = [next(it) for _ in range(n)]
    return [{k: np.asarray(v) for k, v in b.items()} if isinstance(b, dict)
            else tuple(np.asarray(t) for t in b) for b in out]  # fmt: skip


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_same_seed_same_batches_and_resume_continues_the_stream(coded_signals, pipeline):
    split = VoxelSplit.random(coded_signals.num_voxels, seed=1)
    kwargs = {"batch_size": 4, "seed": 7, "pipeline": pipeline}
    first = _batches(contrastive_streams(coded_signals, split, **kwargs).train, 8)
    again = _batches(contrastive_streams(coded_signals, split, **kwargs).train, 8)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a["view_a"], b["view_a"])
    other = _batches(contrastive_streams(coded_signals, split, **{**kwargs, "seed": 8}).train, 1)
    assert not np.array_equal(other[0]["view_a"], first[0]["view_a"])
    streams = contrastive_streams(coded_signals, split, **kwargs)
    resumed = _batches(contrastive_streams(coded_signals, split, start_epoch=1, **kwargs).train, 1)
    np.testing.assert_array_equal(resumed[0]["view_b"], first[streams.steps_per_epoch]["view_b"])


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_no_validation_voxel_is_seen_in_training(coded_signals, pipeline):
    split = VoxelSplit.random(coded_signals.num_voxels, validation_fraction=0.3, seed=2)
    val = set(split.validation.tolist())
    combos = CombinationConfig(probability=1.0, num_voxels=(2, 6))
    c = contrastive_streams(coded_signals, split, batch_size=8, augmentation=NO_AUGMENTATION,
                            combination=combos, pipeline=pipeline)  # fmt: skip
    for batch in _batches(c.train, 10):
        used = set(np.flatnonzero(decode(batch["view_a"]).any(axis=0)).tolist())
        assert used and not used & val
    r = reconstruction_streams(coded_signals, split, batch_size=8, combination=combos,
                               pipeline=pipeline)  # fmt: skip
    for x, image in _batches(r.train, 10):
        assert not set(np.flatnonzero(image.reshape(8, -1).any(axis=0)).tolist()) & val
        np.testing.assert_allclose(decode(x)[:, :30], image.reshape(8, -1), rtol=1e-6)
    rec = recovery_streams(coded_signals, split, batch_size=4, pipeline=pipeline)
    for x, y in _batches(rec.train, 10):
        src, tgt = decode(x).argmax(axis=1), decode(y).argmax(axis=1)
        np.testing.assert_array_equal(tgt - src, 5)  # one row further in y (nx = 5)
        assert not (set(src.tolist()) | set(tgt.tolist())) & val
    vx, vy = rec.validation
    val_pairs = decode(vx).argmax(1), decode(vy).argmax(1)
    assert all(s in val or t in val for s, t in zip(*val_pairs, strict=True))


def test_an_epoch_visits_every_training_voxel_once(coded_signals):
    split = VoxelSplit.random(coded_signals.num_voxels, seed=3)
    singles = CombinationConfig(probability=0.0)
    n_train = split.train.size
    streams = contrastive_streams(coded_signals, split, batch_size=n_train, seed=1,
                                  augmentation=NO_AUGMENTATION, combination=singles,
                                  pipeline="python")  # fmt: skip
    for epoch_batch in _batches(streams.train, 2):
        voxels = np.sort(decode(epoch_batch["view_a"]).argmax(axis=1))
        np.testing.assert_array_equal(voxels, split.train)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_combination_sizes_and_weights_follow_the_config(coded_signals, pipeline):
    split = VoxelSplit.random(coded_signals.num_voxels, seed=4)
    combos = CombinationConfig(probability=0.5, num_voxels=(2, 4), weight_range=(0.2, 0.6))
    r = reconstruction_streams(coded_signals, split, batch_size=50, combination=combos, seed=5,
                               pipeline=pipeline)  # fmt: skip
    images = np.concatenate([img.reshape(50, -1) for _, img in _batches(r.train, 8)])
    sizes = (images > 0).sum(axis=1)
    singles = sizes == 1
    assert stats.binomtest(int(singles.sum()), sizes.size, 0.5).pvalue > 1e-3
    np.testing.assert_array_equal(images[singles].max(axis=1), 1.0)
    assert set(np.unique(sizes[~singles]).tolist()) == {2, 3, 4}
    weights = images[~singles][images[~singles] > 0]
    assert weights.min() >= 0.2 and weights.max() <= 0.6


def _view_parameters(batches, x0):
    """Polarity, gain (dB, where applied) and noise ratio (dB, where applied) of views of x0."""
    views = np.concatenate([np.concatenate([b["view_a"], b["view_b"]]) for b in batches])
    factor = (views * x0).sum(axis=(1, 2)) / (x0 * x0).sum()
    residual = views - factor[:, None, None] * x0
    ratio_db = 20 * np.log10(residual.std(axis=(1, 2)) / (np.abs(factor) * x0.std()) + 1e-12)
    gain_db = 20 * np.log10(np.abs(factor))
    noisy = ratio_db > -60
    gained = np.abs(gain_db) > 0.5
    return {"flipped": factor < 0, "gained": gained, "noisy": noisy,
            "gain_db": gain_db[gained], "noise_db": ratio_db[noisy]}  # fmt: skip


def test_tf_and_python_pipelines_draw_from_the_same_distributions():
    pytest.importorskip("tensorflow")
    from mpikeras.data.tf_pipeline import make_dataset

    x0 = np.random.default_rng(0).normal(size=(1, 2048, 2)).astype(np.float32)
    spec = StreamSpec(kind="contrastive", columns=x0, seed=11, batch_size=100, epoch_length=100,
                      combination=CombinationConfig(probability=0.0))  # fmt: skip
    tf_params = _view_parameters(_batches(make_dataset(spec), 15), x0[0])
    py_params = _view_parameters(_batches(StreamPyDataset(spec), 15), x0[0])
    for key in ("flipped", "gained", "noisy"):
        for applied in (tf_params[key], py_params[key]):
            assert stats.binomtest(int(applied.sum()), applied.size, 0.5).pvalue > 1e-3
    for key, (low, high) in (("gain_db", (-20, -1)), ("noise_db", (-25, -15))):
        assert stats.ks_2samp(tf_params[key], py_params[key]).pvalue > 1e-3
        for values in (tf_params[key], py_params[key]):
            assert values.min() > low - 0.5 and values.max() < high + 0.5
            assert stats.kstest((values - low) / (high - low), "uniform").pvalue > 1e-3


def test_tf_streams_run_without_autotuning(coded_signals):
    """Autotuning's thread made releasing a long-used iterator wait up to 60 s (tf_pipeline)."""
    pytest.importorskip("tensorflow")
    split = VoxelSplit.random(coded_signals.num_voxels, seed=4)
    for make in (contrastive_streams, recovery_streams, reconstruction_streams):
        train = make(coded_signals, split, batch_size=4, pipeline="tf").train
        assert train.options().autotune.enabled is False
        next(iter(train))


def test_recovery_needs_pairs_on_both_sides(coded_signals):
    split = VoxelSplit(train=np.arange(0, 5), validation=np.arange(25, 30))
    with pytest.raises(PreprocessingError, match="neighbour pairs"):
        recovery_streams(coded_signals, split)


def test_streams_work_without_tensorflow(tmp_path):
    code = textwrap.dedent(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "tensorflow" or name.startswith("tensorflow."):
                    raise ImportError("tensorflow blocked for this test")
        sys.meta_path.insert(0, Block())
        import os
        os.environ["KERAS_BACKEND"] = "jax"
        import numpy as np
        from mpikeras.io import Grid
        from mpikeras.preprocessing import VoxelSignals
        from mpikeras.data import VoxelSplit, contrastive_streams, resolve_pipeline
        vs = VoxelSignals(np.random.default_rng(0).normal(size=(4, 4, 96, 2)).astype("float32"),
                          Grid((4, 4, 1), (0.004, 0.004, 0.001)), unit="1")
        s = contrastive_streams(vs, VoxelSplit.random(16), batch_size=4)
        print(s.pipeline, s.train[0]["view_a"].shape, "tensorflow" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["python", "(4,", "96,", "2)", "False"]


def test_label_subsets_are_seeded_nested_and_leave_validation_alone(coded_signals):
    assert labelled_subset(200, 0.05, seed=3).size == 10
    assert labelled_subset(7, 0.01, seed=3).size == 1  # never empty
    for small, large in ((0.05, 0.1), (0.1, 0.25), (0.25, 1.0)):
        assert set(labelled_subset(200, small, 4)) <= set(labelled_subset(200, large, 4))
    assert not np.array_equal(labelled_subset(200, 0.1, 4), labelled_subset(200, 0.1, 5))
    for bad in (0.0, 1.5):
        with pytest.raises(PreprocessingError, match="label fraction"):
            labelled_subset(10, bad, 0)
    split = VoxelSplit.random(coded_signals.num_voxels, seed=2)

    def pairs(fraction):
        streams = recovery_streams(coded_signals, split, batch_size=4, seed=1,
                                   pipeline="python", label_fraction=fraction)  # fmt: skip
        seen = set()
        for x, y in _batches(streams.train, 40):
            sources, targets = decode(x).argmax(1).tolist(), decode(y).argmax(1).tolist()
            seen |= set(zip(sources, targets, strict=True))
        return seen, [decode(v).argmax(1).tolist() for v in streams.validation]

    everything, validation = pairs(1.0)
    half, half_validation = pairs(0.5)
    assert half < everything and len(half) == -(-len(everything) // 2)
    assert half_validation == validation


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_unlabelled_columns_join_the_training_side_only(coded_signals, pipeline):
    split = VoxelSplit.random(coded_signals.num_voxels, seed=2)
    extra = np.zeros((40, 64, 2), np.float32)
    extra[:, 40:] = 1.0  # time samples no voxel of the grid uses
    singles = CombinationConfig(probability=0.0)
    kwargs = {"batch_size": 8, "augmentation": NO_AUGMENTATION, "combination": singles,
              "pipeline": pipeline}  # fmt: skip
    plain = contrastive_streams(coded_signals, split, **kwargs)
    pooled = contrastive_streams(coded_signals, split, unlabelled=extra, **kwargs)
    assert pooled.steps_per_epoch == -(-(split.train.size + 40) // 8)
    np.testing.assert_array_equal(pooled.validation[0]["view_a"], plain.validation[0]["view_a"])
    views = np.concatenate([b["view_a"] for b in _batches(pooled.train, pooled.steps_per_epoch)])
    from_pool = views[:, 40:].any(axis=(1, 2))
    assert from_pool.sum() == 40  # one pass: each unlabelled column once
    with pytest.raises(PreprocessingError, match=r"\(64, 2\)"):
        contrastive_streams(coded_signals, split, unlabelled=extra[:, :10], **kwargs)
