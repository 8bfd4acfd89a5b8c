"""What the app remembers besides the favourites: the filters, the theme, the watched list,
English titles or not, and the last export's file ending.

``settings.json`` beside ``favourites.json`` (see :func:`animerec_tui.paths.home_dir`),
``{"version": 1, "filters": {...}, "theme": "...", "watched": [...], "hide_watched": false,
"english_titles": false, "export_extension": ".md"}``; a file without the last two (written
before they were remembered) loads with their defaults.

Reading never raises: a value that does not check out (hand-edited, a wrong type) is left
out, its default used and a warning set, and the next change writes the file whole again.
A file that cannot be trusted as a whole (unreadable, not JSON, not a settings object, a
newer version, fields this version does not know) is never written over: the defaults
stand in, :attr:`Settings.writable` is False and :meth:`SettingsStore.update` refuses with
the reason, so the user's watched list and filters survive until they fix or remove it.

Two TUIs may change it at once: :meth:`SettingsStore.update` re-reads the file under an
exclusive ``fcntl.flock`` on the sibling ``settings.json.lock``, replaces only the fields it
is given and writes atomically, so one terminal's import does not undo another's filter
change. A symlinked ``settings.json`` is written through to its target (the lock lives
beside the target). Never imports Textual.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from animerec_tui.defaults import YEAR_MAX, YEAR_MIN
from animerec_tui.engine import Filters
from animerec_tui.export import FORMATS
from animerec_tui.favourites import UnreadableState, lock_of, locked, read_state_bytes, refuse_read_only, write_target
from animerec_tui.paths import home_dir
from training.catalog import TYPES
from training.errors import UserError
from training.fsutil import atomic_write_bytes

FILE_NAME = "settings.json"
VERSION = 1
YEARS = (YEAR_MIN, YEAR_MAX)
KEYS = frozenset({"version", "filters", "theme", "watched", "hide_watched", "english_titles", "export_extension"})
"""The top-level fields this version writes; a file with others came from a newer animerec."""
FIELDS = ("filters", "theme", "watched", "hide_watched", "english_titles", "export_extension")
"""The fields :meth:`SettingsStore.update` may change."""


@dataclass
class Settings:
    filters: Filters = field(default_factory=Filters)
    theme: str | None = None
    watched: tuple[int, ...] = ()
    """MAL ids of a MyAnimeList export's entries (all but plan-to-watch), from the TUI's import."""
    hide_watched: bool = False
    """Whether ``watched`` leave the recommendations."""
    english_titles: bool = False
    """Whether the app shows English titles where the catalogue has one (``e``)."""
    export_extension: str = ".md"
    """The ending of the last file exported (a key of ``export.FORMATS``): F7 offers it again."""
    warning: str | None = None
    """Set when the file could not be read whole: what was wrong (the defaults stand in)."""
    writable: bool = True
    """False when writing would destroy what the file holds (unreadable, not JSON, from a
    newer animerec, unknown fields): :meth:`SettingsStore.update` then refuses."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _names(value: object, allowed: frozenset[str] | None = None) -> bool:
    """Whether ``value`` is a JSON list of strings (each in ``allowed`` if given)."""
    return isinstance(value, list) and all(isinstance(v, str) and (allowed is None or v in allowed) for v in value)


def _share(value: object) -> bool:
    """A number from 0 to 1 (a huge int is compared exactly, never turned into a float first)."""
    if _is_int(value):
        return 0 <= value <= 1  # type: ignore[operator]
    return isinstance(value, float) and math.isfinite(value) and 0 <= value <= 1


def _year(value: object) -> bool:
    return value is None or (_is_int(value) and YEARS[0] <= value <= YEARS[1])  # type: ignore[operator]


FILTER_CHECKS: dict[str, tuple[Callable[[object], bool], Callable[[Any], object]]] = {
    "types": (lambda v: _names(v, frozenset(TYPES)), frozenset),
    "include_genres": (_names, frozenset),
    "exclude_genres": (_names, frozenset),
    "hide_sequels": (lambda v: isinstance(v, bool), bool),
    "one_per_franchise": (lambda v: isinstance(v, bool), bool),
    "hide_adult": (lambda v: isinstance(v, bool), bool),
    "novelty": (_share, float),
    "new_share": (_share, float),
    "year_from": (_year, lambda v: v),
    "year_to": (_year, lambda v: v),
}
"""Each filter field's JSON check, and how a value that passed becomes the Filters value."""


def _filters(document: object) -> tuple[Filters, list[str], list[str]]:
    """Filters from their JSON form; the names of the fields refused, and of those not known."""
    if not isinstance(document, dict):
        return Filters(), ["filters"] if document is not None else [], []
    changes: dict[str, object] = {}
    refused: list[str] = []
    for key, (check, convert) in FILTER_CHECKS.items():
        if key in document:
            value = document[key]
            if check(value):
                changes[key] = convert(value)
            else:
                refused.append(key)
    unknown = sorted(str(key) for key in document if key not in FILTER_CHECKS)
    filters = replace(Filters(), **changes)  # type: ignore[arg-type]
    if filters.year_from is not None and filters.year_to is not None and filters.year_from > filters.year_to:
        filters, refused = replace(filters, year_from=None, year_to=None), [*refused, "year range"]
    return filters, refused, unknown


def filters_document(filters: Filters) -> dict:
    """``filters`` as JSON (what the user chose; the not-interested list lives with the favourites)."""
    return {
        "types": sorted(filters.types), "include_genres": sorted(filters.include_genres), "exclude_genres": sorted(filters.exclude_genres),
        "hide_sequels": filters.hide_sequels, "one_per_franchise": filters.one_per_franchise, "hide_adult": filters.hide_adult,
        "novelty": filters.novelty, "new_share": filters.new_share, "year_from": filters.year_from, "year_to": filters.year_to,
    }


