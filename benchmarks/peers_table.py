"""The model against its peers, every NDCG@10 with its standard error (issue 28, parts 3-5).

    python benchmarks/cross_group.py build --out runs/cross                 # the two cross-group splits' data
    OMP_NUM_THREADS=1 animerec train --data runs/cross/crawl-out/train --out runs/cross/crawl-out/run --epochs 25 --average-epochs 2 --genres
    OMP_NUM_THREADS=1 animerec train --data runs/cross/era-out/train --out runs/cross/era-out/run --epochs 25 --average-epochs 2 --genres
    python benchmarks/peers_table.py [--parts peers,model,app,cross,blend] [--peers ...] [--tune-users N] [--json runs/peers_table.json]

Each part may run alone (``--parts app``), into the same JSON (a part replaces only its own
figures) or into its own (``--json``) joined later with ``--merge``; ``--parts none --merge
A --merge B`` only prints. ``cross`` needs the two runs above; ``blend`` (the cross-group
models with an item-item blend, ``scripts/calibrate_blend.py``) needs ``cross`` first.

Three tables, all full ranking (each user's held-out anime against every anime of the data
but the user's inputs; ties count against it), NDCG@10 and Recall@10 with standard errors
(std of the per-user value / sqrt(users)):

1. The shipped split (Data/training: validation and test). Peers from ``training.peers``,
   each tuned on validation NDCG@10 over its grid (fitted on the validation inputs), then
   fitted once with the chosen values on the test inputs. The model: Data/model alone (its
   readout as shipped, over the data's anime), and "as the app ranks": the same favourites
   through ``Engine.recommend_many`` with the default ``Filters()`` (the whole catalogue,
   anime without ratings included, one per franchise, adult titles hidden; whatever the
   engine ships at the commit measured), its top 10 read for the held-out anime.
2. By input length: the same users with their input cut to 1, 2, 3, 5 and 10 favourites
   (each user's favourites shuffled once with ``--seed``; cut n keeps the first n, so the cuts
   are nested; users with fewer favourites than n are left out of that row). The held-out
   anime and the anime ranked against it stay those of the full input: the favourites left
   out are excluded from the ranking too (passed to the engine as ``Filters.exclude``), so a
   row differs from the full-input row only in what the scorer is told. Peers keep their
   full-input fit and chosen values and score the cut list (fold-in).
3. Beyond the training distribution (``benchmarks/cross_group.py``): models trained on one
   group of users, scored on the other group's users by fold-in. Peers are fitted on the
   rows the model trained on (the training group's train rows) and tuned on the held-out
   group's validation items (``--tune-users``: a seeded sample of them); the model's readout
   (vote temperature, bias weight) is shown as trained and as chosen on the same validation
   items (``scripts/calibrate_readout.py``'s grid); "as the app ranks" is the best checkpoint
   exported in fp16 with that readout (``runs/cross/<split>/model``), and with ``blend`` an
   item-item table fitted on the training group's train rows, its weight chosen (``--blend-on
   heldout``, the default) on the held-out group's validation users, as the peers' values and
   the readout are, or (``--blend-on train``) on the training group's.

The test split is read once per scorer, after every choice is made on validation.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from training.data import Dataset, gather_ranges, load_dataset  # noqa: E402
from training.evaluate import full_ranks, ndcg_per_user, split_inputs  # noqa: E402

CUTS = (1, 2, 3, 5, 10)
K = 10
PEER_ORDER = ("popularity", "ease", "itemknn", "rp3beta", "vae")
SOURCES = ("training/peers.py", "training/evaluate.py", "training/itemitem.py", "animerec_tui/engine/core.py", "animerec_tui/engine/backends.py", "benchmarks/peers_table.py")
"""The files whose content a figure depends on, hashed into each part's record (some may be uncommitted when it runs)."""


# --- what is scored: a query CSR (what the scorer is told), an exclusion CSR, the targets ------------


