"""``animerec tui``: search, favourites and recommendations on one keyboard-driven screen.

Slow work (catalogue, model, search, recommendations, similar anime) runs in thread
workers that post typed messages back; results that arrive after the query, favourites or
filters changed are dropped. Errors become notifications, never tracebacks.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Iterable

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from dataclasses import replace

from animerec_tui.engine import Filters
from training.errors import UserError
from animerec_tui.favourites import FavouritesStore
from animerec_tui.tui.messages import CatalogReady, ModelReady, RecommendationsDone, SearchDone
from animerec_tui.tui.screens import ConfirmScreen, DetailsScreen, FiltersScreen, HelpScreen, HiddenScreen, members_text
from animerec_tui.tui.widgets import HELP_ROWS, FavouritesList, ResultsTable, SearchResults

class AnimeRecApp(App):
    """The animerec terminal app."""

    TITLE = "animerec"
    CSS_PATH = "app.tcss"
    BINDINGS = [
        Binding("f1", "help", "Help", id="help"),
        Binding("slash,ctrl+f", "focus_search", "Search", id="search"),
        Binding("f2", "filters", "Filters", id="filters"),
        Binding("f3", "toggle_sequels", "Sequels", id="sequels"),
        Binding("f4", "toggle_adult", "Adult", id="adult"),
        Binding("ctrl+q", "quit", "Quit", id="quit"),
    ]

    def __init__(self, model_dir: Path | None = None, store: FavouritesStore | None = None) -> None:
        super().__init__()
        self.model_dir = model_dir
        self.store = store or FavouritesStore()
        self.engine = None
        self.catalog: list[dict] = []
        self.by_id: dict[int, dict] = {}
        self.index = None
        self.favourites: list[int] = []
        self.excluded: list[int] = []
        self.filters = Filters()
        self.generation = 0
        """Bumped on every favourites/filters change; older recommendation results are dropped."""
        self.shown: list[int] = []
        """MAL ids in the results table, row by row."""
        self.matches: list[int] = []
        """MAL ids in the search list."""
        self._catalog: list[dict] | None = None
        self._catalog_loaded = threading.Event()

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield Input(placeholder="search anime… (/)", id="search")
                yield SearchResults(id="search-results")
                yield Label("Favourites", id="favourites-label")
                yield FavouritesList(id="favourites")
                yield Static("", id="taste")
            with Vertical(id="right"):
                yield Static("", id="status")
                yield ResultsTable(id="results", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(ResultsTable)
        for label, width in (("#", 3), ("title", 26), ("type", 7), ("eps", 4), ("match", 5), ("because you liked", 28), ("genres", 30)):
            table.add_column(label, width=width, key=label)
        table.loading = True
        self._load_favourites()
        self._status("loading the model…")
        self.load_catalog()
        self.load_model()
        self.query_one("#search", Input).focus()

    # ----------------------------------------------------------------- loading

    @work(thread=True, exclusive=True, group="catalog", exit_on_error=False)
    def load_catalog(self) -> None:
        from animerec_tui.catalog import load_catalog
        from animerec_tui.search import TitleIndex

        try:
            self._catalog = load_catalog()
        finally:
            self._catalog_loaded.set()  # the model worker waits for it, success or not
        self.post_message(CatalogReady(self._catalog, TitleIndex(self._catalog)))

    @work(thread=True, exclusive=True, group="model", exit_on_error=False)
    def load_model(self) -> None:
        from animerec_tui.engine import Engine

        self._catalog_loaded.wait(timeout=60)  # share the catalogue rather than read it twice
        self.post_message(ModelReady(Engine(self.model_dir, self._catalog)))

    @on(CatalogReady)
    def catalog_ready(self, message: CatalogReady) -> None:
        self.catalog, self.index = message.catalog, message.index
        self.by_id = self.catalog.by_id
        self._render_favourites()
        query = self.query_one("#search", Input).value
        if query:
            self.search(query)

    @on(ModelReady)
    def model_ready(self, message: ModelReady) -> None:
        self.engine = message.engine
        self.query_one(ResultsTable).loading = False
        self._render_search()
        self._render_favourites()
        self.refresh_recommendations()

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        text = str(error) if isinstance(error, UserError) else f"{type(error).__name__}: {error}"
        if event.worker.group == "model":
            self.query_one(ResultsTable).loading = False
            self._status(Text(f"no model: {text}", style="red"))
        elif event.worker.group == "recommend":
            self._status(Text("recommendations failed (see the notification)", style="red"))
        self.notify(text, title=f"{event.worker.group} failed", severity="error", timeout=10, markup=False)

    # ------------------------------------------------------------------ search

    @on(Input.Changed, "#search")
    def query_changed(self, event: Input.Changed) -> None:
        if self.index is not None:
            self.search(event.value)

    @work(thread=True, exclusive=True, group="search", exit_on_error=False)
    def search(self, query: str) -> None:
        self.post_message(SearchDone(query, self.index.search(query, limit=30) if query.strip() else []))

    @on(SearchDone)
    def show_search(self, message: SearchDone) -> None:
        if message.query != self.query_one("#search", Input).value:
            return  # typed on since: a newer search is on its way
        self.matches = [m.mal_id for m in message.matches]
        self._render_search(reset=True)

    def _render_search(self, reset: bool = False) -> None:
        """(Re)draw the search list, keeping the highlight unless a new query arrived."""
        results = self.query_one(SearchResults)
        highlighted = results.highlighted
        results.clear_options()
        results.add_options(self._search_option(m) for m in self.matches)
        if self.matches:
            results.highlighted = 0 if reset or highlighted is None else min(highlighted, len(self.matches) - 1)

    def _search_option(self, mal_id: int) -> Option:
        e = self.by_id[mal_id]
        unknown = self.engine is not None and not self.engine.knows(mal_id)
        # Unknown titles are dimmed as a whole, so the mark survives a narrow pane's ellipsis.
        text = Text(e["title"] + "  ", no_wrap=True, overflow="ellipsis", style="dim italic" if unknown else "")
        text.append(f"{e.get('type') or '?'} · {e.get('episodes') or '?'} ep · {members_text(e.get('members'))}", style="dim")
        if unknown:
            text.append("  not in model", style="italic yellow")
        if mal_id in self.favourites:
            text.append("  ★", style="bold")
        return Option(text, id=str(mal_id))

    @on(Input.Submitted, "#search")
    def submit_search(self) -> None:
        results = self.query_one(SearchResults)
        if results.option_count:
            results.focus()

    @on(OptionList.OptionSelected, "#favourites")
    def open_favourite(self, event: OptionList.OptionSelected) -> None:
        self.show_details(int(event.option.id))

    @on(OptionList.OptionSelected, "#search-results")
    def add_from_search(self, event: OptionList.OptionSelected) -> None:
        self.add_favourites([int(event.option.id)])

    def on_key(self, event) -> None:
        if event.key == "down" and self.focused is self.query_one("#search", Input):
            results = self.query_one(SearchResults)
            if results.option_count:
                results.focus()
                event.stop()

    # -------------------------------------------------------------- favourites

    def _load_favourites(self) -> None:
        try:
            state = self.store.load()
        except UserError as error:
            self.notify(str(error), severity="error", timeout=10)
            return
        if self.store.last_warning:
            self.notify(self.store.last_warning, title="favourites", severity="warning", timeout=15)
        self.favourites, self.excluded = list(state.favourites), list(state.excluded)

    def _apply_store(self, change) -> list[int] | None:
        """Run a favourites-store change; None when it failed (and the user was told)."""
        try:
            changed = change()
            state = self.store.load()
        except UserError as error:
            self.notify(str(error), severity="error", markup=False)
            return None
        self.favourites, self.excluded = list(state.favourites), list(state.excluded)
        self._render_favourites()
        self._render_search()
        self.refresh_recommendations()
        return changed

    def add_favourites(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        unknown = [i for i in ids if self.engine is not None and not self.engine.knows(i)]
        added = self._apply_store(lambda: self.store.add(ids))
        if added is None:
            return
        for mal_id in added:
            title = self.by_id.get(mal_id, {}).get("title", str(mal_id))
            suffix = " (the model does not know it, so it will not change the recommendations)" if mal_id in unknown else ""
            self.notify(f"added {title}{suffix}", severity="warning" if suffix else "information", markup=False)
        if not added and ids:
            self.notify("already a favourite")

    def exclude(self, mal_id: int) -> None:
        if self._apply_store(lambda: self.store.exclude([mal_id])) is not None:
            self.notify(f"not interested: {self.by_id.get(mal_id, {}).get('title', mal_id)}", markup=False)

    def unhide(self, mal_id: int) -> None:
        """Undo "not interested" for one anime."""
        if self._apply_store(lambda: self.store.unexclude([mal_id])) is not None:
            self.notify(f"can be recommended again: {self.by_id.get(mal_id, {}).get('title', mal_id)}", markup=False)

    def action_show_hidden(self) -> None:
        if not self.excluded:
            self.notify("nothing is marked not interested")
            return
        self.push_screen(HiddenScreen([(m, self.by_id.get(m, {}).get("title", f"MAL id {m}")) for m in self.excluded]))

    def request_filters(self) -> Filters:
        """The filters of the next request: the user's choices plus the not-interested list."""
        return replace(self.filters, exclude=frozenset(self.excluded))

    def _render_favourites(self) -> None:
        favourites = self.query_one(FavouritesList)
        highlighted = favourites.highlighted
        favourites.clear_options()
        for mal_id in self.favourites:
            entry = self.by_id.get(mal_id)
            unknown = self.engine is not None and not self.engine.knows(mal_id)
            title = Text(entry["title"] if entry else f"MAL id {mal_id}", no_wrap=True, overflow="ellipsis", style="dim italic" if unknown else "")
            if unknown:
                title.append(" (not in model)", style="italic yellow")
            favourites.add_option(Option(title, id=str(mal_id)))
        if self.favourites:
            favourites.highlighted = min(highlighted or 0, len(self.favourites) - 1)
        self.query_one("#favourites-label", Label).update(f"Favourites ({len(self.favourites)})")
        self._render_taste()

    def _render_taste(self) -> None:
        counts = Counter(g for m in self.favourites for g in self.by_id.get(m, {}).get("genres", []))
        taste = self.query_one("#taste", Static)
        if not counts:
            taste.update("[dim]Your taste profile appears here as you add favourites.[/dim]")
            return
        top = counts.most_common(5)
        width = max(len(g) for g, _ in top)
        peak = top[0][1]
        lines = [f"{g:<{width}} [$accent]{'█' * max(1, round(14 * c / peak))}[/] {c}" for g, c in top]
        taste.update("\n".join(lines))

    def action_remove_favourite(self) -> None:
        favourites = self.query_one(FavouritesList)
        if favourites.highlighted is None or not self.favourites:
            return
        mal_id = int(favourites.get_option_at_index(favourites.highlighted).id)
        self._apply_store(lambda: self.store.remove([mal_id]))

    def action_clear_favourites(self) -> None:
        if not self.favourites:
            self.notify("no favourites to clear")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._apply_store(self.store.clear)
                self.notify("cleared all favourites")

        self.push_screen(ConfirmScreen(f"Remove all {len(self.favourites)} favourites?"), answered)

    # --------------------------------------------------------- recommendations

    def refresh_recommendations(self) -> None:
        """Ask for new recommendations; any answer still on its way becomes stale."""
        self.generation += 1
        if self.engine is None:
            return
        if not self.favourites:
            self.query_one(ResultsTable).clear()
            self.shown = []
            self._status("Search for anime you love and press Enter to add them: recommendations appear here.")
            return
        self._status("updating…")
        self.recommend(self.generation, list(self.favourites), self.request_filters())

    @work(thread=True, exclusive=True, group="recommend", exit_on_error=False)
    def recommend(self, generation: int, favourites: list[int], filters: Filters) -> None:
        self.post_message(RecommendationsDone(generation, self.engine.recommend(favourites, 50, filters)))

    @on(RecommendationsDone)
    def show_recommendations(self, message: RecommendationsDone) -> None:
        if message.generation != self.generation:
            return
        table = self.query_one(ResultsTable)
        table.clear()
        result = message.result
        self.shown = [r.mal_id for r in result.items]
        for rank, r in enumerate(result.items, start=1):
            table.add_row(str(rank), r.title, r.type or "?", str(r.episodes or "?"), f"{r.score:.2f}", "; ".join(r.because), ", ".join(r.genres[:4]), key=str(r.mal_id))
        unknown = f"  [yellow]{len(result.unknown)} favourite(s) unknown to the model[/yellow]" if result.unknown else ""
        self._status(f"{len(result.items)} recommendations for {len(self.favourites)} favourites · {self._filters_text()}{unknown}")

    def _filters_text(self) -> str:
        f = self.filters
        parts = [", ".join(sorted(f.types)) if f.types else "all types"]
        if f.include_genres:
            parts.append("genres: " + ", ".join(sorted(f.include_genres)))
        parts.append("no sequels" if f.hide_sequels else "sequels")
        parts.append("no adult" if f.hide_adult else "adult shown")
        if self.excluded:
            parts.append(f"{len(self.excluded)} not interested")
        return " · ".join(parts)

    def _status(self, text: str | Text) -> None:
        self.query_one("#status", Static).update(text)

    @on(DataTable.RowSelected, "#results")
    def open_result(self, event: DataTable.RowSelected) -> None:
        self.show_details(int(event.row_key.value))

    def action_not_interested(self) -> None:
        table = self.query_one(ResultsTable)
        if self.shown and 0 <= table.cursor_row < len(self.shown):
            self.exclude(self.shown[table.cursor_row])

    # ----------------------------------------------------------------- details

    def show_details(self, mal_id: int) -> None:
        entry = self.by_id.get(mal_id)
        if entry is None:
            self.notify(f"MAL id {mal_id} is not in the catalogue", severity="error")
            return
        known = None if self.engine is None else self.engine.knows(mal_id)
        self.push_screen(DetailsScreen(entry, known))

    def _highlighted_id(self, widget: OptionList) -> int | None:
        if widget.highlighted is None or widget.option_count == 0:
            return None
        return int(widget.get_option_at_index(widget.highlighted).id)

    def action_details_search(self) -> None:
        mal_id = self._highlighted_id(self.query_one(SearchResults))
        if mal_id is not None:
            self.show_details(mal_id)

    def action_details_favourite(self) -> None:
        mal_id = self._highlighted_id(self.query_one(FavouritesList))
        if mal_id is not None:
            self.show_details(mal_id)

    # ----------------------------------------------------------------- filters

    def action_filters(self) -> None:
        genres = self.engine.genre_names if self.engine is not None else sorted({g for e in self.catalog for g in e.get("genres", [])})

        def chosen(filters: Filters | None) -> None:
            if filters is not None:
                self.filters = filters
                self.refresh_recommendations()

        self.push_screen(FiltersScreen(self.filters, genres), chosen)

    def action_toggle_sequels(self) -> None:
        self.filters = replace(self.filters, hide_sequels=not self.filters.hide_sequels)
        self.notify("sequels hidden" if self.filters.hide_sequels else "sequels shown")
        self.refresh_recommendations()

    def action_toggle_adult(self) -> None:
        self.filters = replace(self.filters, hide_adult=not self.filters.hide_adult)
        self.notify("adult titles hidden" if self.filters.hide_adult else "adult titles shown")
        self.refresh_recommendations()

    # -------------------------------------------------------------- navigation

    def action_focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(HELP_ROWS))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("search: focus the search box", "Type to find anime", self.action_focus_search)
        yield SystemCommand("favourites: clear all", "Remove every favourite (asks first)", self.action_clear_favourites)
        yield SystemCommand("favourites: not interested list", "See and undo 'not interested'", self.action_show_hidden)
        yield SystemCommand("filters: edit", "Types, genres, sequels, adult titles", self.action_filters)
        yield SystemCommand("filters: toggle sequels", "Hide or show sequels", self.action_toggle_sequels)
        yield SystemCommand("filters: toggle adult titles", "Hide or show adult titles", self.action_toggle_adult)
        yield SystemCommand("help: keys", "Every key of the app", self.action_help)


def run(model_dir: Path | None = None) -> None:
    """Entry point for ``animerec tui``."""
    AnimeRecApp(model_dir).run()
