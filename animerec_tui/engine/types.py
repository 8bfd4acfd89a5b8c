"""What a request asks for and what comes back: the filters, one recommendation, a result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from animerec_tui.defaults import NEW_SHARE, NOVELTY


@dataclass(frozen=True)
class Filters:
    """What may come back. Favourites and ``exclude`` never do."""

    types: frozenset[str] = frozenset()
    """Allowed types (TV, Movie, ...); empty means all."""
    hide_sequels: bool = False
    """Leave out every entry of a favourite's franchise, and every entry but the first of any franchise."""
    one_per_franchise: bool = True
    """Show a franchise's best-scored entry, and its later ones only ``defaults.FRANCHISE_SPACING``
    places or more after the one before (those not in the list are counted in ``franchise_more``)."""
    hide_adult: bool = True
    include_genres: frozenset[str] = frozenset()
    """If set, a result must have at least one of these genres."""
    exclude_genres: frozenset[str] = frozenset()
    """A result must have none of these genres."""
    exclude: frozenset[int] = frozenset()
    """MAL ids never to recommend (already watched, not interested)."""
    novelty: float = NOVELTY
    """Not a filter but a lean, 0 to 1: how much of the model's popularity prior (its output
    bias) is taken out of every score. 0 is the model as trained, 1 ranks by fit to the
    favourites alone (benchmarks/RESULTS.md, "Reasons, novelty and franchises", measures what it costs and gives)."""
    new_share: float = NEW_SHARE
    """At most this share of the results (rounded up) are anime without ratings, known from
    their metadata alone, and of every first n results at most ``ceil(new_share * n)`` (1 of
    the first 5, 2 of the first 10 at 0.2), unless too few rated anime pass the filters to
    fill the list; 1 ranks them freely among the rest. Their scores run high (nothing in the
    data holds them down): left free they take top-10 places from rated anime the users went
    on to like (benchmarks/RESULTS.md, "Anime without ratings", measures the trade)."""
    year_from: int | None = None
    """If set, a result must have started in this year or later."""
    year_to: int | None = None
    """If set, a result must have started in this year or earlier.

    With either bound set, anime whose year the catalogue does not know are left out: a
    range asks for anime known to be in it.
    """

    @property
    def years(self) -> bool:
        """Whether a year range is set."""
        return self.year_from is not None or self.year_to is not None


@dataclass
class Recommendation:
    """One recommended anime, with what a person needs to judge it."""

    mal_id: int
    title: str
    title_english: str | None
    type: str | None
    episodes: int | None
    genres: list[str]
    members: int | None
    score: float
    because: list[str] = field(default_factory=list)
    """The favourites that make up most of what the request adds to its score (see
    ``reasons.Reasons``), at most two, largest share first. ``reasons.LIST_REASON`` ("your
    whole list") stands where the model's vote of the whole list outweighs a favourite's
    share: the result is carried by the list together (and its popularity), not by one
    favourite. A favourite whose share would read "0%" is never a reason."""
    url: str = ""
    year: int | None = None
    """The year it started, when the catalogue knows it."""
    rated: bool = True
    """Whether the model learnt it from ratings; False: known from its genres, studio and year only."""
    franchise_more: int = 0
    """Other entries of its franchise that passed the filters but are not in the list."""
    because_share: list[float | None] = field(default_factory=list)
    """Each ``because`` favourite's share (0-1, at least 0.01) of what the request adds to the
    score over the popularity prior: its share of the model's votes and, with the item-item
    blend, of the blend's part, weighted by what each part adds (``BlendedScorer.shares``).
    None for ``LIST_REASON`` and where the readout has no such split (the mask readout)."""
    mal_score: float | None = None
    """Its mean score on MyAnimeList (1-10), when the catalogue has it."""

    def reasons(self) -> str:
        """``because`` as one line: titles with their shares, joined by " · " (no title contains it)."""
        return " · ".join(title if share is None else f"{title} {share:.0%}" for title, share in zip(self.because, self.because_share))

    def to_dict(self) -> dict:
        keys = ("mal_id", "title", "title_english", "type", "episodes", "year", "genres", "members", "mal_score", "score", "rated", "because", "because_share", "franchise_more", "url")
        return {k: getattr(self, k) for k in keys}


@dataclass
class Result:
    """Recommendations plus the favourites the model could not use."""

    items: list[Recommendation]
    unknown: list[int]



class Pick(NamedTuple):
    """A recommendation as a program reads it (``recommend --batch``): the anime and its score, no reasons or catalogue fields."""

    mal_id: int
    title: str
    score: float


@dataclass
class Picks:
    """``Engine.pick_many``'s answer to a request: its picks, best first, plus the favourites the model could not use."""

    items: list[Pick]
    unknown: list[int]
