"""The Textual app driven with Pilot: search, favourites, filters, details, persistence, errors.

Every check reads what the screen shows: list and table rows, the status line, the taste
chart, the notifications on screen (see :func:`animerec_tui.tui.testing.toasts`).
"""

from __future__ import annotations

import contextlib
import gc

import numpy as np
import pytest
from textual.widgets import Footer, Input, OptionList, Static

from animerec_tui.favourites import FavouritesStore
from animerec_tui.tui import messages
from animerec_tui.tui.app import AnimeRecApp
from animerec_tui.tui.favourites_pane import FavouritesList
from animerec_tui.tui.main_screen import MainScreen
from animerec_tui.tui.results_pane import ResultsTable
from animerec_tui.tui.screens import ConfirmScreen, DetailsScreen, FiltersScreen, NotInterestedScreen
from animerec_tui.tui.search_pane import MatchList
from animerec_tui.tui.testing import burst, settle, toasts
from tests.conftest import ATTACK_ON_TITAN, DEATH_NOTE, STEINS_GATE

SIZE = (100, 32)


def make_app(model=None) -> AnimeRecApp:
    app = AnimeRecApp(model)
    app.NOTIFICATION_TIMEOUT = 60  # a busy test machine must not let a toast expire before it is read
    return app


def run(app: AnimeRecApp):
    return app.run_test(size=SIZE, notifications=True)


@contextlib.asynccontextmanager
async def started(model, favourites: list[int], excluded: tuple[int, ...] = (), size: tuple[int, int] = SIZE):
    """The app over saved ``favourites`` (and ``excluded`` ones), up and settled: ``(app, pilot)``."""
    store = FavouritesStore()
    store.add(favourites)
    if excluded:
        store.exclude(list(excluded))
    app = make_app(model)
    async with app.run_test(size=size, notifications=True) as pilot:
        await settle(pilot)
        yield app, pilot


async def search_and_add(pilot, query: str) -> None:
    await pilot.press("slash")
    pilot.app.query_one("#search", Input).value = ""
    await pilot.press(*query, "enter")  # one burst: Enter adds the top match for the whole query
    await settle(pilot)


async def open_first_result(app, pilot) -> None:
    """Enter on the top recommendation: its details view."""
    app.query_one(ResultsTable).focus()
    await pilot.press("enter")
    await settle(pilot)


def favourite_titles(app) -> list[str]:
    favourites = app.query_one(FavouritesList)
    return [str(favourites.get_option_at_index(i).prompt) for i in range(favourites.option_count)]


def result_ids(app) -> list[int]:
    return [int(key.value) for key in app.query_one(ResultsTable).rows]


def status(app) -> str:
    """The status line as one line (it breaks only between its " · " parts)."""
    return str(app.query_one("#status", Static).render()).replace("\n", " · ")


@pytest.mark.asyncio
async def test_search_then_add_fills_favourites_results_and_taste(tiny_model, home, catalog):
    app = make_app(tiny_model)
    async with run(app) as pilot:
        await settle(pilot)
        await search_and_add(pilot, "death note")
        assert favourite_titles(app) == ["Death Note"]
        assert "added Death Note" in toasts(app)
        assert app.query_one(ResultsTable).row_count == 50
        assert DEATH_NOTE not in result_ids(app)
        assert status(app).startswith("50 recommendations for 1 favourite · all types · sequels · no adult")
        note = "With 1 favourite the list leans on what most fans loved; add a few more, or F5 for picks nearer to yours"
        assert status(app).replace(" · ", " ").endswith(note), "a one-favourite list says how to lean nearer to it"
        genres = catalog.by_id[DEATH_NOTE]["genres"][:5]  # one favourite: every genre counts 1, first five shown
        width = max(map(len, genres))
        assert str(app.query_one("#taste", Static).render()).splitlines() == [f"{g:<{width}} {'█' * 14} 1" for g in genres]
        search_line = str(app.query_one(MatchList).get_option_at_index(0).prompt)
        assert search_line.startswith("★ Death Note")


