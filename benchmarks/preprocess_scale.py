"""Preprocessing at the reference's scale: 148M ratings as .npy and as CSV, timed with peak memory.

Generates the synthetic set first if it is not there (benchmarks/generate_reference_scale.py),
then runs `animerec preprocess` on each file under `/usr/bin/time -v` and prints a table.

    python benchmarks/preprocess_scale.py [--work /tmp/refscale]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from _common import REPO, gnu_time, hardware


def timed(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in GB) of a command, from GNU time."""
    result = subprocess.run(["/usr/bin/time", "-v", *args], cwd=REPO, capture_output=True, text=True, check=True)
    seconds, peak, _ = gnu_time(result.stderr)
    return seconds, peak / 1024**3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/refscale"))
    args = parser.parse_args()
    if not (args.work / "ratings.npy").exists() or not (args.work / "ratings.csv").exists():
        subprocess.run([sys.executable, str(REPO / "benchmarks" / "generate_reference_scale.py"), "--out", str(args.work), "--csv"], check=True)
    rows = []
    for name in ("ratings.npy", "ratings.csv"):
        out = args.work / f"pp-{name.split('.')[1]}"
        rows.append((name, *timed([sys.executable, "-m", "animerec_tui", "preprocess", str(args.work / name), "--out", str(out), "--force"])))
    print(f"\n### Preprocessing 148M ratings — {hardware()}\n")
    print("| input | size | wall s | peak RSS GB |")
    print("|---|---|---|---|")
    for name, seconds, peak in rows:
        print(f"| {name} | {(args.work / name).stat().st_size / 1e9:.2f} GB | {seconds:.1f} | {peak:.2f} |")


if __name__ == "__main__":
    main()