class Query:
    """Users to score: their input (CSR over rows 0..U-1, dense ids), the items the ranking
    leaves out (the input, or more), and one held-out target each."""

    def __init__(self, offsets: np.ndarray, items: np.ndarray, targets: np.ndarray, ex_offsets: np.ndarray | None = None, ex_items: np.ndarray | None = None) -> None:
        self.offsets, self.items, self.targets = offsets, items, targets
        self.ex_offsets = offsets if ex_offsets is None else ex_offsets
        self.ex_items = items if ex_items is None else ex_items

    def __len__(self) -> int:
        return int(self.targets.size)

    def row(self, u: int) -> np.ndarray:
        return self.items[self.offsets[u] : self.offsets[u + 1]]

    def excluded_extra(self, u: int) -> np.ndarray:
        """What the ranking leaves out beyond the input (the favourites a cut dropped)."""
        return np.setdiff1d(self.ex_items[self.ex_offsets[u] : self.ex_offsets[u + 1]], self.row(u))


def csr_rows(offsets: np.ndarray, items: np.ndarray, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    counts = offsets[users + 1] - offsets[users]
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), items[gather_ranges(offsets[users], counts)]


def split_query(data: Dataset, split: str) -> Query:
    """The users of ``split`` with a held-out item, their input as ``animerec eval`` gives it."""
    users, in_off, in_items, targets = split_inputs(data, split)
    offsets, items = csr_rows(in_off, in_items, users)
    return Query(offsets, items, targets.astype(np.int64))


def shuffled(query: Query, seed: int) -> Query:
    """Each user's input in a seeded random order (the order the cuts take favourites in)."""
    rng = np.random.default_rng(seed)
    items = query.items.copy()
    for u in range(len(query)):
        rng.shuffle(items[query.offsets[u] : query.offsets[u + 1]])
    return Query(query.offsets, items, query.targets)


def sample(query: Query, size: int, seed: int) -> Query:
    """``size`` of the users (all when ``size`` is 0 or more than there are), drawn with ``seed``."""
    if not 0 < size < len(query):
        return query
    users = np.sort(np.random.default_rng(seed).choice(len(query), size=size, replace=False))
    offsets, items = csr_rows(query.offsets, query.items, users)
    ex_off, ex_items = csr_rows(query.ex_offsets, query.ex_items, users)
    return Query(offsets, items, query.targets[users], ex_off, ex_items)


def cut(query: Query, n: int) -> Query:
    """The users with at least ``n`` favourites, told their first ``n``, the rest still excluded."""
    lengths = np.diff(query.offsets)
    users = np.flatnonzero(lengths >= n)
    ex_off, ex_items = csr_rows(query.offsets, query.items, users)
    offsets = np.arange(users.size + 1, dtype=np.int64) * n
    items = query.items[(query.offsets[users][:, None] + np.arange(n)[None, :]).ravel()]
    return Query(offsets, items, query.targets[users], ex_off, ex_items)


# --- ranking and summaries -------------------------------------------------------------------------


def score_ranks(scorer, query: Query, batch: int = 256) -> np.ndarray:
    """0-based rank of each target, full ranking; ``scorer(users, offsets, items)`` as in training.evaluate."""
    ranks = np.empty(len(query), dtype=np.int64)
    for start in range(0, len(query), batch):
        rows = np.arange(start, min(len(query), start + batch))
        scores = np.array(scorer(rows, query.offsets, query.items), dtype=np.float32)
        ranks[rows] = full_ranks(scores, rows, query.ex_offsets, query.ex_items, query.targets[rows])
    return ranks


def summary(ranks: np.ndarray) -> dict:
    """NDCG@10 and Recall@10 with standard errors (std of the per-user values, ddof 1, / sqrt(n))."""
    ranks = np.asarray(ranks, dtype=np.float64)
    hit = ranks < K
    ndcg = ndcg_per_user(ranks, K)
    root = np.sqrt(ranks.size)
    return {
        "users": int(ranks.size),
        "ndcg@10": float(ndcg.mean()),
        "ndcg@10_se": float(ndcg.std(ddof=1) / root),
        "recall@10": float(hit.mean()),
        "recall@10_se": float(hit.std(ddof=1) / root),
    }


# --- peers: training.peers, fitted on one matrix and scoring any input (fold-in) ---------------------