@pytest.mark.asyncio
@pytest.mark.parametrize("freeze", [False, True])
async def test_animerec_tui_freezes_what_it_loaded_out_of_the_cycle_collectors_passes(tiny_model, home, freeze):
    gc.unfreeze()
    app = AnimeRecApp(tiny_model, freeze_loaded=freeze)  # ``animerec tui`` runs it with freeze_loaded=True
    try:
        async with run(app) as pilot:
            await settle(pilot)
            assert app.main_screen.engine is not None and app.main_screen.catalog is not None
            assert (gc.get_freeze_count() > 0) == freeze
            await search_and_add(pilot, "death note")  # the app works on as before
            assert favourite_titles(app) == ["Death Note"]
    finally:
        gc.unfreeze()  # many apps start in this process: let the collector have them back


def test_the_tui_command_runs_the_app_with_freezing_on(monkeypatch):
    from animerec_tui.tui import app as app_module

    started = []
    monkeypatch.setattr(AnimeRecApp, "run", lambda self, **kwargs: started.append(self.freeze_loaded))
    monkeypatch.setattr(app_module.os, "_exit", lambda code: started.append(code))
    app_module.run(None)
    assert started == [True, 0]


def matches(app) -> list[str]:
    listed = app.query_one(MatchList)
    return [str(listed.get_option_at_index(i).prompt) for i in range(listed.option_count)]


def highlighted(app) -> str:
    listed = app.query_one(MatchList)
    return str(listed.get_option_at_index(listed.highlighted).prompt)


@pytest.mark.asyncio
async def test_the_search_box_keeps_the_focus_and_its_keys_act_on_the_list(tiny_model, home):
    app = make_app(tiny_model)
    async with run(app) as pilot:
        await settle(pilot)
        search = app.query_one("#search", Input)
        await search_and_add(pilot, "death note")
        assert app.focused is search and favourite_titles(app) == ["Death Note"]
        await pilot.press(*"steins gate")  # the added query was left selected: typing replaces it
        await settle(pilot)
        assert app.focused is search and search.value == "steins gate"
        assert isinstance(app.screen, MainScreen) and "not interested" not in status(app)
        listed = matches(app)
        assert len(listed) >= 2 and highlighted(app) == listed[0]
        await pilot.press("down")
        assert highlighted(app) == listed[1] and search.value == "steins gate"
        await pilot.press("ctrl+p")
        assert highlighted(app) == listed[0]
        await pilot.press("ctrl+n", "backspace")
        assert search.value == "steins gat", "backspace edits the query"
        await pilot.press("e", "enter")
        await settle(pilot)
        assert favourite_titles(app) == ["Death Note", "Steins;Gate"]
        await pilot.press("end", "right")
        assert isinstance(app.screen, DetailsScreen)
        assert "Steins;Gate" in str(app.screen.query_one("#details-text", Static).render())
    assert FavouritesStore().load().excluded == []


@pytest.mark.asyncio
async def test_title_down_enter_sent_as_one_burst_never_loses_an_add(tiny_model, home):
    # A paste, tmux send-keys or a fast typist: the keys arrive before the search answers.
    app = make_app(tiny_model)
    async with run(app) as pilot:
        await settle(pilot)
        found = {q: app.screen.index.search(q, limit=30, hide_adult=True) for q in ("death note", "steins gate", "fullmetal", "naruto", "gintama", "code geass")}
        queries = [q for q, answer in found.items() if len(answer) >= 2]
        assert len(queries) >= 5
        second = []
        for query in queries:
            second.append(found[query][1].title)
            await pilot.press(*query, "down", "enter")  # no pause: Enter comes before the matches do
        await settle(pilot)
        assert [title.removesuffix(" (not in this model)") for title in favourite_titles(app)] == second
        await pilot.press(*"zzqqxxjj", "enter")
        await settle(pilot)
        assert matches(app) == ["no matches for “zzqqxxjj”"] and "no matches" in toasts(app)
        assert len(favourite_titles(app)) == len(queries)


