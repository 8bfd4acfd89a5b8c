"""The TUI against its own files and the files a user hands it (issue 26).

Another terminal (the CLI, a second TUI) changes favourites.json and settings.json while the
app runs; the app applies its own changes to the files' current content and never writes a
file it could not trust. F7 and F8 take any name a user types: the app's own state files,
``~nosuchuser``, a 300-byte name, a pipe, an export that takes long to read. Each is one
notification (or a progress line Esc cancels), never a traceback, a frozen screen or lost data.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import threading
import time
from pathlib import Path

import pytest
from textual.widgets import Input

from animerec_tui.favourites import FavouritesStore
from animerec_tui.settings import SettingsStore
from animerec_tui.tui.file_screens import ExportScreen, ImportScreen
from animerec_tui.tui.main_screen import MainScreen
from animerec_tui.tui.screens import ConfirmScreen
from animerec_tui.tui.testing import settle, toasts
from tests.conftest import ATTACK_ON_TITAN, DEATH_NOTE, FMA_B, NARUTO, STEINS_GATE, YOUR_NAME
from tests.tui.test_app import favourite_titles, make_app, run, started, status

MAL_EXPORT = Path(__file__).resolve().parents[1] / "data" / "mal_export_small.xml"
LIKED = [FMA_B, STEINS_GATE, DEATH_NOTE, 21]
"""What MAL_EXPORT scores 7 or more, in file order."""


@pytest.fixture(scope="module")
def title_index(catalog):
    from animerec_tui.search import TitleIndex

    return TitleIndex(catalog)


@pytest.fixture(autouse=True)
def loaded_once(catalog, title_index, monkeypatch):
    """Each app here takes the catalogue and title index loaded once (a second each to build
    again): what these tests check starts after loading."""
    from animerec_tui import catalog as catalog_module
    from animerec_tui import search

    monkeypatch.setattr(catalog_module, "load_catalog", lambda *args, **kwargs: catalog)
    build = search.TitleIndex
    monkeypatch.setattr(search, "TitleIndex", lambda loaded: title_index if loaded is catalog else build(loaded))


def titles(catalog, *ids: int) -> list[str]:
    by_id = {e["mal_id"]: e for e in catalog}
    return [by_id[i]["title"] for i in ids]


async def pause_until(pilot, done, seconds: float = 10.0) -> None:
    """Let the app run until ``done()`` holds (workers post their answers meanwhile)."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.02)


# ------------------------------------------------------------------ favourites


@pytest.mark.asyncio
async def test_clear_all_names_what_goes_and_keeps_what_another_terminal_added(tiny_model, home, catalog):
    async with started(tiny_model, [DEATH_NOTE, STEINS_GATE, FMA_B, YOUR_NAME]) as (app, pilot):
        cli = FavouritesStore()
        cli.add([NARUTO])  # `animerec favourites add` in another terminal
        app.query_one("#favourites").focus()
        await pilot.press("C")
        assert isinstance(app.screen, ConfirmScreen)
        first = titles(catalog, DEATH_NOTE, STEINS_GATE, FMA_B)
        assert app.screen.question == f"Remove all 5 favourites: {', '.join(first)} and 2 more?", "the question counts the file's favourites and names them"
        cli.add([ATTACK_ON_TITAN])  # added while the question is open: not named, so not removed
        await pilot.press("y")
        await settle(pilot)
        assert cli.load().favourites == [ATTACK_ON_TITAN]
        assert favourite_titles(app) == titles(catalog, ATTACK_ON_TITAN), "the screen shows the file"
        assert "cleared all favourites (5); 1 added elsewhere meanwhile stays · u undoes it" in toasts(app)
        await pilot.press("u")
        await settle(pilot)
        assert cli.load().favourites == [DEATH_NOTE, STEINS_GATE, FMA_B, YOUR_NAME, NARUTO, ATTACK_ON_TITAN]
        assert len(favourite_titles(app)) == 6
        cli.remove([STEINS_GATE, FMA_B, YOUR_NAME, NARUTO, ATTACK_ON_TITAN])
        await pilot.press("C")
        assert app.screen.question == "Remove the favourite: Death Note?"
        await pilot.press("n")
        cli.remove([DEATH_NOTE])
        await pilot.press("C")
        assert isinstance(app.screen, MainScreen) and "no favourites to clear" in toasts(app) and favourite_titles(app) == []


