"""The favourites store: persistence, atomic writes, corrupt files kept, no lost updates."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from animerec_tui import favourites as favourites_module
from animerec_tui.favourites import Favourites, FavouritesStore
from training.errors import UserError

REPO = Path(__file__).resolve().parents[2]


def test_default_path_is_under_animerec_home(home):
    store = FavouritesStore()
    assert store.path == home / "favourites.json"
    assert store.load() == Favourites([], [])
    assert not store.path.exists(), "reading must not create the file"
    store.add([1])
    assert store.path.exists()


def test_add_remove_exclude_clear_round_trip_across_instances(home):
    first, second = FavouritesStore(), FavouritesStore()

    assert first.add([5114, 9253, 5114]) == [5114, 9253]
    assert second.add([9253, 21]) == [21]
    assert first.load().favourites == [5114, 9253, 21]

    assert second.remove([9253, 999]) == [9253]
    assert first.load().favourites == [5114, 21]

    assert first.exclude([21, 30276]) == [21, 30276]
    assert first.exclude([30276]) == []
    state = second.load()
    assert state.favourites == [5114], "an excluded id leaves the favourites"
    assert state.excluded == [21, 30276]

    assert second.add([30276]) == [30276]
    assert first.load().excluded == [21], "a favourite leaves the excluded list"
    assert first.unexclude([21, 5]) == [21]

    assert second.clear() == [5114, 30276]
    assert first.load() == Favourites([], [])

    first.add([7, 8])
    first.exclude([9])
    on_disk = json.loads((home / "favourites.json").read_text())
    assert on_disk == {"version": 1, "favourites": [7, 8], "excluded": [9]}
    assert stat.S_IMODE(os.stat(home / "favourites.json").st_mode) == 0o600


def test_numpy_style_integers_are_accepted(home):
    np = pytest.importorskip("numpy")
    assert FavouritesStore().add(np.array([3, 4])) == [3, 4]
    assert json.loads((home / "favourites.json").read_text())["favourites"] == [3, 4]


@pytest.mark.parametrize("bad", [[True], ["12"], [1.5], [-3], [0], [None], "123"])
def test_invalid_ids_are_refused_and_nothing_changes(home, bad):
    store = FavouritesStore()
    store.add([1])
    before = store.path.read_bytes()
    for method in (store.add, store.remove, store.exclude, store.unexclude):
        with pytest.raises(UserError) as info:
            method([2, *bad] if isinstance(bad, list) else bad)
        assert "\n" not in str(info.value)
    assert store.path.read_bytes() == before, "a batch with one bad id must change nothing"


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_failed_write_leaves_the_old_file_intact(home, monkeypatch, failing):
    store = FavouritesStore()
    store.add([1, 2])
    before = store.path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched, pytest.raises(UserError, match="No space left"):
        patched.setattr(os, failing, boom)
        store.add([3])

    assert store.path.read_bytes() == before
    assert FavouritesStore().load().favourites == [1, 2]
    leftovers = sorted(p.name for p in home.iterdir())
    assert leftovers == ["favourites.json", "favourites.json.lock"], "no temp file left behind"


CORRUPT = [
    b'{"version": 1, "favourites": [1, 2',
    b"\x00\xff\xfe garbage",
    b"[1, 2, 3]",
    b'{"favourites": [1]}',
    b'{"version": 1, "favourites": ["one"], "excluded": []}',
    b'{"version": 1, "favourites": [], "excluded": {"a": 1}}',
]


@pytest.mark.parametrize("content", CORRUPT)
def test_corrupt_file_is_kept_aside_with_its_bytes(home, content):
    home.mkdir()
    (home / "favourites.json").write_bytes(content)
    store = FavouritesStore()

    assert store.load() == Favourites([], [])
    aside = list(home.glob("favourites.json.corrupt-*"))
    assert len(aside) == 1
    assert aside[0].read_bytes() == content
    assert store.last_warning is not None and str(aside[0]) in store.last_warning

    store.add([42])
    assert FavouritesStore().load().favourites == [42]
    assert aside[0].read_bytes() == content, "the kept file is never touched again"


def test_corrupt_file_found_by_a_change_is_kept_too(home):
    home.mkdir()
    (home / "favourites.json").write_bytes(b"not json")
    store = FavouritesStore()
    assert store.add([7]) == [7]
    (aside,) = home.glob("favourites.json.corrupt-*")
    assert aside.read_bytes() == b"not json"
    assert str(aside) in store.last_warning
    assert store.load().favourites == [7]


def test_two_corruptions_in_the_same_second_do_not_overwrite(home, monkeypatch):
    monkeypatch.setattr(favourites_module.time, "strftime", lambda fmt: "20240101-120000")
    home.mkdir()
    for content in (b"first broken", b"second broken"):
        (home / "favourites.json").write_bytes(content)
        FavouritesStore().load()
    kept = {p.name: p.read_bytes() for p in home.glob("favourites.json.corrupt-*")}
    assert kept == {
        "favourites.json.corrupt-20240101-120000": b"first broken",
        "favourites.json.corrupt-20240101-120000-1": b"second broken",
    }


def test_file_from_a_newer_version_is_refused_not_moved(home):
    home.mkdir()
    newer = b'{"version": 2, "favourites": [1], "excluded": []}'
    (home / "favourites.json").write_bytes(newer)
    with pytest.raises(UserError, match="version 2"):
        FavouritesStore().load()
    with pytest.raises(UserError, match="version 2"):
        FavouritesStore().add([5])
    assert (home / "favourites.json").read_bytes() == newer
    assert not list(home.glob("*.corrupt-*"))


def test_works_without_fcntl(home, monkeypatch):
    monkeypatch.setattr(favourites_module, "fcntl", None)
    store = FavouritesStore()
    assert store.add([1, 2]) == [1, 2]
    assert store.remove([1]) == [1]
    assert store.load().favourites == [2]
    assert not store.lock_path.exists()


WORKER = """
import sys, time
from pathlib import Path
from animerec_tui.favourites import FavouritesStore