@pytest.mark.asyncio
async def test_slash_and_escape(tiny_model, home):
    async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
        search = app.query_one("#search", Input)
        await pilot.press(*"fate/zero")
        assert search.value == "fate/zero", "a slash in the box is text: titles have them"
        await pilot.press("escape")
        assert search.value == "" and app.focused is search
        await pilot.press("escape")
        assert app.focused is not search
        await pilot.press("slash", *"naruto")
        assert app.focused is search and search.value == "naruto"


@pytest.mark.asyncio
async def test_adding_a_favourite_twice_says_so(tiny_model, home):
    async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
        await search_and_add(pilot, "death note")
        assert favourite_titles(app) == ["Death Note"]
        assert "already a favourite" in toasts(app)


@pytest.mark.asyncio
async def test_remove_and_clear_with_confirmation(tiny_model, home):
    async with started(tiny_model, [DEATH_NOTE, STEINS_GATE]) as (app, pilot):
        favourites = app.query_one(FavouritesList)
        favourites.focus()
        favourites.highlighted = 0
        await pilot.press("delete")
        await settle(pilot)
        assert favourite_titles(app) == ["Steins;Gate"]
        await pilot.press("C")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert favourite_titles(app) == ["Steins;Gate"]
        await pilot.press("C", "y")
        await settle(pilot)
        assert favourite_titles(app) == []
        assert "cleared all favourites (1) · u undoes it" in toasts(app)
        assert app.query_one(ResultsTable).row_count == 0
        assert status(app).startswith("Search for anime you love")
        await pilot.press("C")
        assert not isinstance(app.screen, ConfirmScreen) and "no favourites to clear" in toasts(app)
        await pilot.press("u")  # undo the clear, then the removal: back as it was, in its order
        await settle(pilot)
        assert favourite_titles(app) == ["Steins;Gate"] and "undone: cleared all favourites (1)" in toasts(app)
        await pilot.press("u")
        await settle(pilot)
        assert favourite_titles(app) == ["Death Note", "Steins;Gate"] and app.query_one(ResultsTable).row_count == 50
        await pilot.press("u")
        assert "nothing to undo" in toasts(app)
    assert FavouritesStore().load().favourites == [DEATH_NOTE, STEINS_GATE]


@pytest.mark.asyncio
async def test_filters_change_the_table(tiny_model, home, catalog):
    async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
        assert any(catalog.by_id[i]["is_sequel"] for i in result_ids(app))
        await pilot.press("f3")
        await settle(pilot)
        assert "sequels hidden" in toasts(app) and "no sequels" in status(app)
        assert result_ids(app) and not any(catalog.by_id[i]["is_sequel"] for i in result_ids(app))
        await pilot.press("f2")
        assert isinstance(app.screen, FiltersScreen)
        app.screen.query_one("#types").select("Movie")
        await pilot.press("f10")
        await settle(pilot)
        assert " · Movie · " in status(app)
        types = list(app.query_one(ResultsTable).get_column("type"))
        assert types and set(types) == {"Movie"}


async def _years_typed(app, pilot, start: str, end: str) -> None:
    await pilot.press("f2")
    assert isinstance(app.screen, FiltersScreen)
    app.screen.query_one("#year-from", Input).value = start
    app.screen.query_one("#year-to", Input).value = end
    await pilot.press("f10")
    await settle(pilot)


def shown_years(app) -> list[str]:
    return [str(y) for y in app.query_one(ResultsTable).get_column("year")]


@pytest.mark.asyncio
async def test_a_year_range_from_the_filters_changes_the_table(tiny_model, home, catalog):
    async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
        years = shown_years(app)
        assert years == [str(catalog.by_id[i]["year"] or "?") for i in result_ids(app)], "the year column shows each anime's year"
        assert any(not 2009 <= int(y) <= 2011 for y in years)
        await _years_typed(app, pilot, "2009", "2011")
        assert " · years 2009-2011 · " in status(app)
        assert shown_years(app) and all(2009 <= int(y) <= 2011 for y in shown_years(app))
        await _years_typed(app, pilot, "", "2005")
        assert " · years to 2005 · " in status(app) and all(int(y) <= 2005 for y in shown_years(app))