@pytest.mark.asyncio
async def test_undoing_a_remove_does_not_bring_back_what_another_terminal_removed(tiny_model, home):
    async with started(tiny_model, [DEATH_NOTE, STEINS_GATE, FMA_B]) as (app, pilot):
        favourites = app.query_one("#favourites")
        favourites.focus()
        favourites.highlighted = 0
        await pilot.press("x")
        await settle(pilot)
        FavouritesStore().remove([STEINS_GATE])  # `animerec favourites remove` meanwhile
        await pilot.press("u")
        await settle(pilot)
        assert FavouritesStore().load().favourites == [DEATH_NOTE, FMA_B]
        assert favourite_titles(app)[0] == "Death Note" and len(favourite_titles(app)) == 2


@pytest.mark.asyncio
async def test_an_undo_that_could_not_be_written_can_be_tried_again(tiny_model, home, monkeypatch):
    from training.errors import UserError

    restore = FavouritesStore.restore
    failures = iter([UserError("favourites.json: cannot write (No space left on device)")])

    def full_disk_once(self, *args, **kwargs):
        for error in failures:
            raise error
        return restore(self, *args, **kwargs)

    monkeypatch.setattr(FavouritesStore, "restore", full_disk_once)
    async with started(tiny_model, [DEATH_NOTE, STEINS_GATE]) as (app, pilot):
        favourites = app.query_one("#favourites")
        favourites.focus()
        favourites.highlighted = 0
        await pilot.press("x", "u")
        await settle(pilot)
        assert any("No space left on device" in t for t in toasts(app)) and FavouritesStore().load().favourites == [STEINS_GATE]
        await pilot.press("u")  # room again: the same undo
        await settle(pilot)
        assert FavouritesStore().load().favourites == [DEATH_NOTE, STEINS_GATE] and "undone: removed Death Note" in toasts(app)


@pytest.mark.asyncio
async def test_the_not_interested_list_is_the_files(tiny_model, home):
    from textual.widgets import OptionList

    from animerec_tui.tui.screens import NotInterestedScreen

    async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
        FavouritesStore().exclude([STEINS_GATE, NARUTO])  # marked in another terminal
        app.screen.action_show_not_interested()
        await settle(pilot)
        assert isinstance(app.screen, NotInterestedScreen)
        listed = app.screen.query_one("#not-interested", OptionList)
        assert [str(listed.get_option_at_index(i).prompt) for i in range(listed.option_count)] == ["Steins;Gate", "Naruto"]
        FavouritesStore().unexclude([STEINS_GATE])  # `animerec favourites unhide` meanwhile
        listed.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert "Steins;Gate was no longer marked not interested (changed elsewhere)" in toasts(app)
        assert FavouritesStore().load().excluded == [NARUTO] and app.screen_stack[0].not_interested == (NARUTO,)


# ------------------------------------------------------------------ settings


@pytest.mark.asyncio
async def test_a_setting_changed_here_keeps_the_watched_list_another_tui_saved(tiny_model, home):
    async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
        SettingsStore().update(watched=(FMA_B, NARUTO), hide_watched=True)  # the other TUI's F8 import
        await pilot.press("f3")
        await settle(pilot)
        saved = SettingsStore().load()
        assert saved.filters.hide_sequels and saved.watched == (FMA_B, NARUTO) and saved.hide_watched
        app.theme = "textual-light"
        await pilot.pause()
        saved = SettingsStore().load()
        assert saved.theme == "textual-light" and saved.filters.hide_sequels and saved.watched == (FMA_B, NARUTO)


