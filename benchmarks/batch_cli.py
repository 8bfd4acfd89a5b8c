"""`animerec recommend --batch` as a user runs it: a fresh process, a JSONL file in, JSONL out.

    python benchmarks/batch_cli.py [--users 2000] [--rounds 3] [--threads 1 2] [--jobs 1 2] [--hide-sequels] [--busy]
                                   [--seed 0] [--tree BASE --tree .]

The requests are the inference benchmark's workload (favourite counts lognormal, median 33,
at most 400, drawn from every anime the shipped model knows, seed 0). Each round runs every
--threads and --jobs pair once, interleaved, and the same command on a one-request file (the
start-up: imports, the model and the catalogue loaded). The figures are wall seconds of the
whole command, users per second over that wall time, and users per second over the wall time
less the round's start-up (the rate a long batch approaches); median and range.

--tree compares source trees (say a ``git worktree`` of an earlier commit and this one): each
round runs every tree in turn, each with its own start-up run, the package and the model
imported from that tree (``python -m animerec_tui`` run in it), so two versions meet the
same spells of a machine whose speed drifts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import BusyCore, cpu_model, hardware

REPO = Path(__file__).resolve().parents[1]


def write_requests(path: Path, users: int, seed: int = 0) -> None:
    ids = np.asarray(json.loads((REPO / "Data" / "model" / "meta.json").read_text())["vocab"]["item_ids"])
    rng = np.random.default_rng(seed)
    sizes = np.clip(rng.lognormal(3.5, 0.9, size=users).astype(int), 1, 400)
    with path.open("w") as out:
        for n, size in enumerate(sizes):
            out.write(json.dumps({"id": n, "favourites": rng.choice(ids, size=min(int(size), ids.size), replace=False).tolist()}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1], help="--jobs values of the command (worker processes).")
    parser.add_argument("--hide-sequels", action="store_true", help="Pass --hide-sequels (the inference benchmark's filters); default: the CLI's default filters.")
    parser.add_argument("--busy", action="store_true", help="Keep one core busy with a competing process meanwhile.")
    parser.add_argument("--seed", type=int, default=0, help="The workload's seed.")
    parser.add_argument("--tree", type=Path, action="append", help="A source tree to run (repeatable, run in turn each round); default: this one.")
    args = parser.parse_args()
    trees = [t.resolve() for t in args.tree] if args.tree else [REPO]
    for tree in trees:
        if not (tree / "animerec_tui" / "__main__.py").is_file():
            parser.error(f"{tree} is not an animerec source tree (no animerec_tui/__main__.py)")
    extra = ["--hide-sequels"] if args.hide_sequels else []
    pairs = [(t, j) for t in args.threads for j in args.jobs]
    with tempfile.TemporaryDirectory() as tmp:
        requests, one = Path(tmp) / "requests.jsonl", Path(tmp) / "one.jsonl"
        write_requests(requests, args.users, args.seed)
        write_requests(one, 1)

        def wall(tree: Path, path: Path, threads: int, jobs: int) -> float:
            started = time.perf_counter()
            with open(Path(tmp) / "out.jsonl", "w") as sink:
                subprocess.run([sys.executable, "-m", "animerec_tui", "recommend", "--batch", str(path), "--threads", str(threads), "--jobs", str(jobs), *extra],  # --top: the CLI's default
                               stdout=sink, check=True, cwd=tree)
            return time.perf_counter() - started

        runs = [(tree, threads, jobs) for tree in trees for threads, jobs in pairs]
        walls: dict[tuple[Path, int, int], list[float]] = {r: [] for r in runs}
        answering: dict[tuple[Path, int, int], list[float]] = {r: [] for r in runs}
        with BusyCore(args.busy):
            for _ in range(args.rounds):
                for tree in trees:
                    start_up = wall(tree, one, 1, 1)
                    for threads, jobs in pairs:
                        seconds = wall(tree, requests, threads, jobs)
                        walls[tree, threads, jobs].append(seconds)
                        answering[tree, threads, jobs].append(args.users / max(seconds - start_up, 1e-9))
            load = os.getloadavg()[0]
        lines = sum(1 for _ in open(Path(tmp) / "out.jsonl"))
    busy = "one core kept busy by a competing process" if args.busy else "no competing process"
    filters = "--hide-sequels" if args.hide_sequels else "default filters"
    print(f"\n### `recommend --batch`, {args.users:,} requests (seed {args.seed}, {lines:,} lines out), {filters} — {cpu_model()}, {hardware()}, {busy}, load {load:.2f}\n")
    tree_column = len(trees) > 1
    print(("| tree " if tree_column else "") + "| --threads | --jobs | wall s, median (range) | users/s over the wall time | users/s less start-up |")
    print(("|---" if tree_column else "") + "|---|---|---|---|---|")

    def spread(values: list[float], digits: int = 0) -> str:
        return f"{np.median(values):,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"

    for (tree, threads, jobs), times in walls.items():
        name = f"| {tree} " if tree_column else ""
        print(f"{name}| {threads} | {jobs} | {spread(times, 2)} | {spread([args.users / t for t in times])} | {spread(answering[tree, threads, jobs])} |")

if __name__ == "__main__":
    main()
