"""What a whole-catalogue model does for anime without ratings (issue 15): three measurements.

    python benchmarks/catalogue_eval.py cold    --data runs/default/data --work runs/cold [--epochs 15]
    python benchmarks/catalogue_eval.py recent  --data runs/default/data --model Data/model
    python benchmarks/catalogue_eval.py coverage --model Data/model
    python benchmarks/catalogue_eval.py whole   --data runs/default/data --model Data/model [--split test]
    python benchmarks/catalogue_eval.py new-share --data runs/default/data --work runs/cold

cold: hide a random 10% of the rated anime (seed 0) from training entirely (their rows leave
the training and validation lists; the model knows them from metadata only), train a model
on the rest, and for the test users whose held-out anime is a hidden one, rank it (full
ranking, the user's other anime excluded) among (a) the whole catalogue and (b) the anime
without ratings in that training. Baselines: popularity by MAL members (training counts
are zero for a hidden anime), and metadata nearest neighbours (cosine between the
candidate's metadata tokens and the mean of the favourites', tokens weighted by IDF). A
model without the catalogue (the shipped model before issue 15) cannot score a hidden
anime at all: 0 by construction.

recent: the 2023 crawl's test users (raw user ids >= 2,000,000 in the build's merge) whose
held-out anime first aired 2017-2022, ranked among the anime of those years.

new-share: with the cold split's model, how many anime without ratings a top 10 should
hold (``Filters.new_share``), on the validation users of the full data: their held-out
anime is a hidden one as often as chance makes it, so the table weighs what showing such
anime gains for those users against what it costs everyone else.

whole: a split's users ranked among every anime the model knows (the app's ranking), with
no, 2 or any anime without ratings allowed in a top 10.

coverage: share of the catalogue the model scores, and share of the 2023 crawl's liked
anime (score >= 7) it can take as favourites.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from calibrate_new import cold_hidden  # noqa: E402

from animerec_tui.engine import Filters, spread_order  # noqa: E402
from training.catalog import read_catalog  # noqa: E402
from training.checkpoint import load_model  # noqa: E402
from training.config import SHIPPED, resolve_config  # noqa: E402
from training.data import Dataset, load_dataset  # noqa: E402
from training.evaluate import metrics_from_ranks, split_inputs  # noqa: E402
from training.genres import item_tokens  # noqa: E402
from training.scoring import model_scorer  # noqa: E402
from training.train import train  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CATALOG = REPO / "Data" / "catalog.json.gz"
CRAWL = REPO.parent / "shared" / "data" / "anime" / "mal_crawl_2023_hatuank" / "animelist.csv"
CRAWL_USER_OFFSET = 2_000_000
KEYS = ("ndcg@10", "recall@10", "ndcg@100", "recall@100", "mrr")


def ranks_among(scores: np.ndarray, inputs: list[np.ndarray], targets: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """0-based rank of each row's target among ``candidates`` (columns), its inputs excluded; ties count against it."""
    scores = np.nan_to_num(scores.astype(np.float64), nan=-np.inf)
    out = np.empty(len(targets), dtype=np.int64)
    for row, (seen, target) in enumerate(zip(inputs, targets)):
        allowed = candidates.copy()
        allowed[seen] = False
        allowed[target] = False
        out[row] = int((scores[row, allowed] >= scores[row, target]).sum())
    return out


def table(rows: list[tuple[str, dict]], title: str) -> None:
    print(f"\n### {title}\n")
    print("| scorer | " + " | ".join(KEYS) + " |")
    print("|---|" + "---|" * len(KEYS))
    for name, metrics in rows:
        print(f"| {name} | " + " | ".join(f"{metrics[k]:.4f}" for k in KEYS) + " |")


