"""The results pane: a status line and the table of recommendations, with its keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.reactive import var
from textual.widgets import DataTable, Static

from animerec_tui.tui.formatting import StatusLine, break_parts, fit_status, mal_id_of, members_text, result_title
from animerec_tui.tui.messages import MarkAnime, MarkNotInterested, ShowDetails

if TYPE_CHECKING:
    from textual.message import Message

    from animerec_tui.engine import Recommendation, Result

Column = tuple[str, str, int]
"""A results column: key, heading, width in cells."""

PADDING = 2
"""The cells DataTable adds around every column (one each side)."""
SCROLLBAR = 2
"""The width kept for the table's vertical scrollbar."""
OPTIONAL: tuple[Column, ...] = (("year", "year", 4), ("type", "type", 7), ("mal", "MAL", 4), ("eps", "eps", 4), ("members", "members", 7))
"""Columns shown when there is room, most wanted first; genres come last and take what is left."""
MIN_TITLE = MIN_BECAUSE = 16
MIN_GENRES = 14
READABLE: dict[str, int] = {"title": 26, "because": 22}
"""Widths title and reasons reach (as far as their content needs) once year and type are shown,
before the other optional columns: in a 120-column terminal a cut title ("Fullmetal Alchem…")
costs a fan more than the episodes and members columns, which the details view has."""
BEFORE_READABLE = 2
"""How many of ``OPTIONAL`` (year, type) come before title and reasons grow to ``READABLE``."""


