"""Dialogs that name a file: export the lists, import a MyAnimeList export.

Each dismisses with what the user asked for (or None on Escape). The export dialog checks
the name typed, in a worker, and gives it expanded (the main screen asks before replacing a
file and writes it); the import dialog reads the export itself, in a worker, and gives what it
read (the main screen adds it and says what happened). A name that will not do is said in the
dialog, which stays open to correct it: the keys typed after Enter go on into its box.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
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

from animerec_tui.export import check_export_target, expand_user_path, format_of
from animerec_tui.tui.inputs import OrderedInput, hold_keys
from animerec_tui.tui.messages import ExportNameChecked, ImportDone, ImportProgress
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


@dataclass(frozen=True)
class ExportTarget:
    """A name typed in the export dialog, expanded and checked: what the dialog dismisses with."""

    path: Path
    form: str
    """markdown, csv or json."""
    exists: bool
    """Whether something is there already (the main screen asks before replacing it)."""


# The boxes run the dialog's Enter as they read it, after every character typed before it
# and before any typed after it (which the app holds while the export's name is checked).


class ExportPath(OrderedInput):
    """Where to export; Enter (after every character typed before it) has the dialog check the name and write."""

    BINDINGS = [replace(EXPORT, action="screen.export")]  # the footer names the dialog's Enter


class ImportPath(OrderedInput):
    """The export to import; Enter (after every character typed before it) has the dialog read it."""

    BINDINGS = [replace(IMPORT, action="screen.import_list")]


class ExportScreen(ModalScreen[ExportTarget | None]):
    """Ask where to write the favourites and recommendations; the name's ending picks the format.

    Enter expands ``~`` and checks the name in a worker (it can sit on a mount that hangs):
    a name that cannot be written (the app's own files, a folder, no such user, no format)
    is said in the dialog, which stays open to correct it; a good one dismisses with it, and
    the main screen asks before replacing a file and writes. The keys typed after Enter wait
    for the check (up to ``InOrderApp.KEY_STUCK_S``), so they go to the dialog or the screen
    under it as the check decides."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without writing anything"),
        EXPORT,
    ]

    def __init__(self, default: str, home: Path, waits_for: Callable[[], str | None] = lambda: None) -> None:
        """``home``: the animerec home, whose files an export must not replace; ``waits_for``:
        what an export has to wait for now (the catalogue, the model, newer recommendations), if anything."""
        super().__init__()
        self.default = default
        self.home = home
        self.waits_for = waits_for
        self._checking: str | None = None
        self._release_keys: Callable[[], None] = lambda: None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="file"):
            yield Label("[b]Export[/b] favourites and recommendations")
            yield Label("[dim]The ending picks the format: .md (Markdown with MAL links), .csv or .json[/dim]")
            yield ExportPath(self.default, id="path")
            yield Static("", id="export-error")
        yield Footer()

    def action_export(self) -> None:
        text = typed_path(self.query_one("#path", Input).value)
        if not text:
            self.notify("type the name of the file to write", severity="warning")
            return
        waiting = self.waits_for()
        if waiting:  # the export would hold ids for titles, or recommendations of an older list
            self.notify(f"{waiting}; try again in a moment", title="export", severity="warning", markup=False)
            self.dismiss(None)
            return
        self._checking = text
        self.query_one("#export-error", Static).update("")
        self._release_keys()
        self._release_keys = hold_keys(self.app)
        self.check(text)

    @work(thread=True, exclusive=True, exit_on_error=False, group="export-check")
    def check(self, text: str) -> None:
        """Expand and check the name typed (UserError: said in the dialog)."""
        path = expand_user_path(text)
        form = format_of(path)
        refused = check_export_target(path, self.home)
        if refused is not None:
            raise UserError(refused)
        self.post_message(ExportNameChecked(text, ExportTarget(path, form, os.path.lexists(path))))

    @on(ExportNameChecked)
    def checked(self, message: ExportNameChecked) -> None:
        if message.text != self._checking:
            return  # the name was changed and checked again since
        self._checking = None
        self._release_keys()
        self.dismiss(message.target)

    @on(Worker.StateChanged)
    def check_failed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "export-check" or event.state not in (WorkerState.ERROR, WorkerState.CANCELLED):
            return
        self._checking = None
        self._release_keys()
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            text = str(error) if isinstance(error, UserError) else f"{type(error).__name__}: {error}"
            self.query_one("#export-error", Static).update(Text(text, style="bold red"))
            self.notify(text, title="export failed", severity="error", timeout=10, markup=False)

    def action_cancel(self) -> None:
        self._release_keys()
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
    A file it cannot read is said in the dialog (and in one notification), and the dialog
    stays open to correct the name.
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
            yield TickBox("Hide what I have watched (all but plan-to-watch)", self.hide_watched, id="hide-watched")
            yield Static("", id="import-progress")
        yield Footer()

    def action_import_list(self) -> None:
        text = typed_path(self.query_one("#path", Input).value)
        if not text:
            self.notify("type the path of the export file", severity="warning")
            return
        try:
            path = expand_user_path(text)
        except UserError as error:
            self._failed(str(error), "import")
            return
        if self.reading == path:
            self.notify(f"still reading {path.name}: Esc cancels", markup=False)
            return
        # Another name typed while one is read (the first may be a pipe that never answers): this one.
        self.reading = path
        self.query_one("#import-progress", Static).update(Text(f"reading {path.name}… (Esc cancels)"))
        self.read_export(path, self.query_one("#hide-watched", TickBox).value)

    def _failed(self, text: str, title: str) -> None:
        """Say why in the dialog, which stays open to correct the name (and in a notification)."""
        self.query_one("#import-progress", Static).update(Text(text, style="bold red"))
        self.notify(text, title=title, severity="error", timeout=10, markup=False)

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
        if event.worker.is_cancelled:
            return  # Esc (the dialog is closing), or the read of a name typed before this one: this one goes on
        self.reading = None
        self.query_one("#import-progress", Static).update("")
        error = event.worker.error
        if event.state == WorkerState.ERROR and not isinstance(error, ImportCancelled):
            self._failed(str(error) if isinstance(error, UserError) else f"{type(error).__name__}: {error}", "import failed")

    def action_cancel(self) -> None:
        if self.reading is not None:
            self.workers.cancel_group(self, "import")  # the worker stops at its next progress report
            self.notify(f"import of {self.reading.name} cancelled", markup=False)
        self.dismiss(None)
