"""Paired comparisons of two methods over seeds, and the verdict they support.

Two methods are compared on the same targets, seed by seed (for learned
methods: the same seed, split and data order). The effect is the mean over
seeds of the per-seed difference of mean NRMSE, `A - B` (negative: A is
better), with a two-sided 95 % Student-t confidence interval over seeds.
Within each seed a Wilcoxon signed-rank test over the paired per-target
values says whether that seed alone separates the two.

The verdict follows the interval, never the point estimate:

- fewer than `MIN_SEEDS` seeds: "undetermined" (a spread over seeds cannot
  be estimated from one or two);
- interval entirely below 0: A is better; entirely above 0: A is worse;
- otherwise: no difference resolved (which is not the same as "on par": the
  interval says how large a difference the runs cannot exclude).

Example:

>>> a = [np.array([0.020, 0.022]), np.array([0.021, 0.023]), np.array([0.019, 0.021])]
>>> b = [np.array([0.030, 0.031]), np.array([0.029, 0.033]), np.array([0.031, 0.030])]
>>> comparison = compare_paired(a, b)
>>> comparison.verdict
<Verdict.BETTER: 'better'>
>>> round(100 * comparison.mean_difference, 2)
-0.97
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

#: Fewest seeds from which a verdict is drawn.
MIN_SEEDS = 3
#: Confidence level of the interval over seeds.
CONFIDENCE = 0.95


class Verdict(enum.Enum):
    """What a paired comparison of A against B supports (lower NRMSE is better)."""

    BETTER = "better"
    WORSE = "worse"
    NOT_RESOLVED = "not resolved"
    UNDETERMINED = "undetermined"


@dataclasses.dataclass(frozen=True)
class PairedComparison:
    """A against B over paired seeds.

    Attributes:
        seeds: number of paired seeds.
        mean_difference: mean over seeds of `mean(A) - mean(B)`.
        ci_low, ci_high: its 95 % confidence interval (NaN with one seed).
        voxel_p_values: per seed, the two-sided Wilcoxon signed-rank p-value
            of the paired per-target differences (NaN where all are equal).
        verdict: see `Verdict`.
    """

    seeds: int
    mean_difference: float
    ci_low: float
    ci_high: float
    voxel_p_values: tuple[float, ...]
    verdict: Verdict

    def phrase(self, a: str, b: str) -> str:
        """Plain words with the numbers, in percentage points of NRMSE.

        Example: "CL is worse than wo-CL: +0.12 points (95 % CI +0.05 to +0.19, 5 seeds)".
        """
        diff = f"{100 * self.mean_difference:+.2f} points"
        if self.verdict is Verdict.UNDETERMINED:
            return (
                f"{a} against {b}: undetermined ({self.seeds} seed{'s' * (self.seeds != 1)}; "
                f"at least {MIN_SEEDS} paired seeds are needed; difference {diff})"
            )
        interval = (
            f"95 % CI {100 * self.ci_low:+.2f} to {100 * self.ci_high:+.2f}, {self.seeds} seeds"
        )
        if self.verdict is Verdict.BETTER:
            return f"{a} is better than {b}: {diff} ({interval})"
        if self.verdict is Verdict.WORSE:
            return f"{a} is worse than {b}: {diff} ({interval})"
        return f"{a} against {b}: no difference resolved, {diff} ({interval})"


def compare_paired(
    a: Sequence[np.ndarray], b: Sequence[np.ndarray], min_seeds: int = MIN_SEEDS
) -> PairedComparison:
    """Compare per-target errors of A and B, paired by seed and by target.

    Args:
        a: per seed, A's error on each target (same targets, same order as `b`).
        b: per seed, B's errors; a method that does not depend on the seed (a
            baseline) repeats the same array.
        min_seeds: fewest seeds for a verdict other than "undetermined".

    Returns:
        A `PairedComparison`.

    Raises:
        ValueError: if the seed counts differ, no seed is given, or a seed's
            arrays differ in shape.
    """
    if len(a) != len(b) or not a:
        raise ValueError(
            f"compare_paired: expected the same positive number of seeds for A and B, "
            f"got {len(a)} and {len(b)}"
        )
    differences, p_values = [], []
    for seed, (x, y) in enumerate(zip(a, b, strict=True)):
        x, y = np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel()
        if x.shape != y.shape:
            raise ValueError(
                f"compare_paired: seed {seed} pairs {x.size} targets of A with {y.size} of B"
            )
        differences.append(float(x.mean() - y.mean()))
        p_values.append(_signed_rank_p(x - y))
    n = len(differences)
    mean = float(np.mean(differences))
    if n < 2:
        low = high = math.nan
    else:
        half = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * np.std(differences, ddof=1) / math.sqrt(n)
        low, high = mean - float(half), mean + float(half)
    if n < min_seeds:
        verdict = Verdict.UNDETERMINED
    elif high < 0:
        verdict = Verdict.BETTER
    elif low > 0:
        verdict = Verdict.WORSE
    else:
        verdict = Verdict.NOT_RESOLVED
    return PairedComparison(n, mean, low, high, tuple(p_values), verdict)


def _signed_rank_p(differences: np.ndarray) -> float:
    if not np.any(differences != 0):
        return math.nan
    return float(stats.wilcoxon(differences, zero_method="wilcox").pvalue)


def seeds_for_resolution(seed_std: float, resolution: float, confidence: float = CONFIDENCE) -> int:
    """Paired seeds needed for a confidence interval of half-width `resolution`.

    The smallest n with `t(n - 1) * seed_std / sqrt(n) <= resolution`, where
    `seed_std` is the standard deviation of the per-seed paired differences
    (estimated from a pilot run) and t the two-sided Student quantile.

    Example:

    >>> seeds_for_resolution(0.004, 0.003)
    10

    Args:
        seed_std: spread of the paired differences over seeds.
        resolution: the half-width to reach (for example 0.003: 0.3 points).
        confidence: confidence level of the interval.

    Returns:
        The number of seeds (at least 2).
    """
    if not resolution > 0 or not seed_std >= 0:
        raise ValueError(
            f"seeds_for_resolution: expected resolution > 0 and seed_std >= 0, got "
            f"resolution={resolution}, seed_std={seed_std}"
        )
    n = 2
    while stats.t.ppf(0.5 + confidence / 2, n - 1) * seed_std / math.sqrt(n) > resolution:
        n += 1
    return n
