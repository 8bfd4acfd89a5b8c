"""Keys sent in one burst, as tmux send-keys, a paste or a fast typist deliver them (issue 30, "Keys").

Each key must act on what the screen showed when it was pressed, and a key that moves the
focus must send the keys after it to the newly focused widget.
:func:`animerec_tui.tui.testing.burst` queues every key before the app reads the first;
``scripts/tmux_check.py`` sends the same bursts to the real app in tmux.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual import events
from textual.widgets import Input, Static

from animerec_tui.favourites import FavouritesStore
from animerec_tui.tui.favourites_pane import FavouritesList
from animerec_tui.tui.file_screens import ExportScreen, ImportScreen
from animerec_tui.tui.main_screen import MainScreen
from animerec_tui.tui.results_pane import ResultsTable
from animerec_tui.tui.screens import FiltersScreen
from animerec_tui.tui.testing import burst, settle, toasts
from tests.conftest import ATTACK_ON_TITAN, DEATH_NOTE, FMA_B, NARUTO, STEINS_GATE, YOUR_NAME
from tests.tui.test_app import result_ids, started

SIX = [DEATH_NOTE, STEINS_GATE, FMA_B, YOUR_NAME, ATTACK_ON_TITAN, NARUTO]
MAL_EXPORT = Path(__file__).resolve().parents[1] / "data" / "mal_export_small.xml"


def favourites() -> list[int]:
    return FavouritesStore().load().favourites


@pytest.mark.asyncio
async def test_tab_then_repeated_keys_in_the_favourites_each_act_on_the_next_one_and_stop_at_the_ends(tiny_model, home):
    async with started(tiny_model, SIX) as (app, pilot):
        search = app.query_one("#search", Input)
        assert app.focused is search
        burst(app, "tab", "j", "x", "x", "x")  # the j and the x go to the favourites, each x to the next one
        await settle(pilot)
        assert search.value == "" and app.focused is app.query_one(FavouritesList)
        assert favourites() == [DEATH_NOTE, ATTACK_ON_TITAN, NARUTO]
        burst(app, "j", "k", "k", "k", "k", "x")  # stops on the first: never wraps to the last
        await settle(pilot)
        assert favourites() == [ATTACK_ON_TITAN, NARUTO]
        burst(app, *"jjjj", "x")  # and stops on the last
        await settle(pilot)
        assert favourites() == [ATTACK_ON_TITAN]


@pytest.mark.asyncio
async def test_a_pasted_list_adds_each_line_and_esc_then_n_n_n_marks_three_rows_in_turn(tiny_model, home):
    async with started(tiny_model, []) as (app, pilot):
        app._driver.send_message(events.Paste("death note\r\nsteins gate\n"))  # tmux sends CR between lines
        await settle(pilot)
        assert favourites() == [DEATH_NOTE, STEINS_GATE]
        app._driver.send_message(events.Paste("naruto"))  # one line: text to edit, as in any box
        await settle(pilot)
        assert app.query_one("#search", Input).value == "naruto" and favourites() == [DEATH_NOTE, STEINS_GATE]
        shown = result_ids(app)
        # Esc clears the query; Esc on the empty query goes to the recommendations (README, F1).
        burst(app, "escape", "escape", "j", "j", "n", "n", "n")
        await settle(pilot)
        table = app.query_one(ResultsTable)
        assert app.focused is table and app.query_one("#search", Input).value == ""
        assert FavouritesStore().load().excluded == shown[2:5]
        assert result_ids(app)[:2] == shown[:2] and not set(shown[2:5]) & set(result_ids(app))
        assert table.cursor_row == 2


@pytest.mark.asyncio
async def test_dialogs_take_the_keys_after_tab_and_after_a_wrong_name_and_an_import_is_undone(tiny_model, home, tmp_path):
    async with started(tiny_model, [NARUTO]) as (app, pilot):
        await pilot.press("f2")
        assert isinstance(app.screen, FiltersScreen)
        app.screen.query_one("#year-from").focus()
        burst(app, *"1990", "tab", *"2005", "shift+tab", "end", "1", "enter")  # the 1 is one too many for a year: refused
        await settle(pilot)
        assert isinstance(app.screen, MainScreen), "Enter in the to-year box applies"
        assert (app.screen.filters.year_from, app.screen.filters.year_to) == (1990, 2005)

        await pilot.press("f8")
        burst(app, *"/no/such/animelist.xml", "enter", "ctrl+u", *str(MAL_EXPORT), "enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen) and app.query_one("#search", Input).value == "", "the name was corrected in the dialog"
        assert favourites() == [NARUTO, 5114, 9253, 1535, 21]
        app.query_one(FavouritesList).focus()
        await pilot.press("u")
        await settle(pilot)
        assert favourites() == [NARUTO] and not app.screen.hide_watched, "the favourites and the watched list as before"
        assert any("undone: import of mal_export_small.xml" in t for t in toasts(app))

        await pilot.press("f8")
        burst(app, *"/no/such/animelist.xml", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ImportScreen) and "/no/such/animelist.xml" in str(app.screen.query_one("#import-progress", Static).render())
        await pilot.press("escape", "f7")
        (tmp_path / "folder.md").mkdir()
        burst(app, "ctrl+u", *str(tmp_path / "folder.md"), "enter", *"xy")  # refused: the dialog stays, and takes the keys after it
        await settle(pilot)
        assert isinstance(app.screen, ExportScreen) and str(tmp_path / "folder.md") in str(app.screen.query_one("#export-error", Static).render())
        assert app.screen.query_one("#path", Input).value == str(tmp_path / "folder.md") + "xy"
        assert "Delete all to the right" not in [key.description for key in app.screen.query("FooterKey")], "ctrl+k is the palette's"
        await pilot.press("ctrl+k")
        assert type(app.screen).__name__ == "CommandPalette"
        await pilot.press("escape")
        burst(app, "ctrl+u", *str(tmp_path / "list.md"), "enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen) and (tmp_path / "list.md").exists()

