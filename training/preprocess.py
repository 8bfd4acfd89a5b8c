"""From a ratings file to train/validation/test splits, vectorised end to end.

Steps: liked interactions (formats.py) -> optional item-id map -> dense ids and
de-duplication -> iterative k-core until stable -> dense ids again (items 1..n; 0 is
padding and n+1 the mask token) -> one validation and one test item held out per user ->
numpy CSR arrays + ``manifest.json`` written atomically.

No step loops over rows in Python, so the work is a handful of O(N) passes plus one sort.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from training import __version__
from training.config import PreprocessParams  # declared with the other settings, imported from here too
from training.errors import UserError
from training.formats import Interactions, apply_item_map, read_interactions, read_item_map
from training.fsutil import atomic_output_dir, check_output, check_replaceable, data_manifest, is_regular_file, output_lock, sha256_file, shown, sweep_leftovers

MANIFEST_VERSION = 1
SPLIT_FILES = (
    "train_offsets.npy",
    "train_items.npy",
    "val_offsets.npy",
    "val_items.npy",
    "test_offsets.npy",
    "test_items.npy",
    "item_ids.npy",
    "user_ids.npy",
)
_LOOKUP_TABLE_LIMIT = 1 << 26
MAL_ID_FORMATS = ("cooperunion", "mal2020", "reference")
"""Formats whose item ids are MyAnimeList ids (caserec needs --item-map for that)."""


@dataclass
class Splits:
    """CSR arrays per split over dense ids (users 0..U-1, items 1..n)."""

    train_offsets: np.ndarray
    train_items: np.ndarray
    val_offsets: np.ndarray
    val_items: np.ndarray
    test_offsets: np.ndarray
    test_items: np.ndarray
    item_ids: np.ndarray
    user_ids: np.ndarray


def densify(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map raw ids to 0..k-1 in ascending raw-id order; return (dense ids, raw id per dense id)."""
    if ids.size == 0:
        return ids.astype(np.int32), ids.astype(np.int64)
    high = int(ids.max())
    if high < _LOOKUP_TABLE_LIMIT:
        present = np.zeros(high + 1, dtype=bool)
        present[ids] = True
        vocab = np.flatnonzero(present)
        table = np.cumsum(present, dtype=np.int32) - 1
        return table[ids], vocab.astype(np.int64)
    order = np.argsort(ids, kind="stable")
    first = _run_starts(ids[order])
    vocab = ids[order][first]
    dense = np.empty(ids.size, dtype=np.int32)
    dense[order] = np.cumsum(first, dtype=np.int64).astype(np.int32) - 1
    return dense, vocab.astype(np.int64)


def _run_starts(sorted_values: np.ndarray) -> np.ndarray:
    """True where a sorted array starts a run of equal values.

    Used instead of ``np.unique``, which on numpy 2.4 took 307 s for 95M int64 values that a
    plain sort handles in 3 s.
    """
    starts = np.empty(sorted_values.size, dtype=bool)
    if sorted_values.size:
        starts[0] = True
        np.not_equal(sorted_values[1:], sorted_values[:-1], out=starts[1:])
    return starts


