"""The paper's test protocol on the 37 x 37 test SM (paper section II, mpi-facts 5).

Recovery: from the test SM take every 2nd voxel in x and every 4th in y,
predict the voxels 2 mm further in y, compare with the measured voxels there
(NRMSE over all time steps), and reconstruct the resolution phantom with the
input, recovered and ground-truth SMs (Kaczmarz, lambda 0.01, 3 sweeps).
Beside the learned predictors: copy, linear and cubic interpolation of the
input rows, and the training SM looked up at each target's position. Where a
noise-free test SM is given (simulated data), every method is also scored
against the noise-free target, and the measured target against it is the
noise floor.

Reconstruction: feed every 2nd voxel in x and y of the test SM (19 x 19 at
2 mm) to the network and compare its image with the one-hot truth, beside
the all-zero image, template matching against the training SM, Kaczmarz with
the training SM at settings chosen on training data only
(`mpikeras.evaluation.classic`) and at the paper's (lambda 0, 1 sweep), and,
as an oracle bound, Kaczmarz with the test SM's own columns.

Every per-voxel result comes with a mask of the voxels inside the
drive-field FOV (`mpikeras.evaluation.targets`).

Signals are band-passed and divided by the delta-sample volume (V/mm^3),
as in training; each learned predictor applies its own model's
normalisation (see `mpikeras.evaluation.predictors`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import numpy as np

from mpikeras.errors import PreprocessingError
from mpikeras.evaluation.baselines import (
    nearest_template_images,
    recovery_baselines,
    training_sm_lookup,
)
from mpikeras.evaluation.classic import (
    PAPER_CLASSIC,
    ClassicSettings,
    per_volume_spectra,
    reconstruct_voxels,
    tune_classic,
)
from mpikeras.evaluation.metrics import mean_std, nrmse
from mpikeras.evaluation.targets import inside_drive_field
from mpikeras.io.measurement import Measurement
from mpikeras.io.system_matrix import SystemMatrix
from mpikeras.preprocessing.geometry import RecoveryGeometry
from mpikeras.preprocessing.signals import MM3, VoxelSignals, voxel_signals
from mpikeras.reconstruction import reconstruct

#: A recovery predictor: (lower, upper) input signals (N, V, C) -> targets (N, V, C).
RecoveryPredictor = Callable[[np.ndarray, np.ndarray], np.ndarray]
#: A reconstruction predictor: signals (N, V, C) -> images (N, Ny, Nx).
ImagePredictor = Callable[[np.ndarray], np.ndarray]

#: Time step of the SM slices shown in the paper's Figure 2.
FIGURE_TIME_STEP = 80


@dataclasses.dataclass(frozen=True)
class ProtocolSettings:
    """Settings of the evaluation (the paper's where it gives them).

    Args:
        band_hz: band of the learned models' inputs and of the classic
            reconstructions that compare SMs.
        channels: receive channels.
        recovery_lambda, recovery_iterations: phantom reconstruction (0.01, 3).
        paper_classic: the paper's classic voxel reconstruction (lambda 0, 1 sweep).
        snr_threshold: frequency selection of the phantom reconstructions.
        step_x, step_y, target_offset_y: the recovery geometry (2, 4, 2).
    """

    band_hz: tuple[float, float] = (80e3, 600e3)
    channels: tuple[int, ...] = (0, 1)
    recovery_lambda: float = 0.01
    recovery_iterations: int = 3
    paper_classic: ClassicSettings = PAPER_CLASSIC
    snr_threshold: float = 2.0
    step_x: int = 2
    step_y: int = 4
    target_offset_y: int = 2


def _prepared(sm: SystemMatrix, settings: ProtocolSettings) -> VoxelSignals:
    return voxel_signals(sm, settings.band_hz, settings.channels)


def _sm_from_signals(
    signals: np.ndarray, template: SystemMatrix, settings: ProtocolSettings, grid
) -> SystemMatrix:
    """A frequency-domain SM (volts) from volume-scaled time signals (Ny, Nx, V, C)."""
    volts = np.asarray(signals, np.float64) * (template.delta_sample_volume_m3 / MM3)
    spectra = np.fft.rfft(volts, axis=2)  # (Ny, Nx, K, C')
    full = np.zeros((template.num_channels, spectra.shape[2], 1, *spectra.shape[:2]), np.complex64)
    for i, c in enumerate(settings.channels):
        full[c, :, 0] = np.moveaxis(spectra[..., i], 2, 0)
    return dataclasses.replace(template, spectra=full, grid=grid, background=template.background)


def _phantom_image(sm: SystemMatrix, measurement: Measurement, settings: ProtocolSettings):
    image = reconstruct(
        sm,
        measurement,
        lam=settings.recovery_lambda,
        iterations=settings.recovery_iterations,
        channels=settings.channels,
        min_frequency_hz=settings.band_hz[0],
        max_frequency_hz=settings.band_hz[1],
        snr_threshold=settings.snr_threshold,
    )
    return image[0]


@dataclasses.dataclass
class RecoveryEvaluation:
    """Recovery results: per-voxel NRMSE per method and the phantom reconstructions.

    Attributes:
        voxel_nrmse: method -> NRMSE of each predicted voxel against the measured target.
        phantom_images: SM name ("input", methods..., "ground truth") -> image (Ny, Nx).
        phantom_nrmse: SM name -> {"vs_gt_sm": ..., "vs_truth": ...}.
        sm_slices: SM name -> signal at `FIGURE_TIME_STEP` (x channel), (Ny, Nx).
        learned: names of the learned predictors (the rest are baselines).
        inside_fov: per target, whether it lies inside the drive-field FOV.
        noise_free_nrmse: method -> NRMSE against the noise-free target (empty
            without a noise-free test SM).
        noise_floor: NRMSE of the measured target against the noise-free one
            (`None` without a noise-free test SM).
    """

    voxel_nrmse: dict[str, np.ndarray]
    phantom_images: dict[str, np.ndarray]
    phantom_nrmse: dict[str, dict[str, float]]
    sm_slices: dict[str, np.ndarray]
    learned: tuple[str, ...] = ()
    inside_fov: np.ndarray | None = None
    noise_free_nrmse: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    noise_floor: np.ndarray | None = None

    def summary(self) -> dict:
        return {
            "voxel_nrmse": {k: mean_std(v) for k, v in self.voxel_nrmse.items()},
            "phantom_nrmse": self.phantom_nrmse,
        }


def evaluate_recovery(
    predictors: Mapping[str, RecoveryPredictor],
    test_sm: SystemMatrix,
    measurement: Measurement | None = None,
    truth: np.ndarray | None = None,
    settings: ProtocolSettings | None = None,
    train_sm: SystemMatrix | None = None,
    noise_free_test_sm: SystemMatrix | None = None,
) -> RecoveryEvaluation:
    """Run the recovery protocol for learned predictors beside the baselines.

    Args:
        predictors: name -> function mapping the lower and upper bracketing
            input signals (N, V, C), in V/mm^3, to predicted target signals;
            the paper's single-column model ignores `upper`.
        test_sm: the fine test SM (central slice, 37 x 37 in the paper).
        measurement: the resolution phantom measured on the test scanner, for
            the phantom reconstructions; skipped if `None`.
        truth: the phantom's true amount on the recovered 19 x 19 grid, in
            delta-sample units, for an NRMSE against it; skipped if `None`.
        settings: protocol settings.
        train_sm: the training SM, for the "lookup" baseline; skipped if `None`.
        noise_free_test_sm: the test SM without receiver noise (simulated
            data), for the noise-free scores and the noise floor.

    Returns:
        A `RecoveryEvaluation`; the methods are the baselines ("copy",
        "linear", "cubic", "lookup") and the predictors.
    """
    settings = settings or ProtocolSettings()
    fine = _prepared(test_sm, settings).signals  # (Ny, Nx, V, C)
    ny, nx = fine.shape[:2]
    geo = RecoveryGeometry(ny, nx, settings.step_x, settings.step_y, settings.target_offset_y)
    cols = geo.columns
    truth_signals = fine[geo.target_rows][:, cols]  # (T, X, V, C)
    shape = truth_signals.shape
    lower = fine[geo.source_rows][:, cols].reshape(-1, *shape[2:])
    upper = fine[geo.upper_rows][:, cols].reshape(-1, *shape[2:])
    predictions = recovery_baselines(fine, geo)
    fine_grid = test_sm.grid.central_slice()
    if train_sm is not None:
        train = _prepared(train_sm, settings).signals
        lookup = training_sm_lookup(train, train_sm.grid.central_slice(), fine_grid)
        predictions["lookup"] = lookup[geo.target_rows][:, cols]
    for name, predict in predictors.items():
        predictions[name] = np.asarray(predict(lower, upper)).reshape(shape)

    def score(target: np.ndarray) -> dict[str, np.ndarray]:
        flat = target.reshape(-1, *shape[2:])
        return {n: nrmse(p.reshape(-1, *shape[2:]), flat) for n, p in predictions.items()}

    voxel_nrmse = score(truth_signals)
    noise_free, floor = {}, None
    if noise_free_test_sm is not None:
        clean = _prepared(noise_free_test_sm, settings).signals[geo.target_rows][:, cols]
        if clean.shape != shape:
            raise PreprocessingError(
                f"the noise-free test SM's targets have shape {clean.shape}, the test SM's "
                f"{shape}; both must be the same calibration"
            )
        noise_free = score(clean)
        floor = nrmse(truth_signals.reshape(-1, *shape[2:]), clean.reshape(-1, *shape[2:]))
    inside = inside_drive_field(fine_grid, test_sm.acquisition)[geo.target_rows][:, cols]

    # The recovered SMs: measured input rows plus predicted rows, 2 mm x 2 mm.
    out_grid = test_sm.grid.subsample(settings.step_x, settings.target_offset_y)
    order = np.argsort(np.r_[geo.input_rows, geo.target_rows])
    measured = fine[geo.input_rows][:, cols]
    slices = {"input": measured[..., FIGURE_TIME_STEP, 0]}
    sms: dict[str, SystemMatrix] = {}
    for name, p in predictions.items():
        merged = np.concatenate([measured, p])[order]
        sms[name] = _sm_from_signals(merged, test_sm, settings, out_grid)
        slices[name] = merged[..., FIGURE_TIME_STEP, 0]
    gt_sm = test_sm.subsample(settings.step_x, settings.target_offset_y)
    slices["ground truth"] = fine[:: settings.target_offset_y, :: settings.step_x][
        ..., FIGURE_TIME_STEP, 0
    ]
    images: dict[str, np.ndarray] = {}
    scores: dict[str, dict[str, float]] = {}
    if measurement is not None:
        gt_image = _phantom_image(gt_sm, measurement, settings)
        images["ground truth"] = gt_image
        input_sm = test_sm.subsample(settings.step_x, settings.step_y)
        input_image = _phantom_image(input_sm, measurement, settings)
        # The input SM has half the rows: interpolate its image linearly along y.
        y_in, y_out = input_sm.grid.axis_m(1), gt_sm.grid.axis_m(1)
        images["input"] = np.stack(
            [np.interp(y_out, y_in, input_image[:, i]) for i in range(input_image.shape[1])],
            axis=-1,
        ) / (settings.step_y / settings.target_offset_y)
        for name, sm in sms.items():
            images[name] = _phantom_image(sm, measurement, settings)
        for name, image in images.items():
            scores[name] = {"vs_gt_sm": float(nrmse(image[None], gt_image[None])[0])}
            if truth is not None:
                scores[name]["vs_truth"] = float(nrmse(image[None], truth[None])[0])
    return RecoveryEvaluation(
        voxel_nrmse,
        images,
        scores,
        slices,
        tuple(predictors),
        inside.reshape(-1),
        noise_free,
        floor,
    )


@dataclasses.dataclass
class ReconstructionEvaluation:
    """Reconstruction results: per-voxel NRMSE against the one-hot truth per method.

    Attributes:
        voxel_nrmse: method -> NRMSE per tested voxel.
        examples: method -> image of the example voxel, plus "ground truth".
        example_voxel: (iy, ix) of the example on the 19 x 19 grid.
        inside_fov: per tested voxel, whether it lies inside the drive-field FOV.
        classic: the Kaczmarz setting chosen on training data ("Kaczmarz (tuned)"); `None`
            when the training SM has no background frames to tune against.
    """

    voxel_nrmse: dict[str, np.ndarray]
    examples: dict[str, np.ndarray]
    example_voxel: tuple[int, int]
    inside_fov: np.ndarray | None = None
    classic: ClassicSettings | None = None

    def summary(self) -> dict:
        return {
            "voxel_nrmse": {k: mean_std(v) for k, v in self.voxel_nrmse.items()},
            "example_voxel": list(self.example_voxel),
        }


def evaluate_reconstruction(
    predictors: Mapping[str, ImagePredictor],
    test_sm: SystemMatrix,
    train_sm: SystemMatrix,
    settings: ProtocolSettings | None = None,
    example_voxel: tuple[int, int] | None = None,
    classic: ClassicSettings | None = None,
    kaczmarz: bool = True,
) -> ReconstructionEvaluation:
    """Run the reconstruction protocol for learned predictors beside the baselines.

    Every 2nd voxel in x and y of the test SM is a single illuminated voxel;
    its one-hot image (value 1: one delta sample per unit volume) is the
    truth. The methods besides the predictors: "zero image" (predicts
    nothing), "nearest" (template matching against the training SM),
    "Kaczmarz (tuned)" (training SM, the setting `tune_classic` chooses on
    the training SM alone), "Kaczmarz (paper setting)" (training SM,
    `settings.paper_classic`) and "oracle: Kaczmarz (test SM)" (the test SM's
    own columns at the tuned setting: an inverse crime, shown as a bound).

    Args:
        predictors: name -> function mapping signals (N, V, C) to images.
        test_sm: the fine test SM.
        train_sm: the training SM (same 19 x 19 positions as the subgrid).
        settings: protocol settings.
        example_voxel: the voxel shown in Figure 3; the one nearest the
            centre by default.
        classic: the tuned Kaczmarz setting, if already chosen (it depends
            on the training SM only); chosen here if `None`.
        kaczmarz: whether to score the three Kaczmarz methods (callers that
            do not report them skip the tuning).

    Returns:
        A `ReconstructionEvaluation`.
    """
    settings = settings or ProtocolSettings()
    step = settings.step_x
    sub = test_sm.subsample(step, step)
    signals = _prepared(sub, settings)
    ny, nx = signals.shape_yx
    if train_sm.grid.shape[1:] != (ny, nx):
        raise PreprocessingError(
            f"the training SM grid {train_sm.grid.shape[1:]} differs from the grid of every "
            f"{step}nd test voxel {(ny, nx)}; the training SM must sample the same positions"
        )
    flat = signals.flat
    truth = np.eye(ny * nx, dtype=np.float32).reshape(-1, ny, nx)
    # The all-zero image says what a number means: one-hot truth on 361 voxels gives 1/19.
    images = {"zero image": np.zeros_like(truth)}
    templates = _prepared(train_sm, settings).flat
    images["nearest"] = nearest_template_images(flat, templates, (ny, nx))
    if kaczmarz and classic is None and train_sm.background.shape[-1] >= 2:
        classic = tune_classic(train_sm, settings.channels, settings.band_hz).best
    spectra = per_volume_spectra(sub, settings.band_hz)
    # Without background frames the training SM has no noise level to tune against:
    # only the paper's setting is scored then.
    methods = (
        ("Kaczmarz (tuned)", train_sm, classic),
        ("Kaczmarz (paper setting)", train_sm, settings.paper_classic),
        ("oracle: Kaczmarz (test SM)", sub, classic),
    )
    for label, sm, setting in methods if kaczmarz else ():
        if setting is None:
            continue
        images[label] = reconstruct_voxels(
            sm, spectra, setting, settings.channels, settings.band_hz
        )
    for name, predict in predictors.items():
        images[name] = np.asarray(predict(flat)).reshape(-1, ny, nx)
    voxel_nrmse = {name: nrmse(img, truth) for name, img in images.items()}
    if example_voxel is None:
        example_voxel = (ny // 2, nx // 2)
    index = example_voxel[0] * nx + example_voxel[1]
    examples = {"ground truth": truth[index]}
    examples.update({k: v[index] for k, v in images.items() if k != "zero image"})
    inside = inside_drive_field(sub.grid.central_slice(), test_sm.acquisition).reshape(-1)
    return ReconstructionEvaluation(voxel_nrmse, examples, tuple(example_voxel), inside, classic)
