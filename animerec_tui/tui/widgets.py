"""The app's lists and table, with the keys that belong to each, and the help text."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import DataTable, OptionList

HELP_ROWS = [
    ("F1", "this help"),
    ("/ or ctrl+f", "search titles (type; results update as you go)"),
    ("↓ / ↑", "move from the search box into the results list and along it"),
    ("Enter (search list)", "add the highlighted anime to favourites"),
    ("i (search list)", "details of the highlighted anime"),
    ("Delete or x (favourites)", "remove the highlighted favourite"),
    ("C (favourites)", "clear all favourites (asks first; also in the command palette)"),
    ("Enter (results)", "details of the highlighted recommendation"),
    ("n (results)", "not interested: hide it from now on (undo: command palette, 'not interested list')"),
    ("F2", "filters: types, genres, sequels, adult titles"),
    ("F3", "toggle hiding sequels"),
    ("F4", "toggle hiding adult titles"),
    ("Tab / shift+Tab", "move between search, favourites and results"),
    ("ctrl+p", "command palette"),
    ("In details", "a add · n not interested · o open MAL page · c copy URL · Esc close"),
    ("ctrl+q", "quit"),
]


class FavouritesList(OptionList):
    """The user's favourites; Delete/x removes, C clears."""

    BINDINGS = [
        Binding("delete,x", "app.remove_favourite", "Remove"),
        Binding("C", "app.clear_favourites", "Clear all"),
        Binding("i", "app.details_favourite", "Details"),
    ]


class SearchResults(OptionList):
    """Titles matching the search; Enter adds, i shows details."""

    BINDINGS = [Binding("i", "app.details_search", "Details")]


class ResultsTable(DataTable):
    """Recommendations; Enter opens details, n hides one."""

    BINDINGS = [Binding("n", "app.not_interested", "Not interested")]
