"""The item-item (EASE) table: its fit, its pruning, its files, and the engine's blend with it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from animerec_tui.engine import Engine, Filters
from animerec_tui.engine.backends import BlendedScorer
from tests.conftest import DEATH_NOTE, FMA_B, NARUTO, STEINS_GATE
from training.errors import UserError
from training.itemitem import ITEMITEM_FILE, ITEMITEM_META, ItemItem, fit_ease, gram, read_itemitem, write_itemitem


def _rows(users: int, items: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lists = [np.sort(rng.choice(np.arange(1, items + 1), size=rng.integers(2, items // 2), replace=False)) for _ in range(users)]
    return np.concatenate([[0], np.cumsum([len(x) for x in lists])]).astype(np.int64), np.concatenate(lists).astype(np.int32)


def test_each_column_of_ease_is_the_ridge_regression_of_that_item_on_the_others():
    offsets, items = _rows(40, 12)
    x = np.zeros((40, 12))
    x[np.repeat(np.arange(40), np.diff(offsets)), items - 1] = 1
    b = fit_ease(gram(offsets, items, 12), 3.0)
    assert np.all(np.diag(b) == 0)
    for j in range(12):
        others = np.delete(np.arange(12), j)
        a = x[:, others]
        expected = np.linalg.solve(a.T @ a + 3.0 * np.eye(11), a.T @ x[:, j])
        np.testing.assert_allclose(b[others, j], expected, rtol=1e-4, atol=1e-5)


def test_pruning_keeps_each_rows_largest_weights_and_scores_sum_them():
    offsets, items = _rows(60, 30, seed=1)
    b = fit_ease(gram(offsets, items, 30), 5.0)
    table = ItemItem.prune(b, 6, {"lambda": 5.0})
    dense = table.full()
    for f in range(30):
        kept = np.flatnonzero(dense[f])
        assert kept.size == 6
        assert np.abs(b[f, kept]).min() >= np.abs(np.delete(b[f], kept)).max() - 1e-6
    favourites = np.asarray([3, 7, 11])
    np.testing.assert_allclose(table.scores(favourites), dense[favourites].sum(axis=0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(table.parts(favourites, np.arange(30)), dense[favourites].T, rtol=1e-6)
    assert table.indices.dtype == np.int16 and table.values.dtype == np.float16


def _write(folder, ids, keep=4, **changes):
    offsets, items = _rows(50, len(ids), seed=2)
    table = ItemItem.prune(fit_ease(gram(offsets, items, len(ids)), 10.0), keep, {"lambda": 10.0, "item_ids": list(ids)})
    write_itemitem(folder, table)
    return table


def test_the_files_round_trip_and_damage_is_one_line(tmp_path):
    from safetensors.numpy import load_file, save_file

    ids = [5, 9, 20, 31, 40, 41, 57]
    table = _write(tmp_path, ids)
    back = read_itemitem(tmp_path, np.asarray(ids))
    assert back is not None and np.array_equal(back.indices, table.indices) and np.array_equal(back.values, table.values)
    assert read_itemitem(tmp_path / "missing", np.asarray(ids)) is None
    with pytest.raises(UserError, match="not the model's rated anime"):
        read_itemitem(tmp_path, np.asarray(ids[::-1]))
    arrays = load_file(str(tmp_path / ITEMITEM_FILE))
    for change, fragment in ((lambda a: a["values"].__setitem__((0, 0), np.nan), "NaN"), (lambda a: a.__setitem__("values", a["values"][:, :2].copy()), "must both be"),
                             (lambda a: a.__setitem__("values", a["values"].astype(np.float64)), "float16/float32"), (lambda a: a["indices"].__setitem__((0, 0), 99), "from 0 to 6")):
        broken = {k: v.copy() for k, v in arrays.items()}
        change(broken)
        save_file(broken, str(tmp_path / ITEMITEM_FILE))
        with pytest.raises(UserError, match=fragment) as error:
            read_itemitem(tmp_path, np.asarray(ids))
        assert "\n" not in str(error.value)


def _blended(tiny_model, tmp_path, weight, level=0.0):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    meta = json.loads((folder / "meta.json").read_text())
    rated = meta["model_config"]["num_rated"] or meta["model_config"]["num_items"]
    _write(folder, meta["vocab"]["item_ids"][:rated], keep=20)
    meta["blend"] = {"weight": weight, "scale": 2.0, "new_level": level}
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def test_without_the_file_the_engine_is_todays_and_weight_zero_changes_nothing(tiny_model, catalog, tmp_path):
    plain = Engine(tiny_model, catalog)
    assert not isinstance(plain.scorer, BlendedScorer)
    zero = Engine(_blended(tiny_model, tmp_path, 0.0), catalog)
    assert isinstance(zero.scorer, BlendedScorer)
    favourites = [DEATH_NOTE, STEINS_GATE, FMA_B]
    a, b = plain.recommend(favourites, 30).items, zero.recommend(favourites, 30).items
    assert [(r.mal_id, r.score, r.because, r.because_share) for r in a] == [(r.mal_id, r.score, r.because, r.because_share) for r in b]


def test_the_blend_adds_the_exact_item_item_part_and_the_list_follows_it(tiny_model, catalog, tmp_path):
    folder = _blended(tiny_model, tmp_path, 1.5)
    engine, plain = Engine(folder, catalog), Engine(tiny_model, catalog)
    table = engine.scorer.table
    favourites = [DEATH_NOTE, STEINS_GATE, FMA_B, NARUTO]
    known, _ = engine.split_known(favourites)
    expected = plain.scores([known])[0]
    expected[: table.rated] += 3.0 * table.scores(np.asarray(known) - 1)
    np.testing.assert_allclose(engine.scores([known])[0], expected, rtol=1e-5, atol=1e-5)
    # The list is the one the exact blended scores give under the rules (the bounds kept every contender).
    filters = Filters(one_per_franchise=False, hide_adult=False, novelty=0.0)
    shown = engine.recommend(favourites, 15, filters).items
    order = [int(engine.item_ids[j]) for j in np.argsort(-expected, kind="stable") if j + 1 not in known]
    assert [r.mal_id for r in shown] == order[:15]
    assert [r.mal_id for r in shown] != [r.mal_id for r in plain.recommend(favourites, 15, filters).items]


def test_a_blend_named_without_its_file_or_a_bad_weight_is_one_line(tiny_model, catalog, tmp_path):
    folder = _blended(tiny_model, tmp_path, 1.0)
    meta = json.loads((folder / "meta.json").read_text())
    meta["blend"]["weight"] = -1
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="blend is missing or bad"):
        Engine(folder, catalog)
    (folder / ITEMITEM_FILE).unlink()
    (folder / ITEMITEM_META).unlink()
    with pytest.raises(UserError, match="is missing"):
        Engine(folder, catalog)


def test_the_level_of_anime_without_ratings_is_the_quantile_even_among_many_ties():
    from animerec_tui.engine.backends import _quantile

    rng = np.random.default_rng(1)
    for _ in range(100):
        row = rng.standard_normal(500).astype(np.float32)
        row[rng.random(500) < rng.random()] = 0  # a short list's scores: mostly zeros
        for q in (0, 10, 250, 492, 499):
            assert _quantile(row, q) == np.sort(row)[q]


def test_one_or_two_favourites_take_the_short_list_multiple_and_similar_its_own(tiny_model, catalog, tmp_path):
    from animerec_tui.defaults import SHORT_LIST_BLEND, SIMILAR_BLEND

    engine, plain = Engine(_blended(tiny_model, tmp_path, 1.5), catalog), Engine(tiny_model, catalog)
    table = engine.scorer.table
    for favourites in ([DEATH_NOTE], [DEATH_NOTE, STEINS_GATE], [DEATH_NOTE, STEINS_GATE, FMA_B]):
        known, _ = engine.split_known(favourites)
        expected = plain.scores([known])[0]
        times = SHORT_LIST_BLEND.get(len(known), 1.0)
        expected[: table.rated] += 3.0 * times * table.scores(np.asarray(known) - 1)
        np.testing.assert_allclose(engine.scores([known])[0], expected, rtol=1e-5, atol=1e-5)
    assert SHORT_LIST_BLEND.get(1, 1.0) > 1 and 3 not in SHORT_LIST_BLEND
    # "Anime like this one": the item-item part SIMILAR_BLEND times as strong, whatever the length multiples say.
    known, _ = engine.split_known([DEATH_NOTE])
    expected = plain.scores([known])[0]
    expected[: table.rated] += 3.0 * SIMILAR_BLEND * table.scores(np.asarray(known) - 1)
    filters = Filters(one_per_franchise=False, hide_adult=False)
    top = [j for j in np.argsort(-expected, kind="stable") if j + 1 not in known][:10]
    similar = engine.similar(DEATH_NOTE, 10, filters)
    assert [r.mal_id for r in similar] == [int(engine.item_ids[j]) for j in top]
    np.testing.assert_allclose([r.score for r in similar], expected[top], atol=2e-4)
    assert [r.mal_id for r in similar] != [r.mal_id for r in engine.recommend([DEATH_NOTE], 10, filters).items]
    assert plain.similar_scorer is None and [r.mal_id for r in plain.similar(DEATH_NOTE, 10, filters)] == [r.mal_id for r in plain.recommend([DEATH_NOTE], 10, filters).items]
