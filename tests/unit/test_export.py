"""Export targets: never animerec's own state, a dangling link, a read-only file or a pipe;
a symlink is written through and a replaced file keeps its mode; bad names are one line."""

from __future__ import annotations

import os
import stat
import sys
import threading
from pathlib import Path

import pytest

from animerec_tui.export import check_export_target, expand_user_path, write_export
from animerec_tui.favourites import FavouritesStore
from animerec_tui.settings import SettingsStore
from training.errors import UserError

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX paths, modes and symlinks")


@pytest.fixture
def state(tmp_path, monkeypatch):
    """An animerec home with favourites and settings, and a user home beside it."""
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    (tmp_path / "user").mkdir()
    home = tmp_path / "animerec-home"
    FavouritesStore(home / "favourites.json").add([1, 2])
    FavouritesStore(home / "favourites.json").exclude([3])
    SettingsStore(home / "settings.json").update(theme="nord")
    (home / "runs" / "r1").mkdir(parents=True)
    return home


def refused(path: Path, home: Path, words: str) -> None:
    try:
        before = path.read_bytes() if path.is_file() else None
    except OSError:  # name too long
        before = None
    reason = check_export_target(path, home)
    assert reason is not None and words in reason and "\n" not in reason, reason
    with pytest.raises(UserError) as info:
        write_export(path, "# export\n", home=home)
    assert str(info.value) == reason
    if before is not None:
        assert path.read_bytes() == before


@pytest.mark.parametrize(
    "name",
    ["favourites.json", "settings.json", "favourites.json.lock", "settings.json.lock",
     "favourites.json.corrupt-20260101-000000", "runs/r1/notes.md", "runs", "training-data/x.md",
     "runs/../favourites.json", "nosuch/../settings.json"],
)
def test_the_apps_own_state_is_refused(state, name):
    (state / "favourites.json.corrupt-20260101-000000").write_text("{")
    refused(state / name, state, "animerec's own state")
    assert FavouritesStore(state / "favourites.json").load().excluded == [3], "the not-interested list survives"


def test_state_reached_through_a_symlink_or_dots_is_refused(state, tmp_path):
    (tmp_path / "user" / "mine.json").symlink_to(state / "favourites.json")
    refused(tmp_path / "user" / "mine.json", state, "own state")
    (tmp_path / "user" / "home-link").symlink_to(state)
    refused(tmp_path / "user" / "home-link" / "settings.json", state, "own state")
    refused(tmp_path / "user" / ".." / "animerec-home" / "favourites.json", state, "own state")


def test_the_target_of_a_symlinked_favourites_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    (tmp_path / "dotfiles").mkdir()
    home = tmp_path / "home"
    home.mkdir()
    (home / "favourites.json").symlink_to(tmp_path / "dotfiles" / "favs.json")
    FavouritesStore(home / "favourites.json").add([1])
    refused(tmp_path / "dotfiles" / "favs.json", home, "own state")
    refused(tmp_path / "dotfiles" / "favs.json.lock", home, "own state")
    assert check_export_target(tmp_path / "dotfiles" / "other.md", home) is None


def test_a_home_that_is_the_users_home_protects_only_the_state_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    FavouritesStore(tmp_path / "favourites.json").add([1])
    assert check_export_target(tmp_path / "animerec-recommendations.md", tmp_path) is None
    refused(tmp_path / "favourites.json", tmp_path, "own state")
    write_export(tmp_path / "animerec-recommendations.md", "# x\n", home=tmp_path)


def test_a_dangling_symlink_is_refused_and_nothing_is_created(state, tmp_path):
    link = tmp_path / "user" / "out.md"
    link.symlink_to(tmp_path / "user" / "gone.md")
    refused(link, state, "does not exist")
    assert link.is_symlink() and not (tmp_path / "user" / "gone.md").exists()


def test_a_symlink_to_a_file_writes_the_target_and_stays_a_link(state, tmp_path):
    target = tmp_path / "user" / "real.md"
    target.write_text("old\n")
    target.chmod(0o640)
    link = tmp_path / "user" / "out.md"
    link.symlink_to("real.md")
    assert check_export_target(link, state) is None
    write_export(link, "new\n", home=state)
    assert link.is_symlink() and target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_read_only_file_is_refused(state, tmp_path):
    path = tmp_path / "user" / "keep.md"
    path.write_text("mine\n")
    path.chmod(0o444)
    refused(path, state, "read-only")
    assert stat.S_IMODE(path.stat().st_mode) == 0o444


