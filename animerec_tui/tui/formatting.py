"""How anime, favourites and filters are written on screen: one place for every label."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from animerec_tui.defaults import NEW_TAG

if TYPE_CHECKING:
    from animerec_tui.engine import Filters, Recommendation


def mal_id_of(key: str | None) -> int:
    """The MAL id an anime's option or table row is keyed by (each is made with ``str(mal_id)``)."""
    if key is None:
        raise TypeError("an anime's option or row carries its MAL id; this one has none")
    return int(key)


def members_text(members: int | None) -> str:
    """1234567 -> '1.2M', 45600 -> '45.6k'."""
    if not members:
        return "?"
    if members >= 1_000_000:
        return f"{members / 1_000_000:.1f}M"
    if members >= 1_000:
        return f"{members / 1_000:.1f}k"
    return str(members)



def _tagged(title: str, rated: bool, style: str = "") -> Text:
    text = Text(no_wrap=True, overflow="ellipsis", style=style)
    if not rated:
        text.append(NEW_TAG + " ", style="italic yellow")
    return text.append(title)


def match_text(entry: dict, favourite: bool) -> Text:
    """One line of the search list: the favourite star, title, type, year, episodes, members.

    Every catalogue anime can be a favourite, so nothing here depends on the model.
    """
    text = Text(no_wrap=True, overflow="ellipsis")
    if favourite:
        text.append("★ ", style="bold")  # first, where a narrow pane's ellipsis cannot hide it
    text.append(entry["title"] + "  ")
    year = f" · {entry['year']}" if entry.get("year") else ""
    text.append(f"{entry.get('type') or '?'}{year} · {entry.get('episodes') or '?'} ep · {members_text(entry.get('members'))}", style="dim")
    return text


def favourite_text(entry: dict | None, mal_id: int, known: bool | None, rated: bool = True) -> Text:
    """One line of the favourites list; an id the catalogue lacks shows as its number.

    ``known``: whether the model can use it (None while it loads); ``rated``: whether it learnt
    it from ratings, else the line starts with the "new" mark. One the model cannot use (an id
    the catalogue lacks, or a model trained on part of the catalogue) is dimmed and says so.
    """
    unknown = known is False
    title = _tagged(entry["title"] if entry else f"MAL id {mal_id}", rated or not known, "dim italic" if unknown else "")
    if unknown:
        title.append(" (not in the catalogue)" if entry is None else " (not in this model)", style="italic yellow")
    return title


def result_title(item: Recommendation, title: str | None = None) -> Text:
    """A recommendation's title (or ``title``, its English one) for the results table, marked "new" when known from metadata only."""
    return _tagged(title or item.title, item.rated)


def years_text(filters: Filters) -> str | None:
    """'2010-2015', 'from 2010', 'to 1999' or None: the year range of ``filters``."""
    start, end = filters.year_from, filters.year_to
    if start is not None and end is not None:
        return str(start) if start == end else f"{start}-{end}"
    if start is not None:
        return f"from {start}"
    return None if end is None else f"to {end}"


def started_text(entry: dict) -> str | None:
    """'Fall 2006' (season and year), '2006', or the catalogue's own 'premiered' text; None when unknown."""
    if entry.get("year"):
        return f"{entry['season']} {entry['year']}" if entry.get("season") else str(entry["year"])
    return entry.get("premiered") or None


def similar_text(item: Recommendation) -> Text:
    """One line of the details view's similar anime."""
    return Text.assemble(item.title + "  ", (f"{item.type or '?'} · {members_text(item.members)}", "dim"))


def new_share_text(share: float) -> str:
    """'at most 20% of the list', 'any number', 'none': how many anime without ratings may show."""
    return "none" if share <= 0 else "any number" if share >= 1 else f"at most {share:.0%} of the list"


def filters_text(filters: Filters, not_interested: int) -> str:
    """'all types · years 2010-2015 · sequels · no adult · 2 not interested': what the recommendations leave out."""
    parts = [", ".join(sorted(filters.types)) if filters.types else "all types"]
    if filters.include_genres:
        parts.append("genres: " + ", ".join(sorted(filters.include_genres)))
    if (years := years_text(filters)) is not None:
        parts.append("years " + years)
    parts.append("no sequels" if filters.hide_sequels else "sequels")
    parts.append("no adult" if filters.hide_adult else "adult shown")
    if filters.novelty:
        parts.append(f"novelty {filters.novelty:.2f}")
    if filters.new_share != type(filters).new_share:  # the default goes unsaid
        parts.append(f"new: {new_share_text(filters.new_share)}")
    if not_interested:
        parts.append(f"{not_interested} not interested")
    return " · ".join(parts)
