"""Tables, paired comparisons, the power estimate and the figure of the contrastive study.

Every number is a mean NRMSE over the recovered test voxels, in percent.
An arm's spread is the 95 % Student-t interval of its per-seed means; a
comparison pairs each arm with wo-CL of the same mode, seed by seed (same
split, same label subset), with `mpikeras.evaluation.statistics.compare_paired`.

Example:

>>> results = StudyResults.load("study/results.json")   # doctest: +SKIP
>>> print(arms_table(results).markdown())               # doctest: +SKIP
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import stats

from mpikeras.evaluation.statistics import (
    CONFIDENCE,
    MIN_SEEDS,
    PairedComparison,
    compare_paired,
    seeds_for_resolution,
)
from mpikeras.experiments.contrastive_results import Arm, StudyResults
from mpikeras.experiments.table import Table
from mpikeras.io.atomic import atomic_path, write_text_atomic

#: The smallest difference the study should resolve: 0.3 points of NRMSE.
RESOLUTION = 0.003
#: The protocol baselines drawn beside the arms (same targets, same normalisation).
BASELINES = ("lookup", "linear")


def _percent(value: float) -> str:
    return f"{100 * value:.2f}"


def interval(seed_means: list[float]) -> tuple[float, float]:
    """Mean and 95 % half-width over seeds (NaN half-width with one seed)."""
    mean = float(np.mean(seed_means))
    if len(seed_means) < 2:
        return mean, math.nan
    t = stats.t.ppf(0.5 + CONFIDENCE / 2, len(seed_means) - 1)
    return mean, float(t * np.std(seed_means, ddof=1) / math.sqrt(len(seed_means)))


def _seed_interval(per_seed: list[tuple[float, ...]]) -> tuple[float, float]:
    return interval([float(np.mean(v)) for v in per_seed])


def _cell(values: list[tuple[float, ...]]) -> str:
    if not values:
        return "-"
    mean, half = _seed_interval(values)
    return _percent(mean) if math.isnan(half) else f"{_percent(mean)} ± {_percent(half)}"


def _fraction(fraction: float) -> str:
    return f"{100 * fraction:g} %"


def arms_table(results: StudyResults) -> Table:
    """NRMSE (%) of every arm at every label fraction, mean ± 95 % interval over seeds."""
    fractions = results.fractions()
    rows = [
        (arm.label, arm.mode, *(_cell(results.per_seed(arm, f)) for f in fractions))
        for arm in results.arms()
    ]
    return Table(("arm", "encoder", *(_fraction(f) for f in fractions)), tuple(rows))


def baselines_table(results: StudyResults) -> Table:
    """The protocol's baselines on the same test voxels (they use no labels and no seed)."""
    rows = [(name, _percent(float(np.mean(v)))) for name, v in results.baselines.items()]
    return Table(("baseline", "NRMSE (%)"), tuple(rows))


def comparisons(results: StudyResults) -> list[tuple[Arm, float, PairedComparison]]:
    """Every arm against wo-CL of its mode at every fraction, paired by seed."""
    found = []
    for arm in results.arms():
        if arm == arm.baseline:
            continue
        for fraction in results.fractions():
            a, b = results.per_seed(arm, fraction), results.per_seed(arm.baseline, fraction)
            if a and len(a) == len(b):
                found.append((arm, fraction, compare_paired(a, b)))
    return found


def comparison_table(results: StudyResults) -> Table:
    """Paired differences to wo-CL (negative: the arm is better), their interval and verdict."""
    rows = []
    for arm, fraction, c in comparisons(results):
        ci = "-" if math.isnan(c.ci_low) else f"{_signed(c.ci_low)} to {_signed(c.ci_high)}"
        difference = _signed(c.mean_difference)
        rows.append((arm.label, arm.mode, _fraction(fraction), difference, ci, c.verdict.value))
    header = ("arm", "encoder", "labels", "minus wo-CL (points)", "95 % CI", "verdict")
    return Table(header, tuple(rows))


