"""Title search: what a fan types, and what must (not) come back."""

from __future__ import annotations

import pytest

from animerec_tui.search import TitleIndex


@pytest.fixture(scope="module")
def index(catalog) -> TitleIndex:
    return TitleIndex(catalog)


def test_adult_titles_are_left_out_when_asked(index, catalog):
    adult = next(e for e in sorted(catalog, key=lambda e: -(e.get("members") or 0)) if e["is_adult"])
    query = adult["title"]
    assert adult["mal_id"] in [m.mal_id for m in index.search(query, limit=30)]
    hidden = index.search(query, limit=30, hide_adult=True)
    assert adult["mal_id"] not in [m.mal_id for m in hidden]
    for query in ("demon slayer", "kimetsu", "love", "sister", "ta"):
        assert not any(catalog.by_id[m.mal_id]["is_adult"] for m in index.search(query, limit=30, hide_adult=True))


def test_the_results_table_is_laid_out_for_its_width():
    from animerec_tui.tui.results_pane import PADDING, SCROLLBAR, column_plan

    longest = {"title": 58, "because": 60, "genres": 70}
    for width in range(40, 260):
        plan = column_plan(width, longest)
        keys = [key for key, _, _ in plan]
        assert {"title", "match", "because"} <= set(keys), width
        assert sum(w + PADDING for _, _, w in plan) <= width - SCROLLBAR, width
    narrow = dict((k, w) for k, _, w in column_plan(51, longest))  # an 80-column terminal's results pane
    assert narrow["title"] >= 16 and narrow["because"] >= 16 and "genres" not in narrow
    wide = dict((k, w) for k, _, w in column_plan(150, longest))  # a 200-column one's
    assert set(wide) == {"rank", "title", "match", "because", "year", "type", "mal", "eps", "members", "genres"}
    assert wide["title"] >= 40 and wide["because"] >= 30 and wide["genres"] >= 16
    short = dict((k, w) for k, _, w in column_plan(150, {"title": 20, "because": 30, "genres": 30}))
    assert short["title"] == 20 and short["because"] == 30, "no column grows past what it shows"


@pytest.mark.parametrize(("query", "first"), [
    ("fmab", "Fullmetal Alchemist: Brotherhood"), ("jjk", "Jujutsu Kaisen (TV)"), ("snk", "Shingeki no Kyojin"),
    ("aot", "Shingeki no Kyojin"), ("kny", "Kimetsu no Yaiba"), ("rezero", "Re:Zero kara Hajimeru Isekai Seikatsu"),
    ("evangelion", "Neon Genesis Evangelion"), ("demon slayer", "Kimetsu no Yaiba"), ("death note", "Death Note"),
    ("narto", "Naruto"), ("konosuba", "Kono Subarashii Sekai ni Shukufuku wo!"), ("hxh", "Hunter x Hunter (2011)"),
    ("ttgl", "Tengen Toppa Gurren Lagann"),
])
def test_what_fans_type_finds_the_show_first(index, query, first):
    assert index.search(query, limit=10, hide_adult=True)[0].title == first


def test_words_inside_compound_titles_are_found(index):
    titles = [m.title for m in index.search("monogatari", limit=10, hide_adult=True)]
    assert "Bakemonogatari" in titles
    assert "Nisemonogatari" in [m.title for m in index.search("monogatari", limit=30, hide_adult=True)]
    k_on = [m.title for m in index.search("k-on", limit=10)]
    assert all(t.startswith("K-On") for t in k_on[:3]) and "Shingeki no Kyojin" not in k_on[:3], "'k on' in 'attack on' is no compound-word end"


def test_every_curated_alias_names_catalogue_anime(catalog):
    from animerec_tui.search import ALIASES

    for alias, ids in ALIASES.items():
        assert ids and all(i in catalog.by_id for i in ids), alias
