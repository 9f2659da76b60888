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


def verdict(results: dict) -> list[str]:
    """Plain statements on whether the learned recovery is useful yet."""
    rec = results["recovery"]["voxel_nrmse"]
    linear = rec.get("linear", {}).get("mean")
    lines = []
    for method in ("wo-CL", "CL", "bracket wo-CL", "bracket CL"):
        if method not in rec or linear is None:
            continue
        value = rec[method]["mean"]
        if value < linear:
            lines.append(
                f"- {method} recovery ({100 * value:.1f} %) beats linear interpolation "
                f"({100 * linear:.1f} %)."
            )
        else:
            lines.append(
                f"- {method} recovery ({100 * value:.1f} %) does not beat linear interpolation "
                f"({100 * linear:.1f} %): it is not yet useful as an SM recovery method."
            )
    con = results["reconstruction"]["voxel_nrmse"]
    for task, table in (("recovery", rec), ("direct reconstruction", con)):
        if "wo-CL" in table and "CL" in table:
            better = table["CL"]["mean"] < table["wo-CL"]["mean"]
            lines.append(
                f"- Contrastive pretraining {'improves' if better else 'does not improve'} {task} "
                f"({percent(table['wo-CL'])} % -> {percent(table['CL'])} %)."
            )
    return lines
