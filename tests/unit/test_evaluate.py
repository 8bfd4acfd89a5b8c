"""Metrics, the full-ranking protocol, sampled negatives and the baselines."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from training.data import Dataset
from training.errors import UserError
from training.evaluate import ease_scorer, evaluate, metrics_from_ranks, popularity_scorer, sample_negatives, standard_errors


def _csr(rows):
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    items = np.array([i for r in rows for i in r], dtype=np.int32)
    return offsets, items


def _dataset(train, val, test, n_items) -> Dataset:
    manifest = {"ordered": False, "counts": {"items": n_items}}
    splits = {"train": _csr(train), "val": _csr(val), "test": _csr(test)}
    return Dataset(None, manifest, splits, np.arange(100, 100 + n_items))


def test_known_ranks_give_known_metrics():
    m = metrics_from_ranks(np.array([0, 2, 30]))
    assert m["recall@1"] == pytest.approx(1 / 3)
    assert m["recall@10"] == pytest.approx(2 / 3)
    assert m["ndcg@10"] == pytest.approx((1.0 + 1 / math.log2(4)) / 3)
    assert m["ndcg@50"] == pytest.approx((1.0 + 0.5 + 1 / math.log2(32)) / 3)
    assert m["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 31) / 3)


def test_standard_errors_are_the_per_user_spread_over_root_n():
    ranks = np.array([0, 2, 30, 0])
    per_user_ndcg10 = np.array([1.0, 0.5, 0.0, 1.0])
    se = standard_errors(ranks)
    assert se["ndcg@10"] == pytest.approx(per_user_ndcg10.std(ddof=1) / 2)
    assert se["recall@1"] == pytest.approx(np.array([1.0, 0, 0, 1]).std(ddof=1) / 2)
    assert set(se) == set(metrics_from_ranks(ranks)) and standard_errors(np.array([3])) == {}


def test_full_ranking_excludes_the_users_input_items():
    data = _dataset(train=[[1, 2]], val=[[3]], test=[[4]], n_items=6)
    # items 1-3 score highest but are inputs at test time, so the target (4) ranks first.
    scorer = lambda users, off, items: np.tile(np.array([9.0, 8.0, 7.0, 6.0, 5.0, 4.0]), (len(users), 1))
    assert evaluate(scorer, data, "test")["metrics"]["recall@1"] == 1.0
    # at validation time item 3 is the target and only 1-2 are inputs.
    assert evaluate(scorer, data, "val")["metrics"]["recall@1"] == 1.0
    worse = lambda users, off, items: np.tile(np.array([9.0, 8.0, 7.0, 1.0, 5.0, 4.0]), (len(users), 1))
    assert evaluate(worse, data, "test")["metrics"]["mrr"] == pytest.approx(1 / 3)


def test_ties_and_nan_scores_count_against_the_target():
    data = _dataset(train=[[1], [2]], val=[[3], [3]], test=[[4], [5]], n_items=6)
    constant = lambda users, off, items: np.zeros((len(users), 6))
    # every unseen item ties with the target, so it ranks last of the 4 it competes with.
    assert evaluate(constant, data, "test")["metrics"]["mrr"] == pytest.approx(1 / 4)
    assert evaluate(constant, data, "test", negatives=2)["metrics"]["mrr"] == pytest.approx(1 / 3)
    broken = lambda users, off, items: np.full((len(users), 6), np.nan)
    assert evaluate(broken, data, "test")["metrics"]["recall@1"] == 0.0
    # a NaN elsewhere ranks below the target; the seen items (-inf or not) never count.
    some_nan = lambda users, off, items: np.tile(np.array([9.0, 9.0, 9.0, 1.0, 1.0, np.nan]), (len(users), 1))
    assert evaluate(some_nan, data, "test")["metrics"]["mrr"] == pytest.approx((1 / 3 + 1 / 3) / 2)


def test_sampled_negatives_avoid_the_users_items_and_are_stable():
    rng = np.random.default_rng(0)
    train = [sorted(rng.choice(np.arange(1, 200), 20, replace=False).tolist()) for _ in range(30)]
    val = [[r.pop()] for r in train]
    test = [[r.pop()] for r in train]
    data = _dataset(train, val, test, 200)
    users = np.arange(30)
    a = sample_negatives(data, users, 100, "uniform", seed=7)
    b = sample_negatives(data, users, 100, "uniform", seed=7)
    c = sample_negatives(data, users, 100, "popularity", seed=7)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, sample_negatives(data, users, 100, "uniform", seed=8))
    for negatives in (a, c):
        for u in users:
            own = set(train[u]) | set(val[u]) | set(test[u])
            assert not own & set(negatives[u].tolist())
            assert len(set(negatives[u].tolist())) == 100


def test_ease_matches_a_direct_ridge_regression():
    rng = np.random.default_rng(0)
    x = (rng.random((40, 6)) < 0.4).astype(np.float64)
    rows = [list(np.flatnonzero(r) + 1) for r in x]
    data = _dataset(rows, [[] for _ in rows], [[] for _ in rows], 6)
    lam = 3.0
    scores = ease_scorer(data, "val", lam)(np.arange(40), None, None)
    # column j of B: ridge regression of item j on the other items (Steck 2019, eq. 1)
    b = np.zeros((6, 6))
    for j in range(6):
        others = [k for k in range(6) if k != j]
        a = x[:, others]
        b[others, j] = np.linalg.solve(a.T @ a + lam * np.eye(5), a.T @ x[:, j])
    np.testing.assert_allclose(scores, x @ b, rtol=1e-4, atol=1e-5)


def test_popularity_ranks_by_training_counts():
    data = _dataset(train=[[1, 2], [2, 3], [2]], val=[[]] * 3, test=[[]] * 3, n_items=3)
    scores = popularity_scorer(data, "val")(np.arange(3), None, None)
    assert scores[0].tolist() == [1.0, 3.0, 1.0]


def test_too_many_negatives_are_refused_before_anything_is_allocated():
    data = _dataset(train=[[1, 2]], val=[[3]], test=[[4]], n_items=6)
    tracemalloc.start()
    try:
        with pytest.raises(UserError, match="--negatives 1000000000: a user has only 2 unseen items"):
            evaluate(lambda users, off, items: np.zeros((len(users), 6)), data, "test", negatives=10**9)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000  # the (users x 10**9) array of an early check is 8 GB


def test_negative_counts_of_negatives_are_refused():
    data = _dataset(train=[[1, 2]], val=[[3]], test=[[4]], n_items=6)
    with pytest.raises(UserError, match="--negatives must be 0"):
        evaluate(lambda users, off, items: np.zeros((len(users), 6)), data, "test", negatives=-1)


def test_a_split_without_held_out_items_is_refused():
    data = _dataset(train=[[1, 2], [3]], val=[[], []], test=[[4], []], n_items=6)
    with pytest.raises(UserError, match="no user has a held-out val item"):
        evaluate(lambda users, off, items: np.zeros((len(users), 6)), data, "val")


@pytest.mark.parametrize("lam", [float("nan"), float("inf"), -1.0, 0.0])
def test_ease_refuses_a_lambda_that_is_not_a_positive_number(lam):
    data = _dataset(train=[[1, 2], [2, 3]], val=[[3], [1]], test=[[4], [4]], n_items=4)
    with pytest.raises(UserError, match="--ease-lambda must be a finite number above 0"):
        ease_scorer(data, "test", lam)


def test_ease_refuses_a_lambda_too_small_to_invert_the_matrix():
    # items 1 and 2 always come together, so X'X is singular and 1e-300 does not change it
    data = _dataset(train=[[1, 2], [1, 2, 3]], val=[[3], [4]], test=[[4], [5]], n_items=5)
    with pytest.raises(UserError, match="--ease-lambda 1e-300 is too small"):
        ease_scorer(data, "test", 1e-300)


def test_progress_follows_every_batch_and_changes_no_metric():
    rng = np.random.default_rng(0)
    train = [list(rng.choice(np.arange(1, 31), size=5, replace=False)) for _ in range(10)]
    test = [[next(i for i in range(1, 31) if i not in row)] for row in train]
    data = _dataset(train, [[] for _ in train], test, 30)
    scorer = popularity_scorer(data, "test")
    seen: list[tuple[int, int]] = []
    followed = evaluate(scorer, data, "test", batch=4, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 10), (4, 10), (8, 10), (10, 10)]
    assert followed == evaluate(scorer, data, "test", batch=4)
