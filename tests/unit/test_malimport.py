"""MyAnimeList export import: the right ids, and every bad or hostile file refused in one line."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from animerec_tui import malimport
from animerec_tui.malimport import parse_mal_export
from training.errors import UserError

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "mal_export_small.xml"

# Fixture: 5114=10, 9253=9, 30276=0 Completed, 1535=7, 16498=6, 21=8 Watching,
# 32281=0 Plan to Watch, 11061=5 Dropped.
LIKED = [5114, 9253, 1535, 21]


def refused(path: Path, **kwargs) -> str:
    with pytest.raises(UserError) as info:
        parse_mal_export(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_default_threshold_keeps_scores_of_seven_and_up_in_file_order():
    assert parse_mal_export(FIXTURE) == LIKED


def test_unscored_completed_included_on_request_but_never_plan_to_watch():
    assert parse_mal_export(FIXTURE, include_unscored_completed=True) == [5114, 9253, 30276, 1535, 21]


def test_lower_threshold_keeps_more():
    assert parse_mal_export(FIXTURE, min_score=6) == [5114, 9253, 1535, 16498, 21]
    assert parse_mal_export(FIXTURE, min_score=10) == [5114]


@pytest.mark.parametrize("name", ["animelist_1.xml.gz", "animelist_renamed.xml"])
def test_gzip_copy_reads_the_same_whatever_its_name(tmp_path, name):
    copy = tmp_path / name
    copy.write_bytes(gzip.compress(FIXTURE.read_bytes()))
    assert parse_mal_export(copy) == LIKED


def test_plain_xml_named_gz_still_reads(tmp_path):
    copy = tmp_path / "animelist.xml.gz"
    shutil.copy(FIXTURE, copy)
    assert parse_mal_export(copy) == LIKED


def test_duplicates_dropped_and_empty_export_is_not_an_error(tmp_path):
    anime = "<anime><series_animedb_id>{}</series_animedb_id><my_score>9</my_score></anime>"
    path = tmp_path / "dup.xml"
    path.write_text(f"<myanimelist><myinfo/>{anime.format(3)}{anime.format(1)}{anime.format(3)}</myanimelist>")
    assert parse_mal_export(path) == [3, 1]
    path.write_text("<myanimelist><myinfo><user_name>x</user_name></myinfo></myanimelist>")
    assert parse_mal_export(path) == []


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<myanimelist><anime><series_animedb_id>1</series_animedb_id>
<series_title>&lol9;</series_title><my_score>10</my_score></anime></myanimelist>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE myanimelist [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<myanimelist><anime><series_animedb_id>1</series_animedb_id>
<series_title>&xxe;</series_title><my_score>10</my_score></anime></myanimelist>
"""

PLAIN_DTD = """<?xml version="1.0"?>
<!DOCTYPE myanimelist SYSTEM "http://example.invalid/mal.dtd">
<myanimelist/>
"""


@pytest.mark.parametrize("document", [BILLION_LAUGHS, EXTERNAL_ENTITY, PLAIN_DTD], ids=["laughs", "xxe", "dtd"])
@pytest.mark.parametrize("compress", [False, True])
def test_entities_and_dtds_are_refused(tmp_path, document, compress):
    path = tmp_path / "evil.xml"
    data = document.encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    assert "DTD or entities" in refused(path)


@pytest.mark.parametrize(
    "content",
    [b"", b"user,anime,score\n1,5114,10\n", b"<myanimelist><anime>", b"\x89PNG\r\n\x1a\n\x00\x00"],
    ids=["empty", "csv", "unclosed", "binary"],
)
def test_non_xml_is_refused(tmp_path, content):
    path = tmp_path / "animelist.xml"
    path.write_bytes(content)
    assert "not valid XML" in refused(path)


def test_wrong_root_is_refused(tmp_path):
    path = tmp_path / "page.xml"
    path.write_text("<html><anime><series_animedb_id>1</series_animedb_id><my_score>10</my_score></anime></html>")
    assert "<html>" in refused(path)


@pytest.mark.parametrize("cut", [10, -12], ids=["truncated-header", "truncated-tail"])
def test_damaged_gzip_is_refused(tmp_path, cut):
    whole = gzip.compress(FIXTURE.read_bytes())
    path = tmp_path / "animelist.xml.gz"
    path.write_bytes(whole[:cut])
    assert "gzip" in refused(path)


def test_gzip_bomb_is_cut_off(tmp_path, monkeypatch):
    monkeypatch.setattr(malimport, "MAX_XML_BYTES", 10_000)
    path = tmp_path / "bomb.xml.gz"
    path.write_bytes(gzip.compress(b"<myanimelist>" + b" " * 1_000_000 + b"</myanimelist>"))
    assert "larger than" in refused(path)


def test_missing_file_and_folder_are_refused(tmp_path):
    assert "not found" in refused(tmp_path / "nope.xml")
    assert "folder" in refused(tmp_path)


