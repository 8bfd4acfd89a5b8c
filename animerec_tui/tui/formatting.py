"""How anime, favourites and filters are written on screen: one place for every label."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

if TYPE_CHECKING:
    from animerec_tui.engine import Filters, Recommendation


def members_text(members: int | None) -> str:
    """1234567 -> '1.2M', 45600 -> '45.6k'."""
    if not members:
        return "?"
    if members >= 1_000_000:
        return f"{members / 1_000_000:.1f}M"
    if members >= 1_000:
        return f"{members / 1_000:.1f}k"
    return str(members)


def match_text(entry: dict, known: bool | None, favourite: bool) -> Text:
    """One line of the search list: title, type, episodes, members, and marks.

    ``known`` is whether the model knows the anime (None while it loads). Unknown titles are
    dimmed as a whole, so the mark survives a narrow pane's ellipsis.
    """
    unknown = known is False
    text = Text(entry["title"] + "  ", no_wrap=True, overflow="ellipsis", style="dim italic" if unknown else "")
    text.append(f"{entry.get('type') or '?'} · {entry.get('episodes') or '?'} ep · {members_text(entry.get('members'))}", style="dim")
    if unknown:
        text.append("  not in model", style="italic yellow")
    if favourite:
        text.append("  ★", style="bold")
    return text


def favourite_text(entry: dict | None, mal_id: int, known: bool | None) -> Text:
    """One line of the favourites list; an id the catalogue lacks shows as its number."""
    unknown = known is False
    title = Text(entry["title"] if entry else f"MAL id {mal_id}", no_wrap=True, overflow="ellipsis", style="dim italic" if unknown else "")
    if unknown:
        title.append(" (not in model)", style="italic yellow")
    return title


def similar_text(item: Recommendation) -> Text:
    """One line of the details view's similar anime."""
    return Text.assemble(item.title + "  ", (f"{item.type or '?'} · {members_text(item.members)}", "dim"))


def filters_text(filters: Filters, not_interested: int) -> str:
    """'all types · sequels · no adult · 2 not interested': what the recommendations leave out."""
    parts = [", ".join(sorted(filters.types)) if filters.types else "all types"]
    if filters.include_genres:
        parts.append("genres: " + ", ".join(sorted(filters.include_genres)))
    parts.append("no sequels" if filters.hide_sequels else "sequels")
    parts.append("no adult" if filters.hide_adult else "adult shown")
    if not_interested:
        parts.append(f"{not_interested} not interested")
    return " · ".join(parts)
