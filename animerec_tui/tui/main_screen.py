"""The main screen: it holds the state, and the panes show it.

Its reactives, with those of the WorkingScreen it builds on (catalogue, model, matches,
status line), are the whole state of the app. The panes are bound to them with
``data_bind`` and post requests back as messages; dialogs answer through ``dismiss``. The
slow work runs in the thread workers of ``workers.py``; an answer to a request that has
changed since it was asked is dropped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TypeVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.reactive import var
from textual.widgets import Header

from animerec_tui.defaults import METADATA_ONLY, NEW_SHARE_STEPS, NEW_TAG
from animerec_tui.engine import NEW_SINCE, Filters
from animerec_tui.export import FORMATS, render, write_export
from animerec_tui.favourites import FavouritesStore, counted
from animerec_tui.settings import FILE_NAME as SETTINGS_FILE
from animerec_tui.settings import SettingsStore
from animerec_tui.short_lists import short_list_note
from animerec_tui.tui import messages as m
from animerec_tui.tui.favourites_pane import FavouritesPane
from animerec_tui.tui.file_screens import ExportScreen, ExportTarget, ImportRead, ImportScreen
from animerec_tui.tui.footer import FKeyBar, MainFooter
from animerec_tui.tui.formatting import StatusLine, filters_parts, new_share_text
from animerec_tui.tui.franchise_screen import FranchiseScreen
from animerec_tui.tui.results_pane import ResultsPane
from animerec_tui.tui.screens import ConfirmScreen, DetailsScreen, FiltersScreen, NotInterestedScreen
from animerec_tui.tui.search_pane import SearchPane
from animerec_tui.tui.workers import WorkingScreen
from training.errors import UserError

if TYPE_CHECKING:
    from animerec_tui.engine import Result


@dataclass(frozen=True)
class Removal:
    """What one remove or clear all took away, for u."""

    what: str
    """What the user is told it was: "removed X", "cleared all favourites (3)"."""
    removed: list[int]
    """The ids it took off the file: u puts back these and no others."""
    order: list[int]
    """The favourites as they were shown before it: where the removed ones go back."""
    unexclude: tuple[int, ...] = ()
    """Ids it marked "not interested" (a favourite dismissed with n in its details): u takes
    them off that list first, or :meth:`FavouritesStore.restore` would leave them out."""


@dataclass(frozen=True)
class Import:
    """What one MyAnimeList import changed, for u."""

    what: str
    """What the user is told it was: "import of animelist.xml"."""
    added: list[int]
    """The favourites it added: u takes these and no others off the file."""
    watched: tuple[int, ...]
    """The watched list before it (an import replaces it): u puts it back."""
    hide_watched: bool
    """Whether the watched anime were hidden before it."""


@dataclass(frozen=True)
class Marked:
    """One anime marked watched or plan-to-watch, for u."""

    what: str
    """What the user is told it was: "watched: X"."""
    which: str
    """The list it went on: "watched" or "plan"."""
    mal_id: int
    was_planned: bool = False
    """Marked watched, it left the plan-to-watch list: u puts it back there."""
    hide_watched: bool = True
    """Whether the watched anime were hidden before (a first w hides them): u puts that back."""


T = TypeVar("T")

SHORT_LIST_LEAN = "add a few more, or F5"
"""What a list of one or two favourites is told to do to lean nearer to them (``short_list_note``)."""
SHORT_LIST_SHORT = "Few favourites: popular picks. Add more, or F5"
"""The same note where the long one takes over two lines (an 80-column terminal)."""

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
    marked_watched: var[tuple[int, ...]] = var(())
    """MAL ids marked watched in the app (w), as the favourites file has them."""
    plan: var[tuple[int, ...]] = var(())
    """MAL ids marked plan-to-watch in the app (p), as the favourites file has them: F7 exports them."""
    hide_watched: var[bool] = var(False)
    """Whether ``watched`` and ``marked_watched`` leave the recommendations."""
    request: var[m.RecommendationRequest | None] = var(None)
    """What the recommendations should answer now: favourites and filters; None without a model."""
    results: var[Result | None] = var(None)
    """The recommendations on show; None with no favourites."""
    english: var[bool] = var(False)
    """Whether titles show in English where the catalogue has one (results, favourites, search); remembered."""
    export_extension: var[str] = var(".md")
    """The ending of the last file exported: F7 offers it again; remembered."""

    def __init__(self, model_dir: Path | None, store: FavouritesStore, settings: SettingsStore | None = None, threads: int | None = None, freeze_loaded: bool = False) -> None:
        super().__init__(model_dir, threads, freeze_loaded)
        self.store = store
        self.settings = settings or SettingsStore(store.path.with_name(SETTINGS_FILE))
        """Where the filters and the theme are remembered (beside the favourites)."""
        self.undo_stack: list[Removal | Import | Marked] = []
        """For u: each removal, clear all or import, last on top."""
        self._settings_loaded = False
        self._remembered: dict[str, object] = {}
        """The settings as this screen last had them in settings.json (or found them there): a
        change writes only the fields that differ, so another terminal's changes to the
        other fields are kept."""
        self._told_unsaved = ""
        """Why settings.json refused the last change, once the user has been told (said once)."""
        self._pending_imports: list[ImportRead] = []
        """MAL exports read while the catalogue was still loading: applied once it is."""
        self._results_request: m.RecommendationRequest | None = None
        """The request that ``results`` answers (an export waits while they answer an older one)."""

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield SearchPane(self.search_now).data_bind(MainScreen.catalog, MainScreen.favourites, MainScreen.answered, MainScreen.matches, MainScreen.english)
                yield FavouritesPane().data_bind(MainScreen.catalog, MainScreen.engine, MainScreen.favourites, MainScreen.english)
            yield ResultsPane(id="right").data_bind(MainScreen.results, MainScreen.status, MainScreen.model_loading, MainScreen.english)
        yield FKeyBar(id="fkeys")
        yield MainFooter()

    def on_resize(self) -> None:
        # After the screen's own resize handler has set its breakpoint class.
        self.call_after_refresh(lambda: setattr(self.query_one(MainFooter), "narrow", self.has_class("-narrow")))

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

    def watch_marked_watched(self) -> None:
        self._update_request()

    def watch_hide_watched(self) -> None:
        self._update_request()
        self._save_settings()

    def watch_english(self) -> None:
        self._save_settings()

    def watch_export_extension(self) -> None:
        self._save_settings()

    def action_toggle_english(self) -> None:
        self.english = not self.english
        self.notify("English titles where there is one" if self.english else "MyAnimeList titles")

    def search_hides_adult(self) -> bool:
        return self.filters.hide_adult

    def catalog_settled(self) -> None:
        pending, self._pending_imports = self._pending_imports, []
        for done in pending:  # read while the catalogue loaded: their turn now
            self._apply_import(done)  # or says that it cannot be checked, if loading failed

    def _update_request(self) -> None:
        # Not a compute method: Textual runs a computed reactive's watcher on every read.
        self.request = None if self.engine is None else m.RecommendationRequest(self.favourites, self.wanted_filters())

    def watch_request(self, request: m.RecommendationRequest | None) -> None:
        if request is None or self.engine is None:
            return
        if not request.favourites:
            self.results = None
            self._results_request = request
            self.status = EMPTY_HINT
            return
        self.status = "updating…"
        self.recommend(self.engine, request)

    def recommendations_failed(self) -> None:
        super().recommendations_failed()
        self.results = None  # the rows of an older request would read as this one's answer
        self._results_request = self.request  # answered with nothing (and the user told)

    @on(m.RecommendationsDone)
    def recommendations_done(self, message: m.RecommendationsDone) -> None:
        if message.request != self.request:
            return  # favourites or filters changed since: a newer answer is on its way
        result = message.result
        self.results = result
        self._results_request = message.request
        unknown = [f"[yellow]{counted(len(result.unknown))} unknown to the model[/yellow]"] if result.unknown else []
        hidden = len(self.hidden_watched())
        watched = [f"{hidden} watched hidden"] if hidden else []
        count, favourites = len(result.items), len(self.favourites)
        favourites_text = "1 favourite" if favourites == 1 else f"{favourites} favourites"
        excluded = len(self.not_interested)
        note = short_list_note(self.engine, self.favourites, self.filters.novelty, lean=SHORT_LIST_LEAN) if self.engine is not None else None
        self.status = StatusLine(
            (f"{count} recommendations for {favourites_text}", *map(escape, filters_parts(self.filters, excluded)), *watched, *unknown),
            (f"{count} for {favourites_text}", *map(escape, filters_parts(self.filters, excluded, short=True)), *watched, *unknown),
            f"[yellow i]{NEW_TAG}[/] = no ratings yet" if not all(r.rated for r in result.items) else "",
            (note, SHORT_LIST_SHORT) if note else ("", ""),
        )

    def hidden_watched(self) -> set[int]:
        """The watched anime the recommendations leave out: imported and marked, while hidden."""
        return set(self.watched) | set(self.marked_watched) if self.hide_watched else set()

    def wanted_filters(self) -> Filters:
        """The filters of the next request: the user's choices, the not-interested list and (if hidden) what was watched."""
        return replace(self.filters, exclude=frozenset(self.not_interested) | frozenset(self.hidden_watched()))

    # -------------------------------------------------------------- requests

    def _load_settings(self) -> None:
        settings = self.settings.load()
        if settings.warning:
            self.notify(settings.warning, title="settings", severity="warning", timeout=15, markup=False)
        self.filters = settings.filters
        self.watched, self.hide_watched = settings.watched, settings.hide_watched
        self.english, self.export_extension = settings.english_titles, settings.export_extension
        if settings.theme in self.app.available_themes:
            self.app.theme = settings.theme
        self._remembered = self._settings_now()
        self._settings_loaded = True
        self.watch(self.app, "theme", lambda _: self._save_settings(), init=False)

    def _settings_now(self) -> dict[str, object]:
        return {
            "filters": self.filters, "theme": self.app.theme, "watched": self.watched, "hide_watched": self.hide_watched,
            "english_titles": self.english, "export_extension": self.export_extension,
        }

    def _save_settings(self) -> None:
        """Write what changed since the last write into settings.json's current content.

        Only the changed fields go (the store merges them under its lock): a second app that
        imported a watched list while this one changes a filter keeps its list. A file that
        could not be trusted on load is never written; the user is told once."""
        if not self._settings_loaded:
            return  # the defaults at start-up are not a choice to write over the saved one
        now = self._settings_now()
        changed = {key: value for key, value in now.items() if value != self._remembered.get(key)}
        if not changed:
            return
        try:
            self.settings.update(**changed)
        except UserError as error:
            if str(error) != self._told_unsaved:  # the file is not ours to write: say so once, work on in memory
                self._told_unsaved = str(error)
                self.notify(str(error), title="settings not saved", severity="warning", timeout=15, markup=False)
            return
        except OSError as error:
            self.notify(f"could not remember the filters: {error.strerror or error}", severity="warning", markup=False)
            return  # kept as changes: the next write tries them again
        self._remembered = now

    def _load_favourites(self) -> bool:
        """Show the favourites file's current content; False when it could not be read (the user was told)."""
        try:
            state = self.store.load()
        except UserError as error:
            self.notify(str(error), severity="error", timeout=10, markup=False)
            return False
        if self.store.last_warning:
            self.notify(self.store.last_warning, title="favourites", severity="warning", timeout=15, markup=False)
            self.store.last_warning = None  # said once; a later load that finds a good file says nothing
        self.favourites, self.not_interested = tuple(state.favourites), tuple(state.excluded)
        self.marked_watched, self.plan = tuple(state.watched), tuple(state.plan)
        return True

    def _change_store(self, change: Callable[[], T]) -> T | None:
        """Run a favourites-store change and show the store's new state; None when it failed (and the user was told).

        Every change is made by the store on the file's current content under its lock
        (add these, remove those): another terminal's changes since this screen last read
        the file are kept, and the screen then shows the file as it now is."""
        try:
            changed = change()
        except UserError as error:
            self.notify(str(error), severity="error", markup=False)
            return None
        self._load_favourites()
        return changed

    def _title(self, mal_id: int, default: str) -> str:
        entry = self.catalog.by_id.get(mal_id) if self.catalog is not None else None
        return entry["title"] if entry else default

    def _titles(self, ids: list[int], shown: int = 3) -> str:
        """'A', 'A and B', 'A, B and C', or 'A, B, C and 4 more'."""
        titles = [self._title(i, f"MAL id {i}") for i in ids[:shown]]
        rest = len(ids) - len(titles)
        if rest:
            return f"{', '.join(titles)} and {rest} more"
        return titles[0] if len(titles) == 1 else f"{', '.join(titles[:-1])} and {titles[-1]}"

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
        order = list(self.favourites)
        removed = self._change_store(lambda: self.store.remove([message.mal_id]))
        if removed:
            self._undoable(Removal(f"removed {self._title(message.mal_id, str(message.mal_id))}", removed, order))
        elif removed is not None:
            self.notify(f"{self._title(message.mal_id, str(message.mal_id))} was no longer a favourite (removed elsewhere)", markup=False)

    def _undoable(self, removal: Removal) -> None:
        self.undo_stack.append(removal)
        self.notify(f"{removal.what} · u undoes it", markup=False)

    def action_undo(self) -> None:
        """Put back exactly what the last removal (or clear all) took away, or take off what the last import added."""
        if not self.undo_stack:
            self.notify("nothing to undo")
            return
        removal = self.undo_stack.pop()
        if isinstance(removal, Import):
            self._undo_import(removal)
            return
        if isinstance(removal, Marked):
            self._undo_mark(removal)
            return

        def undo() -> list[int]:
            if removal.unexclude:
                self.store.unexclude(removal.unexclude)
            return self.store.restore(removal.removed, removal.order)

        back = self._change_store(undo)
        if back is None:
            self.undo_stack.append(removal)  # not undone (the user was told why): u can try again
            return
        if back:
            self.notify(f"undone: {removal.what}", markup=False)
        elif any(i in self.not_interested for i in removal.removed):  # restore leaves those out
            self.notify(f"nothing to put back ({removal.what}: marked not interested since; the palette's not interested list lets it back)", markup=False)
        else:
            self.notify(f"nothing to put back ({removal.what}: already there again)", markup=False)

    @on(m.MarkAnime)
    def mark_anime(self, message: m.MarkAnime) -> None:
        """w: watched (it leaves the recommendations, and a first w hides the watched); p: plan to watch (F7 exports it)."""
        mal_id, which = message.mal_id, message.which
        mark = Marked("", which, mal_id, was_planned=mal_id in self.plan, hide_watched=self.hide_watched)
        marked = self._change_store(lambda: self.store.mark(which, [mal_id]))
        if marked is None:
            return
        title = self._title(mal_id, str(mal_id))
        if not marked:
            self.notify(f"{title} is already {'marked watched' if which == 'watched' else 'on your plan-to-watch list'}", markup=False)
            return
        if which == "watched":
            self.hide_watched = True
        what = f"watched: {title}" if which == "watched" else f"plan to watch: {title} (F7 exports the list)"
        self.undo_stack.append(replace(mark, what=what))
        self.notify(f"{what} · u undoes it", markup=False)

    def _undo_mark(self, mark: Marked) -> None:
        def undo() -> list[int]:
            taken = self.store.unmark(mark.which, [mark.mal_id])
            if mark.was_planned:
                self.store.mark("plan", [mark.mal_id])
            return taken

        if self._change_store(undo) is None:
            self.undo_stack.append(mark)  # not undone (the user was told why): u can try again
            return
        if mark.which == "watched":
            self.hide_watched = mark.hide_watched
        self.notify(f"undone: {mark.what}", markup=False)

    def _undo_import(self, done: Import) -> None:
        """Take off the favourites an import added and put back the watched list it replaced;
        favourites added or removed since by other means stay as they are."""
        taken = self._change_store(lambda: self.store.remove(done.added)) if done.added else []
        if taken is None:
            self.undo_stack.append(done)  # not undone (the user was told why): u can try again
            return
        self.watched, self.hide_watched = done.watched, done.hide_watched
        self.notify(f"undone: {done.what} ({len(taken)} favourites taken off, the watched list as it was)", markup=False)

    @on(m.ClearFavourites)
    def action_clear_favourites(self) -> None:
        """Ask, naming them, then remove the favourites (C in the favourites, and the command palette).

        The question names the file's favourites as they are when it is asked, and yes removes
        exactly those: one added meanwhile in another terminal stays."""
        if not self._load_favourites():
            return
        if not self.favourites:
            self.notify("no favourites to clear")
            return
        asked = list(self.favourites)

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            removed = self._change_store(lambda: self.store.remove(asked))
            if not removed:
                if removed is not None:
                    self.notify("nothing to clear: they were removed elsewhere meanwhile")
                return
            kept = len(self.favourites)
            kept_text = f"; {kept} added elsewhere meanwhile {'stays' if kept == 1 else 'stay'}" if kept else ""
            self._undoable(Removal(f"cleared all favourites ({len(removed)}){kept_text}", removed, asked))

        count = "the favourite" if len(asked) == 1 else f"all {len(asked)} favourites"
        self.app.push_screen(ConfirmScreen(f"Remove {count}: {self._titles(asked)}?"), answered)

    @on(m.MarkNotInterested)
    def mark_not_interested(self, message: m.MarkNotInterested) -> None:
        order = list(self.favourites)
        dismissed = self._change_store(lambda: self.store.dismiss([message.mal_id]))
        if dismissed is None:
            return
        title = self._title(message.mal_id, str(message.mal_id))
        removed = dismissed[1]
        if removed:  # n in a favourite's details: it leaves the favourites too, and u puts it back
            self._undoable(Removal(f"not interested: {title}, removed from the favourites", removed, order, tuple(removed)))
        else:
            self.notify(f"not interested: {title}", markup=False)

    def undo_not_interested(self, mal_id: int) -> bool:
        """Let ``mal_id`` be recommended again; whether it is off the not-interested list now."""
        back = self._change_store(lambda: self.store.unexclude([mal_id]))
        title = self._title(mal_id, str(mal_id))
        if back:
            self.notify(f"can be recommended again: {title}", markup=False)
        elif back is not None:
            self.notify(f"{title} was no longer marked not interested (changed elsewhere)", markup=False)
        return back is not None

    def action_show_not_interested(self) -> None:
        """The not-interested list as the favourites file has it now (another terminal may have changed it)."""
        if not self._load_favourites():
            return
        if not self.not_interested:
            self.notify("nothing is marked not interested")
            return
        entries = [(i, self._title(i, f"MAL id {i}")) for i in self.not_interested]
        self.app.push_screen(NotInterestedScreen(entries, unhide=self.undo_not_interested))

    @on(m.ShowDetails)
    def show_details(self, message: m.ShowDetails) -> None:
        mal_id = message.mal_id
        catalog = self.catalog
        entry = catalog.by_id.get(mal_id) if catalog is not None else None
        if catalog is None or entry is None:
            self.notify(f"MAL id {mal_id} is not in the catalogue", severity="error")
            return
        engine = self.engine
        known = None if engine is None else engine.knows(mal_id)
        franchise = [e for e in catalog if e.get("franchise") == entry.get("franchise") and e["mal_id"] != mal_id] if entry.get("franchise") else []
        franchise.sort(key=lambda e: (e.get("year") or 9999, e["mal_id"]))
        marked = "you marked it watched" if mal_id in self.marked_watched else "on your plan-to-watch list" if mal_id in self.plan else ""
        details = DetailsScreen(entry, known, opener=self, rated=engine is None or engine.rated(mal_id), franchise=franchise, marked=marked)

        def closed(not_interested: int | None) -> None:
            if not_interested is not None:
                self.post_message(m.MarkNotInterested(not_interested))

        self.app.push_screen(details, closed)
        if engine is not None and known:
            self.find_similar(engine, details, mal_id, self.wanted_filters())

    def action_franchise_news(self) -> None:
        """What is new in the favourites' franchises: seasons, films and spin-offs aired from 2023 on or announced (F9)."""
        if self.engine is None:
            self.notify("the model is still loading; try again in a moment" if self.model_loading else "no model: the franchise view needs one")
            return
        if not self.favourites:
            self.notify("no favourites yet: add some, and F9 lists what is new in their franchises")
            return
        view = FranchiseScreen(self.favourites, NEW_SINCE, opener=self)
        self.app.push_screen(view)
        # Only the adult flag, the types and the not-interested list apply (engine/news.py).
        self.find_franchise_news(self.engine, view, self.favourites, self.wanted_filters())

    # ------------------------------------------------------- export and import

    def action_export(self) -> None:
        """Ask for a file, then write the favourites and recommendations there (F7).

        The dialog checks the name in a worker (a name can sit on a mount that hangs) and
        stays open on one that cannot be written: the app's own files, a folder or a pipe are
        refused there and nothing asked; only a file that may be replaced is asked about."""

        def chosen(target: ExportTarget | None) -> None:
            if target is None:
                return
            waiting = self._export_waits_for()
            if waiting:  # changed while the name was checked
                self.notify(f"{waiting}; try again in a moment", title="export", severity="warning", markup=False)
                return
            self.export_checked(m.ExportChecked(target.path, target.form, target.exists, self._export_document()))

        default = os.path.join(os.path.expanduser("~"), "animerec-recommendations" + self.export_extension)
        self.app.push_screen(ExportScreen(default, self.store.path.parent, self._export_waits_for), chosen)

    def _export_waits_for(self) -> str | None:
        """What an export has to wait for, if anything: the catalogue, the model, the answer to the latest change."""
        if self.catalog is None:
            return "the catalogue is still loading"
        if self.model_loading:
            return "the model is still loading"
        if self.request is not None and self._results_request != self.request:
            return "the recommendations are updating"
        return None

    def _export_document(self) -> m.ExportDocument:
        by_id = self.catalog.by_id if self.catalog is not None else {}
        return m.ExportDocument(
            [by_id.get(i) or {"mal_id": i, "title": f"MAL id {i}"} for i in self.favourites],
            self.results.unknown if self.results else [],
            self.results.items if self.results else [],
            [by_id.get(i) or {"mal_id": i, "title": f"MAL id {i}"} for i in self.plan],
        )

    @on(m.ExportChecked)
    def export_checked(self, message: m.ExportChecked) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.write_export_file(message)

        if message.exists:
            self.app.push_screen(ConfirmScreen(f"Replace {message.path}?"), answered)
        else:
            self.write_export_file(message)

    @work(thread=True, group="export", exit_on_error=False)
    def write_export_file(self, checked: m.ExportChecked) -> None:
        document = checked.document
        write_export(checked.path, render(checked.form, document.favourites, document.unknown, document.items, "animerec recommendations", document.plan), self.store.path.parent)
        self.post_message(m.ExportDone(checked.path, len(document.favourites), len(document.items), len(document.plan)))

    @on(m.ExportDone)
    def export_done(self, message: m.ExportDone) -> None:
        if message.path.suffix.lower() in FORMATS:
            self.export_extension = message.path.suffix.lower()  # the next F7 offers it
        plan = f", {message.plan} to watch" if message.plan else ""
        self.notify(f"wrote {message.favourites} favourites{plan} and {message.recommendations} recommendations to {message.path}", markup=False)

    def action_import_mal(self) -> None:
        """Ask for a MyAnimeList export; the dialog reads it in a worker (Esc cancels); then add
        what it scores 7 or more, and maybe hide what it lists (F8)."""

        def read(done: ImportRead | None) -> None:
            if done is None:
                return
            if self.catalog is None and not self._catalog_loaded.is_set():
                # Ids checked against a catalogue not there yet would all read as unknown.
                self._pending_imports.append(done)
                self.notify(f"{done.path.name}: read; adding its favourites once the catalogue has loaded", title="import", markup=False)
                return
            self._apply_import(done)

        self.app.push_screen(ImportScreen(hide_watched=True), read)

    def _apply_import(self, done: ImportRead) -> None:
        if self.catalog is None and self._loaded_catalog is not None:
            self.catalog = self._loaded_catalog  # loaded, its message still on its way
        if self.catalog is None:
            self.notify(f"{done.path.name}: not imported: the catalogue did not load, so its anime cannot be checked", title="import", severity="error", timeout=10, markup=False)
            return
        known = self.catalog.by_id
        usable = [i for i in done.liked if i in known]
        added = self._change_store(lambda: self.store.add(usable)) if usable else []
        if added is None:
            return
        before = Import(f"import of {done.path.name}", list(added), self.watched, self.hide_watched)
        if done.watched is not None:
            self.watched, self.hide_watched = tuple(done.watched), True
        changed = bool(added) or (self.watched, self.hide_watched) != (before.watched, before.hide_watched)
        if changed:
            self.undo_stack.append(before)
        hidden = f"; {len(done.watched)} watched anime hidden from the results" if done.watched is not None else ""
        missing = len(done.liked) - len(usable)
        self.notify(
            f"{done.path.name}: {len(done.liked)} scored 7 or more, {len(added)} new favourites" + (f", {missing} not in the catalogue" if missing else "") + hidden + (" · u undoes it" if changed else ""),
            timeout=10,
            markup=False,
        )

    def action_toggle_watched(self) -> None:
        watched = set(self.watched) | set(self.marked_watched)
        if not watched:
            self.notify("nothing watched: import a MyAnimeList list (F8), or mark a result with w")
            return
        self.hide_watched = not self.hide_watched
        self.notify(f"{len(watched)} watched anime {'hidden from' if self.hide_watched else 'shown in'} the results")

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
    """F5 goes through these and round (``Filters.novelty``; RESULTS.md, "Reasons, novelty and franchises")."""

    def action_step_novelty(self) -> None:
        now = self.filters.novelty
        novelty = next((step for step in self.NOVELTY_STEPS if step > now + 1e-9), self.NOVELTY_STEPS[0])
        self.filters = replace(self.filters, novelty=novelty)
        lean = "what fans of your favourites loved most" if novelty == 0 else "hidden gems" if novelty == 1 else "further from the most watched"
        self.notify(f"novelty {novelty:.2f}: {lean}")

    def action_step_new_share(self) -> None:
        steps = NEW_SHARE_STEPS
        at = next((i for i, step in enumerate(steps) if abs(step - self.filters.new_share) < 1e-9), -1)
        share = steps[(at + 1) % len(steps)]
        self.filters = replace(self.filters, new_share=share)
        self.notify(f"anime without ratings yet: {new_share_text(share)}")

    def action_toggle_adult(self) -> None:
        self.filters = replace(self.filters, hide_adult=not self.filters.hide_adult)
        self.notify("adult titles hidden" if self.filters.hide_adult else "adult titles shown")

    def action_focus_search(self) -> None:
        self.query_one(SearchPane).focus_search()
