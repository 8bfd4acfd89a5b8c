"""TUI search speed: per-keystroke latency over every title variant of the shipped catalogue.

Replays typing of real titles one character at a time (each prefix is one keystroke's
search, as the app runs it) plus a few typos and fan abbreviations, and prints p50/p99.
With ``--busy`` a competing process keeps one core loaded meanwhile (an SSH box is rarely
idle); ``--rounds N`` alternates idle and busy measurements N times (A B A B).

    python benchmarks/search_speed.py [--repeat 3] [--busy | --rounds 2]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _common import BusyCore, cpu_model, hardware

from animerec_tui.catalog import load_catalog
from animerec_tui.search import TitleIndex

TYPED = [
    "death note", "steins;gate", "fullmetal alchemist", "shingeki no kyojin", "your name",
    "cowboy bebop", "mushishi", "made in abyss", "narto", "evangelion", "one piece", "haikyu",
    "clannad after story", "code geass", "monogatari", "violet evergarden", "jujutsu kaisen",
    "fmab", "rezero", "kny",
]


def measure(index: TitleIndex, keystrokes: list[str], repeat: int) -> np.ndarray:
    """Milliseconds per keystroke's search, ``repeat`` times over every prefix."""
    times = []
    for _ in range(repeat):
        for query in keystrokes:
            started = time.perf_counter()
            index.search(query, limit=30, hide_adult=True)
            times.append(time.perf_counter() - started)
    return np.asarray(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--busy", action="store_true", help="Keep one core busy with a competing process meanwhile.")
    parser.add_argument("--rounds", type=int, default=0, help="Alternate idle and busy measurements this many times.")
    args = parser.parse_args()
    catalog = load_catalog()
    started = time.perf_counter()
    index = TitleIndex(catalog)
    build = time.perf_counter() - started
    keystrokes = [title[:n] for title in TYPED for n in range(1, len(title) + 1)]
    index.search("warm up")
    plan = [busy for _ in range(args.rounds) for busy in (False, True)] if args.rounds else [args.busy]
    print(f"\n### TUI search — {cpu_model()}, {hardware()}\n")
    print(f"{len(catalog):,} anime, {len(index.variants):,} title variants; index built in {build * 1000:.0f} ms\n")
    print("| machine | load | keystrokes | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for busy in plan:
        with BusyCore(busy):
            ms = measure(index, keystrokes, args.repeat)
            load = os.getloadavg()[0]
        machine = "one core busy" if busy else "idle"
        print(f"| {machine} | {load:.2f} | {ms.size:,} | {np.percentile(ms, 50):.2f} | {np.percentile(ms, 99):.2f} | {ms.max():.2f} |")


if __name__ == "__main__":
    main()
