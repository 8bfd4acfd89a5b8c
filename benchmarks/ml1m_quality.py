"""Quality target 2: ml-1m.txt with the papers' protocol (last item = test, full ranking).

The file's licence forbids copying it into this repository: pass its path.

    python benchmarks/ml1m_quality.py ../shared/data/bench/ml-1m/ml-1m.txt [--epochs 200] [--out runs/bench-ml1m]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import REPO, animerec, eval_json, hardware, print_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ratings", type=Path, help="path to ml-1m.txt")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench-ml1m")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--train-args", default="--hidden 64 --max-len 200 --batch-size 128 --lr 1e-3 --mask-prob 0.2 --dropout 0.1")
    args = parser.parse_args()
    pre = args.out / "data"
    # ml-1m.txt is already filtered; keep every user and item, as the papers do.
    animerec("preprocess", args.ratings, "--format", "sequence", "--min-user-items", "3", "--min-item-users", "1", "--out", pre, "--force")
    run = args.out / "run"
    seconds, _ = animerec("train", "--data", pre, "--out", run, "--epochs", args.epochs, "--no-genres", "--positional", "--force", *args.train_args.split())
    test = eval_json(run, "--baselines")
    rows = [
        ("bert4rec (positional)", test["models"]["bert4rec"], f"trained {seconds / 60:.1f} min, {args.epochs} epochs"),
        ("popularity", test["models"]["popularity"], ""),
        ("EASE (lambda 500)", test["models"]["ease"], ""),
    ]
    print_table(f"ml-1m, test split, {test['users']:,} users, {test['protocol']} — {hardware()}", rows)


if __name__ == "__main__":
    main()
