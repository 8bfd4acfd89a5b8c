"""The main screen: it holds the state, and the panes show it.

Its reactives, with those of the WorkingScreen it builds on (catalogue, model, matches,
status line), are the whole state of the app. The panes are bound to them with
``data_bind`` and post requests back as messages; dialogs answer through ``dismiss``. The
slow work runs in the thread workers of ``workers.py``; an answer to a request that has
changed since it was asked is dropped.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.reactive import var
from textual.widgets import Footer, Header

from animerec_tui.engine import Filters
from animerec_tui.export import format_of, render, write_export
from animerec_tui.favourites import FavouritesStore
from animerec_tui.settings import FILE_NAME as SETTINGS_FILE
from animerec_tui.settings import SettingsStore
from animerec_tui.tui import messages as m
from animerec_tui.tui.favourites_pane import FavouritesPane
from animerec_tui.tui.file_screens import ExportScreen, ImportRequest, ImportScreen
from animerec_tui.tui.formatting import METADATA_ONLY, NEW_TAG, filters_text, new_share_text
from animerec_tui.tui.results_pane import ResultsPane
from animerec_tui.tui.screens import ConfirmScreen, DetailsScreen, FiltersScreen, NotInterestedScreen
from animerec_tui.tui.search_pane import SearchPane
from animerec_tui.tui.workers import WorkingScreen
from training.errors import UserError

if TYPE_CHECKING:
    from animerec_tui.engine import Result

EMPTY_HINT = "Search for anime you love and press Enter to add them: recommendations appear here."


class MainScreen(WorkingScreen):
    """Search and favourites on the left, recommendations on the right."""

    BINDINGS = [
        Binding("tab", "app.focus_next", "Next pane", show=False, tooltip="Move between search, favourites and results"),
        Binding("shift+tab", "app.focus_previous", "Previous pane", show=False, tooltip="The same, backwards"),
    ]

    favourites: var[tuple[int, ...]] = var(())
    """The favourites (MAL ids) in the order added, as the store last reported them."""
    not_interested: var[tuple[int, ...]] = var(())
    """MAL ids marked "not interested": never recommended."""
    filters: var[Filters] = var(Filters)
    """The user's choice of types, genres, sequels and adult titles."""
    watched: var[tuple[int, ...]] = var(())
    """MAL ids of an imported MyAnimeList list's entries (all but plan-to-watch)."""
    hide_watched: var[bool] = var(False)
    """Whether ``watched`` leave the recommendations."""
    request: var[m.RecommendationRequest | None] = var(None)
    """What the recommendations should answer now: favourites and filters; None without a model."""
    results: var[Result | None] = var(None)
    """The recommendations on show; None with no favourites."""

    def __init__(self, model_dir: Path | None, store: FavouritesStore, settings: SettingsStore | None = None, threads: int | None = None, freeze_loaded: bool = False) -> None:
        super().__init__(model_dir, threads, freeze_loaded)
        self.store = store
        self.settings = settings or SettingsStore(store.path.with_name(SETTINGS_FILE))
        """Where the filters and the theme are remembered (beside the favourites)."""
        self.undo_stack: list[tuple[str, list[int]]] = []
        """For u: what each removal was ("removed X") and the favourites before it."""
        self._settings_loaded = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield SearchPane(self.search_now).data_bind(MainScreen.catalog, MainScreen.favourites, MainScreen.answered, MainScreen.matches)
                yield FavouritesPane().data_bind(MainScreen.catalog, MainScreen.engine, MainScreen.favourites)
            yield ResultsPane(id="right").data_bind(MainScreen.results, MainScreen.status, MainScreen.model_loading)
        yield Footer()

    def on_mount(self) -> None:
        self._load_settings()
        self._load_favourites()
        self.start_loading()
        self.query_one(SearchPane).focus_search()

    # ------------------------------------------------------- recommendations

    def watch_engine(self) -> None:
        self._update_request()

    def watch_favourites(self) -> None:
        self._update_request()

    def watch_not_interested(self) -> None:
        self._update_request()

    def watch_filters(self, old: Filters, new: Filters) -> None:
        self._update_request()
        self._save_settings()
        if old.hide_adult != new.hide_adult and self.index is not None and self.search_query.strip():
            self.search_now(self.search_query)  # the matches follow the adult filter too

    def watch_watched(self) -> None:
        self._update_request()
        self._save_settings()

    def watch_hide_watched(self) -> None:
        self._update_request()
        self._save_settings()

    def search_hides_adult(self) -> bool:
        return self.filters.hide_adult

    def _update_request(self) -> None:
        # Not a compute method: Textual runs a computed reactive's watcher on every read.
        self.request = None if self.engine is None else m.RecommendationRequest(self.favourites, self.wanted_filters())

    def watch_request(self, request: m.RecommendationRequest | None) -> None:
        if request is None or self.engine is None:
            return
        if not request.favourites:
            self.results = None
            self.status = EMPTY_HINT
            return
        self.status = "updating…"
        self.recommend(self.engine, request)

    def recommendations_failed(self) -> None:
        super().recommendations_failed()
        self.results = None  # the rows of an older request would read as this one's answer

    @on(m.RecommendationsDone)
    def recommendations_done(self, message: m.RecommendationsDone) -> None:
        if message.request != self.request:
            return  # favourites or filters changed since: a newer answer is on its way
        result = message.result
        self.results = result
        unknown = f"  [yellow]{len(result.unknown)} favourite(s) unknown to the model[/yellow]" if result.unknown else ""
        new = f"  [yellow i]{NEW_TAG}[/] = no ratings yet" if not all(r.rated for r in result.items) else ""
        watched = f" · {len(self.watched)} watched hidden" if self.hide_watched and self.watched else ""
        self.status = f"{len(result.items)} recommendations for {len(self.favourites)} favourites · {escape(filters_text(self.filters, len(self.not_interested)))}{watched}{unknown}{new}"

    def wanted_filters(self) -> Filters:
        """The filters of the next request: the user's choices, the not-interested list and (if hidden) what was watched."""
        hidden = set(self.watched) if self.hide_watched else set()
        return replace(self.filters, exclude=frozenset(self.not_interested) | frozenset(hidden))

    # -------------------------------------------------------------- requests

    def _load_settings(self) -> None:
        settings = self.settings.load()
        if settings.warning:
            self.notify(settings.warning, title="settings", severity="warning", timeout=15, markup=False)
        self.filters = settings.filters
        self.watched, self.hide_watched = settings.watched, settings.hide_watched
        if settings.theme in self.app.available_themes:
            self.app.theme = settings.theme
        self._settings_loaded = True
        self.watch(self.app, "theme", lambda _: self._save_settings(), init=False)

    def _save_settings(self) -> None:
        if not self._settings_loaded:
            return  # the defaults at start-up are not a choice to write over the saved one
        try:
            self.settings.save(self.filters, self.app.theme, self.watched, self.hide_watched)
        except (OSError, UserError) as error:
            self.notify(f"could not remember the filters: {error}", severity="warning", markup=False)

    def _load_favourites(self) -> None:
        try:
            state = self.store.load()
        except UserError as error:
            self.notify(str(error), severity="error", timeout=10, markup=False)
            return
        if self.store.last_warning:
            self.notify(self.store.last_warning, title="favourites", severity="warning", timeout=15, markup=False)
        self.favourites, self.not_interested = tuple(state.favourites), tuple(state.excluded)

    def _change_store(self, change: Callable[[], list[int]]) -> list[int] | None:
        """Run a favourites-store change and show the store's new state; None when it failed (and the user was told)."""
        try:
            changed = change()
            state = self.store.load()
        except UserError as error:
            self.notify(str(error), severity="error", markup=False)
            return None
        self.favourites, self.not_interested = tuple(state.favourites), tuple(state.excluded)
        return changed

    def _title(self, mal_id: int, default: str) -> str:
        entry = self.catalog.by_id.get(mal_id) if self.catalog is not None else None
        return entry["title"] if entry else default

    @on(m.AddFavourites)
    def add_favourites(self, message: m.AddFavourites) -> None:
        ids = list(message.mal_ids)
        engine = self.engine
        unknown = {i for i in ids if engine is not None and not engine.knows(i)}
        unrated = {i for i in ids if engine is not None and engine.knows(i) and not engine.rated(i)}
        added = self._change_store(lambda: self.store.add(ids))
        if added is None:
            return
        for mal_id in added:
            title = self._title(mal_id, str(mal_id))
            if mal_id in unknown:  # only with a model trained on part of the catalogue
                self.notify(f"added {title} (this model does not know it, so it will not change the recommendations)", severity="warning", markup=False)
            else:
                self.notify(f"added {title}" + (f" ({METADATA_ONLY})" if mal_id in unrated else ""), markup=False)
        if not added and ids:
            self.notify("already a favourite")

    @on(m.RemoveFavourite)
    def remove_favourite(self, message: m.RemoveFavourite) -> None:
        before = list(self.favourites)
        if self._change_store(lambda: self.store.remove([message.mal_id])):
            self._undoable(f"removed {self._title(message.mal_id, str(message.mal_id))}", before)

    def _undoable(self, what: str, before: list[int]) -> None:
        self.undo_stack.append((what, before))
        self.notify(f"{what} · u undoes it", markup=False)

    def action_undo(self) -> None:
        """Put back what the last removal (or clear all) took away."""
        if not self.undo_stack:
            self.notify("nothing to undo")
            return
        what, before = self.undo_stack.pop()
        back = self._change_store(lambda: self.store.restore(before))
        if back is not None:
            self.notify(f"undone: {what}" if back else f"nothing to put back ({what}: already there again)", markup=False)

    @on(m.ClearFavourites)
    def action_clear_favourites(self) -> None:
        """Ask, then remove every favourite (C in the favourites, and the command palette)."""
        if not self.favourites:
            self.notify("no favourites to clear")
            return

        def answered(yes: bool | None) -> None:
            before = list(self.favourites)
            if yes and self._change_store(self.store.clear) is not None:
                self._undoable(f"cleared all favourites ({len(before)})", before)

        self.app.push_screen(ConfirmScreen(f"Remove all {len(self.favourites)} favourites?"), answered)

    @on(m.MarkNotInterested)
    def mark_not_interested(self, message: m.MarkNotInterested) -> None:
        if self._change_store(lambda: self.store.exclude([message.mal_id])) is not None:
            self.notify(f"not interested: {self._title(message.mal_id, str(message.mal_id))}", markup=False)

    @on(m.UndoNotInterested)
    def undo_not_interested(self, message: m.UndoNotInterested) -> None:
        if self._change_store(lambda: self.store.unexclude([message.mal_id])) is not None:
            self.notify(f"can be recommended again: {self._title(message.mal_id, str(message.mal_id))}", markup=False)

    def action_show_not_interested(self) -> None:
        if not self.not_interested:
            self.notify("nothing is marked not interested")
            return
        entries = [(i, self._title(i, f"MAL id {i}")) for i in self.not_interested]
        self.app.push_screen(NotInterestedScreen(entries, opener=self))

    @on(m.ShowDetails)
    def show_details(self, message: m.ShowDetails) -> None:
        mal_id = message.mal_id
        entry = self.catalog.by_id.get(mal_id) if self.catalog is not None else None
        if entry is None:
            self.notify(f"MAL id {mal_id} is not in the catalogue", severity="error")
            return
        engine = self.engine
        known = None if engine is None else engine.knows(mal_id)
        franchise = [e for e in self.catalog if e.get("franchise") == entry.get("franchise") and e["mal_id"] != mal_id] if entry.get("franchise") else []
        franchise.sort(key=lambda e: (e.get("year") or 9999, e["mal_id"]))
        details = DetailsScreen(entry, known, opener=self, rated=engine is None or engine.rated(mal_id), franchise=franchise)

        def closed(not_interested: int | None) -> None:
            if not_interested is not None:
                self.post_message(m.MarkNotInterested(not_interested))

        self.app.push_screen(details, closed)
        if engine is not None and known:
            self.find_similar(engine, details, mal_id, self.wanted_filters())

    # ------------------------------------------------------- export and import

    def action_export(self) -> None:
        """Ask for a file, then write the favourites and recommendations there (F7)."""

        def chosen(path: Path | None) -> None:
            if path is None:
                return
            try:
                form = format_of(path)
            except UserError as error:
                self.notify(str(error), severity="error", markup=False)
                return
            if path.exists():
                self.app.push_screen(ConfirmScreen(f"Replace {path}?"), lambda yes: self._export(path, form) if yes else None)
            else:
                self._export(path, form)

        self.app.push_screen(ExportScreen(Path.home() / "animerec-recommendations.md"), chosen)

    def _export(self, path: Path, form: str) -> None:
        items = self.results.items if self.results else []
        by_id = self.catalog.by_id if self.catalog is not None else {}
        entries = [by_id.get(i) or {"mal_id": i, "title": f"MAL id {i}"} for i in self.favourites]
        try:
            write_export(path, render(form, entries, self.results.unknown if self.results else [], items, "animerec recommendations"))
        except UserError as error:
            self.notify(str(error), severity="error", markup=False)
            return
        self.notify(f"wrote {len(entries)} favourites and {len(items)} recommendations to {path}", markup=False)

    def action_import_mal(self) -> None:
        """Ask for a MyAnimeList export, add what it scores 7 or more, and maybe hide what it lists (F8)."""

        def chosen(request: ImportRequest | None) -> None:
            if request is None:
                return
            from animerec_tui import malimport

            try:
                entries = malimport.read_mal_export(request.path)
            except UserError as error:
                self.notify(str(error), title="import", severity="error", timeout=10, markup=False)
                return
            liked = malimport.liked(entries)
            watched = malimport.watched(entries) if request.hide_watched else []
            known = self.catalog.by_id if self.catalog is not None else {}
            usable = [i for i in liked if i in known]
            added = self._change_store(lambda: self.store.add(usable)) if usable else []
            if added is None:
                return
            if request.hide_watched:
                self.watched, self.hide_watched = tuple(watched), True
            hidden = f"; {len(watched)} watched anime hidden from the results" if request.hide_watched else ""
            missing = len(liked) - len(usable)
            self.notify(f"{request.path.name}: {len(liked)} scored 7 or more, {len(added)} new favourites" + (f", {missing} not in the catalogue" if missing else "") + hidden, timeout=10, markup=False)

        self.app.push_screen(ImportScreen(hide_watched=True), chosen)

    def action_toggle_watched(self) -> None:
        if not self.watched:
            self.notify("no watched list: import one from MyAnimeList (F8)")
            return
        self.hide_watched = not self.hide_watched
        self.notify(f"{len(self.watched)} watched anime {'hidden from' if self.hide_watched else 'shown in'} the results")

    # --------------------------------------------------------------- filters

    def action_filters(self) -> None:
        genres = self.engine.genre_names if self.engine is not None else sorted({g for e in self.catalog or [] for g in e.get("genres", [])})

        def chosen(filters: Filters | None) -> None:
            if filters is not None:
                self.filters = filters

        self.app.push_screen(FiltersScreen(self.filters, genres), chosen)

    def action_toggle_sequels(self) -> None:
        self.filters = replace(self.filters, hide_sequels=not self.filters.hide_sequels)
        self.notify("sequels hidden" if self.filters.hide_sequels else "sequels shown")

    NOVELTY_STEPS = (0.0, 0.25, 0.5, 0.75, 1.0)
    """F5 goes through these and round (``Filters.novelty``; RESULTS.md section 11)."""

    def action_step_novelty(self) -> None:
        now = self.filters.novelty
        novelty = next((step for step in self.NOVELTY_STEPS if step > now + 1e-9), self.NOVELTY_STEPS[0])
        self.filters = replace(self.filters, novelty=novelty)
        lean = "what fans of your favourites loved most" if novelty == 0 else "hidden gems" if novelty == 1 else "further from the most watched"
        self.notify(f"novelty {novelty:.2f}: {lean}")

    NEW_SHARE_STEPS = (0.2, 0.5, 1.0, 0.0)
    """F6 goes through these and round, from the default (``Filters.new_share``; RESULTS.md section 9)."""

    def action_step_new_share(self) -> None:
        steps = self.NEW_SHARE_STEPS
        at = next((i for i, step in enumerate(steps) if abs(step - self.filters.new_share) < 1e-9), -1)
        share = steps[(at + 1) % len(steps)]
        self.filters = replace(self.filters, new_share=share)
        self.notify(f"anime without ratings yet: {new_share_text(share)}")

    def action_toggle_adult(self) -> None:
        self.filters = replace(self.filters, hide_adult=not self.filters.hide_adult)
        self.notify("adult titles hidden" if self.filters.hide_adult else "adult titles shown")

    def action_focus_search(self) -> None:
        self.query_one(SearchPane).focus_search()