base, folder = int(sys.argv[1]), Path(sys.argv[2])
store = FavouritesStore()
(folder / f"ready-{base}").touch()
while not (folder / "go").exists():
    time.sleep(0.001)
for k in range(100):
    store.add([base + k])
    if k % 2:
        store.remove([base + k - 1])
"""


@pytest.mark.subprocess
@pytest.mark.skipif(sys.platform == "win32", reason="no fcntl lock on Windows (documented)")
def test_concurrent_writers_lose_nothing(home, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    bases = [1000, 5000]
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(base), str(tmp_path)], env=env, cwd=REPO)
        for base in bases
    ]
    deadline = time.monotonic() + 20
    while not all((tmp_path / f"ready-{b}").exists() for b in bases):
        assert time.monotonic() < deadline, "workers did not start"
        time.sleep(0.005)
    (tmp_path / "go").touch()  # both start changing the file at the same moment
    for worker in workers:
        assert worker.wait(timeout=60) == 0

    # Each worker added 100 ids and removed the even-offset ones: 150 changes each.
    expected = {base + k for base in bases for k in range(1, 100, 2)}
    got = FavouritesStore().load().favourites
    assert len(got) == len(set(got))
    assert set(got) == expected, f"lost {len(expected - set(got))}, extra {len(set(got) - expected)}"


def test_restore_puts_removed_favourites_back_in_their_order(tmp_path):
    store = FavouritesStore(tmp_path / "favourites.json")
    store.add([1, 2, 3])
    before = store.load().favourites
    store.remove([2])
    store.add([4])
    store.exclude([3])  # dismissed since: it stays out
    assert store.restore([2], order_hint=before) == [2]
    assert store.load().favourites == [1, 2, 4]


def test_settings_round_trip_and_refuse_what_does_not_check(tmp_path):
    from animerec_tui.engine import Filters
    from animerec_tui.settings import SettingsStore

    store = SettingsStore(tmp_path / "settings.json")
    assert store.load().filters == Filters() and store.load().warning is None
    chosen = Filters(types=frozenset({"TV", "Movie"}), hide_sequels=True, novelty=0.5, new_share=1.0, year_from=2010, year_to=2015, include_genres=frozenset({"Drama"}))
    store.update(filters=chosen, theme="nord")
    loaded = store.load()
    assert loaded.filters == chosen and loaded.theme == "nord" and loaded.warning is None
    (tmp_path / "settings.json").write_text('{"version": 1, "filters": {"types": ["Comic"], "year_from": 2020, "year_to": 2001, "hide_adult": false}}')
    loaded = store.load()
    assert loaded.filters == Filters(hide_adult=False) and "types" in loaded.warning and "year range" in loaded.warning
    (tmp_path / "settings.json").write_text("{not json")
    assert store.load().filters == Filters() and "not JSON" in store.load().warning and not store.load().writable


def test_clear_all_removes_only_what_the_question_named(tmp_path):
    """The TUI shows two favourites, another terminal adds a third, the TUI's "Remove all 2
    favourites?" is answered yes: the third stays, and undo brings back the two."""
    tui, cli = FavouritesStore(tmp_path / "favourites.json"), FavouritesStore(tmp_path / "favourites.json")
    cli.add([1, 2])
    shown = tui.load().favourites
    cli.add([3])
    removed = tui.remove(shown)
    assert removed == [1, 2] and tui.load().favourites == [3]
    assert tui.restore(removed, order_hint=shown) == [1, 2]
    assert cli.load().favourites == [1, 2, 3]


