"""Full-ranking evaluation time on the anime data and on ml-1m, on the chosen device.

Preprocesses both (into a temporary folder), builds the model ``animerec train`` would build
for each with its defaults (``training.config.resolve_config``: the anime data gets the
genre input and the items readout, ml-1m the positional embedding and the mask readout;
random weights, as the time does not depend on them), and times `evaluate` on the test split.

    python benchmarks/eval_time.py [--anime ../shared/data/anime] [--ml1m ../shared/data/bench/ml-1m/ml-1m.txt] [--device cuda]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _common import REPO, hardware

from animerec_tui.catalog import load_catalog
from training.config import SHIPPED, resolve_config
from training.data import load_dataset
from training.evaluate import evaluate
from training.model import BERT4Rec
from training.preprocess import PreprocessParams, preprocess
from training.scoring import model_scorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anime", type=Path, default=REPO.parent / "shared" / "data" / "anime")
    parser.add_argument("--ml1m", type=Path, default=REPO.parent / "shared" / "data" / "bench" / "ml-1m" / "ml-1m.txt")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    caserec = args.anime / "caserec_cooperunion_5k"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [
            ("anime (caserec, 5-core)", dict(ratings=caserec / "anime_ratings.dat", item_map=caserec / "DERIVED_caserec_item_to_mal_id.csv",
                                              params=SHIPPED.preprocess), {}),
            ("ml-1m", dict(ratings=args.ml1m, params=PreprocessParams(min_user_items=3, min_item_users=1)), dict(max_len=200, heads=2)),
        ]
        for name, pre, arch in jobs:
            folder = Path(tmp) / name.split()[0]
            preprocess(out=folder, **pre)
            data = load_dataset(folder)
            run = resolve_config(data, load_catalog, **arch)
            genres = None if run.item_genres is None else torch.from_numpy(run.item_genres)
            model = BERT4Rec(run.model, genres).to(args.device)
            scorer = model_scorer(model, data.ordered, args.device)
            evaluate(scorer, data, "test")  # warm-up
            started = time.perf_counter()
            result = evaluate(scorer, data, "test")
            rows.append((name, run.model.readout, result["users"], data.num_items, time.perf_counter() - started))
    print(f"\n### Full-ranking evaluation time — {hardware()}, device {args.device}\n")
    print(f"{torch.get_num_threads()} torch threads\n")
    print("| data | readout | users | items | seconds |")
    print("|---|---|---|---|---|")
    for name, readout, users, items, seconds in rows:
        print(f"| {name} | {readout} | {users:,} | {items:,} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