def _signed(value: float) -> str:
    return f"{100 * value:+.2f}"


def power(results: StudyResults) -> tuple[float, int]:
    """The median spread of paired differences over seeds, and the seeds that resolve 0.3 points.

    Returns:
        (standard deviation of the per-seed paired differences, median over
        comparisons; seeds needed for a 95 % interval of half-width
        `RESOLUTION` at that spread). NaN and 0 with fewer than two seeds.
    """
    spreads = []
    for arm, fraction, _ in comparisons(results):
        a, b = results.per_seed(arm, fraction), results.per_seed(arm.baseline, fraction)
        differences = [np.mean(x) - np.mean(y) for x, y in zip(a, b, strict=True)]
        if len(differences) > 1:
            spreads.append(float(np.std(differences, ddof=1)))
    if not spreads:
        return math.nan, 0
    spread = float(np.median(spreads))
    return spread, max(MIN_SEEDS, seeds_for_resolution(spread, RESOLUTION))


def power_line(results: StudyResults) -> str:
    spread, needed = power(results)
    if math.isnan(spread):
        return "Power: undetermined (one seed; the spread over seeds cannot be estimated)."
    verdict = "enough" if len(results.seeds) >= needed else "too few"
    return (
        f"Power: the paired differences spread by {100 * spread:.2f} points over seeds (median "
        f"over comparisons); resolving 0.3 points needs {needed} paired seeds; this run has "
        f"{len(results.seeds)} ({verdict})."
    )


def study_markdown(results: StudyResults) -> str:
    """The study's tables and power line as Markdown (the part docs/contrastive.md shows)."""
    return "\n\n".join(
        (
            f"Scenario `{results.scenario}`, preset `{results.preset}`, seeds "
            f"{len(results.seeds)}, backend {results.backend}.",
            arms_table(results).markdown(),
            baselines_table(results).markdown(),
            comparison_table(results).markdown(),
            power_line(results),
        )
    )


def figure(results: StudyResults, path: str | Path) -> Path:
    """NRMSE against label fraction: every arm with its 95 % band, baselines as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = list(dict.fromkeys(arm.frozen for arm in results.arms()))
    fig, axes = plt.subplots(1, len(modes), figsize=(5.5 * len(modes), 4.2), squeeze=False)
    fractions = results.fractions()
    for ax, frozen in zip(axes[0], modes, strict=True):
        for arm in (a for a in results.arms() if a.frozen == frozen):
            points = [_seed_interval(results.per_seed(arm, f)) for f in fractions]
            mean = 100 * np.array([p[0] for p in points])
            half = 100 * np.nan_to_num(np.array([p[1] for p in points]))
            (line,) = ax.plot(fractions, mean, marker="o", label=arm.label)
            ax.fill_between(fractions, mean - half, mean + half, color=line.get_color(), alpha=0.2)
        for name in BASELINES:
            if name in results.baselines:
                value = 100 * float(np.mean(results.baselines[name]))
                ax.axhline(value, color="gray", linestyle="--" if name == "lookup" else ":")
                ax.annotate(name, (fractions[0], value), fontsize=8, color="gray")
        ax.set_xscale("log")
        ax.set_xticks(fractions, [_fraction(f) for f in fractions])
        ax.set_xlabel("labelled training pairs")
        ax.set_ylabel("recovery NRMSE (%)")
        ax.set_title(f"{results.scenario}: encoder {'frozen' if frozen else 'fine-tuned'}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)


def write_study_outputs(results: StudyResults, out_dir: str | Path) -> list[Path]:
    """`study.md` (the tables) and `contrastive.png` (the figure) beside `results.json`."""
    out = Path(out_dir)
    report = out / "study.md"
    write_text_atomic(report, f"# Contrastive study\n\n{study_markdown(results)}\n")
    return [report, figure(results, out / "contrastive.png")]
