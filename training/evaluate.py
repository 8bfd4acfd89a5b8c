"""Full-ranking (headline) and sampled (reference-comparable) metrics, plus baselines.

Protocol: for split ``val`` the input is the user's training items; for ``test`` it is
training + validation items. Every input item is excluded from the ranking, and the one
held-out item's rank among the remaining catalogue gives Recall@K, NDCG@K and MRR.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from training.config import EASE_LAMBDA
from training.data import Dataset, gather_ranges
from training.errors import UserError
from training.itemitem import fit_ease

KS = (1, 5, 10, 20, 50, 100)

Scorer = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""scorer(users, input_offsets, input_items) -> scores (len(users), n); column j is item j+1."""


def ndcg_per_user(ranks: np.ndarray, k: int = 10) -> np.ndarray:
    """Each user's NDCG@k from the 0-based rank of their one held-out item: 1 / log2(rank + 2) inside the top k, else 0."""
    ranks = np.asarray(ranks, dtype=np.float64)
    return np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)


def metrics_from_ranks(ranks: np.ndarray, ks=KS) -> dict[str, float]:
    """Recall@K, NDCG@K and MRR from 0-based ranks of the held-out item."""
    ranks = np.asarray(ranks, dtype=np.float64)
    out = {}
    for k in ks:
        hit = ranks < k
        out[f"recall@{k}"] = float(hit.mean())
        out[f"ndcg@{k}"] = float(ndcg_per_user(ranks, k).mean())
    out["mrr"] = float((1.0 / (ranks + 1.0)).mean())
    return out


def standard_errors(ranks: np.ndarray, ks=KS) -> dict[str, float]:
    """The standard error of each metric of ``metrics_from_ranks``: the standard deviation of
    the per-user values over sqrt(users), so two systems' gap can be read against it."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size < 2:
        return {}
    per_user = {}
    for k in ks:
        hit = ranks < k
        per_user[f"recall@{k}"] = hit.astype(np.float64)
        per_user[f"ndcg@{k}"] = ndcg_per_user(ranks, k)
    per_user["mrr"] = 1.0 / (ranks + 1.0)
    root = math.sqrt(ranks.size)
    return {name: float(values.std(ddof=1) / root) for name, values in per_user.items()}


def split_inputs(data: Dataset, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(users with a held-out item, input offsets, input items, target items) for a split."""
    if split not in ("val", "test"):
        raise ValueError(split)
    offsets, targets = data.splits[split]
    users = np.flatnonzero(np.diff(offsets) > 0)
    names = ("train",) if split == "val" else ("train", "val")
    in_offsets, in_items = data.merged(*names)
    return users, in_offsets, in_items, targets[offsets[users]]


def sample_negatives(data: Dataset, users: np.ndarray, count: int, sampler: str, seed: int) -> np.ndarray:
    """``count`` negatives per user, never one of the user's own items, the same on every run.

    ``uniform`` draws every unseen item equally; ``popularity`` in proportion to training
    counts. Drawn with replacement-free rejection per user from one seeded generator.
    """
    if count < 0:
        raise UserError(f"--negatives must be 0 (full ranking) or more, not {count}")
    rng = np.random.default_rng(seed)
    n = data.num_items
    all_off, all_items = data.merged("train", "val", "test")
    # A user's items are distinct, so this is the fewest unseen items of any user; checked
    # before the (users x count) array exists, and it keeps the rejection loop finite.
    fewest = n - int(np.diff(all_off)[users].max(initial=0))
    if count > fewest:
        raise UserError(f"--negatives {count}: a user has only {fewest} unseen items to sample from; ask for fewer")
    if sampler == "popularity":
        weights = np.bincount(data.splits["train"][1], minlength=n + 1)[1:].astype(np.float64) + 1.0
        probs = weights / weights.sum()
    else:
        probs = None
    out = np.zeros((users.size, count), dtype=np.int64)
    for row, user in enumerate(users):
        seen = np.zeros(n + 1, dtype=bool)
        seen[all_items[all_off[user] : all_off[user + 1]]] = True
        picked: list[int] = []
        while len(picked) < count:
            draw = rng.choice(n, size=2 * count, p=probs) + 1
            for item in draw:
                if not seen[item]:
                    seen[item] = True
                    picked.append(int(item))
                    if len(picked) == count:
                        break
        out[row] = picked
    return out


