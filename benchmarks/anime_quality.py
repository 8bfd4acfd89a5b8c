"""Quality target 1: the transformer against popularity and EASE on the real MAL data.

caserec anime_ratings.dat with MAL ids, preprocessed and trained by the shipped recipe
(``training.config.SHIPPED``: rating >= 7, 5-core, random hold-out, seed 0; 25 epochs), full
ranking on the test split. Trains with genres on and off and prints one table.

    python benchmarks/anime_quality.py [--data ../shared/data/anime] [--epochs N] [--out runs/bench-anime]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import REPO, animerec, eval_json, hardware, print_table

from training.config import EASE_LAMBDA, SHIPPED


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "anime")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench-anime")
    parser.add_argument("--epochs", type=int, default=SHIPPED.train["epochs"])
    parser.add_argument("--train-args", default="", help="extra options for animerec train, e.g. '--hidden 256'")
    args = parser.parse_args()
    folder = args.data / "caserec_cooperunion_5k"
    pre = args.out / "data"
    recipe = SHIPPED.preprocess
    kcore = ["--min-rating", recipe.min_rating, "--min-user-items", recipe.min_user_items, "--min-item-users", recipe.min_item_users]
    animerec("preprocess", folder / "anime_ratings.dat", "--item-map", folder / "DERIVED_caserec_item_to_mal_id.csv",
             *kcore, "--out", pre, "--force")
    rows, baselines = [], None
    for genres in ("--genres", "--no-genres"):
        run = args.out / ("run-genres" if genres == "--genres" else "run-no-genres")
        seconds, _ = animerec("train", "--data", pre, "--out", run, "--epochs", args.epochs, genres, "--force", *args.train_args.split())
        test = eval_json(run, "--baselines")
        val = eval_json(run, "--split", "val")
        baselines = test["models"]
        rows.append((f"bert4rec {genres.strip('-')}", test["models"]["bert4rec"], f"val NDCG@10 {val['models']['bert4rec']['ndcg@10']:.4f}; trained {seconds / 60:.1f} min"))
    rows += [("popularity", baselines["popularity"], ""), (f"EASE (lambda {EASE_LAMBDA:g})", baselines["ease"], "")]
    print_table(f"anime, test split, {test['users']:,} users, {test['protocol']} — {hardware()}", rows)
    sampled = eval_json(args.out / "run-genres", "--negatives", "100")
    print_table(f"anime, genres on, {sampled['protocol']} (NOT comparable with full ranking)", [("bert4rec genres", sampled["models"]["bert4rec"], "")])


if __name__ == "__main__":
    main()
