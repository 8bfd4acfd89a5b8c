"""The model's peers (training.peers): each finds an obvious structure, tuning reads validation only, no fit sees a held-out item."""

from __future__ import annotations

import numpy as np
import pytest

from training.data import Dataset
from training.errors import UserError
from training.evaluate import evaluate
from training.peers import PEERS, Peer, compare, input_matrix, parse_peers, tune

BLOCKS, BLOCK_ITEMS = 4, 10


def _csr(rows):
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    items = np.array([i for r in rows for i in r], dtype=np.int32)
    return offsets, items


def _blocks(seed: int = 0, users: int = 240) -> Dataset:
    """Users who each like items of one block of 10 only, block 0 by far the most common:
    popularity ranks block 0 first for everyone; any item-item peer ranks the user's own block."""
    rng = np.random.default_rng(seed)
    sizes = np.array([0.55, 0.15, 0.15, 0.15])
    train, val, test = [], [], []
    for block in rng.choice(BLOCKS, size=users, p=sizes):
        items = rng.permutation(BLOCK_ITEMS)[:7] + 1 + block * BLOCK_ITEMS
        train.append(sorted(items[:5].tolist()))
        val.append([int(items[5])])
        test.append([int(items[6])])
    n = BLOCKS * BLOCK_ITEMS
    manifest = {"ordered": False, "counts": {"items": n}}
    return Dataset(None, manifest, {"train": _csr(train), "val": _csr(val), "test": _csr(test)}, np.arange(100, 100 + n))


SMALL = {
    "ease": {"lam": 10.0},
    "itemknn": {"k": 20, "shrink": 10},
    "rp3beta": {"alpha": 1.0, "beta": 0.5, "k": 20},
    "vae": {"epochs": 20, "beta": 0.2, "hidden": 32, "latent": 8, "batch": 80, "lr": 1e-2},
}


@pytest.mark.parametrize("name", SMALL)
def test_each_peer_finds_the_blocks_that_popularity_misses(name):
    data = _blocks()
    popular = evaluate(PEERS["popularity"].fit(data, "test"), data, "test")["metrics"]["ndcg@10"]
    found = evaluate(PEERS[name].fit(data, "test", **SMALL[name]), data, "test")["metrics"]
    # Popularity gets the 45% of users outside block 0 wrong at 10; each peer gets nearly everyone.
    assert popular < 0.7 and found["recall@10"] > 0.95 and found["ndcg@10"] > popular + 0.2, (name, popular, found)


def test_tune_chooses_by_validation_and_never_reads_the_test_split():
    """A peer that ranks one split's held-out items first, by its parameter: tune must choose
    the one that is right on validation (the grid's second), which is the wrong one on test."""
    data = _blocks()

    def oracle(prepared, target):
        offsets, items = data.splits[target]

        def score(users, _offsets, _items):
            out = np.zeros((len(users), data.num_items), dtype=np.float32)
            out[np.arange(len(users)), items[offsets[users]] - 1] = 1.0
            return out

        return score

    peer = Peer("oracle", oracle, ({"target": "test"}, {"target": "val"}))
    best, points = tune(peer, data)
    assert best == {"target": "val"} and points[1]["metrics"]["ndcg@10"] == 1.0 > points[0]["metrics"]["ndcg@10"]
    assert [p["params"] for p in points] == list(peer.grid)
    result = compare(peer, data, "test")
    assert result["chosen"] == {"target": "val"} and result["metrics"]["ndcg@10"] < 0.5, "test is scored with validation's choice"


def test_tune_picks_the_grid_point_that_is_best_on_validation():
    data = _blocks()
    best, points = tune(PEERS["itemknn"], data, [{"k": 1, "shrink": 0}, {"k": 0, "shrink": 0}])
    # One neighbour per item leaves most of a block unreachable from a user's five items.
    assert best == {"k": 0, "shrink": 0} and points[1]["metrics"]["ndcg@10"] > points[0]["metrics"]["ndcg@10"] + 0.1


