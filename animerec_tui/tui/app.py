"""``animerec tui``: search, favourites and recommendations on one keyboard-driven screen.

The app is a thin shell: the main screen holds the state and does the work, the panes and
dialogs show it, and the keys of the app are listed by the F1 help, read from the bindings.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Iterable

from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from animerec_tui.defaults import NEW_SHARE_STEPS, THREADS
from animerec_tui.engine import NEW_SINCE
from animerec_tui.favourites import FavouritesStore
from animerec_tui.tui.help import HelpScreen, key_sections
from animerec_tui.tui.inputs import InOrderApp
from animerec_tui.tui.main_screen import MainScreen


class AnimeRecApp(InOrderApp[None]):
    """The animerec terminal app; it handles the keys one at a time, in the order typed (``InOrderApp``)."""

    TITLE = "animerec"
    COMMAND_PALETTE_BINDING = "ctrl+k"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-normal"), (150, "-wide")]
    """Below 100 columns (an 80-column SSH window) the left pane gives the results room; from
    150 it widens, so that long titles in the search list can be told apart."""
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    """Below 30 rows (an 80x24 terminal) the dialogs take the whole height, without padding."""
    CSS_PATH = "app.tcss"
    # The main screen's own keys live here, acting on the screen, so that the footer keeps
    # them in this order, after Quit and Help.
    BINDINGS = [
        Binding("f1", "help", "Help", id="help", tooltip="Every key of the app"),
        Binding("slash,ctrl+f", "screen.focus_search", "Search", id="search", tooltip="Find anime; the list updates as you type"),
        Binding("f2", "screen.filters", "Filters", id="filters", tooltip="Types, genres, years, sequels, adult titles"),
        Binding("f3", "screen.toggle_sequels", "Sequels", id="sequels", tooltip="Hide or show sequels"),
        Binding("f4", "screen.toggle_adult", "Adult", id="adult", tooltip="Hide or show adult titles"),
        Binding("f5", "screen.step_novelty", "Novelty", id="novelty", tooltip="Step from what fans loved most (0) towards hidden gems (1) and round"),
        Binding("f6", "screen.step_new_share", "New", id="new-share", tooltip="How much of the list may be anime without ratings yet: " + ", ".join("none" if s <= 0 else "any" if s >= 1 else f"{s:.0%}" for s in NEW_SHARE_STEPS)),
        Binding("ctrl+k", "command_palette", "palette", show=False, priority=True, tooltip="Commands: clear all, not interested list, … (ctrl+p moves up in the search list)"),
        Binding("f7", "screen.export", "Export", id="export", tooltip="Write favourites and recommendations to a file: Markdown with MAL links, CSV or JSON"),
        Binding("f8", "screen.import_mal", "Import MAL", id="import", tooltip="Add your MyAnimeList list's favourites (and hide what you watched)"),
        Binding("f9", "screen.franchise_news", "Franchises", id="franchises", tooltip=f"New seasons, films and spin-offs of your favourites' franchises: aired from {NEW_SINCE} on, or announced"),
        Binding("u", "screen.undo", "Undo", id="undo", show=False, tooltip="Undo the last remove, clear all or import"),
        # priority: a dialog (a modal screen) cuts off the app's other keys, and ctrl+q has to quit from any
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True, tooltip="Quit animerec"),
    ]

    def __init__(self, model_dir: Path | None = None, store: FavouritesStore | None = None, threads: int | None = None, freeze_loaded: bool = False) -> None:
        super().__init__()
        self.model_dir = model_dir
        self.store = store or FavouritesStore()
        self.threads = threads
        """torch threads for the engine (``animerec tui`` passes 1 unless told; None: torch's choice)."""
        self.freeze_loaded = freeze_loaded
        """Freeze the loaded catalogue and model out of the cycle collector's passes (see ``WorkingScreen.freeze_loaded``)."""

    def get_default_screen(self) -> MainScreen:
        return MainScreen(self.model_dir, self.store, threads=self.threads, freeze_loaded=self.freeze_loaded)

    @property
    def main_screen(self) -> MainScreen:
        """The screen under every dialog: search, favourites and recommendations."""
        screen = self.screen_stack[0]
        assert isinstance(screen, MainScreen)
        return screen

    def action_help(self) -> None:
        self.push_screen(HelpScreen(key_sections(type(self))))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        main = self.main_screen
        yield SystemCommand("search: focus the search box", "Type to find anime", main.action_focus_search)
        yield SystemCommand("favourites: clear all", "Remove every favourite (asks first)", main.action_clear_favourites)
        yield SystemCommand("favourites: undo", "Put back what the last remove or clear all took away, take off what the last import added, or unmark the last watched or plan to watch", main.action_undo)
        yield SystemCommand("favourites: not interested list", "See and undo 'not interested'", main.action_show_not_interested)
        yield SystemCommand("export: favourites and recommendations", "To a Markdown, CSV or JSON file", main.action_export)
        yield SystemCommand("import: MyAnimeList list", "Add its favourites; hide what you watched", main.action_import_mal)
        yield SystemCommand("filters: show or hide watched", "The anime of the imported MyAnimeList list and those marked watched (w)", main.action_toggle_watched)
        yield SystemCommand("filters: edit", "Types, genres, years, sequels, adult titles", main.action_filters)
        yield SystemCommand("filters: toggle sequels", "Hide or show sequels", main.action_toggle_sequels)
        yield SystemCommand("filters: toggle adult titles", "Hide or show adult titles", main.action_toggle_adult)
        yield SystemCommand("novelty: next step", "From what fans loved most (0) towards hidden gems (1)", main.action_step_novelty)
        yield SystemCommand("new anime: next step", "How much of the list may be anime without ratings yet", main.action_step_new_share)
        yield SystemCommand("franchises: what is new", "New seasons, films and spin-offs of your favourites' franchises", main.action_franchise_news)
        yield SystemCommand("help: keys", "Every key of the app", self.action_help)


def run(model_dir: Path | None = None, threads: int | None = THREADS) -> None:
    """Entry point for ``animerec tui``.

    Once the app has closed, the process ends at once: everything the user had is already
    on disk (each change to the favourites and settings is written as it happens), and the
    interpreter's own teardown of torch and the loaded model took about a second after
    ctrl+q (measured in tmux: 1.15-1.3 s from ctrl+q to the shell prompt before, see
    RESULTS.md, "The terminal app"). Nor does it wait for a worker thread still busy (an import
    reading a slow file): its work is dropped with the app."""
    app = AnimeRecApp(model_dir, threads=threads, freeze_loaded=True)
    # A loop of its own, not asyncio.run's: that one waits on the way out for every worker
    # thread to end, so a read stuck on a pipe or a hung mount kept ctrl+q from quitting.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    app.run(loop=loop)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(app.return_code or 0)
