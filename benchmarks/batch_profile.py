"""Where a batch answer's time goes: the engine's steps timed per user (wall clock, one thread).

    python benchmarks/batch_profile.py [--users 2000] [--filters hidden-sequels|default] [--reasons] [--busy]

Each step (encode, bounds, exact scores, ...) is wrapped with a timer for one run of
``recommend_many`` over the inference benchmark's workload; nested steps count inside their
callers (``rank`` holds ``choose``, which holds ``exact``, ``reach`` and ``walk``). The
wrappers add about a microsecond a call.
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import time

import numpy as np
from _common import BusyCore, cpu_model, hardware

from animerec_tui import engine as E
from animerec_tui.catalog import load_catalog
from animerec_tui.defaults import THREADS

STEPS = {"scorer": ["encode", "bounds", "scores", "shares"], "engine": ["_answer", "_exact", "_shown", "_recommendation", "split_known"],
         "ranking": ["rank", "_choose", "_reach", "_walk"], "reasons": ["of"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--filters", choices=["hidden-sequels", "default"], default="hidden-sequels")
    parser.add_argument("--reasons", action="store_true", help="Compute the reasons too (recommend --batch does not).")
    parser.add_argument("--busy", action="store_true", help="Keep one core busy with a competing process meanwhile.")
    args = parser.parse_args()
    engine = E.Engine(E.default_model_dir(), load_catalog(), threads=THREADS)
    spent: collections.Counter[str] = collections.Counter()

    def timed(owner, name: str) -> None:
        inner = getattr(owner, name)

        @functools.wraps(inner)
        def wrapper(*a, **k):
            started = time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                spent[name] += time.perf_counter() - started

        setattr(owner, name, wrapper)

    for part, owner in (("scorer", engine.scorer), ("engine", engine), ("ranking", engine.ranking), ("reasons", engine.reasons)):
        for name in STEPS[part]:
            timed(owner, name)
    rng = np.random.default_rng(0)
    filters = E.Filters(hide_sequels=args.filters == "hidden-sequels")
    sizes = np.clip(rng.lognormal(3.5, 0.9, size=args.users).astype(int), 1, 400)
    batch = [(rng.choice(engine.item_ids, size=int(s), replace=False).tolist(), filters) for s in sizes]
    engine.recommend_many(batch[:100], 20, reasons=args.reasons)
    spent.clear()
    with BusyCore(args.busy):
        started = time.perf_counter()
        engine.recommend_many(batch, 20, reasons=args.reasons)
        total = time.perf_counter() - started
        load = os.getloadavg()[0]
    columns = np.flatnonzero(engine.allowed(filters))
    model = engine.scorer
    while hasattr(model, "inner"):  # the calibration and the item-item blend wrap the model's scorer
        model = model.inner
    busy = "one core kept busy by a competing process" if args.busy else "no competing process"
    print(f"\n### Batch steps — {cpu_model()}, {hardware()}, 1 thread, {busy}, load {load:.2f}; filters: {args.filters} "
          f"({columns.size:,} columns, {model._distinct(columns)[0].size:,} distinct); reasons {'on' if args.reasons else 'off'}\n")
    print(f"{args.users:,} users: {args.users / total:,.0f} users/s, {total / args.users * 1e3:.3f} ms a user\n")
    print("| step | ms a user |")
    print("|---|---|")
    for name, seconds in spent.most_common():
        print(f"| {name} | {seconds / args.users * 1e3:.3f} |")


if __name__ == "__main__":
    main()
