"""`mpikeras info FILE [--json]`: what an MDF file holds."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="summarise an MDF file (kind, grid, FOV, frequencies, channels, drive field)",
        description="Print a readable summary of an MDF v2 system-matrix or measurement file.",
    )
    p.add_argument("file", help="the MDF (.mdf / .h5) file")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mpikeras.io.summary import format_summary, summarize

    summary = summarize(args.file)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0
