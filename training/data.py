"""Preprocessed splits on disk -> padded batches and cloze masks, vectorised per batch."""

from __future__ import annotations

import json
import reprlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.errors import UserError
from training.formats import FORMATS, MAX_ID, map_npy
from training.preprocess import MANIFEST_VERSION, SPLIT_FILES


@dataclass
class Dataset:
    """A preprocessed folder: CSR splits over dense ids, items 1..num_items."""

    folder: Path
    manifest: dict
    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    item_ids: np.ndarray

    @property
    def num_items(self) -> int:
        return int(self.item_ids.size)

    @property
    def num_users(self) -> int:
        return int(self.splits["train"][0].size - 1)

    @property
    def ordered(self) -> bool:
        return bool(self.manifest["ordered"])

    def merged(self, *names: str) -> tuple[np.ndarray, np.ndarray]:
        """CSR of several splits concatenated per user (e.g. train + val as test-time input)."""
        parts = [self.splits[n] for n in names]
        counts = sum(np.diff(o) for o, _ in parts)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        items = np.empty(int(offsets[-1]), dtype=np.int32)
        cursor = offsets[:-1].copy()
        for o, it in parts:
            n = np.diff(o)
            dest = gather_ranges(cursor, n)
            items[dest] = it
            cursor += n
        return offsets, items


def gather_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(s, s + c)`` for every (s, c) without a Python loop."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    base = np.repeat(np.asarray(starts, dtype=np.int64) - (ends - counts), counts)
    return base + np.arange(total, dtype=np.int64)


