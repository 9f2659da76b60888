"""A readable summary of an MDF file: what `mpikeras info FILE` prints.

`summarize` reads the metadata and the shape of `/measurement/data` (never
the data itself, so it is quick on a large 3D system matrix) and returns a
JSON-serialisable dict in SI units (names carry the unit: `_m`, `_hz`,
`_tesla`). `format_summary` turns that dict into text in the units MPI
people quote: mm, kHz, mT.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from mpikeras.io.mdf.access import is_calibration, open_reader
from mpikeras.io.mdf.background import acquisition_order, count_blocks
from mpikeras.io.mdf.grids import (
    check_voxel_count,
    read_delta_sample_size,
    read_grid,
    read_ground_truth_grid,
    read_order,
)
from mpikeras.io.mdf.groups import read_metadata
from mpikeras.io.mdf.layout import read_header

_AXES = "xyz"


def _grid_dict(size, fov_m, center_m) -> dict[str, Any]:
    size = [int(n) for n in size]
    fov_m = [float(v) for v in fov_m]
    return {
        "size": size,
        "num_voxels": math.prod(size),
        "fov_m": fov_m,
        "voxel_size_m": [f / n for f, n in zip(fov_m, size, strict=True)],
        "center_m": [float(v) for v in center_m],
    }


def summarize(path: str | os.PathLike) -> dict[str, Any]:
    """Summarise an MDF v2 file without reading its measurement data.

    Example:

    >>> info = summarize("calibration_19.mdf")  # doctest: +SKIP
    >>> info["kind"], info["grid"]["size"], info["num_frequencies"]  # doctest: +SKIP
    ('calibration', [19, 19, 19], 817)

    Args:
        path: the MDF file.

    Returns:
        A JSON-serialisable dict with `path`, `kind` ("calibration" or
        "measurement"), `version`, `uuid`, `time`, `method` (calibrations),
        `grid` (`size` x, y, z; `num_voxels`; `fov_m`; `voxel_size_m`;
        `center_m`; `None` for measurements), `order`, `delta_sample_size_m`,
        `data` (h5py `shape`, `dtype`, `domain` "frequency" or "time",
        `fast_frame_axis`, `complex_layout`, `background_corrected`),
        `num_frames`, `num_foreground_frames`, `num_background_frames`,
        `background_blocks` (runs of background frames in acquisition order),
        `num_periods_per_frame`, `num_averages`, `num_receive_channels`,
        `unit`, `num_sampling_points`, `num_frequencies`, `bandwidth_hz`,
        `sampling_rate_hz`, `period_s`, `frequency_resolution_hz`,
        `frequency_range_hz` [first, last bin], `drive_field`
        (`num_channels`, `base_frequency_hz`, `dividers`, `frequencies_hz`,
        `strengths_tesla`, `phases_rad`, `waveform`, `active_channels`),
        `gradient_tesla_per_m` (3 x 3), `has_transfer_function`, `has_snr`,
        `experiment`, `scanner`, `tracer`, and `ground_truth_grid` (the
        `/_groundTruth` grid of a simulated measurement, else `None`).

    Raises:
        MDFError: naming the file and field if the file is not a readable,
            consistent MDF v2 file.
    """
    with open_reader(path) as r:
        calibration = is_calibration(r)
        acq, layout, bg_mask = read_header(r)
        meta = read_metadata(r)
        grid = order = delta = None
        if calibration:
            g = read_grid(r)
            check_voxel_count(r, g, int((~bg_mask).sum()))
            grid = _grid_dict(g.size, g.fov_m, g.center_m)
            order = read_order(r)
            delta = read_delta_sample_size(r)
            delta = None if delta is None else list(delta)
        truth_grid = None
        truth = read_ground_truth_grid(r)
        if truth is not None:
            truth_grid = _grid_dict(truth.size, truth.fov_m, truth.center_m)
        freqs = acq.frequencies_hz
        df = acq.drivefield
        num_bg = int(bg_mask.sum())
        blocks = _background_blocks(r, bg_mask, layout.num_frames) if num_bg else 0
        return {
            "path": os.fspath(r.path),
            "kind": "calibration" if calibration else "measurement",
            "version": r.string("/version"),
            "uuid": r.string("/uuid", default=""),
            "time": r.string("/time", default=""),
            "method": r.string("/calibration/method") if calibration else None,
            "grid": grid,
            "order": order,
            "delta_sample_size_m": delta,
            "data": {
                "shape": list(layout.shape),
                "dtype": layout.dtype,
                "domain": "frequency" if layout.fourier else "time",
                "fast_frame_axis": layout.fast_frame_axis,
                "complex_layout": layout.complex_layout,
                "background_corrected": r.flag("/measurement/isBackgroundCorrected", default=False),
            },
            "num_frames": layout.num_frames,
            "num_foreground_frames": layout.num_frames - num_bg,
            "num_background_frames": num_bg,
            "background_blocks": blocks,
            "num_periods_per_frame": layout.num_periods,
            "num_averages": acq.num_averages,
            "num_receive_channels": acq.num_receive_channels,
            "unit": acq.unit,
            "num_sampling_points": acq.num_sampling_points,
            "num_frequencies": acq.num_frequencies,
            "bandwidth_hz": acq.bandwidth_hz,
            "sampling_rate_hz": acq.sampling_rate_hz,
            "period_s": acq.period_s,
            "frequency_resolution_hz": float(freqs[1] - freqs[0]),
            "frequency_range_hz": [float(freqs[0]), float(freqs[-1])],
            "drive_field": {
                "num_channels": df.num_channels,
                "base_frequency_hz": df.base_frequency_hz,
                "dividers": list(df.dividers),
                "frequencies_hz": [float(v) for v in df.frequencies_hz],
                "strengths_tesla": list(df.strength_tesla),
                "phases_rad": list(df.phase_rad),
                "waveform": df.waveform,
                "active_channels": list(df.active_channels),
            },
            "gradient_tesla_per_m": acq.gradient.tolist(),
            "has_transfer_function": acq.transfer_function is not None,
            "has_snr": r.has("/calibration/snr"),
            "experiment": {
                "name": meta.experiment_name,
                "description": meta.experiment_description,
                "subject": meta.experiment_subject,
                "is_simulation": meta.is_simulation,
            },
            "scanner": {
                "name": meta.scanner_name,
                "manufacturer": meta.scanner_manufacturer,
                "facility": meta.scanner_facility,
                "topology": meta.scanner_topology,
            },
            "tracer": {
                "name": meta.tracer_name,
                "vendor": meta.tracer_vendor,
                "batch": meta.tracer_batch,
                "solute": meta.tracer_solute,
                "concentration_mol_per_l": meta.tracer_concentration_mol_per_l,
                "volume_l": meta.tracer_volume_l,
            },
            "ground_truth_grid": truth_grid,
        }


def _num(value: float, digits: int = 6) -> str:
    """A number with up to `digits` significant digits and no trailing zeros."""
    text = f"{float(value):.{digits}g}"
    return "0" if text == "-0" else text


def _mm(values) -> str:
    return " x ".join(_num(v * 1e3) for v in values) + " mm"


def _grid_lines(label: str, grid: dict[str, Any], order: str | None) -> list[tuple[str, str]]:
    voxels = f"{' x '.join(str(n) for n in grid['size'])} voxels ({grid['num_voxels']})"
    if order:
        voxels += f", order {order!r} ({order[0]} fastest)"
    centre = ", ".join(_num(v * 1e3) for v in grid["center_m"])
    return [
        (label, voxels),
        ("field of view", f"{_mm(grid['fov_m'])}, centre ({centre}) mm"),
        ("voxel size", _mm(grid["voxel_size_m"])),
    ]


def _gradient_text(gradient: list[list[float]]) -> str:
    g = np.asarray(gradient, dtype=np.float64)
    if np.count_nonzero(g - np.diag(np.diag(g))) == 0:
        return "diag(" + ", ".join(_num(v) for v in np.diag(g)) + ") T/m"
    rows = "; ".join(", ".join(_num(v) for v in row) for row in g)
    return f"[{rows}] T/m"


def format_summary(summary: dict[str, Any]) -> str:
    """Text for humans from a `summarize` dict (mm, kHz, mT).

    Example:

    >>> print(format_summary(summarize("calibration_19.mdf")))  # doctest: +SKIP
    calibration_19.mdf
      kind              calibration (system matrix, method 'robot'), MDF 2.0.0
      grid              19 x 19 x 19 voxels (6859), order 'xyz' (x fastest)
      ...

    Args:
        summary: the dict `summarize` returns (also after a JSON round trip).

    Returns:
        Aligned `label  value` lines, one fact per line, without a trailing
        newline.
    """
    s = summary
    lines: list[tuple[str, str]] = []

    def add(label: str, text: str) -> None:
        lines.append((label, text))

    if s["kind"] == "calibration":
        kind = f"calibration (system matrix, method {s.get('method')!r})"
    else:
        kind = "measurement"
    add("kind", f"{kind}, MDF {s['version']}")
    exp = s.get("experiment") or {}
    if exp.get("name") or exp.get("subject"):
        what = exp.get("name") or exp.get("subject")
        add("experiment", what + (" (simulation)" if exp.get("is_simulation") else ""))
    scanner = s.get("scanner") or {}
    if scanner.get("name"):
        names = (scanner.get("name"), scanner.get("manufacturer"))
        add("scanner", ", ".join(v for v in names if v))
    if s.get("time"):
        add("time", s["time"])
    if s.get("grid"):
        lines += _grid_lines("grid", s["grid"], s.get("order"))
    if s.get("delta_sample_size_m"):
        add("delta sample", _mm(s["delta_sample_size_m"]))
    periods = s["num_periods_per_frame"]
    add(
        "frames",
        f"{s['num_frames']}: {s['num_foreground_frames']} foreground + "
        f"{s['num_background_frames']} background{_blocks_text(s)}; "
        f"{periods} period{'s' * (periods != 1)} "
        f"per frame, {s['num_averages']} average{'s' * (s['num_averages'] != 1)}",
    )
    data = s["data"]
    flags = [f"{data['domain']} domain"]
    if data["fast_frame_axis"]:
        flags.append("fast frame axis")
    flags.append(data["complex_layout"])
    flags.append(
        "background-corrected" if data["background_corrected"] else "not background-corrected"
    )
    shape = " x ".join(str(n) for n in data["shape"])
    add("data", f"{shape} {data['dtype']}; " + ", ".join(flags))
    channels = s["num_receive_channels"]
    add("receiver", f"{channels} channel{'s' * (channels != 1)}, unit {s['unit']}")
    add(
        "sampling",
        f"{s['num_sampling_points']} points per period ({_num(s['period_s'] * 1e6)} us), "
        f"bandwidth {_num(s['bandwidth_hz'] / 1e3)} kHz",
    )
    low, high = s["frequency_range_hz"]
    add(
        "frequencies",
        f"{s['num_frequencies']} bins, {_num(low / 1e3)} to {_num(high / 1e3)} kHz, "
        f"step {_num(s['frequency_resolution_hz'] / 1e3)} kHz",
    )
    df = s["drive_field"]
    add(
        "drive field",
        f"{df['num_channels']} channels, base frequency "
        f"{_num(df['base_frequency_hz'] / 1e3)} kHz, {df['waveform']}",
    )
    for d in range(df["num_channels"]):
        name = f"  channel {_AXES[d] if d < 3 else d + 1}"
        add(
            name,
            f"{_num(df['frequencies_hz'][d] / 1e3)} kHz (divider {df['dividers'][d]}), "
            f"{_num(df['strengths_tesla'][d] * 1e3)} mT, "
            f"phase {_num(df['phases_rad'][d], 4)} rad "
            f"({_num(math.degrees(df['phases_rad'][d]), 4)} deg)",
        )
    add("gradient", _gradient_text(s["gradient_tesla_per_m"]))
    tracer = s.get("tracer") or {}
    if tracer.get("name"):
        text = tracer["name"]
        if tracer.get("vendor"):
            text += f", vendor {tracer['vendor']}"
        if tracer.get("batch"):
            text += f", batch {tracer['batch']}"
        conc = tracer.get("concentration_mol_per_l")
        if conc:
            text += f", {_num(conc * 1e3)} mmol/L {tracer.get('solute') or ''}".rstrip()
        add("tracer", text)
    stored = (("transfer function", "has_transfer_function"), ("SNR", "has_snr"))
    extras = [name for name, key in stored if s.get(key)]
    if extras:
        add("also stored", ", ".join(extras))
    if s.get("ground_truth_grid"):
        truth = _grid_lines("ground truth", s["ground_truth_grid"], None)
        lines += [(("  " + label) if i else label, text) for i, (label, text) in enumerate(truth)]
    width = max(len(label) for label, _ in lines) + 2
    body = [f"  {label.ljust(width)}{text}" for label, text in lines]
    return "\n".join([s["path"], *body])


def _background_blocks(r, bg_mask: np.ndarray, num_frames: int) -> int:
    """Blocks of consecutive background frames in acquisition order (`framePermutation`)."""
    if not r.flag("/measurement/isFramePermutation", default=False):
        return count_blocks(bg_mask)
    acquired = np.zeros(num_frames, dtype=bool)
    acquired[acquisition_order(r, num_frames)] = bg_mask
    return count_blocks(acquired)


def _blocks_text(s: dict[str, Any]) -> str:
    blocks = s["background_blocks"]
    return f" interleaved in {blocks} blocks" if blocks > 1 else ""