def full_ranks(scores: np.ndarray, users: np.ndarray, in_off: np.ndarray, in_items: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Each user's held-out item's rank (0 = first) among every item but the user's inputs.

    ``scores`` (len(users), items) is overwritten. NaN scores sink to the bottom, and the
    target loses every tie: a scorer that returns NaN or the same score everywhere must not
    come out looking perfect."""
    np.nan_to_num(scores, copy=False, nan=-np.inf)
    rows = np.arange(users.size)
    target_cols = targets - 1
    target_scores = scores[rows, target_cols]
    counts = in_off[users + 1] - in_off[users]
    scores[np.repeat(rows, counts), in_items[gather_ranges(in_off[users], counts)] - 1] = np.nan  # never >= the target
    scores[rows, target_cols] = np.nan
    return (scores >= target_scores[:, None]).sum(axis=1)


def evaluate(scorer: Scorer, data: Dataset, split: str, negatives: int = 0, sampler: str = "uniform", seed: int = 0, batch: int = 256,
             progress: Callable[[int, int], None] | None = None) -> dict:
    """Rank every held-out item; full ranking when ``negatives`` is 0, else against N sampled negatives.

    ``progress(users done, users)``, if given, is called with 0 before the first batch and
    after each batch, so a long evaluation can show how far it is."""
    users, in_off, in_items, targets = split_inputs(data, split)
    if users.size == 0:
        raise UserError(f"no user has a held-out {split} item; there is nothing to evaluate")
    neg = sample_negatives(data, users, negatives, sampler, seed) if negatives else None
    if progress is not None:
        progress(0, int(users.size))
    ranks = np.empty(users.size, dtype=np.int64)
    # Batches of users with similar input lengths waste little work on padding.
    by_length = np.argsort(in_off[users + 1] - in_off[users], kind="stable")
    for start in range(0, users.size, batch):
        picked = by_length[start : start + batch]
        chunk = users[picked]
        scores = np.asarray(scorer(chunk, in_off, in_items), dtype=np.float32)
        if neg is None:
            ranks[picked] = full_ranks(scores, chunk, in_off, in_items, targets[picked])
        else:
            scores = np.nan_to_num(scores, nan=-np.inf)
            target_scores = scores[np.arange(chunk.size), targets[picked] - 1]
            neg_scores = np.take_along_axis(scores, neg[picked] - 1, axis=1)
            ranks[picked] = (neg_scores >= target_scores[:, None]).sum(axis=1)
        if progress is not None:
            progress(min(start + batch, int(users.size)), int(users.size))
    protocol = "full ranking" if neg is None else f"sampled: 1 positive vs {negatives} {sampler} negatives (seed {seed})"
    return {"protocol": protocol, "split": split, "users": int(users.size), "metrics": metrics_from_ranks(ranks), "standard_errors": standard_errors(ranks)}


def popularity_scorer(data: Dataset, split: str) -> Scorer:
    """Scores every item by how many users have it in the input split."""
    _, in_off, in_items, _ = split_inputs(data, split)
    counts = np.bincount(in_items, minlength=data.num_items + 1)[1:].astype(np.float32)

    def score(users, offsets, items):
        return np.broadcast_to(counts, (len(users), counts.size)).copy()

    return score


def ease_scorer(data: Dataset, split: str, lam: float = EASE_LAMBDA) -> Scorer:
    """EASE (Steck 2019) at one fixed ``lam``, fitted on the split's inputs (``itemitem.fit_ease``)."""
    users, in_off, in_items, _ = split_inputs(data, split)
    n = data.num_items
    all_users = np.repeat(np.arange(in_off.size - 1), np.diff(in_off))
    x = np.zeros((in_off.size - 1, n), dtype=np.float32)
    x[all_users, in_items - 1] = 1.0
    weights = fit_ease((x.T @ x).astype(np.float64), lam, "--ease-lambda")

    def score(batch_users, offsets, items):
        return x[batch_users] @ weights

    return score
