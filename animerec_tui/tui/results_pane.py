"""The results pane: a status line and the table of recommendations, with its keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.reactive import var
from textual.widgets import DataTable, Static

from animerec_tui.tui.formatting import result_title
from animerec_tui.tui.messages import MarkNotInterested, ShowDetails

if TYPE_CHECKING:
    from animerec_tui.engine import Result

COLUMNS = (("#", 3), ("title", 26), ("type", 7), ("year", 4), ("eps", 4), ("match", 5), ("because you liked", 28), ("genres", 30))


class ResultsTable(DataTable):
    """Recommendations, one row per anime keyed by MAL id; Enter opens details, n hides one."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, tooltip="Next recommendation (↓ too)"),
        Binding("k", "cursor_up", "Up", show=False, tooltip="Previous recommendation (↑ too)"),
        Binding("n", "not_interested", "Not interested", tooltip="Never recommend it (undo: command palette)"),
        Binding("enter", "select_cursor", "Details", show=False, tooltip="Everything about it, with similar anime"),
    ]

    def action_not_interested(self) -> None:
        if self.row_count and 0 <= self.cursor_row < self.row_count:
            row_key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key
            self.post_message(MarkNotInterested(int(row_key.value)))


class ResultsPane(Vertical):
    """What the recommendations are for (or what is happening) above the table of them."""

    results: var[Result | None] = var(None)
    """The recommendations on show; None empties the table."""
    status: var[str | Text] = var("")
    """The line above the table (console markup in a str)."""
    model_loading: var[bool] = var(True)
    """True while the model loads: the table shows a spinner."""

    def compose(self) -> ComposeResult:
        yield Static("", id="status")
        yield ResultsTable(id="results", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(ResultsTable)
        for label, width in COLUMNS:
            table.add_column(label, width=width, key=label)

    @on(DataTable.RowSelected, "#results")
    def opened(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(ShowDetails(int(event.row_key.value)))

    def watch_status(self, status: str | Text) -> None:
        self.query_one("#status", Static).update(status)

    def watch_model_loading(self, loading: bool) -> None:
        self.query_one(ResultsTable).loading = loading

    def watch_results(self, results: Result | None) -> None:
        table = self.query_one(ResultsTable)
        table.clear()
        for rank, r in enumerate(results.items if results else [], start=1):
            cells = (result_title(r), r.type or "?", str(r.year or "?"), str(r.episodes or "?"), f"{r.score:.2f}", r.reasons(), ", ".join(r.genres[:4]))
            table.add_row(str(rank), *cells, key=str(r.mal_id))
