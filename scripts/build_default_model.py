"""Rebuild the shipped default model in Data/model from the real MAL data in ../shared.

Steps (each printed as the animerec command it runs):
1. Merge every real user source into one `user_id,anime_id,rating` CSV (MAL ids): the
   caserec 5k-user ratings (ids mapped to MAL ids), the CooperUnion tail's users (those
   whose scored list is identical to a 5k-set user's are the same person and are dropped:
   72 of them) and the January 2023 crawl (`mal_crawl_2023_hatuank`). Of the crawl only
   scored entries count, whatever their status (so a dropped anime scored 8 is liked, as a
   score is the user's own verdict); completed-but-unscored entries are left out: a score
   below 7 is given to 31% of the completed anime that were scored, so "completed" alone
   does not say "liked", and 12,248 of the 37,653 unscored completions are one
   completionist's. Plan-to-watch entries carry no score and never count.
2. `animerec preprocess` and 3. `animerec train` with the shipped recipe, ``training.config.SHIPPED``
   (ratings of 7 or more, 5-core, random hold-out, seed 0; 25 epochs, every other setting the
   default, which for MAL ids is the genre input on): a bare `animerec train` uses it too.
4. `animerec eval --baselines` on val and test, then export the best checkpoint's weights
   in fp16 with its meta.json to Data/model, choose its readout's vote temperature and bias
   weight on the validation split (`scripts/calibrate_readout.py --write`), build the item-item
   (EASE) table from the training rows and choose its blend weight on the validation split as the
   app ranks (`scripts/calibrate_blend.py --write`), and pack the preprocessed data into
   Data/training (what `animerec train` with no --data trains on; Data/training/NOTICE.md).
5. Train the cold split's model (`benchmarks/catalogue_eval.py cold`: the same recipe, 15
   epochs, a tenth of the rated anime known from metadata only) and fit on its validation users
   the calibration of the scores of anime without ratings (`scripts/calibrate_new.py --write`).

    python scripts/build_default_model.py [--data ../shared/data/anime] [--epochs N] [--work runs/default]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere: the repository's training package
from training.config import SHIPPED  # noqa: E402  (after the path it needs)

TAIL_USER_OFFSET = 1_000_000
CRAWL_USER_OFFSET = 2_000_000


def merged_ratings(data: Path, out: Path, catalog: set[int] | None = None) -> dict:
    """Write the merged ratings CSV; return counts for the model card.

    Rows of anime the catalogue lacks (``catalog``: its MAL ids) are left out: the engine
    shows and filters by the catalogue, so a model must know nothing beyond it."""
    folder = data / "caserec_cooperunion_5k"
    with open(folder / "DERIVED_caserec_item_to_mal_id.csv", newline="") as handle:
        to_mal = {int(r["caserec_item_id"]): int(r["mal_id"]) for r in csv.DictReader(handle)}
    caserec: dict[int, list[tuple[int, int]]] = defaultdict(list)
    with open(folder / "anime_ratings.dat", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            caserec[int(row["User_ID"])].append((to_mal[int(row["Anime_ID"])], int(row["Feedback"])))
    tail: dict[int, list[tuple[int, int]]] = defaultdict(list)
    with open(data / "cooperunion_meta_tail" / "rating_23.csv", newline="") as handle:
        for user, anime, rating in csv.reader(handle):
            if int(rating) > 0:
                tail[int(user)].append((int(anime), int(rating)))
    crawl: dict[int, dict[int, int]] = defaultdict(dict)
    with open(data / "mal_crawl_2023_hatuank" / "animelist.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if int(row["score"]) > 0:
                crawl[int(row["user_id"])].setdefault(int(row["anime_id"]), int(row["score"]))  # a repeated entry: the first
    known = {frozenset(pairs) for pairs in caserec.values()}
    duplicates = sorted(u for u, pairs in tail.items() if frozenset(pairs) in known)
    rows = [(u, a, r) for u in sorted(caserec) for a, r in sorted(caserec[u])]
    rows += [(TAIL_USER_OFFSET + u, a, r) for u in sorted(tail) if u not in set(duplicates) for a, r in sorted(tail[u])]
    rows += [(CRAWL_USER_OFFSET + u, a, r) for u in sorted(crawl) for a, r in sorted(crawl[u].items())]
    outside = sum(1 for _, a, _ in rows if catalog is not None and a not in catalog)
    rows = [row for row in rows if catalog is None or row[1] in catalog]
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "anime_id", "rating"])
        writer.writerows(rows)
    return {
        "caserec_users": len(caserec), "tail_users": len(tail), "tail_duplicates_dropped": len(duplicates),
        "crawl_users": len(crawl), "rows": len(rows), "rows_outside_catalogue_dropped": outside,
    }


def flags(settings: dict) -> list[str]:
    """``{"min_user_items": 5}`` -> ``["--min-user-items", "5"]``: a recipe as the command line takes it."""
    return [part for name, value in settings.items() for part in (f"--{name.replace('_', '-')}", str(value))]


def animerec(*args) -> str:
    print("$ animerec " + " ".join(map(str, args)), flush=True)
    return subprocess.run([sys.executable, "-m", "animerec_tui", *map(str, args)], cwd=REPO, check=True, text=True, stdout=subprocess.PIPE).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description="Rebuild Data/model")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "anime")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "default")
    parser.add_argument("--epochs", type=int, default=SHIPPED.train["epochs"], help="[default: the shipped recipe's]")
    parser.add_argument("--out", type=Path, default=REPO / "Data" / "model")
    args = parser.parse_args()
    ratings = args.work / "ratings.csv"
    from training.catalog import read_catalog

    counts = merged_ratings(args.data, ratings, set(read_catalog(REPO / "Data" / "catalog.json.gz").by_id))
    print(json.dumps(counts))
    pre, run = args.work / "data", args.work / "run"
    animerec("preprocess", ratings, "--format", "cooperunion", *flags(asdict(SHIPPED.preprocess)), "--out", pre, "--force")
    animerec("train", "--data", pre, "--out", run, *flags({**SHIPPED.train, "epochs": args.epochs}), "--genres", "--force")
    report = {split: json.loads(animerec("eval", "--run", run, "--split", split, "--baselines", "--json")) for split in ("val", "test")}
    from training.checkpoint import export_model

    export_model(run, args.out, half=True)
    from training.bundle import pack

    pack(pre, args.out.parent / "training")  # so that a bare `animerec train` trains on the same data
    # The readout's vote temperature and bias weight, chosen on the validation split only.
    print(f"$ python scripts/calibrate_readout.py {args.out} --data {pre} --write", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, str(REPO / "scripts" / "calibrate_readout.py"), str(args.out), "--data", str(pre), "--write"], check=True)
    # After the readout: the blend weight is chosen against the readout as it ships.
    print(f"$ python scripts/calibrate_blend.py {args.out} --data {pre} --write", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, str(REPO / "scripts" / "calibrate_blend.py"), str(args.out), "--data", str(pre), "--write"], check=True)
    # Last, the scores of anime without ratings on the rated scale: fitted on a model of the same
    # recipe that knows a tenth of the rated anime from metadata only (the cold split), validation only.
    cold = args.work / "cold"
    for step in (["benchmarks/catalogue_eval.py", "cold", "--data", pre, "--work", cold],
                 ["scripts/calibrate_new.py", args.out, "--cold", cold / "run", "--data", pre, "--write"]):
        print(f"$ python {' '.join(map(str, step))}", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, str(REPO / step[0]), *map(str, step[1:])], check=True)
    exported = json.loads(animerec("eval", "--run", args.out, "--data", pre, "--split", "test", "--json"))
    report["test_fp16"] = exported
    (args.work / "report.json").write_text(json.dumps({"merge": counts, **report}, indent=1) + "\n")
    print(json.dumps({k: v["models"] for k, v in report.items()}, indent=1))


if __name__ == "__main__":
    main()
