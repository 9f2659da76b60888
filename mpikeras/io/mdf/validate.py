"""Validating a whole MDF v2 file against the specification: every finding, none raised.

`validate_file` applies the field tables of `spec_rules` (presence, type,
dimensions), the consistency of N, J, C, K and D across the file, what the
`/measurement` flags imply, the readers' own checks (`groups`, `grids`,
`background`: they raise on the first problem, here each becomes a finding)
and a scan of `/measurement/data` for NaN and Inf in bounded blocks. The
result is a `ValidationReport` of `Finding`s: errors (the file does not
conform) and warnings (the specification allows it, but tools read it
differently). `mpikeras validate FILE [--json]` prints it.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from mpikeras.errors import MDFError
from mpikeras.io.mdf.access import H5_ERRORS, Reader, is_calibration, open_mdf
from mpikeras.io.mdf.background import background_mask
from mpikeras.io.mdf.grids import (
    check_voxel_count,
    read_delta_sample_size,
    read_grid,
    read_ground_truth,
    read_order,
)
from mpikeras.io.mdf.groups import read_acquisition, read_metadata
from mpikeras.io.mdf.schema import CALIBRATION_FIELDS, DATA, REQUIRED_FIELDS
from mpikeras.io.mdf.spec_rules import MANDATORY_GROUPS, MISSPELLINGS, RULES, FieldRule
from mpikeras.io.mdf.spec_rules import type_problem as _type_problem
from mpikeras.io.mdf.validate_data import check_data, data_layout

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_TIMES = ("/time", "/study/time", "/acquisition/startTime")
_UUIDS = ("/uuid", "/study/uuid", "/experiment/uuid")
#: Fields read whole to check their values; larger ones are checked by shape only.
_SMALL_ELEMENTS = 1_000_000


@dataclasses.dataclass(frozen=True)
class Finding:
    """One problem with a file: an "error" (does not conform) or a "warning".

    Example:

    >>> Finding("error", "/acquisition/numFrames", "disagrees with the data", "66", "0").line()
    'error: /acquisition/numFrames: disagrees with the data; expected 66, got 0'
    """

    severity: str
    field: str
    problem: str
    expected: str = ""
    actual: str = ""

    def line(self) -> str:
        """The finding on one line: severity, field, problem, expected, actual."""
        text = f"{self.severity}: {self.field}: {self.problem}"
        if self.expected:
            text += f"; expected {self.expected}"
        if self.actual:
            text += f", got {self.actual}" if self.expected else f"; got {self.actual}"
        return text


@dataclasses.dataclass(frozen=True)
class ValidationReport:
    """What `validate_file` found in one file.

    Args:
        path: the file.
        kind: "calibration", "measurement" or "unknown" (no readable `/measurement`).
        findings: errors and warnings, in the order they were found.
    """

    path: str
    kind: str
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def conforms(self) -> bool:
        """Whether the file has no errors (warnings allowed)."""
        return not self.errors

    def format(self) -> str:
        """The report as text: a verdict line, then one line per finding."""
        verdict = "conforms to MDF v2" if self.conforms else "does not conform to MDF v2"
        head = (
            f"{self.path}: {self.kind}, {verdict} "
            f"({len(self.errors)} errors, {len(self.warnings)} warnings)"
        )
        return "\n".join([head, *(f.line() for f in self.findings)])

    def to_json(self) -> str:
        """The report as JSON: path, kind, conforms and the findings with their severity."""
        return json.dumps(
            {**dataclasses.asdict(self), "conforms": self.conforms}, indent=2, default=str
        )


class Checks:
    """The findings of one file being validated, and the helpers that add them."""

    def __init__(self, r: Reader) -> None:
        self.r = r
        self.findings: list[Finding] = []
        self._error_fields: set[str] = set()

    def add(self, severity: str, field: str, problem: str, expected: Any = "", actual: Any = ""):
        finding = Finding(severity, field, problem, _text(expected), _text(actual))
        if finding not in self.findings:
            self.findings.append(finding)
            if severity == "error":
                self._error_fields.add(field)

    def error(self, field: str, problem: str, expected: Any = "", actual: Any = "") -> None:
        self.add("error", field, problem, expected, actual)

    def warning(self, field: str, problem: str, expected: Any = "", actual: Any = "") -> None:
        self.add("warning", field, problem, expected, actual)

    def has_error(self, field: str) -> bool:
        return field in self._error_fields

    def attempt(self, fn: Callable, *args: Any, default: Any = None) -> Any:
        """`fn(*args)`, its `MDFError` a finding unless its field has one already."""
        try:
            return fn(*args)
        except MDFError as exc:
            if not self.has_error(exc.field):
                self.error(exc.field, exc.problem, exc.expected, exc.actual)
            return default

    @staticmethod
    def quiet(fn: Callable, *args: Any) -> Any:
        """`fn(*args)`, or `None` on an `MDFError` (reported where the field is checked)."""
        try:
            return fn(*args)
        except MDFError:
            return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def validate_file(path: str | os.PathLike) -> ValidationReport:
    """Check a whole MDF file against the MDF v2 specification; every problem is a finding.

    Example:

    >>> report = validate_file("calibration_19.mdf")  # doctest: +SKIP
    >>> report.conforms, [f.line() for f in report.warnings]  # doctest: +SKIP
    (True, ['warning: /measurement/isBackgroundCorrected: ...'])

    Args:
        path: the file.

    Returns:
        The `ValidationReport`; `report.conforms` is False when it has errors.

    Raises:
        MDFError: only when the file cannot be opened as HDF5 at all (missing,
            empty, not HDF5, truncated before its root group): there is nothing
            to validate.
    """
    path, f = open_mdf(path)
    with f, np.errstate(over="ignore", invalid="ignore"):
        ck = Checks(Reader(path, f))
        try:
            kind = _validate(ck)
        except MemoryError:
            ck.error(DATA, "too large to check in the memory available")
            kind = "unknown"
        except H5_ERRORS as exc:  # HDF5 failing on a damaged file outside a typed read
            ck.error("/", f"unreadable, checking stopped ({type(exc).__name__}: {exc})")
            kind = "unknown"
    return ValidationReport(path=str(path), kind=kind, findings=tuple(ck.findings))


def _validate(ck: Checks) -> str:
    r = ck.r
    version = ck.attempt(r.string, "/version")
    if version is not None and not version.startswith("2."):
        # Section 3.1: version; MDF v1 files have another layout, so nothing else applies.
        ck.error("/version", "unsupported MDF version", "2.x", repr(version))
        return "unknown"
    calibration = bool(ck.attempt(is_calibration, r, default=False))
    present = _check_groups(ck)
    flags = {
        name: ck.quiet(r.flag, f"/measurement/{name}")
        for name in ("isFramePermutation", "isFrequencySelection", "isSparsityTransformed")
    }
    dims = _dimensions(ck, flags)
    for rule in RULES:
        _check_field(ck, rule, dims, _required(rule, calibration, flags), present)
    for found, spec_name in MISSPELLINGS:  # names MPIFiles.jl and the specification do not use
        if ck.quiet(r.has, found):
            ck.warning(found, "not the specification's name; MPIFiles.jl reads only " + spec_name)
    _check_formats(ck)
    # The readers' checks of values and ranges (sections 3.2 to 3.6).
    ck.attempt(read_acquisition, r)
    ck.attempt(read_metadata, r)
    if "/measurement" in present:
        check_data(ck, dims, flags, calibration)
    if calibration:  # section 3.9: the grid and the foreground frames
        grid = ck.attempt(read_grid, r)
        ck.attempt(read_order, r)
        ck.attempt(read_delta_sample_size, r)
        if grid is not None and dims.get("O") is not None:
            ck.attempt(check_voxel_count, r, grid, dims["O"])
    if "/reconstruction" in present and dims.get("P") is not None:
        shape = ck.quiet(lambda: r.shape("/reconstruction/data", r.dataset("/reconstruction/data")))
        if shape is not None and (len(shape) != 3 or shape[1] != dims["P"]):
            # Section 3.10: data is Q x P x S with P the product of size.
            ck.error("/reconstruction/data", "wrong shape", f"Q x {dims['P']} x S", shape)
    ck.attempt(read_ground_truth, r)  # the /_groundTruth extension of mpikeras
    if "/measurement" not in present:
        return "unknown"
    return "calibration" if calibration else "measurement"


def _check_groups(ck: Checks) -> set[str]:
    """Report missing mandatory groups; the groups present (section 1.3)."""
    r = ck.r
    present = {"/"}
    for group in (*MANDATORY_GROUPS, "/tracer", "/measurement", "/calibration", "/reconstruction"):
        parent = group.rsplit("/", 1)[0] or "/"
        if parent in present and ck.attempt(r.group, group, default=False):
            present.add(group)
        elif group in MANDATORY_GROUPS and parent in present and not ck.has_error(group):
            ck.error(group, "missing group", "the group MDF v2 requires", "nothing")
    if "/tracer" not in present and not ck.has_error("/tracer"):
        ck.warning(
            "/tracer",
            "missing group: the specification allows this only when no tracer was in the "
            "scanner (a background measurement)",
            "the group (mpikeras' missing_required_fields lists its fields)",
            "nothing",
        )
    if "/measurement" not in present and "/reconstruction" not in present:
        if not ck.has_error("/measurement"):
            ck.error("/measurement", "missing group", "/measurement or /reconstruction", "nothing")
    return present


def _required(rule: FieldRule, calibration: bool, flags: dict[str, bool | None]) -> bool:
    if rule.condition:
        return bool(flags.get(rule.condition))
    return rule.field in REQUIRED_FIELDS or (calibration and rule.field in CALIBRATION_FIELDS)


def _dimensions(ck: Checks, flags: dict[str, bool | None]) -> dict[str, int]:
    """The letters of the specification, from the file (unknown ones left out)."""
    r = ck.r

    def scalar(field: str) -> int | None:
        return ck.quiet(r.number, field, "i") if ck.quiet(r.has, field) else None

    def shape(field: str) -> tuple[int, ...] | None:
        if not ck.quiet(r.has, field):
            return None
        return ck.quiet(lambda: r.shape(field, r.dataset(field)))

    dims = {
        "N": scalar("/acquisition/numFrames"),
        "J": scalar("/acquisition/numPeriodsPerFrame"),
        "C": scalar("/acquisition/receiver/numChannels"),
        "V": scalar("/acquisition/receiver/numSamplingPoints"),
        "D": scalar("/acquisition/drivefield/numChannels"),
    }
    if dims["V"] is not None and dims["V"] >= 1:
        dims["K"] = dims["V"] // 2 + 1
    selection = shape("/measurement/frequencySelection")
    if flags.get("isFrequencySelection") and selection is not None and len(selection) == 1:
        dims["K"] = selection[0]
    layout = data_layout(ck, flags, report=False)
    for letter in ("N", "J"):  # declared counts first; else the data's own (section 3.8)
        if layout is not None and letter in layout.axes and not (dims[letter] or 0) >= 1:
            dims[letter] = layout.axes[letter]
    for letter, field, axis in (
        ("F", "/acquisition/drivefield/divider", 1),
        ("A", "/tracer/name", 0),
        ("Y", "/acquisition/gradient", 1),
        ("B", "/measurement/subsamplingIndices", 3),
    ):
        found = shape(field)
        if found is not None and len(found) > axis:
            dims[letter] = found[axis]
    size = (
        ck.quiet(r.array, "/reconstruction/size") if shape("/reconstruction/size") == (3,) else None
    )
    if size is not None and size.dtype.kind in "iu":
        dims["P"] = math.prod(int(v) for v in size)
    if dims["N"] is not None:
        mask = (
            ck.quiet(background_mask, r, dims["N"])
            if shape("/measurement/isBackgroundFrame")
            else None
        )
        if mask is not None:
            dims["E"], dims["O"] = int(mask.sum()), int((~mask).sum())
    return {k: v for k, v in dims.items() if v is not None}


def _check_field(
    ck: Checks, rule: FieldRule, dims: dict[str, int], required: bool, present: set[str]
) -> None:
    """Presence, type, dimensions and (for small fields) finite values and flags of one field."""
    r, field = ck.r, rule.field
    group = field.rsplit("/", 1)[0] or "/"
    if group not in present or ck.has_error(field):
        return
    if not ck.attempt(r.has, field, default=False):
        if required:
            when = f" when {rule.condition} = 1" if rule.condition else ""
            ck.error(
                field,
                "missing dataset",
                f"the dataset MDF v2 requires{when} ({rule.section})",
                "nothing",
            )
        return
    ds = ck.attempt(r.dataset, field)
    stored = None if ds is None else ck.attempt(r.shape, field, ds)
    if stored is None:
        return
    problem = _type_problem(rule, ds.dtype)
    if problem:
        ck.error(field, "wrong type", f"{rule.type} ({rule.section})", problem.split(" where")[0])
        return
    expected = tuple(dims.get(d) if isinstance(d, str) else d for d in rule.dims)
    if rule.dims == ():
        ok = math.prod(stored) == 1 and len(stored) <= 1
    elif rule.dims == ("A",) and stored == ():
        ok = True  # one tracer stored as a scalar
    else:
        ok = len(stored) == len(expected) and all(
            e is None or e == s for e, s in zip(expected, stored, strict=True)
        )
    if not ok:
        letters = " x ".join(map(str, rule.dims)) or "a scalar"
        known = "" if None in expected or not rule.dims else f" = {expected}"
        ck.error(field, "wrong shape", f"{letters}{known} ({rule.section})", stored)
        return
    if rule.type in ("String",) or math.prod(stored) > _SMALL_ELEMENTS:
        return
    value = ck.attempt(r.read, field)
    if value is None:
        return
    if value.dtype.names:
        value = ck.attempt(r.compound_to_complex, field, value)
    if value is not None and value.dtype.kind in "fc" and not np.isfinite(value).all():
        bad = int((~np.isfinite(value)).sum())
        ck.error(field, "not finite", "finite numbers", f"{bad} NaN or Inf values")
    if value is not None and rule.type == "Int8" and not np.isin(value, (0, 1)).all():
        ck.error(field, "not a flag", "0 or 1", sorted(set(np.unique(value).tolist())))


def _check_formats(ck: Checks) -> None:
    """Times as yyyy-mm-ddThh:mm:ss.ms and UUIDs as RFC 4122 text (sections 1.1, 3.1)."""
    r = ck.r
    for field, pattern in [(f, "time") for f in _TIMES] + [(f, "uuid") for f in _UUIDS]:
        if ck.has_error(field) or not ck.quiet(r.has, field):
            continue
        text = ck.quiet(r.string, field)
        if text is None:
            continue
        if pattern == "uuid" and not _UUID.match(text):
            ck.warning(field, "not a canonical UUID", "8-4-4-4-12 hexadecimal digits", repr(text))
        elif pattern == "time" and not _is_iso_time(text):
            ck.warning(field, "not an ISO 8601 time", "yyyy-mm-ddThh:mm:ss.ms", repr(text))


def _is_iso_time(text: str) -> bool:
    try:
        datetime.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True
