"""Typed messages that thread workers post back to the UI thread."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class CatalogReady(Message):
    """The catalogue and its title index are loaded."""

    catalog: list
    index: object


@dataclass
class ModelReady(Message):
    """The recommendation engine is loaded."""

    engine: object


@dataclass
class SearchDone(Message):
    """Matches for one query (dropped if the query has changed since)."""

    query: str
    matches: list


@dataclass
class RecommendationsDone(Message):
    """Recommendations for one generation of favourites and filters (stale ones are dropped)."""

    generation: int
    result: object


@dataclass
class SimilarDone(Message):
    """Similar anime for the details view."""

    mal_id: int
    items: list
