"""Dialogs that name a file: export the lists, import a MyAnimeList export.

Each dismisses with what the user asked for (or None on Escape). The export dialog gives
the name typed, and the main screen checks and writes it; the import dialog reads the export
itself, in a worker, and gives what it read (the main screen adds it and says what happened).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import var
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static
from textual.worker import Worker, WorkerState, get_current_worker

from animerec_tui.export import expand_user_path
from animerec_tui.tui.inputs import OrderedInput
from animerec_tui.tui.messages import ImportDone, ImportProgress
from animerec_tui.tui.screens import TickBox
from training.errors import UserError

EXPORT = Binding("enter", "export", "Export", tooltip="Write the file (.md, .csv or .json)")
IMPORT = Binding("enter", "import_list", "Import", tooltip="Add the anime scored 7 or more as favourites")


def typed_path(text: str) -> str:
    """The name typed in a file dialog, without the quotes a terminal puts around a file
    dropped on it ('/home/me/My Lists/animelist.xml')."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1].strip()
    return text


class ExportPath(OrderedInput):
    """Where to export; Enter (after every character typed before it) submits, and the dialog writes."""

    BINDINGS = [replace(EXPORT, action="submit")]  # the footer names the dialog's Enter


class ImportPath(OrderedInput):
    """The export to import; Enter (after every character typed before it) submits, and the dialog imports."""

    BINDINGS = [replace(IMPORT, action="submit")]


class ExportScreen(ModalScreen[str | None]):
    """Ask where to write the favourites and recommendations; the name's ending picks the format.

    Dismisses with the text typed (the main screen expands ``~`` and checks the target, so
    that a bad name is one notification)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without writing anything"),
        EXPORT,
    ]

    def __init__(self, default: str) -> None:
        super().__init__()
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="file"):
            yield Label("[b]Export[/b] favourites and recommendations")
            yield Label("[dim]The ending picks the format: .md (Markdown with MAL links), .csv or .json[/dim]")
            yield ExportPath(self.default, id="path")
        yield Footer()

    @on(Input.Submitted)
    def action_export(self) -> None:
        text = typed_path(self.query_one("#path", Input).value)
        if not text:
            self.notify("type the name of the file to write", severity="warning")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ImportCancelled(Exception):
    """Raised in the reading worker, at its next progress report, once it is cancelled."""


@dataclass(frozen=True)
class ImportRead:
    """A MyAnimeList export read whole: what the import dialog dismisses with."""

    path: Path
    liked: list[int]
    """MAL ids scored 7 or more, in file order."""
    watched: list[int] | None
    """MAL ids of every entry but plan-to-watch; None when the box to hide them was not ticked."""


class ImportScreen(ModalScreen[ImportRead | None]):
    """Ask for a MyAnimeList export (animelist_*.xml or .xml.gz), and read it.

    The reading runs in a thread worker (a 1.3-million-entry export takes half a minute, and
    a name can be a pipe that never answers): the dialog stays open showing how many entries
    have been read, Escape cancels it (so does quitting), and it dismisses with what it read.
    A file it cannot read is one notification, and the dialog stays open to correct the name.
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without importing"),
        IMPORT,
    ]

    PROGRESS_EVERY = 0.2
    """Seconds between updates of the count read so far (the reader reports far more often)."""

    reading: var[Path | None] = var(None)
    """The export being read; None when none is."""

    def __init__(self, default: str = "", hide_watched: bool = True) -> None:
        super().__init__()
        self.default = default
        self.hide_watched = hide_watched
        self._read: ImportRead | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="file"):
            yield Label("[b]Import a MyAnimeList list[/b] (myanimelist.net/panel.php?go=export)")
            yield Label("[dim]Anime you scored 7 or more become favourites; space toggles the box[/dim]")
            yield ImportPath(self.default, placeholder="~/Downloads/animelist_….xml.gz", id="path")
            yield TickBox("Hide what I have already watched (every entry but plan-to-watch)", self.hide_watched, id="hide-watched")
            yield Static("", id="import-progress")
        yield Footer()

    @on(Input.Submitted)
    def action_import_list(self) -> None:
        if self.reading is not None:
            self.notify(f"still reading {self.reading.name}: Esc cancels", markup=False)
            return
        text = typed_path(self.query_one("#path", Input).value)
        if not text:
            self.notify("type the path of the export file", severity="warning")
            return
        try:
            path = expand_user_path(text)
        except UserError as error:
            self.notify(str(error), title="import", severity="error", timeout=10, markup=False)
            return
        self.reading = path
        self.query_one("#import-progress", Static).update(Text(f"reading {path.name}… (Esc cancels)"))
        self.read_export(path, self.query_one("#hide-watched", TickBox).value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="import")
    def read_export(self, path: Path, hide_watched: bool) -> None:
        from animerec_tui.malimport import liked, read_mal_export, watched

        worker = get_current_worker()
        shown = 0.0

        def progress(entries: int) -> None:
            nonlocal shown
            if worker.is_cancelled:
                raise ImportCancelled  # Esc, or the app is closing: stop reading
            if time.monotonic() - shown >= self.PROGRESS_EVERY:
                shown = time.monotonic()
                self.post_message(ImportProgress(path, entries))

        entries = read_mal_export(path, progress=progress)
        # Sifted here too: a list of a million entries takes a while to go through.
        self.post_message(ImportDone(ImportRead(path, liked(entries), watched(entries) if hide_watched else None)))

    @on(ImportProgress)
    def show_progress(self, message: ImportProgress) -> None:
        if message.path == self.reading:
            self.query_one("#import-progress", Static).update(Text(f"reading {message.path.name}: {message.entries:,} entries so far… (Esc cancels)"))

    @on(ImportDone)
    def read_done(self, message: ImportDone) -> None:
        if message.read.path != self.reading:
            return
        self.reading = None
        self._read = message.read
        if self.is_current:
            self.dismiss(self._read)
        # else help or the palette is over the dialog: it dismisses when it is back on top

    def on_screen_resume(self) -> None:
        if self._read is not None:
            self.dismiss(self._read)

    @on(Worker.StateChanged)
    def read_failed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "import" or event.state not in (WorkerState.ERROR, WorkerState.CANCELLED):
            return
        self.reading = None
        self.query_one("#import-progress", Static).update("")
        error = event.worker.error
        if event.state == WorkerState.ERROR and not isinstance(error, ImportCancelled):
            text = str(error) if isinstance(error, UserError) else f"{type(error).__name__}: {error}"
            self.notify(text, title="import failed", severity="error", timeout=10, markup=False)

    def action_cancel(self) -> None:
        if self.reading is not None:
            self.workers.cancel_group(self, "import")  # the worker stops at its next progress report
            self.notify(f"import of {self.reading.name} cancelled", markup=False)
        self.dismiss(None)
