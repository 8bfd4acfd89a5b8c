"""Does a completed-but-unscored entry of the 2023 crawl count as liked? Measured with EASE.

    python benchmarks/crawl_liked.py [--data runs/default/data]

Same split for both variants (the build's: scored >= 7 only). Variant "+ unscored
completions" adds each crawl user's completed-but-unscored anime to that user's training
input (only anime of the split's vocabulary; validation and test untouched). EASE
(lambda training.config.EASE_LAMBDA) is fitted on each variant's training lists and ranks every validation item
(full ranking, inputs excluded). Reported for all users and for the crawl's users.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.config import EASE_LAMBDA  # noqa: E402
from training.data import load_dataset  # noqa: E402
from training.evaluate import metrics_from_ranks  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CRAWL = REPO.parent / "shared" / "data" / "anime" / "mal_crawl_2023_hatuank" / "animelist.csv"
CRAWL_USER_OFFSET = 2_000_000


def ease_ranks(x: np.ndarray, targets: np.ndarray, users: np.ndarray, lam: float = EASE_LAMBDA) -> np.ndarray:
    gram = (x.T @ x).astype(np.float64)
    gram[np.diag_indices(gram.shape[0])] += lam
    p = np.linalg.inv(gram)
    weights = (-p / np.diag(p)).astype(np.float32)
    weights[np.diag_indices(weights.shape[0])] = 0.0
    ranks = np.empty(users.size, dtype=np.int64)
    for start in range(0, users.size, 512):
        rows = users[start : start + 512]
        scores = x[rows] @ weights
        scores[x[rows] > 0] = -np.inf
        target = scores[np.arange(rows.size), targets[start : start + 512]]
        ranks[start : start + 512] = (scores > target[:, None]).sum(axis=1)
    return ranks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / "runs" / "default" / "data")
    args = parser.parse_args()
    data = load_dataset(args.data)
    user_ids = np.load(args.data / "user_ids.npy")
    offsets, items = data.splits["train"]
    x = np.zeros((data.num_users, data.num_items), dtype=np.float32)
    x[np.repeat(np.arange(data.num_users), np.diff(offsets)), items - 1] = 1.0
    val_off, val_items = data.splits["val"]
    users = np.flatnonzero(np.diff(val_off) > 0)
    targets = val_items[val_off[users]] - 1
    row_of = {int(u): r for r, u in enumerate(user_ids)}
    column_of = {int(m): c for c, m in enumerate(data.item_ids)}
    held_out = set()
    for split in ("val", "test"):
        off, its = data.splits[split]
        held_out |= {(int(u), int(i) - 1) for u, i in zip(np.repeat(np.arange(data.num_users), np.diff(off)), its)}
    extra = x.copy()
    added = 0
    with open(CRAWL, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["watching_status"] == "2" and row["score"] == "0":
                r, c = row_of.get(CRAWL_USER_OFFSET + int(row["user_id"])), column_of.get(int(row["anime_id"]))
                if r is not None and c is not None and extra[r, c] == 0 and (r, c) not in held_out:
                    extra[r, c] = 1.0
                    added += 1
    crawl = user_ids[users] >= CRAWL_USER_OFFSET
    print(f"# python {' '.join(sys.argv)}\n{added:,} unscored completions added to {int(crawl.sum())} crawl users' training input\n")
    print("| training input | users | NDCG@10 | Recall@10 | NDCG@100 |")
    print("|---|---|---|---|---|")
    for name, matrix in (("scored >= 7 (shipped)", x), ("+ unscored completions", extra)):
        ranks = ease_ranks(matrix, targets, users)
        for who, pick in (("all", np.ones_like(crawl)), ("2023 crawl", crawl)):
            m = metrics_from_ranks(ranks[pick])
            print(f"| {name} | {who} ({int(pick.sum())}) | {m['ndcg@10']:.4f} | {m['recall@10']:.4f} | {m['ndcg@100']:.4f} |")


if __name__ == "__main__":
    main()
