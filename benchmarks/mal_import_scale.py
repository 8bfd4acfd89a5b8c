"""Time and peak memory of reading a large MyAnimeList export, two trees alternated (A B A B).

    python benchmarks/mal_import_scale.py BASE_TREE [--entries 1300000] [--rounds 3]

Generates an export of ``--entries`` anime (the size of the one that froze the TUI: 1.3M
entries, about 196 MB of XML, 10 MB gzipped) into a temporary folder, then runs
``read_mal_export`` on it in a fresh process per run, from BASE_TREE (a checkout, e.g.
``git worktree add /tmp/base 0f8f08a``) and from this tree, alternately. Prints the median
and range of the wall time and of the peak resident memory (ru_maxrss) of each. Nothing is
written into the repository.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
STATUSES = ["Completed", "Watching", "Dropped", "On-Hold", "Plan to Watch"]
RUN = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from animerec_tui.malimport import liked, read_mal_export
start = time.perf_counter()
entries = read_mal_export(sys.argv[2])
seconds = time.perf_counter() - start
print(json.dumps({"entries": len(entries), "liked": len(liked(entries)), "seconds": seconds,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def generate(path: Path, entries: int) -> None:
    """An export of ``entries`` anime with scores 0-10 and every status, gzipped."""
    with gzip.open(path, "wb", compresslevel=6) as out:
        out.write(b'<?xml version="1.0" encoding="UTF-8" ?>\n<myanimelist>\n<myinfo><user_name>x</user_name></myinfo>\n')
        for start in range(1, entries + 1, 10_000):
            rows = (
                f"<anime><series_animedb_id>{i}</series_animedb_id><series_title>S{i}</series_title>"
                f"<my_score>{i % 11}</my_score><my_status>{STATUSES[i % 5]}</my_status></anime>\n"
                for i in range(start, min(start + 10_000, entries + 1))
            )
            out.write("".join(rows).encode())
        out.write(b"</myanimelist>\n")


def measure(tree: Path, export: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", RUN, str(tree), str(export)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, help="the tree to compare with (a checkout of another commit)")
    parser.add_argument("--entries", type=int, default=1_300_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    trees = {"base": args.base.resolve(), "this": HERE}
    with tempfile.TemporaryDirectory() as folder:
        export = Path(folder) / "animelist.xml.gz"
        generate(export, args.entries)
        print(f"export: {args.entries:,} entries, {export.stat().st_size / 2**20:.1f} MB gzipped; load {os.getloadavg()[0]:.2f}")
        runs: dict[str, list[dict]] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, tree in trees.items():
                runs[name].append(measure(tree, export))
    for name, results in runs.items():
        seconds = [r["seconds"] for r in results]
        peak = [r["peak_mb"] for r in results]
        print(
            f"{name:5} {results[0]['entries']:,} entries ({results[0]['liked']:,} liked): "
            f"{statistics.median(seconds):.1f} s ({min(seconds):.1f}-{max(seconds):.1f}), "
            f"peak {statistics.median(peak):,.0f} MB ({min(peak):,.0f}-{max(peak):,.0f})"
        )


if __name__ == "__main__":
    main()