@pytest.mark.asyncio
async def test_a_settings_file_that_did_not_load_is_never_written(tiny_model, home):
    # Written by a newer animerec (a version and a field this one does not know): the store
    # refuses to write it (its own tests cover unreadable files and the other cases).
    text = '{"version": 2, "filters": {"hide_sequels": true}, "watched": [5114, 20], "lists": {"a": [1]}}'
    home.mkdir(parents=True, exist_ok=True)
    (home / "settings.json").write_text(text)
    async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
        assert any("settings.json" in t and "not saved" in t for t in toasts(app)), "the load names the file and says so"
        shown = len(toasts(app))
        await pilot.press("f3", "f4", "f5")
        await settle(pilot)
        assert "no sequels" in status(app) and "novelty 0.25" in status(app), "the app works on with the changes in memory"
        told = [t for t in toasts(app)[shown:] if t.startswith("settings not saved")]
        assert len(told) == 1, toasts(app)
    assert (home / "settings.json").read_text() == text


# ------------------------------------------------------------------ export (F7)


async def export_to(app, pilot, text: str) -> None:
    await pilot.press("f7")
    app.screen.query_one("#path", Input).value = text
    await pilot.press("enter")
    await settle(pilot)


@pytest.mark.asyncio
async def test_export_refuses_the_apps_own_files_without_asking(tiny_model, home):
    async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
        await pilot.press("f3")  # settings.json exists too
        await settle(pilot)
        before = {name: (home / name).read_bytes() for name in ("favourites.json", "settings.json")}
        for name in before:
            shown = len(toasts(app))
            await export_to(app, pilot, str(home / name))
            assert isinstance(app.screen, ExportScreen), "refused, not asked: the dialog stays to correct the name"
            assert len(toasts(app)) == shown + 1 and "export" in toasts(app)[-1], toasts(app)
            await pilot.press("escape")
        assert {name: (home / name).read_bytes() for name in before} == before


@contextlib.contextmanager
def watched_pipe(fifo: Path):
    """A named pipe at ``fifo``, and an event set if a reader ever opens it (the writer then
    closes it, so that a reader stuck in ``open()`` is let go and no test hangs)."""
    os.mkfifo(fifo)
    connected, give_up = threading.Event(), threading.Event()

    def writer() -> None:
        while not give_up.is_set():
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as error:
                if error.errno != errno.ENXIO:  # ENXIO: no reader yet
                    raise
                time.sleep(0.05)
                continue
            connected.set()
            os.close(fd)
            return

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        yield connected
    finally:
        give_up.set()
        thread.join(5)


@pytest.mark.asyncio
async def test_export_and_import_of_names_that_cannot_be_are_one_notification(tiny_model, home, tmp_path):
    long_name = str(tmp_path / ("x" * 300 + ".md"))
    async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
        for text in ("~nosuchuser-animerec/x.md", long_name):
            shown = len(toasts(app))
            await export_to(app, pilot, text)
            assert isinstance(app.screen, ExportScreen) and len(toasts(app)) == shown + 1, toasts(app)
            await pilot.press("escape", "f8")
            app.screen.query_one("#path", Input).value = text
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, ImportScreen) and len(toasts(app)) == shown + 2, "one line; the dialog stays to correct the name"
            await pilot.press("escape")
        with watched_pipe(tmp_path / "animelist.xml") as opened:  # F8 of a pipe froze the app for good
            await pilot.press("f8")
            app.screen.query_one("#path", Input).value = str(tmp_path / "animelist.xml")
            await pilot.press("enter")
            await settle(pilot)
            assert any("not a regular file" in t for t in toasts(app)), toasts(app)
            assert not opened.is_set(), "the pipe was never opened"
        assert FavouritesStore().load().favourites == [DEATH_NOTE]


# ------------------------------------------------------------------ import (F8)


@contextlib.contextmanager
def slow_reader(monkeypatch, total: int = 10**9):
    """Replace the export reader by one that reports progress every 10 ms until cancelled (or ``total``)."""
    from animerec_tui import malimport

    seen: dict[str, object] = {"stopped": threading.Event()}

    def read_mal_export(path, progress=None):
        try:
            for n in range(5000, total, 5000):
                time.sleep(0.01)
                if progress is None:  # called the old way, on the UI thread: give up soon
                    if n > 50_000:
                        return []
                    continue
                progress(n)
            return []
        except BaseException as error:
            seen["raised"] = error
            raise
        finally:
            seen["stopped"].set()  # type: ignore[attr-defined]

    monkeypatch.setattr(malimport, "read_mal_export", read_mal_export)
    yield seen