def dedupe_group(users: np.ndarray, items: np.ndarray, n_items: int, ordered: bool) -> tuple[np.ndarray, np.ndarray]:
    """Drop repeated (user, item) pairs and group rows by user.

    Unordered data is sorted by (user, item) with one key sort; ordered data keeps each
    pair's first occurrence and the file's order within a user (a stable sort by user).
    """
    key = users.astype(np.int64) * n_items + items
    if ordered:
        order = np.argsort(key, kind="stable")  # equal pairs stay in file order
        keep = np.sort(order[_run_starts(key[order])])
        users, items = users[keep], items[keep]
        order = np.argsort(users, kind="stable")
        return users[order], items[order]
    key.sort()
    key = key[_run_starts(key)]
    return (key // n_items).astype(np.int32), (key % n_items).astype(np.int32)


def kcore(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int, min_user: int, min_item: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Iteratively drop users and items with too few interactions until nothing changes."""
    iterations = 0
    while True:
        iterations += 1
        user_counts = np.bincount(users, minlength=n_users)
        item_counts = np.bincount(items, minlength=n_items)
        keep = (user_counts[users] >= min_user) & (item_counts[items] >= min_item)
        if keep.all():
            return users, items, iterations
        users, items = users[keep], items[keep]


def _compact(ids: np.ndarray, vocab: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
    present = np.bincount(ids, minlength=vocab.size) > 0
    table = (np.cumsum(present, dtype=np.int32) - 1 + start).astype(np.int32)
    return table[ids], vocab[present]


def hold_out(offsets: np.ndarray, items: np.ndarray, mode: str, seed: int) -> tuple[np.ndarray, ...]:
    """Take one validation and one test item per user with at least three items.

    ``random``: uniform picks from a generator seeded with ``seed`` (two draws per user, in
    user order, so the result depends only on the data and the seed). ``last``: the last
    item is the test item and the one before it the validation item.
    Users with fewer than three items keep everything for training.
    """
    counts = np.diff(offsets)
    eligible = counts >= 3
    starts = offsets[:-1]
    if mode == "last":
        test_local, val_local = counts - 1, counts - 2
    else:
        rng = np.random.default_rng(seed)
        draws = rng.random((counts.size, 2))
        test_local = np.floor(draws[:, 0] * counts).astype(np.int64)
        val_local = np.floor(draws[:, 1] * np.maximum(counts - 1, 1)).astype(np.int64)
        val_local += val_local >= test_local
    test_pos = (starts + test_local)[eligible]
    val_pos = (starts + val_local)[eligible]
    train_mask = np.ones(items.size, dtype=bool)
    train_mask[test_pos] = False
    train_mask[val_pos] = False
    held = eligible.astype(np.int64)
    zero = np.zeros(1, dtype=np.int64)
    return (
        np.concatenate([zero, np.cumsum(counts - 2 * held)]),
        items[train_mask],
        np.concatenate([zero, np.cumsum(held)]),
        items[val_pos],
        np.concatenate([zero, np.cumsum(held)]),
        items[test_pos],
    )


def build_splits(data: Interactions, params: PreprocessParams, report=lambda step, detail: None) -> tuple[Splits, dict]:
    """Turn liked interactions into splits; return them with the counts for the manifest."""
    liked = int(data.users.size)
    if liked == 0:
        what = "any row" if data.format == "sequence" else f"a rating >= {params.min_rating:g}"
        raise UserError(f"no interactions left: none of the {data.rows_read:,} rows has {what} (--min-rating)")
    users, user_vocab = densify(data.users)
    items, item_vocab = densify(data.items)
    users, items = dedupe_group(users, items, item_vocab.size, data.ordered)
    unique = int(users.size)
    report("dedupe", f"{unique:,} distinct pairs")
    users, items, iterations = kcore(users, items, user_vocab.size, item_vocab.size, params.min_user_items, params.min_item_users)
    if users.size == 0:
        raise UserError(
            f"no interactions left after the k-core filter (--min-user-items {params.min_user_items}, "
            f"--min-item-users {params.min_item_users}); lower them"
        )
    report("k-core", f"{iterations} iterations, {users.size:,} interactions")
    users, user_vocab = _compact(users, user_vocab, 0)
    items, item_vocab = _compact(items, item_vocab, 1)
    counts = np.bincount(users, minlength=user_vocab.size)
    offsets = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(counts)])
    holdout = params.holdout if params.holdout != "auto" else ("last" if data.ordered else "random")
    if holdout == "last" and not data.ordered:
        raise UserError(f"--holdout last needs time-ordered data (--format sequence); format {data.format} has no order")
    if not (counts >= 3).any():
        raise UserError("no user has the 3 items a train/validation/test split needs; raise --min-user-items to 3 or more")
    parts = hold_out(offsets, items.astype(np.int32), holdout, params.seed)
    arrays = {name.removesuffix(".npy"): p.astype(np.int64 if "offsets" in name else np.int32) for p, name in zip(parts, SPLIT_FILES)}
    splits = Splits(**arrays, item_ids=item_vocab, user_ids=user_vocab)
    n_users, n_items, n = int(user_vocab.size), int(item_vocab.size), int(users.size)
    stats = {
        "rows_read": data.rows_read,
        "rows_liked": liked,
        "distinct_pairs": unique,
        "kcore_iterations": iterations,
        "users": n_users,
        "items": n_items,
        "interactions": n,
        "density": round(n / (n_users * n_items), 6),
        "median_items_per_user": float(np.median(counts)),
        "train": int(splits.train_items.size),
        "val": int(splits.val_items.size),
        "test": int(splits.test_items.size),
        "holdout": holdout,
    }
    return splits, stats


def preprocess(
    ratings: Path,
    out: Path,
    fmt: str = "auto",
    item_map: Path | None = None,
    params: PreprocessParams | None = None,
    force: bool = False,
    report=lambda step, detail: None,
) -> dict:
    """Run the whole pipeline and write ``out`` atomically; return the manifest.

    ``force`` replaces an existing ``out`` only if it is a folder this command made and
    holds neither input (see ``check_replaceable``).
    """
    ratings, out = Path(ratings), Path(out)
    params = PreprocessParams() if params is None else params
    if params.holdout not in ("auto", "random", "last"):
        raise UserError(f"--holdout must be random, last or auto, not '{params.holdout}'")
    if params.min_user_items < 1 or params.min_item_users < 1:
        raise UserError("--min-user-items and --min-item-users must be at least 1")
    if not 0 <= params.seed < 2**63:
        raise UserError(f"--seed {params.seed} must be a whole number from 0 to 2**63 - 1")
    inputs = [p for p in (ratings, item_map) if p is not None]
    check_output(out, "preprocess", inputs)
    with output_lock(out, "preprocess"):
        sweep_leftovers(out)  # first: a killed replace may have left the previous output aside
        if out.exists() or out.is_symlink():
            check_replaceable(out, "preprocess", inputs, foreign_in_data_folder)
            if not force:
                raise UserError(f"{out} already exists; pass --force to replace it")
        return _run(ratings, out, fmt, item_map, params, force, report)


def foreign_in_data_folder(folder: Path) -> str | None:
    """What in ``folder`` ``preprocess`` did not write (so ``--force`` may not delete it), or None.

    A data folder is known by content: a manifest.json of animerec's schema
    (``fsutil.data_manifest``) listing only the arrays preprocess writes, beside nothing but
    those arrays, each a regular file. The hashes the manifest records tie it to the arrays:
    at least one of those present must match, or the manifest was put beside arrays it never
    described. (One that does not match is a damaged copy of preprocess's own, replaced.)
    Preprocess leaves nothing hidden inside, so a hidden name is the user's too.
    """
    names = sorted(p.name for p in folder.iterdir())
    if not names:
        return None
    if "manifest.json" not in names:
        return "it is not a folder made by animerec preprocess (it has no manifest.json)"
    manifest = data_manifest(folder)
    if manifest is None or not set(manifest["files"]) <= set(SPLIT_FILES):
        return "its manifest.json is not one animerec preprocess wrote"
    extra = [name for name in names if name not in SPLIT_FILES and name != "manifest.json"]
    if extra:
        return f"it holds {shown(extra[0])}, which animerec preprocess did not write"
    arrays = [name for name in names if name in SPLIT_FILES]
    for name in arrays:
        if not is_regular_file(folder / name):
            return f"it holds {name}, which is not a file animerec preprocess wrote"
    smallest_first = sorted(arrays, key=lambda name: (folder / name).stat().st_size)
    if arrays and not any(sha256_file(folder / name) == manifest["files"].get(name) for name in smallest_first):
        return "none of the arrays it holds matches the sha256 its manifest.json records"
    return None


def _run(ratings: Path, out: Path, fmt: str, item_map: Path | None, params: PreprocessParams, force: bool, report) -> dict:
    started = time.perf_counter()
    data = read_interactions(ratings, fmt, params.min_rating)
    report("read", f"{data.rows_read:,} rows, {data.users.size:,} liked")
    map_info = None
    if item_map is not None:
        keys, values = read_item_map(item_map)
        data.items = apply_item_map(data.items, keys, values, item_map)
        map_info = {"name": item_map.name, "sha256": sha256_file(item_map)}
    splits, stats = build_splits(data, params, report)
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "tool": "animerec",
        "tool_version": __version__,
        "input": {"name": ratings.name, "bytes": ratings.stat().st_size, "sha256": sha256_file(ratings)},
        "item_map": map_info,
        "format": data.format,
        "ordered": data.ordered,
        "item_id_space": "mal" if data.format in MAL_ID_FORMATS or item_map is not None else "raw",
        "params": asdict(params),
        "counts": stats,
        "padding_id": 0,
        "mask_id": stats["items"] + 1,
        "files": {},
    }
    with atomic_output_dir(out, force) as tmp:
        for name in SPLIT_FILES:
            np.save(tmp / name, getattr(splits, name.removesuffix(".npy")), allow_pickle=False)
            manifest["files"][name] = sha256_file(tmp / name)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    report("write", f"{out} in {time.perf_counter() - started:.1f} s")
    return manifest
