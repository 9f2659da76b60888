"""The MDF v2 field tables as data: type, dimensions and when each field is required.

One `FieldRule` per row of the tables of the specification (`MDF.tex` in
MagneticParticleImaging/MDF, version 2.1.0), with the section it comes from.
Which fields are mandatory comes from `schema` (`REQUIRED_FIELDS`, and
`CALIBRATION_FIELDS` for a system matrix); conditional fields name the flag
that makes them required. `mpikeras.io.mdf.validate` applies the rules.

Dimensions are letters as the specification writes them (N frames, J periods,
C receive channels, K frequencies, V samples, D drive-field channels, F
frequencies per channel, A tracers, Y gradient patches, O foreground frames,
B subsampled frames, P reconstructed voxels) or integers; `()` is a scalar
(`Dim` 1).
"""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np

#: Groups the specification makes mandatory (section 1.3, "Optional Parameters").
MANDATORY_GROUPS = (
    "/study",
    "/experiment",
    "/scanner",
    "/acquisition",
    "/acquisition/drivefield",
    "/acquisition/receiver",
)
#: Names of the sparsity transformations the specification standardises (section 3.8).
SPARSITY_TRANSFORMATIONS = ("DCT-I", "DCT-II", "DCT-III", "DCT-IV")
#: Spellings the specification does not use but that files carry: (found, the spec's name).
MISSPELLINGS = (
    ("/calibration/offsetField", "/calibration/offsetFields"),
    ("/acquisition/offsetFields", "/acquisition/offsetField"),
    ("/measurement/isTransposed", "/measurement/isFastFrameAxis"),
)


@dataclasses.dataclass(frozen=True)
class FieldRule:
    """One row of an MDF v2 table.

    Args:
        field: the HDF5 path.
        type: the specification's type: "String", "Int64", "Int8", "Float64",
            "Complex128", "Number" (any number or complex) or "Integer".
        dims: the specification's dimensions, slowest first; `()` for a scalar.
        condition: the `/measurement` flag that makes the field required, or "".
        section: where the specification defines it.

    Example:

    >>> FieldRule("/calibration/snr", "Float64", ("J", "C", "K"), section="3.9").dims
    ('J', 'C', 'K')
    """

    field: str
    type: str
    dims: tuple[str | int, ...] = ()
    condition: str = ""
    section: str = ""


def _rules(section: str, group: str, rows: tuple) -> tuple[FieldRule, ...]:
    return tuple(FieldRule(f"{group}/{row[0]}", *row[1:], section=section) for row in rows)


