"""`python -m tuning`: the same options as `mpikeras tune`.

Example:

    python -m tuning --task recovery --max-trials 20 --out runs/tune
    python -m tuning --ablation --seeds 3 --out runs/ablation
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m tuning`; errors in the input exit with status 2."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from mpikeras.cli.tune import add_arguments, run
    from mpikeras.errors import MPIKerasError

    parser = argparse.ArgumentParser(
        prog="python -m tuning",
        description="KerasTuner search over the contrastive augmentations (objective: the "
        "task head's validation MSE after a short fine-tune), or, with --ablation, the "
        "ablation table. Same options as `mpikeras tune`.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return int(run(args) or 0)
    except MPIKerasError as exc:
        print(f"python -m tuning: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("python -m tuning: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