@pytest.mark.asyncio
@pytest.mark.parametrize(("start", "end", "message"), [("2012", "2010", "year from 2012 is after year to 2010"), ("20x0", "", "'20x0' is not a year"), ("", "1850", "'1850' is not a year")])
async def test_a_bad_year_range_is_named_and_the_filters_stay(tiny_model, home, start, end, message):
    async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
        before = result_ids(app)
        await _years_typed(app, pilot, start, end)
        assert isinstance(app.screen, FiltersScreen), "the dialog stays open to fix the range"
        assert message in str(app.screen.query_one("#year-error", Static).render())
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen) and "years" not in status(app) and result_ids(app) == before


@pytest.mark.asyncio
async def test_anime_known_from_metadata_only_are_marked_new(catalogue_model, home, catalog):
    import json

    meta = json.loads((catalogue_model / "meta.json").read_text())
    unrated = meta["vocab"]["item_ids"][meta["model_config"]["num_rated"] :]
    async with started(catalogue_model, [DEATH_NOTE, unrated[0]]) as (app, pilot):
        assert favourite_titles(app) == ["Death Note", "new " + catalog.by_id[unrated[0]]["title"]]
        await _years_typed(app, pilot, "2022", "")
        titles = [str(t) for t in app.query_one(ResultsTable).get_column("title")]
        marked = {i for i, t in zip(result_ids(app), titles) if t.startswith("new ")}
        assert marked and marked == {i for i in result_ids(app) if i in unrated}
        assert "new = no ratings yet" in status(app)
        app.query_one(ResultsTable).move_cursor(row=result_ids(app).index(next(iter(marked))))
        await open_first_result(app, pilot)
        text = str(app.screen.query_one("#details-text", Static).render())
        assert "No ratings yet: known from its genres, studio and year." in text
        entry = catalog.by_id[next(iter(marked))]
        aired = f"{entry['season'] + ' ' if entry['season'] else ''}{entry['year']}"
        assert any(line.startswith(f"{entry['type']} · ") and f" · {aired}" in line for line in text.splitlines()), "type, episodes, season, studio on one line"


@pytest.mark.asyncio
async def test_favourites_persist_across_two_runs(tiny_model, home):
    first = make_app(tiny_model)
    async with run(first) as pilot:
        await settle(pilot)
        await search_and_add(pilot, "steins gate")
    second = make_app(tiny_model)
    async with run(second) as pilot:
        await settle(pilot)
        assert favourite_titles(second) == ["Steins;Gate"]
        assert second.query_one(ResultsTable).row_count == 50


@pytest.mark.asyncio
async def test_details_view_and_not_interested(tiny_model, home, catalog):
    async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
        first = result_ids(app)[0]
        title = catalog.by_id[first]["title"]
        await open_first_result(app, pilot)
        assert isinstance(app.screen, DetailsScreen)
        assert str(app.screen.query_one("#details-text", Static).render()).startswith(title)
        assert app.screen.query_one("#similar", OptionList).option_count == 10
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert first not in result_ids(app)
        assert f"not interested: {title}" in toasts(app)
        assert "· 1 not interested" in status(app)
    assert first in FavouritesStore().load().excluded


@pytest.mark.asyncio
async def test_i_and_enter_on_a_favourite_open_its_details(tiny_model, home):
    async with started(tiny_model, [DEATH_NOTE, STEINS_GATE]) as (app, pilot):
        favourites = app.query_one(FavouritesList)
        favourites.focus()
        favourites.highlighted = 1
        for key in ("i", "enter"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, DetailsScreen)
            assert str(app.screen.query_one("#details-text", Static).render()).startswith("Steins;Gate")
            await pilot.press("escape")
            assert isinstance(app.screen, MainScreen)