def input_rows(offsets: np.ndarray, items: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    x = np.zeros((rows.size, n), dtype=np.float32)
    counts = offsets[rows + 1] - offsets[rows]
    x[np.repeat(np.arange(rows.size), counts), items[gather_ranges(offsets[rows], counts)] - 1] = 1.0
    return x


class FoldIn:
    """A ``training.peers`` peer fitted on the 0/1 matrix ``x`` that scores any input list.

    ``training.peers`` scorers look up the scored users' rows of the matrix they were fitted on
    (``x[users] @ weights``, the VAE's encoder on ``x[users]``) when called, having computed
    everything else when built. So each fitted peer gets its own copy of ``x``, and the rows it
    is asked for are written into that copy just before the call: the peer scores the query's
    lists with everything it learnt from ``x``. ``check`` confirms it on the fitting rows."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x
        self.shared: dict = {}

    def build(self, peer, **params):
        prepared = {**self.shared, "x": self.x.copy()}
        scorer = peer.build(prepared, **params)
        self.shared.update({k: v for k, v in prepared.items() if k != "x"})  # X'X, the walks: once per matrix
        buffer = prepared["x"]

        def score(users, offsets, items):
            users = np.asarray(users)
            out = []
            for start in range(0, users.size, buffer.shape[0]):
                part = users[start : start + buffer.shape[0]]
                buffer[: part.size] = input_rows(offsets, items, part, buffer.shape[1])
                out.append(np.array(scorer(np.arange(part.size), None, None), dtype=np.float32))
            return np.concatenate(out)

        return score, scorer


def check_fold_in(x: np.ndarray, folded, native, rows: int = 64) -> None:
    """The folded scorer given the fitting rows scores them as the peer's own scorer does."""
    picked = np.arange(min(rows, x.shape[0]))
    offsets = np.concatenate([[0], np.cumsum(x[picked].sum(axis=1))]).astype(np.int64)
    items = (np.nonzero(x[picked])[1] + 1).astype(np.int64)
    a = folded(picked, offsets, items)
    b = np.asarray(native(picked, None, None), dtype=np.float32)
    if not np.allclose(a, b, rtol=1e-4, atol=1e-5):
        raise SystemExit("fold-in check failed: the peer does not score from the rows it is given")


def matrix(offsets: np.ndarray, items: np.ndarray, n: int) -> np.ndarray:
    return input_rows(offsets, items, np.arange(offsets.size - 1), n)


def tuned_peer(peer, x_val: np.ndarray, val: Query, log, tune_users: int = 0, seed: int = 0) -> tuple[dict, list[dict], FoldIn]:
    """The grid point with the best validation NDCG@10 (the first of equals), fitted on ``x_val``;
    with ``tune_users``, on that many validation users drawn with ``seed`` (the grid is then cheaper)."""
    fold = FoldIn(x_val)
    val = sample(val, tune_users, seed)
    points = []
    for params in peer.grid:
        score, native = fold.build(peer, **params)
        if not points:
            check_fold_in(x_val, score, native)
        result = summary(score_ranks(score, val))
        points.append({"params": dict(params), **result})
        log(f"  {peer.name} {params}: val NDCG@10 {result['ndcg@10']:.4f}")
    best = max(range(len(points)), key=lambda i: (points[i]["ndcg@10"], -i))
    return dict(points[best]["params"]), points, fold


# --- the model: alone (numpy path, the data's anime), and through the engine --------------------------


def model_scorer(folder: Path, n: int, readout: tuple[float, float] | None = None):
    """Scores over the data's ``n`` anime of the model in ``folder`` (a model or run folder),
    with ``readout`` = (vote temperature, bias weight) when given, else its own."""
    from training.numpy_model import NumpyScorer, load_numpy_model

    model, meta = load_numpy_model(folder)
    if readout is not None:
        model.config.vote_temperature, model.config.bias_weight = readout
    scorer = NumpyScorer(model)
    columns = np.arange(n)

    def score(users, offsets, items):
        rows = [items[offsets[u] : offsets[u + 1]].tolist() for u in users]
        return scorer.scores(scorer.encode(rows), np.arange(len(rows)), columns)

    return score, meta


def engine_ranks(engine, item_ids: np.ndarray, query: Query) -> np.ndarray:
    """Rank of each target in the engine's top 10 (``K`` when absent: NDCG@10 and Recall@10 only)."""
    from animerec_tui.engine import Filters

    requests = []
    for u in range(len(query)):
        extra = query.excluded_extra(u)
        filters = Filters(exclude=frozenset(int(m) for m in item_ids[extra - 1])) if extra.size else Filters()
        requests.append(([int(m) for m in item_ids[query.row(u) - 1]], filters))
    results = engine.recommend_many(requests, k=K, reasons=False)
    targets = item_ids[query.targets - 1]
    ranks = np.full(len(query), K, dtype=np.int64)
    for u, result in enumerate(results):
        picks = [r.mal_id for r in result.items]
        if int(targets[u]) in picks:
            ranks[u] = picks.index(int(targets[u]))
    return ranks


def engine_note(engine) -> str:
    """The readout and blend the engine answers with (meta.json's, as it loaded them)."""
    config = engine.meta.get("model_config", {})
    blend = engine.meta.get("blend")
    text = f"T {config.get('vote_temperature', 1.0):g}, bias weight {config.get('bias_weight', 1.0):g}"
    return text + (f", item-item blend weight {blend['weight']:g} (lambda {blend.get('lambda', '?')}, keep {blend.get('keep', '?')})" if blend else ", no item-item blend")


def app_row(engine) -> str:
    """The row name of the engine's figures: with and without a blend are different rows."""
    return "app + blend" if engine.meta.get("blend") else "app"


# --- the tables ---------------------------------------------------------------------------------------


def standard_sets(args):
    """The shipped split's validation and test users, full and cut, and the matrices peers fit on."""
    from animerec_tui.runs import shipped_training_data

    data = load_dataset(args.data or shipped_training_data())
    queries = {split: split_query(data, split) for split in ("val", "test")}
    order = {split: shuffled(q, args.seed + i) for i, (split, q) in enumerate(queries.items())}
    sets = {split: {"all": queries[split], **{str(c): cut(order[split], c) for c in args.cuts}} for split in queries}
    return data, queries, sets


def standard(args, log, part: str, out: dict) -> None:
    """Tables 1 and 2 (the shipped split, full input and cut) for ``part``: peers, model or app."""
    data, queries, sets = standard_sets(args)
    n = data.num_items
    out.setdefault("data", str(data.folder))
    out["users"] = {s: {c: len(q) for c, q in v.items()} for s, v in sets.items()}
    rows, chosen_all = out.setdefault("rows", {}), out.setdefault("chosen", {})

    def score_all(name: str, ranks_of) -> None:
        for split in sets:  # a later run of fewer cuts replaces only those
            for cut_name, q in sets[split].items():
                rows.setdefault(name, {}).setdefault(split, {})[cut_name] = summary(ranks_of(split, q))

    if part == "peers":
        from training.peers import PEERS

        fits = {"val": matrix(*data.merged("train"), n), "test": matrix(*data.merged("train", "val"), n)}
        for name in args.peers:
            peer = PEERS[name]
            started = time.perf_counter()
            chosen, points, fold = tuned_peer(peer, fits["val"], queries["val"], log, args.tune_users, args.seed)
            chosen_all[name] = {"params": chosen, "grid": points}
            scorers = {"val": fold.build(peer, **chosen)[0], "test": FoldIn(fits["test"]).build(peer, **chosen)[0]}
            score_all(name, lambda split, q, scorers=scorers: score_ranks(scorers[split], q))
            log(f"{name}: chose {chosen} in {time.perf_counter() - started:.0f} s")
    elif part == "model":
        score, _ = model_scorer(args.model, n)
        score_all("model", lambda split, q: score_ranks(score, q))
    elif part == "app":
        from animerec_tui.engine import Engine

        engine = Engine(args.model, threads=1)
        out.setdefault("engine", {})[app_row(engine)] = engine_note(engine)
        score_all(app_row(engine), lambda split, q: engine_ranks(engine, data.item_ids, q))


def cross(args, log) -> dict:
    """Table 3: each cross-group split's held-out users, peers and model."""
    from calibrate_readout import grid_metrics, write_choice

    from animerec_tui.engine import Engine
    from training.checkpoint import export_model
    from training.peers import PEERS

    out = {}
    for name in args.splits:
        root = args.cross / name
        train_data, held = load_dataset(root / "train"), load_dataset(root / "heldout")
        if not np.array_equal(train_data.item_ids, held.item_ids):
            raise SystemExit(f"{root}: the two folders' vocabularies differ")
        n = held.num_items
        queries = {split: split_query(held, split) for split in ("val", "test")}
        fit = matrix(*train_data.splits["train"], n)  # the rows the model trained on
        res: dict = {"train_users": train_data.num_users, "heldout_users": held.num_users, "rows": {}, "chosen": {}, "tune_users": args.tune_users or len(queries["val"])}
        for pname in args.peers:
            peer = PEERS[pname]
            started = time.perf_counter()
            chosen, points, fold = tuned_peer(peer, fit, queries["val"], log, args.tune_users, args.seed)
            score, _ = fold.build(peer, **chosen)
            res["chosen"][pname] = {"params": chosen, "grid": points}
            res["rows"][pname] = {split: summary(score_ranks(score, q)) for split, q in queries.items()}
            log(f"{name} {pname}: chose {chosen} in {time.perf_counter() - started:.0f} s")
        out[name] = res
        if args.peers_only:
            continue
        run = root / "run"
        history = json.loads((run / "history.json").read_text()) if (run / "history.json").exists() else None
        res["history"] = history
        started = time.perf_counter()
        grid = grid_metrics(run, root / "heldout", args.temperatures, args.bias_weights)
        best = max(grid, key=lambda pair: (grid[pair]["ndcg@10"], pair == (1.0, 1.0)))
        res["readout_grid"] = [{"temperature": t, "bias_weight": w, "val_ndcg@10": m["ndcg@10"]} for (t, w), m in sorted(grid.items())]
        res["readout_chosen"] = {"temperature": best[0], "bias_weight": best[1]}
        log(f"{name} readout grid: {time.perf_counter() - started:.0f} s, best {best}")
        for label, readout in (("model (T 1, as trained)", (1.0, 1.0)), ("model (readout chosen on held-out val)", best)):
            score, meta = model_scorer(run, n, readout)
            res["rows"][label] = {split: summary(score_ranks(score, q)) for split, q in queries.items()}
        res["best_epoch"] = meta.get("epoch")
        # The app's view: the best checkpoint exported as the shipped model is (fp16), with this readout written in.
        app = root / "model"
        export_model(run, app, half=True)
        write_choice(app, *best)
        engine = Engine(app, threads=1)
        res.setdefault("engine", {})[app_row(engine)] = engine_note(engine)
        res["rows"][app_row(engine)] = {split: summary(engine_ranks(engine, held.item_ids, q)) for split, q in queries.items()}
    return out


def cross_blend(args, log) -> dict:
    """Table 3's "app + blend" rows: the item-item blend built for each cross-group model as it
    was for the shipped one (``scripts/calibrate_blend.py --write``: EASE fitted on the training
    group's train rows, its weight chosen on the validation users ``--blend-on`` names, the first
    ``--blend-users`` of them), then the held-out users through the engine."""
    from animerec_tui.engine import Engine

    out = {}
    for name in args.splits:
        root = args.cross / name
        app = root / "model"
        command = [sys.executable, str(REPO / "scripts" / "calibrate_blend.py"), str(app), "--data", str(root / "train"), "--write"]
        if args.blend_weights:
            command += ["--weights", args.blend_weights]
        if args.blend_lambdas:
            command += ["--lambdas", args.blend_lambdas]
        if args.blend_on == "heldout":  # as the peers and the readout are chosen: on the held-out group's validation users
            command += ["--choose-on", str(root / "heldout")]
        if args.blend_users:
            command += ["--users", str(args.blend_users)]
        started = time.perf_counter()
        chosen = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True).stdout
        log(f"{name} blend chosen in {time.perf_counter() - started:.0f} s")
        held = load_dataset(root / "heldout")
        queries = {split: split_query(held, split) for split in ("val", "test")}
        engine = Engine(app, threads=1)
        out[name] = {
            "blend_choice": chosen,
            "engine": {app_row(engine): engine_note(engine)},
            "rows": {app_row(engine): {split: summary(engine_ranks(engine, held.item_ids, q)) for split, q in queries.items()}},
        }
    return out