def metadata_knn(item_ids: np.ndarray, catalog) -> np.ndarray:
    """(N, T) IDF-weighted, L2-normalised metadata-token vectors of the given MAL ids."""
    tokens = [item_tokens(catalog.by_id.get(int(m), {})) for m in item_ids]
    names = {t: i for i, t in enumerate(sorted({t for ts in tokens for t in ts}))}
    matrix = np.zeros((len(tokens), len(names)), dtype=np.float32)
    for row, ts in enumerate(tokens):
        matrix[row, [names[t] for t in ts]] = 1.0
    idf = np.log((1 + len(tokens)) / (1 + matrix.sum(axis=0))) + 1
    matrix *= idf
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-9)


def _hidden_dataset(data: Dataset, hidden: np.ndarray) -> Dataset:
    """``data`` without the hidden dense items in train and val, re-numbered densely."""
    keep = np.ones(data.num_items + 1, dtype=bool)
    keep[hidden] = False
    keep[0] = False
    new_id = np.zeros(data.num_items + 1, dtype=np.int64)
    new_id[keep] = np.arange(1, int(keep.sum()) + 1)
    splits = {}
    for name, (offsets, items) in data.splits.items():
        if name == "test":  # the test items are scored separately, by MAL id
            splits[name] = (np.zeros_like(offsets), np.zeros(0, dtype=items.dtype))
            continue
        kept = keep[items]
        owner = np.repeat(np.arange(offsets.size - 1), np.diff(offsets))[kept]
        counts = np.bincount(owner, minlength=offsets.size - 1)
        splits[name] = (np.concatenate([[0], np.cumsum(counts)]).astype(offsets.dtype), new_id[items[kept]].astype(items.dtype))
    manifest = {**data.manifest, "counts": {**data.manifest["counts"], "items": int(keep.sum())}}
    return Dataset(data.folder, manifest, splits, data.item_ids[keep[1:]])


