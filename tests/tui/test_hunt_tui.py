"""The TUI against what a user can hand it, second round (issue 26's hunt, continued).

Titles and paths in questions are text, never markup; a store error that is not the app's
own still reaches the user as one notification.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input, Label

from animerec_tui.favourites import FavouritesStore
from animerec_tui.tui.screens import ConfirmScreen
from animerec_tui.tui.testing import settle, toasts
from tests.conftest import DEATH_NOTE, FMA_B, STEINS_GATE
from tests.tui.test_app import started
from tests.tui.test_state_files import loaded_once, title_index  # noqa: F401  (fixtures: the catalogue loaded once)

OSHI_NO_KO = 52034
"""MAL's title is "[Oshi no Ko]": brackets that read as a markup tag."""


def question(app) -> str:
    assert isinstance(app.screen, ConfirmScreen)
    return str(app.screen.query_one(Label).render())


@pytest.mark.asyncio
async def test_clear_all_names_a_title_in_brackets(tiny_model, home, catalog):
    assert any(e["mal_id"] == OSHI_NO_KO and e["title"] == "[Oshi no Ko]" for e in catalog)
    async with started(tiny_model, [OSHI_NO_KO]) as (app, pilot):
        app.query_one("#favourites").focus()
        await pilot.press("C")
        assert question(app) == "Remove the favourite: [Oshi no Ko]?"  # was "Remove the favourite: ?"


@pytest.mark.asyncio
async def test_replace_question_shows_a_path_with_brackets(tiny_model, home, tmp_path):
    folder = tmp_path / "a["
    folder.mkdir()
    target = folder / "]x.md"  # the path reads "a[/]x.md": a closing tag with nothing to close
    target.write_text("old\n")
    async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
        await pilot.press("f7")
        app.screen.query_one("#path", Input).value = str(target)
        await pilot.press("enter")
        await settle(pilot)
        assert question(app) == f"Replace {target}?"
        await pilot.press("y")
        await settle(pilot)
        assert "Death Note" in target.read_text()


@pytest.mark.asyncio
async def test_search_with_no_match_shows_the_query_as_typed(tiny_model, home):
    from animerec_tui.tui.search_pane import MatchList

    async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
        await pilot.press(*"zzqx[/]", "enter")  # a closing tag with nothing to close: MarkupError
        await settle(pilot)
        matches = app.screen.query_one(MatchList)
        assert str(matches.get_option_at_index(0).prompt) == "no matches for “zzqx[/]”"
        await pilot.press("ctrl+u", *"[b]zzqx", "enter")  # a style: was drawn bold, the tag gone
        await settle(pilot)
        assert "[b]zzqx" in str(matches.get_option_at_index(0).prompt)
        await pilot.pause()


@pytest.mark.asyncio
async def test_not_interested_in_a_favourites_details_is_told_and_undone_by_u(tiny_model, home):
    async with started(tiny_model, [DEATH_NOTE, STEINS_GATE, FMA_B]) as (app, pilot):
        app.query_one("#favourites").focus()
        await pilot.press("down", "i")  # Steins;Gate's details
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert FavouritesStore().load().favourites == [DEATH_NOTE, FMA_B]
        assert any("removed from the favourites" in t and "u undoes it" in t for t in toasts(app))  # was only "not interested: ..."
        await pilot.press("u")  # was "nothing to undo": the favourite was gone for good
        await settle(pilot)
        state = FavouritesStore().load()
        assert state.favourites == [DEATH_NOTE, STEINS_GATE, FMA_B] and state.excluded == []


@pytest.mark.asyncio
async def test_undo_of_a_remove_marked_not_interested_elsewhere_says_so(tiny_model, home):
    async with started(tiny_model, [DEATH_NOTE, STEINS_GATE]) as (app, pilot):
        app.query_one("#favourites").focus()
        await pilot.press("x")
        await settle(pilot)
        FavouritesStore().exclude([DEATH_NOTE])  # another terminal: n on it
        await pilot.press("u")
        await settle(pilot)
        assert FavouritesStore().load().favourites == [STEINS_GATE]
        told = toasts(app)[-1]
        assert "marked not interested since" in told and "already there again" not in told


def test_import_and_undo_of_a_whole_catalogue_do_not_stall_the_screen(tmp_path, catalog):
    """The store runs on the UI thread: importing 20,000 favourites into as many (F8 on the same
    list again) took 1.7 s, and u after clearing them 2.2 s, a search of the list per id."""
    import time

    ids = [e["mal_id"] for e in catalog][:20000]
    store = FavouritesStore(tmp_path / "favourites.json")
    store.add(ids[::2])
    started_at = time.perf_counter()
    store.add(ids)
    removed = store.clear()
    assert store.restore(removed, removed) == removed
    assert time.perf_counter() - started_at < 1.0
    assert store.load().favourites == ids[::2] + ids[1::2]