@pytest.mark.asyncio
async def test_a_similar_anime_opens_over_the_details_and_a_adds_it(tiny_model, home):
    async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
        await open_first_result(app, pilot)
        similar = app.screen.query_one("#similar", OptionList)
        titles = [str(similar.get_option_at_index(i).prompt).split("  ")[0] for i in range(similar.option_count)]
        similar_title = next(t for t in titles if t != "Death Note")
        similar.focus()
        similar.highlighted = titles.index(similar_title)
        await pilot.press("enter")
        await settle(pilot)
        assert len(app.screen_stack) == 3 and isinstance(app.screen, DetailsScreen)
        await pilot.press("a")
        await settle(pilot)
        assert f"added {similar_title}" in toasts(app)
        assert isinstance(app.screen, DetailsScreen), "adding keeps the details open"
        await pilot.press("escape")
        assert isinstance(app.screen, DetailsScreen), "Escape goes back to the first details view"
        await pilot.press("escape")
        assert favourite_titles(app) == ["Death Note", similar_title]


@pytest.mark.asyncio
async def test_starts_without_a_model_and_search_still_works(tmp_path, home):
    app = make_app(tmp_path / "no-such-model")
    async with run(app) as pilot:
        await settle(pilot)
        assert status(app).startswith("no model")
        assert any(toast.startswith("model failed\n") for toast in toasts(app))
        assert not app.query_one(ResultsTable).loading
        await pilot.press(*"death note")
        await settle(pilot)
        assert app.query_one(MatchList).option_count > 0


@pytest.mark.asyncio
async def test_a_failed_similar_search_is_reported_and_stops_the_spinner(tiny_model, home, monkeypatch):
    from animerec_tui.engine import Engine

    def broken(*args, **kwargs):
        raise RuntimeError("no similar today")

    monkeypatch.setattr(Engine, "similar", broken)
    async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
        await open_first_result(app, pilot)
        similar = app.screen.query_one("#similar", OptionList)
        assert not similar.loading and similar.option_count == 0
        assert "similar failed\nRuntimeError: no similar today" in toasts(app)


@pytest.mark.asyncio
async def test_failed_recommendations_leave_no_rows_of_an_older_answer(tiny_model, home, monkeypatch):
    from animerec_tui.engine import Engine

    async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
        assert result_ids(app)

        def broken(*args, **kwargs):
            raise RuntimeError("no recommendations today")

        monkeypatch.setattr(Engine, "recommend", broken)
        await search_and_add(pilot, "steins gate")
        await settle(pilot)
        assert result_ids(app) == []
        assert "recommendations failed" in status(app)
        assert "recommend failed\nRuntimeError: no recommendations today" in toasts(app)


@pytest.mark.asyncio
async def test_answers_to_an_old_query_or_old_favourites_are_dropped(tiny_model, home):
    from animerec_tui.engine import Filters, Result
    from animerec_tui.search import Match

    async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
        await pilot.press(*"steins")
        await settle(pilot)
        rows, matches = result_ids(app), app.query_one(MatchList).option_count
        screen = app.screen
        screen.post_message(messages.RecommendationsDone(messages.RecommendationRequest((STEINS_GATE,), Filters()), Result([], [])))
        screen.post_message(messages.SearchDone("stein", [Match(DEATH_NOTE, "Death Note", "death note", 200.0)]))
        await settle(pilot)
        assert result_ids(app) == rows and app.query_one(MatchList).option_count == matches


@pytest.mark.asyncio
async def test_corrupt_favourites_file_is_kept_aside_and_reported(tiny_model, home):
    home.mkdir(parents=True, exist_ok=True)
    (home / "favourites.json").write_text("{ not json")
    app = make_app(tiny_model)
    async with run(app) as pilot:
        await settle(pilot)
        assert favourite_titles(app) == []
        assert any(toast.startswith("favourites\n") and "was damaged" in toast for toast in toasts(app))
    aside = [p for p in home.iterdir() if p.name.startswith("favourites.json.corrupt")]
    assert len(aside) == 1 and aside[0].read_text() == "{ not json"


