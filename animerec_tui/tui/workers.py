"""The main screen's background: the catalogue, the model and the search.

Each piece of slow work runs in a thread worker. A thread worker never touches a widget or
a reactive: it posts a typed message, handled here or by the main screen on the UI thread.
Workers run with ``exit_on_error=False``: a failure reaches the one Worker.StateChanged
handler below, which turns it into a notification. The search index and the model are
imported inside the workers, so that opening the app does not wait for them.
"""

from __future__ import annotations

import gc
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.reactive import var
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from animerec_tui.defaults import APP_TOP, SIMILAR_TOP
from animerec_tui.tui import messages as m
from animerec_tui.tui.formatting import StatusLine
from training.errors import UserError

if TYPE_CHECKING:
    from animerec_tui.engine import Engine, Filters, FranchiseNews, Recommendation
    from animerec_tui.search import Match, TitleIndex
    from animerec_tui.tui.franchise_screen import FranchiseScreen
    from animerec_tui.tui.screens import DetailsScreen
    from training.catalog import Catalog


class WorkingScreen(Screen[None]):
    """Loads the catalogue and the model, runs searches, and reports failures."""

    catalog: var[Catalog | None] = var(None)
    """The anime catalogue; None until it has loaded."""
    engine: var[Engine | None] = var(None)
    """The recommendation model; None while it loads, or when it failed to."""
    model_loading: var[bool] = var(True)
    """True until the model has loaded or failed."""
    matches: var[list[Match]] = var(list)
    """The titles matching the search box, best first."""
    answered: var[str | None] = var(None)
    """The query ``matches`` answer; None before the first answer."""
    status: var[str | Text | StatusLine] = var("")
    """The line above the recommendations: what they are for, or what is happening."""

    def __init__(self, model_dir: Path | None, threads: int | None = None, freeze_loaded: bool = False) -> None:
        super().__init__()
        self.model_dir = model_dir
        """The model to load; None for the shipped one."""
        self.threads = threads
        """Threads of the engine's arithmetic (see ``Engine``); None leaves the libraries' choice."""
        self.freeze_loaded = freeze_loaded
        """Move what is loaded out of the cycle collector's reach (``gc.freeze``) once it is loaded:
        the catalogue, title index and model are 200,000 objects that live as long as the app, and
        each full collection walked them all, stalling the screen 148-175 ms at a time (10 times in
        a 30-second session of searches and adds; frozen, the longest took 33-41 ms:
        benchmarks/tui_gc_pauses.py). ``animerec tui`` sets it; tests, which start many apps in
        one process, leave it off."""
        self.index: TitleIndex | None = None
        """The title index, once the catalogue has loaded."""
        self.search_query = ""
        """The search box's text, as last reported: answers to older queries are dropped."""
        self._loaded_catalog: Catalog | None = None
        self._loaded_index: TitleIndex | None = None
        self._catalog_loaded = threading.Event()

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        text = str(error) if isinstance(error, UserError) else f"{type(error).__name__}: {error}"
        if event.worker.group == "catalog":
            self.catalog_settled()
        elif event.worker.group == "model":
            self.model_loading = False
            self.status = Text(f"no model: {text}", style="red")
        elif event.worker.group == "recommend":
            self.recommendations_failed()
        self.notify(text, title=f"{event.worker.group} failed", severity="error", timeout=10, markup=False)

    def catalog_settled(self) -> None:
        """The catalogue has loaded, or failed to (``catalog`` is None then): the main screen
        applies what waited for it."""

    def recommendations_failed(self) -> None:
        """Say so in the status line (the main screen also clears the rows it shows)."""
        self.status = Text("recommendations failed (see the notification)", style="red")

    # ------------------------------------------------- catalogue and model

    def start_loading(self) -> None:
        """Load the catalogue and the model, side by side."""
        self.status = "loading the model…"
        self.load_catalog()
        self.load_model()

    @work(thread=True, exclusive=True, group="catalog", exit_on_error=False)
    def load_catalog(self) -> None:
        from animerec_tui.catalog import load_catalog
        from animerec_tui.search import TitleIndex

        try:
            self._loaded_catalog = load_catalog()
            self._loaded_index = TitleIndex(self._loaded_catalog)
        finally:
            self._catalog_loaded.set()  # the model worker and search_now wait for it, success or not
        self.post_message(m.CatalogReady(self._loaded_catalog, self._loaded_index))

    @work(thread=True, exclusive=True, group="model", exit_on_error=False)
    def load_model(self) -> None:
        from animerec_tui.engine import Engine

        self._catalog_loaded.wait(timeout=60)  # share the catalogue rather than read it twice
        self.post_message(m.ModelReady(Engine(self.model_dir, self._loaded_catalog, threads=self.threads)))

    def _freeze_loaded(self) -> None:
        if self.freeze_loaded:
            gc.freeze()

    @on(m.CatalogReady)
    def catalog_ready(self, message: m.CatalogReady) -> None:
        self.index = message.index
        self.catalog = message.catalog
        self._freeze_loaded()
        self.catalog_settled()
        if self.search_query and self.search_query != self.answered:
            self.search(self.index, self.search_query, self.search_hides_adult())

    @on(m.ModelReady)
    def model_ready(self, message: m.ModelReady) -> None:
        self.model_loading = False
        self.engine = message.engine
        self._freeze_loaded()

    # -------------------------------------------------------------- search

    @on(m.SearchChanged)
    def search_changed(self, message: m.SearchChanged) -> None:
        self.search_query = message.query
        if self.index is not None and message.query != self.answered:  # a key that acts on the list may have answered it already
            self.search(self.index, message.query, self.search_hides_adult())

    def search_hides_adult(self) -> bool:
        """Whether the search leaves adult titles out (the main screen: as its filters do)."""
        return True

    @work(thread=True, exclusive=True, group="search", exit_on_error=False)
    def search(self, index: TitleIndex, query: str, hide_adult: bool) -> None:
        self.post_message(m.SearchDone(query, index.search(query, limit=30, hide_adult=hide_adult) if query.strip() else []))

    @on(m.SearchDone)
    def search_done(self, message: m.SearchDone) -> None:
        # Else typed on since (a newer search is on its way), or answered on the spot already.
        if message.query == self.search_query and message.query != self.answered:
            self.answered = message.query
            self.matches = message.matches

    def search_now(self, query: str) -> None:
        """Answer ``query`` on the UI thread: a key that acts on the matches came before the
        background answer. Waits for the title index if it is still loading."""
        index = self.index
        if index is None:  # typed while the catalogue loads: wait for it, and take it now
            self._catalog_loaded.wait(timeout=60)
            index = self.index = self._loaded_index
            if self._loaded_catalog is not None:
                self.catalog = self._loaded_catalog
        self.search_query = query
        self.answered = query
        self.matches = index.search(query, limit=30, hide_adult=self.search_hides_adult()) if index is not None and query.strip() else []

    # ------------------------------------------------ recommendations (asked by the main screen)

    @work(thread=True, exclusive=True, group="recommend", exit_on_error=False)
    def recommend(self, engine: Engine, request: m.RecommendationRequest) -> None:
        self.post_message(m.RecommendationsDone(request, engine.recommend(list(request.favourites), APP_TOP, request.filters)))

    @work(thread=True, group="similar", exit_on_error=False)
    def find_similar(self, engine: Engine, details: DetailsScreen, mal_id: int, filters: Filters) -> None:
        """Post the anime similar to ``mal_id`` to the details view, an empty list on failure."""
        items: list[Recommendation] = []
        try:
            items = engine.similar(mal_id, SIMILAR_TOP, filters)
        finally:  # the failure is reported like any other; the spinner must stop either way
            details.post_message(m.SimilarDone(mal_id, items))

    @work(thread=True, group="franchise-news", exit_on_error=False)
    def find_franchise_news(self, engine: Engine, view: FranchiseScreen, favourites: tuple[int, ...], filters: Filters) -> None:
        """Post what is new in the favourites' franchises to the F9 view, an empty list on failure."""
        news: list[FranchiseNews] = []
        try:
            news = engine.new_in_franchises(favourites, view.since, filters)
        finally:  # the failure is reported like any other; the spinner must stop either way
            view.post_message(m.FranchiseNewsDone(favourites, news))
