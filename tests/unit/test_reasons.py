"""Reasons are the model's own: with the items readout, each favourite's share of a result's score."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from animerec_tui.engine import Engine, Recommendation
from animerec_tui.engine.reasons import LIST_REASON, Reasons
from tests.conftest import DEATH_NOTE, FMA_B, NARUTO, STEINS_GATE, YOUR_NAME
from training.checkpoint import load_model
from training.scoring import score_users, vote_shares


def test_shares_are_the_softmax_weights_of_the_votes_that_make_up_the_score(tiny_model, catalog):
    engine = Engine(tiny_model, catalog)
    model, _ = load_model(tiny_model)  # the torch model the numpy engine computes as
    with torch.no_grad():
        table = model.output_table()
    known, _ = engine.split_known([DEATH_NOTE, STEINS_GATE, FMA_B, NARUTO])
    columns = np.setdiff1d(np.arange(20, 45), np.asarray(known) - 1)[:20]  # candidates, not favourites
    shares = vote_shares(model, np.asarray(known), columns, table=table)
    np.testing.assert_allclose(engine.scorer.shares(engine.scorer.encode([known]), 0, np.asarray(known), columns), shares, rtol=1e-4, atol=1e-6)
    assert shares.shape == (20, 4) and (shares >= 0).all() and (shares.sum(axis=1) < 1).all()  # the mask token holds the rest
    with torch.no_grad():
        tokens = torch.tensor([known + [model.config.mask_id]])
        hidden = model.encode(tokens)[0]
        weights, bias = table
        votes = hidden @ weights[columns].T  # (5 voters, 20)
        expected = torch.softmax(votes, dim=0)[:4].T.numpy()
        scores = score_users(model, np.asarray([0, 4]), np.asarray(known), np.asarray([0]), False, table=table)[0]
        torch.testing.assert_close(scores[columns], torch.logsumexp(votes, dim=0) + bias[columns], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(shares, expected, rtol=1e-4, atol=1e-6)


def test_the_named_favourite_is_the_one_whose_removal_costs_the_most(tiny_model, catalog):
    """Faithfulness: take each named favourite away and the result's score falls more than for any
    other favourite, in at least 9 of 10 results (the others' context changes too, so not always)."""
    engine = Engine(tiny_model, catalog)
    favourites = [DEATH_NOTE, STEINS_GATE, FMA_B, NARUTO, YOUR_NAME]
    known, _ = engine.split_known(favourites)
    results = engine.recommend(favourites, 30).items
    base = engine.scores([known])[0]
    without = np.stack([engine.scores([[k for k in known if k != gone]])[0] for gone in known])
    agree = named = 0
    for result in results:
        column = engine.dense[result.mal_id] - 1
        costliest = engine.title(known[int(np.argmax(base[column] - without[:, column]))])
        favourites_named = [b for b in result.because if b != LIST_REASON]
        if favourites_named:  # a result the list as a whole carries may name no favourite
            named += 1
            agree += favourites_named[0] == costliest
    assert named >= 0.7 * len(results) and agree >= 0.9 * named, f"{agree} of {named} of {len(results)}"


def test_no_reason_reads_zero_and_the_list_as_a_whole_is_named_when_it_carries_a_result():
    reasons = Reasons(np.zeros((4, 2), dtype=np.float32), lambda dense: f"anime {dense}")
    split = np.asarray([[0.6, 0.3], [0.004, 0.002], [0.2, 0.009], [0.05, 0.5], [0.995, 0.0]], dtype=np.float32)  # rows: results; columns: 2 favourites
    got = reasons.of([1, 2], np.arange(5), lambda top: split[top])
    assert got[0] == [("anime 1", pytest.approx(0.6)), ("anime 2", pytest.approx(0.3))]
    assert got[1] == [(LIST_REASON, None)]  # 99.4% the list's: no favourite at "0%"
    assert got[2] == [(LIST_REASON, None), ("anime 1", pytest.approx(0.2))]
    assert got[3] == [("anime 2", pytest.approx(0.5)), (LIST_REASON, None)]
    assert got[4] == [("anime 1", pytest.approx(0.995))]  # the list's 0.5% is no reason either
    rec = Recommendation(1, "x", None, None, None, [], None, 1.0, because=[LIST_REASON, "A"], because_share=[None, 0.2])
    assert rec.reasons() == "your whole list · A 20%"


def test_reasons_read_as_one_line_with_a_separator_no_title_contains(catalog):
    assert not any(" · " in (e["title"] or "") or " · " in (e.get("title_english") or "") for e in catalog)
    rec = Recommendation(1, "x", None, None, None, [], None, 1.0, because=["Steins;Gate", "Cowboy Bebop"], because_share=[0.42, 0.105])
    assert rec.reasons() == "Steins;Gate 42% · Cowboy Bebop 10%"
    assert Recommendation(1, "x", None, None, None, [], None, 1.0, because=["A"], because_share=[None]).reasons() == "A"