@pytest.mark.asyncio
async def test_only_https_myanimelist_urls_are_opened(tiny_model, home, catalog, monkeypatch):
    opened = []
    app = make_app(tiny_model)
    monkeypatch.setattr(app, "open_url", lambda url, **kw: opened.append(url))
    async with run(app) as pilot:
        await settle(pilot)
        entry = dict(catalog.by_id[DEATH_NOTE])
        main = app.screen
        app.push_screen(DetailsScreen({**entry, "url": "javascript:alert(1)"}, True, opener=main))
        await pilot.pause()
        await pilot.press("o")
        await pilot.pause()
        assert any(toast.startswith("not opening 'javascript:alert(1)'") for toast in toasts(app))
        app.pop_screen()
        app.push_screen(DetailsScreen(entry, True, opener=main))
        await pilot.pause()
        await pilot.press("o")
    assert opened == ["https://myanimelist.net/anime/1535"]


@pytest.mark.asyncio
async def test_not_interested_can_be_undone_from_the_command_palette(tiny_model, home):
    async with started(tiny_model, [DEATH_NOTE], excluded=(STEINS_GATE,)) as (app, pilot):
        assert "· 1 not interested" in status(app)
        await pilot.press("ctrl+k", *"not interested list")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, NotInterestedScreen)
        listed = app.screen.query_one("#not-interested", OptionList)
        assert [str(listed.get_option_at_index(i).prompt) for i in range(listed.option_count)] == ["Steins;Gate"]
        listed.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert "can be recommended again: Steins;Gate" in toasts(app)
        assert "not interested" not in status(app)
    assert FavouritesStore().load().excluded == []


@pytest.mark.asyncio
async def test_f5_steps_novelty_and_the_results_lean_away_from_the_popular(tiny_model, home, catalog):
    async with started(tiny_model, [DEATH_NOTE, STEINS_GATE]) as (app, pilot):
        engine = app.screen.engine
        # the random model's prior is flat; give it one that follows popularity, as a trained one does
        engine.prior = np.log1p([catalog.by_id[int(i)].get("members") or 0 for i in engine.item_ids]).astype(np.float32)
        await pilot.press("f5")
        await settle(pilot)
        for _ in range(4):
            await pilot.press("f5")  # round to 0 again, now that the prior counts
        await settle(pilot)
        before = result_ids(app)
        await pilot.press("f5")
        await settle(pilot)
        assert "novelty 0.25" in status(app) and any("novelty 0.25" in t for t in toasts(app))
        for _ in range(3):
            await pilot.press("f5")
        await settle(pilot)
        assert "novelty 1.00" in status(app)
        after = result_ids(app)
        assert after != before
        members = lambda ids: sum(catalog.by_id[i].get("members") or 0 for i in ids[:10])  # noqa: E731
        assert members(after) < members(before)
        await pilot.press("f5")  # and round to 0
        await settle(pilot)
        assert "novelty" not in status(app) and result_ids(app) == before


async def test_f6_steps_the_share_of_anime_without_ratings_and_the_filters_screen_keeps_it(tiny_model, home):
    async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
        assert "new:" not in status(app)  # the default goes unsaid
        await pilot.press("f6")
        await settle(pilot)
        assert app.screen.filters.new_share == 0.5
        assert "new: at most 50% of the list" in status(app) and any("at most 50% of the list" in t for t in toasts(app))
        await pilot.press("f5")  # novelty too: the filters screen edits neither
        await _years_typed(app, pilot, "2000", "")
        assert app.screen.filters.new_share == 0.5 and app.screen.filters.novelty == 0.25
        await pilot.press("f6", "f6")
        await settle(pilot)
        assert app.screen.filters.new_share == 0.0 and "new: none" in status(app)
        await pilot.press("f6")
        await settle(pilot)
        assert app.screen.filters.new_share == 0.2 and "new:" not in status(app)