def column_plan(width: int, longest: dict[str, int]) -> list[Column]:
    """The columns for a table ``width`` cells wide: rank (where there is room), title, match
    and "because you liked" always; then year and type while they fit; title and reasons grown
    to a readable width (``READABLE``); then MAL score, episodes, members and genres while they
    fit. Title, reasons and genres then grow, in that order, to their longest content
    (``longest``, by key) out of the room left; nothing is ever wider than the table."""
    room = width - SCROLLBAR
    columns: list[Column] = [("title", "title", MIN_TITLE), ("match", "match", 5), ("because", "because you liked", MIN_BECAUSE)]
    used = sum(w + PADDING for _, _, w in columns)
    if room - used >= 24:
        columns.insert(0, ("rank", "#", 2))
        used += 2 + PADDING
    for step, column in enumerate(OPTIONAL):
        if step == BEFORE_READABLE:
            for n, (key, heading, w) in enumerate(columns):
                if key in READABLE and used < room:
                    grow = min(room - used, max(0, min(longest.get(key, w), READABLE[key]) - w))
                    columns[n] = (key, heading, w + grow)
                    used += grow
        if used + column[2] + PADDING <= room:
            columns.append(column)
            used += column[2] + PADDING
    if used + MIN_GENRES + PADDING <= room:
        columns.append(("genres", "genres", MIN_GENRES))
        used += MIN_GENRES + PADDING
    if used > room:  # narrower than the minimum: title and reasons give way
        short = used - room
        columns = [(k, h, max(4, w - (short + 1) // 2) if k in ("title", "because") else w) for k, h, w in columns]
        return columns
    spare = room - used
    # First each to a fair width, then to its longest, so that one long title does not starve the genres.
    for caps in ({"title": 40, "because": 36, "genres": 36}, {}):
        for key in ("title", "because", "genres"):
            for n, (k, heading, w) in enumerate(columns):
                if k == key and spare > 0:
                    grow = min(spare, max(0, min(longest.get(key, w), caps.get(key, 10**6)) - w))
                    columns[n] = (k, heading, w + grow)
                    spare -= grow
    return columns


class ResultsTable(DataTable):
    """Recommendations, one row per anime keyed by MAL id; Enter opens details, n hides one."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, tooltip="Next recommendation (↓ too)"),
        Binding("k", "cursor_up", "Up", show=False, tooltip="Previous recommendation (↑ too)"),
        Binding("n", "not_interested", "Not interested", tooltip="Never recommend it (undo: command palette)"),
        Binding("w", "watched", "Watched", tooltip="Mark it watched: it leaves the results, as an imported watched list does (u undoes it)"),
        Binding("p", "plan", "Plan", tooltip="Put it on your plan-to-watch list, which F7 exports (u undoes it)"),
        Binding("enter,i", "select_cursor", "Details", show=False, tooltip="Everything about it, with similar anime"),
    ]

    def action_not_interested(self) -> None:
        self._take_row(MarkNotInterested)

    def action_watched(self) -> None:
        self._take_row(lambda mal_id: MarkAnime(mal_id, "watched"))

    def action_plan(self) -> None:
        if (mal_id := self.cursor_id()) is not None:
            self.post_message(MarkAnime(mal_id, "plan"))  # it stays: planned is not seen

    def cursor_id(self) -> int | None:
        """The MAL id of the row under the cursor, if any."""
        if self.row_count and 0 <= self.cursor_row < self.row_count:
            return mal_id_of(self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value)
        return None

    def _take_row(self, request: Callable[[int], Message]) -> None:
        """Post ``request`` for the row under the cursor and hide the row at once, so that the
        next key acts on the one that took its place.

        The recommendations without it are computed in the background; until they come, the
        table would show the row still there, and "n n n" marked it three times."""
        if (mal_id := self.cursor_id()) is not None:
            row = self.cursor_row
            self.post_message(request(mal_id))
            self.remove_row(str(mal_id))
            if self.row_count:
                self.move_cursor(row=min(row, self.row_count - 1), animate=False)


class ResultsPane(Vertical):
    """What the recommendations are for (or what is happening) above the table of them."""

    BINDINGS = [
        Binding("e", "screen.toggle_english", "English titles", tooltip="Show English titles where there is one (here, in the favourites and in the search), or the MAL titles again; remembered"),
    ]

    results: var[Result | None] = var(None)
    """The recommendations on show; None empties the table."""
    status: var[str | Text | StatusLine] = var("")
    """The line above the table (console markup in a str or a StatusLine)."""
    model_loading: var[bool] = var(True)
    """True while the model loads: the table shows a spinner."""
    english: var[bool] = var(False)
    """Whether titles are shown in English where the catalogue has an English title (the main screen's choice)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._plan: list[Column] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="status")
        yield ResultsTable(id="results", cursor_type="row", zebra_stripes=True)

    def on_resize(self) -> None:
        self._fill()
        self._show_status()

    @on(DataTable.RowSelected, "#results")
    def opened(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(ShowDetails(mal_id_of(event.row_key.value)))

    def watch_status(self) -> None:
        self._show_status()

    def _show_status(self) -> None:
        """The status line, broken only between its " · " parts: the long form where it fits two
        lines, else the short one (``fit_status``)."""
        status = self.status
        width = max(10, (self.size.width or 100) - 2)
        if isinstance(status, StatusLine):
            status = fit_status(status, width, lines=2)
        elif isinstance(status, str) and " · " in status:
            status = "\n".join(break_parts(status.split(" · "), width))
        self.query_one("#status", Static).update(status)

    def watch_model_loading(self, loading: bool) -> None:
        self.query_one(ResultsTable).loading = loading

    def watch_results(self) -> None:
        self._fill(rows_changed=True)

    def watch_english(self) -> None:
        self._fill(rows_changed=True)

    def _cells(self, rank: int, r: Recommendation) -> dict[str, Text | str]:
        """One row's cells by column key; title, reasons and genres as Text (their widths are measured)."""
        title = (r.title_english or r.title) if self.english else r.title
        return {
            "rank": str(rank), "title": result_title(r, title), "match": f"{r.score:.2f}", "because": Text(r.reasons(), no_wrap=True, overflow="ellipsis"),
            "year": str(r.year or "?"), "type": r.type or "?", "mal": f"{r.mal_score:.2f}"[:4] if r.mal_score else "?", "eps": str(r.episodes or "?"),
            "members": members_text(r.members), "genres": Text(", ".join(r.genres), no_wrap=True, overflow="ellipsis"),
        }

    def _fill(self, rows_changed: bool = False) -> None:
        """Lay the table out for its width (see ``column_plan``) and fill it, keeping the cursor's row."""
        table = self.query_one(ResultsTable)
        items = self.results.items if self.results else []
        rows = [self._cells(rank, r) for rank, r in enumerate(items, start=1)]
        longest = {key: max((cast(Text, row[key]).cell_len for row in rows), default=0) for key in ("title", "because", "genres")}  # Text cells (see _cells)
        plan = column_plan(self.size.width or 100, longest)
        if plan == self._plan and not rows_changed:
            return
        cursor = table.cursor_row
        kept = table.coordinate_to_cell_key(Coordinate(cursor, 0)).row_key.value if table.row_count and 0 <= cursor < table.row_count else None
        table.clear(columns=plan != self._plan)
        if plan != self._plan:
            for key, heading, width in plan:
                table.add_column(heading, width=width, key=key)
            self._plan = plan
        for r, cells in zip(items, rows):
            table.add_row(*(cells[key] for key, _, _ in plan), key=str(r.mal_id))
        ids = [str(r.mal_id) for r in items]
        if kept in ids:
            table.move_cursor(row=ids.index(kept), animate=False)
        elif rows and cursor > 0:
            table.move_cursor(row=min(cursor, len(rows) - 1), animate=False)
