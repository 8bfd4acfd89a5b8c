"""Dialogs that name a file: export the lists, import a MyAnimeList export.

Each dismisses with what the user asked for (or None on Escape); the main screen does the
reading and writing, and says what happened.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label

from animerec_tui.tui.inputs import OrderedInput
from animerec_tui.tui.screens import TickBox

EXPORT = Binding("enter", "export", "Export", tooltip="Write the file (.md, .csv or .json)")
IMPORT = Binding("enter", "import_list", "Import", tooltip="Add the anime scored 7 or more as favourites")


class ExportPath(OrderedInput):
    """Where to export; Enter (after every character typed before it) submits, and the dialog writes."""

    BINDINGS = [replace(EXPORT, action="submit")]  # the footer names the dialog's Enter


class ImportPath(OrderedInput):
    """The export to import; Enter (after every character typed before it) submits, and the dialog imports."""

    BINDINGS = [replace(IMPORT, action="submit")]


class ExportScreen(ModalScreen[Path | None]):
    """Ask where to write the favourites and recommendations; the name's ending picks the format."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without writing anything"),
        EXPORT,
    ]

    def __init__(self, default: Path) -> None:
        super().__init__()
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="file"):
            yield Label("[b]Export[/b] favourites and recommendations")
            yield Label("[dim]The ending picks the format: .md (Markdown with MAL links), .csv or .json[/dim]")
            yield ExportPath(str(self.default), id="path")
        yield Footer()

    @on(Input.Submitted)
    def action_export(self) -> None:
        text = self.query_one("#path", Input).value.strip()
        if text:
            self.dismiss(Path(text).expanduser())

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class ImportRequest:
    """What the import dialog asks for."""

    path: Path
    hide_watched: bool


class ImportScreen(ModalScreen[ImportRequest | None]):
    """Ask for a MyAnimeList export (animelist_*.xml or .xml.gz) to import."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without importing"),
        IMPORT,
    ]

    def __init__(self, default: str = "", hide_watched: bool = True) -> None:
        super().__init__()
        self.default = default
        self.hide_watched = hide_watched

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="file"):
            yield Label("[b]Import a MyAnimeList list[/b] (myanimelist.net/panel.php?go=export)")
            yield Label("[dim]Anime you scored 7 or more become favourites; space toggles the box[/dim]")
            yield ImportPath(self.default, placeholder="~/Downloads/animelist_….xml.gz", id="path")
            yield TickBox("Hide what I have already watched (every entry but plan-to-watch)", self.hide_watched, id="hide-watched")
        yield Footer()

    @on(Input.Submitted)
    def action_import_list(self) -> None:
        text = self.query_one("#path", Input).value.strip()
        if not text:
            self.notify("type the path of the export file", severity="warning")
            return
        self.dismiss(ImportRequest(Path(text).expanduser(), self.query_one("#hide-watched", TickBox).value))

    def action_cancel(self) -> None:
        self.dismiss(None)