@pytest.mark.asyncio
async def test_enter_applies_the_filters_and_a_box_shows_whether_it_is_ticked(tiny_model, home):
    from animerec_tui.tui.screens import NO_TICK, TICK

    async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
        await pilot.press("f2")
        screen = app.screen
        assert isinstance(screen, FiltersScreen)
        adult, sequels = screen.query_one("#adult"), screen.query_one("#sequels")
        assert TICK in str(adult.render()) and NO_TICK + "▌" in str(sequels.render()) and TICK not in str(sequels.render())
        types = screen.query_one("#types")
        types.focus()
        await pilot.press("space")  # ticks the highlighted type: TV
        assert TICK in "".join(s.text for s in types.render_line(0))
        assert TICK not in "".join(s.text for s in types.render_line(1))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen), "Enter applies; it does not toggle"
        assert " · TV · " in status(app)


@pytest.mark.asyncio
async def test_filters_theme_and_english_titles_are_remembered_and_a_bad_settings_file_is_named(tiny_model, home):
    async with started(tiny_model, [DEATH_NOTE, ATTACK_ON_TITAN]) as (app, pilot):
        await pilot.press("f3", "f5")
        app.theme = "textual-light"
        app.query_one(ResultsTable).focus()
        await pilot.press("e")
        await settle(pilot)
        assert favourite_titles(app) == ["Death Note", "Attack on Titan"], "e applies to the favourites too"
    app = make_app(tiny_model)
    async with run(app) as pilot:
        await settle(pilot)
        assert "no sequels" in status(app) and "novelty 0.25" in status(app) and app.theme == "textual-light"
        assert favourite_titles(app) == ["Death Note", "Attack on Titan"]
        app.query_one("#search", Input).value = "shingeki no kyojin"
        await settle(pilot)
        assert matches(app)[0].startswith("★ Attack on Titan"), "and to the search rows"
    settings = home / "settings.json"
    settings.write_text('{"version": 1, "filters": {"novelty": 7, "hide_sequels": true}, "theme": 3}')
    app = make_app(tiny_model)
    async with run(app) as pilot:
        await settle(pilot)
        assert "no sequels" in status(app) and "novelty" not in status(app)
        assert any("left out what did not check (novelty, theme)" in toast for toast in toasts(app))


@pytest.mark.asyncio
async def test_not_interested_keeps_the_cursor_on_its_row_and_details_go_straight_to_similar(tiny_model, home):
    async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
        table = app.query_one(ResultsTable)
        table.focus()
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        third, fourth = result_ids(app)[2:4]
        await pilot.press("n")
        await settle(pilot)
        assert third not in result_ids(app) and table.cursor_row == 2 and result_ids(app)[2] == fourth
        await pilot.press("enter")
        await settle(pilot)
        similar = app.screen.query_one("#similar", OptionList)
        assert app.focused is similar and similar.highlighted == 0
        await pilot.press("down")
        assert similar.highlighted == 1
        await pilot.pause()
        footer = " ".join(str(key.render()) for key in app.screen.query_one(Footer).query("FooterKey"))
        assert "Add to favourites" in footer and "Novelty" not in footer, "a dialog's footer shows the dialog's keys"


