"""Write a synthetic ratings set shaped like the reference's MAL data, for preprocessing at scale.

1.77M users, ~148M ratings, 17,000 anime; heavy-tailed list lengths (log-normal) and item
popularity (Zipf-like), scores 1-10 skewed high with ~20% -1 (watched, not scored); rows
grouped by user as in the real dumps. Writes the reference's ``.npy`` layout (N, 3) int32
and, with --csv, a ``user_id,anime_id,rating`` CSV. Nothing here is real data; it is only
for timing and memory.

    python benchmarks/generate_reference_scale.py --out /tmp/refscale [--users 1770000] [--ratings 148000000] [--csv]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def generate(users: int, ratings: int, items: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lengths = rng.lognormal(mean=3.9, sigma=1.0, size=users)
    lengths = np.maximum(1, np.round(lengths * ratings / lengths.sum())).astype(np.int64)
    lengths[-1] += ratings - lengths.sum()
    if lengths[-1] < 1:
        raise SystemExit("bad length draw; try another seed")
    popularity = 1.0 / np.arange(1, items + 1) ** 0.9
    cdf = np.cumsum(popularity / popularity.sum())
    out = np.empty((ratings, 3), dtype=np.int32)
    out[:, 0] = np.repeat(np.arange(1, users + 1, dtype=np.int32), lengths)
    step = 1 << 24
    scores, probs = np.array([-1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], dtype=np.int32), np.array([20, 1, 1, 1, 2, 4, 7, 15, 20, 17, 12], dtype=np.float64)
    for start in range(0, ratings, step):
        n = min(step, ratings - start)
        out[start : start + n, 1] = 1 + np.searchsorted(cdf, rng.random(n)).astype(np.int32)
        out[start : start + n, 2] = rng.choice(scores, size=n, p=probs / probs.sum())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--users", type=int, default=1_770_000)
    parser.add_argument("--ratings", type=int, default=148_000_000)
    parser.add_argument("--items", type=int, default=17_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", action="store_true", help="also write ratings.csv")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = generate(args.users, args.ratings, args.items, args.seed)
    np.save(args.out / "ratings.npy", data)
    print(f"{args.out / 'ratings.npy'}: {data.shape[0]:,} rows in {time.perf_counter() - started:.0f} s")
    if args.csv:
        import polars as pl

        started = time.perf_counter()
        pl.DataFrame({"user_id": data[:, 0], "anime_id": data[:, 1], "rating": data[:, 2]}).write_csv(args.out / "ratings.csv")
        print(f"{args.out / 'ratings.csv'}: written in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
