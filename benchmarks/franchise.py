"""Franchise-aware results (issue 16): how much of a top-10 a favourite's franchise takes, and the cost.

    python benchmarks/franchise.py [--data runs/fields/data] [--model runs/fields/run]

Test split, full ranking over the split's anime, the user's inputs excluded. Three ways of
building the list: as the model ranks (before), one entry per franchise (the best-scored:
the default now), and one per franchise with "hide sequels" (no entry of a favourite's
franchise, no entry of any franchise but its first, no anime flagged a sequel). A held-out
anime that a list leaves out counts as a miss. Franchises are the catalogue's (titles; see
training/franchise.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.catalog import read_catalog  # noqa: E402
from training.checkpoint import load_model  # noqa: E402
from training.data import load_dataset  # noqa: E402
from training.evaluate import metrics_from_ranks, split_inputs  # noqa: E402
from training.scoring import model_scorer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEPTH = 400  # candidates looked at per user: enough to fill ten slots after folding


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / "runs" / "fields" / "data")
    parser.add_argument("--model", type=Path, default=REPO / "runs" / "fields" / "run")
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data, catalog = load_dataset(args.data), read_catalog(REPO / "Data" / "catalog.json.gz")
    model, _ = load_model(args.model)
    users, in_off, in_items, targets = split_inputs(data, args.split)
    scores = model_scorer(model, data.ordered, columns=data.num_items)(users, in_off, in_items)
    entries = [catalog.by_id[int(m)] for m in data.item_ids]
    franchise = np.asarray([e.get("franchise") or e["mal_id"] for e in entries])
    first = franchise == data.item_ids
    sequel = np.asarray([bool(e.get("is_sequel")) for e in entries])
    ranks = {name: np.full(users.size, DEPTH, dtype=np.int64) for name in ("before", "one per franchise", "hide sequels")}
    taken = {name: [] for name in ranks}
    for row in range(users.size):
        inputs = in_items[in_off[users[row]] : in_off[users[row] + 1]] - 1
        s = scores[row].copy()
        s[inputs] = -np.inf
        order = np.argpartition(-s, DEPTH)[:DEPTH]
        order = order[np.argsort(-s[order], kind="stable")]
        own = set(franchise[inputs].tolist())
        lists = {"before": order}
        _, keep = np.unique(franchise[order], return_index=True)
        lists["one per franchise"] = order[np.sort(keep)]
        hidden = order[first[order] & ~sequel[order] & ~np.isin(franchise[order], list(own))]
        _, keep = np.unique(franchise[hidden], return_index=True)
        lists["hide sequels"] = hidden[np.sort(keep)]
        for name, shown in lists.items():
            hit = np.flatnonzero(shown == targets[row] - 1)
            if hit.size:
                ranks[name][row] = hit[0]
            taken[name].append(np.isin(franchise[shown[:10]], list(own)).mean())
    print(f"# python {' '.join(sys.argv)}\n{users.size:,} {args.split} users, {data.num_items:,} anime ranked; "
          f"{int((np.bincount(np.unique(franchise, return_inverse=True)[1]) > 1).sum()):,} franchises of 2+ among them\n")
    print("| results | NDCG@10 | Recall@10 | top-10 slots taken by a favourite's franchise |")
    print("|---|---|---|---|")
    for name in ranks:
        metrics = metrics_from_ranks(ranks[name])
        print(f"| {name} | {metrics['ndcg@10']:.4f} | {metrics['recall@10']:.4f} | {np.mean(taken[name]):.1%} |")


if __name__ == "__main__":
    main()