@pytest.mark.asyncio
async def test_a_long_import_shows_its_progress_and_escape_or_quitting_cancels_it(tiny_model, home, monkeypatch):
    with slow_reader(monkeypatch) as seen:
        async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
            await pilot.press("f8")
            app.screen.query_one("#path", Input).value = "big.xml.gz"
            await pilot.press("enter")
            progress = app.screen.query_one("#import-progress")
            await pause_until(pilot, lambda: "entries so far" in str(progress.render()))
            assert "big.xml.gz" in str(progress.render()) and "Esc cancels" in str(progress.render())
            await pilot.press("enter")
            assert "still reading big.xml.gz: Esc cancels" in toasts(app)
            await pilot.press("escape")
            assert isinstance(app.screen, MainScreen) and "import of big.xml.gz cancelled" in toasts(app)
            assert await asyncio.to_thread(seen["stopped"].wait, 5), "the reader stops at its next progress report"
            await settle(pilot)
            assert not any("import failed" in t for t in toasts(app))
            assert FavouritesStore().load().favourites == [DEATH_NOTE]
            assert type(seen["raised"]).__name__ == "ImportCancelled"
            seen["stopped"].clear()
            await pilot.press("f8")  # again, and quit while it reads: at once
            app.screen.query_one("#path", Input).value = "big.xml.gz"
            await pilot.press("enter")
            await pause_until(pilot, lambda: "entries so far" in str(app.screen.query_one("#import-progress").render()))
            start = time.monotonic()
            await pilot.press("ctrl+q")
            assert app.return_code == 0, "ctrl+q quits from the dialog (it was one of the keys a dialog cut off)"
        assert time.monotonic() - start < 2
        assert await asyncio.to_thread(seen["stopped"].wait, 5), "the reader stops once the app has gone"


QUIT_WITH_A_STUCK_WORKER = """
import threading
from animerec_tui.tui import app as app_module

run = app_module.AnimeRecApp.run

def headless(self, **kwargs):
    async def stuck_then_quit(pilot):
        await pilot.pause(0.5)  # up and drawn (quitting mid-mount trips a race in Textual's Header)
        pilot.app.run_worker(threading.Event().wait, thread=True)  # a read that never returns
        await pilot.press("ctrl+q")
    return run(self, headless=True, auto_pilot=stuck_then_quit, **kwargs)

app_module.AnimeRecApp.run = headless
app_module.run(None)
"""