@pytest.mark.parametrize("bad_id", ["abc", "", "-5", "12.0"])
def test_entry_with_bad_id_names_the_entry(tmp_path, bad_id):
    path = tmp_path / "animelist.xml"
    path.write_text(
        "<myanimelist><anime><series_animedb_id>1</series_animedb_id><my_score>9</my_score></anime>"
        f"<anime><series_animedb_id>{bad_id}</series_animedb_id>"
        "<series_title><![CDATA[Broken Show]]></series_title><my_score>9</my_score></anime></myanimelist>"
    )
    message = refused(path)
    assert "entry 2" in message and "Broken Show" in message


@pytest.mark.parametrize("min_score", [0, 11, True, "7"])
def test_bad_threshold_is_refused(min_score):
    assert "minimum score" in refused(FIXTURE, min_score=min_score)


def test_watched_is_every_entry_but_plan_to_watch():
    from animerec_tui.malimport import read_mal_export, watched

    assert watched(read_mal_export(FIXTURE)) == [5114, 9253, 30276, 1535, 16498, 21, 11061]


def _within(seconds: float, call):
    """``call()``'s result or exception, failing (not hanging the suite) if it blocks."""
    import threading

    outcome: list = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as error:  # noqa: BLE001 - handed back to the test
            outcome.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"blocked for over {seconds} s"
    return outcome[0]


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="no FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    import os

    os.mkfifo(tmp_path / "animelist.xml")
    (tmp_path / "link.xml").symlink_to(tmp_path / "animelist.xml")
    for path in (tmp_path / "animelist.xml", tmp_path / "link.xml"):
        error = _within(5, lambda path=path: parse_mal_export(path))
        assert isinstance(error, UserError) and "not a regular file" in str(error)


def test_a_symlink_to_an_export_reads_and_devices_are_refused(tmp_path):
    (tmp_path / "link.xml").symlink_to(FIXTURE)
    assert parse_mal_export(tmp_path / "link.xml") == LIKED
    if Path("/dev/zero").exists():
        error = _within(5, lambda: parse_mal_export(Path("/dev/zero")))
        assert isinstance(error, UserError) and "not a regular file" in str(error)


@pytest.mark.parametrize("name", ["a" * 300 + ".xml", "nul\0.xml"])
def test_an_impossible_name_is_one_line(tmp_path, name):
    assert "cannot read" in refused(tmp_path / name)


def _export(entries: int) -> bytes:
    anime = "<anime><series_animedb_id>{0}</series_animedb_id><series_title>Show {0}</series_title><my_score>{1}</my_score><my_status>Completed</my_status></anime>\n"
    return ("<myanimelist><myinfo><user_name>x</user_name></myinfo>\n" + "".join(anime.format(i, i % 11) for i in range(1, entries + 1)) + "</myanimelist>").encode()


def test_progress_is_reported_and_its_exception_cancels(tmp_path):
    path = tmp_path / "animelist.xml.gz"
    path.write_bytes(gzip.compress(_export(12_000)))
    seen: list[int] = []
    entries = malimport.read_mal_export(path, progress=seen.append)
    assert len(entries) == 12_000 and entries[0] == malimport.Entry(1, 1, "completed")
    assert seen == sorted(seen) and seen[-1] == 12_000 and len(seen) >= 3
    assert all(b - a <= malimport.PROGRESS_EVERY + 2_000 for a, b in zip([0, *seen], seen))

    class Cancelled(ValueError):  # a ValueError: must not be taken for the XML's
        pass

    def cancel(count: int) -> None:
        raise Cancelled(count)

    with pytest.raises(Cancelled):
        malimport.read_mal_export(path, progress=cancel)


def test_a_large_export_is_read_as_a_stream(tmp_path):
    """Memory follows the entries kept, not the XML: the whole tree used to be built first."""
    import tracemalloc

    path = tmp_path / "animelist.xml"
    data = _export(10_000)
    path.write_bytes(data)
    tracemalloc.start()
    try:
        entries = malimport.read_mal_export(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(entries) == 10_000
    assert peak < len(data) + 2_000_000, f"peak {peak / 1e6:.1f} MB for {len(data) / 1e6:.1f} MB of XML"


def test_only_the_roots_anime_children_count_and_a_fields_first_text(tmp_path):
    path = tmp_path / "animelist.xml"
    path.write_text(
        "<myanimelist><myinfo><anime><series_animedb_id>9</series_animedb_id><my_score>10</my_score></anime></myinfo>"
        "<anime><series_animedb_id> 1 </series_animedb_id><my_score>8<b/>0</my_score><my_score>2</my_score>"
        "<my_status><![CDATA[ Completed ]]></my_status><x><my_status>Dropped</my_status></x></anime>"
        "<manga><series_animedb_id>3</series_animedb_id></manga></myanimelist>"
    )
    assert malimport.read_mal_export(path) == [malimport.Entry(1, 8, "completed")]
