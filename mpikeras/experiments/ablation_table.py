"""The ablation table: its rows (the settings compared) and its rendering.

`ROWS` are the settings `mpikeras.experiments.ablation.run_ablation` trains;
`ablation_entries` reads their scores from the `Results` (mean ± std over
seeds of each seed's value) and `display_table`, `csv_table` and
`ablation_markdown` render them with the one `Table` type.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from mpikeras.experiments.results import (
    LOOKUP,
    NEAREST,
    TEST_VOXELS,
    VALIDATION,
    Method,
    Results,
    Stats,
    Target,
    Task,
    learned_method,
)
from mpikeras.experiments.table import Table

#: Baselines reported beside the learned rows, per task.
BASELINES: dict[Task, Method] = {Task.RECOVERY: LOOKUP, Task.RECONSTRUCTION: NEAREST}


@dataclasses.dataclass(frozen=True)
class AblationRow:
    """One setting of the ablation table.

    Args:
        name: the row label.
        slug: its run-directory name.
        description: what is trained, in a few words.
        pretraining: key of `PRETRAININGS`, or `None` (no pretraining: wo-CL).
        joint: both heads on one encoder at once.
        equal_epochs: the head also trains for the pretraining epochs.
        more_combinations: a larger share of combined samples in fine-tuning.
        tasks: the tasks the row applies to.
    """

    name: str
    slug: str
    description: str
    pretraining: str | None = None
    joint: bool = False
    equal_epochs: bool = False
    more_combinations: bool = False
    tasks: tuple[Task, ...] = tuple(Task)

    def applies(self, task: Task) -> bool:
        """Whether the row trains a head of `task` (joint rows train both)."""
        return self.joint or task in self.tasks

    def method(self, task: Task) -> Method:
        """The row's learned method for `task`."""
        return learned_method(self.name, task, name=self.slug)


ROWS: tuple[AblationRow, ...] = (
    AblationRow("wo-CL", "wo-cl", "encoder trained from scratch with the head"),
    AblationRow(
        "wo-CL, equal epochs",
        "wo-cl-equal-epochs",
        "no pretraining; the head trains for the pretraining + fine-tuning epochs",
        equal_epochs=True,
    ),
    AblationRow(
        "wo-CL, more combinations",
        "wo-cl-more-combinations",
        "as 'equal epochs', with a larger share of combined samples (more distinct data)",
        equal_epochs=True,
        more_combinations=True,
        tasks=(Task.RECONSTRUCTION,),
    ),
    AblationRow("CL", "cl", "contrastive pretraining with every augmentation", "all"),
    AblationRow(
        "CL without polarity",
        "cl-no-polarity",
        "pretraining without polarity inversion",
        "no-polarity",
    ),
    AblationRow("CL without noise", "cl-no-noise", "pretraining without added noise", "no-noise"),
    AblationRow("CL without gain", "cl-no-gain", "pretraining without gain reduction", "no-gain"),
    AblationRow(
        "CL without combinations",
        "cl-no-combinations",
        "pretraining on single SM columns only",
        "no-combinations",
    ),
    AblationRow(
        "joint wo-CL",
        "joint-wo-cl",
        "one fresh encoder trained with both heads at once",
        joint=True,
    ),
    AblationRow(
        "joint CL",
        "joint-cl",
        "the CL encoder, then both heads trained at once",
        "all",
        joint=True,
    ),
)


def tasks_of(results: Results) -> tuple[Task, ...]:
    """The tasks an ablation's results cover."""
    return tuple(Task(t) for t in results.settings["tasks"])


@dataclasses.dataclass(frozen=True)
class AblationEntry:
    """One line of the ablation table.

    Args:
        setting: the row label.
        description: what it is.
        cells: (task, target) -> mean ± std over seeds of the per-seed
            values (of the per-seed mean NRMSE), `None` where it does not apply.
    """

    setting: str
    description: str
    cells: dict[tuple[Task, Target], Stats | None]


def _seed_stats(results: Results, method: Method, target: Target) -> Stats | None:
    score = results.score(method, target)
    return None if score is None else score.seed_stats()


