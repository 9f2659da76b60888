"""`python -m mpikeras.tuning`: the same options as `mpikeras tune`.

Example:

    python -m mpikeras.tuning --task recovery --max-trials 20 --out runs/tune
    python -m mpikeras.tuning --ablation --seeds 3 --out runs/ablation
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m mpikeras.tuning`; errors in the input exit with status 2."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from mpikeras.errors import MPIKerasError

    from .cli import add_arguments, run

    prog = f"python -m {__package__}"
    parser = argparse.ArgumentParser(
        prog=prog,
        description="KerasTuner search over the contrastive augmentations (objective: the "
        "task head's validation MSE after a short fine-tune), or, with --ablation, the "
        "ablation table. Same options as `mpikeras tune`.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return int(run(args) or 0)
    except MPIKerasError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