def _document(settings: Settings) -> bytes:
    document = {
        "version": VERSION, "filters": filters_document(settings.filters), "theme": settings.theme,
        "watched": list(settings.watched), "hide_watched": settings.hide_watched,
        "english_titles": settings.english_titles, "export_extension": settings.export_extension,
    }
    return (json.dumps(document, indent=1) + "\n").encode("utf-8")


def _check_changes(changes: dict[str, object]) -> None:
    """Refuse (TypeError: a caller's bug, not the user's) a field or a value update cannot write."""
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise TypeError(f"SettingsStore.update() got unknown fields {sorted(unknown)}; it takes {', '.join(FIELDS)}")
    if "filters" in changes and not isinstance(changes["filters"], Filters):
        raise TypeError("filters must be a Filters")
    if "theme" in changes and not (changes["theme"] is None or isinstance(changes["theme"], str)):
        raise TypeError("theme must be a str or None")
    if "hide_watched" in changes and not isinstance(changes["hide_watched"], bool):
        raise TypeError("hide_watched must be a bool")
    if "english_titles" in changes and not isinstance(changes["english_titles"], bool):
        raise TypeError("english_titles must be a bool")
    if "export_extension" in changes and changes["export_extension"] not in FORMATS:
        raise TypeError(f"export_extension must be one of {', '.join(FORMATS)}")
    if "watched" in changes:
        watched: Any = changes["watched"]
        if isinstance(watched, (str, bytes)) or not all(isinstance(i, numbers.Integral) and not isinstance(i, bool) and int(i) > 0 for i in watched):
            raise TypeError("watched must be positive MAL ids")
        changes["watched"] = tuple(dict.fromkeys(int(i) for i in watched))


class SettingsStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else home_dir() / FILE_NAME

    @property
    def lock_path(self) -> Path:
        """The lock file, beside the file actually written (a symlink's target)."""
        return lock_of(write_target(self.path))

    def load(self) -> Settings:
        """The settings; never raises (see the module docstring for what a bad file gives)."""
        try:
            data = read_state_bytes(self.path)
        except FileNotFoundError:
            return Settings()
        except UnreadableState as error:
            return self._refused(f"could not be read ({error})")
        try:
            document = json.loads(data)
        except (ValueError, RecursionError) as error:  # RecursionError: "[[[[..." nested too deep
            return self._refused(f"not JSON ({str(error)[:80]})")
        if not isinstance(document, dict):
            return self._refused("not a settings file (not a JSON object)")
        version = document.get("version")
        if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
            return self._refused(f"written by a newer animerec (version {version}; this one reads {VERSION})")
        if version != VERSION:
            return self._refused(f"not a settings file of this animerec (version {str(version)[:20]!r})")
        filters, refused, unknown_filters = _filters(document.get("filters"))
        theme = document.get("theme")
        if theme is not None and not isinstance(theme, str):
            theme, refused = None, [*refused, "theme"]
        watched = document.get("watched", [])
        if not (isinstance(watched, list) and all(_is_int(i) and i > 0 for i in watched)):
            watched, refused = [], [*refused, "watched"]
        hide_watched = document.get("hide_watched", False)
        if not isinstance(hide_watched, bool):
            hide_watched, refused = False, [*refused, "hide_watched"]
        english = document.get("english_titles", False)
        if not isinstance(english, bool):
            english, refused = False, [*refused, "english_titles"]
        extension = document.get("export_extension", ".md")
        if not (isinstance(extension, str) and extension in FORMATS):
            extension, refused = ".md", [*refused, "export_extension"]
        unknown = sorted(str(key) for key in document if key not in KEYS) + [f"filters.{key}" for key in unknown_filters]
        settings = Settings(filters, theme, tuple(dict.fromkeys(watched)), hide_watched, english, extension)
        problems = []
        if refused:
            problems.append(f"left out what did not check ({', '.join(refused)})")
        if unknown:
            settings.writable = False
            # A key is the file's, any string: shown as Python writes it when it is not printable (a newline would break the one-line warning).
            shown = ", ".join((name if name.isprintable() else ascii(name))[:40] for name in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
            problems.append(f"has fields this animerec does not know ({shown}), so changes are not saved to it")
        settings.warning = f"{self.path}: {'; '.join(problems)}" if problems else None
        return settings

    def _refused(self, reason: str) -> Settings:
        return Settings(warning=f"{self.path}: {reason}; the default filters stand in and changes are not saved to it", writable=False)

    def update(self, **changes: object) -> Settings:
        """Change only the fields given (``filters``, ``theme``, ``watched``, ``hide_watched``,
        ``english_titles``, ``export_extension``) in
        the file as it is now, and return the settings as written.

        Done under the lock on a fresh read, so what another terminal changed in the other
        fields stays. Raises UserError (and writes nothing) when the file cannot be trusted
        (:attr:`Settings.writable` False) or cannot be written.
        """
        _check_changes(changes)
        target = write_target(self.path)  # resolved once: the lock, the check and the write go beside it
        with locked(lock_of(target)):
            current = self.load()
            if not current.writable:
                raise UserError(f"{current.warning}; fix or remove it to save settings again")
            merged = replace(current, **changes, warning=None)  # type: ignore[arg-type]
            refuse_read_only(target, "settings")
            atomic_write_bytes(target, _document(merged), mode=0o600)
            return merged
