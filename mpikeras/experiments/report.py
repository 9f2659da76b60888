"""The report of `reproduce` and `evaluate`: tables, verdicts, figures and `report.md`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from mpikeras.evaluation.figures import figure_reconstruction, figure_recovery
from mpikeras.evaluation.metrics import nrmse
from mpikeras.evaluation.protocol import ReconstructionEvaluation, RecoveryEvaluation
from mpikeras.evaluation.statistics import PairedComparison, Verdict, compare_paired
from mpikeras.experiments.results import (
    BRACKET_CL,
    BRACKET_WO_CL,
    INSIDE_FOV,
    KACZMARZ_PAPER,
    KACZMARZ_TUNED,
    LINEAR,
    NOISE_FLOOR,
    NOISE_FREE,
    OUTSIDE_FOV,
    RECONSTRUCTION_CL,
    RECONSTRUCTION_WO_CL,
    RECOVERY_CL,
    RECOVERY_WO_CL,
    Kind,
    Method,
    Results,
    Stats,
    Target,
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
    """Rows like the paper's (wo-CL, CL, classic at the paper's setting), NRMSE in %,
    with the strongest baseline of each task beside them."""
    rows = []
    for task, without, with_cl, classic in (
        (Task.RECOVERY, RECOVERY_WO_CL, RECOVERY_CL, None),
        (Task.RECONSTRUCTION, RECONSTRUCTION_WO_CL, RECONSTRUCTION_CL, KACZMARZ_PAPER),
    ):
        best = strongest_baseline(results, task)
        rows.append(
            (
                f"{task.value} NRMSE (%)",
                percent(results.stats(without)),
                percent(results.stats(with_cl)),
                "-" if classic is None else percent(results.stats(classic)),
                "-" if best is None else f"{percent(results.stats(best))} ({best.label})",
            )
        )
    return Table(
        ("", RECOVERY_WO_CL.label, RECOVERY_CL.label, KACZMARZ_PAPER.label, "strongest baseline"),
        tuple(rows),
    )


def _cell(results: Results, method: Method, target: Target) -> str:
    stats = results.stats(method, target)
    return "-" if stats is None else f"{100 * stats.mean:.2f}"


def baselines_table(results: Results) -> Table:
    """Every method of both tasks with what it uses and its mean NRMSE on every target set."""
    rows = []
    for task in Task:
        for method in results.methods(task):
            stats = results.stats(method)
            rows.append(
                (
                    task.value,
                    method.label,
                    method.kind.value,
                    method.uses,
                    percent(stats),
                    *(_cell(results, method, t) for t in (INSIDE_FOV, OUTSIDE_FOV, NOISE_FREE)),
                    f"{100 * stats.seed_std:.2f}",
                )
            )
    return Table(
        (
            "task",
            "method",
            "kind",
            "uses",
            "NRMSE (%)",
            "inside FOV",
            "outside FOV",
            "vs noise-free",
            "std over seeds",
        ),
        tuple(rows),
    )


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


def strongest_baseline(results: Results, task: Task) -> Method | None:
    """The non-learned competitor (baseline or classic, never an oracle) with the lowest mean."""
    candidates = [m for m in results.methods(task) if m.kind.competes]
    if not candidates:
        return None
    return min(candidates, key=lambda m: results.stats(m).mean)


def paired(results: Results, a: Method, b: Method) -> PairedComparison:
    """A against B over the results' seeds (a seed-independent baseline repeats its values)."""
    sa, sb = results.score(a), results.score(b)
    va, vb = list(sa.per_seed), list(sb.per_seed)
    if len(vb) == 1 and len(va) > 1:
        vb = vb * len(va)
    if len(va) == 1 and len(vb) > 1:
        va = va * len(vb)
    return compare_paired(va, vb)


#: The method a practitioner would use without learning, compared with beside the strongest.
USUAL_METHOD = {Task.RECOVERY: LINEAR, Task.RECONSTRUCTION: KACZMARZ_TUNED}