def ablation_entries(results: Results, rows: Sequence[AblationRow] = ROWS) -> list[AblationEntry]:
    """The table's lines: one per row (of the results' tasks), then one per baseline scored."""
    tasks = tasks_of(results)
    entries = []
    for row in rows:
        if not set(row.tasks) & set(tasks):
            continue
        cells = {
            (task, target): _seed_stats(results, row.method(task), target)
            if row.applies(task)
            else None
            for task in tasks
            for target in (VALIDATION, TEST_VOXELS)
        }
        entries.append(AblationEntry(row.name, row.description, cells))
    for task in tasks:
        method = BASELINES[task]
        stats = _seed_stats(results, method, TEST_VOXELS)
        if stats is None:
            continue
        cells = {(other, target): None for other in tasks for target in (VALIDATION, TEST_VOXELS)}
        cells[task, TEST_VOXELS] = stats
        entries.append(
            AblationEntry(
                f"{method.description} (baseline)", f"protocol method '{method.label}'", cells
            )
        )
    return entries


def _columns(tasks: Sequence[Task]) -> list[tuple[Task, Target, str, str]]:
    """(task, target, table heading, CSV prefix) of each metric column."""
    columns = []
    for task in tasks:
        columns.append((task, VALIDATION, f"{task.value} val MSE", f"{task.value}_val_mse"))
        columns.append(
            (task, TEST_VOXELS, f"{task.value} NRMSE (%)", f"{task.value}_nrmse_percent")
        )
    return columns


def _format_cell(stats: Stats | None, target: Target) -> str:
    if stats is None:
        return "-"
    if target.metric == "nrmse":
        return stats.percent()
    return f"{stats.mean:.3g} ± {stats.std:.2g}"


def display_table(entries: Sequence[AblationEntry], tasks: Sequence[Task]) -> Table:
    """The table as shown ("mean ± std" over seeds, NRMSE in %)."""
    columns = _columns(tasks)
    return Table(
        ("setting", *(heading for _, _, heading, _ in columns)),
        tuple(
            (e.setting, *(_format_cell(e.cells[t, target], target) for t, target, _, _ in columns))
            for e in entries
        ),
    )


def csv_table(entries: Sequence[AblationEntry], tasks: Sequence[Task]) -> Table:
    """The table with separate mean and std columns (NRMSE in %), for `ablation.csv`."""
    columns = _columns(tasks)
    header = ["setting"]
    for _, _, _, prefix in columns:
        header += [f"{prefix}_mean", f"{prefix}_std"]
    lines = []
    for entry in entries:
        line: list[str | float | int] = [entry.setting]
        seeds = 0
        for task, target, _, _ in columns:
            stats = entry.cells[task, target]
            factor = 100.0 if target.metric == "nrmse" else 1.0
            if stats is None:
                line += ["", ""]
            else:
                line += [factor * stats.mean, factor * stats.std]
                seeds = max(seeds, stats.seeds)
        lines.append((*line, seeds, entry.description))
    return Table((*header, "seeds", "description"), tuple(lines))


def ablation_markdown(
    results: Results, entries: Sequence[AblationEntry], rows: Sequence[AblationRow]
) -> str:
    """The ablation table in Markdown, with the settings and how to read it."""
    settings = results.settings
    lines = [
        "# Ablation",
        "",
        f"Seeds {', '.join(str(s) for s in results.seeds)}; pretraining "
        f"{settings['pretrain_epochs']} and fine-tuning {settings['finetune_epochs']} epochs; "
        f"Keras backend `{results.backend}`; {results.elapsed_s:.0f} s. Each cell is the "
        "mean ± std over seeds.",
        "",
        display_table(entries, tasks_of(results)).markdown(),
    ]
    protocol = (
        f"NRMSE: the paper's protocol on the test SM ({results.data['test_sm']}), mean over the "
        "tested voxels: recovered signals against the measured ones, and directly "
        "reconstructed single-voxel images against the one-hot truth."
        if settings["protocol"]
        else "NRMSE: not computed (the protocol was off or the grids did not allow it)."
    )
    lines += [
        "",
        "val MSE: mean squared error of the kept (best-epoch) model on the seed's validation "
        "set, drawn with the base settings and the same for every row (normalised units; "
        "reconstruction images in units of the delta sample). " + protocol + " Lower is "
        "better everywhere; '-': the row does not apply to the task.",
        "",
        "Settings:",
        "",
    ]
    lines += [f"- {row.name}: {row.description}." for row in rows]
    return "\n".join(lines) + "\n"
