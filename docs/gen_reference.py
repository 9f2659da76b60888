"""Generate docs/cli.md (from the argument parser) and docs/configuration.md (from the dataclasses).

python docs/gen_reference.py          # rewrite both pages
python docs/gen_reference.py --check  # exit 1 if a page is out of date (CI runs this as a test)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import typing
from pathlib import Path

os.environ["COLUMNS"] = "100"  # argparse wraps help text to the terminal width

from mpikeras import config as cfg
from mpikeras.cli.main import build_parser

HERE = Path(__file__).parent


def cli_reference() -> str:
    parser = build_parser()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    lines = [
        "# Command-line reference",
        "",
        "Generated from the argument parser by `python docs/gen_reference.py`; every",
        "command also answers `--help`. Errors caused by input print one line and exit",
        "with status 2.",
        "",
        "```text",
        parser.format_help().rstrip(),
        "```",
        "",
    ]
    for name, command in sub.choices.items():
        lines += [f"## mpikeras {name}", "", "```text", command.format_help().rstrip(), "```", ""]
    return "\n".join(lines)


def _type_name(hint) -> str:
    name = getattr(hint, "__name__", None) or str(hint)
    return str(hint).replace("typing.", "") if "[" in str(hint) else name


def _descriptions(cls) -> dict[str, str]:
    """`name: text` entries of the Args section of a class docstring (and its bases)."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        doc = klass.__doc__ or ""
        if "Args:" not in doc:
            continue
        current = None
        for line in doc.split("Args:", 1)[1].splitlines():
            match = re.match(r"^\s{8}(\w+): (.*)$", line)
            if match:
                current = match.group(1)
                out[current] = match.group(2).strip()
            elif current and line.startswith(" " * 12):
                out[current] += " " + line.strip()
            elif line.strip() == "" and current:
                current = None
    return out


def _table(cls, prefix: str = "") -> list[str]:
    hints = typing.get_type_hints(cls)
    text = _descriptions(cls)
    default = cls()
    rows = []
    nested = []
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        value = getattr(default, field.name)
        if dataclasses.is_dataclass(value):
            nested.append((f"{prefix}{field.name}", type(value)))
            continue
        shown = json.dumps(value.to_dict() if hasattr(value, "to_dict") else value)
        meaning = text.get(field.name, "").replace("|", "\\|")
        rows.append(f"| `{prefix}{field.name}` | `{_type_name(hint)}` | `{shown}` | {meaning} |")
    out = ["| key | type | default | meaning |", "|---|---|---|---|", *rows, ""]
    for name, sub in nested:
        doc = " ".join((sub.__doc__ or "").strip().split("\n\n")[0].split())
        out += [f"### `{name}`", "", doc, "", *_table(sub, f"{name}.")]
    return out


def configuration_reference() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Generated from the dataclasses in `mpikeras/config.py` by",
        "`python docs/gen_reference.py`. A configuration file is JSON or TOML with any",
        "subset of these keys (nested tables for the nested groups); `--config FILE` reads",
        "it and command-line options override it. Unknown keys, wrong types and impossible",
        "ranges are refused before training with a message naming the key.",
        "",
        "Example (`pretrain.toml`):",
        "",
        "```toml",
        "epochs = 200",
        "batch_size = 64",
        "",
        "[augmentation]",
        "noise_ratio_db = [-30.0, -15.0]",
        "gain_probability = 0.3",
        "",
        "[data]",
        'source = "calibrations/2.mdf"',
        "```",
        "",
    ]
    for cls in (cfg.PretrainConfig, cfg.FinetuneConfig):
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        lines += [f"## {cls.__name__}", "", doc, "", *_table(cls)]
    return "\n".join(lines)


PAGES = {"cli.md": cli_reference, "configuration.md": configuration_reference}


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = []
    for name, build in PAGES.items():
        text = build() + "\n"
        path = HERE / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python docs/gen_reference.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
