"""Search the augmentation ranges for the best downstream recovery, then pretrain with them.

    python examples/tune_augmentations.py --max-trials 20 --out runs/tune

Each trial pretrains with its augmentations and scores a short recovery
fine-tune on the validation voxels (lower is better); the contrastive loss
itself would always favour the weakest augmentation.
"""

import argparse

from mpikeras.config import EncoderConfig, PretrainConfig
from mpikeras.tuning.search import run_search

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--max-trials", type=int, default=10)
parser.add_argument("--pretrain-epochs", type=int, default=10)
parser.add_argument("--finetune-epochs", type=int, default=10)
parser.add_argument("--filters", type=int, default=64, help="encoder width during the search")
parser.add_argument("--out", default="runs/tune")
args = parser.parse_args()

base = PretrainConfig(encoder=EncoderConfig(filters=args.filters))
result = run_search(
    args.out,
    task="recovery",
    max_trials=args.max_trials,
    tuner="bayesian" if args.max_trials > 5 else "random",
    base=base,
    pretrain_epochs=args.pretrain_epochs,
    finetune_epochs=args.finetune_epochs,
)
best = result.best_config
print(f"best augmentations: {best.augmentation}")
print(
    f"ranking in {result.paths['markdown']}; pretrain with them: "
    f"mpikeras pretrain --config {result.paths['best_config']} --out runs/pretrain-tuned"
)
