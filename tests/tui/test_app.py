"""The Textual app driven with Pilot: search, favourites, filters, details, persistence, errors."""

from __future__ import annotations


import pytest

from animerec_tui.favourites import FavouritesStore
from animerec_tui.tui.app import AnimeRecApp, ResultsTable, SearchResults
from animerec_tui.tui.testing import settle as settle_pilot
from animerec_tui.tui.screens import ConfirmScreen, DetailsScreen, FiltersScreen, HelpScreen
from tests.conftest import DEATH_NOTE, STEINS_GATE

SIZE = (100, 32)


async def settle(app, pilot) -> None:
    await settle_pilot(pilot)


async def search_and_add(app, pilot, query: str) -> None:
    await pilot.press("slash")
    app.query_one("#search").value = ""
    await pilot.press(*query)
    await settle(app, pilot)
    await pilot.press("down", "enter")
    await settle(app, pilot)


def table_ids(app) -> list[int]:
    return list(app.shown)


@pytest.mark.asyncio
async def test_search_then_add_fills_favourites_and_results(tiny_model, home):
    app = AnimeRecApp(tiny_model)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.engine is not None
        await search_and_add(app, pilot, "death note")
        assert app.favourites == [DEATH_NOTE]
        assert app.query_one(ResultsTable).row_count == 50
        assert DEATH_NOTE not in table_ids(app)
        assert "Death Note" in str(app.query_one("#taste").render()) or app.query_one("#taste").render()


@pytest.mark.asyncio
async def test_typing_after_an_add_starts_the_next_search_and_sets_off_nothing(tiny_model, home):
    app = AnimeRecApp(tiny_model)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await search_and_add(app, pilot, "death note")
        assert isinstance(app.focused, SearchResults)
        await pilot.press(*"steins gate")  # "i" and "n" here once opened details and hid a title
        await settle(app, pilot)
        assert app.focused is app.query_one("#search") and app.query_one("#search").value == "steins gate"
        assert app.screen is app.screen_stack[0] and not FavouritesStore().load().excluded
        await pilot.press("down", "backspace")
        assert app.query_one("#search").value == "steins gat", "backspace edits the query, it does not start anew"
        await pilot.press("e", "down", "enter")
        await settle(app, pilot)
        assert app.favourites == [DEATH_NOTE, STEINS_GATE]
        await pilot.press("right")
        assert isinstance(app.screen, DetailsScreen)


@pytest.mark.asyncio
async def test_remove_and_clear_with_confirmation(tiny_model, home):
    FavouritesStore().add([DEATH_NOTE, STEINS_GATE])
    app = AnimeRecApp(tiny_model)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.query_one("#favourites").focus()
        app.query_one("#favourites").highlighted = 0
        await pilot.press("delete")
        await settle(app, pilot)
        assert app.favourites == [STEINS_GATE]
        await pilot.press("C")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert app.favourites == [STEINS_GATE]
        await pilot.press("C", "y")
        await settle(app, pilot)
        assert app.favourites == []
        assert app.query_one(ResultsTable).row_count == 0
    assert FavouritesStore().load().favourites == []


@pytest.mark.asyncio
async def test_filters_change_the_table(tiny_model, home):
    FavouritesStore().add([DEATH_NOTE])
    app = AnimeRecApp(tiny_model)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        before = table_ids(app)
        assert any(app.by_id[i]["is_sequel"] for i in before)
        await pilot.press("f3")
        await settle(app, pilot)
        assert app.filters.hide_sequels
        assert not any(app.by_id[i]["is_sequel"] for i in table_ids(app))
        await pilot.press("f2")
        assert isinstance(app.screen, FiltersScreen)
        app.screen.query_one("#types").select("Movie")
        await pilot.press("f10")
        await settle(app, pilot)
        assert app.filters.types == {"Movie"}
        assert table_ids(app) and all(app.by_id[i]["type"] == "Movie" for i in table_ids(app))


@pytest.mark.asyncio
async def test_favourites_persist_across_two_runs(tiny_model, home):
    first = AnimeRecApp(tiny_model)
    async with first.run_test(size=SIZE) as pilot:
        await settle(first, pilot)
        await search_and_add(first, pilot, "steins gate")
    second = AnimeRecApp(tiny_model)
    async with second.run_test(size=SIZE) as pilot:
        await settle(second, pilot)
        assert second.favourites == [STEINS_GATE]
        assert second.query_one(ResultsTable).row_count == 50


@pytest.mark.asyncio
async def test_details_view_and_not_interested(tiny_model, home):
    FavouritesStore().add([DEATH_NOTE])
    app = AnimeRecApp(tiny_model)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        first = table_ids(app)[0]
        app.query_one(ResultsTable).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, DetailsScreen)
        assert app.screen.entry["mal_id"] == first
        assert app.screen.query_one("#similar").option_count == 10
        await pilot.press("n")
        await settle(app, pilot)
        assert not isinstance(app.screen, DetailsScreen)
        assert first not in table_ids(app)
    assert first in FavouritesStore().load().excluded


@pytest.mark.asyncio
async def test_help_lists_every_app_key(tiny_model, home):
    app = AnimeRecApp(tiny_model)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        keys = " ".join(k for k, _ in app.screen.rows)
        for binding in AnimeRecApp.BINDINGS:
            assert binding.key.split(",")[0].replace("slash", "/") in keys.lower() or binding.key in keys.lower()
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


@pytest.mark.asyncio
async def test_starts_without_a_model_and_search_still_works(tmp_path, home):
    app = AnimeRecApp(tmp_path / "no-such-model")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.engine is None
        assert "no model" in str(app.query_one("#status").render())
        assert any("model failed" in (n.title or "") for n in app._notifications)
        await pilot.press(*"death note")
        await settle(app, pilot)
        assert app.query_one("#search-results").option_count > 0


@pytest.mark.asyncio
async def test_corrupt_favourites_file_is_kept_aside_and_reported(tiny_model, home):
    home.mkdir(parents=True, exist_ok=True)
    (home / "favourites.json").write_text("{ not json")
    app = AnimeRecApp(tiny_model)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.favourites == []
        assert any("corrupt" in n.message.lower() or "moved" in n.message.lower() for n in app._notifications)
    aside = [p for p in home.iterdir() if p.name.startswith("favourites.json.corrupt")]
    assert len(aside) == 1 and aside[0].read_text() == "{ not json"


@pytest.mark.asyncio
async def test_only_https_myanimelist_urls_are_opened(tiny_model, home, monkeypatch):
    opened = []
    app = AnimeRecApp(tiny_model)
    monkeypatch.setattr(app, "open_url", lambda url, **kw: opened.append(url))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        entry = dict(app.by_id[DEATH_NOTE])
        app.push_screen(DetailsScreen({**entry, "url": "javascript:alert(1)"}, True))
        await pilot.pause()
        await pilot.press("o")
        app.pop_screen()
        app.push_screen(DetailsScreen(entry, True))
        await pilot.pause()
        await pilot.press("o")
    assert opened == ["https://myanimelist.net/anime/1535"]


@pytest.mark.asyncio
async def test_not_interested_can_be_undone(tiny_model, home):
    from animerec_tui.tui.screens import HiddenScreen

    store = FavouritesStore()
    store.add([DEATH_NOTE])
    store.exclude([STEINS_GATE])
    app = AnimeRecApp(tiny_model)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.action_show_hidden()
        await pilot.pause()
        assert isinstance(app.screen, HiddenScreen)
        app.screen.query_one("#hidden").focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert not isinstance(app.screen, HiddenScreen)
        assert app.excluded == []
    assert FavouritesStore().load().excluded == []
