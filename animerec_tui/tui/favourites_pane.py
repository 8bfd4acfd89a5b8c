"""The favourites pane: the list of favourites, with their keys, and the taste chart."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Iterable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import var
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from animerec_tui.tui.formatting import favourite_text, mal_id_of
from animerec_tui.tui.messages import ClearFavourites, RemoveFavourite, ShowDetails

if TYPE_CHECKING:
    from animerec_tui.engine import Engine
    from training.catalog import Catalog


class FavouritesList(OptionList):
    """The user's favourites; Enter or i shows details, Delete/x removes, C clears.

    Each x acts on the favourite highlighted when it was pressed: the removal it posts travels
    to the main screen ahead of the next key (``InOrderApp``), so the next x finds the list
    rebuilt, with the highlight on the favourite that took the removed one's place."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, tooltip="Next favourite (↓ too)"),
        Binding("k", "cursor_up", "Up", show=False, tooltip="Previous favourite (↑ too)"),
        Binding("delete,x", "remove", "Remove", tooltip="Remove the highlighted favourite"),
        Binding("C", "clear", "Clear all", tooltip="Remove every favourite (asks first)"),
        Binding("i", "details", "Details", tooltip="Everything about the highlighted favourite"),
        Binding("enter", "select", "Details", show=False, tooltip="Everything about the highlighted favourite"),
    ]

    def highlighted_id(self) -> int | None:
        """The MAL id under the highlight, if any."""
        if self.highlighted is None or self.option_count == 0:
            return None
        return mal_id_of(self.get_option_at_index(self.highlighted).id)

    # Stop at the ends, as the results table and vim do: OptionList wraps round, and "k k k k x"
    # sent from the fourth of five removed the last favourite, never seen highlighted.
    def action_cursor_up(self) -> None:
        if self.highlighted is None or self.highlighted > 0:
            super().action_cursor_up()

    def action_cursor_down(self) -> None:
        if self.highlighted is None or self.highlighted < self.option_count - 1:
            super().action_cursor_down()

    def action_remove(self) -> None:
        if (mal_id := self.highlighted_id()) is not None:
            self.post_message(RemoveFavourite(mal_id))

    def action_clear(self) -> None:
        self.post_message(ClearFavourites())

    def action_details(self) -> None:
        if (mal_id := self.highlighted_id()) is not None:
            self.post_message(ShowDetails(mal_id))


class TasteChart(Static):
    """The genre mix of the favourites: the top five genres as bars."""

    def plot(self, genre_lists: Iterable[list[str]]) -> None:
        """Draw the chart for these genre lists (one per favourite), or a hint when empty."""
        counts = Counter(g for genres in genre_lists for g in genres)
        if not counts:
            self.update("[dim]Your taste profile appears here as you add favourites.[/dim]")
            return
        top = counts.most_common(5)
        width = max(len(g) for g, _ in top)
        peak = top[0][1]
        self.update("\n".join(f"{g:<{width}} [$accent]{'█' * max(1, round(14 * c / peak))}[/] {c}" for g, c in top))


class FavouritesPane(Vertical):
    """A heading with the count, the favourites, and the taste chart under them.

    Shows nothing until the catalogue is loaded, so ids never flash up in place of titles.
    """

    catalog: var[Catalog | None] = var(None)
    """The catalogue, for titles and genres."""
    engine: var[Engine | None] = var(None)
    """The model, to mark favourites it knows from metadata only (or not at all); None while it loads."""
    favourites: var[tuple[int, ...]] = var(())
    """MAL ids, in the order they were added."""
    english: var[bool] = var(False)
    """Whether titles show in English where the catalogue has one."""

    def compose(self) -> ComposeResult:
        yield Label("Favourites", id="favourites-label")
        yield FavouritesList(id="favourites")
        yield TasteChart("", id="taste")

    @on(OptionList.OptionSelected, "#favourites")
    def opened(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(ShowDetails(mal_id_of(event.option.id)))

    def watch_catalog(self) -> None:
        self._show()

    def watch_engine(self) -> None:
        self._show()

    def watch_favourites(self) -> None:
        self._show()

    def watch_english(self) -> None:
        self._show()

    def _show(self) -> None:
        if self.catalog is None:
            return
        by_id, engine = self.catalog.by_id, self.engine
        favourites = self.query_one(FavouritesList)
        highlighted = favourites.highlighted
        favourites.clear_options()
        favourites.add_options(
            Option(favourite_text(by_id.get(m), m, None if engine is None else engine.knows(m), engine is None or engine.rated(m), self.english), id=str(m))
            for m in self.favourites
        )
        if self.favourites:
            favourites.highlighted = min(highlighted or 0, len(self.favourites) - 1)
        self.query_one("#favourites-label", Label).update(f"Favourites ({len(self.favourites)})")
        self.query_one(TasteChart).plot(by_id.get(m, {}).get("genres", []) for m in self.favourites)