_A, _JDF = ("A",), ("J", "D", "F")
RULES: tuple[FieldRule, ...] = (
    *_rules("3.1 root", "", (("time", "String"), ("uuid", "String"), ("version", "String"))),
    *_rules("3.2 study", "/study", (
        ("description", "String"), ("name", "String"), ("number", "Int64"),
        ("time", "String"), ("uuid", "String"))),
    *_rules("3.3 experiment", "/experiment", (
        ("description", "String"), ("isSimulation", "Int8"), ("name", "String"),
        ("number", "Int64"), ("subject", "String"), ("uuid", "String"))),
    *_rules("3.4 tracer", "/tracer", (
        ("batch", "String", _A), ("concentration", "Float64", _A),
        ("injectionTime", "String", _A), ("name", "String", _A), ("solute", "String", _A),
        ("vendor", "String", _A), ("volume", "Float64", _A))),
    *_rules("3.5 scanner", "/scanner", (
        ("boreSize", "Float64"), ("facility", "String"), ("manufacturer", "String"),
        ("name", "String"), ("operator", "String"), ("topology", "String"))),
    *_rules("3.6 acquisition", "/acquisition", (
        ("gradient", "Float64", ("J", "Y", 3, 3)), ("numAverages", "Int64"),
        ("numFrames", "Int64"), ("numPeriodsPerFrame", "Int64"),
        ("offsetField", "Float64", ("J", "Y", 3)), ("startTime", "String"))),
    *_rules("3.6.1 drive field", "/acquisition/drivefield", (
        ("baseFrequency", "Float64"), ("cycle", "Float64"), ("divider", "Int64", ("D", "F")),
        ("numChannels", "Int64"), ("phase", "Float64", _JDF), ("strength", "Float64", _JDF),
        ("waveform", "String", ("D", "F")))),
    *_rules("3.6.2 receiver", "/acquisition/receiver", (
        ("bandwidth", "Float64"), ("dataConversionFactor", "Float64", ("C", 2)),
        ("inductionFactor", "Float64", ("C",)), ("numChannels", "Int64"),
        ("numSamplingPoints", "Int64"), ("transferFunction", "Complex128", ("C", "K")),
        ("unit", "String"))),
    *_rules("3.8 measurement", "/measurement", (
        ("framePermutation", "Int64", ("N",), "isFramePermutation"),
        ("frequencySelection", "Int64", ("K",), "isFrequencySelection"),
        ("isBackgroundCorrected", "Int8"), ("isBackgroundFrame", "Int8", ("N",)),
        ("isFastFrameAxis", "Int8"), ("isFourierTransformed", "Int8"),
        ("isFramePermutation", "Int8"), ("isFrequencySelection", "Int8"),
        ("isSparsityTransformed", "Int8"), ("isSpectralLeakageCorrected", "Int8"),
        ("isTransferFunctionCorrected", "Int8"),
        ("sparsityTransformation", "String", (), "isSparsityTransformed"),
        ("subsamplingIndices", "Integer", ("J", "C", "K", "B"), "isSparsityTransformed"))),
    *_rules("3.9 calibration", "/calibration", (
        ("deltaSampleSize", "Float64", (3,)), ("fieldOfView", "Float64", (3,)),
        ("fieldOfViewCenter", "Float64", (3,)), ("method", "String"),
        ("offsetFields", "Float64", ("O", 3)), ("order", "String"),
        ("positions", "Float64", ("O", 3)), ("size", "Int64", (3,)),
        ("snr", "Float64", ("J", "C", "K")))),
    *_rules("3.10 reconstruction", "/reconstruction", (
        ("data", "Number", ("Q", "P", "S")), ("fieldOfView", "Float64", (3,)),
        ("fieldOfViewCenter", "Float64", (3,)), ("isOverscanRegion", "Int8", ("P",)),
        ("order", "String"), ("positions", "Float64", ("P", 3)), ("size", "Int64", (3,)))),
)  # fmt: skip


def type_problem(rule: FieldRule, dtype: np.dtype) -> str | None:
    """Why a dataset of `dtype` does not hold the rule's type, or `None` when it does.

    Widths are not checked (Float32 for Float64, Int32 for Int64, complex64 for
    Complex128): MPIFiles.jl and mpikeras convert them on reading.

    Example:

    >>> type_problem(FieldRule("/acquisition/numFrames", "Int64"), np.dtype("f8"))
    'Float64 where the specification asks for Int64'
    """
    if rule.type == "String":
        return None if h5py.check_string_dtype(dtype) is not None else f"{_name(dtype)} not String"
    kind = "c" if dtype.names and {"r", "i"} <= set(dtype.names) else dtype.kind
    allowed = {
        "Int64": "iu",
        "Int8": "iub",
        "Integer": "iu",
        "Float64": "iuf",
        "Complex128": "c",
        "Number": "iufc",
    }[rule.type]
    if kind in allowed:
        return None
    return f"{_name(dtype)} where the specification asks for {rule.type}"


def _name(dtype: np.dtype) -> str:
    """A dtype in the specification's words ("Float64", "String", "compound {a, b}")."""
    if h5py.check_string_dtype(dtype) is not None:
        return "String"
    if dtype.names:
        return "compound {" + ", ".join(dtype.names) + "}"
    if dtype.kind == "O":
        return "an object dtype (references or variable-length data)"
    return {"f": "Float", "i": "Int", "u": "UInt", "c": "Complex", "b": "Bool"}.get(
        dtype.kind, str(dtype)
    ) + str(dtype.itemsize * 8)
