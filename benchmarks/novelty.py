"""Accuracy against novelty (issue 16): the test split re-ranked at several `--novelty` settings.

    python benchmarks/novelty.py [--data runs/fields/data] [--model runs/fields/run] [--split test|val]
                                 [--settings 0,0.25,0.5,0.75,1] [--json rows.json] [--chart]

A score is the log-sum-exp of the favourites' votes plus the model's popularity prior (its
output bias, learnt from how often each anime was liked and, for unrated anime, from their
metadata). `--novelty v` scales the prior by (1 - v): 0 is the model as trained, 1 ranks by
fit to the favourites alone. For each setting, on the test split (full ranking over the
split's anime, the user's inputs excluded): NDCG@10, Recall@10, the mean MAL-members
percentile of the top-10 (100 = the most watched anime), catalogue coverage@10 (distinct
anime in anyone's top-10 / anime ranked) and the long-tail share (top-10 slots outside the
1,000 most-watched anime by MAL members). Below the table: the standard error of NDCG@10 at
each setting (over users). ``--json`` also writes the rows, for benchmarks that compare models
(benchmarks/RESULTS.md, section 11).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.catalog import read_catalog  # noqa: E402
from training.checkpoint import load_model  # noqa: E402
from training.data import gather_ranges, load_dataset  # noqa: E402
from training.evaluate import metrics_from_ranks, split_inputs  # noqa: E402
from training.scoring import model_scorer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SETTINGS = (0.0, 0.25, 0.5, 0.75, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / "runs" / "fields" / "data")
    parser.add_argument("--model", type=Path, default=REPO / "runs" / "fields" / "run")
    parser.add_argument("--split", default="test", choices=("val", "test"))
    parser.add_argument("--settings", type=_settings, default=SETTINGS, help="Comma-separated novelty settings, each 0-1 [default: 0,0.25,0.5,0.75,1].")
    parser.add_argument("--json", type=Path, help="Also write the rows to this JSON file.")
    parser.add_argument("--chart", action="store_true", help="Also draw NDCG@10 against novelty with plotext.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data, catalog = load_dataset(args.data), read_catalog(REPO / "Data" / "catalog.json.gz")
    model, _ = load_model(args.model)
    n = data.num_items
    users, in_off, in_items, targets = split_inputs(data, args.split)
    scores = model_scorer(model, data.ordered, columns=n)(users, in_off, in_items)
    with torch.no_grad():
        prior = model.output_table(count=n)[1].numpy() * model.config.bias_weight  # as the scores weigh it
    counts = in_off[users + 1] - in_off[users]
    rows = np.repeat(np.arange(users.size), counts)
    seen = in_items[gather_ranges(in_off[users], counts)] - 1
    members = np.asarray([catalog.by_id[int(m)].get("members") or 0 for m in data.item_ids], dtype=np.float64)
    everyone = np.sort(np.asarray([e.get("members") or 0 for e in catalog], dtype=np.float64))
    percentile = 100.0 * np.searchsorted(everyone, members, side="right") / everyone.size
    head = members >= everyone[-1000]
    print(f"# python {' '.join(sys.argv)}\n{users.size:,} {args.split} users, {n:,} anime ranked\n")
    print("| novelty | NDCG@10 | Recall@10 | top-10 popularity percentile | coverage@10 | long-tail share |")
    print("|---|---|---|---|---|---|")
    curve, rows_out, errors = [], [], []
    for novelty in args.settings:
        adjusted = scores - novelty * prior
        adjusted[rows, seen] = -np.inf
        target = adjusted[np.arange(users.size), targets - 1]
        ranks = (adjusted > target[:, None]).sum(axis=1)
        metrics = metrics_from_ranks(ranks)
        top = np.argpartition(-adjusted, 10, axis=1)[:, :10]
        print(f"| {novelty:.2f} | {metrics['ndcg@10']:.4f} | {metrics['recall@10']:.4f} | {percentile[top].mean():.1f} | "
              f"{np.unique(top).size / n:.3f} ({np.unique(top).size:,}) | {(~head[top]).mean():.3f} |")
        curve.append((novelty, metrics["ndcg@10"], (~head[top]).mean()))
        gains = np.where(ranks < 10, 1.0 / np.log2(ranks + 2.0), 0.0)
        errors.append(f"{novelty:.2f}: {gains.std(ddof=1) / np.sqrt(gains.size):.4f}")
        rows_out.append({"novelty": novelty, "ndcg@10": metrics["ndcg@10"], "ndcg@10_se": float(gains.std(ddof=1) / np.sqrt(gains.size)),
                         "recall@10": metrics["recall@10"], "popularity_percentile": float(percentile[top].mean()),
                         "coverage@10": np.unique(top).size / n, "distinct@10": int(np.unique(top).size), "long_tail_share": float((~head[top]).mean())})
    print(f"\nstandard error of NDCG@10 by novelty: {'; '.join(errors)}")
    if args.json:
        args.json.write_text(json.dumps({"model": str(args.model), "data": str(args.data), "split": args.split, "users": int(users.size), "rows": rows_out}, indent=1) + "\n")
    if args.chart:
        import plotext as plt

        plt.clear_figure()
        plt.plotsize(70, 18)
        plt.plot([c[0] for c in curve], [c[1] for c in curve], label="NDCG@10", marker="dot")
        plt.plot([c[0] for c in curve], [c[2] for c in curve], label="long-tail share of top-10", marker="dot")
        plt.xlabel("novelty")
        print("\n" + plt.uncolorize(plt.build()))


def _settings(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
    if not values or not all(0.0 <= v <= 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: every setting must be a number from 0 to 1")
    return values


if __name__ == "__main__":
    main()
