"""How anime, favourites and filters are written on screen: one place for every label."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.markup import escape
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


NARROW_LIST = 40
"""Below this many cells, a search row shows only type and year after its title."""


def match_text(entry: dict, favourite: bool, width: int = 0, title: str | None = None) -> Text:
    """One line of the search list: the favourite star, title (or ``title``, its English one),
    then type, year, episodes and members. In a list ``width`` cells wide the title is cut to
    leave room for the rest, and below ``NARROW_LIST`` the rest is type and year only: three
    seasons of one title ("Ore dake Level Up na Ken…") are told apart by them.

    Every catalogue anime can be a favourite, so nothing here depends on the model.
    """
    year = str(entry["year"]) if entry.get("year") else "?"
    kind = entry.get("type") or "?"
    narrow = 0 < width < NARROW_LIST
    meta = f"{kind} {year}" if narrow else f"{kind} · {year} · {entry.get('episodes') or '?'} ep · {members_text(entry.get('members'))}"
    text = Text(no_wrap=True, overflow="ellipsis")
    if favourite:
        text.append("★ ", style="bold")  # first, where a narrow pane's ellipsis cannot hide it
    name = Text(title or entry["title"])
    if width:
        room = max(6, width - text.cell_len - len(meta) - 2)
        name.truncate(room, overflow="ellipsis")
    text.append_text(name)
    text.append("  ")
    text.append(meta, style="dim")
    return text


def english_title(entry: dict) -> str:
    """The anime's English title where the catalogue has one, else its MyAnimeList title."""
    return entry.get("title_english") or entry["title"]


def favourite_text(entry: dict | None, mal_id: int, known: bool | None, rated: bool = True, english: bool = False) -> Text:
    """One line of the favourites list (``english``: its English title where there is one); an id the catalogue lacks shows as its number.

    ``known``: whether the model can use it (None while it loads); ``rated``: whether it learnt
    it from ratings, else the line starts with the "new" mark. One the model cannot use (an id
    the catalogue lacks, or a model trained on part of the catalogue) is dimmed and says so.
    """
    unknown = known is False
    name = (english_title(entry) if english else entry["title"]) if entry else f"MAL id {mal_id}"
    title = _tagged(name, rated or not known, "dim italic" if unknown else "")
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


def filters_parts(filters: Filters, not_interested: int, short: bool = False) -> list[str]:
    """What the recommendations leave out, part by part; ``short``: abbreviated for a narrow status line."""
    parts = [", ".join(sorted(filters.types)) if filters.types else "all types"]
    if filters.include_genres:
        parts.append(("" if short else "genres: ") + ", ".join(sorted(filters.include_genres)))
    if (years := years_text(filters)) is not None:
        parts.append(("" if short else "years ") + years)
    parts.append("no sequels" if filters.hide_sequels else "sequels")
    parts.append("no adult" if filters.hide_adult else "adult" if short else "adult shown")
    if filters.novelty:
        parts.append(f"novelty {filters.novelty:.2f}")
    if filters.new_share != type(filters).new_share:  # the default goes unsaid
        share = filters.new_share
        parts.append(("new: none" if share <= 0 else "new: any" if share >= 1 else f"new ≤{share:.0%}") if short else f"new: {new_share_text(share)}")
    if not_interested:
        parts.append(f"{not_interested} not interested")
    return parts


@dataclass(frozen=True)
class StatusLine:
    """The status line over the results, in a long and a short form: console markup, part by part."""

    long: tuple[str, ...]
    short: tuple[str, ...]
    legend: str = ""
    """What the yellow mark means: last, and left out where there is no room (F1 says it too)."""
    note: tuple[str, str] = ("", "")
    """A sentence on lines of its own under the parts, just over the results, long and short (plain text, not markup): the short one where the long takes over two lines."""


def fit_status(status: StatusLine, width: int, lines: int = 2) -> str:
    """The first form of ``status`` that fits ``lines`` lines of ``width`` cells (long, then short,
    then short without the legend), broken only between its " · " parts; the short form
    takes as many lines as it needs when none fits."""
    forms = [
        [*status.long, *([status.legend] if status.legend else [])],
        [*status.short, *([status.legend] if status.legend else [])],
        list(status.short),
    ]
    note = [escape(line) for line in _note_lines(status.note, width)]
    for parts in forms:
        broken = break_parts(parts, width)
        if len(broken) <= lines:
            return "\n".join([*broken, *note])
    return "\n".join([*break_parts(forms[-1], width), *note])


def _note_lines(note: tuple[str, str], width: int) -> list[str]:
    long, short = note
    wrapped = textwrap.wrap(long, width)
    return wrapped if len(wrapped) <= 2 else textwrap.wrap(short, width)


def break_parts(parts: list[str], width: int) -> list[str]:
    """Markup parts joined with " · " into lines of at most ``width`` cells (a part longer than that has a line of its own)."""
    broken: list[str] = []
    for part in parts:
        if broken and Text.from_markup(broken[-1] + " · " + part).cell_len <= width:
            broken[-1] += " · " + part
        else:
            broken.append(part)
    return broken
