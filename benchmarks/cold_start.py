"""Cold start of `animerec recommend`: a fresh process, as a script or a shell user meets it.

    python benchmarks/cold_start.py [--rounds 5] [--busy] [TREE ...]

Runs `python -m animerec_tui recommend --mal-id 1535 --mal-id 9253 --mal-id 5114 -k 10`
(Death Note, Steins;Gate, Fullmetal Alchemist: Brotherhood) in each source tree (default:
this one; e.g. a `git worktree` of an older commit), interleaved A B A B, and prints each
tree's median and range of wall seconds and CPU seconds (user + system), with the CPU, the
load and whether torch was imported. With --busy a competing process keeps one core loaded.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import REPO, BusyCore, cpu_model

COMMAND = ["-m", "animerec_tui", "recommend", "--mal-id", "1535", "--mal-id", "9253", "--mal-id", "5114", "-k", "10", "--format", "json"]
PROBE = """
import runpy, sys
sys.argv = ["animerec"] + sys.argv[1:]
try:
    runpy.run_module("animerec_tui", run_name="__main__")
finally:
    print("torch imported" if "torch" in sys.modules else "no torch", file=sys.stderr)
"""


def once(tree: Path) -> tuple[float, float, bool]:
    """(wall seconds, CPU seconds, torch imported) of one run in ``tree``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROBE, *COMMAND[2:]], cwd=tree, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tree)})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"cold_start: {tree}: recommend failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, "torch imported" in done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="*", type=Path, default=[REPO])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--busy", action="store_true", help="Keep one core busy with a competing process meanwhile.")
    args = parser.parse_args()
    runs: dict[Path, list[tuple[float, float, bool]]] = {tree: [] for tree in args.trees}
    loads = []
    with BusyCore(args.busy):
        for tree in args.trees:  # warm the file cache and the .pyc files
            once(tree)
        for _ in range(args.rounds):
            for tree in args.trees:
                runs[tree].append(once(tree))
                loads.append(os.getloadavg()[0])
    busy = "one core kept busy by a competing process" if args.busy else "no competing process of its own"
    print(f"\n### recommend cold start: {cpu_model()}, {os.cpu_count()} cores, {busy}, load {min(loads):.2f}-{max(loads):.2f}, {args.rounds} rounds interleaved\n")
    print("| tree | wall s, median (range) | CPU s, median (range) | torch imported |")
    print("|---|---|---|---|")
    for tree, results in runs.items():
        wall, cpu = [r[0] for r in results], [r[1] for r in results]
        print(f"| {tree} | {statistics.median(wall):.2f} ({min(wall):.2f}-{max(wall):.2f}) | {statistics.median(cpu):.2f} ({min(cpu):.2f}-{max(cpu):.2f}) | {'yes' if results[0][2] else 'no'} |")


if __name__ == "__main__":
    main()
