"""Build the item-item (EASE) table beside a model and choose its blend weight on validation, as the app ranks.

    python scripts/calibrate_blend.py MODEL [--data DATA] [--lambdas 100] [--keep 200]
        [--weights 0,0.02,0.035,...] [--users N] [--write] [--test]

For each lambda: EASE (``training.itemitem``) is fitted on DATA's training rows only (the rows
the model trained on; the validation and test anime are never in it) and pruned to each
anime's ``--keep`` largest weights. The scale s makes the two parts comparable: the median,
over the validation users, of the model's score spread (standard deviation over the rated
anime) over the item-item score's. Then for every weight w the engine answers every
validation user (favourites: the training rows; ``Filters()``: the app's defaults, every
anime the model knows, new_share 0.2; a top 100) with score = model + w * s * EASE (each w at the ``--levels`` value that keeps the share
of top-10 places without ratings nearest the model alone's), and the
held-out anime's place in that list gives NDCG@10, Recall@10/50/100 (a miss when it is not
in the list). The best NDCG@10 wins (w = 0, the model alone, is always in the grid).
``--write`` stores the table (itemitem.safetensors + itemitem.json) in MODEL and meta.json's
``blend`` = {weight, scale, lambda, keep}. ``--test`` measures the chosen setting once on
the test split (inputs: training + validation rows) beside the model alone and EASE alone;
it chooses nothing.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from animerec_tui.defaults import SHORT_LIST_BLEND  # noqa: E402
from animerec_tui.engine import Engine, Filters  # noqa: E402
from animerec_tui.engine.backends import BlendedScorer, CalibratedScorer  # noqa: E402
from training.data import Dataset, load_dataset  # noqa: E402
from training.errors import UserError  # noqa: E402
from training.evaluate import split_inputs  # noqa: E402
from training.fsutil import atomic_write_bytes  # noqa: E402
from training.itemitem import ItemItem, fit_ease, gram, manifest_hash, write_itemitem  # noqa: E402
from training.model_files import META_FILE, json_bytes, read_meta, resolve_model_dir  # noqa: E402

TOP = 100


class EaseAlone:
    """EASE alone behind ``RequestScorer`` (the rated anime only; the rest are no recommendation), so it ranks through the app's rules."""

    def __init__(self, table: ItemItem, size: int) -> None:
        self.table, self.size = table, size

    def encode(self, rows: list[list[int]]) -> np.ndarray:
        out = np.full((len(rows), self.size), -np.inf, dtype=np.float32)
        for n, row in enumerate(rows):
            out[n, : self.table.rated] = self.table.scores(np.asarray(row, dtype=np.int64) - 1)
        return out

    def scores(self, encoded: np.ndarray, users: np.ndarray, columns: np.ndarray) -> np.ndarray:
        return encoded[np.ix_(np.asarray(users), np.asarray(columns))]

    def bounds(self, encoded: np.ndarray, users: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = self.scores(encoded, users, columns)
        return s, s.copy()

    cheap_upper = scores

    def shares(self, *args) -> None:
        return None


def requests(engine: Engine, data: Dataset, split: str, cut: int | None = None, seed: int = 0, users: int | None = None) -> tuple[list, np.ndarray]:
    """(favourites as MAL ids, held-out MAL id) for a split's users; ``cut``: that many favourites sampled with ``seed``."""
    who, offsets, items, targets = split_inputs(data, split)
    rng = np.random.default_rng(seed)
    favs = []
    for u in who:
        row = data.item_ids[items[offsets[u] : offsets[u + 1]] - 1]
        if cut is not None and row.size > cut:
            row = rng.choice(row, size=cut, replace=False)
        favs.append(row.tolist())
    target = data.item_ids[targets - 1]
    if users is not None:
        favs, target = favs[:users], target[:users]
    return favs, target


def app_places(engine: Engine, favs: list, targets: np.ndarray, filters: Filters = Filters()) -> tuple[np.ndarray, float]:
    """Each held-out anime's place (from 0) in the app's top 100 for its favourites (100: not
    in it), and the share of top-10 places that anime without ratings take."""
    results = engine.recommend_many([(f, filters) for f in favs], TOP, reasons=False)
    ranks = np.full(len(favs), TOP, dtype=np.int64)
    new = 0
    for n, (result, target) in enumerate(zip(results, targets.tolist())):
        ids = [r.mal_id for r in result.items]
        new += sum(not r.rated for r in result.items[:10])
        if target in ids:
            ranks[n] = ids.index(target)
    return ranks, new / (10 * len(favs))


def measure(engine: Engine, favs: list, targets: np.ndarray) -> dict:
    """Metrics (with standard errors) of the held-out anime's place in the app's top 100, and the new anime's share of top-10 places."""
    ranks, new_top10 = app_places(engine, favs, targets)
    per = {"ndcg@10": np.where(ranks < 10, 1.0 / np.log2(ranks + 2.0), 0.0)}
    for k in (10, 50, 100):
        per[f"recall@{k}"] = (ranks < k).astype(np.float64)
    out = {key: float(v.mean()) for key, v in per.items()}
    out.update({f"se_{key}": float(v.std(ddof=1) / math.sqrt(v.size)) for key, v in per.items()})
    out["new_top10"] = new_top10
    return out


def scale_of(engine: Engine, table: ItemItem, favs: list, sample: int = 500) -> float:
    """Median over (up to ``sample``) users of the model's score spread over the rated anime, over the item-item score's."""
    ratios = []
    rated = np.arange(table.rated)
    for f in favs[:sample]:
        known, _ = engine.split_known(f)
        model = engine.scorer.scores(engine.scorer.encode([known]), np.asarray([0]), rated)[0]
        ease = table.scores(np.asarray(known) - 1)
        if ease.std() > 0:
            ratios.append(float(model.std() / ease.std()))
    return float(np.median(ratios))


def cut_table(engine: Engine, data: Dataset, args: argparse.Namespace, *scorers) -> None:
    """Validation NDCG@10 with each user's favourites cut to each of ``args.cuts`` (held-out anime fixed; seed 0): model, blend, EASE."""
    for cut in [int(c) for c in args.cuts.split(",") if c]:
        favs, targets = requests(engine, data, "val", cut=cut, users=args.users)
        parts = []
        for name, scorer in zip(("model", "blend", "EASE"), scorers):
            engine.scorer = scorer
            m = measure(engine, favs, targets)
            parts.append(f"{name} {m['ndcg@10']:.4f} ± {m['se_ndcg@10']:.4f} (new {m['new_top10']:.3f})")
        print(f"val, {cut} favourites, {len(favs):,} users: " + " | ".join(parts), flush=True)
    engine.scorer = scorers[1]


def row(name: str, m: dict) -> str:
    return (f"| {name} | {m['ndcg@10']:.4f} ± {m['se_ndcg@10']:.4f} | {m['recall@10']:.4f} ± {m['se_recall@10']:.4f} | "
            f"{m['recall@50']:.4f} ± {m['se_recall@50']:.4f} | {m['recall@100']:.4f} ± {m['se_recall@100']:.4f} | {m['new_top10']:.3f} |")


HEADER = "| scorer | NDCG@10 | Recall@10 | Recall@50 | Recall@100 | share of top-10 places without ratings |\n|---|---|---|---|---|---|"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--lambdas", default="100")
    parser.add_argument("--keep", type=int, default=200)
    parser.add_argument("--weights", default="0,0.02,0.035,0.05,0.075,0.1,0.25,0.5,1", help="Blend weights to try (times the scale); the shipped model's 0.035 came from this grid.")
    parser.add_argument("--levels", default="0.98,0.985,0.99,0.995", help="Quantiles of a request's rated item-item scores given to anime without ratings (BlendedScorer.new_level).")
    parser.add_argument("--users", type=int, help="Only the first N users of the split (a quick look).")
    parser.add_argument("--choose-on", type=Path, help="Choose the weight on this folder's validation users (same vocabulary; e.g. a cross-group split's held-out users, on whose validation the peers are tuned) instead of DATA's; EASE is still fitted on DATA's training rows.")
    parser.add_argument("--cuts", default="", help="Also NDCG@10 with favourites cut to these counts (comma-separated; seed 0).")
    parser.add_argument("--cuts-only", action="store_true", help="Only the --cuts table, for the folder's current blend (no grid, nothing written).")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--test", action="store_true", help="Measure the folder's current blend once on the test split.")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, "blas")
    try:
        folder = resolve_model_dir(args.model)
        meta = read_meta(folder)
        if args.data is None:
            from animerec_tui.runs import shipped_training_data

            args.data = shipped_training_data()
        data = load_dataset(args.data)
        engine = Engine(folder, threads=1)
        calibrated = engine.scorer if isinstance(engine.scorer, CalibratedScorer) else None
        shipped = calibrated.inner if calibrated is not None else engine.scorer
        base = shipped.inner if isinstance(shipped, BlendedScorer) else shipped

        def as_shipped(scorer):
            """``scorer`` with the folder's calibration of anime without ratings around it, as the app runs it."""
            return calibrated.around(scorer) if calibrated is not None else scorer

        temperature = float(meta["model_config"].get("vote_temperature", 1.0))
        vocab = np.asarray(meta["vocab"]["item_ids"], dtype=np.int64)
        if not np.array_equal(vocab[: data.num_items], data.item_ids) or data.num_items != engine.num_rated:
            raise UserError(f"{folder} was not trained on {args.data}")
        print(f"# python {' '.join(sys.argv)}\n# data {args.data}; top {TOP} as the app ranks (Filters() defaults)\n")
        split = "test" if args.test else "val"
        chooser = data
        if args.choose_on is not None:
            chooser = load_dataset(args.choose_on)
            if not np.array_equal(chooser.item_ids, data.item_ids):
                raise UserError(f"{args.choose_on} does not share {args.data}'s vocabulary")
            print(f"# the weight chosen on {args.choose_on}'s {split} users\n")
        favs, targets = requests(engine, chooser, split, users=args.users)
        if args.test:
            blend = shipped
            if not isinstance(blend, BlendedScorer):
                raise UserError(f"{folder}: has no blend to measure")
            print(f"{len(favs):,} test users\n\n{HEADER}")
            engine.scorer = as_shipped(base)
            print(row("model alone", measure(engine, favs, targets)))
            engine.scorer = as_shipped(blend)
            print(row(f"blend (coefficient {blend.coefficient:.4g})", measure(engine, favs, targets)))
            engine.scorer = EaseAlone(blend.table, vocab.size)
            print(row(f"EASE alone (lambda {blend.table.meta['lambda']:g}, keep {blend.table.meta['keep']})", measure(engine, favs, targets)))
            return 0
        if args.cuts_only:
            blend = shipped
            if not isinstance(blend, BlendedScorer):
                raise UserError(f"{folder}: has no blend to measure")
            cut_table(engine, data, args, as_shipped(base), as_shipped(blend), EaseAlone(blend.table, vocab.size))
            return 0
        g = gram(*data.splits["train"], data.num_items)
        best = None
        alone = None
        for lam in [float(v) for v in args.lambdas.split(",")]:
            t = time.perf_counter()
            table = ItemItem.prune(fit_ease(g, lam), args.keep, {"lambda": lam, "data_manifest_sha256": manifest_hash(args.data), "item_ids": data.item_ids.tolist()})
            engine.scorer = base
            scale = scale_of(engine, table, favs)
            print(f"lambda {lam:g}: fitted and pruned to {table.meta['keep']} in {time.perf_counter() - t:.1f} s; scale {scale:.4g}\n\n{HEADER}")
            engine.scorer = as_shipped(base)
            alone = measure(engine, favs, targets)
            print(row("model alone (w 0)", alone), flush=True)
            for w in [float(v) for v in args.weights.split(",") if float(v) > 0]:
                # Each w at the level that keeps the share of top-10 places without ratings nearest the model alone's.
                tried = []
                for level in [float(v) for v in args.levels.split(",")]:
                    engine.scorer = as_shipped(BlendedScorer(base, table, w * scale, temperature, level, SHORT_LIST_BLEND))
                    m = measure(engine, favs, targets)
                    print(row(f"w {w:g}, new_level {level:g}", m), flush=True)
                    tried.append((abs(m["new_top10"] - alone["new_top10"]), level, m))
                _, level, m = min(tried, key=lambda t: t[0])
                if best is None or m["ndcg@10"] > best[0]["ndcg@10"]:
                    best = (m, lam, w, scale, table, level)
            engine.scorer = EaseAlone(table, vocab.size)
            print(row("EASE alone", measure(engine, favs, targets)) + "\n", flush=True)
        assert best is not None
        m, lam, w, scale, table, level = best
        print(f"best on validation: lambda {lam:g}, keep {table.meta['keep']}, w {w:g} (scale {scale:.4g}), new_level {level:g}: NDCG@10 {m['ndcg@10']:.4f}")
        engine.scorer = base
        cut_table(engine, data, args, as_shipped(base), as_shipped(BlendedScorer(base, table, w * scale, temperature, level, SHORT_LIST_BLEND)), EaseAlone(table, vocab.size))
        if args.write:
            write_itemitem(folder, table)
            meta["blend"] = {"weight": w, "scale": scale, "new_level": level, "lambda": lam, "keep": table.meta["keep"]}
            atomic_write_bytes(folder / META_FILE, json_bytes(meta), (folder / META_FILE).stat().st_mode & 0o777)
            print(f"wrote {folder / 'itemitem.safetensors'} and meta.json's blend")
    except UserError as error:
        print(f"calibrate_blend: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
