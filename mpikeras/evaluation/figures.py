"""The analogs of the paper's Figures 2 and 3, as PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mpikeras.io.atomic import atomic_path


def _save(fig: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    return path


def figure_recovery(
    sm_slices: dict[str, np.ndarray],
    phantom_images: dict[str, np.ndarray],
    phantom_nrmse: dict[str, dict[str, float]],
    voxel_nrmse: dict[str, float],
    path: str | Path,
    methods: tuple[str, ...] = ("wo-CL", "CL"),
) -> Path:
    """Figure 2: SM slices at one time step (top) and phantom reconstructions (bottom).

    Columns: input SM, the recovered SMs of `methods`, ground truth. NRMSE
    in % in each panel: per-voxel mean for SM slices, against the
    ground-truth-SM image for reconstructions.
    """
    names = ["input", *[m for m in methods if m in sm_slices], "ground truth"]
    fig = Figure(figsize=(2.6 * len(names), 5.4))
    axes = fig.subplots(2, len(names), squeeze=False)
    span = max(np.abs(sm_slices[n]).max() for n in names)
    vmax = max((phantom_images[n].max() for n in names if n in phantom_images), default=1.0)
    for j, name in enumerate(names):
        ax = axes[0, j]
        ax.imshow(
            sm_slices[name], origin="lower", cmap="RdBu_r", vmin=-span, vmax=span, aspect="auto"
        )
        label = name if name not in voxel_nrmse else f"{name}\n{100 * voxel_nrmse[name]:.1f} %"
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax = axes[1, j]
        if name in phantom_images:
            ax.imshow(phantom_images[name], origin="lower", cmap="viridis", vmin=0, vmax=vmax)
            score = phantom_nrmse.get(name, {}).get("vs_gt_sm")
            if score is not None and name != "ground truth":
                ax.set_title(f"{100 * score:.1f} %", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("SM, time step 80")
    axes[1, 0].set_ylabel("resolution phantom")
    return _save(fig, Path(path))


def figure_reconstruction(
    examples: dict[str, np.ndarray],
    voxel: tuple[int, int],
    nrmse_by_method: dict[str, float],
    path: str | Path,
) -> Path:
    """Figure 3: one reconstructed SM voxel: ground truth, wo-CL, CL, classic."""
    names = list(examples)
    fig = Figure(figsize=(2.6 * len(names), 2.9))
    axes = fig.subplots(1, len(names), squeeze=False)
    for j, name in enumerate(names):
        ax = axes[0, j]
        ax.imshow(
            examples[name],
            origin="lower",
            cmap="viridis",
            vmin=0,
            vmax=max(1.0, float(examples[name].max())),
        )
        title = (
            name if name not in nrmse_by_method else f"{name}\n{100 * nrmse_by_method[name]:.1f} %"
        )
        ax.set_title(title, fontsize=9)
        if name == "ground truth":
            iy, ix = voxel
            ax.add_patch(Rectangle((ix - 0.5, iy - 0.5), 1, 1, fill=False, edgecolor="red"))
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, Path(path))


def figure_image(image: np.ndarray, grid, title: str, path: str | Path) -> Path:
    """One reconstructed slice with axes in millimetres."""
    x_mm = grid.axis_m(0) * 1e3
    y_mm = grid.axis_m(1) * 1e3
    dx, dy = (
        (x_mm[1] - x_mm[0]) / 2 if x_mm.size > 1 else 0.5,
        (y_mm[1] - y_mm[0]) / 2 if y_mm.size > 1 else 0.5,
    )
    fig = Figure(figsize=(4.2, 3.6))
    ax = fig.subplots()
    shown = ax.imshow(
        image,
        origin="lower",
        cmap="viridis",
        extent=(x_mm[0] - dx, x_mm[-1] + dx, y_mm[0] - dy, y_mm[-1] + dy),
    )
    fig.colorbar(shown, ax=ax, label="delta-sample units")
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    ax.set_title(title, fontsize=9)
    return _save(fig, Path(path))
