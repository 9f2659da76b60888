"""Nothing imports upward: each package imports only packages of lower layers (docs/concepts.md).

Every import counts, also one inside a function (a lazy import is still a
dependency), so a module cannot reach up the stack by deferring its import.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "mpikeras"

#: Bottom up, as in docs/concepts.md ("The layers, and where new code goes").
RANK = {
    "__init__": 0,
    "errors": 0,
    "_compat": 0,
    "_system": 0,
    "config": 1,
    "io": 1,
    "simulation": 2,
    "preprocessing": 2,
    "reconstruction": 2,
    "data": 3,
    "losses": 3,
    "models": 4,
    "training": 5,
    "evaluation": 6,
    "export": 6,
    "experiments": 7,
    "cli": 8,
}


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def _layer(relative: Path) -> str:
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "tuning" not in p.relative_to(PACKAGE).parts)


def test_every_package_has_a_layer():
    assert {_layer(p.relative_to(PACKAGE)) for p in MODULES} <= set(RANK)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_climbs_up(path):
    layer = _layer(path.relative_to(PACKAGE))
    upward = []
    for line, module in _imports(path):
        parts = module.split(".")
        if parts[0] == "tuning" or parts[:2] == ["mpikeras", "tuning"]:
            upward.append(f"line {line}: {module} (tuning imports mpikeras, never the reverse)")
        elif parts[0] == "mpikeras" and len(parts) > 1:
            target = parts[1]
            if target != layer and RANK[target] >= RANK[layer]:
                upward.append(f"line {line}: {module} ({target} is not below {layer})")
    assert not upward, upward
