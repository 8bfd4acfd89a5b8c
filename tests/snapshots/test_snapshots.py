"""Screenshots of the main screen, the details view and help, compared with accepted SVGs.

Regenerate after an intended change with ``pytest tests/snapshots --snapshot-update`` and look
at the SVGs before committing them.
"""

from __future__ import annotations

from textual.widgets import Input

from animerec_tui.favourites import FavouritesStore
from animerec_tui.tui.app import AnimeRecApp
from animerec_tui.tui.results_pane import ResultsTable
from animerec_tui.tui.testing import settle
from tests.conftest import DEATH_NOTE, FMA_B, STEINS_GATE

SIZE = (100, 32)


def _app(tiny_model) -> AnimeRecApp:
    FavouritesStore().add([DEATH_NOTE, STEINS_GATE, FMA_B])
    return AnimeRecApp(tiny_model)


async def _ready(pilot) -> None:
    app = pilot.app
    await settle(pilot)
    app.query_one(Input).cursor_blink = False
    app.clear_notifications()
    await pilot.pause()


def test_main_screen_with_favourites_and_results(snap_compare, tiny_model, home):
    assert snap_compare(_app(tiny_model), terminal_size=SIZE, run_before=_ready)


def test_details_view(snap_compare, tiny_model, home):
    async def open_details(pilot) -> None:
        await _ready(pilot)
        pilot.app.query_one(ResultsTable).focus()
        await pilot.press("enter")
        await _ready(pilot)
        for _ in range(100):  # the similar anime's spinner goes a refresh after they arrive
            if not pilot.app.screen.query("LoadingIndicator"):
                break
            await pilot.pause(0.02)
        await pilot.pause()

    assert snap_compare(_app(tiny_model), terminal_size=SIZE, run_before=open_details)


def test_help(snap_compare, tiny_model, home):
    async def open_help(pilot) -> None:
        await _ready(pilot)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(_app(tiny_model), terminal_size=SIZE, run_before=open_help)
