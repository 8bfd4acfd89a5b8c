"""Bodies of ``animerec favourites ...`` and ``animerec import-mal``: catalogue only, no model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from animerec_tui.catalog import load_catalog
from animerec_tui.favourites import FavouritesStore, counted
from animerec_tui.options import printable
from animerec_tui.titles import check_titles, resolve_titles
from training.errors import UserError


def open_store() -> FavouritesStore:
    """The favourites store, loaded; a warning (a damaged file kept aside) goes to stderr on one line."""
    store = FavouritesStore()
    store.load()
    if store.last_warning:
        Console(stderr=True, highlight=False, soft_wrap=True).print(printable(store.last_warning), style="yellow", markup=False)
    return store


def _shown(text: str) -> str:
    """A catalogue field in a table cell: shown as written, never as markup or raw control characters."""
    return escape(printable(text))


def list_favourites(as_json: bool) -> None:
    state = open_store().load()
    if as_json:
        sys.stdout.write(json.dumps({"favourites": state.favourites, "excluded": state.excluded}) + "\n")
        return
    by_id = load_catalog().by_id
    table = Table(title=counted(len(state.favourites)), title_justify="left")
    table.add_column("MAL id", justify="right")
    table.add_column("title")
    table.add_column("type")
    for mal_id in state.favourites:
        entry = by_id.get(mal_id, {})
        table.add_row(str(mal_id), _shown(entry.get("title", "?")), _shown(entry.get("type") or "?"))
    Console(highlight=False).print(table)
    if state.excluded:
        names = ", ".join(by_id.get(i, {}).get("title", str(i)) for i in state.excluded)
        Console(highlight=False).print(f"not interested ({len(state.excluded)}, undo with 'animerec favourites unhide'): {printable(names)}", markup=False)


def change_favourites(action: str, titles: list[str], mal_ids: list[int]) -> None:
    """add / remove favourites, or unhide anime marked not interested.

    Titles are taken as ``recommend`` takes them (``titles.resolve_titles``): one taken for
    another anime is said on stderr, and when any title or id is refused, all of them are told
    in one line and the favourites file is left as it was (the call changes all or nothing).
    """
    check_titles(titles)
    if not titles and not mal_ids:
        raise UserError("name at least one title or --mal-id")
    verb = {"add": "added", "remove": "removed", "unhide": "shown again"}[action]
    store = open_store()
    state = store.load()
    # Removing needs no catalogue entry: a favourite may predate a catalogue update.
    allowed = set(state.favourites) | set(state.excluded) if action != "add" else set()
    catalog = load_catalog()
    try:
        ids = resolve_titles(catalog, titles, mal_ids, allowed)
    except UserError as error:
        raise UserError(f"nothing {verb}: {error}", error.exit_code) from None  # not the titles that did resolve either
    changed = {"add": store.add, "remove": store.remove, "unhide": store.unexclude}[action](ids)
    by_id = catalog.by_id
    names = ", ".join(by_id.get(i, {}).get("title", f"MAL id {i}") for i in changed) or "nothing (no change)"
    Console(highlight=False).print(f"{verb}: {printable(names)}", markup=False)


def clear_favourites(yes: bool) -> None:
    if not yes:
        if sys.stdin is None or not sys.stdin.isatty():  # None: closed (`<&-`)
            raise UserError("clearing needs confirmation: pass --yes")
        if input("Remove every favourite? [y/N] ").strip().lower() not in ("y", "yes"):
            raise UserError("nothing cleared", exit_code=1)
    removed = open_store().clear()
    Console(highlight=False).print(f"cleared {counted(len(removed))}")


def import_mal(path: Path, min_score: int, include_unscored_completed: bool) -> None:
    from animerec_tui.malimport import parse_mal_export

    ids = parse_mal_export(path, min_score, include_unscored_completed)
    catalog = load_catalog()
    usable = [i for i in ids if i in catalog]
    added = open_store().add(usable) if usable else []
    Console(highlight=False).print(  # markup=False: a file named "[red]list.xml" is a name
        f"{printable(path.name)}: {len(ids)} anime scored >= {min_score}"
        + (" or completed unscored" if include_unscored_completed else "")
        + f"; {counted(len(added), 'new favourite')} added, {len(ids) - len(usable)} not in the catalogue",
        markup=False,
    )
