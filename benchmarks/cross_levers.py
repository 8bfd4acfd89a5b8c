"""A cross-group split's app against its tuned EASE, user by user, and a grid of the app's two
blend settings on the held-out group's validation (issue 28, the 2016-18 lists unseen).

    python benchmarks/cross_levers.py paired runs/cross/era-out [--model runs/cross/era-out/model] [--lam 200]
    python benchmarks/cross_levers.py grid runs/cross/era-out [--model ...] [--users 1500]
        [--bias-weights 0.6,1.2,2.4] [--weights 0.5,1,2] [--lambdas 100,200]
    python benchmarks/cross_levers.py seeds runs/cross/era-out --runs RUN0,RUN1,RUN2 [--readout 0.7,1.2] [--weights 0.5,1,2]

``paired``: EASE at ``--lam`` (the value ``peers_table.py`` chose on the held-out group's
validation) fitted on the training group's train rows, and the model folder through the engine
as the app ranks (default ``Filters()``, its blend), on the held-out group's validation and test
users: each user's NDCG@10 under both, and the mean of the differences with its standard error.
The two share users, so the paired error is what says whether they differ (a third of the
unpaired one here).

``grid``: the prior's weight (the model's ``bias_weight``) and the blend weight chosen together,
not one after the other, for each EASE lambda: NDCG@10 of the first ``--users`` validation users
of the held-out group as the app ranks (each blend at new_level 0.985), and EASE alone through
the app's rules.

``seeds``: runs of the same recipe with other ``--seed`` values, their scores averaged (each at
``--readout``, temperature and bias weight), alone and plus w times EASE (lambda 100, 200
kept, the shipped blend's table) scaled as ``calibrate_blend.py`` scales it; the first run alone
beside them. Full ranking over the rated anime (``score_ranks``), not through the app's rules:
the engine answers with one model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "scripts"))

from calibrate_blend import EaseAlone, measure, requests, scale_of  # noqa: E402
from peers_table import FoldIn, engine_ranks, matrix, model_scorer, score_ranks, split_query  # noqa: E402

from animerec_tui.engine import Engine  # noqa: E402
from animerec_tui.engine.backends import BlendedScorer  # noqa: E402
from training.data import load_dataset  # noqa: E402
from training.evaluate import ndcg_per_user as ndcg  # noqa: E402
from training.itemitem import ItemItem, fit_ease, gram  # noqa: E402
from training.numpy_model import NumpyScorer  # noqa: E402
from training.peers import PEERS  # noqa: E402


def paired(root: Path, model: Path, lam: float) -> None:
    train, held = load_dataset(root / "train"), load_dataset(root / "heldout")
    score, _ = FoldIn(matrix(*train.splits["train"], held.num_items)).build(PEERS["ease"], lam=lam)
    engine = Engine(model, threads=1)
    for split in ("val", "test"):
        query = split_query(held, split)
        ease, app = ndcg(score_ranks(score, query)), ndcg(engine_ranks(engine, held.item_ids, query))
        d = app - ease
        print(json.dumps({"split": split, "users": int(d.size), "ease": round(float(ease.mean()), 4), "app": round(float(app.mean()), 4),
                          "difference": round(float(d.mean()), 4), "difference_se": round(float(d.std(ddof=1) / np.sqrt(d.size)), 4),
                          "app_better": int((d > 0).sum()), "ease_better": int((d < 0).sum())}), flush=True)


def grid(root: Path, model: Path, users: int, bias_weights: list[float], weights: list[float], lambdas: list[float]) -> None:
    train, held = load_dataset(root / "train"), load_dataset(root / "heldout")
    engine = Engine(model, threads=1)
    base = engine.scorer
    while not isinstance(base, NumpyScorer):  # the model's own scorer, under any blend or calibration
        base = base.inner
    raw = base.bias / np.float32(base.model.config.bias_weight)
    favs, targets = requests(engine, held, "val", users=users)
    g = gram(*train.splits["train"], train.num_items)
    temperature = float(base.model.config.vote_temperature)
    for lam in lambdas:
        table = ItemItem.prune(fit_ease(g, lam), 200, {"lambda": lam})
        engine.scorer = base
        scale = scale_of(engine, table, favs)
        for bias in bias_weights:
            base.bias = raw * np.float32(bias)
            for w in weights:
                engine.scorer = BlendedScorer(base, table, w * scale, temperature, 0.985) if w > 0 else base
                m = measure(engine, favs, targets)
                print(json.dumps({"lambda": lam, "bias_weight": bias, "w": w, "ndcg@10": round(m["ndcg@10"], 4), "se": round(m["se_ndcg@10"], 4)}), flush=True)
        engine.scorer = EaseAlone(table, engine.item_ids.size)
        print(json.dumps({"lambda": lam, "ease alone": round(measure(engine, favs, targets)["ndcg@10"], 4)}), flush=True)


def seeds(root: Path, runs: list[Path], readout: tuple[float, float], weights: list[float]) -> None:
    train, held = load_dataset(root / "train"), load_dataset(root / "heldout")
    n = held.num_items
    scorers = [model_scorer(run, n, readout)[0] for run in runs]
    b = ItemItem.prune(fit_ease(gram(*train.splits["train"], train.num_items), 100.0), 200, {}).full()

    def ease(users, offsets, items):
        return np.stack([b[items[offsets[u] : offsets[u + 1]] - 1].sum(axis=0) for u in users])

    val, test = split_query(held, "val"), split_query(held, "test")

    def combined(members, w):
        def score(users, offsets, items):
            s = sum(m(users, offsets, items) for m in members) / len(members)
            return s + w * ease(users, offsets, items) if w else s

        return score

    for name, members in (("the first run", scorers[:1]), (f"the mean of {len(scorers)} runs", scorers)):
        sample = np.arange(min(500, len(val)))  # the scale: median ratio of the parts' spreads (calibrate_blend.scale_of)
        m, e = combined(members, 0)(sample, val.offsets, val.items), ease(sample, val.offsets, val.items)
        spread = e.std(axis=1) > 0
        scale = float(np.median(m.std(axis=1)[spread] / e.std(axis=1)[spread]))
        for w in [0.0, *weights]:
            score = combined(members, w * scale)
            v, t = ndcg(score_ranks(score, val)), ndcg(score_ranks(score, test))
            print(json.dumps({"model": name, "w": w, "val": round(float(v.mean()), 4), "test": round(float(t.mean()), 4), "test_se": round(float(t.std(ddof=1) / np.sqrt(t.size)), 4)}), flush=True)


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("paired", "grid", "seeds"))
    parser.add_argument("split", type=Path, help="a cross-group split's folder (train/ and heldout/), e.g. runs/cross/era-out")
    parser.add_argument("--model", type=Path, help="the app's model folder (default: SPLIT/model, as peers_table.py exports it)")
    parser.add_argument("--lam", type=float, default=200.0, help="paired: EASE's lambda, as peers_table.py chose it")
    parser.add_argument("--users", type=int, default=1500)
    parser.add_argument("--bias-weights", default="0.6,1.2,2.4")
    parser.add_argument("--weights", default="0.5,1,2")
    parser.add_argument("--lambdas", default="100,200")
    parser.add_argument("--runs", default="", help="seeds: run folders of the same recipe, comma-separated")
    parser.add_argument("--readout", default="0.7,1.2", help="seeds: temperature and bias weight of every run")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, "blas")
    model = args.model or args.split / "model"
    if args.what == "paired":
        paired(args.split, model, args.lam)
    elif args.what == "seeds":
        temperature, bias = floats(args.readout)
        seeds(args.split, [Path(r) for r in args.runs.split(",") if r], (temperature, bias), floats(args.weights))
    else:
        grid(args.split, model, args.users, floats(args.bias_weights), floats(args.weights), floats(args.lambdas))


if __name__ == "__main__":
    main()
