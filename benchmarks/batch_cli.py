"""`animerec recommend --batch` as a user runs it: a fresh process, a JSONL file in, JSONL out.

    python benchmarks/batch_cli.py [--users 2000] [--rounds 3] [--threads 1 2] [--hide-sequels] [--busy]

The requests are the inference benchmark's workload (favourite counts lognormal, median 33,
at most 400, drawn from every anime the shipped model knows, seed 0). Each round runs every
--threads value once, interleaved; the figures are wall seconds of the whole command
(start-up included) and users per second over that wall time, median and range.
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
    parser.add_argument("--hide-sequels", action="store_true", help="Pass --hide-sequels (the inference benchmark's filters); default: the CLI's default filters.")
    parser.add_argument("--busy", action="store_true", help="Keep one core busy with a competing process meanwhile.")
    args = parser.parse_args()
    extra = ["--hide-sequels"] if args.hide_sequels else []
    with tempfile.TemporaryDirectory() as tmp:
        requests = Path(tmp) / "requests.jsonl"
        write_requests(requests, args.users)
        walls: dict[int, list[float]] = {t: [] for t in args.threads}
        with BusyCore(args.busy):
            for _ in range(args.rounds):
                for threads in args.threads:
                    started = time.perf_counter()
                    with open(Path(tmp) / "out.jsonl", "w") as sink:
                        subprocess.run([sys.executable, "-m", "animerec_tui", "recommend", "--batch", str(requests), "--threads", str(threads), *extra],  # --top: the CLI's default
                                       stdout=sink, check=True, cwd=REPO)
                    walls[threads].append(time.perf_counter() - started)
            load = os.getloadavg()[0]
        lines = sum(1 for _ in open(Path(tmp) / "out.jsonl"))
    busy = "one core kept busy by a competing process" if args.busy else "no competing process"
    filters = "--hide-sequels" if args.hide_sequels else "default filters"
    print(f"\n### `recommend --batch`, {args.users:,} requests ({lines:,} lines out), {filters} — {cpu_model()}, {hardware()}, {busy}, load {load:.2f}\n")
    print("| --threads | wall s, median (range) | users/s over the wall time, median (range) |")
    print("|---|---|---|")
    for threads, times in walls.items():
        rates = [args.users / t for t in times]
        print(f"| {threads} | {np.median(times):.2f} ({min(times):.2f}-{max(times):.2f}) | {np.median(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) |")


if __name__ == "__main__":
    main()
