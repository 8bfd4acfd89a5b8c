"""Training steps of the shipped recipe with 1 and with 2 torch threads, interleaved (A B A B).

The same first ``--steps`` batches of epoch 1 on the shipped training data, from the same
freshly built model, in each block; every block runs in its own process (torch's thread pool
is sized once per process) and reports each step's seconds. ``animerec train --threads``'s
default (``training.config.THREADS``) was chosen from this. ``--loss full,sampled`` alternates
the losses too (``--negatives``, ``--sampler`` as ``animerec train``'s).

    python benchmarks/train_threads.py [--steps 20] [--rounds 2] [--threads 1,2] [--loss full|sampled|full,sampled] [--negatives 1024] [--sampler popularity|uniform]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from training.config import TrainConfig


def block(threads: int, steps: int, loss: str, negatives: int, sampler: str) -> list[float]:
    """Seconds of each of ``steps`` training steps with ``threads`` torch threads (after one warm-up step)."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from animerec_tui.catalog import load_catalog
    from animerec_tui.runs import shipped_training_data
    from training.config import SHIPPED, resolve_config
    from training.data import BatchBuilder, length_bucketed, load_dataset
    from training.distributed import ClozeObjective
    from training.train import _new_run, _step

    data = load_dataset(shipped_training_data())
    resolved = resolve_config(data, load_catalog, **{**SHIPPED.train, "loss": loss, "negatives": negatives, "sampler": sampler})
    config = resolved.train
    start = _new_run(data, resolved.model, config, "cpu", resolved.item_genres, resolved.genre_names, resolved.item_ids, resolved.prior_items)
    model, optimizer = start.model, start.optimizer
    offsets, items = data.splits["train"]
    users, lengths = np.flatnonzero(np.diff(offsets) > 0), np.diff(offsets)
    batches = length_bucketed(users, lengths, config.batch_size, np.random.default_rng([config.seed, 0]))
    builder = BatchBuilder(offsets, items, model.config.max_len, data.ordered, config.crop)
    prior = (torch.from_numpy(start.prior_items), config.prior_weight) if start.prior_items is not None else None
    popularity = torch.from_numpy(np.maximum(np.bincount(items, minlength=model.config.rated + 1)[1 : model.config.rated + 1], 1))
    objective, autocast = ClozeObjective(model), torch.autocast("cpu", enabled=False)
    seconds = []
    for step in range(steps + 1):
        where = [config.seed, 0, step]
        tokens = torch.from_numpy(builder(batches[step], np.random.default_rng(where)))
        started = time.perf_counter()
        _step(objective, model, optimizer, tokens, config, data.ordered, where, autocast, "cpu", prior, None, popularity if config.sampler == "popularity" else None)
        seconds.append(time.perf_counter() - started)
    return seconds[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", default="1,2", help="thread counts of one round, in order")
    parser.add_argument("--loss", default="full", help="full, sampled, or both in turn (full,sampled)")
    parser.add_argument("--negatives", type=int, default=TrainConfig.negatives)
    parser.add_argument("--sampler", choices=["popularity", "uniform"], default=TrainConfig.sampler)
    parser.add_argument("--block", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.block:
        print(json.dumps(block(args.block, args.steps, args.loss, args.negatives, args.sampler)))
        return
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    rows = []
    for round_ in range(args.rounds):
        for loss in args.loss.split(","):
            for threads in map(int, args.threads.split(",")):
                load = os.getloadavg()[0]
                command = [sys.executable, __file__, "--block", str(threads), "--steps", str(args.steps), "--loss", loss, "--negatives", str(args.negatives), "--sampler", args.sampler]
                seconds = json.loads(subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout)
                name = loss if loss == "full" else f"sampled ({args.negatives:,} {args.sampler})"
                rows.append((round_ + 1, name, threads, load, seconds))
                print(f"round {round_ + 1}, {name}, {threads} threads: median {statistics.median(seconds):.3f} s/step", file=sys.stderr, flush=True)
    print(f"\n### Shipped recipe, {args.steps} training steps per block, in this order\n")
    print("| round | loss | threads | load (1 min) at start | median s/step | min | max | sum s |")
    print("|---|---|---|---|---|---|---|---|")
    for round_, name, threads, load, seconds in rows:
        print(f"| {round_} | {name} | {threads} | {load:.2f} | {statistics.median(seconds):.3f} | {min(seconds):.3f} | {max(seconds):.3f} | {sum(seconds):.1f} |")

if __name__ == "__main__":
    main()
