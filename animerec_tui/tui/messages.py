"""Every message of the app, in one place.

Two kinds: answers that thread workers post back to the UI thread (a worker never touches
a widget), and requests that panes and dialogs post to the main screen, which owns the state
and the favourites store. Engine types are imported for type checkers only: importing the
app must not import the search index or the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from pathlib import Path

    from animerec_tui.engine import Engine, Filters, FranchiseNews, Recommendation, Result
    from animerec_tui.search import Match, TitleIndex
    from animerec_tui.tui.file_screens import ExportTarget, ImportRead
    from training.catalog import Catalog


@dataclass(frozen=True)
class RecommendationRequest:
    """What one set of recommendations answers; an answer to an older request is dropped."""

    favourites: tuple[int, ...]
    """MAL ids, in the order they were added."""
    filters: Filters
    """The user's filters plus the not-interested list."""


# ------------------------------------------------------------------ worker answers


@dataclass
class CatalogReady(Message):
    """The catalogue and its title index are loaded."""

    catalog: Catalog
    index: TitleIndex


@dataclass
class ModelReady(Message):
    """The recommendation engine is loaded."""

    engine: Engine


@dataclass
class SearchDone(Message):
    """Matches for one query (dropped if the query has changed since)."""

    query: str
    matches: list[Match]

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SearchDone)  # an older answer waiting in the queue is stale


@dataclass
class RecommendationsDone(Message):
    """Recommendations for one request (dropped if favourites or filters changed since)."""

    request: RecommendationRequest
    result: Result


@dataclass
class SimilarDone(Message):
    """Similar anime for the details view (empty when finding them failed)."""

    mal_id: int
    items: list[Recommendation]


@dataclass
class FranchiseNewsDone(Message):
    """What is new in the favourites' franchises, for the F9 view (empty when finding it failed)."""

    favourites: tuple[int, ...]
    news: list[FranchiseNews]


@dataclass
class ImportProgress(Message):
    """How many entries of a MyAnimeList export have been read so far."""

    path: Path
    entries: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ImportProgress)  # only the latest count matters


@dataclass
class ImportDone(Message):
    """A MyAnimeList export, read whole."""

    read: ImportRead


@dataclass(frozen=True)
class ExportDocument:
    """What an export writes, taken when it was asked for."""

    favourites: list[dict]
    """Catalogue entries of the favourites, in the order added."""
    unknown: list[int]
    items: list[Recommendation]
    plan: list[dict] = field(default_factory=list)
    """Catalogue entries of the plan-to-watch list, in the order marked."""


@dataclass
class ExportChecked(Message):
    """The export's name expanded and checked: it may be written (after asking, if it exists)."""

    path: Path
    form: str
    """markdown, csv or json."""
    exists: bool
    document: ExportDocument


@dataclass
class ExportNameChecked(Message):
    """The name typed in the export dialog, checked in its worker: it may be written."""

    text: str
    """The name as typed (an answer for a name typed before it is dropped)."""
    target: ExportTarget


@dataclass
class ExportDone(Message):
    """The export has been written."""

    path: Path
    favourites: int
    recommendations: int
    plan: int = 0
    """Anime on the plan-to-watch list written with them."""


# -------------------------------------------------------------- requests to the screen


@dataclass
class SearchChanged(Message):
    """The text in the search box changed."""

    query: str


@dataclass
class AddFavourites(Message):
    """Add these anime to the favourites."""

    mal_ids: list[int]


@dataclass
class RemoveFavourite(Message):
    """Take one anime off the favourites."""

    mal_id: int


@dataclass
class ClearFavourites(Message):
    """Remove every favourite, after asking."""


@dataclass
class MarkNotInterested(Message):
    """Never recommend this anime again (until undone)."""

    mal_id: int


@dataclass
class MarkAnime(Message):
    """Mark this anime watched (it leaves the recommendations) or plan-to-watch (the export lists it); u undoes it."""

    mal_id: int
    which: str
    """"watched" or "plan" (``favourites.MARKS``)."""


@dataclass
class ShowDetails(Message):
    """Open the details view of one anime."""

    mal_id: int
