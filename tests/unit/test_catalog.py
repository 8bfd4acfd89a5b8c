"""The shipped catalogue and its reproducible build."""

from __future__ import annotations

import re

import pytest

from animerec_tui.catalog import default_catalog_path, load_catalog
from tests.cli.test_catalog_cli import _sources
from tests.conftest import ANIME_DATA, needs_shared_data
from training.catalog import TYPES, catalog_bytes
from training.catalog_build import BANGUMI, _python_list, build_catalog
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


def _build(tmp_path, *items: dict) -> dict[int, dict]:
    changes = {BANGUMI: {"siteMeta": {}, "items": list(items)}} if items else None
    return {e["mal_id"]: e for e in build_catalog(_sources(tmp_path, changes))}


def test_year_and_season_come_from_the_crawls_premiered(tmp_path):
    by_id = _build(tmp_path)
    assert (by_id[1535]["year"], by_id[1535]["season"], by_id[1535]["premiered"]) == (2006, "Fall", "Fall 2006")
    assert (by_id[5114]["year"], by_id[5114]["season"]) == (2009, "Spring")


def test_bangumi_dates_are_taken_in_japan_time(tmp_path):
    by_id = _build(tmp_path, _item("32281", "2020-12-31T16:00:00.000Z"))  # 01:00 on 1 January in Tokyo
    assert (by_id[32281]["year"], by_id[32281]["season"], by_id[32281]["premiered"]) == (2021, "Winter", None)
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
