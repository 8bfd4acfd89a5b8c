"""Franchises from titles, and what the engine does with them."""

from __future__ import annotations

from collections import Counter

import pytest

from animerec_tui.defaults import FRANCHISE_SPACING
from animerec_tui.engine import Engine, Filters
from tests.conftest import DEATH_NOTE, STEINS_GATE
from training.franchise import franchises


@pytest.fixture(scope="module")
def catalogue_engine(catalogue_model, catalog) -> Engine:
    return Engine(catalogue_model, catalog)


def _records(*titles: tuple[int, str, int | None]) -> list[dict]:
    return [{"mal_id": m, "title": t, "year": y} for m, t, y in titles]


def test_sequels_movies_and_specials_join_the_anime_they_follow():
    entries = _records(
        (9253, "Steins;Gate", 2011), (11577, "Steins;Gate Movie: Fuka Ryouiki no Déjà vu", 2013), (30484, "Steins;Gate 0", 2018),
        (934, "Higurashi no Naku Koro ni", 2006), (1889, "Higurashi no Naku Koro ni Kai", 2007), (15313, "Wooser no Sono Higurashi", 2012),
        (2251, "Baccano!", 2007), (3901, "Baccano! Specials", 2007), (1, "Cowboy Bebop", 1998), (5, "Cowboy Bebop: Tengoku no Tobira", 2001),
        (100, "Air", 2005), (101, "Air Gear", 2006), (102, "Air Movie", 2005),
    )
    f = franchises(entries)
    assert f[11577] == f[30484] == f[9253] == 9253
    assert f[1889] == 934 and f[15313] == 15313, "a title that merely contains another is no sequel of it"
    assert f[3901] == 2251 and f[5] == 1
    assert f[102] == 100 and f[101] == 101, "a one-word title followed by any word is not enough"


def test_the_first_entry_names_the_franchise_even_when_listed_later():
    f = franchises(_records((20, "Naruto: Shippuuden", 2007), (10, "Naruto", 2002), (30, "Naruto Movie 1", None)))
    assert set(f.values()) == {10}
    # an English title links too
    f = franchises([{"mal_id": 1, "title": "Shingeki no Kyojin", "title_english": "Attack on Titan", "year": 2013},
                    {"mal_id": 2, "title": "Attack on Titan: Junior High", "year": 2015}])
    assert f[2] == 1


def test_results_show_one_entry_per_franchise_and_count_the_rest(catalogue_engine: Engine):
    engine = catalogue_engine
    first = engine.recommend([DEATH_NOTE], k=FRANCHISE_SPACING).items  # recommend's list: one entry per franchise
    long = engine.recommend([DEATH_NOTE], k=100).items  # a franchise's later entries come at least FRANCHISE_SPACING places apart
    assert [r.mal_id for r in long[:FRANCHISE_SPACING]] == [r.mal_id for r in first]
    every = engine.recommend([DEATH_NOTE], k=len(engine.item_ids), filters=Filters(one_per_franchise=False)).items
    by_franchise = Counter(int(engine.franchise_of[engine.dense[r.mal_id] - 1]) for r in every)
    assert max(by_franchise.values()) > 1, "the model holds no franchise of two: this test proves nothing"
    for items in (first, long):
        shown = [int(engine.franchise_of[engine.dense[r.mal_id] - 1]) for r in items]
        listed = Counter(shown)
        for n, (r, f) in enumerate(zip(items, shown)):
            assert f not in shown[max(0, n - FRANCHISE_SPACING + 1) : n]
            assert r.franchise_more == by_franchise[f] - listed[f]
            assert r.mal_id in engine.franchise(r.mal_id)
    assert max(Counter(int(engine.franchise_of[engine.dense[r.mal_id] - 1]) for r in first).values()) == 1


def test_hide_sequels_leaves_out_the_favourites_franchises_and_later_entries(catalogue_engine: Engine):
    engine = catalogue_engine
    favourite = next(int(m) for m in engine.item_ids if len(engine.franchise(int(m))) > 1 and engine.franchise(int(m))[0] == int(m))
    shown = engine.recommend([favourite, STEINS_GATE], k=len(engine.item_ids), filters=Filters(hide_sequels=True, one_per_franchise=False)).items
    ids = {r.mal_id for r in shown}
    assert not ids & set(engine.franchise(favourite)) and not ids & set(engine.franchise(STEINS_GATE))
    assert all(engine.franchise(m)[0] == m or engine.franchise_of[engine.dense[m] - 1] == m for m in ids)
    assert all(not engine.by_id[m]["is_sequel"] for m in ids)
