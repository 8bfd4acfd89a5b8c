"""Short lists (issue 28 part 3): what leaning away from popularity costs and gives at one or two favourites.

    python benchmarks/short_lists.py [--model Data/model] [--cuts 1,2] [--novelty 0,0.1,0.25,0.5] [--blend-scale 1]

The shipped training data's validation users, each list cut to ``--cuts`` favourites (seed 0,
the held-out anime fixed: ``scripts/calibrate_blend.requests``), ranked as the app ranks them
(``Engine.recommend_many``, default ``Filters()`` but the novelty lean). For each cut and lean:
NDCG@10 and Recall@50 of the held-out anime in the app's top 100, and, over every tenth user's
top 10 with reasons, the share of results whose first reason is a favourite rather than "your
whole list" (the model's vote of the list as a whole, popularity included): how much the list
is about the favourites. ``--blend-scale``: the item-item blend's coefficient (meta.json's) times
each of these for every request, each with every lean; the app itself takes
``defaults.SHORT_LIST_BLEND`` (3) at one or two favourites and ``SIMILAR_BLEND`` (30) for
"anime like this one", both chosen from this table.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from calibrate_blend import requests  # noqa: E402

from animerec_tui.engine import Engine  # noqa: E402
from animerec_tui.engine.backends import blend_times  # noqa: E402
from animerec_tui.engine.reasons import LIST_REASON  # noqa: E402
from animerec_tui.engine.types import Filters  # noqa: E402
from training.data import load_dataset  # noqa: E402
from training.evaluate import ndcg_per_user  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "Data" / "model")
    parser.add_argument("--data", type=Path, help="default: the shipped training data")
    parser.add_argument("--cuts", default="1,2")
    parser.add_argument("--novelty", default="0,0.1,0.25,0.5")
    parser.add_argument("--blend-scale", default="1,3", help="the item-item blend's coefficient times each of these (1: meta.json's)")
    parser.add_argument("--users", type=int, help="only the first N validation users")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    if args.data is None:
        from animerec_tui.runs import shipped_training_data

        args.data = shipped_training_data()
    engine = Engine(args.model, threads=1)
    data = load_dataset(args.data)
    scalings = {times: blend_times(engine.scorer, times) for times in (float(b) for b in args.blend_scale.split(","))}
    if None in scalings.values():
        raise SystemExit(f"{args.model}: has no item-item blend to scale")
    print("| favourites | blend x | novelty | NDCG@10 | Recall@50 | first reason a favourite |\n|---|---|---|---|---|---|")
    for cut in [int(c) for c in args.cuts.split(",")]:
        favs, targets = requests(engine, data, "val", cut=cut, users=args.users)
        sample = [favs[i] for i in range(0, len(favs), 10)]
        for (times, scorer), lean in [(pair, float(v)) for pair in scalings.items() for v in args.novelty.split(",")]:
            row(engine, scorer, favs, targets, sample, f"| {cut} | {times:g} | {lean:g} |", lean)


def row(engine: Engine, scorer, favs: list, targets: np.ndarray, sample: list, head: str, lean: float) -> None:
    """One line of the table: the held-out anime's place in each list, and how much of every tenth list is about its favourites."""
    results = engine.recommend_many([(f, Filters(novelty=lean)) for f in favs], 100, reasons=False, scorer=scorer)
    ranks = np.full(len(favs), 100)
    for n, (result, target) in enumerate(zip(results, targets.tolist())):
        ids = [r.mal_id for r in result.items]
        if target in ids:
            ranks[n] = ids.index(target)
    ndcg = ndcg_per_user(ranks)
    shown = engine.recommend_many([(f, Filters(novelty=lean)) for f in sample], 10, reasons=True, scorer=scorer)
    about = np.mean([np.mean([bool(r.because) and r.because[0] != LIST_REASON for r in result.items]) for result in shown])
    print(f"{head} {ndcg.mean():.4f} ± {ndcg.std(ddof=1) / math.sqrt(ndcg.size):.4f} | {(ranks < 50).mean():.4f} | {about:.3f} |", flush=True)


if __name__ == "__main__":
    main()