def test_a_replaced_file_keeps_its_mode_and_a_new_one_is_0644(state, tmp_path):
    path = tmp_path / "user" / "out.csv"
    path.write_text("old\n")
    path.chmod(0o600)
    write_export(path, "new\n", home=state)
    assert path.read_text() == "new\n" and stat.S_IMODE(path.stat().st_mode) == 0o600
    fresh = tmp_path / "user" / "fresh.md"
    write_export(fresh, "x\n", home=state)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_a_fifo_or_a_folder_is_refused(state, tmp_path):
    os.mkfifo(tmp_path / "user" / "pipe.md")
    done = threading.Event()

    def attempt() -> None:
        refused(tmp_path / "user" / "pipe.md", state, "not a regular file")
        done.set()

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(5)
    assert done.is_set()
    assert stat.S_ISFIFO(os.lstat(tmp_path / "user" / "pipe.md").st_mode)
    (tmp_path / "user" / "dir.md").mkdir()
    refused(tmp_path / "user" / "dir.md", state, "folder")
    refused(tmp_path / "user" / "no-folder" / "x.md", state, "no such folder")


@pytest.mark.parametrize("name", ["a" * 300 + ".md", "é" * 130 + ".md"])
def test_a_name_over_255_bytes_is_one_line(state, tmp_path, name):
    refused(tmp_path / "user" / name, state, "name too long")
    with pytest.raises(UserError, match="name too long"):
        expand_user_path(str(tmp_path / "user" / name))


def test_expand_user_path(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert expand_user_path("~/x.md") == tmp_path / "x.md"
    assert expand_user_path("rel/x.md") == Path("rel/x.md")
    for text, words in [("~nosuchuser-animerec/x.md", "no such user"), ("", "file name"), ("   ", "file name"), ("a\0b.md", "NUL")]:
        with pytest.raises(UserError, match=words) as info:
            expand_user_path(text)
        assert "\n" not in str(info.value)


def test_an_ordinary_new_file_is_fine(state, tmp_path):
    assert check_export_target(tmp_path / "user" / "recs.md", state) is None
    write_export(tmp_path / "user" / "recs.md", "# recs\n", home=state)
    assert (tmp_path / "user" / "recs.md").read_text() == "# recs\n"


def test_a_hard_link_to_a_state_file_is_refused(state, tmp_path):
    os.link(state / "favourites.json", tmp_path / "user" / "favs.md")
    refused(tmp_path / "user" / "favs.md", state, "own state")
    assert FavouritesStore(state / "favourites.json").load().excluded == [3]


def test_an_export_beside_the_state_files_is_the_users_to_write(state):
    """The home is often a folder of the user's choosing (ANIMEREC_HOME): only the state and animerec's own folders are off limits."""
    assert check_export_target(state / "my-list.md", state) is None
    write_export(state / "my-list.md", "# export\n", home=state)
    assert (state / "my-list.md").read_text() == "# export\n"
    assert FavouritesStore(state / "favourites.json").load().favourites == [1, 2]


def test_the_plan_to_watch_list_goes_into_each_format_and_the_cli_json_is_unchanged():
    import csv
    import io
    import json

    from animerec_tui.export import json_text, render

    fav, plan = [{"mal_id": 1, "title": "A", "url": "https://myanimelist.net/anime/1"}], [{"mal_id": 2, "title": "B", "year": 2020}]
    assert "## Plan to watch (1)\n\n- B (2020)" in render("markdown", fav, [], [], "h", plan)
    rows = list(csv.DictReader(io.StringIO(render("csv", fav, [], [], "h", plan))))
    assert [(r["list"], r["mal_id"]) for r in rows] == [("favourite", "1"), ("plan", "2")]
    assert json.loads(render("json", fav, [], [], "h", plan))["plan_to_watch"] == [2]
    assert "plan_to_watch" not in json.loads(json_text([1], [], []))
