"""The report of `reproduce` and `evaluate`: tables, verdicts, figures and `report.md`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from mpikeras.evaluation.figures import figure_reconstruction, figure_recovery
from mpikeras.evaluation.metrics import nrmse
from mpikeras.evaluation.protocol import ReconstructionEvaluation, RecoveryEvaluation
from mpikeras.experiments.results import (
    BRACKET_CL,
    BRACKET_WO_CL,
    CLASSIC_TRAIN_SM,
    LINEAR,
    RECONSTRUCTION_CL,
    RECONSTRUCTION_WO_CL,
    RECOVERY_CL,
    RECOVERY_WO_CL,
    Kind,
    Method,
    Results,
    Stats,
    Task,
)
from mpikeras.experiments.table import Table
from mpikeras.io.atomic import write_text_atomic

#: The paper's results on real OpenMPIData (NRMSE in %, mean +- std over voxels).
PAPER_RESULTS: dict[Method, tuple[float, float]] = {
    RECOVERY_WO_CL: (2.2, 0.4),
    RECOVERY_CL: (1.9, 0.4),
    RECONSTRUCTION_WO_CL: (16.0, 5.7),
    RECONSTRUCTION_CL: (16.4, 4.5),
}
RESULTS_JSON = "results.json"
REPORT_MD = "report.md"
FIGURE_RECOVERY = "figure2.png"
FIGURE_RECONSTRUCTION = "figure3.png"


def percent(stats: Stats | None) -> str:
    """'2.2 ± 0.4' in percent, or '-'."""
    return "-" if stats is None else stats.percent()


def results_table(results: Results) -> Table:
    """Rows like the paper's: task x (wo-CL, CL, classic), NRMSE in %."""
    return Table(
        ("", RECOVERY_WO_CL.label, RECOVERY_CL.label, Kind.CLASSIC.value),
        (
            (
                "recovery NRMSE (%)",
                percent(results.stats(RECOVERY_WO_CL)),
                percent(results.stats(RECOVERY_CL)),
                "-",
            ),
            (
                "reconstruction NRMSE (%)",
                percent(results.stats(RECONSTRUCTION_WO_CL)),
                percent(results.stats(RECONSTRUCTION_CL)),
                percent(results.stats(CLASSIC_TRAIN_SM)),
            ),
        ),
    )


def baselines_table(results: Results) -> Table:
    """Every method of both tasks, baselines included."""
    rows = []
    for task in Task:
        for method in results.methods(task):
            stats = results.stats(method)
            rows.append((task.value, method.label, percent(stats), f"{100 * stats.seed_std:.2f}"))
    return Table(("task", "method", "NRMSE (%)", "std over seeds (%)"), tuple(rows))


def phantom_table(results: Results) -> Table:
    """Resolution-phantom reconstruction NRMSE per SM."""
    rows = tuple(
        (
            name,
            f"{100 * score.vs_gt_sm:.1f}",
            "-" if score.vs_truth is None else f"{100 * score.vs_truth:.1f}",
        )
        for name, score in results.phantom.items()
    )
    return Table(("SM", "NRMSE vs ground-truth-SM image (%)", "NRMSE vs true amount (%)"), rows)


#: Differences of mean NRMSE below this (0.1 percentage points) are not called differences.
MIN_DIFFERENCE = 1e-3


def compare(a: Stats, b: Stats) -> int:
    """-1 if `a` is clearly lower than `b`, 1 if clearly higher, 0 if not clearly different.

    Clearly: the means differ by more than `MIN_DIFFERENCE` and by more than
    twice the larger spread of the per-seed means (zero with one seed).
    """
    difference = a.mean - b.mean
    spread = 2 * max(a.seed_std, b.seed_std)
    if abs(difference) <= max(MIN_DIFFERENCE, spread):
        return 0
    return -1 if difference < 0 else 1


