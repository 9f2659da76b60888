"""Choose the two-voxel recovery head's sizes on the training SM's validation split alone.

    python examples/select_bracket_head.py --out bracket-selection.json

Trains the bracket head (wo-CL, the `quick` preset's encoder and learning
rate, seed 0) for each candidate (filters, kernel size) and keeps the one
with the lowest validation MSE. The validation voxels are held out of the
training SM; the test SM is never read. docs/results.md records the run
behind the shipped defaults (`RecoveryHeadConfig.bracket_filters`,
`bracket_kernel_size`).
"""

import argparse
import json
from pathlib import Path

from mpikeras.config import FinetuneConfig
from mpikeras.experiments.reproduce import REPRODUCE_PRESETS
from mpikeras.training.finetune import finetune

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", default="simulated:openmpi-2d-19")
parser.add_argument("--filters", type=int, nargs="+", default=[8, 16, 32])
parser.add_argument("--kernel-sizes", type=int, nargs="+", default=[3, 9])
parser.add_argument("--epochs", type=int, default=REPRODUCE_PRESETS["quick"].finetune_epochs)
parser.add_argument("--runs", default="bracket-selection-runs", help="run directories")
parser.add_argument("--out", default="bracket-selection.json")
args = parser.parse_args()

quick = REPRODUCE_PRESETS["quick"]
candidates = {}
for filters in args.filters:
    for kernel_size in args.kernel_sizes:
        config = FinetuneConfig.from_dict(
            {
                "seed": 0,
                "epochs": args.epochs,
                "task": "recovery",
                "recovery_input": "bracket",
                "encoder": quick.encoder.to_dict(),
                "optimizer": {"learning_rate": quick.learning_rate},
                "data": {"source": args.data, "split": "voxel"},
                "recovery_head": {"bracket_filters": filters, "bracket_kernel_size": kernel_size},
            }
        )
        run = Path(args.runs) / f"filters-{filters}-kernel-{kernel_size}"
        losses = finetune(config, run, verbose=0).history["val_loss"]
        best = min(range(len(losses)), key=losses.__getitem__)
        candidates[f"{filters}x{kernel_size}"] = {
            "bracket_filters": filters,
            "bracket_kernel_size": kernel_size,
            "best_val_loss": losses[best],
            "best_epoch": best + 1,
        }
        print(f"filters {filters}, kernel {kernel_size}: val MSE {losses[best]:.4g}", flush=True)

chosen = min(candidates.values(), key=lambda c: c["best_val_loss"])
summary = {"data": args.data, "epochs": args.epochs, "chosen": chosen, "candidates": candidates}
Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
print(f"chosen: {chosen['bracket_filters']} filters, kernel {chosen['bracket_kernel_size']}")