_AGAIN = "run animerec preprocess again"
_MANIFEST_FIELDS = (
    ("ordered", lambda v: isinstance(v, bool), "true or false"),
    ("format", lambda v: v in FORMATS, "one of " + ", ".join(FORMATS)),
    ("item_id_space", lambda v: v in ("mal", "raw"), "mal or raw"),
    ("input", lambda v: isinstance(v, dict), "an object"),
    ("params", lambda v: isinstance(v, dict), "an object"),
    ("counts", lambda v: isinstance(v, dict), "an object"),
    # bool is an int to Python, and true is no count.
    ("counts.items", lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    ("counts.users", lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
)
"""Every manifest key that training, evaluation or a checkpoint reads, with its test."""


def load_dataset(folder: Path) -> Dataset:
    """Open a folder written by ``animerec preprocess``; refuse anything incomplete, foreign or damaged.

    Everything later code relies on is checked here, before any of it runs: the manifest's
    keys and types, and CSR arrays that fit together (offsets from 0, never decreasing,
    ending at their items' size; items from 1 to the vocabulary size; a sorted vocabulary).
    The checks are whole-array numpy passes, so a 148M-item folder costs a few of those.
    """
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if not folder.is_dir():
        raise UserError(f"{folder}: not a preprocessed folder (run animerec preprocess first)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise UserError(f"{folder}: no manifest.json; is this a folder made by animerec preprocess?") from None
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: '[[[[...' nested 100k deep
        raise UserError(f"{manifest_path}: unreadable ({exc}); {_AGAIN}") from None
    _check_manifest(manifest_path, manifest)
    arrays = {name.removesuffix(".npy"): _load_ints(folder / name) for name in SPLIT_FILES}
    item_ids, n_users = arrays["item_ids"], arrays["train_offsets"].size - 1
    if n_users < 1 or item_ids.size < 1:
        raise UserError(f"{folder}: has no {'users' if n_users < 1 else 'items'}; {_AGAIN}")
    if (item_ids[1:] <= item_ids[:-1]).any():
        raise UserError(f"{folder / 'item_ids.npy'}: ids must be unique and in increasing order; {_AGAIN}")
    if item_ids[0] < 0 or item_ids[-1] > MAX_ID:
        raise UserError(f"{folder / 'item_ids.npy'}: ids must be from 0 to {MAX_ID:,}; {_AGAIN}")
    if arrays["user_ids"].size != n_users:
        raise UserError(f"{folder / 'user_ids.npy'}: has {arrays['user_ids'].size:,} ids for {n_users:,} users; {_AGAIN}")
    counts = manifest["counts"]
    if counts["items"] != item_ids.size:
        raise UserError(f"{folder}: item_ids.npy has {item_ids.size:,} items, the manifest says {counts['items']:,}; {_AGAIN}")
    if counts["users"] != n_users:
        raise UserError(f"{folder}: the arrays have {n_users:,} users, the manifest says {counts['users']:,}; {_AGAIN}")
    splits = {}
    for split in ("train", "val", "test"):
        offsets, items = arrays[f"{split}_offsets"], arrays[f"{split}_items"]
        _check_csr(folder, split, offsets, items, n_users, item_ids.size)
        if split != "train" and items.size == 0:
            raise UserError(f"{folder}: no user has a held-out {split} item; {_AGAIN}")
        # Hand-made folders may use other integer widths; the checks above make the casts exact.
        splits[split] = (offsets.astype(np.int64, copy=False), items.astype(np.int32, copy=False))
    return Dataset(folder, manifest, splits, item_ids.astype(np.int64, copy=False))


def _check_manifest(path: Path, manifest) -> None:
    if not isinstance(manifest, dict):
        raise UserError(f"{path}: expected a JSON object, found {reprlib.repr(manifest)}; {_AGAIN}")
    if manifest.get("tool") != "animerec" or manifest.get("manifest_version") != MANIFEST_VERSION:
        raise UserError(
            f"{path}: made by an incompatible version (manifest_version {manifest.get('manifest_version')!r}, "
            f"this animerec reads {MANIFEST_VERSION}); {_AGAIN}"
        )
    for key, valid, expected in _MANIFEST_FIELDS:
        value = manifest
        for part in key.split("."):  # the parent was checked to be an object by an earlier entry
            if part not in value:
                raise UserError(f"{path}: '{key}' is missing; {_AGAIN}")
            value = value[part]
        if not valid(value):
            raise UserError(f"{path}: '{key}' is {reprlib.repr(value)}, expected {expected}; {_AGAIN}")


def _load_ints(path: Path) -> np.ndarray:
    """A 1-D integer array from ``path``, read into memory."""
    if not path.is_file():
        raise UserError(f"{path.parent}: {path.name} is missing; {_AGAIN}")
    try:
        mapped = map_npy(path)
    except (ValueError, OSError, EOFError) as exc:
        raise UserError(f"{path}: unreadable ({exc}); {_AGAIN}") from None
    if mapped.ndim != 1:
        raise UserError(f"{path}: has shape {mapped.shape}, expected a 1-D array; {_AGAIN}")
    if mapped.dtype.kind not in "iu":
        raise UserError(f"{path}: holds {mapped.dtype} values, expected integers; {_AGAIN}")
    return np.array(mapped)


def _check_csr(folder: Path, split: str, offsets: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> None:
    if offsets.size != n_users + 1:
        raise UserError(f"{folder}: the {split} arrays do not fit together ({offsets.size - 1:,} users, train has {n_users:,}); {_AGAIN}")
    if offsets[0] != 0 or offsets[-1] != items.size or (offsets[1:] < offsets[:-1]).any():
        raise UserError(
            f"{folder / f'{split}_offsets.npy'}: offsets must start at 0, never decrease and end at {items.size:,} "
            f"(the size of {split}_items.npy); {_AGAIN}"
        )
    if items.size:
        low, high = items.min(), items.max()
        if low < 1 or high > n_items:
            raise UserError(f"{folder / f'{split}_items.npy'}: item ids must be from 1 to {n_items:,}, found {low if low < 1 else high}; {_AGAIN}")


class BatchBuilder:
    """Padded (B, L) token batches from CSR rows.

    A row longer than ``max_len`` is cut down: for unordered data to a fresh random subset
    (each call draws anew, so over epochs every part of a long list is used); for ordered
    data to its latest items. Ordered rows are right-aligned so the newest item always sits
    at the last position, where the mask token goes at inference time.
    """

    def __init__(self, offsets: np.ndarray, items: np.ndarray, max_len: int, ordered: bool, crop: str = "latest") -> None:
        self.offsets, self.items, self.max_len, self.ordered, self.crop = offsets, items, max_len, ordered, crop

    def __call__(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Tokens for ``users``, padding columns trimmed."""
        windowed = self.ordered and self.crop == "random"
        tokens = pad_rows(self.offsets, self.items, users, self.max_len, self.ordered, rng, width=self.max_len, random_window=windowed)
        return trim_padding(tokens, self.ordered)


def pad_rows(offsets, items, users, limit: int, ordered: bool, rng: np.random.Generator | None, width: int, random_window: bool = False) -> np.ndarray:
    """Place at most ``limit`` items of each user's row into a zero-padded (B, width) array.

    ``random_window`` (ordered rows only): a row longer than ``limit`` ends at a random point
    instead of at its latest item, so every stretch of a long history gets trained on.
    """
    users = np.asarray(users, dtype=np.int64)
    starts, counts = offsets[users], offsets[users + 1] - offsets[users]
    if random_window and rng is not None and (counts > limit).any():
        long = counts > limit
        ends = counts.copy()
        ends[long] = limit + rng.integers(0, counts[long] - limit + 1)
        starts, counts = starts + np.where(long, ends - limit, 0), np.minimum(counts, limit)
    index = gather_ranges(starts, counts)
    segment = np.repeat(np.arange(users.size), counts)
    if not ordered and rng is not None and (counts > limit).any():
        order = np.lexsort((rng.random(index.size), segment))
        index, segment = index[order], segment[order]
    first = np.repeat(np.cumsum(counts) - counts, counts)
    rank = np.arange(index.size) - first
    kept = np.minimum(counts, limit)
    if ordered:
        keep = rank >= np.repeat(counts - limit, counts)
        column = rank - np.repeat(counts - kept, counts) + np.repeat(limit - kept, counts)
    else:
        keep = rank < limit
        column = rank
    tokens = np.zeros((users.size, width), dtype=np.int64)
    tokens[segment[keep], column[keep]] = items[index[keep]]
    return tokens


def trim_padding(tokens: np.ndarray, ordered: bool) -> np.ndarray:
    """Drop columns that are padding in every row (left for ordered rows, right otherwise)."""
    used = int((tokens != 0).sum(axis=1).max(initial=1))
    return tokens[:, -used:] if ordered else tokens[:, :used]


def length_bucketed(users: np.ndarray, lengths: np.ndarray, batch_size: int, rng: np.random.Generator, window: int = 64) -> list[np.ndarray]:
    """Shuffled batches of users with similar list lengths, so little compute goes to padding.

    Users are shuffled, cut into windows of ``window`` batches, sorted by length inside each
    window, split into batches, and the batches shuffled again.
    """
    users = rng.permutation(users)
    span = batch_size * window
    batches = []
    for start in range(0, users.size, span):
        part = users[start : start + span]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, part.size, batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def mask_tokens(tokens, mask_prob: float, mask_id: int, num_items: int, generator, last_prob: float = 0.0, ordered: bool = True):
    """BERT-style cloze masking of a (B, L) torch batch, vectorised.

    Each real item is chosen with probability ``mask_prob`` (at least one per row); of the
    chosen, 80% become the mask token, 10% a random item and 10% stay as they are.
    With ``last_prob`` > 0, that share of rows instead masks a single item, always with the
    mask token: the last one of an ordered row, a random one of a set. That is the question
    the model is asked at inference (everything known, one item to find).
    Returns (inputs, positions (M, 2), labels (M,)).
    """
    import torch

    real = tokens != 0
    chosen = (torch.rand(tokens.shape, generator=generator, device=tokens.device) < mask_prob) & real
    empty = ~chosen.any(dim=1) & real.any(dim=1)
    if empty.any():
        noise = torch.rand(tokens.shape, generator=generator, device=tokens.device).masked_fill(~real, -1.0)
        pick = noise.argmax(dim=1)
        rows = torch.nonzero(empty).squeeze(1)
        chosen[rows, pick[rows]] = True
    action = torch.rand(tokens.shape, generator=generator, device=tokens.device)
    if last_prob > 0:
        rows = torch.nonzero((torch.rand(tokens.shape[0], generator=generator, device=tokens.device) < last_prob) & real.any(dim=1)).squeeze(1)
        if ordered:
            last = (real * torch.arange(tokens.shape[1], device=tokens.device)).argmax(dim=1)[rows]
        else:
            noise = torch.rand(tokens.shape, generator=generator, device=tokens.device).masked_fill(~real, -1.0)
            last = noise.argmax(dim=1)[rows]
        chosen[rows] = False
        chosen[rows, last] = True
        action[rows, last] = 0.0
    inputs = tokens.clone()
    inputs[chosen & (action < 0.8)] = mask_id
    swap = chosen & (action >= 0.8) & (action < 0.9)
    random_items = torch.randint(1, num_items + 1, tokens.shape, generator=generator, device=tokens.device)
    inputs[swap] = random_items[swap]
    positions = torch.nonzero(chosen)
    return inputs, positions, tokens[chosen]


def chunked_queries(offsets, items, users, max_len: int, ordered: bool, mask_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Inference rows: each user's items plus one mask token, read at the mask position.

    Ordered data: the latest ``max_len - 1`` items, right-aligned, mask last. Unordered data
    never drops a favourite: a row longer than ``max_len - 1`` is dealt round-robin (in its
    stored order) into ``k = ceil(n / (max_len - 1))`` chunks, each scored with its own mask;
    the caller averages the chunks' scores. Returns (tokens (R, max_len), owner (R,)), where
    ``owner`` indexes ``users``.
    """
    users = np.asarray(users, dtype=np.int64)
    room = max_len - 1
    if ordered:
        tokens = pad_rows(offsets, items, users, room, True, None, width=max_len)
        tokens[:, -1] = mask_id
        return tokens, np.arange(users.size)
    counts = offsets[users + 1] - offsets[users]
    chunks = np.maximum(1, -(-counts // room))
    row_start = np.cumsum(chunks) - chunks
    owner = np.repeat(np.arange(users.size), chunks)
    index = gather_ranges(offsets[users], counts)
    rank = np.arange(index.size) - np.repeat(np.cumsum(counts) - counts, counts)
    per_item_chunks = np.repeat(chunks, counts)
    rows = np.repeat(row_start, counts) + rank % per_item_chunks
    tokens = np.zeros((owner.size, max_len), dtype=np.int64)
    tokens[rows, rank // per_item_chunks] = items[index]
    chunk_of_row = np.arange(owner.size) - row_start[owner]
    sizes = -(-(counts[owner] - chunk_of_row) // chunks[owner])
    tokens[np.arange(owner.size), sizes] = mask_id
    return tokens, owner
