"""Inference speed: single-request latency (p50/p99) and batch throughput (users/s).

Measures the shipped model and a model with a 17k-item catalogue (the reference's size;
random weights, since speed does not depend on what the weights learned).

    python benchmarks/inference_speed.py [--model Data/model] [--requests 500] [--batch-users 4000] [--items 0] [--threads N] [--busy]

--busy keeps one core loaded by a competing process while it measures (an SSH box is rarely
idle); --items 0 skips the synthetic model.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import BusyCore, cpu_model, hardware

from animerec_tui.catalog import load_catalog
from animerec_tui.engine import Engine, Filters, default_model_dir
from tests.random_model import write_random_model


def synthetic_model(folder: Path, num_items: int, catalog: list[dict]) -> Path:
    """A random-weight model over the ``num_items`` most popular catalogue anime."""
    ranked = sorted(catalog, key=lambda e: -(e.get("members") or 0))[:num_items]
    return write_random_model(folder, [e["mal_id"] for e in ranked], catalog)


def measure(engine: Engine, requests: int, batch_users: int, seed: int = 0, repeats: int = 3) -> dict:
    rng = np.random.default_rng(seed)
    known = engine.item_ids
    sizes = np.clip(rng.lognormal(3.5, 0.9, size=requests + batch_users).astype(int), 1, 400)
    favourites = [rng.choice(known, size=min(s, known.size), replace=False).tolist() for s in sizes]
    filters = Filters(hide_sequels=True)
    for favs in favourites[:20]:
        engine.recommend(favs, 20, filters)
    latencies = []
    for favs in favourites[:requests]:
        started = time.perf_counter()
        engine.recommend(favs, 20, filters)
        latencies.append(time.perf_counter() - started)
    batch = [(favs, filters) for favs in favourites[requests:]]
    rates: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(repeats):  # with reasons, and picks only (as ``recommend --batch`` answers), interleaved
        for reasons in (True, False):
            started = time.perf_counter()
            engine.recommend_many(batch, 20, reasons=reasons)
            rates[reasons].append(len(batch) / (time.perf_counter() - started))
    ms = np.asarray(latencies) * 1000
    return {
        "items": int(known.size), "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
        "median_favourites": int(np.median(sizes[:requests])), "batch": rates[True], "batch_picks": rates[False],
    }


def spread(rates: list[float]) -> str:
    return f"{np.median(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_dir())
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--batch-users", type=int, default=4000)
    parser.add_argument("--items", type=int, default=17_000)
    parser.add_argument("--threads", type=int, default=1, help="Threads of the engine's arithmetic (as --threads of recommend).")
    parser.add_argument("--busy", action="store_true", help="Keep one core busy with a competing process meanwhile.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    catalog = load_catalog()
    with BusyCore(args.busy):
        engine = Engine(args.model, catalog, threads=args.threads)
        rows = [("shipped model", measure(engine, args.requests, args.batch_users))]
        if args.items:
            with tempfile.TemporaryDirectory() as tmp:
                folder = synthetic_model(Path(tmp) / "model", args.items, catalog)
                rows.append((f"{args.items:,}-item model", measure(Engine(folder, catalog, threads=args.threads), args.requests, args.batch_users)))
        load = os.getloadavg()[0]
    busy = "one core kept busy by a competing process" if args.busy else "no competing process"
    layers, scorer = [], engine.scorer  # the calibration wraps the item-item blend, which wraps the model's scorer
    while hasattr(scorer, "inner"):
        kind = type(scorer).__name__
        layers.append(f"item-item blend ({scorer.table.meta.get('keep')} weights per anime)" if kind == "BlendedScorer" else "calibrated anime without ratings" if kind == "CalibratedScorer" else kind)
        scorer = scorer.inner
    arithmetic = " + ".join(["numpy" if type(scorer).__name__ == "NumpyScorer" else "torch", *reversed(layers)])
    print(f"\n### Inference — {cpu_model()}, {hardware()}, {args.threads} thread(s), engine arithmetic {arithmetic}, {busy}, load {load:.2f}\n")
    print("| model | items | median favourites | p50 ms | p99 ms | batch users/s, with reasons | batch users/s, picks only (`recommend --batch`) |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['items']:,} | {r['median_favourites']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {spread(r['batch'])} | {spread(r['batch_picks'])} |")
    print("\nBatch: median (min-max) of 3 runs, the two kinds interleaved.")


if __name__ == "__main__":
    main()
