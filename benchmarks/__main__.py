"""Run every benchmark and print one table of figures, ratios and targets.

    python -m benchmarks [--quick] [--with-reproduce] [--only NAME ...] [--out FILE]

Figures are medians measured in this one run on this machine; ratios compare
two implementations measured side by side, which is what survives a shared,
noisy machine. Results also go to a JSON file (default
`benchmark-results.json`).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

from benchmarks import (
    bench_kaczmarz,
    bench_memory,
    bench_pipeline,
    bench_simulator,
    bench_stream,
    bench_training,
)

#: The benchmarks `python -m benchmarks` runs, in order (`--only` picks some).
BENCHMARKS = {
    "simulator": bench_simulator,
    "kaczmarz": bench_kaczmarz,
    "pipeline": bench_pipeline,
    "training": bench_training,
    "stream": bench_stream,
}


def _rows(results: dict) -> list[tuple[str, str, str, str]]:
    """(measure, figure, target, verdict) rows."""
    rows = []

    def check(name: str, figure: str, value: float, target: float, higher: bool = True):
        ok = value >= target if higher else value <= target
        bound = f"{'>=' if higher else '<='} {target:g}"
        rows.append((name, figure, bound, "ok" if ok else "MISSED"))

    if "simulator" in results:
        sim = results["simulator"]
        check("simulator: 37 x 37 SM, seconds", f"{sim['fast_s']:.2f}", sim["fast_s"], 1.0, False)
        check(
            "simulator: 37 x 37 SM, every realism effect on, seconds",
            f"{sim['effects_s']:.2f}",
            sim["effects_s"],
            1.0,
            False,
        )
        check("simulator: speed-up vs per-voxel loop", f"{sim['speedup']:.0f}x", sim["speedup"], 20)
    if "kaczmarz" in results:
        kac = results["kaczmarz"]
        rows.append(
            (
                f"Kaczmarz: 37 x 37 SM, {kac['complex_rows']} complex rows, "
                f"{kac['iterations']} sweeps, ms",
                f"{1e3 * kac['kaczmarz_s']:.1f}",
                "",
                "",
            )
        )
        check("Kaczmarz: speed-up vs plain loop", f"{kac['speedup']:.0f}x", kac["speedup"], 10)
    if "training" in results:
        train = results["training"]
        for task, by_batch in train["ratio_best_to_torch"].items():
            for batch, by_precision in by_batch.items():
                for precision, ratio in by_precision.items():
                    name = f"{task}, batch {batch}, {precision}: best backend / plain torch"
                    check(name, f"{ratio:.2f}", ratio, 1.0)
    if "pipeline" in results:
        pipe = results["pipeline"]
        for key, what in (
            ("pairs_per_s", "augmented pairs"),
            ("combinations_per_s", "combinations"),
        ):
            figures = " / ".join(f"{pipe[key][p]:,.0f}" for p in ("tf", "python") if p in pipe[key])
            rows.append((f"pipeline: {what} per second (tf.data / PyDataset)", figures, "", ""))
    if "pipeline" in results and "training" in results:
        pipe, train = results["pipeline"], results["training"]
        best_pairs = max(pipe["pairs_per_s"].values())
        pre32 = train["results"]["pretrain"][min(train["results"]["pretrain"], key=int)]
        keras_speeds = [v for by in pre32.values() for k, v in by.items() if k != "plain-torch"]
        fastest = max(keras_speeds)
        consumed = fastest * pipe["batch_size"]
        check(
            "pipeline pairs/s over pretraining samples/s",
            f"{best_pairs / consumed:.0f}x",
            best_pairs / consumed,
            10,
        )
    if "stream" in results:
        stream = results["stream"]
        tikhonov, learned = stream["tikhonov"], stream["learned"]
        check(
            "stream 19 x 19, Tikhonov: x real time (1530 frames/s)",
            f"{tikhonov['frames_per_s']:.0f} frames/s = {tikhonov['realtime_factor']:.1f}x",
            tikhonov["realtime_factor"],
            bench_stream.TARGET_REALTIME,
        )
        check(
            "stream 19 x 19, Tikhonov, per CPU second: x real time",
            f"{tikhonov['frames_per_cpu_s']:.0f} frames/s = "
            f"{tikhonov['realtime_factor_per_cpu_s']:.1f}x",
            tikhonov["realtime_factor_per_cpu_s"],
            bench_stream.TARGET_REALTIME,
        )
        rows.append(
            (
                f"stream 19 x 19, learned ({learned['filters']} filters): x real time",
                f"{learned['frames_per_s']:.0f} frames/s = {learned['realtime_factor']:.2f}x",
                "",
                "",
            )
        )
    if "reproduce" in results:
        rep = results["reproduce"]
        check(
            "reproduce --preset quick, minutes",
            f"{rep['seconds'] / 60:.1f}",
            rep["seconds"] / 60,
            10,
            False,
        )
        check(
            "reproduce --preset quick, peak GiB",
            f"{rep['peak_rss_gib']:.2f}",
            rep["peak_rss_gib"],
            4,
            False,
        )
    return rows


def markdown_table(results: dict) -> str:
    """The rows of `_rows` as a Markdown table (docs/performance.md shows a committed run's)."""
    lines = ["| measure | figure | target | |", "|---|---|---|---|"]
    lines += [
        f"| {name} | {figure} | {target} | {verdict} |"
        for name, figure, target, verdict in _rows(results)
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, smaller encoder")
    parser.add_argument(
        "--with-reproduce",
        action="store_true",
        help="also time `mpikeras reproduce --preset quick` (minutes)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(BENCHMARKS),
        help="run only these benchmarks (default: all)",
    )
    parser.add_argument("--out", default="benchmark-results.json")
    args = parser.parse_args(argv)
    results = {
        "machine": platform.platform(),
        "cpu": bench_stream.cpu_name(),
        "python": sys.version.split()[0],
    }
    for name, module in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = module.run(quick=args.quick)
    if args.with_reproduce:
        print("running reproduce --preset quick ...", file=sys.stderr, flush=True)
        results["reproduce"] = bench_memory.run()
    rows = [("measure", "figure", "target", ""), *_rows(results)]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for i, row in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\nCPU: {results['cpu']}")
    if "training" in results:
        print()
        bench_training.print_table(results["training"])
    if "pipeline" in results:
        pipe = results["pipeline"]
        print("pipeline:", json.dumps({k: pipe[k] for k in ("pairs_per_s", "combinations_per_s")}))
    if "stream" in results:
        print()
        bench_stream.print_table(results["stream"])
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
