"""What the app remembers besides the favourites: the filters and the theme.

``settings.json`` beside ``favourites.json`` (see :func:`animerec_tui.paths.home_dir`),
``{"version": 1, "filters": {...}, "theme": "..."}``, written atomically on every change.
A value that does not check out (hand-edited, or from another version) is left out and its
default used; an unreadable file gives the defaults and a warning. Never imports Textual.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from animerec_tui.engine import Filters
from animerec_tui.paths import home_dir
from training.catalog import TYPES
from training.fsutil import atomic_write_bytes

FILE_NAME = "settings.json"
VERSION = 1
YEARS = (1900, 2100)


@dataclass
class Settings:
    filters: Filters = field(default_factory=Filters)
    theme: str | None = None
    watched: tuple[int, ...] = ()
    """MAL ids of a MyAnimeList export's entries (all but plan-to-watch), from the TUI's import."""
    hide_watched: bool = False
    """Whether ``watched`` leave the recommendations."""
    warning: str | None = None
    """Set when the file could not be read whole: what was wrong (the defaults stand in)."""


def _filters(document: object) -> tuple[Filters, list[str]]:
    """Filters from their JSON form, and the names of the fields that were refused."""
    if not isinstance(document, dict):
        return Filters(), ["filters"] if document is not None else []
    changes: dict[str, object] = {}
    refused: list[str] = []

    def take(key: str, ok: bool, value: object) -> None:
        if key in document:
            if ok:
                changes[key] = value
            else:
                refused.append(key)

    value = document.get("types")
    take("types", isinstance(value, list) and all(t in TYPES for t in value), frozenset(value or []))
    for key in ("include_genres", "exclude_genres"):
        value = document.get(key)
        take(key, isinstance(value, list) and all(isinstance(g, str) for g in value), frozenset(value or []))
    for key in ("hide_sequels", "one_per_franchise", "hide_adult"):
        take(key, isinstance(document.get(key), bool), document.get(key))
    for key in ("novelty", "new_share"):
        value = document.get(key)
        take(key, isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1, float(value) if isinstance(value, (int, float)) else 0.0)
    for key in ("year_from", "year_to"):
        value = document.get(key)
        take(key, value is None or (isinstance(value, int) and not isinstance(value, bool) and YEARS[0] <= value <= YEARS[1]), value)
    filters = replace(Filters(), **changes)  # type: ignore[arg-type]
    if filters.year_from is not None and filters.year_to is not None and filters.year_from > filters.year_to:
        filters, refused = replace(filters, year_from=None, year_to=None), [*refused, "year range"]
    return filters, refused


def filters_document(filters: Filters) -> dict:
    """``filters`` as JSON (what the user chose; the not-interested list lives with the favourites)."""
    return {
        "types": sorted(filters.types), "include_genres": sorted(filters.include_genres), "exclude_genres": sorted(filters.exclude_genres),
        "hide_sequels": filters.hide_sequels, "one_per_franchise": filters.one_per_franchise, "hide_adult": filters.hide_adult,
        "novelty": filters.novelty, "new_share": filters.new_share, "year_from": filters.year_from, "year_to": filters.year_to,
    }


class SettingsStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else home_dir() / FILE_NAME

    def load(self) -> Settings:
        try:
            document = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return Settings()
        except (OSError, ValueError, RecursionError) as error:
            return Settings(warning=f"{self.path}: could not be read ({error}); the default filters stand in")
        if not isinstance(document, dict) or document.get("version") != VERSION:
            return Settings(warning=f"{self.path}: not a settings file of this animerec; the default filters stand in")
        filters, refused = _filters(document.get("filters"))
        theme = document.get("theme")
        if theme is not None and not isinstance(theme, str):
            theme, refused = None, [*refused, "theme"]
        watched = document.get("watched", [])
        if not (isinstance(watched, list) and all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in watched)):
            watched, refused = [], [*refused, "watched"]
        hide_watched = document.get("hide_watched", False)
        if not isinstance(hide_watched, bool):
            hide_watched, refused = False, [*refused, "hide_watched"]
        warning = f"{self.path}: left out what did not check ({', '.join(refused)})" if refused else None
        return Settings(filters, theme, tuple(dict.fromkeys(watched)), hide_watched, warning)

    def save(self, filters: Filters, theme: str | None, watched: tuple[int, ...] = (), hide_watched: bool = False) -> None:
        """Write the settings (atomically: a crash leaves the old file or the new one)."""
        document = {"version": VERSION, "filters": filters_document(filters), "theme": theme, "watched": list(watched), "hide_watched": hide_watched}
        atomic_write_bytes(self.path, (json.dumps(document, indent=1) + "\n").encode("utf-8"), mode=0o600)