def test_undo_does_not_bring_back_what_another_terminal_removed(tmp_path):
    tui, cli = FavouritesStore(tmp_path / "favourites.json"), FavouritesStore(tmp_path / "favourites.json")
    cli.add([1, 2, 3, 4])
    before = tui.load().favourites
    removed = tui.remove([2])
    cli.remove([3])  # meanwhile, in another terminal
    cli.add([5])
    assert tui.restore(removed, order_hint=before) == [2]
    assert cli.load().favourites == [1, 2, 4, 5]


def test_restore_keeps_the_old_order_around_what_changed(tmp_path):
    store = FavouritesStore(tmp_path / "favourites.json")
    store.add([1, 2, 3, 4, 5])
    before = store.load().favourites
    removed = store.remove([1, 3, 5])
    store.remove([2])
    store.add([6])
    assert store.restore(removed, order_hint=before) == [1, 3, 5]
    assert store.load().favourites == [1, 3, 4, 5, 6]
    store.remove([4])
    assert store.restore([4, 7]) == [4, 7], "no hint: appended"
    assert store.load().favourites == [1, 3, 5, 6, 4, 7]
    assert store.restore([4]) == [], "already back"


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
def test_a_symlinked_file_stays_a_link_and_its_target_is_updated(tmp_path):
    (tmp_path / "dotfiles").mkdir()
    target = tmp_path / "dotfiles" / "favs.json"
    target.write_text('{"version": 1, "favourites": [1], "excluded": []}')
    link = tmp_path / "favourites.json"
    link.symlink_to(Path("dotfiles") / "favs.json")
    store = FavouritesStore(link)
    store.add([2])
    assert link.is_symlink() and json.loads(target.read_text())["favourites"] == [1, 2]
    assert store.lock_path == tmp_path / "dotfiles" / "favs.json.lock" and store.lock_path.exists()
    target.write_text("{damaged")
    assert store.load().favourites == []
    assert link.is_symlink() and any(p.name.startswith("favs.json.corrupt-") for p in target.parent.iterdir())
    store.add([3])
    assert link.is_symlink() and json.loads(target.read_text())["favourites"] == [3]


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
def test_a_dangling_symlink_reads_empty_and_the_first_change_creates_its_target(tmp_path):
    link = tmp_path / "favourites.json"
    link.symlink_to("elsewhere.json")
    store = FavouritesStore(link)
    assert store.load().favourites == []
    store.add([1])
    assert link.is_symlink() and json.loads((tmp_path / "elsewhere.json").read_text())["favourites"] == [1]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_a_fifo_in_its_place_is_refused_not_read(tmp_path):
    import threading

    os.mkfifo(tmp_path / "favourites.json")
    errors: list = []

    def load() -> None:
        try:
            FavouritesStore(tmp_path / "favourites.json").add([1])
        except UserError as error:
            errors.append(str(error))

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "blocked on the FIFO"
    assert errors and "not a regular file" in errors[0]
    assert stat.S_ISFIFO(os.lstat(tmp_path / "favourites.json").st_mode), "left where it was"


def test_a_favourites_file_made_read_only_is_not_replaced(tmp_path):
    """The atomic rename needs only the folder writable: a file the user chmod'ed a-w was replaced without a word."""
    store = FavouritesStore(tmp_path / "favourites.json")
    store.add([1])
    (tmp_path / "favourites.json").chmod(0o444)
    before = (tmp_path / "favourites.json").read_bytes()
    with pytest.raises(UserError, match="is read-only, so the favourites were not changed"):
        store.add([2])
    assert (tmp_path / "favourites.json").read_bytes() == before
    assert store.load().favourites == [1]


def test_a_file_from_before_the_watched_and_plan_lists_loads_and_keeps_them_once_marked(tmp_path):
    path = tmp_path / "favourites.json"
    path.write_text(json.dumps({"version": 1, "favourites": [1, 2], "excluded": [3]}))
    store = FavouritesStore(path)
    assert store.load() == Favourites([1, 2], [3], [], [])
    assert store.mark("plan", [5, 6, 5]) == [5, 6] and store.mark("watched", [5]) == [5]
    assert store.load() == Favourites([1, 2], [3], [5], [6]), "watched leaves the plan; favourites and excluded untouched"
    assert store.unmark("watched", [5, 9]) == [5] and "watched" not in json.loads(path.read_text())
    with pytest.raises(UserError):
        store.mark("plan", [0])
    with pytest.raises(ValueError):
        store.mark("favourites", [1])


def test_counts_of_favourites_read_as_written():
    from animerec_tui.favourites import counted

    assert [counted(0), counted(1), counted(2), counted(1200)] == ["0 favourites", "1 favourite", "2 favourites", "1,200 favourites"]
    assert counted(1, "new favourite") == "1 new favourite" and counted(3, "new favourite") == "3 new favourites"