#: The pairs of wo-CL and CL heads that pretraining is judged on.
CL_PAIRS = (
    ("recovery", RECOVERY_WO_CL, RECOVERY_CL),
    ("bracket recovery", BRACKET_WO_CL, BRACKET_CL),
    ("direct reconstruction", RECONSTRUCTION_WO_CL, RECONSTRUCTION_CL),
)


def verdict(results: Results) -> list[str]:
    """Plain statements with their intervals: which learned methods beat the strongest
    baseline, and whether pretraining helps (paired over seeds; "undetermined" below 3)."""
    lines = []
    for task in Task:
        baseline = strongest_baseline(results, task)
        learned = [m for m in results.methods(task) if m.kind is Kind.LEARNED]
        if baseline is None or not learned:
            continue
        lines.append(
            f"- Strongest {task.value} baseline: {baseline.label} "
            f"({percent(results.stats(baseline))} %; uses the {baseline.uses})."
        )
        beat = []
        for method in learned:
            comparison = paired(results, method, baseline)
            if comparison.verdict is Verdict.BETTER:
                beat.append(method.label)
            lines.append(f"  - {comparison.phrase(method.label, baseline.label)}.")
        others = [m.label for m in learned if m.label not in beat]
        lines.append(
            f"  - Beat it: {', '.join(beat) or 'none'}; do not (or not shown to): "
            f"{', '.join(others) or 'none'}."
        )
        usual = USUAL_METHOD[task]
        if usual != baseline and results.score(usual) is not None:
            lines.append(
                f"- Against {usual.label} ({percent(results.stats(usual))} %), the usual "
                f"{task.value} method:"
            )
            for method in learned:
                comparison = paired(results, method, usual)
                lines.append(f"  - {comparison.phrase(method.label, usual.label)}.")
    for task, without, with_cl in CL_PAIRS:
        if results.score(without) is None or results.score(with_cl) is None:
            continue
        comparison = paired(results, with_cl, without)
        lines.append(
            f"- Contrastive pretraining, {task}: {comparison.phrase(with_cl.label, without.label)}."
        )
    floor = results.stats(NOISE_FLOOR)
    if floor is not None:
        inside, outside = (results.stats(NOISE_FLOOR, t) for t in (INSIDE_FOV, OUTSIDE_FOV))
        where = (
            ""
            if inside is None or outside is None
            else f" ({percent(inside)} % inside, {percent(outside)} % outside the drive-field FOV)"
        )
        lines.append(
            f"- Noise floor (the measured target against its noise-free version): "
            f"{percent(floor)} %{where}."
        )
    return lines


def _paper(method: Method) -> str:
    mean, std = PAPER_RESULTS[method]
    return f"{mean} ± {std} ({method.label})"


def _table_notes(results: Results) -> list[str]:
    tuned = results.settings.get("kaczmarz_tuned")
    notes = [
        "Mean NRMSE (%) on all test voxels, on those inside and outside the drive-field FOV,",
        "and (simulated data, recovery) against the noise-free target. Baselines use the same",
        "information as the learned methods; an oracle uses the test data's own answer and",
        "is a bound, not a competitor.",
    ]
    if tuned:
        notes += [
            f"Kaczmarz (tuned): lambda = {tuned['lam']:g}, {tuned['iterations']} sweeps, SNR",
            f"threshold {tuned['snr_threshold']:g}, chosen on the training SM alone (its columns",
            "plus noise at its background level), never on the test SM.",
        ]
    return notes


def _scenario_lines(results: Results) -> list[str]:
    """The simulated world the data comes from, where the results record one."""
    name = results.settings.get("scenario")
    if not name:
        return []
    description = results.settings.get("scenario_description", "")
    return ["", f"Simulation scenario `{name}`" + (f": {description}." if description else ".")]


def markdown_report(results: Results) -> str:
    """`report.md`: the tables, the paper's numbers, the verdicts and the figures."""
    lines = [
        f"# mpikeras reproduce: preset `{results.preset}`",
        "",
        f"{results.description}; {len(results.seeds)} seed(s); Keras backend "
        f"`{results.backend}`; {results.elapsed_s:.0f} s in the last call (runs finished "
        "by an earlier call are resumed, not retrained).",
        *_scenario_lines(results),
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
        *_table_notes(results),
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
