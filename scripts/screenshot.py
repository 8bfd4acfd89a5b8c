"""Render docs/screenshot.svg: the app with the shipped model and a few favourites, 110x32.

    python scripts/screenshot.py [--out docs/screenshot.svg]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FAVOURITES = [1535, 9253, 5114, 32281]  # Death Note, Steins;Gate, FMA: Brotherhood, Your Name


async def render(out: Path) -> None:
    from textual.widgets import Input

    from animerec_tui.favourites import FavouritesStore
    from animerec_tui.tui.app import AnimeRecApp
    from animerec_tui.tui.testing import settle

    FavouritesStore().add(FAVOURITES)
    app = AnimeRecApp()
    async with app.run_test(size=(110, 32)) as pilot:
        await settle(pilot, rounds=4)
        app.query_one(Input).cursor_blink = False
        await pilot.press(*"cowboy")
        await settle(pilot)
        app.clear_notifications()
        await pilot.pause()
        app.save_screenshot(filename=out.name, path=str(out.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description="Render the README screenshot")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshot.svg")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["ANIMEREC_HOME"] = home
        asyncio.run(render(args.out.resolve()))
    print(args.out)


if __name__ == "__main__":
    main()
