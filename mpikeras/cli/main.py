"""The `mpikeras` command line: parses options and calls library functions.

Each verb lives in its own module (`mpikeras/cli/<verb>.py`) with
`add_parser(subparsers)` and `run(args) -> int`; nothing in the library
imports this package. More verbs come from the `mpikeras.commands` entry
point group: each entry names an `add_parser(subparsers)` function (the
tuning package registers `tune` so). Errors caused by input print one line
naming the problem and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import re
import sys

from mpikeras import __version__
from mpikeras.cli._quiet import quiet_tensorflow
from mpikeras.errors import MPIKerasError

#: The package's own verbs, in the order `--help` lists them (entry-point verbs follow).
COMMANDS = (
    "info",
    "validate",
    "simulate",
    "pretrain",
    "train",
    "reconstruct",
    "evaluate",
    "reproduce",
    "study",
    "export",
)
#: Entry point group of the verbs other installed packages add.
COMMAND_ENTRY_POINTS = "mpikeras.commands"


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used to generate docs/cli.md)."""
    parser = argparse.ArgumentParser(
        prog="mpikeras",
        description="Contrastive learning for Magnetic Particle Imaging (Schrank & Schulz), "
        "with an OpenMPIData-like simulator and MDF v2 files.",
    )
    parser.add_argument("--version", action="version", version=f"mpikeras {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"mpikeras.cli.{name}")
        module.add_parser(sub)
    entry_points = importlib.metadata.entry_points(group=COMMAND_ENTRY_POINTS)
    for entry_point in sorted(entry_points, key=lambda e: e.name):
        entry_point.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mpikeras` executable."""
    quiet_tensorflow()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except MPIKerasError as exc:
        return _fail(args.command, str(exc))
    except OSError as exc:
        # A path given on the command line cannot be read or written: a missing
        # folder, a file where a folder is needed, no permission, a full disk.
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(args.command, f"{where}{exc.strerror or exc}")
    except MemoryError:
        return _fail(args.command, "not enough memory for the requested sizes")
    except KeyboardInterrupt:
        print(f"mpikeras {args.command}: interrupted", file=sys.stderr)
        return 130


def _fail(command: str, message: str) -> int:
    """Print `message` as one line on stderr and return the exit status of bad input, 2."""
    one_line = re.sub(r"\s*\n\s*", " ", message.strip())
    print(f"mpikeras {command}: error: {one_line}", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