@pytest.mark.subprocess
def test_animerec_tui_quits_at_once_while_a_worker_thread_is_stuck(home, tmp_path):
    import subprocess
    import sys

    # ``animerec tui``'s own entry point; asyncio.run used to wait for the stuck thread forever.
    script = tmp_path / "quit.py"
    script.write_text(QUIT_WITH_A_STUCK_WORKER)
    done = subprocess.run([sys.executable, str(script)], timeout=60, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.asyncio
async def test_file_dialogs_take_a_dropped_file_in_quotes_an_empty_name_and_no_home_folder(tiny_model, home, tmp_path, monkeypatch):
    async with started(tiny_model, []) as (app, pilot):
        await pilot.press("f8")
        app.screen.query_one("#path", Input).value = f"'{MAL_EXPORT}' "  # as GNOME Terminal pastes a dropped file
        await pilot.press("enter")
        await settle(pilot)
        assert FavouritesStore().load().favourites == LIKED, toasts(app)
        await export_to(app, pilot, f'"{tmp_path / "my lists.csv"}"')
        assert (tmp_path / "my lists.csv").exists(), toasts(app)
        await export_to(app, pilot, "  ")
        assert "type the name of the file to write" in toasts(app), "an empty name is not silently ignored"
        await pilot.press("escape")
        # A container's user with no passwd entry and no HOME: Path.home() raised RuntimeError at F7.
        monkeypatch.delenv("HOME", raising=False)
        monkeypatch.setattr("pwd.getpwuid", lambda uid: (_ for _ in ()).throw(KeyError(uid)))
        await pilot.press("f7")
        assert app.screen.query_one("#path", Input).value == "~/animerec-recommendations.csv"  # the format of the last export, "my lists.csv"


@contextlib.contextmanager
def catalogue_held(monkeypatch):
    """The catalogue loads only once the event yielded is set (or after 20 s)."""
    from animerec_tui import catalog as catalog_module

    release = threading.Event()
    load = catalog_module.load_catalog

    def slow_load_catalog(*args, **kwargs):
        release.wait(20)
        return load(*args, **kwargs)

    monkeypatch.setattr(catalog_module, "load_catalog", slow_load_catalog)
    try:
        yield release
    finally:
        release.set()


@pytest.mark.asyncio
async def test_an_import_while_the_catalogue_loads_waits_for_it(tiny_model, home, monkeypatch):
    with catalogue_held(monkeypatch) as release:
        app = make_app(tiny_model)
        async with run(app) as pilot:
            for _ in range(2):  # twice: each waits its turn, none is lost
                await pilot.press("f8")
                app.screen.query_one("#path", Input).value = str(MAL_EXPORT)
                await pilot.press("enter")
                await pause_until(pilot, lambda: isinstance(app.screen, MainScreen))
            assert sum("once the catalogue has loaded" in t for t in toasts(app)) == 2, toasts(app)
            assert not any("not in the catalogue" in t for t in toasts(app))
            release.set()
            await settle(pilot)
            assert FavouritesStore().load().favourites == LIKED
            assert any("4 scored 7 or more, 4 new favourites; 7 watched anime hidden" in t for t in toasts(app)), toasts(app)
            assert any("4 scored 7 or more, 0 new favourites" in t for t in toasts(app)), toasts(app)
            assert favourite_titles(app)[0] == "Fullmetal Alchemist: Brotherhood"


@pytest.mark.asyncio
async def test_an_export_while_the_catalogue_loads_waits_for_it(tiny_model, home, tmp_path, monkeypatch):
    FavouritesStore().add([DEATH_NOTE])
    target = tmp_path / "list.md"
    with catalogue_held(monkeypatch) as release:
        app = make_app(tiny_model)
        async with run(app) as pilot:
            await pilot.press("f7")
            app.screen.query_one("#path", Input).value = str(target)
            await pilot.press("enter")
            await pilot.pause()
            assert any("the catalogue is still loading; try again in a moment" in t for t in toasts(app)), toasts(app)
            assert not target.exists(), "no list of ids for titles, nor one without its recommendations"
            release.set()
            await settle(pilot)
            await export_to(app, pilot, str(target))
            assert "[Death Note](https://myanimelist.net/anime/1535)" in target.read_text() and "## Recommendations (50)" in target.read_text()


@pytest.mark.asyncio
async def test_an_export_is_written_without_stopping_the_screen(tiny_model, home, tmp_path, monkeypatch):
    from animerec_tui.tui import main_screen

    release, written = threading.Event(), threading.Event()
    write = main_screen.write_export

    def slow_write_export(path, text, home=None):  # a folder on a slow network mount
        release.wait(3)
        write(path, text, home)
        written.set()

    monkeypatch.setattr(main_screen, "write_export", slow_write_export)
    try:
        async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
            await pilot.press("f7")
            app.screen.query_one("#path", Input).value = str(tmp_path / "list.csv")
            await pilot.press("enter", "f3")
            assert app.screen.filters.hide_sequels and not written.is_set(), "F3 answered while the file was being written"
            release.set()
            await settle(pilot)
            assert any(f"wrote 1 favourites and 50 recommendations to {tmp_path / 'list.csv'}" in t for t in toasts(app))
    finally:
        release.set()



async def test_an_unhide_that_could_not_be_written_stays_in_the_not_interested_list(tiny_model, home):
    """Enter took the entry off the list even when the file could not be changed (it stayed marked)."""
    from textual.widgets import OptionList

    from animerec_tui.tui.screens import NotInterestedScreen

    async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
        FavouritesStore().exclude([STEINS_GATE])
        app.screen.action_show_not_interested()
        await settle(pilot)
        assert isinstance(app.screen, NotInterestedScreen)
        (home / "favourites.json").chmod(0o444)  # the file cannot be changed now
        listed = app.screen.query_one("#not-interested", OptionList)
        listed.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, NotInterestedScreen) and listed.option_count == 1
        assert any("is read-only" in toast for toast in toasts(app))
        (home / "favourites.json").chmod(0o644)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
    assert FavouritesStore().load().excluded == []
