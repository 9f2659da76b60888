"""Grid: voxel centres, MDF voxel order, slicing and subsampling."""

from __future__ import annotations

import numpy as np
import pytest

from mpikeras.io import Grid


def _mdf_positions(center: float, fov: float, n: int) -> np.ndarray:
    """MPIFiles' voxel centres pos_i = centre + (fov/2) (-1 + (2i - 1)/N), i = 1..N."""
    return np.array([center + fov / 2 * (-1 + (2 * i - 1) / n) for i in range(1, n + 1)])


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_axis_positions_follow_the_mdf_formula(axis):
    grid = Grid(size=(5, 4, 3), fov_m=(0.010, 0.008, 0.003), center_m=(0.001, -0.002, 0.0005))
    expected = _mdf_positions(grid.center_m[axis], grid.fov_m[axis], grid.size[axis])
    np.testing.assert_allclose(grid.axis_m(axis), expected, rtol=0, atol=1e-15)


def test_openmpi_grids_have_their_central_slice_at_z_zero():
    # Calibration 2: 19 x 19 x 19 voxels, 38 x 38 x 19 mm -> 2 x 2 x 1 mm voxels, -18..18 mm.
    grid_19 = Grid(size=(19, 19, 19), fov_m=(0.038, 0.038, 0.019))
    assert grid_19.voxel_size_m == (0.002, 0.002, 0.001)
    np.testing.assert_allclose(grid_19.axis_m(0), np.arange(-18, 19, 2) * 1e-3, atol=1e-15)
    assert grid_19.axis_m(2)[9] == pytest.approx(0.0, abs=1e-15)  # the paper's slice 10 of 19
    # Calibration 5: 37 x 37 x 37 voxels, 37 x 37 x 18.5 mm -> 1 x 1 x 0.5 mm voxels.
    grid_37 = Grid(size=(37, 37, 37), fov_m=(0.037, 0.037, 0.0185))
    assert grid_37.voxel_size_m == (0.001, 0.001, 0.0005)
    np.testing.assert_allclose(grid_37.axis_m(1), np.arange(-18, 19) * 1e-3, atol=1e-15)
    assert grid_37.axis_m(2)[18] == pytest.approx(0.0, abs=1e-15)  # 0-based slice 18 of 37
    assert grid_37.central_slice().center_m[2] == pytest.approx(0.0, abs=1e-15)


def test_positions_are_indexed_z_y_x_with_x_fastest_in_mdf_order():
    grid = Grid(size=(5, 4, 3), fov_m=(0.010, 0.008, 0.003), center_m=(0.001, -0.002, 0.0005))
    positions = grid.positions_m()
    assert positions.shape == (3, 4, 5, 3) == (*grid.shape, 3)
    for z, y, x in [(0, 0, 0), (2, 1, 3), (1, 3, 4)]:
        np.testing.assert_allclose(
            positions[z, y, x], [grid.axis_m(0)[x], grid.axis_m(1)[y], grid.axis_m(2)[z]]
        )
    # Flattened in C order, consecutive voxels step along x first (MDF order "xyz").
    flat = positions.reshape(-1, 3)
    assert np.all(np.diff(flat[:5, 0]) > 0) and np.ptp(flat[:5, 1:], axis=0).max() == 0
    np.testing.assert_allclose(flat[5], [grid.axis_m(0)[0], grid.axis_m(1)[1], grid.axis_m(2)[0]])
    assert grid.num_voxels == 60


@pytest.mark.parametrize("index", [0, 1, 2])
def test_z_slice_keeps_the_positions_of_that_slice(index):
    grid = Grid(size=(5, 4, 3), fov_m=(0.010, 0.008, 0.003), center_m=(0.001, -0.002, 0.0005))
    sliced = grid.z_slice(index)
    assert sliced.size == (5, 4, 1)
    assert sliced.voxel_size_m == grid.voxel_size_m
    np.testing.assert_allclose(sliced.positions_m()[0], grid.positions_m()[index], atol=1e-15)


@pytest.mark.parametrize(
    ("step_x", "step_y", "offset_x", "offset_y"),
    [(1, 1, 0, 0), (2, 4, 0, 0), (2, 2, 1, 0), (3, 2, 2, 1), (2, 4, 1, 2)],
)
def test_subsample_keeps_the_selected_voxel_centres(step_x, step_y, offset_x, offset_y):
    grid = Grid(size=(37, 37, 1), fov_m=(0.037, 0.037, 0.0005), center_m=(0.0, 0.0, 0.0))
    sub = grid.subsample(step_x, step_y, offset_x, offset_y)
    expected = grid.positions_m()[:, offset_y::step_y, offset_x::step_x]
    assert sub.shape == expected.shape[:3]
    np.testing.assert_allclose(sub.positions_m(), expected, atol=1e-15)
    dx, dy, dz = grid.voxel_size_m
    assert sub.voxel_size_m == pytest.approx((step_x * dx, step_y * dy, dz))


def test_paper_test_grid_subsampling_gives_the_training_pitch():
    # Every 2nd voxel in x and y of the 37 grid: 19 x 19 voxels at 2 mm, like calibration 2.
    test_grid = Grid(size=(37, 37, 37), fov_m=(0.037, 0.037, 0.0185)).central_slice()
    sub = test_grid.subsample(2, 2)
    assert sub.size == (19, 19, 1)
    assert sub.voxel_size_m[:2] == pytest.approx((0.002, 0.002))
    np.testing.assert_allclose(sub.axis_m(0), np.arange(-18, 19, 2) * 1e-3, atol=1e-15)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": (0, 4, 3), "fov_m": (1, 1, 1)}, "size must be 3 positive integers"),
        ({"size": (5, 4), "fov_m": (1, 1, 1)}, "size must be 3 positive integers"),
        ({"size": (5, 4, 3), "fov_m": (1, -1, 1)}, "fov_m must be 3 positive finite lengths"),
        ({"size": (5, 4, 3), "fov_m": (np.nan, 1, 1)}, "fov_m must be 3 positive finite lengths"),
        ({"size": (5, 4, 3), "fov_m": (1, 1, 1), "center_m": (0, np.inf, 0)}, "center_m"),
    ],
)
def test_invalid_grids_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Grid(**kwargs)


def test_invalid_slices_and_subsampling_are_rejected():
    grid = Grid(size=(5, 4, 3), fov_m=(0.010, 0.008, 0.003))
    with pytest.raises(ValueError, match=r"index must be in 0\.\.2, got 3"):
        grid.z_slice(3)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        grid.subsample(0, 1)
    with pytest.raises(ValueError, match=r"offsets must be in 0\.\.4 \(x\)"):
        grid.subsample(2, 2, offset_x=5)