# --- output ---------------------------------------------------------------------------------------------


def merge(into: dict, new: dict) -> dict:
    """``new`` written into ``into``, nested dicts merged key by key (a part re-run replaces its own figures only)."""
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value
    return into


def cell(m: dict | None) -> str:
    return "" if m is None else f"{m['ndcg@10']:.4f} ± {m['ndcg@10_se']:.4f}"


def markdown(result: dict) -> str:
    lines = [
        f"# {part}: `{r['command']}` at {r['commit']}{' (uncommitted changes: ' + ', '.join(d.split()[-1] for d in r['dirty'] if d) + ')' if any(r['dirty']) else ''}; "
        f"{r['cpu']}, load before {r['load']}, {r['wall_s']:.0f} s"
        for part, r in result.get("runs", {}).items()
    ] + [""]
    if "standard" in result:
        st = result["standard"]
        lines += ["### The shipped split: NDCG@10 ± s.e. (Recall@10), full ranking", "", "| scorer | chosen on val | val | test |", "|---|---|---|---|"]
        ordered = [name for name in (*PEER_ORDER, "model", "app", "app + blend") if name in st["rows"]]
        for name in ordered:
            splits = st["rows"][name]
            chosen = st["chosen"].get(name, {}).get("params", "")
            if name.startswith("app"):
                chosen = f"engine: {st['engine'][name]}"
            lines.append(f"| {label(name)} | {chosen} | " + " | ".join(f"{cell(splits[s]['all'])} ({splits[s]['all']['recall@10']:.4f})" for s in ("val", "test")) + " |")
        for split in ("val", "test"):
            users = st["users"][split]
            if not any(str(c) in users for c in CUTS):
                continue
            lines += [
                "",
                f"### By input length ({split}): NDCG@10 ± s.e.",
                "",
                "| scorer | " + " | ".join(f"{c} ({users.get(c, 0):,} users)" for c in (*map(str, CUTS), "all")) + " |",
                "|---" * (len(CUTS) + 2) + "|",
            ]
            for name in ordered:
                splits = st["rows"][name]
                lines.append(f"| {label(name)} | " + " | ".join(cell(splits[split].get(c)) for c in (*map(str, CUTS), "all")) + " |")
    for name, res in result.get("cross", {}).items():
        lines += [
            "",
            f"### Beyond the training distribution: {name} (train {res.get('train_users', 0):,} users, held out {res.get('heldout_users', 0):,}): NDCG@10 ± s.e. (Recall@10)",
            "",
            "| scorer | chosen on held-out val | val | test |",
            "|---|---|---|---|",
        ]
        models = ("model (T 1, as trained)", "model (readout chosen on held-out val)", "app", "app + blend")
        for row in [r for r in (*PEER_ORDER, *models) if r in res["rows"]] + [r for r in res["rows"] if r not in (*PEER_ORDER, *models)]:
            splits = res["rows"][row]
            chosen = res.get("chosen", {}).get(row, {}).get("params", "")
            if row.startswith("model (readout"):
                chosen = f"T {res['readout_chosen']['temperature']:g}, bias weight {res['readout_chosen']['bias_weight']:g}"
            if row.startswith("app"):
                chosen = f"engine: {res['engine'][row]}"
            lines.append(f"| {label(row)} | {chosen} | " + " | ".join(f"{cell(splits[s])} ({splits[s]['recall@10']:.4f})" for s in ("val", "test")) + " |")
    return "\n".join(lines)


