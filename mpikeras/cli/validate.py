"""`mpikeras validate FILE [--json]`: check a whole MDF file against the MDF v2 specification."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="check an MDF file against the MDF v2 specification (exit 1 on errors)",
        description="Check every group and field of an MDF v2 file: required and conditional "
        "fields, types, dimensions (N, J, C, K, D), flags and what they imply, complex storage, "
        "NaN and Inf in the data. Prints one line per finding; exit status 0 when the file "
        "conforms (warnings allowed), 1 when it has errors, 2 when it is no HDF5 file.",
    )
    p.add_argument("file", help="the MDF (.mdf / .h5) file")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mpikeras.io import validate_file

    report = validate_file(args.file)
    print(report.to_json() if args.json else report.format())
    return 0 if report.conforms else 1
