import math

import numpy as np
import pytest
from scipy import stats

from mpikeras.evaluation.statistics import (
    MIN_SEEDS,
    Verdict,
    compare_paired,
    seeds_for_resolution,
)


def _seeds(means, n=40, spread=0.002, seed=0):
    rng = np.random.default_rng(seed)
    return [m + spread * rng.standard_normal(n) for m in means]


def test_interval_matches_a_hand_computed_t_interval():
    a = _seeds([0.030, 0.034, 0.031, 0.036])
    b = _seeds([0.029, 0.030, 0.030, 0.031], seed=1)
    d = np.array([x.mean() - y.mean() for x, y in zip(a, b, strict=True)])
    half = stats.t.ppf(0.975, 3) * d.std(ddof=1) / 2
    result = compare_paired(a, b)
    assert result.seeds == 4
    assert result.mean_difference == pytest.approx(d.mean())
    assert (result.ci_low, result.ci_high) == pytest.approx((d.mean() - half, d.mean() + half))
    assert len(result.voxel_p_values) == 4


def test_a_clearly_worse_method_is_called_worse_not_on_par():
    worse = _seeds([0.040, 0.041, 0.039])
    base = _seeds([0.030, 0.031, 0.029], seed=3)
    result = compare_paired(worse, base)
    assert result.verdict is Verdict.WORSE
    assert result.ci_low > 0
    assert "is worse than" in result.phrase("CL", "wo-CL")
    assert compare_paired(base, worse).verdict is Verdict.BETTER


def test_too_few_seeds_are_undetermined_whatever_the_difference():
    for n in range(1, MIN_SEEDS):
        result = compare_paired(_seeds([0.05] * n), _seeds([0.01] * n, seed=9))
        assert result.verdict is Verdict.UNDETERMINED
        assert f"undetermined ({n} seed" in result.phrase("CL", "wo-CL")
    assert math.isnan(compare_paired(_seeds([0.05]), _seeds([0.01])).ci_low)


def test_a_difference_inside_the_seed_spread_is_not_resolved():
    a = _seeds([0.030, 0.040, 0.020, 0.035])
    b = _seeds([0.035, 0.030, 0.030, 0.030], seed=5)
    result = compare_paired(a, b)
    assert result.ci_low < 0 < result.ci_high
    assert result.verdict is Verdict.NOT_RESOLVED
    assert "no difference resolved" in result.phrase("CL", "wo-CL")


def test_the_per_seed_voxel_test_sees_a_consistent_shift():
    base = _seeds([0.03] * 3, n=50, spread=0.01)
    shifted = [x + 0.005 for x in base]
    result = compare_paired(shifted, base)
    assert max(result.voxel_p_values) < 1e-6
    assert all(math.isnan(p) for p in compare_paired(base, base).voxel_p_values)


def test_pairing_is_checked():
    with pytest.raises(ValueError, match="same positive number of seeds"):
        compare_paired(_seeds([0.1, 0.1]), _seeds([0.1]))
    with pytest.raises(ValueError, match="seed 0 pairs 3 targets of A with 4"):
        compare_paired([np.zeros(3)], [np.zeros(4)])


def test_seeds_for_resolution_is_the_smallest_sufficient_count():
    n = seeds_for_resolution(0.004, 0.003)
    assert stats.t.ppf(0.975, n - 1) * 0.004 / math.sqrt(n) <= 0.003
    assert stats.t.ppf(0.975, n - 2) * 0.004 / math.sqrt(n - 1) > 0.003
    assert seeds_for_resolution(0.0, 0.003) == 2
    with pytest.raises(ValueError, match="resolution > 0"):
        seeds_for_resolution(0.004, 0.0)
