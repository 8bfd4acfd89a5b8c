"""The engine against an older checkout of itself: same requests, the same answers?

    git worktree add /tmp/old_engine <commit>
    python benchmarks/engine_differential.py /tmp/old_engine [--requests 600] [--seed 0]

Seeded random requests over the shipped model (``Engine()``, one thread): favourites of 0
to 40 anime (rated, unrated, unknown ids), every filter (new_share 0/0.2/0.5/1, novelty
0/0.5/1, one per franchise on and off, hidden sequels, types, genres that leave few rated
anime, year ranges that hold mostly anime without ratings, exclude lists, adult titles),
k of 1/5/20/50/200, as single requests, mixed batches (reasons on and off) and ``similar``.
Each checkout answers in its own process (both are ``animerec_tui``); every field of every
recommendation, the unknown ids and any error message must be equal.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1]
TYPES = ["TV", "Movie", "OVA", "ONA", "Special", "Music", "TV Special"]


def _filters(rng: np.random.Generator, genres: list[str], rare: list[str], ids: list[int]) -> dict:
    pick = lambda options: options[int(rng.integers(len(options)))]  # noqa: E731
    f: dict = {
        "new_share": pick([0.0, 0.2, 0.2, 0.5, 1.0]),
        "novelty": pick([0.0, 0.0, 0.5, 1.0]),
        "one_per_franchise": bool(rng.random() < 0.7),
        "hide_sequels": bool(rng.random() < 0.3),
        "hide_adult": bool(rng.random() < 0.8),
    }
    if rng.random() < 0.25:
        f["types"] = sorted(rng.choice(TYPES, size=int(rng.integers(1, 3)), replace=False).tolist())
    if rng.random() < 0.25:
        f["include_genres"] = [pick(rare)] if rng.random() < 0.6 else sorted(rng.choice(genres, size=2, replace=False).tolist())
    if rng.random() < 0.2:
        f["exclude_genres"] = sorted(rng.choice(genres, size=int(rng.integers(1, 4)), replace=False).tolist())
    if rng.random() < 0.3:
        f["year_from"], f["year_to"] = pick([(2024, 2026), (2025, 2026), (2023, None), (None, 1995), (1990, 2000), (2011, 2011), (2100, None)])
    if rng.random() < 0.2:
        f["exclude"] = sorted(rng.choice(ids, size=int(rng.integers(1, 60)), replace=False).tolist())
    return f


def make_requests(count: int, seed: int) -> list[dict]:
    """The workload, from the new checkout's catalogue and model vocabulary (both checkouts ship the same)."""
    sys.path.insert(0, str(HERE))
    from animerec_tui.catalog import load_catalog
    from animerec_tui.engine import default_model_dir

    meta = json.loads((default_model_dir() / "meta.json").read_text())
    ids = [int(i) for i in meta["vocab"]["item_ids"]]
    rated = ids[: meta["model_config"]["num_rated"]]
    catalog = load_catalog()
    counts: dict[str, int] = {}
    for mal in ids:
        for g in catalog.by_id[mal].get("genres", []):
            counts[g] = counts.get(g, 0) + 1
    genres = sorted(counts)
    rare = [g for g in genres if 3 <= counts[g] <= 80][:200]
    rng = np.random.default_rng(seed)
    out = []
    for n in range(count):
        kind = ["recommend", "recommend", "batch", "similar"][n % 4]
        k = int(rng.choice([1, 5, 20, 50, 200]))
        if kind == "similar":
            asked = 99999999 if rng.random() < 0.03 else int(rng.choice(ids if rng.random() < 0.3 else rated))
            out.append({"kind": kind, "k": k, "mal_id": asked, "filters": _filters(rng, genres, rare, ids)})
            continue
        batch = []
        for _ in range(1 if kind == "recommend" else int(rng.integers(2, 40))):
            size = 0 if rng.random() < 0.08 else int(np.clip(rng.lognormal(1.8, 0.9), 1, 40))
            favourites = rng.choice(rated, size=size, replace=False).tolist()
            if rng.random() < 0.15:
                favourites.append(int(rng.choice(ids[len(rated) :])))
            if rng.random() < 0.1:
                favourites.append(99999999)
            batch.append({"favourites": [int(f) for f in favourites], "filters": _filters(rng, genres, rare, ids)})
        out.append({"kind": kind, "k": k, "reasons": bool(rng.random() < 0.7), "batch": batch})
    return out


