"""How faithful are the reasons? The favourite named first against the one whose removal costs most.

    python benchmarks/reasons_faithfulness.py [--model Data/model] [--requests 30]

Seeded random requests of 3-11 rated favourites, top 10 each. For every result: which
favourite, taken away, lowers its score the most; how often that is the favourite the
reasons name first (vote shares, the shipped method), and how often it is the favourite
nearest to the result in the model's item space (the method before issue 16).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from animerec_tui.catalog import load_catalog  # noqa: E402
from animerec_tui.defaults import THREADS  # noqa: E402
from animerec_tui.engine import Engine, default_model_dir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_dir())
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    e = Engine(args.model, load_catalog(), threads=THREADS)
    rng = np.random.default_rng(0)
    counts = {"vote shares (shipped)": 0, "nearest in item space (before)": 0}
    total = 0
    for _ in range(args.requests):
        favs = rng.choice(e.item_ids[: e.num_rated], size=int(rng.integers(3, 12)), replace=False).tolist()
        known, _ = e.split_known(favs)
        base = e.scores([known])[0]
        drops = np.stack([e.scores([[k for k in known if k != d]])[0] for d in known])
        for r in e.recommend(favs, 10).items:
            col = e.dense[r.mal_id] - 1
            costliest = int(np.argmax(base[col] - drops[:, col]))
            counts["vote shares (shipped)"] += r.because[0] == e.title(known[costliest])
            sim = e.reasons.unit[col] @ e.reasons.unit[np.asarray(known) - 1].T
            counts["nearest in item space (before)"] += int(np.argmax(sim)) == costliest
            total += 1
    print(f"# python {' '.join(sys.argv)}: {total} results of {args.requests} requests, model {args.model}\n")
    print("| first reason | is the costliest favourite |\n|---|---|")
    for name, hits in counts.items():
        print(f"| {name} | {hits / total:.1%} ({hits}/{total}) |")


if __name__ == "__main__":
    main()
