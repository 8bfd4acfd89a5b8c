"""The search pane: a search box and the titles matching it, with their keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import var
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from animerec_tui.tui.formatting import match_text
from animerec_tui.tui.messages import AddFavourites, SearchChanged, ShowDetails

if TYPE_CHECKING:
    from animerec_tui.search import Match
    from training.catalog import Catalog


class MatchList(OptionList):
    """Titles matching the search; Enter adds, → shows details.

    Typing here goes on in the search box, so no letter can set off an action by surprise;
    right after an add it starts a new search, so you just type the next title.
    """

    BINDINGS = [
        Binding("enter", "select", "Add", show=False, tooltip="Add the highlighted anime to your favourites"),
        Binding("right", "details", "Details", tooltip="Everything about the highlighted anime"),
    ]

    def __init__(self, search_box: Input, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.search_box = search_box
        """Where typing goes; the pane that owns both hands it over."""
        self.just_added = False
        """True from an add to the next key: that key starts a new query."""

    def highlighted_id(self) -> int | None:
        """The MAL id under the highlight, if any."""
        if self.highlighted is None or self.option_count == 0:
            return None
        return int(self.get_option_at_index(self.highlighted).id)

    def action_details(self) -> None:
        if (mal_id := self.highlighted_id()) is not None:
            self.post_message(ShowDetails(mal_id))

    def on_option_list_option_selected(self) -> None:
        self.just_added = True  # the pane posts the add; the message goes on up

    def on_key(self, event: events.Key) -> None:
        if not (event.is_printable or event.key == "backspace"):
            return
        search = self.search_box
        # Focus now, not later as focus() would: so the edit below is queued behind the
        # focus event, which selects the whole query (select_on_focus).
        self.screen.set_focus(search)
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


class SearchPane(Vertical):
    """The search box and its matches.

    Posts SearchChanged as the query changes, AddFavourites on Enter in the list and
    ShowDetails on →; the main screen runs the search and binds the matches back.
    """

    BINDINGS = [
        Binding("down", "focus_matches", "Matches", show=False, tooltip="Into the matching titles; ↑ ↓ move along them"),
    ]

    catalog: var[Catalog | None] = var(None)
    """The catalogue, for each match's type, episodes and members."""
    favourites: var[tuple[int, ...]] = var(())
    """The favourites, starred in the list."""
    matches: var[list[Match]] = var(list)
    """The titles matching the query, best first."""

    def compose(self) -> ComposeResult:
        search_box = Input(placeholder="search anime… (/)", id="search")
        yield search_box
        yield MatchList(search_box, id="search-results")

    def focus_search(self) -> None:
        """Put the cursor in the search box."""
        self.query_one("#search", Input).focus()

    def action_focus_matches(self) -> None:
        matches = self.query_one(MatchList)
        if matches.option_count:
            self.screen.set_focus(matches)  # now, not after the keys already queued (↓ Enter typed at once)

    @on(Input.Changed, "#search")
    def query_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(SearchChanged(event.value))

    @on(Input.Submitted, "#search")
    def submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_focus_matches()

    @on(OptionList.OptionSelected, "#search-results")
    def picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(AddFavourites([int(event.option.id)]))

    def watch_matches(self) -> None:
        self._show(reset=True)

    def watch_favourites(self) -> None:
        self._show()

    def _show(self, reset: bool = False) -> None:
        """(Re)draw the list, keeping the highlight unless a new answer arrived."""
        if self.catalog is None:
            return
        matches = self.query_one(MatchList)
        highlighted = matches.highlighted
        matches.clear_options()
        by_id = self.catalog.by_id
        matches.add_options(Option(match_text(by_id[m.mal_id], m.mal_id in self.favourites), id=str(m.mal_id)) for m in self.matches)
        if self.matches:
            matches.highlighted = 0 if reset or highlighted is None else min(highlighted, len(self.matches) - 1)
