"""k-core, dense ids, hold-out and the written folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import ANIME_DATA, needs_shared_data, write_lines
from training.errors import UserError
from training.formats import Interactions
from training.preprocess import PreprocessParams, build_splits, dedupe_group, hold_out, kcore, preprocess


def _interactions(pairs, ordered=False):
    users, items = zip(*pairs)
    return Interactions(np.array(users, dtype=np.int64), np.array(items, dtype=np.int64), "sequence" if ordered else "cooperunion", ordered, len(pairs))


def test_kcore_iterates_until_stable():
    # item 3 has one user; dropping it leaves user 1 with one item, which then drops item 2's count to 1.
    users = np.array([0, 0, 1, 1, 2, 2, 2], dtype=np.int32)
    items = np.array([0, 2, 0, 1, 0, 1, 3], dtype=np.int32)
    u, i, iterations = kcore(users, items, 3, 4, min_user=2, min_item=2)
    assert iterations >= 2
    assert sorted(zip(u.tolist(), i.tolist())) == [(1, 0), (1, 1), (2, 0), (2, 1)]


def test_dedupe_keeps_first_occurrence_for_ordered_data():
    users = np.array([1, 0, 1, 1, 0], dtype=np.int32)
    items = np.array([5, 2, 3, 5, 2], dtype=np.int32)
    u, i = dedupe_group(users, items, 6, ordered=True)
    assert list(zip(u.tolist(), i.tolist())) == [(0, 2), (1, 5), (1, 3)]
    u, i = dedupe_group(users, items, 6, ordered=False)
    assert list(zip(u.tolist(), i.tolist())) == [(0, 2), (1, 3), (1, 5)]


def test_hold_out_partitions_each_users_items():
    offsets = np.array([0, 5, 7, 10])
    items = np.arange(1, 11, dtype=np.int32)
    tr_o, tr, va_o, va, te_o, te = hold_out(offsets, items, "random", seed=3)
    assert tr_o.tolist() == [0, 3, 5, 6]  # user 1 has two items: no hold-out
    assert va_o.tolist() == te_o.tolist() == [0, 1, 1, 2]
    for user, (start, end) in enumerate(zip(offsets[:-1], offsets[1:])):
        held = set(va[va_o[user]:va_o[user + 1]]) | set(te[te_o[user]:te_o[user + 1]])
        train = set(tr[tr_o[user]:tr_o[user + 1]])
        assert train | held == set(items[start:end])
        assert not train & held
    last = hold_out(offsets, items, "last", seed=0)
    assert last[5].tolist() == [5, 10] and last[3].tolist() == [4, 9]


def test_random_hold_out_is_seeded():
    offsets = np.arange(0, 101, 10)
    items = np.arange(100, dtype=np.int32)
    a, b, c = (hold_out(offsets, items, "random", s)[5] for s in (0, 0, 1))
    assert a.tolist() == b.tolist()
    assert a.tolist() != c.tolist()


def test_dense_ids_and_vocabulary():
    pairs = [(u, i) for u in (10, 20, 30) for i in (500, 700, 900)]
    splits, stats = build_splits(_interactions(pairs), PreprocessParams(min_user_items=1, min_item_users=1))
    assert splits.item_ids.tolist() == [500, 700, 900]
    assert splits.user_ids.tolist() == [10, 20, 30]
    everything = np.concatenate([splits.train_items, splits.val_items, splits.test_items])
    assert everything.min() == 1 and everything.max() == 3
    assert stats["interactions"] == 9 and stats["train"] == 3


def test_last_hold_out_refused_for_unordered_data():
    pairs = [(u, i) for u in range(3) for i in range(4)]
    with pytest.raises(UserError, match="time-ordered"):
        build_splits(_interactions(pairs), PreprocessParams(min_user_items=1, min_item_users=1, holdout="last"))


def test_filters_that_leave_nothing_say_which(tmp_path):
    path = write_lines(tmp_path / "r.csv", ["1,1,3", "1,2,4", "2,1,5"])
    with pytest.raises(UserError, match="--min-rating"):
        preprocess(path, tmp_path / "out")
    path = write_lines(tmp_path / "r2.csv", ["1,1,9", "1,2,9", "2,1,9"])
    with pytest.raises(UserError, match="--min-user-items 10, --min-item-users 10"):
        preprocess(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_output_is_byte_identical_across_runs(tmp_path, toy_rows):
    path = write_lines(tmp_path / "r.csv", [f"{u},{i},{r}" for u, i, r in toy_rows])
    params = PreprocessParams(min_user_items=3, min_item_users=3)
    preprocess(path, tmp_path / "a", params=params)
    preprocess(path, tmp_path / "b", params=params)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert "manifest.json" in names and "train_items.npy" in names
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["mask_id"] == manifest["counts"]["items"] + 1
    assert manifest["params"]["min_user_items"] == 3


def test_existing_output_needs_force_and_is_replaced_whole(tmp_path, toy_rows):
    path = write_lines(tmp_path / "r.csv", [f"{u},{i},{r}" for u, i, r in toy_rows])
    out = tmp_path / "out"
    params = PreprocessParams(min_user_items=3, min_item_users=3)
    preprocess(path, out, params=params)
    (out / "user_ids.npy").write_text("damaged since")
    with pytest.raises(UserError, match="--force"):
        preprocess(path, out, params=params)
    assert (out / "user_ids.npy").read_text() == "damaged since"
    preprocess(path, out, params=params, force=True)
    assert np.load(out / "user_ids.npy").size == 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "r.csv"]


def test_force_never_replaces_a_folder_that_preprocess_did_not_make(tmp_path, toy_rows):
    path = write_lines(tmp_path / "r.csv", [f"{u},{i},{r}" for u, i, r in toy_rows])
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not a folder made by animerec preprocess"):
        preprocess(path, out, params=PreprocessParams(min_user_items=3, min_item_users=3), force=True)
    assert (out / "keep.txt").read_text() == "mine"


@needs_shared_data("anime", "caserec_cooperunion_5k", "anime_ratings.dat")
def test_known_answer_on_the_real_caserec_data(tmp_path):
    folder = ANIME_DATA / "caserec_cooperunion_5k"
    manifest = preprocess(
        folder / "anime_ratings.dat",
        tmp_path / "out",
        item_map=folder / "DERIVED_caserec_item_to_mal_id.csv",
        params=PreprocessParams(min_rating=7, min_user_items=5, min_item_users=5),
    )
    counts = manifest["counts"]
    assert (counts["users"], counts["items"], counts["interactions"]) == (4104, 4017, 339473)
    assert manifest["format"] == "caserec"
    item_ids = np.load(tmp_path / "out" / "item_ids.npy")
    assert {5114, 1535, 9253} <= set(item_ids.tolist())  # MAL ids, not caserec's renumbering
