"""F9: what is new in the favourites' franchises, apart from the recommendations.

The list comes from ``Engine.new_in_franchises`` (its rule: ``engine/news.py``), asked by the
main screen in a thread worker and posted here as ``FranchiseNewsDone``. Per favourite
franchise, a heading and its new and announced entries by air date; Enter opens an entry's
details over this view (where ``a`` adds it to the favourites).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, OptionList, Static
from textual.widgets.option_list import Option

from animerec_tui.defaults import NEW_TAG
from animerec_tui.tui.formatting import mal_id_of
from animerec_tui.tui.messages import FranchiseNewsDone, ShowDetails

if TYPE_CHECKING:
    from textual.message_pump import MessagePump

    from animerec_tui.engine import FranchiseNews, NewEntry

RATINGS_END = (
    "The ratings end in January 2023: these anime are known from their genres, studio and year only, "
    "so their match is less sure. The best anime of {since} on for your taste: F2, years from {since}."
)
"""Under the list: what the data cannot say about these anime, and where the ranking of recent anime is."""
ANNOUNCED = "announced = no air date or MyAnimeList count yet"


def entry_text(entry: NewEntry) -> Text:
    """One entry's line: when it aired (or 'announced'), its type, the new mark and its title."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"  {entry.aired:<11} ", style="dim" if entry.announced else "")
    text.append(f"{entry.type or '?':<7} ", style="dim")
    if not entry.rated:
        text.append(NEW_TAG + " ", style="italic yellow")
    return text.append(entry.title)


def heading_text(news: FranchiseNews) -> Text:
    """A franchise's heading: the favourite(s) its entries continue."""
    names = ", ".join(title for _, title in news.favourites)
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(news.title, style="bold")
    if names != news.title:
        text.append(f"  (your {names})", style="dim")
    return text


class FranchiseScreen(ModalScreen[None]):
    """New seasons, films and spin-offs of the favourites' franchises, aired from ``since`` on or announced."""

    BINDINGS = [
        Binding("escape,q,f9", "close", "Close", tooltip="Back to the recommendations"),
        Binding("enter", "open", "Details", tooltip="Open the highlighted anime's details (a adds it there)"),
    ]

    def __init__(self, favourites: tuple[int, ...], since: int, opener: MessagePump) -> None:
        super().__init__()
        self.favourites = favourites
        """The favourites the list answers: an answer for others is dropped."""
        self.since = since
        self.opener = opener
        """Where ShowDetails goes: the main screen."""

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Label(f"[b]New in your franchises[/b] from {self.since} or announced · Enter details")
            yield OptionList(id="franchise-news")
            yield Static(Text(RATINGS_END.format(since=self.since), style="dim"), id="franchise-note")
        yield Footer()

    def on_mount(self) -> None:
        news = self.query_one("#franchise-news", OptionList)
        news.loading = True  # until FranchiseNewsDone
        news.focus()

    @on(FranchiseNewsDone)
    def show_news(self, message: FranchiseNewsDone) -> None:
        if message.favourites != self.favourites:
            return
        listing = self.query_one("#franchise-news", OptionList)
        listing.loading = False
        listing.clear_options()
        options: list[Option] = []
        for news in message.news:
            options.append(Option(heading_text(news), disabled=True))
            options += [Option(entry_text(entry), id=str(entry.mal_id)) for entry in news.entries]
        if not options:
            options.append(Option(Text(f"nothing new in your favourites' franchises from {self.since} on, and nothing announced", style="dim"), disabled=True))
        listing.add_options(options)
        if any(e.announced for news in message.news for e in news.entries):
            note = self.query_one("#franchise-note", Static)
            note.update(Text(f"{ANNOUNCED}. {RATINGS_END.format(since=self.since)}", style="dim"))
        first = next((i for i, option in enumerate(options) if not option.disabled), None)
        if first is not None:
            listing.highlighted = first

    @on(OptionList.OptionSelected, "#franchise-news")
    def open_entry(self, event: OptionList.OptionSelected) -> None:
        self.opener.post_message(ShowDetails(mal_id_of(event.option.id)))

    def action_open(self) -> None:
        listing = self.query_one("#franchise-news", OptionList)
        if listing.highlighted is not None:
            listing.action_select()

    def action_close(self) -> None:
        self.dismiss(None)
