"""Wall time and peak resident memory of `mpikeras reproduce --preset quick`.

The command runs in a child process with a fresh output directory; its peak
resident set size is the child's `ru_maxrss`.

Run `python benchmarks/bench_memory.py` (minutes: it runs the whole protocol).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time


def run(quick: bool = False) -> dict:
    """Seconds and peak memory (GiB) of the quick reproduce run.

    Args:
        quick: unused (the quick preset is what is measured); kept for the runner.
    """
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "mpikeras.cli.main",
                "reproduce",
                "--preset",
                "quick",
                "--out",
                out,
            ],
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"reproduce failed: {done.stderr[-2000:]}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"seconds": seconds, "peak_rss_gib": peak_kib / 2**20}


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    result = run()
    seconds, gib = result["seconds"], result["peak_rss_gib"]
    print(f"reproduce --preset quick: {seconds:.0f} s, peak RSS {gib:.2f} GiB")
