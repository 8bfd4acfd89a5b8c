"""F9: what is new in the favourites' franchises, at 80x24, with Pilot."""

from __future__ import annotations

import io

from rich.console import Console
from textual.widgets import OptionList, Static

from animerec_tui.tui.franchise_screen import FranchiseScreen
from animerec_tui.tui.help import HelpScreen
from animerec_tui.tui.screens import DetailsScreen
from animerec_tui.tui.testing import settle, toasts
from tests.tui.test_app import started

SMALL = (80, 24)


def lines(app) -> list[str]:
    listing = app.screen.query_one("#franchise-news", OptionList)
    return [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]


async def test_f9_lists_the_franchises_new_entries_and_enter_opens_one(tiny_model, home):
    async with started(tiny_model, [52991, 47917], size=SMALL) as (app, pilot):  # Frieren, Bocchi the Rock!
        await pilot.press("f9")
        await settle(pilot)
        assert isinstance(app.screen, FranchiseScreen)
        shown = lines(app)
        assert shown[0] == "Sousou no Frieren" and "Winter 2026" in shown[1] and "Sousou no Frieren 2nd Season" in shown[1]
        bocchi = shown.index("Bocchi the Rock!")
        for title in ("Bocchi the Rock! Movie", "Bocchi the Rock! 2nd Season"):  # no air date yet: announced, after the dated ones
            assert any("announced" in line and line.endswith("new " + title) for line in shown[bocchi + 1 :]), title
        note = str(app.screen.query_one("#franchise-note", Static).render())
        assert "January 2023" in note and "announced =" in note
        await pilot.press("enter")  # the highlight starts on the first entry, not on a heading
        await settle(pilot)
        assert isinstance(app.screen, DetailsScreen) and app.screen.entry["mal_id"] == 59978
        await pilot.press("escape", "escape")
        assert not isinstance(app.screen, (DetailsScreen, FranchiseScreen))


async def test_f9_without_favourites_says_what_to_do_and_f1_names_the_data_limit(tiny_model, home):
    async with started(tiny_model, [], size=SMALL) as (app, pilot):
        await pilot.press("f9")
        await settle(pilot)
        assert not isinstance(app.screen, FranchiseScreen)
        assert any("no favourites yet" in toast for toast in toasts(app))
        await pilot.press("f1")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=200, record=True, file=io.StringIO())
        console.print(app.screen.query_one("#keys", Static).content)
        help_text = " ".join(console.export_text().split())
        assert "F9" in help_text and "January 2023" in help_text
