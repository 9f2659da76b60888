"""Results tables: aggregation over voxels and seeds, text and Markdown."""

from __future__ import annotations

import numpy as np

from mpikeras.evaluation.metrics import mean_std

#: The paper's results on real OpenMPIData (NRMSE in %, mean +- std over voxels).
PAPER_RESULTS = {
    "recovery": {"wo-CL": (2.2, 0.4), "CL": (1.9, 0.4)},
    "reconstruction": {"wo-CL": (16.0, 5.7), "CL": (16.4, 4.5)},
}


def aggregate(per_seed: list[dict[str, np.ndarray]]) -> dict[str, dict[str, float]]:
    """Pool per-voxel values over seeds: mean +- std over voxels and seeds, and over seeds.

    Args:
        per_seed: one dict per seed, method -> per-voxel values.

    Returns:
        method -> {"mean", "std", "n" (over voxels and seeds), "seed_std"
        (std of the per-seed means), "seeds"}.
    """
    out = {}
    for method in per_seed[0]:
        values = [np.asarray(seed[method]).reshape(-1) for seed in per_seed if method in seed]
        stats = mean_std(np.concatenate(values))
        stats["seed_std"] = float(np.std([v.mean() for v in values]))
        stats["seeds"] = len(values)
        out[method] = stats
    return out


def percent(stats: dict[str, float] | None) -> str:
    """'2.2 +- 0.4' in percent, or '-'."""
    if not stats:
        return "-"
    return f"{100 * stats['mean']:.1f} ± {100 * stats['std']:.1f}"


def results_table(results: dict) -> list[list[str]]:
    """Rows like the paper's: task x (wo-CL, CL, classic), NRMSE in %."""
    rec = results["recovery"]["voxel_nrmse"]
    con = results["reconstruction"]["voxel_nrmse"]
    return [
        ["", "wo-CL", "CL", "classic"],
        ["recovery NRMSE (%)", percent(rec.get("wo-CL")), percent(rec.get("CL")), "-"],
        [
            "reconstruction NRMSE (%)",
            percent(con.get("wo-CL")),
            percent(con.get("CL")),
            percent(con.get("classic (train SM)")),
        ],
    ]


def baselines_table(results: dict) -> list[list[str]]:
    """Every method of both tasks, baselines included."""
    rows = [["task", "method", "NRMSE (%)", "std over seeds (%)"]]
    for task in ("recovery", "reconstruction"):
        for method, stats in results[task]["voxel_nrmse"].items():
            rows.append([task, method, percent(stats), f"{100 * stats.get('seed_std', 0):.2f}"])
    return rows


def phantom_table(results: dict) -> list[list[str]]:
    """Resolution-phantom reconstruction NRMSE per SM."""
    rows = [["SM", "NRMSE vs ground-truth-SM image (%)", "NRMSE vs true amount (%)"]]
    for name, score in results["recovery"].get("phantom_nrmse", {}).items():
        truth = score.get("vs_truth")
        rows.append(
            [name, f"{100 * score['vs_gt_sm']:.1f}", "-" if truth is None else f"{100 * truth:.1f}"]
        )
    return rows


def format_text(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


#: Differences of mean NRMSE below this (0.1 percentage points) are not called differences.
MIN_DIFFERENCE = 1e-3


def compare(a: dict[str, float], b: dict[str, float]) -> int:
    """-1 if `a` is clearly lower than `b`, 1 if clearly higher, 0 if not clearly different.

    Clearly: the means differ by more than `MIN_DIFFERENCE` and by more than
    twice the larger spread of the per-seed means (zero with one seed).
    """
    difference = a["mean"] - b["mean"]
    spread = 2 * max(a.get("seed_std", 0.0), b.get("seed_std", 0.0))
    if abs(difference) <= max(MIN_DIFFERENCE, spread):
        return 0
    return -1 if difference < 0 else 1


def verdict(results: dict) -> list[str]:
    """Plain statements: does learned recovery beat interpolation, does pretraining help."""
    rec = results["recovery"]["voxel_nrmse"]
    con = results["reconstruction"]["voxel_nrmse"]
    lines = []
    linear = rec.get("linear")
    for method in ("wo-CL", "CL", "bracket wo-CL", "bracket CL"):
        if method not in rec or linear is None:
            continue
        order = compare(rec[method], linear)
        if order < 0:
            outcome = "beats linear interpolation"
        elif order == 0:
            outcome = "is on par with linear interpolation: not yet a useful SM recovery method"
        else:
            outcome = "does not beat linear interpolation: not yet a useful SM recovery method"
        lines.append(
            f"- {method} recovery ({percent(rec[method])} %) {outcome} ({percent(linear)} %)."
        )
    classic = con.get("classic (train SM)")
    for method in ("wo-CL", "CL"):
        if method in con and classic is not None:
            better = compare(con[method], classic) < 0
            lines.append(
                f"- {method} direct reconstruction ({percent(con[method])} %) "
                f"{'beats' if better else 'does not beat'} classic Kaczmarz with the training SM "
                f"({percent(classic)} %)."
            )
    for task, table in (
        ("recovery", rec),
        ("bracket recovery", rec),
        ("direct reconstruction", con),
    ):
        prefix = "bracket " if task == "bracket recovery" else ""
        a, b = table.get(f"{prefix}wo-CL"), table.get(f"{prefix}CL")
        if a is None or b is None:
            continue
        effect = {-1: "improves", 0: "makes no clear difference to", 1: "worsens"}[compare(b, a)]
        lines.append(
            f"- Contrastive pretraining {effect} {task} ({percent(a)} % wo-CL, {percent(b)} % CL; "
            "differences count only beyond twice the spread over seeds)."
        )
    return lines
