"""The calibration of the scores of anime without ratings (meta.json's ``new_calibration``, ``CalibratedScorer``)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from animerec_tui.engine import Engine, Filters
from animerec_tui.engine.backends import CalibratedScorer
from tests.conftest import DEATH_NOTE, NARUTO
from tests.unit.test_engine import _requests, _rules
from training.errors import UserError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from calibrate_new import FEATURES, richness, spec_for  # noqa: E402

THETA = np.r_[1.0, 0.8, -0.5, 0.3, -0.1, np.zeros(len(FEATURES))]
THETA[5 + FEATURES.index("log10 members - 4")] = 1.5
THETA[5 + FEATURES.index("missing fields (of 5)")] = -1.4
THETA[5 + FEATURES.index("sparse description")] = -0.5
"""A calibration like the fitted one: a slope under 1 and smaller for a sparse description, members and a full description count, franchise anchors."""


def _calibrated(folder: Path, catalog, theta: np.ndarray = THETA) -> dict:
    meta = json.loads((folder / "meta.json").read_text())
    by_id = {e["mal_id"]: e for e in catalog}
    from training.catalog import as_catalog

    spec = spec_for(theta, np.asarray(meta["vocab"]["item_ids"]), as_catalog(catalog), int(meta["model_config"]["num_rated"]))
    assert by_id  # the catalogue knows the model's anime
    meta["new_calibration"] = spec
    (folder / "meta.json").write_text(json.dumps(meta))
    return spec


@pytest.fixture(scope="module")
def calibrated(catalogue_model, catalog, tmp_path_factory) -> tuple[Engine, Engine, dict]:
    folder = tmp_path_factory.mktemp("calibrated") / "model"
    shutil.copytree(catalogue_model, folder)
    spec = _calibrated(folder, catalog)
    return Engine(catalogue_model, catalog), Engine(folder, catalog), spec


def test_absent_changes_nothing_and_present_maps_only_the_anime_without_ratings(calibrated):
    plain, engine, spec = calibrated
    assert not isinstance(plain.scorer, CalibratedScorer) and isinstance(engine.scorer, CalibratedScorer)
    known, _ = plain.split_known([DEATH_NOTE, NARUTO])
    before, after = plain.scores([known])[0], engine.scores([known])[0]
    rated = engine.num_rated
    np.testing.assert_array_equal(after[:rated], before[:rated])
    anchor = np.asarray(spec["anchor"])
    anchored = np.where(anchor >= 0, before[np.maximum(anchor, 0)], 0.0)
    assert (anchor >= 0).any()
    np.testing.assert_allclose(after[rated:], spec["a"] + np.asarray(spec["b"]) * before[rated:] + np.asarray(spec["offset"]) + spec["anchor_weight"] * anchored, rtol=1e-5, atol=1e-4)


def test_bounds_hold_and_every_list_is_the_rules_over_the_exact_scores(calibrated):
    _, engine, _ = calibrated
    requests = _requests(engine, 24, seed=3)
    for favourites, _ in requests:
        known, _ = engine.split_known(favourites)
        if not known:
            continue
        encoded = engine.scorer.encode([known])
        columns = np.arange(engine.item_ids.size)
        exact = engine.scorer.scores(encoded, np.asarray([0]), columns)[0]
        upper, lower = engine.scorer.bounds(encoded, np.asarray([0]), columns)
        others = np.setdiff1d(columns, np.asarray(known) - 1)
        assert (upper[0] >= exact - 1e-4).all() and (lower[0][others] <= exact[others] + 1e-4).all()
        assert (engine.scorer.cheap_upper(encoded, np.asarray([0]), columns)[0] >= exact - 1e-4).all()
    for k in (5, 20):
        for (favourites, filters), answer in zip(requests, engine.recommend_many(requests, k)):
            assert [(r.mal_id, r.score, r.franchise_more) for r in answer.items] == _rules(engine, favourites, k, filters)


def test_sparse_descriptions_are_pushed_down(calibrated):
    plain, engine, _ = calibrated
    known, _ = plain.split_known([DEATH_NOTE])
    rated = engine.num_rated
    slope = np.asarray(engine.scorer.b)
    gain = engine.scores([known])[0][rated:] - plain.scores([known])[0][rated:] * slope
    anchor = np.asarray(engine.scorer.anchor)
    sparse = np.asarray([richness(engine.by_id[int(m)]) < 3 for m in engine.item_ids[rated:]])
    plain_anchor = anchor < 0  # the anchors' part aside
    assert sparse[plain_anchor].any() and (~sparse[plain_anchor]).any()
    # what the calibration adds besides the slope: every sparse description gets less than every rich one of as many members or more
    members = np.asarray([engine.by_id[int(m)].get("members") or 0 for m in engine.item_ids[rated:]])
    for i in np.flatnonzero(sparse & plain_anchor):
        rich = np.flatnonzero(~sparse & plain_anchor & (members >= members[i]))
        assert (gain[rich] > gain[i]).all() and (slope[rich] > slope[i]).all()
    items = engine.recommend([DEATH_NOTE], k=10, filters=Filters(new_share=1.0, year_from=2022)).items
    ranked = [richness(engine.by_id[r.mal_id]) < 3 for r in items]
    before = [richness(plain.by_id[r.mal_id]) < 3 for r in plain.recommend([DEATH_NOTE], k=10, filters=Filters(new_share=1.0, year_from=2022)).items]
    assert sum(ranked[:5]) <= sum(before[:5])


def test_identical_metadata_no_longer_ties(catalogue_model, catalog, tmp_path):
    from safetensors.numpy import load_file, save_file

    folder = tmp_path / "model"
    shutil.copytree(catalogue_model, folder)
    meta = json.loads((folder / "meta.json").read_text())
    rated, ids = int(meta["model_config"]["num_rated"]), meta["vocab"]["item_ids"]
    members = {e["mal_id"]: e.get("members") for e in catalog}
    pair = [j for j in range(rated, len(ids)) if members.get(ids[j])][:2]
    weights = load_file(str(folder / "model.safetensors"))
    for name in [n for n in ("item_genres", "genre_weights") if n in weights]:  # the second takes the first's metadata tokens (row = column + 1)
        weights[name][pair[1] + 1] = weights[name][pair[0] + 1]
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    known = [Engine(folder, catalog).dense[DEATH_NOTE]]
    tied = Engine(folder, catalog).scores([known])[0][pair]
    assert tied[0] == tied[1] and members[ids[pair[0]]] != members[ids[pair[1]]]
    _calibrated(folder, catalog)
    parted = Engine(folder, catalog).scores([known])[0][pair]
    assert parted[0] != parted[1]


@pytest.mark.parametrize("change", [{"b": -1.0}, {"b": 0}, {"b": [1.0]}, {"a": float("nan")}, {"anchor_weight": -0.5}, {"offset": [0.0]},
                                    {"anchor": "x"}, {"anchor_big": True}, {"a": None}, {"offset_nan": True}])
def test_a_bad_calibration_is_one_clear_error(calibrated, catalogue_model, catalog, tmp_path, change):
    _, _, spec = calibrated
    folder = tmp_path / "model"
    shutil.copytree(catalogue_model, folder)
    meta = json.loads((folder / "meta.json").read_text())
    bad = {**spec, **{k: v for k, v in change.items() if k in spec}}
    if "anchor_big" in change:
        bad["anchor"] = [10**6] * len(spec["anchor"])
    if "offset_nan" in change:
        bad["offset"] = [None] * len(spec["offset"])
    meta["new_calibration"] = bad
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UserError) as error:
        Engine(folder, catalog)
    message = str(error.value)
    assert "new_calibration" in message and "calibrate_new.py" in message and "\n" not in message


def test_the_anchors_scores_are_computed_once_per_chunk_and_are_the_same(calibrated):
    _, engine, _ = calibrated
    scorer = engine.scorer
    rows = [engine.split_known(favourites)[0] for favourites, _ in _requests(engine, 12, seed=5)]
    rows = [row for row in rows if row]
    new = np.arange(engine.num_rated, engine.item_ids.size)
    users = np.arange(len(rows))
    asked: list[int] = []
    inner_scores = scorer.inner.scores

    def counting(encoded, who, columns):
        asked.append(len(columns))
        return inner_scores(encoded, who, columns)

    encoded = scorer.encode(rows)
    scorer.inner.scores = counting
    try:
        cheap = scorer.cheap_upper(encoded, users, new)  # every new column's anchors: computed
        first = len(asked)
        upper, lower = scorer.bounds(encoded, users[2:5], new[1:])  # most of them, for some requests: kept
        assert first >= 1 and len(asked) == first
        fresh = scorer.encode(rows)  # nothing kept yet: the same bounds computed afresh
        again_upper, again_lower = scorer.bounds(fresh, users[2:5], new[1:])
        assert len(asked) > first
    finally:
        del scorer.inner.scores
    np.testing.assert_array_equal(upper, again_upper)
    np.testing.assert_array_equal(lower, again_lower)
    exact = scorer.scores(encoded, users[2:5], new[1:])  # anchors taken from those kept
    others = np.stack([~np.isin(new[1:], np.asarray(rows[user]) - 1) for user in (2, 3, 4)])  # a favourite's lower bound need not hold
    assert (lower[others] <= exact[others] + 1e-4).all() and (exact <= upper + 1e-4).all() and (exact <= cheap[2:5, 1:] + 1e-4).all()
    np.testing.assert_allclose(exact, scorer.scores(scorer.encode(rows), users[2:5], new[1:]), rtol=1e-6, atol=1e-5)
