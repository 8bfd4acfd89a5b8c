"""Fit the calibration of the scores of anime without ratings on the cold split, and store it beside a model.

    python scripts/calibrate_new.py MODEL --cold runs/cold/run [--data DATA] [--users N] [--write] [--measure]

The cold split (``benchmarks/catalogue_eval.py cold``): a model of the shipped recipe trained
with a random tenth of the rated anime (seed 0) hidden, so that it knows them from metadata
only, as it knows real anime without ratings. Its validation users (favourites: the training
rows of DATA, the hidden anime included; held-out: the validation anime) are scored as the app
scores them: the cold model plus an item-item blend fitted on the cold training rows with
MODEL's blend settings (weight, new_level; the scale measured again on the cold model).

The fit: a conditional logit of which anime is a user's held-out one, over every anime the
cold model knows but the user's favourites. A rated anime's utility is ``beta * s``; one
without ratings has ``alpha + beta_new * s + beta_anchor * s(anchor) + w . f``, where s is the
score, the anchor is the rated entry of its franchise with the most MAL members (if any) and f
its catalogue features (``FEATURES``). Users whose held-out anime is a hidden one (all of them)
and a sample of the others (weighted back to their share) enter the fit. The scores of anime
without ratings are then mapped onto the rated scale, s' = utility / beta:
``a + b * s + anchor_weight * s(anchor) + offset`` (``animerec_tui.engine.backends.CalibratedScorer``).

A description is *sparse* when it has fewer than three of: two or more genres, a studio, an
episode count, a member count, a MAL score. The fit learns what a missing field and a sparse
description cost from the anime without ratings of the cold model (hidden ones and real ones).

``--write`` stores {a, b, anchor_weight, offset, anchor, ...} as meta.json's ``new_calibration``
in MODEL (offsets and anchors from MODEL's vocabulary and the shipped catalogue).
``--measure`` prints the tables: the calibration table on the cold split's validation users,
what the default share of anime without ratings costs (MODEL, all validation users, as the app
ranks) and what the cold split's hidden-anime users keep of their gain, each before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from calibrate_blend import app_places  # noqa: E402
from calibrate_blend import requests as validation_requests  # noqa: E402

from animerec_tui.defaults import SHORT_LIST_BLEND  # noqa: E402
from animerec_tui.engine import Engine, Filters  # noqa: E402
from animerec_tui.engine.backends import NEW_CALIBRATION, BlendedScorer, CalibratedScorer, RequestScorer  # noqa: E402
from training.catalog import Catalog  # noqa: E402
from training.data import Dataset, load_dataset  # noqa: E402
from training.errors import UserError  # noqa: E402
from training.evaluate import split_inputs  # noqa: E402
from training.fsutil import atomic_write_bytes  # noqa: E402
from training.itemitem import ItemItem, fit_ease, gram  # noqa: E402
from training.model_files import META_FILE, MODEL_FILE, json_bytes, read_meta, resolve_model_dir  # noqa: E402

FEATURES = ("log10 members - 4", "members unknown", "missing fields (of 5)", "sparse description", "MAL score - 7", "has an English title", "has a rated franchise entry")


def cold_hidden(data: Dataset) -> np.ndarray:
    """The cold split's hidden anime as the data's dense ids, sorted: a random tenth of the rated
    anime (seed 0), which ``benchmarks/catalogue_eval.py cold`` hides from training."""
    rng = np.random.default_rng(0)
    return np.sort(rng.choice(np.arange(1, data.num_items + 1), size=data.num_items // 10, replace=False))


def hidden_ids(data: Dataset) -> np.ndarray:
    """The MAL ids the cold split hides (``cold_hidden``)."""
    return data.item_ids[cold_hidden(data) - 1]


def richness(entry: dict) -> int:
    """How many of the five fields a description has: two or more genres, a studio, episodes, members, a MAL score."""
    return int(len(entry.get("genres") or []) >= 2) + int(bool(entry.get("studios"))) + int(bool(entry.get("episodes"))) \
        + int(bool(entry.get("members"))) + int(entry.get("score") is not None)


def sparse(entry: dict) -> bool:
    """A sparse description: fewer than three of the five fields (``richness``)."""
    return richness(entry) < 3


def features(entries: list[dict], anchored: np.ndarray) -> np.ndarray:
    """(len(entries), len(FEATURES)) float64: each anime's catalogue features (``FEATURES``)."""
    out = np.zeros((len(entries), len(FEATURES)))
    for n, e in enumerate(entries):
        members, score, rich = e.get("members") or 0, e.get("score"), richness(e)
        out[n] = [math.log10(1 + members) - 4 if members else 0.0, float(not members), 5 - rich, float(rich < 3),
                  float(score) - 7 if score is not None else 0.0, float(bool(e.get("title_english"))), float(anchored[n])]
    return out