def cold(args) -> None:
    data, catalog = load_dataset(args.data), read_catalog(CATALOG)
    hidden = cold_hidden(data)
    sub = _hidden_dataset(data, hidden)
    run = args.work / "run"
    if not (run / "run.json").exists():
        config = resolve_config(sub, catalog, **{**SHIPPED.train, "epochs": args.epochs})  # the shipped recipe, but its epochs
        started = time.perf_counter()
        train(sub, run, config.model, config.train, item_genres=config.item_genres, genre_names=config.genre_names, item_ids=config.item_ids, prior_items=config.prior_items, force=True)
        print(f"trained {args.epochs} epochs in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    model, meta = load_model(run, which="best")
    vocab = np.asarray(meta["vocab"]["item_ids"], dtype=np.int64)
    column = {int(m): j for j, m in enumerate(vocab)}
    # Test users whose held-out item is hidden; input = train + val (hidden ones included: a
    # user names them, and the model knows them from metadata).
    test_off, test_items = data.splits["test"]
    in_off, in_items = data.merged("train", "val")
    is_hidden = np.zeros(data.num_items + 1, dtype=bool)
    is_hidden[hidden] = True
    users = np.flatnonzero((np.diff(test_off) > 0) & is_hidden[test_items[np.minimum(test_off[:-1], test_items.size - 1)]])
    to_col = np.asarray([column[int(m)] for m in data.item_ids])  # data dense id - 1 -> model column
    inputs = [to_col[in_items[in_off[u] : in_off[u + 1]] - 1] for u in users]
    targets = to_col[test_items[test_off[users]] - 1]
    offsets = np.concatenate([[0], np.cumsum([len(i) for i in inputs])]).astype(np.int64)
    flat = np.concatenate(inputs) + 1
    scores = model_scorer(model, False)(np.arange(len(users)), offsets, flat)
    members = np.asarray([catalog.by_id.get(int(m), {}).get("members") or 0 for m in vocab], dtype=np.float64)
    vectors = metadata_knn(vocab, catalog)
    knn = np.stack([vectors @ vectors[i].mean(axis=0) for i in inputs])
    pools = {"whole catalogue": np.ones(vocab.size, dtype=bool), "anime without ratings": np.arange(vocab.size) >= model.config.rated}
    print(f"\n{users.size} test users whose held-out anime is one of the {hidden.size} hidden; model knows {vocab.size:,} anime, {model.config.rated:,} rated")
    for pool, candidates in pools.items():
        rows = [(name, metrics_from_ranks(ranks_among(s, inputs, targets, candidates)))
                for name, s in (("whole-catalogue BERT4Rec", scores), ("metadata kNN", knn), ("popularity (MAL members)", np.broadcast_to(members, scores.shape)))]
        rows.append(("model without the catalogue", {k: 0.0 for k in KEYS}))
        table(rows, f"cold start, ranked among the {pool} ({int(candidates.sum()):,} anime)")


def spread_ranks(scores: np.ndarray, inputs: list[np.ndarray], targets: np.ndarray, rated: int, share: float,
                 candidates: np.ndarray | None = None) -> np.ndarray:
    """0-based ranks as the engine orders a list (``Engine._spread_new``): every first n places
    hold at most ceil(share * n) anime without ratings (columns >= ``rated``), each in the first
    place the rule allows. Inputs and non-candidates are left out; ties count against the target;
    at share 0 a target without ratings is never shown (ranked last)."""
    size = scores.shape[1]
    # the first place (0-based) new anime number i may take, minus i: places p with ceil(share * (p + 1)) > i
    gap = None if share <= 0 else np.floor(np.arange(size) / share + 1e-9) - np.arange(size)
    out = np.empty(len(targets), dtype=np.int64)
    for row, (seen, target) in enumerate(zip(inputs, targets)):
        s = scores[row].astype(np.float64)
        if candidates is not None:
            s[~candidates] = -np.inf
        s[seen] = -np.inf
        value = s[target]
        s[target] = -np.inf
        rated_above = int(np.count_nonzero(s[:rated] >= value))
        new_above = int(np.count_nonzero(s[rated:] >= value))
        if target < rated:
            before = 0 if gap is None else min(new_above, int(np.searchsorted(gap, rated_above, side="right")))
            out[row] = rated_above + before
        else:
            rated_left = int(np.count_nonzero(np.isfinite(s[:rated])))  # once they run out, the rule stops
            out[row] = size if gap is None else int(max(rated_above + new_above, new_above + min(gap[new_above], rated_left)))
    return out


def new_in_top(scores: np.ndarray, inputs: list[np.ndarray], rated: int, share: float, k: int = 10) -> float:
    """Mean share of a top ``k`` (as the engine orders it) taken by anime without ratings."""
    taken = 0
    for row, seen in zip(scores, inputs):
        s = row.astype(np.float64)
        s[seen] = -np.inf
        best = np.concatenate([np.argsort(-s[:rated], kind="stable")[:k], rated + np.argsort(-s[rated:], kind="stable")[:k]])
        best = best[np.lexsort((best, -s[best]))]  # best first, ties to the lower column (rated first), as the engine
        taken += int((best[spread_order(best >= rated, share)[:k]] >= rated).sum())
    return taken / (k * len(inputs))


def new_share(args) -> None:
    """How many anime without ratings a top 10 should hold: the cold split's model (``cold``),
    the validation users of the full data with their natural mix of held-out anime, rated or
    hidden; each row keeps only its best N anime without ratings (Filters.new_share * 10)."""
    data = load_dataset(args.data)
    hidden = cold_hidden(data)  # the same hidden anime as ``cold``
    model, meta = load_model(args.work / "run", which="best")
    vocab = np.asarray(meta["vocab"]["item_ids"], dtype=np.int64)
    column = {int(m): j for j, m in enumerate(vocab)}
    to_col = np.asarray([column[int(m)] for m in data.item_ids])
    val_off, val_items = data.splits["val"]
    train_off, train_items = data.splits["train"]
    users = np.flatnonzero(np.diff(val_off) > 0)
    inputs = [to_col[train_items[train_off[u] : train_off[u + 1]] - 1] for u in users]
    targets = to_col[val_items[val_off[users]] - 1]
    offsets = np.concatenate([[0], np.cumsum([len(i) for i in inputs])]).astype(np.int64)
    scores = model_scorer(model, False)(np.arange(len(users)), offsets, np.concatenate(inputs) + 1)
    rated = model.config.rated
    is_hidden = targets >= rated
    print(f"\n{users.size:,} validation users, {int(is_hidden.sum())} of whose held-out anime is one of the {hidden.size} hidden "
          f"(known from metadata only); ranked among all {vocab.size:,} anime, {rated:,} of them rated\n")
    print("| `new_share` | anime without ratings in a top 10, at most | share of top-10 places they take | NDCG@10 all | Recall@10 all | NDCG@10, hidden target | NDCG@10, rated target |")
    print("|---|---|---|---|---|---|---|")
    for share in (0.0, 0.1, 0.2, 0.3, 0.5, 1.0):
        ranks = spread_ranks(scores, inputs, targets, rated, share)
        every, gone, kept = metrics_from_ranks(ranks), metrics_from_ranks(ranks[is_hidden]), metrics_from_ranks(ranks[~is_hidden])
        print(f"| {share:.1f} | {math.ceil(share * 10 - 1e-9)} | {new_in_top(scores, inputs, rated, share):.3f} | {every['ndcg@10']:.4f} | {every['recall@10']:.4f} | {gone['ndcg@10']:.4f} | {kept['ndcg@10']:.4f} |")


def whole(args) -> None:
    """A split's users ranked among every anime the model knows, as the app ranks them."""
    data = load_dataset(args.data)
    model, meta = load_model(args.model)
    vocab = np.asarray(meta["vocab"]["item_ids"], dtype=np.int64)
    if not np.array_equal(vocab[: data.num_items], data.item_ids):
        raise SystemExit(f"{args.model} was not trained on {args.data}")
    users, in_off, in_items, targets = split_inputs(data, args.split)
    scores = model_scorer(model, False)(users, in_off, in_items)
    inputs = [in_items[in_off[u] : in_off[u + 1]] - 1 for u in users]
    print(f"\n{users.size:,} {args.split} users; {vocab.size:,} anime, {model.config.rated:,} rated (every held-out anime is a rated one)\n")
    print("| `new_share` | share of top-10 places taken by anime without ratings | NDCG@10 | Recall@10 | NDCG@100 | MRR |")
    print("|---|---|---|---|---|---|")
    for share in (0.0, 0.2, 1.0):
        m = metrics_from_ranks(spread_ranks(scores, inputs, targets - 1, model.config.rated, share))
        print(f"| {share:.1f} | {new_in_top(scores, inputs, model.config.rated, share):.3f} | {m['ndcg@10']:.4f} | {m['recall@10']:.4f} | {m['ndcg@100']:.4f} | {m['mrr']:.4f} |")


def recent(args) -> None:
    data, catalog = load_dataset(args.data), read_catalog(CATALOG)
    model, meta = load_model(args.model)
    vocab = np.asarray(meta["vocab"]["item_ids"], dtype=np.int64)
    if not np.array_equal(vocab[: data.num_items], data.item_ids):
        raise SystemExit(f"{args.model} was not trained on {args.data}")
    user_ids = np.load(Path(args.data) / "user_ids.npy")
    years = np.asarray([catalog.by_id.get(int(m), {}).get("year") or 0 for m in vocab])
    test_off, test_items = data.splits["test"]
    has = np.diff(test_off) > 0
    target_all = np.where(has, test_items[np.minimum(test_off[:-1], test_items.size - 1)], 0)
    in_years = (years >= 2017) & (years <= 2022)
    users = np.flatnonzero(has & (user_ids >= CRAWL_USER_OFFSET) & in_years[np.maximum(target_all - 1, 0)])
    in_off, in_items = data.merged("train", "val")
    inputs = [in_items[in_off[u] : in_off[u + 1]] - 1 for u in users]
    targets = target_all[users] - 1
    offsets = np.concatenate([[0], np.cumsum([len(i) for i in inputs])]).astype(np.int64)
    scores = model_scorer(model, False)(np.arange(len(users)), offsets, np.concatenate(inputs) + 1)
    counts = np.zeros(vocab.size)
    counts[: data.num_items] = np.bincount(data.splits["train"][1], minlength=data.num_items + 1)[1:]
    members = np.asarray([catalog.by_id.get(int(m), {}).get("members") or 0 for m in vocab], dtype=np.float64)
    share = Filters().new_share
    shipped = (f"BERT4Rec, new_share {share:g} (as the app ranks)", metrics_from_ranks(spread_ranks(scores, inputs, targets, data.num_items, share, in_years)))
    rows = [shipped] + [(name, metrics_from_ranks(ranks_among(s, inputs, targets, in_years)))
            for name, s in (("BERT4Rec, anime without ratings ranked freely", scores),
                            ("popularity (training counts)", np.broadcast_to(counts, scores.shape)),
                            ("popularity (MAL members)", np.broadcast_to(members, scores.shape)))]
    table(rows, f"2023 crawl users ({users.size}) whose held-out anime first aired 2017-2022, ranked among the {int(in_years.sum()):,} anime of those years")


def coverage(args) -> None:
    catalog = read_catalog(CATALOG)
    meta = json.loads((Path(args.model) / "meta.json").read_text())
    vocab = set(meta["vocab"]["item_ids"])
    rated = meta["model_config"].get("num_rated") or len(vocab)
    liked = []
    with open(CRAWL, newline="") as handle:
        liked = [int(r["anime_id"]) for r in csv.DictReader(handle) if int(r["score"]) >= 7]
    print(f"catalogue anime the model scores: {sum(m in vocab for m in catalog.by_id):,} of {len(catalog):,}")
    print(f"learnt from ratings: {rated:,}; from metadata only: {len(vocab) - rated:,}")
    usable = sum(m in vocab for m in liked)
    print(f"2023 crawl liked entries (score >= 7) usable as favourites: {usable:,} of {len(liked):,} ({usable / len(liked):.1%})")
    distinct = set(liked)
    print(f"  distinct anime: {sum(m in vocab for m in distinct):,} of {len(distinct):,} ({sum(m in vocab for m in distinct) / len(distinct):.1%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    c = sub.add_parser("cold")
    c.add_argument("--data", type=Path, default=REPO / "runs" / "default" / "data")
    c.add_argument("--work", type=Path, default=REPO / "runs" / "cold")
    c.add_argument("--epochs", type=int, default=15)
    r = sub.add_parser("recent")
    r.add_argument("--data", type=Path, default=REPO / "runs" / "default" / "data")
    r.add_argument("--model", type=Path, default=REPO / "Data" / "model")
    n = sub.add_parser("new-share")
    n.add_argument("--data", type=Path, default=REPO / "runs" / "default" / "data")
    n.add_argument("--work", type=Path, default=REPO / "runs" / "cold")
    w = sub.add_parser("whole")
    w.add_argument("--data", type=Path, default=REPO / "runs" / "default" / "data")
    w.add_argument("--model", type=Path, default=REPO / "Data" / "model")
    w.add_argument("--split", default="test")
    v = sub.add_parser("coverage")
    v.add_argument("--model", type=Path, default=REPO / "Data" / "model")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"# python {' '.join(sys.argv)}  (torch threads: {torch.get_num_threads()})")
    {"cold": cold, "new-share": new_share, "whole": whole, "recent": recent, "coverage": coverage}[args.what](args)


if __name__ == "__main__":
    main()
