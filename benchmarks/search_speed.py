"""TUI search speed: per-keystroke latency over every title variant of the shipped catalogue.

Replays typing of real titles one character at a time (each prefix is one keystroke's
search, as the app runs it) plus a few typos, and prints p50/p99.

    python benchmarks/search_speed.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import hardware

from animerec_tui.catalog import load_catalog
from animerec_tui.search import TitleIndex

TYPED = [
    "death note", "steins;gate", "fullmetal alchemist", "shingeki no kyojin", "your name",
    "cowboy bebop", "mushishi", "made in abyss", "narto", "evangelion", "one piece", "haikyu",
    "clannad after story", "code geass", "monogatari", "violet evergarden", "jujutsu kaisen",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    catalog = load_catalog()
    started = time.perf_counter()
    index = TitleIndex(catalog)
    build = time.perf_counter() - started
    keystrokes = [title[:n] for title in TYPED for n in range(1, len(title) + 1)]
    index.search("warm up")
    times = []
    for _ in range(args.repeat):
        for query in keystrokes:
            started = time.perf_counter()
            index.search(query, limit=30)
            times.append(time.perf_counter() - started)
    ms = np.asarray(times) * 1000
    print(f"\n### TUI search — {hardware()}\n")
    print(f"{len(catalog):,} anime, {len(index.variants):,} title variants; index built in {build * 1000:.0f} ms\n")
    print("| keystrokes | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|")
    print(f"| {len(times):,} | {np.percentile(ms, 50):.2f} | {np.percentile(ms, 99):.2f} | {ms.max():.2f} |")


if __name__ == "__main__":
    main()