def emit(requests_file: str, out_file: str) -> None:
    """Answer every request with this process's ``animerec_tui`` (the checkout first on sys.path)."""
    import animerec_tui.engine
    from animerec_tui.engine import Engine, Filters
    from training.errors import UserError

    print(f"answering with {Path(animerec_tui.engine.__file__).parent}", file=sys.stderr)

    def filters(f: dict):
        sets = {key: frozenset(f[key]) for key in ("types", "include_genres", "exclude_genres", "exclude") if key in f}
        return Filters(**{**f, **sets})

    engine = Engine(threads=1)
    answers = []
    for request in json.loads(Path(requests_file).read_text()):
        try:
            if request["kind"] == "similar":
                answer = [{"items": [r.to_dict() for r in engine.similar(request["mal_id"], request["k"], filters(request["filters"]))], "unknown": []}]
            else:
                batch = [(r["favourites"], filters(r["filters"])) for r in request["batch"]]
                results = engine.recommend_many(batch, request["k"], reasons=request["reasons"]) if request["kind"] == "batch" else [engine.recommend(*batch[0][:1], request["k"], batch[0][1])]
                answer = [{"items": [r.to_dict() for r in res.items], "unknown": res.unknown} for res in results]
        except UserError as error:
            answer = {"error": str(error)}
        answers.append(answer)
    Path(out_file).write_text(json.dumps(answers))


def _tied_at_the_cut(old: dict, new: dict) -> bool:
    """Whether two lists differ only in which of some equally scored anime made the list at its
    cut: the same scores and kinds place by place, and every place that differs holds the
    lowest score of its kind (rated or not) in the list. Anime without ratings whose metadata
    match score the same; the old engine's rare full pass chose among them by
    ``np.argpartition`` (in no stated order), the ranking by column."""
    a, b = old["items"], new["items"]
    if len(a) != len(b) or old["unknown"] != new["unknown"]:
        return False
    if [(r["score"], r["rated"]) for r in a] != [(r["score"], r["rated"]) for r in b]:
        return False
    lowest = {kind: min((r["score"] for r in a if r["rated"] == kind), default=None) for kind in (True, False)}
    return all(x == y or x["score"] == lowest[x["rated"]] for x, y in zip(a, b))


def _difference(n: int, request: dict, old, new) -> str:
    """Where request ``n``'s two answers first part."""
    if isinstance(old, dict) or isinstance(new, dict):
        return f"request {n}: {json.dumps(request)[:300]}\n  old {json.dumps(old)[:300]}\n  new {json.dumps(new)[:300]}"
    for m, (a, b) in enumerate(zip(old, new)):
        if a != b:
            asked = request["batch"][m] if "batch" in request else request
            ids = lambda answer: [(r["mal_id"], r["score"], r["rated"], r["franchise_more"]) for r in answer["items"]]  # noqa: E731
            return f"request {n}, list {m} (k {request['k']}): {json.dumps(asked)[:300]}\n  old {ids(a)}\n  new {ids(b)}"
    return f"request {n}: lengths differ"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, help="The older checkout (a git worktree).")
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--emit", nargs=2, metavar=("REQUESTS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.emit:
        sys.path.insert(0, str(args.old))
        emit(*args.emit)
        return
    requests = make_requests(args.requests, args.seed)
    with tempfile.TemporaryDirectory() as folder:
        asked = Path(folder) / "requests.json"
        asked.write_text(json.dumps(requests))
        answers = {}
        for name, root in (("old", args.old.resolve()), ("new", HERE)):
            out = Path(folder) / f"{name}.json"
            subprocess.run([sys.executable, __file__, str(root), "--emit", str(asked), str(out)], check=True, cwd=root)
            answers[name] = json.loads(out.read_text())
    lists = differ = ties = 0
    for n, (request, old, new) in enumerate(zip(requests, answers["old"], answers["new"])):
        lists += len(old) if isinstance(old, list) else 1
        if old != new and isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
            if all(a == b or _tied_at_the_cut(a, b) for a, b in zip(old, new)):
                ties += sum(a != b for a, b in zip(old, new))
                continue
        if old != new:
            differ += 1
            if differ <= 10:
                print(_difference(n, request, old, new))
    errors = sum(isinstance(a, dict) for a in answers["old"])
    print(f"{len(requests)} requests ({lists} lists, {errors} errors), seed {args.seed}: {differ} differ; {ties} lists differ only among anime tied at the cut")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
