"""F1 help, generated from the bindings of the app, its panes and its dialogs.

The key reference is read from each class's ``BINDINGS`` (description and tooltip), so it
cannot drift from what the keys do. ``python -m animerec_tui.tui.help`` prints the same
reference as the Markdown table of the README.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static

from animerec_tui.tui.favourites_pane import FavouritesList
from animerec_tui.tui.file_screens import ExportScreen, ImportScreen
from animerec_tui.tui.franchise_screen import FranchiseScreen
from animerec_tui.tui.main_screen import MainScreen
from animerec_tui.tui.results_pane import ResultsPane, ResultsTable
from animerec_tui.tui.screens import ConfirmScreen, DetailsScreen, FiltersScreen, NotInterestedScreen
from animerec_tui.tui.search_pane import SearchBox

if TYPE_CHECKING:
    from textual.app import App
    from textual.dom import DOMNode

KEY_NAMES = {"slash": "/", "escape": "Esc", "right": "→", "left": "←", "down": "↓", "up": "↑", "shift+tab": "shift+Tab"}

Section = tuple[str, list[Binding]]


def key_label(keys: str) -> str:
    """'slash,ctrl+f' -> '/ or ctrl+f'; 'f1' -> 'F1'; 'delete' -> 'Delete'."""
    names = []
    for key in keys.split(","):
        key = key.strip()
        if key in KEY_NAMES:
            names.append(KEY_NAMES[key])
        elif key[0] == "f" and key[1:].isdigit():
            names.append(key.upper())
        elif len(key) > 1 and "+" not in key:
            names.append(key.capitalize())  # enter, delete, tab
        else:
            names.append(key)
    return " or ".join(names)


def declared_bindings(node: type[DOMNode]) -> list[Binding]:
    """The bindings a class declares itself (not those it inherits from Textual)."""
    return [b for b in vars(node).get("BINDINGS", []) if isinstance(b, Binding)]


def key_sections(app: type[App]) -> list[Section]:
    """Every key of the app, grouped by where it works."""
    return [
        ("Main screen", declared_bindings(app) + declared_bindings(MainScreen)),
        ("Search box (typing searches; the keys below act on the list of matches)", declared_bindings(SearchBox)),
        ("Favourites", declared_bindings(FavouritesList)),
        ("Recommendations", declared_bindings(ResultsTable) + declared_bindings(ResultsPane)),
        ("Details", declared_bindings(DetailsScreen)),
        ("New in your franchises (F9)", declared_bindings(FranchiseScreen)),
        ("Filters", declared_bindings(FiltersScreen)),
        ("Not interested list (Enter lets one be recommended again)", declared_bindings(NotInterestedScreen)),
        ("Export and import", declared_bindings(ExportScreen) + declared_bindings(ImportScreen)),
        ("Yes/no questions", declared_bindings(ConfirmScreen)),
        ("This help", declared_bindings(HelpScreen)),
    ]


COLUMNS_NOTE = (
    "In the recommendations, match is the model's score for an anime: the higher, the better it fits your favourites "
    "(it ranks the anime of one list; it is not a rating, nor comparable between lists). \"because you liked\" names the "
    "favourites whose votes make up most of that score, with their shares. new marks anime without ratings yet, known from "
    "their genres, studio and year; MAL is the anime's mean score on MyAnimeList. The ratings the model learnt from end in "
    "January 2023: anime from 2023 on are known from their metadata only (genres, studio, year), so their match is less sure."
)


def key_reference(sections: list[Section], narrow: bool = False) -> Group:
    """The sections as aligned tables: key, what it is called in the footer, what it does;
    ``narrow`` (an 80-column terminal): what it does goes on the line under the key, so it
    is not squeezed into a column a few words wide."""
    every = [b for _, bindings in sections for b in bindings]
    key_width = max(len(key_label(b.key)) for b in every)
    name_width = max(len(b.description) for b in every)
    parts: list[Text | Table] = []
    for title, bindings in sections:
        table = Table.grid(padding=(0, 2))
        table.add_column(width=key_width, style="bold", no_wrap=True)
        table.add_column(width=None if narrow else name_width, no_wrap=not narrow)
        if not narrow:
            table.add_column(style="dim")
        for binding in bindings:
            if narrow:
                table.add_row(key_label(binding.key), Text.assemble(binding.description, *(("\n" + binding.tooltip, "dim"),) if binding.tooltip else ()))
            else:
                table.add_row(key_label(binding.key), binding.description, binding.tooltip)
        parts += [Text(title, style="bold underline"), table, Text()]
    return Group(*parts, Text(COLUMNS_NOTE, style="dim"))


def markdown_table(sections: list[Section]) -> str:
    """The sections as the README's Markdown table."""
    rows = ["| where | key | action | what it does |", "|---|---|---|---|"]
    for title, bindings in sections:
        for n, binding in enumerate(bindings):
            keys = " or ".join(f"`{k}`" for k in key_label(binding.key).split(" or "))
            rows.append(f"| {title if n == 0 else ''} | {keys} | {binding.description} | {binding.tooltip} |")
    return "\n".join(rows)


class HelpScreen(ModalScreen[None]):
    """Every key of the app, in one place."""

    BINDINGS = [Binding("escape,f1,q", "close", "Close")]

    def __init__(self, sections: list[Section]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Label("[b]animerec keys[/b]  (Esc closes)")
            with VerticalScroll():
                yield Static(key_reference(self.sections, narrow=self.app.size.width < 100), id="keys")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()  # ↓, PgDn and End scroll at once, to the last row

    def action_close(self) -> None:
        self.dismiss(None)


if __name__ == "__main__":
    from animerec_tui.tui.app import AnimeRecApp

    print(markdown_table(key_sections(AnimeRecApp)))