@pytest.mark.asyncio
async def test_export_writes_markdown_csv_and_json_and_asks_before_replacing(tiny_model, home, tmp_path):
    import csv
    import json

    async with started(tiny_model, [DEATH_NOTE, STEINS_GATE]) as (app, pilot):
        shown = result_ids(app)
        for name in ("list.md", "list.csv", "list.json"):
            await pilot.press("f7")
            app.screen.query_one("#path", Input).value = str(tmp_path / name)
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, MainScreen) and f"wrote 2 favourites and 50 recommendations to {tmp_path / name}" in toasts(app)
        text = (tmp_path / "list.md").read_text()
        assert "- [Death Note](https://myanimelist.net/anime/1535)" in text and text.count("](https://myanimelist.net/anime/") == 52
        rows = list(csv.DictReader((tmp_path / "list.csv").open()))
        assert [int(r["mal_id"]) for r in rows if r["list"] == "recommendation"] == shown
        assert json.loads((tmp_path / "list.json").read_text())["favourites"] == [DEATH_NOTE, STEINS_GATE]
        (tmp_path / "keep.md").write_text("mine")
        await pilot.press("f7")
        assert app.screen.query_one("#path", Input).value.endswith("animerec-recommendations.json"), "F7 offers the last format used"
        assert json.loads((home / "settings.json").read_text())["export_extension"] == ".json", "and remembers it"
        app.screen.query_one("#path", Input).value = str(tmp_path / "keep.md")
        await pilot.press("enter")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert (tmp_path / "keep.md").read_text() == "mine"
        await pilot.press("f7")
        app.screen.query_one("#path", Input).value = str(tmp_path / "list.txt")
        await pilot.press("enter")
        await settle(pilot)
        assert any("end the name in .md, .csv or .json" in t for t in toasts(app)) and not (tmp_path / "list.txt").exists()


@pytest.mark.asyncio
async def test_keys_typed_in_one_burst_in_a_dialog_act_in_order(tiny_model, home, tmp_path):
    # "ctrl+u path Enter" pasted or sent by tmux at once: the box is cleared first, the path
    # typed, then Enter writes that file (it used to clear the path after typing it and
    # export to the default name, or apply before the characters had arrived).
    async with started(tiny_model, [DEATH_NOTE]) as (app, pilot):
        for name in ("one.md", "two.csv"):
            await pilot.press("f7")
            burst(app, "ctrl+u", *str(tmp_path / name), "enter")
            await settle(pilot)
            assert isinstance(app.screen, MainScreen) and (tmp_path / name).exists(), name
        burst(app, *"xyz", "left", "q")  # the cursor moves between the characters, not after them
        await settle(pilot)
        assert app.query_one("#search", Input).value == "xyqz"
        await pilot.press("escape", "f2")
        app.screen.query_one("#sequels").focus()
        burst(app, "space", "enter")  # Enter on a box applies the dialog, with the box as toggled
        await settle(pilot)
        assert isinstance(app.screen, MainScreen) and "no sequels" in status(app)
        await pilot.press("f2")
        app.screen.query_one("#year-from").focus()
        burst(app, *"2005", "enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen) and "2005" in status(app)


@pytest.mark.asyncio
async def test_import_a_mal_list_and_hide_what_was_watched(tiny_model, home):
    from pathlib import Path

    export = Path(__file__).resolve().parents[1] / "data" / "mal_export_small.xml"
    async with started(tiny_model, []) as (app, pilot):
        await pilot.press("f8")
        app.screen.query_one("#path", Input).value = str(export)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert FavouritesStore().load().favourites == [5114, 9253, 1535, 21]  # scored 7 or more
        assert "7 watched hidden" in status(app)
        watched = {5114, 9253, 30276, 1535, 16498, 21, 11061}
        assert not watched & set(result_ids(app)), "every watched entry leaves the results, liked or not"
        await pilot.press("ctrl+k", *"show or hide watched")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert "watched hidden" not in status(app)
    app = make_app(tiny_model)
    async with run(app) as pilot:
        await settle(pilot)
        assert app.screen.watched and not app.screen.hide_watched, "remembered with the settings"
        await pilot.press("f8")
        app.screen.query_one("#path", Input).value = "/no/such/animelist.xml"
        await pilot.press("enter")
        await settle(pilot)
        assert any("/no/such/animelist.xml" in t for t in toasts(app))


@pytest.mark.asyncio
async def test_the_app_scores_with_the_threads_it_was_given(tiny_model, home, monkeypatch):
    import threadpoolctl

    asked = []
    monkeypatch.setattr(threadpoolctl, "threadpool_limits", lambda limits, user_api: asked.append((limits, user_api)))
    app = AnimeRecApp(tiny_model, threads=1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.screen.engine is not None
    assert asked == [(1, "blas")]
