"""The cycle collector's full passes during a scripted TUI session: how many, how long.

    for mode in plain freeze plain freeze; do python benchmarks/tui_gc_pauses.py $mode; done

The app runs headless (Textual's pilot) with the shipped model in a fresh ANIMEREC_HOME;
once the catalogue and model have loaded, 24 searches are typed a key at a time, each
ending in Enter (an add). ``freeze`` starts the app as ``animerec tui`` does (the loaded
catalogue, index and model frozen out of the collector's passes); ``plain`` without. Each
full (generation 2) pass is timed with ``gc.callbacks``: while one runs, the screen does
not update.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time

from _common import cpu_model, hardware


async def session(freeze: bool) -> tuple[float, list[float], int]:
    from textual.widgets import Input

    from animerec_tui.tui.app import AnimeRecApp
    from animerec_tui.tui.testing import settle

    pauses: list[float] = []
    started = [0.0]

    def timed(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        elif info["generation"] == 2:
            pauses.append(time.perf_counter() - started[0])

    app = AnimeRecApp(None, freeze_loaded=freeze)
    titles = ["naruto", "steins gate", "death note", "cowboy bebop", "monster", "haikyuu", "one piece", "mushishi", "frieren", "chainsaw man", "spy family", "vinland saga"] * 2
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        gc.callbacks.append(timed)
        begun = time.perf_counter()
        for title in titles:
            await pilot.press("slash")
            app.query_one("#search", Input).value = ""
            for key in title:
                await pilot.press(key)
            await pilot.press("enter")
            await settle(pilot, rounds=1)
        gc.callbacks.remove(timed)
        return time.perf_counter() - begun, pauses, len(gc.get_objects())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["plain", "freeze"])
    args = parser.parse_args()
    os.environ["ANIMEREC_HOME"] = tempfile.mkdtemp(prefix="animerec-gc-")
    seconds, pauses, tracked = asyncio.run(session(args.mode == "freeze"))
    print(f"{args.mode}: {cpu_model()}, {hardware()}, load {os.getloadavg()[0]:.2f}; session {seconds:.1f} s, "
          f"{len(pauses)} full passes, longest {1e3 * max(pauses, default=0):.0f} ms, together {1e3 * sum(pauses):.0f} ms; "
          f"{tracked:,} objects tracked at the end")


if __name__ == "__main__":
    main()