def anchors(item_ids: np.ndarray, catalog: Catalog, rated: int) -> np.ndarray:
    """For each column >= ``rated``: the rated column of its franchise with the most MAL members, or -1."""
    best: dict[int, tuple[int, int]] = {}
    for column in range(rated):
        e = catalog.by_id[int(item_ids[column])]
        franchise, members = int(e.get("franchise") or e["mal_id"]), int(e.get("members") or 0)
        if franchise not in best or members > best[franchise][0]:
            best[franchise] = (members, column)
    out = np.full(item_ids.size - rated, -1, dtype=np.int64)
    for n, mal in enumerate(item_ids[rated:].tolist()):
        e = catalog.by_id[int(mal)]
        out[n] = best.get(int(e.get("franchise") or e["mal_id"]), (0, -1))[1]
    return out


def cold_engine(checkpoint: Path, readout: dict, stack: contextlib.ExitStack) -> Engine:
    """The cold model with the target model's readout (vote temperature, bias weight: set after
    training, on validation), so that its scores are on the scale the calibration is applied to."""
    meta = read_meta(checkpoint)
    if all(meta["model_config"].get(key) == value for key, value in readout.items()):
        return Engine(checkpoint, threads=1)
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="calibrate-new-")))
    for name in (MODEL_FILE,):
        (folder / name).symlink_to((checkpoint / name).resolve())
    meta["model_config"] = {**meta["model_config"], **readout}
    (folder / META_FILE).write_bytes(json_bytes(meta))
    print(f"cold model read with the target's readout {readout}")
    return Engine(folder, threads=1)


def cold_blend(engine: Engine, data: Dataset, hidden: np.ndarray, blend: dict, temperature: float, favs: list) -> BlendedScorer:
    """The target model's blend rebuilt for the cold model: EASE on the training rows without the hidden anime."""
    rated = engine.num_rated
    column = np.zeros(int(data.item_ids.max()) + 1, dtype=np.int64)
    column[engine.item_ids[:rated]] = np.arange(1, rated + 1)
    offsets, items = data.splits["train"]
    dense = column[data.item_ids[items - 1]]
    keep = dense > 0
    owner = np.repeat(np.arange(offsets.size - 1), np.diff(offsets))[keep]
    kept_offsets = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=offsets.size - 1))]).astype(np.int64)
    table = ItemItem.prune(fit_ease(gram(kept_offsets, dense[keep], rated), float(blend["lambda"])), int(blend["keep"]), {"lambda": float(blend["lambda"])})
    ratios = []
    for f in favs[:500]:  # the scale as calibrate_blend.scale_of measures it
        known, _ = engine.split_known(f)
        model = engine.scorer.scores(engine.scorer.encode([known]), np.asarray([0]), np.arange(rated))[0]
        ease = table.scores(np.asarray(known) - 1)
        if ease.std() > 0:
            ratios.append(float(model.std() / ease.std()))
    return BlendedScorer(engine.scorer, table, float(blend["weight"]) * float(np.median(ratios)), temperature, float(blend.get("new_level", 0.0)), SHORT_LIST_BLEND)


def requests(engine: Engine, data: Dataset, users: np.ndarray) -> tuple[list[list[int]], np.ndarray]:
    """Validation users ``users`` (indices among them): favourites (their training rows, MAL ids) and held-out MAL ids."""
    favs, targets = validation_requests(engine, data, "val")
    return [favs[u] for u in users.tolist()], targets[users]


