import numpy as np

from mpikeras.evaluation.targets import (
    ALL,
    INSIDE_FOV,
    OUTSIDE_FOV,
    inside_drive_field,
    target_masks,
)
from mpikeras.io.acquisition import Acquisition, DriveField
from mpikeras.preprocessing import RecoveryGeometry
from mpikeras.simulation import preset


def test_drive_field_fov_is_strength_over_gradient():
    acq = Acquisition(
        drivefield=DriveField(strength_tesla=(0.012, 0.006, 0.0)),
        gradient_tesla_per_m=((-1.0, 0, 0), (0, -2.0, 0), (0, 0, 2.0)),
    )
    np.testing.assert_allclose(acq.drive_field_half_width_m, (0.012, 0.003, 0.0))


def test_the_protocols_recovery_targets_split_91_inside_80_outside():
    test = preset("openmpi-2d-37")
    grid = test.grid.central_slice()
    inside = inside_drive_field(grid, test.acquisition)
    geo = RecoveryGeometry(*inside.shape)
    targets = inside[geo.target_rows][:, geo.columns]
    masks = target_masks(targets)
    assert masks[ALL].sum() == 171
    assert masks[INSIDE_FOV].sum() == 91  # 7 rows x 13 columns within +-12 mm
    assert masks[OUTSIDE_FOV].sum() == 80
    assert not np.any(masks[INSIDE_FOV] & masks[OUTSIDE_FOV])
