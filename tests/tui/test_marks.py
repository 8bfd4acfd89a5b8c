"""w and p on a recommendation: watched leaves the results, plan to watch goes into the export; u undoes each (issue 30)."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from animerec_tui.favourites import FavouritesStore
from animerec_tui.tui.results_pane import ResultsTable
from animerec_tui.tui.testing import settle, toasts
from tests.conftest import DEATH_NOTE, STEINS_GATE
from tests.tui.test_app import result_ids, started, status


@pytest.mark.asyncio
async def test_w_hides_a_result_as_watched_p_plans_one_for_the_export_and_u_undoes_each(tiny_model, home, tmp_path):
    async with started(tiny_model, [DEATH_NOTE, STEINS_GATE]) as (app, pilot):
        app.query_one(ResultsTable).focus()
        first, second = result_ids(app)[:2]
        await pilot.press("w")
        assert result_ids(app)[0] == second, "the row goes at once: the next key acts on the next one"
        await pilot.press("p")
        await settle(pilot)
        state = FavouritesStore().load()
        assert (state.watched, state.plan, state.favourites) == ([first], [second], [DEATH_NOTE, STEINS_GATE])
        assert first not in result_ids(app) and second in result_ids(app) and "1 watched hidden" in status(app)
        assert any(t.startswith("plan to watch: ") and "u undoes it" in t for t in toasts(app))

        await pilot.press("f7")
        app.screen.query_one("#path", Input).value = str(tmp_path / "list.md")
        await pilot.press("enter")
        await settle(pilot)
        title = app.main_screen.catalog.by_id[second]["title"]
        assert f"## Plan to watch (1)\n\n- [{title}]" in (tmp_path / "list.md").read_text()
        assert any("wrote 2 favourites, 1 to watch and" in t for t in toasts(app))

        await pilot.press("u", "u")
        await settle(pilot)
        state = FavouritesStore().load()
        assert (state.watched, state.plan) == ([], []) and first in result_ids(app) and "watched hidden" not in status(app)
        assert not app.main_screen.hide_watched, "the first w hid the watched; u shows them as before"
