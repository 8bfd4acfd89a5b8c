"""How faithful are the reasons? The favourite named first against the one whose removal costs most.

    python benchmarks/reasons_faithfulness.py [--model Data/model] [--requests 30]

Seeded random requests of 3-11 rated favourites, top 10 each. For every result: which
favourite, taken away, lowers its score the most; how often that is the favourite the
reasons name first (vote shares, the shipped method), and how often it is the favourite
nearest to the result in the model's item space (the method before issue 16). A result whose
first reason is "your whole list" (carried by the list together, issue 28) names no
favourite and counts as a miss in the first column; the second counts only the others.
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
from animerec_tui.engine.reasons import LIST_REASON  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_dir())
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    e = Engine(args.model, load_catalog(), threads=THREADS)
    rng = np.random.default_rng(0)
    counts = {"vote shares (shipped)": 0, "nearest in item space (before)": 0}
    named = {"vote shares (shipped)": 0, "nearest in item space (before)": 0}  # over the results whose first reason is a favourite
    total = by_name = 0
    for _ in range(args.requests):
        favs = rng.choice(e.item_ids[: e.num_rated], size=int(rng.integers(3, 12)), replace=False).tolist()
        known, _ = e.split_known(favs)
        base = e.scores([known])[0]
        drops = np.stack([e.scores([[k for k in known if k != d]])[0] for d in known])
        for r in e.recommend(favs, 10).items:
            col = e.dense[r.mal_id] - 1
            costliest = int(np.argmax(base[col] - drops[:, col]))
            sim = e.reasons.unit[col] @ e.reasons.unit[np.asarray(known) - 1].T
            hits = {"vote shares (shipped)": r.because[0] == e.title(known[costliest]), "nearest in item space (before)": int(np.argmax(sim)) == costliest}
            for name, hit in hits.items():
                counts[name] += hit
                if r.because[0] != LIST_REASON:
                    named[name] += hit
            total += 1
            by_name += r.because[0] != LIST_REASON
    print(f"# python {' '.join(sys.argv)}: {total} results of {args.requests} requests, model {args.model}\n")
    print(f"| first reason | is the costliest favourite | of the {by_name} results ({by_name / total:.1%}) whose first reason is a favourite, not \"{LIST_REASON}\" |\n|---|---|---|")
    for name, hits in counts.items():
        print(f"| {name} | {hits / total:.1%} ({hits}/{total}) | {named[name] / max(by_name, 1):.1%} ({named[name]}/{by_name}) |")


if __name__ == "__main__":
    main()
