"""Do two versions of the code recommend the same? Lists, scores and reasons, side by side.

    python benchmarks/same_lists.py TREE_A TREE_B [--requests 300]

Each tree (a checkout, e.g. a git worktree of an older commit) answers the same requests in
its own process with the shipped model: a batch through ``recommend_many`` and the first 40
one at a time through ``recommend``. Requests: favourite counts lognormal (median 33, at most
300) from every anime the model knows, seed 5, under five filter sets in turn (defaults,
--hide-sequels, novelty 0.5, every entry with half of the list new anime, movies only).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

ANSWER = """
import json, sys
import numpy as np
from animerec_tui.catalog import load_catalog
from animerec_tui.engine import Engine, Filters, default_model_dir
engine = Engine(default_model_dir(), load_catalog(), threads=1)
rng = np.random.default_rng(5)
kinds = [Filters(), Filters(hide_sequels=True), Filters(novelty=0.5), Filters(one_per_franchise=False, new_share=0.5), Filters(types=frozenset({"Movie"}))]
requests = [(rng.choice(engine.item_ids, size=int(np.clip(rng.lognormal(3.5, 0.9), 1, 300)), replace=False).tolist(), kinds[n % 5]) for n in range(int(sys.argv[1]))]
batch = [[(r.mal_id, r.score, r.because) for r in result.items] for result in engine.recommend_many(requests, 20)]
single = [[(r.mal_id, r.score, r.because) for r in engine.recommend(favourites, 20, kind).items] for favourites, kind in requests[:40]]
json.dump({"batch": batch, "single": single}, sys.stdout)
"""


def answers(tree: str, requests: int) -> dict:
    done = subprocess.run([sys.executable, "-c", ANSWER, str(requests)], cwd=tree, env={"PYTHONPATH": tree, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs=2)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    first, second = (answers(tree, args.requests) for tree in args.trees)
    for kind in ("batch", "single"):
        pairs = list(zip(first[kind], second[kind]))
        same_ids = sum(1 for a, b in pairs if [x[0] for x in a] == [x[0] for x in b])
        entries = [(x, y) for a, b in pairs for x, y in zip(a, b) if x[0] == y[0]]
        same_reasons = sum(1 for x, y in entries if x[2] == y[2])
        drift = max((abs(x[1] - y[1]) for x, y in entries), default=0.0)
        print(f"{kind}: {same_ids} of {len(pairs)} lists the same anime in the same order; of {len(entries)} entries in common, "
              f"{same_reasons} with the same reasons; largest score difference {drift:.4f} (scores are rounded to 4 places)")


if __name__ == "__main__":
    main()