@pytest.mark.parametrize("split, hidden", [("val", ("val", "test")), ("test", ("test",))])
def test_the_input_matrix_holds_no_held_out_item_of_the_split(split, hidden):
    data = _blocks()
    x = input_matrix(data, split)
    for name in hidden:
        offsets, items = data.splits[name]
        users = np.repeat(np.arange(offsets.size - 1), np.diff(offsets))
        assert not x[users, items - 1].any(), f"{split} inputs hold a {name} item"
    train_off, train_items = data.splits["train"]
    assert x[np.repeat(np.arange(train_off.size - 1), np.diff(train_off)), train_items - 1].all()


@pytest.mark.parametrize("name", ["popularity", "ease", "itemknn", "rp3beta"])
def test_no_fit_depends_on_the_held_out_items_it_is_scored_on(name):
    """Replace every test item by another of the same block: the test fit's scores and the tuning stay the same."""
    data = _blocks()
    offsets, items = data.splits["test"]
    moved = Dataset(None, data.manifest, {**data.splits, "test": (offsets, ((items - 1) // BLOCK_ITEMS) * BLOCK_ITEMS + 1 + (items % BLOCK_ITEMS))}, data.item_ids)
    assert not np.array_equal(moved.splits["test"][1], items)
    params = SMALL.get(name, {})
    users = np.arange(data.num_users)
    a = PEERS[name].fit(data, "test", **params)(users, None, None)
    b = PEERS[name].fit(moved, "test", **params)(users, None, None)
    np.testing.assert_array_equal(a, b)
    grid = PEERS[name].grid[:3]
    assert tune(PEERS[name], data, grid) == tune(PEERS[name], moved, grid)


def test_scorers_read_the_rows_of_the_matrix_they_were_built_on():
    """A caller may write other lists into ``prepared['x']`` and score them (benchmarks/peers_table.py does)."""
    data = _blocks()
    prepared = PEERS["itemknn"].prepare(data, "test")
    scorer = PEERS["itemknn"].build(prepared, k=0, shrink=0)
    prepared["x"][0] = 0.0
    prepared["x"][0, BLOCK_ITEMS * 3] = 1.0  # one item of block 3
    top = np.argsort(-scorer(np.array([0]), None, None)[0])[: BLOCK_ITEMS - 1]
    assert set(top) <= set(range(BLOCK_ITEMS * 3, BLOCK_ITEMS * 4))


def test_bad_peer_lists_and_bad_lambdas_are_one_clear_line():
    assert parse_peers(" EASE, itemknn,ease") == ["ease", "itemknn"]
    for text in ("", "ease,knn"):
        with pytest.raises(UserError, match="--peers takes a comma-separated list of popularity, ease"):
            parse_peers(text)
    with pytest.raises(UserError, match="lambda must be a finite number above 0"):
        PEERS["ease"].fit(_blocks(), "val", lam=float("nan"))
    with pytest.raises(UserError, match="empty grid"):
        tune(PEERS["ease"], _blocks(), [])


def test_a_longer_vae_run_continues_a_shorter_one_exactly():
    """The grid over epochs trains only its longest run: continuing 8 epochs to 20 gives the 20-epoch model, and the 8-epoch scorer stays as it was."""
    data = _blocks()
    users = np.arange(data.num_users)
    peer, params = PEERS["vae"], {**SMALL["vae"], "epochs": 8}
    prepared = peer.prepare(data, "test")
    short = peer.build(prepared, **params)
    before = short(users, None, None)
    continued = peer.build(prepared, **{**params, "epochs": 20})(users, None, None)
    np.testing.assert_array_equal(short(users, None, None), before)
    np.testing.assert_array_equal(continued, peer.fit(data, "test", **{**params, "epochs": 20})(users, None, None))


def test_the_cli_names_every_peer_and_defaults_to_known_ones():
    from training.config import PEER_NAMES, EvalConfig

    assert PEER_NAMES == tuple(PEERS)
    assert parse_peers(EvalConfig().peers) and "vae" not in parse_peers(EvalConfig().peers), "the default is the peers that tune in seconds"
