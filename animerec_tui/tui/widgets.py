"""The app's lists and table, with the keys that belong to each, and the help text."""

from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.widgets import DataTable, Input, OptionList

HELP_ROWS = [
    ("F1", "this help"),
    ("/ or ctrl+f", "search titles (type; results update as you go)"),
    ("↓ / ↑", "move from the search box into the results list and along it"),
    ("Enter (search list)", "add the highlighted anime to favourites"),
    ("→ (search list)", "details of the highlighted anime; typing goes on in the search box"),
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
    """Titles matching the search; Enter adds, → shows details.

    Typing here goes on in the search box, so no letter can set off an action by surprise;
    right after an add it starts a new search, so you just type the next title.
    """

    BINDINGS = [Binding("right", "app.details_search", "Details")]
    just_added = False

    def on_option_list_option_selected(self) -> None:
        self.just_added = True  # the app adds it; the message goes on up

    def on_key(self, event: events.Key) -> None:
        if not (event.is_printable or event.key == "backspace"):
            return
        search = self.app.query_one("#search", Input)
        self.app.set_focus(search)  # now, not later as focus() would: so the edit below
        # is queued behind the focus event, which selects the whole query (select_on_focus).
        search.call_later(self._type_into, search, None if event.key == "backspace" else event.character or "", self.just_added)
        self.just_added = False
        event.stop()
        event.prevent_default()

    @staticmethod
    def _type_into(search: Input, character: str | None, fresh: bool) -> None:
        if fresh and character is not None:
            search.value = character
        search.cursor_position = len(search.value)  # drops the selection: edit at the end
        if character is None:
            search.action_delete_left()
        elif not fresh:
            search.insert_text_at_cursor(character)


class ResultsTable(DataTable):
    """Recommendations; Enter opens details, n hides one."""

    BINDINGS = [Binding("n", "app.not_interested", "Not interested")]
