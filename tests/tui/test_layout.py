"""The app at 80x24, a common SSH window: every control of a dialog reachable and on screen,
the F-keys in the footer, every fact of the status line, search rows told apart (issue 30)."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Static

from animerec_tui.engine import Filters
from animerec_tui.tui.formatting import StatusLine, filters_parts, fit_status, match_text
from animerec_tui.tui.screens import FiltersScreen
from animerec_tui.tui.testing import settle
from tests.conftest import DEATH_NOTE, STEINS_GATE
from tests.tui.test_app import open_first_result, started

SMALL = (80, 24)


def inside(region, outer) -> bool:
    return region.x >= outer.x and region.y >= outer.y and region.right <= outer.right and region.bottom <= outer.bottom


@pytest.mark.asyncio
async def test_at_80x24_the_fkeys_the_status_the_filters_and_the_similar_anime_all_show_and_shorter_the_filters_scroll(tiny_model, home):
    async with started(tiny_model, [DEATH_NOTE], excluded=(STEINS_GATE,), size=SMALL) as (app, pilot):
        main = app.screen
        bar = main.query_one("#fkeys")
        keys = list(bar.query("FooterKey"))
        assert [k.key for k in keys] == [f"f{n}" for n in range(2, 10)]
        assert all(k.region.width and k.region.right <= 80 and k.region.y == 22 for k in keys), "F2-F9 whole, on the line over the footer"
        footer = list(main.query_one("MainFooter").query("FooterKey"))
        assert not any(k.key in ("f2", "f9") for k in footer), "not twice"
        assert [k.key for k in footer[:2]] == ["ctrl+q", "f1"] and footer[1].region.right <= 80, "Quit and Help never cut off"

        assert str(main.query_one("#status", Static).render()).endswith("\nFew favourites: popular picks. Add more, or F5"), "one favourite, no lean"
        main.watched, main.hide_watched = (1, 5, 6), True
        await pilot.press("f5", "f6")
        await settle(pilot)
        status = main.query_one("#status", Static)
        shown = str(status.render())
        for part in ("50 for 1 favourite", "all types", "no adult", "novelty 0.25", "new ≤50%", "1 not interested", "3 watched hidden"):
            assert part in shown, (part, shown)
        assert "Few favourites" not in shown, "F5 leant"
        assert status.region.height == len(shown.splitlines()) <= 3 and all(len(line) <= status.region.width - 2 for line in shown.splitlines())

        app.query_one("#search", Input).value = "ore dake level"
        await settle(pilot)
        rows = [str(app.query_one("#search-results").get_option_at_index(i).prompt) for i in range(3)]
        assert len(set(rows)) == 3 and rows[0].endswith("TV 2024") and rows[1].endswith("TV 2025"), rows

        await pilot.press("f2")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, FiltersScreen)
        screen_region = dialog.query_one("#dialog").region
        for selector in ("#types", "#sequels", "#adult", "#year-from", "#year-to", "#genres", "#apply", "#cancel"):
            assert inside(dialog.query_one(selector).region, screen_region), selector

        await pilot.resize_terminal(80, 16)  # shorter than the filters: they scroll to the focused box
        await pilot.pause()
        year = dialog.query_one("#year-from", Input)
        year.focus()
        await pilot.pause()
        assert inside(year.region, dialog.query_one("#filters-body").region)
        await pilot.press("escape")
        await pilot.resize_terminal(*SMALL)

        await open_first_result(app, pilot)
        similar = app.screen.query_one("#similar")
        assert similar.region.height >= 4 and inside(similar.region, app.screen.query_one("#dialog").region)


def test_the_status_line_keeps_every_part_and_shortens_before_it_drops_the_legend():
    filters = Filters(novelty=0.5, new_share=1.0, hide_sequels=True)
    line = StatusLine(("50 recommendations for 2 favourites", *filters_parts(filters, 3)), ("50 for 2 favourites", *filters_parts(filters, 3, short=True)), "new = no ratings yet")
    assert fit_status(line, 200) == " · ".join([*line.long, "new = no ratings yet"])
    narrow = fit_status(line, 49)
    assert narrow.splitlines()[0].startswith("50 for 2 favourites") and "new: any" in narrow and "3 not interested" in narrow
    assert all(len(row) <= 49 for row in narrow.splitlines())
    assert fit_status(line, 20).count("\n") >= 3, "nothing dropped but the legend, however narrow"


def test_a_narrow_search_row_cuts_the_title_and_keeps_type_and_year():
    entry = {"mal_id": 1, "title": "Ore dake Level Up na Ken Season 2: Arise from the Shadow", "type": "TV", "year": 2025, "episodes": 13, "members": 300000}
    assert str(match_text(entry, False, 26)).endswith("…  TV 2025") and match_text(entry, False, 26).cell_len <= 26
    assert str(match_text(entry, True, 0)) == "★ " + entry["title"] + "  TV · 2025 · 13 ep · 300.0k"


def test_details_list_the_franchise_around_this_entry_with_years_and_types():
    from animerec_tui.tui.screens import DetailsScreen

    entries = [{"mal_id": n, "title": f"Part [x{n}]", "year": 2000 + n, "type": "TV" if n % 2 else "Movie"} for n in range(1, 16)]
    this = entries[11]
    lines = DetailsScreen(this, True, opener=None, franchise=[e for e in entries if e is not this])._franchise_lines()  # type: ignore[arg-type]
    assert lines[1] == "[b]Franchise[/b] (15 entries, first aired first)" and lines[2] == "  … 5 earlier"
    assert "▸ 2012  Movie  Part \\[x12]" in lines and lines[-1] == "  2015  TV     Part \\[x15]", "marked; titles escaped for markup"
    assert len([line for line in lines if line[:1] in "▸ " and line[2:4] == "20"]) == DetailsScreen.FRANCHISE_SHOWN
