"""Anime like one without ratings: how far "anime like this one" should lean on its metadata.

    python benchmarks/similar_metadata.py [--model Data/model] [--anime 800] [--weights 0,0.25,0.5,0.75,1,1.5] [--stripped]

Nobody here has ratings of an anime without them, so rated anime stand in: each of ``--anime``
rated anime (seed 0) is made metadata-only for its own query (its learnt vector left out of
its input and of its output vector, its item-item row emptied), and ``Engine.similar`` lists 10
anime like it as the app would (default filters) for each weight of the metadata term
(``Engine.similar_metadata``; 0: the model's vote alone, as before). What the list should hold:
the anime its fans also liked, its 10 largest item-item (EASE) weights, which the metadata-only
query cannot see. NDCG@10 against those, on the first half of the anime (to choose the weight)
and on the second (to report it); with the median MAL members of the lists (how well known
they are) and, for scale, the same query with the anime's ratings (its list as the app gives it).
``--stripped``: each stand-in described as the catalogue describes anime of 2023 on (no studio,
episode count, members or score: ``scripts/calibrate_new.STRIPPED``), its metadata vector pooled
from what is left.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from animerec_tui.catalog import load_catalog  # noqa: E402
from animerec_tui.engine import Engine, Filters  # noqa: E402
from animerec_tui.engine.backends import BlendedScorer, OffsetScorer  # noqa: E402
from animerec_tui.engine.runtime import default_model_dir  # noqa: E402
from training.genres import item_tokens, token_weights  # noqa: E402
from training.numpy_model import NumpyScorer  # noqa: E402

STRIPPED = ("studios", "episodes", "members", "score")
"""What the catalogue's description of an anime of 2023 on lacks (as scripts/calibrate_new.py's stripped test)."""


def innermost(scorer):
    while not isinstance(scorer, NumpyScorer):
        scorer = scorer.inner
    return scorer


def blend_of(scorer) -> BlendedScorer:
    while not isinstance(scorer, BlendedScorer):
        scorer = scorer.inner
    return scorer


def ndcg(listed: list[int], truth: list[int]) -> float:
    wanted = set(truth)
    gain = sum(1 / math.log2(i + 2) for i, j in enumerate(listed[:10]) if j in wanted)
    return gain / sum(1 / math.log2(i + 2) for i in range(min(10, len(truth))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--anime", type=int, default=800)
    parser.add_argument("--weights", default="0,0.25,0.5,0.75,1,1.5")
    parser.add_argument("--stripped", action="store_true", help="Describe each stand-in as anime of 2023 on are described (no studio, episodes, members, score).")
    args = parser.parse_args()
    weights = [float(w) for w in args.weights.split(",")]
    engine = Engine(args.model or default_model_dir(), load_catalog(), threads=1)
    if engine.similar_scorer is None:
        sys.exit("this model has no item-item blend: nothing to compare the lists with")
    scorer = engine.similar_scorer
    model = innermost(scorer).model
    inputs = model.input_table()  # cached: its rows are what a request's tokens read
    table = blend_of(scorer).table
    rated = engine.num_rated
    anime = np.random.default_rng(0).choice(np.arange(1, rated + 1), size=min(args.anime, rated), replace=False)
    members = {int(m): (engine.by_id[int(m)].get("members") or 0) for m in engine.item_ids}
    names = list(engine.meta["genres"])
    index = {name: n + 1 for n, name in enumerate(names)}
    slots = model.w["item_genres"].shape[1]

    def described(dense: int) -> np.ndarray:
        """The anime's metadata vector from its description with the STRIPPED fields left out (as the model pools it)."""
        entry = {k: v for k, v in engine.by_id[int(engine.item_ids[dense - 1])].items() if k not in STRIPPED}
        row = np.zeros((1, slots), dtype=np.int64)
        found = [index[t] for t in item_tokens(entry, unknown=True) if t in index][:slots]
        row[0, : len(found)] = found
        weights = token_weights(names, row)[0]
        return (weights[:, None] * model.w["genre_emb.weight"][row[0]]).sum(axis=0).astype(np.float32)

    found: dict[str, list[float]] = {}
    known: dict[str, list[int]] = {}
    started = time.perf_counter()
    for dense in anime.tolist():
        row = np.zeros(rated, dtype=np.float32)
        row[table.indices[dense - 1].astype(np.int64)] = table.values[dense - 1]
        row[dense - 1] = -np.inf
        truth = [int(j) for j in np.argsort(-row)[:10]]
        mal = int(engine.item_ids[dense - 1])
        lists = {"with its ratings (the app as it is)": [engine.dense[r.mal_id] - 1 for r in engine.similar(mal, 10)]}
        # Metadata-only: the learnt part of its input and output vectors out, its item-item row empty.
        saved_input, saved_vector, saved_values = inputs[dense].copy(), engine.vectors[dense - 1].copy(), table.values[dense - 1].copy()
        alone = described(dense) if args.stripped else inputs[dense] - model.w["item_emb.weight"][dense]
        inputs[dense] = alone
        engine.vectors[dense - 1] = alone
        table.values[dense - 1] = 0
        engine._lengths = None  # the vectors' lengths, cached: its own has changed
        try:
            for weight in weights:
                engine.similar_metadata = weight
                ranked = OffsetScorer(scorer, engine._metadata_alike(scorer, dense)) if weight > 0 else scorer
                items = engine.recommend_many([([mal], Filters())], 10, reasons=False, scorer=ranked)[0].items
                lists[f"metadata only, weight {weight:g}"] = [engine.dense[r.mal_id] - 1 for r in items]
        finally:
            inputs[dense] = saved_input
            engine.vectors[dense - 1] = saved_vector
            table.values[dense - 1] = saved_values
            engine._lengths = None
        for name, listed in lists.items():
            found.setdefault(name, []).append(ndcg(listed, truth))
            known.setdefault(name, []).extend(members[int(engine.item_ids[j])] for j in listed)
    half = len(anime) // 2
    how = ", described as anime of 2023 on are (no studio, episodes, members, score)" if args.stripped else ""
    print(f"\n### Anime like one without ratings: {len(anime)} rated anime made metadata-only{how}, {time.perf_counter() - started:.0f} s\n")
    print("NDCG@10 of `similar`'s top 10 (default filters) against the anime's 10 largest item-item weights; ± one standard error\n")
    print(f"| list | first half ({half}, chooses) | second half ({len(anime) - half}, reports) | median MAL members of the lists |")
    print("|---|---|---|---|")
    for name, values in found.items():
        first, second = np.asarray(values[:half]), np.asarray(values[half:])
        print(f"| {name} | {first.mean():.4f} ± {first.std() / math.sqrt(first.size):.4f} | {second.mean():.4f} ± {second.std() / math.sqrt(second.size):.4f} | {np.median(known[name]):,.0f} |")


if __name__ == "__main__":
    main()
