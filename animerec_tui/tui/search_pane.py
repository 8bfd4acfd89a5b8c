"""The search pane: a search box and the titles matching it, fzf style.

The box keeps the focus: typing edits the query, ↑/↓ (or ctrl+p/ctrl+n) move the highlight
in the list under it, Enter adds the highlighted title. A key that acts on the list never
acts on an older query's matches: if the answer for what is in the box has not come back
yet, the pane asks for it on the spot (``search_now``) before it moves or adds, so keys
typed in one burst (a paste, tmux send-keys, a fast typist) do what they would one by one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import var
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from animerec_tui.tui.formatting import english_title, mal_id_of, match_text
from animerec_tui.tui.inputs import OrderedInput
from animerec_tui.tui.messages import AddFavourites, SearchChanged, ShowDetails

if TYPE_CHECKING:
    from animerec_tui.search import Match
    from training.catalog import Catalog


class MatchList(OptionList, can_focus=False):
    """Titles matching the search, under the box that keeps the focus (a click adds one too)."""

    def highlighted_id(self) -> int | None:
        """The MAL id under the highlight, if any."""
        if self.highlighted is None or self.option_count == 0:
            return None
        option_id = self.get_option_at_index(self.highlighted).id
        return None if option_id is None else int(option_id)


class SearchBox(OrderedInput):
    """The query; the keys that act on the matches are the pane's."""

    BINDINGS = [
        Binding("down,ctrl+n", "move(1)", "Next match", tooltip="Move the highlight down the matching titles"),
        Binding("up,ctrl+p", "move(-1)", "Previous match", tooltip="Move the highlight up"),
        Binding("pagedown", "move(10)", "10 down", show=False, tooltip="Ten matches down"),
        Binding("pageup", "move(-10)", "10 up", show=False, tooltip="Ten matches up"),
        Binding("enter", "add", "Add", tooltip="Add the highlighted title to your favourites; the query stays selected, so typing starts the next"),
        Binding("right", "details", "Details", show=False, tooltip="At the end of the query: everything about the highlighted title"),
        Binding("escape", "escape", "Clear", show=False, tooltip="Clear the query; on an empty one, go to the recommendations"),
    ]

    def action_move(self, steps: int) -> None:
        self._pane().move(steps)

    def action_add(self) -> None:
        self._pane().add()

    def action_details(self) -> None:
        if self.cursor_position < len(self.value) or not self.selection.is_empty:
            self.action_cursor_right()
        else:
            self._pane().details()

    def action_escape(self) -> None:
        if self.value:
            self.value = ""
        else:
            self.screen.query_one("#results").focus()  # as F1 says (focus_next went to the favourites)

    def _on_paste(self, event: events.Paste) -> None:
        """A paste of several lines is a list of titles: each line is searched for and its top
        match added, as if typed with Enter after it. One line is text to edit, as in any box."""
        lines = [line.strip() for line in event.text.splitlines() if line.strip()]
        if len(lines) < 2:
            return  # Input's own handler runs next
        event.stop()
        event.prevent_default()
        for line in lines:
            self.value = line
            self.cursor_position = len(line)
            self._pane().add()

    def _pane(self) -> SearchPane:
        pane = self.parent
        assert isinstance(pane, SearchPane)
        return pane


class SearchPane(Vertical):
    """The search box and its matches.

    Posts SearchChanged as the query changes, AddFavourites on Enter and ShowDetails on →;
    the main screen runs the search and binds the matches and the query they answer back.
    """

    catalog: var[Catalog | None] = var(None)
    """The catalogue, for each match's type, episodes and members."""
    favourites: var[tuple[int, ...]] = var(())
    """The favourites, starred in the list."""
    matches: var[list[Match]] = var(list)
    """The titles matching the query, best first."""
    answered: var[str | None] = var(None)
    """The query ``matches`` answer (None: none yet)."""
    english: var[bool] = var(False)
    """Whether titles show in English where the catalogue has one."""

    def __init__(self, search_now: Callable[[str], None], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.search_now = search_now
        """Answer a query at once (setting ``matches`` and ``answered``), not in the background."""

    def compose(self) -> ComposeResult:
        yield SearchBox(placeholder="search anime… (/)", id="search")
        yield MatchList(id="search-results")

    @property
    def box(self) -> SearchBox:
        return self.query_one(SearchBox)

    def focus_search(self) -> None:
        """Put the cursor in the search box (its text selected: typing replaces it)."""
        self.box.focus()

    def _current(self) -> MatchList:
        """The list, answering what is in the box now."""
        if self.answered != self.box.value:
            self.search_now(self.box.value)
        return self.query_one(MatchList)

    def move(self, steps: int) -> None:
        matches = self._current()
        if matches.option_count:
            at = 0 if matches.highlighted is None else matches.highlighted
            matches.highlighted = max(0, min(matches.option_count - 1, at + steps))

    def add(self) -> None:
        mal_id = self._current().highlighted_id()
        if mal_id is None:
            self.notify("no matches" if self.box.value.strip() else "type a title to search for", severity="warning")
            return
        self.post_message(AddFavourites([mal_id]))
        self.box.select_all()  # the next title typed replaces this query

    def details(self) -> None:
        if (mal_id := self._current().highlighted_id()) is not None:
            self.post_message(ShowDetails(mal_id))

    @on(Input.Changed, "#search")
    def query_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(SearchChanged(event.value))

    @on(Input.Submitted, "#search")
    def submitted(self, event: Input.Submitted) -> None:
        event.stop()  # Enter is the box's add binding; nothing else submits

    @on(OptionList.OptionSelected, "#search-results")
    def picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(AddFavourites([mal_id_of(event.option.id)]))

    def watch_matches(self) -> None:
        self._show(reset=True)

    def watch_answered(self) -> None:
        self._show(reset=True)  # an empty answer to a new query is news too

    def watch_favourites(self) -> None:
        self._show()

    def watch_english(self) -> None:
        self._show()

    def on_resize(self) -> None:
        self._show()  # the rows are cut to the list's width

    def _show(self, reset: bool = False) -> None:
        """(Re)draw the list, keeping the highlight unless a new answer arrived."""
        if self.catalog is None:
            return
        matches = self.query_one(MatchList)
        highlighted = matches.highlighted
        matches.clear_options()
        by_id = self.catalog.by_id
        if self.matches:
            width = matches.content_region.width
            if len(self.matches) > matches.content_region.height:  # the scrollbar will take its columns
                width -= matches.styles.scrollbar_size_vertical
            matches.add_options(Option(match_text(by_id[m.mal_id], m.mal_id in self.favourites, width, english_title(by_id[m.mal_id]) if self.english else None), id=str(m.mal_id)) for m in self.matches)
            matches.highlighted = 0 if reset or highlighted is None else min(highlighted, len(self.matches) - 1)
        elif self.answered and self.answered.strip():
            # Text, not markup: a query is whatever was typed ("x[/" was a MarkupError that closed the app).
            matches.add_option(Option(Text(f"no matches for “{self.answered.strip()}”"), disabled=True))