def verdict(results: Results) -> list[str]:
    """Plain statements: does learned recovery beat interpolation, does pretraining help."""
    lines = []
    linear = results.stats(LINEAR)
    for method in (RECOVERY_WO_CL, RECOVERY_CL, BRACKET_WO_CL, BRACKET_CL):
        stats = results.stats(method)
        if stats is None or linear is None:
            continue
        order = compare(stats, linear)
        if order < 0:
            outcome = "beats linear interpolation"
        elif order == 0:
            outcome = "is on par with linear interpolation: not yet a useful SM recovery method"
        else:
            outcome = "does not beat linear interpolation: not yet a useful SM recovery method"
        lines.append(
            f"- {method.label} recovery ({percent(stats)} %) {outcome} ({percent(linear)} %)."
        )
    classic = results.stats(CLASSIC_TRAIN_SM)
    for method in (RECONSTRUCTION_WO_CL, RECONSTRUCTION_CL):
        stats = results.stats(method)
        if stats is not None and classic is not None:
            better = compare(stats, classic) < 0
            lines.append(
                f"- {method.label} direct reconstruction ({percent(stats)} %) "
                f"{'beats' if better else 'does not beat'} classic Kaczmarz with the training SM "
                f"({percent(classic)} %)."
            )
    for task, without, with_cl in (
        ("recovery", RECOVERY_WO_CL, RECOVERY_CL),
        ("bracket recovery", BRACKET_WO_CL, BRACKET_CL),
        ("direct reconstruction", RECONSTRUCTION_WO_CL, RECONSTRUCTION_CL),
    ):
        a, b = results.stats(without), results.stats(with_cl)
        if a is None or b is None:
            continue
        effect = {-1: "improves", 0: "makes no clear difference to", 1: "worsens"}[compare(b, a)]
        lines.append(
            f"- Contrastive pretraining {effect} {task} ({percent(a)} % wo-CL, {percent(b)} % CL; "
            "differences count only beyond twice the spread over seeds)."
        )
    return lines


def _paper(method: Method) -> str:
    mean, std = PAPER_RESULTS[method]
    return f"{mean} ± {std} ({method.label})"


def markdown_report(results: Results) -> str:
    """`report.md`: the tables, the paper's numbers, the verdicts and the figures."""
    lines = [
        f"# mpikeras reproduce: preset `{results.preset}`",
        "",
        f"{results.description}; {len(results.seeds)} seed(s); Keras backend "
        f"`{results.backend}`; {results.elapsed_s:.0f} s in the last call (runs finished "
        "by an earlier call are resumed, not retrained).",
        "",
        "## Results (NRMSE in %, mean ± std over voxels and seeds)",
        "",
        results_table(results).markdown(),
        "",
        f"The paper (real OpenMPIData): recovery {_paper(RECOVERY_WO_CL)}, "
        f"{_paper(RECOVERY_CL)}; reconstruction {_paper(RECONSTRUCTION_WO_CL)}, "
        f"{_paper(RECONSTRUCTION_CL)}.",
        "",
        "## Every method, baselines included",
        "",
        baselines_table(results).markdown(),
        "",
        "## Resolution phantom reconstructed with each SM (Kaczmarz, λ = 0.01, 3 sweeps)",
        "",
        phantom_table(results).markdown(),
        "",
        "## What this says",
        "",
        *verdict(results),
        "",
        "Figures (first seed): Figure 2 shows the SM at time step 80 (mean NRMSE over the",
        "predicted voxels in the titles) and the phantom reconstructed with each SM (NRMSE",
        "against the ground-truth-SM image); Figure 3 shows one reconstructed voxel (its own",
        "NRMSE).",
        "",
        f"![Figure 2]({FIGURE_RECOVERY})",
        "",
        f"![Figure 3]({FIGURE_RECONSTRUCTION})",
        "",
    ]
    return "\n".join(lines)


def write_outputs(
    out: Path,
    results: Results,
    recovery: RecoveryEvaluation,
    reconstruction: ReconstructionEvaluation,
) -> None:
    """results.json, figure2.png, figure3.png (from the first seed's evaluations) and report.md.

    Args:
        out: the output directory.
        results: what the driver measured.
        recovery, reconstruction: the first seed's evaluations, for the figures.
    """
    results.save(out / RESULTS_JSON)
    learned = [m for m in results.methods(Task.RECOVERY) if m.kind is Kind.LEARNED]
    rec_means = {k: float(np.mean(v)) for k, v in recovery.voxel_nrmse.items()}
    figure_recovery(
        recovery.sm_slices,
        recovery.phantom_images,
        recovery.phantom_nrmse,
        rec_means,
        out / FIGURE_RECOVERY,
        methods=tuple(m.label for m in learned if m.paper) or tuple(m.label for m in learned),
    )
    truth = reconstruction.examples["ground truth"][None]
    example_nrmse = {k: float(nrmse(v[None], truth)[0]) for k, v in reconstruction.examples.items()}
    figure_reconstruction(
        reconstruction.examples,
        reconstruction.example_voxel,
        example_nrmse,
        out / FIGURE_RECONSTRUCTION,
    )
    write_text_atomic(out / REPORT_MD, markdown_report(results))


def print_tables(results: Results, log: Callable[[str], None] = print) -> None:
    """The report's tables and verdicts as plain text."""
    for table in (results_table(results), baselines_table(results), phantom_table(results)):
        log(table.text())
        log("")
    for line in verdict(results):
        log(line)