def full_scores(scorer: RequestScorer, engine: Engine, favs: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(users, columns) float32: every column's score, and the same with a user's favourites -inf (never shown)."""
    size = engine.item_ids.size
    raw = np.empty((len(favs), size), dtype=np.float32)
    for start in range(0, len(favs), 64):
        rows = [engine.split_known(f)[0] for f in favs[start : start + 64]]
        raw[start : start + len(rows)] = scorer.scores(scorer.encode(rows), np.arange(len(rows)), np.arange(size))
    shown = raw.copy()
    for n, f in enumerate(favs):
        shown[n, np.asarray(engine.split_known(f)[0]) - 1] = -np.inf
    return raw, shown


class Fit:
    """The conditional logit over a cold score matrix; theta = [beta, beta_new, alpha, beta_anchor, beta_missing, w...]:
    an anime without ratings has utility alpha + (beta_new + beta_missing * missing fields) * s + beta_anchor * s(anchor) + w . f."""

    def __init__(self, raw: np.ndarray, scores: np.ndarray, targets: np.ndarray, weights: np.ndarray, rated: int, feats: np.ndarray, anchor: np.ndarray) -> None:
        self.raw, self.scores, self.targets, self.weights, self.rated, self.feats, self.anchor = raw, scores, targets, weights, rated, feats, anchor
        self.missing = feats[:, FEATURES.index("missing fields (of 5)")]
        self.dims = 5 + feats.shape[1]

    def _new_x(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), unrated, dims - 1) features of the anime without ratings: s, 1, s(anchor), s * missing fields, f."""
        s = self.scores[rows, self.rated :].astype(np.float64)
        has = self.anchor >= 0
        anchored = np.where(has[None, :], self.raw[rows][:, np.maximum(self.anchor, 0)], 0.0)  # a favourite's too, as the engine scores it
        ones = np.ones_like(s)
        return np.concatenate([s[..., None], ones[..., None], anchored[..., None], np.where(np.isfinite(s), s * self.missing[None, :], s)[..., None], np.broadcast_to(self.feats, s.shape + self.feats.shape[1:])], axis=2)

    def loglik(self, theta: np.ndarray, derivatives: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
        total, grad, hess = 0.0, np.zeros(self.dims), np.zeros((self.dims, self.dims))
        for start in range(0, self.scores.shape[0], 32):
            rows = np.arange(start, min(start + 32, self.scores.shape[0]))
            w = self.weights[rows]
            sr = self.scores[rows, : self.rated].astype(np.float64)
            xn = self._new_x(rows)
            zr = theta[0] * np.where(np.isfinite(sr), sr, 0.0)
            zr[~np.isfinite(sr)] = -np.inf
            shown = np.isfinite(xn[..., 0])
            xn[~np.isfinite(xn)] = 0.0
            zn = xn @ theta[1:]
            zn[~shown] = -np.inf
            top = np.maximum(zr.max(axis=1), zn.max(axis=1))[:, None]
            er, en = np.exp(zr - top), np.exp(zn - top)
            norm = er.sum(axis=1) + en.sum(axis=1)
            pr, pn = er / norm[:, None], en / norm[:, None]
            t = self.targets[rows]
            x_t = np.zeros((rows.size, self.dims))
            z_t = np.zeros(rows.size)
            for n, col in enumerate(t.tolist()):
                if col < self.rated:
                    x_t[n, 0] = sr[n, col]
                    z_t[n] = zr[n, col]
                else:
                    x_t[n, 1:] = xn[n, col - self.rated]
                    z_t[n] = zn[n, col - self.rated]
            total += float((w * (z_t - top[:, 0] - np.log(norm))).sum())
            if not derivatives:
                continue
            sr0 = np.where(np.isfinite(sr), sr, 0.0)
            mean = np.concatenate([(pr * sr0).sum(axis=1)[:, None], np.einsum("un,und->ud", pn, xn)], axis=1)
            grad += (w[:, None] * (x_t - mean)).sum(axis=0)
            second = np.zeros((rows.size, self.dims, self.dims))
            second[:, 0, 0] = (pr * sr0 * sr0).sum(axis=1)
            second[:, 1:, 1:] = np.einsum("un,und,une->ude", pn, xn, xn)
            hess -= np.einsum("u,ude->de", w, second - mean[:, :, None] * mean[:, None, :])
        return total, grad, hess

    def newton(self, free: np.ndarray, ridge: float = 1.0) -> np.ndarray:
        """theta maximising the log-likelihood minus ``ridge`` / 2 |w|^2, the parameters not ``free`` at 0 (the slopes start at 1)."""
        theta = np.zeros(self.dims)
        theta[0], theta[1] = 1.0, 1.0
        penal = np.zeros(self.dims)
        penal[5:] = ridge
        value = self.loglik(theta, False)[0] - 0.5 * float((penal * theta * theta).sum())
        for _ in range(30):
            _, g, h = self.loglik(theta)
            g, h = (g - penal * theta)[free], (h - np.diag(penal))[np.ix_(free, free)]
            step = np.zeros(self.dims)
            step[free] = np.linalg.solve(h, -g)
            for _halve in range(20):
                trial = theta + step
                new = self.loglik(trial, False)[0] - 0.5 * float((penal * trial * trial).sum())
                if new >= value - 1e-9:
                    break
                step /= 2
            theta, gain, value = trial, new - value, new
            if gain < 1e-6 * max(1.0, abs(value)):
                break
        return theta


def fit(raw: np.ndarray, scores: np.ndarray, targets: np.ndarray, weights: np.ndarray, rated: int, feats: np.ndarray, anchor: np.ndarray) -> tuple[np.ndarray, float]:
    """theta of the conditional logit (beta_anchor kept >= 0: else refitted at 0) and its weighted mean log-likelihood."""
    model = Fit(raw, scores, targets, weights, rated, feats, anchor)
    free = np.ones(model.dims, dtype=bool)
    theta = model.newton(free)
    if theta[3] < 0:
        free[3] = False
        theta = model.newton(free)
    return theta, model.loglik(theta, False)[0] / float(weights.sum())


def calibrated(raw: np.ndarray, scores: np.ndarray, rated: int, spec: dict) -> np.ndarray:
    """``scores`` with the columns >= ``rated`` mapped as ``CalibratedScorer`` maps them (favourites stay -inf)."""
    out = scores.copy()
    anchor = np.asarray(spec["anchor"])
    anchored = np.where(anchor[None, :] >= 0, raw[:, np.maximum(anchor, 0)], 0.0)
    out[:, rated:] = spec["a"] + np.asarray(spec["b"])[None, :] * scores[:, rated:] + np.asarray(spec["offset"])[None, :] + spec["anchor_weight"] * anchored
    return out


def spec_for(theta: np.ndarray, item_ids: np.ndarray, catalog: Catalog, rated: int) -> dict:
    """meta.json's ``new_calibration`` for a model with vocabulary ``item_ids`` (``rated`` of them rated)."""
    anchor = anchors(item_ids, catalog, rated)
    feats = features([catalog.by_id[int(m)] for m in item_ids[rated:]], anchor >= 0)
    beta = float(theta[0])
    offset = feats @ theta[5:] / beta
    # The slope, smaller for a sparser description; kept above a twentieth of a full description's so the map stays increasing.
    slope = (float(theta[1]) + float(theta[4]) * feats[:, FEATURES.index("missing fields (of 5)")]) / beta
    slope = np.maximum(slope, abs(float(theta[1])) / beta / 20)
    return {"a": float(theta[2]) / beta, "b": [round(float(v), 5) for v in slope], "anchor_weight": float(theta[3]) / beta,
            "offset": [round(float(v), 5) for v in offset], "anchor": anchor.tolist()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--cold", type=Path, required=True, help="The cold split's run (benchmarks/catalogue_eval.py cold), e.g. runs/cold/run.")
    parser.add_argument("--data", type=Path)
    parser.add_argument("--others", type=int, default=1500, help="Validation users whose held-out anime is rated that enter the fit (every hidden-anime one does).")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--measure", action="store_true", help="Also the calibration, cost and gain tables (Markdown).")
    parser.add_argument("--users", type=int, default=1500, help="--measure: validation users of the full data for the cost table.")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, "blas")
    try:
        stack = contextlib.ExitStack()
        folder = resolve_model_dir(args.model)
        meta = read_meta(folder)
        if args.data is None:
            from animerec_tui.runs import shipped_training_data

            args.data = shipped_training_data()
        data = load_dataset(args.data)
        readout = {key: meta["model_config"][key] for key in ("vote_temperature", "bias_weight") if key in meta["model_config"]}
        cold = cold_engine(resolve_model_dir(args.cold), readout, stack)
        catalog = cold.catalog
        if meta.get("blend") is None:
            raise UserError(f"{folder}: has no item-item blend; run scripts/calibrate_blend.py --write first")
        vocab = np.asarray(meta["vocab"]["item_ids"], dtype=np.int64)
        if not np.array_equal(vocab[: data.num_items], data.item_ids):
            raise UserError(f"{folder} was not trained on {args.data}")
        hidden = hidden_ids(data)
        is_hidden_col = np.isin(cold.item_ids, hidden)
        if int(is_hidden_col[: cold.num_rated].sum()) or cold.num_rated != data.num_items - hidden.size:
            raise UserError(f"{args.cold} is not the cold split of {args.data} (catalogue_eval.py cold)")
        print(f"# python {' '.join(sys.argv)}\n# data {args.data}; cold model {resolve_model_dir(args.cold)}\n")
        # Every hidden-anime validation user, and a sample of the others weighted back to their share.
        who, _, _, targets_all = split_inputs(data, "val")
        target_hidden = np.isin(data.item_ids[targets_all - 1], hidden)
        rng = np.random.default_rng(0)
        others = np.flatnonzero(~target_hidden)
        sample = np.sort(rng.choice(others, size=min(args.others, others.size), replace=False))
        users = np.concatenate([np.flatnonzero(target_hidden), sample])
        weights = np.where(target_hidden[users], 1.0, others.size / sample.size)
        favs, target_ids = requests(cold, data, users)
        temperature = float(meta["model_config"].get("vote_temperature", 1.0))
        started = time.perf_counter()
        blended = cold_blend(cold, data, hidden, meta["blend"], temperature, favs)
        raw, scores = full_scores(blended, cold, favs)
        targets = np.asarray([cold.dense[int(m)] - 1 for m in target_ids])
        print(f"{len(users):,} cold validation users ({int(target_hidden.sum())} of them with a hidden held-out anime, of "
              f"{target_hidden.size:,}; the others weighted {others.size / sample.size:.2f}); scored in {time.perf_counter() - started:.0f} s", flush=True)
        rated = cold.num_rated
        anchor = anchors(cold.item_ids, catalog, rated)
        feats = features([catalog.by_id[int(m)] for m in cold.item_ids[rated:]], anchor >= 0)
        started = time.perf_counter()
        theta, loglik = fit(raw, scores, targets, weights, rated, feats, anchor)
        none = Fit(raw, scores, targets, weights, rated, feats, anchor).loglik(np.r_[1.0, 1.0, np.zeros(3 + feats.shape[1])], False)[0] / weights.sum()
        print(f"fitted in {time.perf_counter() - started:.0f} s: mean log-likelihood {loglik:.4f} (uncalibrated {none:.4f})")
        names = ("beta (rated)", "beta_new", "alpha", "beta_anchor", "beta_missing (slope per missing field)") + FEATURES
        print("| parameter | value |\n|---|---|\n" + "\n".join(f"| {n} | {v:.4f} |" for n, v in zip(names, theta)))
        spec = spec_for(theta, vocab, catalog, int(meta["model_config"]["num_rated"]))
        spec["fit"] = {"theta": dict(zip(names, [round(float(v), 5) for v in theta])), "features": list(FEATURES),
                       "sparse": "fewer than 3 of: >= 2 genres, a studio, episodes, members, a MAL score",
                       "anchor": "the rated entry of the franchise with the most MAL members",
                       "cold_users": int(len(users)), "cold_hidden_users": int(target_hidden.sum()), "loglik": round(loglik, 5),
                       "cold_run": str(args.cold), "data": str(args.data)}
        print(f"\na {spec['a']:.4f}, b {min(spec['b']):.4f} to {max(spec['b']):.4f}, anchor_weight {spec['anchor_weight']:.4f}; "
              f"{sum(v >= 0 for v in spec['anchor']):,} of {len(spec['anchor']):,} anime without ratings in {folder.name} have a rated franchise entry")
        if args.measure:
            cold_spec = {**spec_for(theta, cold.item_ids, catalog, rated), "fit": spec["fit"]}
            calibration_table(raw, scores, targets, weights, rated, cold_spec)
            franchise_table(raw, scores, targets, rated, cold_spec)
            gain_table(cold, blended, cold_spec, favs, target_ids, target_hidden[users], weights)
            mine = target_hidden[users]
            stripped_table(cold, blended, [f for f, h in zip(favs, mine) if h], targets[mine], theta, np.flatnonzero(is_hidden_col), (raw[mine], scores[mine]))
            cost_table(folder, spec, data, args.users)
        if args.write:
            meta[NEW_CALIBRATION] = spec
            atomic_write_bytes(folder / META_FILE, json_bytes(meta), (folder / META_FILE).stat().st_mode & 0o777)
            print(f"wrote meta.json's {NEW_CALIBRATION} in {folder}")
    except UserError as error:
        print(f"calibrate_new: {error}", file=sys.stderr)
        return 1
    finally:
        stack.close()
    return 0


BUCKETS = ((1, 1), (2, 5), (6, 10), (11, 20), (21, 50))


def calibration_table(raw: np.ndarray, scores: np.ndarray, targets: np.ndarray, weights: np.ndarray, rated: int, spec: dict) -> None:
    """Per rank among their own kind: the held-out anime's share (weighted hit rate) and mean score, rated against without ratings."""
    after = calibrated(raw, scores, rated, spec)
    total = float(weights.sum())

    def by_rank(s: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """(users, 50) the columns ranked 1..50 in s[:, lo:hi] and their scores."""
        part = s[:, lo:hi]
        top = np.argsort(-part, axis=1)[:, :50]
        return top + lo, np.take_along_axis(part, top, axis=1)

    rows = []
    for name, s, lo, hi in (("rated", scores, 0, rated), ("without ratings, before", scores, rated, scores.shape[1]), ("without ratings, after", after, rated, scores.shape[1])):
        cols, values = by_rank(s, lo, hi)
        hit = cols == targets[:, None]
        rows.append((name, [(float((weights[:, None] * hit[:, a - 1 : b]).sum() / total / (b - a + 1)), float(np.average(values[:, a - 1 : b].mean(axis=1), weights=weights))) for a, b in BUCKETS]))
    print("\n### Calibration: hit rate per place among their own kind (cold split, validation)\n")
    print("| rank among own kind | " + " | ".join(f"{name}: hit rate / mean score" for name, _ in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for n, (a, b) in enumerate(BUCKETS):
        print(f"| {a if a == b else f'{a}-{b}'} | " + " | ".join(f"{cells[n][0]:.4f} / {cells[n][1]:.2f}" for _, cells in rows) + " |")
    # The calibration itself: hit rate of anime by score band, rated against without ratings.
    finite = np.isfinite(scores[:, :rated])
    edges = np.quantile(np.where(finite, scores[:, :rated], np.nan)[~np.isnan(np.where(finite, scores[:, :rated], np.nan))], [0.99, 0.995, 0.999, 0.9995, 0.9999, 1.0])
    print("\n### Hit rate per anime by score band (bands: quantiles of the rated anime's scores)\n")
    print("| score band | rated: anime, hit rate | without ratings before: anime, hit rate | without ratings after: anime, hit rate |\n|---|---|---|---|")
    bands = list(zip(edges[:-1], np.r_[edges[1:-1], np.inf]))
    for lo, hi in bands:
        cells = []
        for s, part in ((scores, slice(0, rated)), (scores, slice(rated, None)), (after, slice(rated, None))):
            block = s[:, part]
            inside = (block >= lo) & (block < hi)
            mass = float((weights[:, None] * inside).sum())
            first = part.start or 0
            hits = float(sum(weights[u] for u, t in enumerate(targets.tolist()) if first <= t < first + block.shape[1] and inside[u, t - first]))
            cells.append(f"{mass / total:.2f} per user, {hits / mass if mass else 0:.4f}")
        print(f"| {lo:.2f} to {hi:.2f} | " + " | ".join(cells) + " |")


def franchise_table(raw: np.ndarray, scores: np.ndarray, targets: np.ndarray, rated: int, spec: dict) -> None:
    """Users whose held-out anime is a hidden one with a rated franchise entry: its place among the anime without ratings, raw, calibrated without the franchise terms, calibrated."""
    anchor = np.asarray(spec["anchor"])
    users = np.flatnonzero((targets >= rated) & (anchor[np.maximum(targets - rated, 0)] >= 0))
    has = float(spec["fit"]["theta"]["has a rated franchise entry"]) / float(spec["fit"]["theta"]["beta (rated)"])
    plain = {**spec, "anchor_weight": 0.0, "offset": (np.asarray(spec["offset"]) - has * (anchor >= 0)).tolist()}
    print(f"\n### Franchise anchors: {users.size} users whose held-out anime is a hidden one with a rated franchise entry (its place among the anime without ratings)\n")
    print("| scores | MRR | hit@10 | hit@50 |\n|---|---|---|---|")
    for name, s in (("raw", scores), ("calibrated, franchise terms left out", calibrated(raw, scores, rated, plain)), ("calibrated", calibrated(raw, scores, rated, spec))):
        part = s[users, rated:]
        mine = part[np.arange(users.size), targets[users] - rated]
        place = (part > mine[:, None]).sum(axis=1)
        print(f"| {name} | {float((1.0 / (place + 1)).mean()):.4f} | {float((place < 10).mean()):.4f} | {float((place < 50).mean()):.4f} |")


STRIPPED = ("studios", "episodes", "members", "score")
"""What a description of a 2023+ anime in the catalogue lacks (1,138 of 1,143 are sparse): the stripped test drops these."""


def stripped_table(cold: Engine, blended: BlendedScorer, favs: list, targets: np.ndarray, theta: np.ndarray, hidden_cols: np.ndarray, described: tuple[np.ndarray, np.ndarray]) -> None:
    """The hidden anime described as the catalogue describes anime of 2023 on (genres, type, year, flags;
    no studio, episodes, members or score): the cold model's metadata tokens of those anime
    replaced, the hidden-anime users scored again; the held-out anime's place, raw and calibrated."""
    from training.genres import item_tokens, token_weights
    from training.numpy_model import NumpyModel, NumpyScorer

    inner = blended.inner
    if not isinstance(inner, NumpyScorer):
        print("\n(stripped descriptions: needs the numpy path)")
        return
    model = inner.model
    names = list(cold.meta["genres"])
    index = {name: n + 1 for n, name in enumerate(names)}
    w = dict(model.w)
    tokens, weights = w["item_genres"].copy(), w["genre_weights"].copy()
    stripped = []
    for column in hidden_cols.tolist():
        entry = {k: v for k, v in cold.by_id[int(cold.item_ids[column])].items() if k not in STRIPPED}
        stripped.append(entry)
        row = [index[t] for t in item_tokens(entry, unknown=True) if t in index][: tokens.shape[1]]
        tokens[column + 1] = 0
        tokens[column + 1, : len(row)] = row
        weights[column + 1] = token_weights(names, tokens[column + 1 : column + 2])[0]
    w["item_genres"], w["genre_weights"] = tokens, weights
    scorer = BlendedScorer(NumpyScorer(NumpyModel(model.config, w)), blended.table, blended.coefficient, blended.temperature, blended.new_level, blended.short)
    rated = cold.num_rated
    raw, scores = full_scores(scorer, cold, favs)
    spec = spec_for(theta, cold.item_ids, cold.catalog, rated)
    feats_at = {int(c) - rated: n for n, c in enumerate(hidden_cols.tolist())}
    anchor = np.asarray(spec["anchor"])
    redo = features(stripped, anchor[hidden_cols - rated] >= 0)
    offset, slope = np.asarray(spec["offset"]), np.asarray(spec["b"])
    offset[list(feats_at)] = redo @ theta[5:] / theta[0]
    slope[list(feats_at)] = np.maximum((theta[1] + theta[4] * redo[:, FEATURES.index("missing fields (of 5)")]) / theta[0], abs(theta[1]) / theta[0] / 20)
    spec["offset"], spec["b"] = offset.tolist(), slope.tolist()
    after = calibrated(raw, scores, rated, spec)
    print(f"\n### Hidden anime described as 2023+ anime are ({len(favs)} hidden-anime users; every hidden anime without studio, episodes, members, score)\n")
    print("| scores | held-out anime's median place among all anime | in the top 10 of all | median place among those without ratings |\n|---|---|---|---|")
    full = calibrated(described[0], described[1], rated, spec_for(theta, cold.item_ids, cold.catalog, rated))
    for name, s in (("as the catalogue describes them, raw", described[1]), ("as the catalogue describes them, calibrated", full), ("stripped, raw", scores), ("stripped, calibrated", after)):
        mine = s[np.arange(len(favs)), targets]
        place = (s > mine[:, None]).sum(axis=1)
        own = (s[:, rated:] > mine[:, None]).sum(axis=1)
        print(f"| {name} | {int(np.median(place))} | {float((place < 10).mean()):.4f} | {int(np.median(own))} |")


def ranks_in(engine: Engine, favs: list, target_ids: np.ndarray, filters: Filters) -> np.ndarray:
    """0-based place of each held-out anime in the app's top 100 (100 when absent)."""
    return app_places(engine, favs, target_ids, filters)[0]


def ndcg(ranks: np.ndarray) -> float:
    return float(np.where(ranks < 10, 1.0 / np.log2(ranks + 2.0), 0.0).mean()) if ranks.size else 0.0


SHARES = (0.0, 0.1, 0.2, 0.3, 1.0)


def gain_table(cold: Engine, blended: BlendedScorer, spec: dict, favs: list, target_ids: np.ndarray, hidden: np.ndarray, weights: np.ndarray) -> None:
    """The cold split, as the app ranks: NDCG@10 of hidden-anime users and the others per new_share, before and after."""
    print("\n### The cold split as the app ranks (validation; NDCG@10 of the app's list; all users: the others weighted back to their share)\n")
    print("| `new_share` | hidden-anime users, before | after | other users, before | after | all users, before | after |\n|---|---|---|---|---|---|---|")
    rated = cold.num_rated
    after = CalibratedScorer(blended, rated, spec["a"], np.asarray(spec["b"], dtype=np.float32), np.asarray(spec["offset"], dtype=np.float32), np.asarray(spec["anchor"]), spec["anchor_weight"])
    for share in SHARES:
        cells = []
        for scorer in (blended, after):
            cold.scorer = scorer
            r = ranks_in(cold, favs, target_ids, replace(Filters(), new_share=share))
            gains = np.where(r < 10, 1.0 / np.log2(r + 2.0), 0.0)
            cells.append((ndcg(r[hidden]), ndcg(r[~hidden]), float(np.average(gains, weights=weights))))
        print(f"| {share:.1f} | {cells[0][0]:.4f} | {cells[1][0]:.4f} | {cells[0][1]:.4f} | {cells[1][1]:.4f} | {cells[0][2]:.4f} | {cells[1][2]:.4f} |", flush=True)


def cost_table(folder: Path, spec: dict, data: Dataset, users: int) -> None:
    """MODEL on the full data's validation users as the app ranks: new_share 0 against the default, before and after."""
    engine = Engine(folder, threads=1)
    base = engine.scorer.inner if isinstance(engine.scorer, CalibratedScorer) else engine.scorer
    after = CalibratedScorer(base, engine.num_rated, spec["a"], np.asarray(spec["b"], dtype=np.float32), np.asarray(spec["offset"], dtype=np.float32), np.asarray(spec["anchor"]), spec["anchor_weight"])
    favs, targets = requests(engine, data, np.arange(min(users, int((np.diff(data.splits["val"][0]) > 0).sum()))))
    print(f"\n### The cost of showing anime without ratings ({folder}, {len(favs):,} validation users, as the app ranks)\n")
    print("| `new_share` | NDCG@10 before | NDCG@10 after | share of top-10 places without ratings, before | after | seconds, before | after |\n|---|---|---|---|---|---|---|")
    for share in SHARES:
        cells = []
        for scorer in (base, after):
            engine.scorer = scorer
            started = time.perf_counter()
            ranks, new_top10 = app_places(engine, favs, targets, replace(Filters(), new_share=share))
            cells.append((ndcg(ranks), new_top10, time.perf_counter() - started))
        print(f"| {share:.1f} | {cells[0][0]:.4f} | {cells[1][0]:.4f} | {cells[0][1]:.3f} | {cells[1][1]:.3f} | {cells[0][2]:.1f} | {cells[1][2]:.1f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