def label(name: str) -> str:
    return {
        "model": "model alone (Data/model)",
        "app": "model as the app ranks (Engine, Filters())",
        "app + blend": "model + item-item blend as the app ranks (Engine, Filters())",
        "vae": "Mult-VAE",
        "ease": "EASE",
        "itemknn": "ItemKNN",
        "rp3beta": "RP3beta",
    }.get(name, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="the shipped split (default: Data/training, unpacked)")
    parser.add_argument("--model", type=Path, default=REPO / "Data" / "model")
    parser.add_argument("--cross", type=Path, default=REPO / "runs" / "cross")
    parser.add_argument("--peers", default=",".join(PEER_ORDER))
    parser.add_argument("--parts", default="peers,model,app,cross", help="any of peers, model, app, cross, blend (after cross: the cross-group models with an item-item blend)")
    parser.add_argument("--blend-users", type=int, default=500, help="blend: choose its weight on the first N validation users of the training group (0: all)")
    parser.add_argument("--blend-on", choices=("train", "heldout"), default="heldout", help="blend: choose its weight on the training group's validation users or, as the peers' values and the readout are, on the held-out group's")
    parser.add_argument("--blend-lambdas", default="", help="blend: the EASE lambdas to choose from (default: calibrate_blend.py's)")
    parser.add_argument("--blend-weights", default="", help="blend: the weights to choose from (default: calibrate_blend.py's grid)")
    parser.add_argument("--fresh", action="store_true", help="start the JSON over instead of updating the parts run")
    parser.add_argument("--merge", type=Path, action="append", default=[], help="another run's JSON to merge in first (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cuts", default=",".join(map(str, CUTS)), help="input lengths of table 2 ('' for the full input only)")
    parser.add_argument("--tune-users", type=int, default=0, help="choose the peers' values on this many validation users (seeded; 0: all)")
    parser.add_argument("--peers-only", action="store_true", help="cross: the peers' rows only (the model's may run apart, at once)")
    parser.add_argument("--splits", default="crawl-out,era-out", help="the cross-group splits of table 3")
    parser.add_argument("--temperatures", default="0.5,0.6,0.7,0.75,0.8,0.9,1.0")
    parser.add_argument("--bias-weights", default="0.9,1.0,1.1,1.2")
    parser.add_argument("--json", type=Path, default=REPO / "runs" / "peers_table.json")
    args = parser.parse_args()
    args.peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    args.cuts = [int(c) for c in args.cuts.split(",") if c.strip()]
    args.splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    args.temperatures = [float(v) for v in args.temperatures.split(",")]
    args.bias_weights = [float(v) for v in args.bias_weights.split(",")]
    parts = set(args.parts.split(","))
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    import torch

    torch.set_num_threads(1)
    started = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {text}", file=sys.stderr, flush=True)

    from _common import cpu_model

    result: dict = {  # what each part records of how it was measured
        "command": "python " + " ".join(sys.argv),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip(),
        "dirty": subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True).stdout.split("\n"),
        "cpu": f"{cpu_model()}, {os.cpu_count()} cores, 1 thread",
        "sha256": {f: hashlib.sha256((REPO / f).read_bytes()).hexdigest()[:12] for f in SOURCES if (REPO / f).exists()},
    }
    sys.path.insert(0, str(REPO / "benchmarks"))
    whole = json.loads(args.json.read_text()) if args.json.exists() and not args.fresh else {}
    for other in args.merge:  # parts run apart (at once, into their own files) joined into one
        merge(whole, json.loads(other.read_text()))
    for part in [p for p in ("peers", "model", "app", "cross", "blend") if p in parts]:
        before = time.perf_counter()
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        fresh: dict = {}
        if part == "cross":
            fresh["cross"] = cross(args, log)
        elif part == "blend":
            fresh["cross"] = cross_blend(args, log)
        else:
            standard(args, log, part, fresh.setdefault("standard", {}))
        detail = {
            "peers": ",".join(args.peers),
            "cross": ",".join(args.splits) + " (peers " + (",".join(args.peers) or "none") + (", no model)" if args.peers_only else ")"),
            "blend": ",".join(args.splits),
            "app": "cuts " + (",".join(map(str, args.cuts)) or "none"),
        }.get(part, "")
        fresh["runs"] = {f"{part} {detail}".strip(): {**result, "load": load, "wall_s": round(time.perf_counter() - before, 1)}}
        log(f"{part}: {time.perf_counter() - before:.0f} s")
        merge(whole, fresh)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(whole, indent=1, default=str) + "\n")
    print(markdown(whole))


if __name__ == "__main__":
    main()
