"""Titles typed on the command line, taken for anime as the app's search takes them.

Shared by ``animerec recommend`` and ``animerec favourites add/remove/unhide``: each title
taken for another anime than its own is said on stderr with why, and every title or MAL id
a call refuses is told at once, in one line, before anything is done with the others.
Catalogue only: no model, no torch.
"""

from __future__ import annotations

import functools
from collections.abc import Container
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from animerec_tui.options import printable
from training.catalog import Catalog
from training.errors import UserError

if TYPE_CHECKING:
    from animerec_tui.search import Match, TitleIndex

MAX_TITLE = 300
"""Longer than any anime title (the longest is under 200 characters); a longer one is a pasting accident."""


def check_titles(titles: list[str]) -> None:
    """Refuse an empty title and one longer than any anime's, before the catalogue is read."""
    if any(not title.strip() for title in titles):
        raise UserError("a title cannot be empty; name an anime, or pass --mal-id")
    for title in titles:
        if len(title) > MAX_TITLE:
            raise UserError(f"a title of {len(title):,} characters is longer than any anime's; check the arguments")


def resolve_titles(
    catalog: Catalog, titles: list[str], mal_ids: list[int], allowed: Container[int] = frozenset(), resolved: list[dict] | None = None,
) -> list[int]:
    """MAL ids for the given titles (as ``TitleIndex.resolve``: refusing ambiguity) and ids.

    Each title not taken as the anime's own title is said on stderr with why it was taken;
    every refused title, and every MAL id neither in the catalogue nor in ``allowed``, is told
    at once, in one line (a UserError). ``resolved``, when given, gets one
    ``{"query", "mal_id", "title", "how"}`` per title, for the JSON.
    """
    ids: list[int] = []
    refused: list[str] = []
    if titles:
        index = title_index(catalog)
        for title in titles:
            try:
                match = index.resolve(title)
            except UserError as error:  # every title of the call is tried, and every one refused is told at once
                refused.append(str(error))
                continue
            say_resolved(title, match)
            ids.append(match.mal_id)
            if resolved is not None:
                resolved.append({"query": title, "mal_id": match.mal_id, "title": match.title, "how": match.how})
    for mal_id in mal_ids:
        if mal_id not in catalog.by_id and mal_id not in allowed:
            refused.append(f"MAL id {mal_id} is not in the catalogue")
            continue
        ids.append(mal_id)
    if refused:
        raise UserError(" | ".join(refused))
    return ids


@functools.lru_cache(maxsize=1)
def title_index(catalog: Catalog) -> TitleIndex:
    """The search index of ``catalog``, built once per process (half a second), as the shipped
    catalogue is read once (``catalog.load_catalog``)."""
    from animerec_tui.search import TitleIndex  # numpy and rapidfuzz: only when a title is typed

    return TitleIndex(catalog)


def say_resolved(title: str, match: Match) -> None:
    """One line on stderr for a title taken as another anime's than its own, and why."""
    if match.score < 200:
        how = f": {match.how}" if match.how else ""
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"'{escape(printable(title))}' → {escape(printable(match.title))} (MAL id {match.mal_id}){escape(how)}")
